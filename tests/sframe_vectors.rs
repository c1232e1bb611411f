//! Runs every SFrame test vector of RFC 9605 Appendix C (sframe-wg/sframe) and of
//! draft-barnes-sframe-iana-256 against `sotto::media`.

// Test helpers outside `#[test]` functions: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::Value;
use sotto::media::{
    BaseKey, CipherSuite, Counter, FrameCipher, KeyId, SframeHeader, SframeKeyMaterial,
    SframeReceiver, SframeSecret, SframeSender, key_label, salt_label,
};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/sframe/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap_or_else(|| panic!("missing {field}"))).unwrap()
}

fn num(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or_else(|| panic!("missing {field}"))
}

fn suite_of(v: &Value) -> CipherSuite {
    CipherSuite::from_id(u16::try_from(num(v, "cipher_suite")).unwrap()).unwrap()
}

#[test]
fn header_vectors() {
    let all = load("sframe-test-vectors.json");
    let vectors = all["header"].as_array().unwrap();
    assert_eq!(vectors.len(), 289);
    for v in vectors {
        let header = SframeHeader::new(KeyId::new(num(v, "kid")), Counter::new(num(v, "ctr")));
        let encoded = hex(v, "encoded");
        assert_eq!(header.encode().as_bytes(), &encoded[..], "encode {v}");
        assert_eq!(header.encoded_len(), encoded.len());
        assert_eq!(SframeHeader::decode(&encoded).unwrap(), (header, encoded.len()), "decode {v}");
        // Trailing bytes (ciphertext) are not part of the header.
        let mut framed = encoded.clone();
        framed.extend_from_slice(&[0xff; 20]);
        assert_eq!(SframeHeader::decode(&framed).unwrap(), (header, encoded.len()));
        // Every strict prefix is truncated.
        for cut in 0..encoded.len() {
            assert!(SframeHeader::decode(&encoded[..cut]).is_err(), "prefix {cut} of {v}");
        }
    }
}

fn check_ctr_hmac(vectors: &[Value]) -> usize {
    for v in vectors {
        let suite = suite_of(v);
        let key = hex(v, "key");
        let nka = suite.nka().unwrap();
        assert_eq!(&key[..nka], &hex(v, "enc_key")[..]);
        assert_eq!(&key[nka..], &hex(v, "auth_key")[..]);
        let nonce: [u8; 12] = hex(v, "nonce").try_into().unwrap();
        let aad = hex(v, "aad");
        let pt = hex(v, "pt");
        let ct = hex(v, "ct");
        let cipher = FrameCipher::new(suite, &key).unwrap();
        let mut buf = pt.clone();
        let mut tag = vec![0u8; suite.nt()];
        cipher.seal_in_place_detached(&nonce, &aad, &mut buf, &mut tag).unwrap();
        buf.extend_from_slice(&tag);
        assert_eq!(buf, ct, "encrypt {suite:?}");
        let (body, tag) = ct.split_at(pt.len());
        let mut body = body.to_vec();
        cipher.open_in_place_detached(&nonce, &aad, &mut body, tag).unwrap();
        assert_eq!(body, pt, "decrypt {suite:?}");
    }
    vectors.len()
}

#[test]
fn aes_ctr_hmac_vectors() {
    let all = load("sframe-test-vectors.json");
    assert_eq!(check_ctr_hmac(all["aes_ctr_hmac"].as_array().unwrap()), 3);
    assert_eq!(check_ctr_hmac(all["aes_256_ctr_hmac"].as_array().unwrap()), 3);
}

fn check_sframe(vectors: &[Value]) -> usize {
    for v in vectors {
        let suite = suite_of(v);
        let kid = KeyId::new(num(v, "kid"));
        let ctr = Counter::new(num(v, "ctr"));
        let base = BaseKey::from_bytes(&hex(v, "base_key")).unwrap();
        let metadata = hex(v, "metadata");
        let pt = hex(v, "pt");
        let ct = hex(v, "ct");

        assert_eq!(&key_label(kid, suite)[..], &hex(v, "sframe_key_label")[..]);
        assert_eq!(&salt_label(kid, suite)[..], &hex(v, "sframe_salt_label")[..]);
        assert_eq!(
            SframeSecret::extract(suite, &base).expose_secret(),
            &hex(v, "sframe_secret")[..]
        );
        let material = SframeKeyMaterial::derive(suite, kid, &base).unwrap();
        assert_eq!(material.expose_key(), &hex(v, "sframe_key")[..], "{suite:?}");
        assert_eq!(&material.salt().as_bytes()[..], &hex(v, "sframe_salt")[..]);
        let nonce = material.salt().nonce(ctr);
        assert_eq!(&nonce[..], &hex(v, "nonce")[..]);
        let header = SframeHeader::new(kid, ctr).encode();
        let mut aad = header.as_bytes().to_vec();
        aad.extend_from_slice(&metadata);
        assert_eq!(aad, hex(v, "aad"));

        let mut tx = SframeSender::starting_at(suite, kid, &base, ctr).unwrap();
        assert_eq!(tx.encrypt(&metadata, &pt).unwrap(), ct, "encrypt {suite:?}");
        let mut out = vec![0u8; ct.len()];
        let mut tx = SframeSender::starting_at(suite, kid, &base, ctr).unwrap();
        let n = tx.encrypt_into(&metadata, &pt, &mut out).unwrap();
        assert_eq!(&out[..n], &ct[..]);

        let mut rx = SframeReceiver::new();
        rx.add_key(suite, kid, &base).unwrap();
        assert_eq!(rx.decrypt(&metadata, &ct).unwrap(), pt, "decrypt {suite:?}");
    }
    vectors.len()
}

#[test]
fn full_sframe_vectors() {
    let all = load("sframe-test-vectors.json");
    let n128 = check_sframe(all["sframe"].as_array().unwrap());
    assert_eq!(n128, 5);
    let aes256 = load("sframe-test-vectors-aes256.json");
    let n256 = check_sframe(aes256["sframe_aes_256_ctr_hmac"].as_array().unwrap());
    assert_eq!(n256, 3);
}

/// The RFC 9605 §5.1 sender-key ratchet against `tests/vectors/sframe/ratchet.json`,
/// generated independently by `gen_ratchet.py` (Python standard library only).
mod ratchet {
    use serde_json::Value;
    use sotto::media::{
        BaseKey, CipherSuite, KeyId, RATCHET_LABEL, SenderKeyRatchet, SframeKeyMaterial,
        ratchet_base_key, ratchet_kid, split_ratchet_kid,
    };

    fn hex(v: &Value, field: &str) -> Vec<u8> {
        hex::decode(v[field].as_str().unwrap()).unwrap()
    }

    #[test]
    fn ratchet_known_answers() {
        let path = format!("{}/tests/vectors/sframe/ratchet.json", env!("CARGO_MANIFEST_DIR"));
        let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(hex(&all, "ratchet_label"), RATCHET_LABEL);
        let cases = all["ratchet"].as_array().unwrap();
        let mut checked = 0;
        for case in cases {
            let suite = CipherSuite::from_id(
                u16::try_from(case["cipher_suite"].as_u64().unwrap()).unwrap(),
            )
            .unwrap();
            assert_eq!(case["nh"].as_u64().unwrap() as usize, suite.nh());
            let generation = case["generation"].as_u64().unwrap();
            let bits = u32::try_from(case["ratchet_bits"].as_u64().unwrap()).unwrap();
            let steps = case["steps"].as_array().unwrap();
            let first = BaseKey::from_bytes(&hex(&steps[0], "base_key")).unwrap();
            let mut ratchet =
                SenderKeyRatchet::new(suite, generation, bits, first.clone()).unwrap();
            let mut by_hand = first;
            for s in steps {
                let step = s["step"].as_u64().unwrap();
                let kid = KeyId::new(s["kid"].as_u64().unwrap());
                if step > 0 {
                    ratchet.advance().unwrap();
                    by_hand = ratchet_base_key(suite, &by_hand).unwrap();
                }
                assert_eq!(ratchet.step(), step);
                assert_eq!(ratchet.kid(), kid);
                assert_eq!(ratchet_kid(generation, step, bits).unwrap(), kid);
                assert_eq!(split_ratchet_kid(kid, bits).unwrap(), (generation, step));
                assert_eq!(
                    ratchet.base_key().expose_secret(),
                    &hex(s, "base_key")[..],
                    "{suite:?} step {step}"
                );
                assert_eq!(by_hand.expose_secret(), &hex(s, "base_key")[..]);
                let material = SframeKeyMaterial::derive(suite, kid, ratchet.base_key()).unwrap();
                assert_eq!(material.expose_key(), &hex(s, "sframe_key")[..]);
                assert_eq!(&material.salt().as_bytes()[..], &hex(s, "sframe_salt")[..]);
                // A receiver catching up in one jump lands on the same key.
                let mut receiver = SenderKeyRatchet::new(
                    suite,
                    generation,
                    bits,
                    BaseKey::from_bytes(&hex(&steps[0], "base_key")).unwrap(),
                )
                .unwrap();
                receiver.advance_to(step).unwrap();
                assert_eq!(receiver.base_key().expose_secret(), ratchet.base_key().expose_secret());
                checked += 1;
            }
        }
        assert_eq!(checked, 40);
    }
}
