//! Hardening: no secret-holding type prints a key through `Debug`, and the
//! public API makes misuse impossible or loud (unverified bundles,
//! uncommitted state, nonce reuse).
//!
//! Secrets are found where the API exposes them (`to_seed`,
//! `expose_secret`, `as_bytes`) or by walking a record's encoding
//! (`to_record_bytes`, `SessionRecord::to_bytes`, a sender key message) for
//! every 32-byte field that is not a public key. A `Debug` output must not
//! hold any 8-byte run of a secret, in lower- or upper-case hex or as a
//! decimal list (how `[u8]`, `Vec<u8>` and `Zeroizing` print).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

use std::fmt::Debug;

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use sotto::call::{CallId, Epoch, GroupCall, ParticipantId};
use sotto::keys::{
    BundleError, IdentityKeyPair, OneTimePreKey, PreKeyBundle, SignedPreKey, SignedPreKeyPublic,
};
use sotto::media::{
    BaseKey, CipherSuite, Counter, KeyId, SframeError, SframeKeyMaterial, SframeReceiver,
    SframeSecret, SframeSender,
};
use sotto::session::{Address, SessionError, SessionManager, SessionRecord};
use sotto::store::{InMemoryStore, SessionStore};

type Manager = SessionManager<InMemoryStore, ChaCha20Rng>;

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

fn address(name: &str) -> Address {
    Address::new(name, 1).unwrap()
}

fn manager(name: &str, seed: u8) -> Manager {
    SessionManager::with_rng(
        address(name),
        InMemoryStore::new(IdentityKeyPair::from_seed(&[seed; 32])),
        rng(seed),
    )
}

/// Alice and Bob after a message each way, committed.
fn established() -> (Manager, Manager) {
    let (alice, bob) = (manager("alice", 1), manager("bob", 2));
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let one_time = bob.generate_one_time_prekeys(100, 1).unwrap();
    let kem = bob.generate_kem_prekeys(100, 1).unwrap().remove(0);
    let bundle =
        PreKeyBundle::new(bob.identity_key().unwrap(), signed, kem, one_time.first().copied());
    alice.process_bundle(&address("bob"), &bundle.to_bytes()).unwrap();
    let first = alice.encrypt(&address("bob"), b"first").unwrap();
    bob.decrypt(&address("alice"), &first).unwrap().commit().unwrap();
    let reply = bob.encrypt(&address("alice"), b"reply").unwrap();
    alice.decrypt(&address("bob"), &reply).unwrap().commit().unwrap();
    (alice, bob)
}

// ------------------------------------------------------------ finding secrets

/// Every length-delimited field of a protobuf message with its path of
/// field numbers, recursively (a field that parses as a message is walked
/// too). `None` if the bytes are not a message.
fn fields(bytes: &[u8]) -> Option<Vec<(Vec<u64>, Vec<u8>)>> {
    fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*at)?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let key = varint(bytes, &mut at)?;
        if key >> 3 == 0 {
            return None;
        }
        match key & 7 {
            0 => {
                varint(bytes, &mut at)?;
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?).ok()?;
                let value = bytes.get(at..at.checked_add(len)?)?;
                at += len;
                if let Some(nested) = fields(value).filter(|_| !value.is_empty()) {
                    out.extend(nested.into_iter().map(|(mut path, value)| {
                        path.insert(0, key >> 3);
                        (path, value)
                    }));
                }
                out.push((vec![key >> 3], value.to_vec()));
            }
            _ => return None,
        }
    }
    (at == bytes.len()).then_some(out)
}

/// The fields of `record` at the given paths (`storage.proto`,
/// `wire.proto`: the fields documented as secret).
fn secrets_at(record: &[u8], paths: &[&[u64]]) -> Vec<Vec<u8>> {
    let secrets: Vec<Vec<u8>> = fields(record)
        .expect("not a protobuf message")
        .into_iter()
        .filter(|(path, value)| !value.is_empty() && paths.contains(&path.as_slice()))
        .map(|(_, value)| value)
        .collect();
    assert!(!secrets.is_empty(), "no secret found in the record");
    secrets
}

/// `storage.proto`: the secret fields of a `SessionRecord`, in the current
/// (2) and previous (3) sessions: root key, ratchet private key, sending
/// chain key, exporter secret, receiving chain keys, skipped message keys.
const SESSION_SECRETS: &[&[u64]] = &[
    &[2, 5],
    &[2, 6],
    &[2, 7],
    &[2, 14],
    &[2, 10, 2],
    &[2, 11, 3],
    &[3, 5],
    &[3, 6],
    &[3, 7],
    &[3, 14],
    &[3, 10, 2],
    &[3, 11, 3],
];

/// Every rendering of every 8-byte run of `secret` that a `Debug` output
/// might hold.
fn renderings(secret: &[u8]) -> Vec<String> {
    secret
        .windows(8.min(secret.len()))
        .flat_map(|run| {
            let hex: String = run.iter().map(|byte| format!("{byte:02x}")).collect();
            let decimal = format!("{run:?}");
            [hex.to_uppercase(), hex, decimal.trim_matches(['[', ']']).to_owned()]
        })
        .collect()
}

/// The rendering of `secret` that `debug` holds, if any (whitespace is
/// ignored, so that `{:#?}`'s one-number-per-line lists are caught).
fn leaks(debug: &str, secret: &[u8]) -> Option<String> {
    let squeezed: String = debug.chars().filter(|c| !c.is_whitespace()).collect();
    renderings(secret).into_iter().find(|rendering| {
        let rendering: String = rendering.chars().filter(|c| !c.is_whitespace()).collect();
        squeezed.contains(rendering.as_str())
    })
}

#[track_caller]
fn assert_no_secret(name: &str, value: &impl Debug, secrets: &[Vec<u8>]) {
    let debug = format!("{value:?}");
    let pretty = format!("{value:#?}");
    for secret in secrets {
        for output in [&debug, &pretty] {
            if let Some(rendering) = leaks(output, secret) {
                panic!("{name}'s Debug prints secret bytes ({rendering}): {debug}");
            }
        }
    }
}

/// The checker itself finds a secret printed in each rendering.
#[test]
fn the_checker_finds_printed_secrets() {
    let secret: Vec<u8> = (100..132).collect();
    assert!(leaks(&format!("{secret:?}"), &secret).is_some());
    assert!(leaks(&format!("{secret:#?}"), &secret).is_some());
    let hex: String = secret.iter().map(|byte| format!("{byte:02X}")).collect();
    assert!(leaks(&format!("Key({hex})"), &secret).is_some());
    assert!(leaks("Key(..)", &secret).is_none());
}

// ------------------------------------------------------------ Debug of keys

#[test]
fn key_types_print_no_secret() {
    let identity = IdentityKeyPair::from_seed(&[9; 32]);
    let seed = identity.to_seed().to_vec();
    assert_eq!(secrets_at(&identity.to_record_bytes(), &[&[2]]), vec![seed.clone()]);
    assert_no_secret("IdentityKeyPair", &identity, &[seed]);

    let signed = SignedPreKey::generate(1.into(), &identity, &mut rng(3));
    let secrets = secrets_at(&signed.to_record_bytes(), &[&[3]]);
    assert_no_secret("SignedPreKey", &signed, &secrets);

    let one_time = OneTimePreKey::generate(2.into(), &mut rng(4));
    let secrets = secrets_at(&one_time.to_record_bytes(), &[&[3]]);
    assert_no_secret("OneTimePreKey", &one_time, &secrets);
}

#[test]
fn media_and_call_types_print_no_secret() {
    let base = BaseKey::from_bytes(&[0x5a; 32]).unwrap();
    let base_secret = base.expose_secret().to_vec();
    assert_no_secret("BaseKey", &base, std::slice::from_ref(&base_secret));
    for suite in CipherSuite::ALL {
        let extracted = SframeSecret::extract(suite, &base);
        assert_no_secret("SframeSecret", &extracted, &[extracted.expose_secret().to_vec()]);
        let material = SframeKeyMaterial::derive(suite, KeyId::new(3), &base).unwrap();
        let secrets = [material.expose_key().to_vec(), base_secret.clone()];
        assert_no_secret("SframeKeyMaterial", &material, &secrets);
        let sender = SframeSender::new(suite, KeyId::new(3), &base).unwrap();
        assert_no_secret("SframeSender", &sender, &secrets);
        let mut receiver = SframeReceiver::new();
        receiver.add_key(suite, KeyId::new(3), &base).unwrap();
        assert_no_secret("SframeReceiver", &receiver, &secrets);
        let cipher = sotto::media::FrameCipher::new(suite, material.expose_key()).unwrap();
        assert_no_secret("FrameCipher", &cipher, &secrets);
        let mut ratchet = sotto::media::SenderKeyRatchet::new(
            suite,
            1,
            8,
            BaseKey::from_bytes(&base_secret).unwrap(),
        )
        .unwrap();
        ratchet.advance().unwrap();
        let ratcheted = ratchet.base_key().expose_secret().to_vec();
        assert_no_secret("SenderKeyRatchet", &ratchet, &[base_secret.clone(), ratcheted]);
    }

    let (alice, bob) = established();
    let call = CallId::new(*b"call").unwrap();
    let suite = CipherSuite::Aes128GcmSha256_128;
    let (calling, offer) = alice.offer_call(&address("bob"), call.clone(), suite).unwrap();
    let offer = bob.parse_call_offer(&address("alice"), &offer).unwrap();
    let (on_bob, answer) = bob.accept_call(&address("alice"), offer).unwrap();
    let on_alice = calling.receive_answer(&answer).unwrap();
    let (bob_send, bob_receive) = on_bob.into_keys();
    let secrets = [
        bob_send.base_key().expose_secret().to_vec(),
        bob_receive.base_key().expose_secret().to_vec(),
    ];
    assert_no_secret("OneToOneCall", &on_alice, &secrets);
    assert_no_secret("DirectionKey", &bob_send, &secrets);
    let (calling, _) = alice.offer_call(&address("bob"), call.clone(), suite).unwrap();
    assert_no_secret("OutgoingCall", &calling, &secrets);

    let mut one =
        GroupCall::new(call.clone(), suite, ParticipantId::new(1), Epoch::ZERO, &mut rng(1))
            .unwrap();
    let two = GroupCall::new(call, suite, ParticipantId::new(2), Epoch::ZERO, &mut rng(2)).unwrap();
    one.receive_sender_key(ParticipantId::new(2), &two.sender_key_message()).unwrap();
    let mut secrets = Vec::new();
    for message in [one.sender_key_message(), two.sender_key_message()] {
        // `wire.proto`, `CallSenderKey`: field 5 is the secret.
        secrets.extend(secrets_at(&message, &[&[5]]));
    }
    assert!(!secrets.is_empty());
    assert_no_secret("GroupCall", &one, &secrets);
}

#[test]
fn storage_key_and_sqlite_store_print_no_secret() {
    let key = sotto::store::StorageKey::from_bytes(&[0x77; 32]);
    let secret = key.as_bytes().to_vec();
    assert_no_secret("StorageKey", &key, std::slice::from_ref(&secret));
    let dir = std::env::temp_dir().join(format!("sotto-hardening-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    let _ = std::fs::remove_file(&path);
    let identity = IdentityKeyPair::from_seed(&[5; 32]);
    let seed = identity.to_seed().to_vec();
    let store = sotto::store::SqliteStore::create(&path, &key, &identity).unwrap();
    assert_no_secret("SqliteStore", &store, &[secret, seed]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The secrets of Alice's session with Bob (root and chain keys, ratchet
/// private keys, the exporter secret), and the session record.
fn session_secrets(alice: &Manager) -> (SessionRecord, Vec<Vec<u8>>) {
    let record = alice.store().load_session(&address("bob")).unwrap().unwrap();
    let secrets = secrets_at(&record.to_bytes(), SESSION_SECRETS);
    assert!(secrets.len() >= 4, "root, ratchet, sending and receiving keys");
    (record, secrets)
}

/// A session record (and the commit that carries one) prints none of the
/// session's secrets.
#[test]
fn session_record_and_store_commit_print_no_secret() {
    let (alice, _bob) = established();
    let (record, secrets) = session_secrets(&alice);
    assert_no_secret("SessionRecord", &record, &secrets);
    let commit = sotto::store::StoreCommit::new(address("bob"), Some(1), record);
    assert_no_secret("StoreCommit", &commit, &secrets);
}

/// Stores and managers must not print the sessions they hold.
#[test]
fn in_memory_store_and_manager_print_no_secret() {
    let (alice, _bob) = established();
    let (_, mut secrets) = session_secrets(&alice);
    secrets.push(IdentityKeyPair::from_seed(&[1; 32]).to_seed().to_vec());
    assert_no_secret("InMemoryStore", alice.store(), &secrets);
    assert_no_secret("SessionManager", &alice, &secrets);
}

/// A store's identity and prekeys stay redacted too.
#[test]
fn in_memory_store_prints_no_identity_or_prekey_secret() {
    let bob = manager("bob", 2);
    let _ = bob.generate_signed_prekey(1.into()).unwrap();
    let _ = bob.generate_one_time_prekeys(100, 2).unwrap();
    let mut secrets = vec![IdentityKeyPair::from_seed(&[2; 32]).to_seed().to_vec()];
    for id in [100u32, 101] {
        use sotto::store::OneTimePreKeyStore as _;
        let prekey = bob.store().one_time_prekey(id.into()).unwrap().unwrap();
        secrets.extend(secrets_at(&prekey.to_record_bytes(), &[&[3]]));
    }
    assert_no_secret("InMemoryStore (no sessions)", bob.store(), &secrets);
    assert_no_secret("SessionManager (no sessions)", &bob, &secrets);
}

#[test]
fn decrypted_prints_no_secret_and_no_plaintext() {
    let (alice, bob) = established();
    let message = bob.encrypt(&address("alice"), b"a private plaintext").unwrap();
    let decrypted = alice.decrypt(&address("bob"), &message).unwrap();
    let (_, secrets) = session_secrets(&alice);
    let mut secrets = secrets;
    secrets.push(b"a private plaintext".to_vec());
    let debug = format!("{decrypted:?}");
    assert!(!debug.contains("a private plaintext"), "{debug}");
    assert_no_secret("Decrypted", &decrypted, &secrets);
}

// ------------------------------------------------------------------ misuse

/// An unverified bundle cannot reach X3DH. The argument is by types: X3DH
/// (`x3dh::initiate`, crate-private) takes a `VerifiedBundle`, whose only
/// constructor is `PreKeyBundle::verify`; the one public way in,
/// `SessionManager::process_bundle`, takes bytes and verifies them itself.
/// Here: a bundle whose signature does not verify is refused there, before
/// anything is stored, and `verify` refuses it alike.
#[test]
fn a_badly_signed_bundle_is_refused_before_x3dh() {
    let bob = manager("bob", 2);
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let mut signature = signed.signature();
    signature[5] ^= 1;
    let forged = SignedPreKeyPublic::new(signed.id(), signed.key(), signature);
    let kem = bob.generate_last_resort_kem_prekey(1.into()).unwrap();
    let bundle = PreKeyBundle::new(bob.identity_key().unwrap(), forged, kem.clone(), None);
    assert_eq!(bundle.clone().verify().unwrap_err(), BundleError::BadSignature);

    let alice = manager("alice", 1);
    let refused = alice.process_bundle(&address("bob"), &bundle.to_bytes()).unwrap_err();
    assert!(matches!(refused, SessionError::Bundle(BundleError::BadSignature)), "{refused:?}");
    assert!(!alice.has_session(&address("bob")).unwrap());
    assert!(alice.safety_number(&address("bob")).unwrap().is_none(), "the identity was recorded");

    // A signed prekey signed by another identity is refused too.
    let other = manager("mallory", 7);
    let bundle = PreKeyBundle::new(other.identity_key().unwrap(), signed, kem, None);
    assert_eq!(bundle.verify().unwrap_err(), BundleError::BadSignature);
}

/// A decryption left uncommitted changes nothing: the message decrypts
/// again; and an older uncommitted decryption cannot undo a newer commit
/// (`Decrypted` is also `#[must_use]`, so dropping it unused warns).
#[test]
fn uncommitted_state_is_never_stored_and_stale_commits_are_refused() {
    let (alice, bob) = established();
    let one = bob.encrypt(&address("alice"), b"one").unwrap();
    let two = bob.encrypt(&address("alice"), b"two").unwrap();
    let before = alice.store().load_session(&address("bob")).unwrap().unwrap().to_bytes();

    drop(alice.decrypt(&address("bob"), &one).unwrap());
    assert_eq!(alice.store().load_session(&address("bob")).unwrap().unwrap().to_bytes(), before);

    let first = alice.decrypt(&address("bob"), &one).unwrap();
    let second = alice.decrypt(&address("bob"), &two).unwrap();
    assert_eq!(second.commit().unwrap(), b"two");
    assert!(first.commit().is_err(), "a stale commit undid a newer one");
    assert_eq!(alice.decrypt(&address("bob"), &one).unwrap().commit().unwrap(), b"one");
    assert!(alice.decrypt(&address("bob"), &one).is_err(), "a message decrypted twice");
}

/// An SFrame sender never reuses a counter: at the end of the counter
/// space it refuses, and a refusal consumes nothing.
#[test]
fn sframe_sender_refuses_to_wrap_its_counter() {
    let base = BaseKey::from_bytes(&[1; 16]).unwrap();
    for suite in CipherSuite::ALL {
        let kid = KeyId::new(9);
        let mut sender =
            SframeSender::starting_at(suite, kid, &base, Counter::new(u64::MAX - 1)).unwrap();
        let mut receiver = SframeReceiver::new();
        receiver.add_key(suite, kid, &base).unwrap();
        let a = sender.encrypt(b"", b"second to last").unwrap();
        let b = sender.encrypt(b"", b"last").unwrap();
        assert_ne!(a[..a.len() - 20.min(a.len())], b[..b.len() - 20.min(b.len())]);
        assert_eq!(sender.next_counter(), None);
        assert_eq!(sender.frame_len(10), None);
        for _ in 0..2 {
            assert!(matches!(
                sender.encrypt(b"", b"wrapped"),
                Err(SframeError::CounterExhausted(_))
            ));
            let mut out = [0u8; 64];
            assert!(matches!(
                sender.encrypt_into(b"", b"x", &mut out),
                Err(SframeError::CounterExhausted(_))
            ));
        }
        assert_eq!(receiver.decrypt(b"", &a).unwrap(), b"second to last");
        assert_eq!(receiver.decrypt(b"", &b).unwrap(), b"last");
        assert!(receiver.decrypt(b"", &b).is_err());
    }
}

/// Two senders under one call key would start at the same counter and
/// reuse nonces: an agreed call owns its one sender, and every new offer
/// (a restarted side) agrees on new keys.
#[test]
fn a_second_sender_for_the_same_call_needs_a_new_agreement() {
    let (alice, bob) = established();
    let suite = CipherSuite::Aes128GcmSha256_128;
    let agree = || {
        let call = CallId::new(*b"call").unwrap();
        let (calling, offer) = alice.offer_call(&address("bob"), call, suite).unwrap();
        let offer = bob.parse_call_offer(&address("alice"), &offer).unwrap();
        let (_, answer) = bob.accept_call(&address("alice"), offer).unwrap();
        calling.receive_answer(&answer).unwrap()
    };
    let (mut first, mut second) = (agree(), agree());
    let one = first.encrypt(b"", b"frame").unwrap();
    let two = second.encrypt(b"", b"frame").unwrap();
    // The same header (KID 0, CTR 0: one byte), but other keys: other
    // ciphertexts.
    assert_eq!(one[0], two[0]);
    assert_ne!(one[1..], two[1..]);
}
