//! Bad input at every entry point: each is refused with a typed error,
//! without a panic, and without changing any store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

mod common;

use chacha20::ChaCha20Rng;
use common::{
    ByteStore, CountPreKeys as _, Manager, Snapshot, WireBundle, WireContent, WireEnvelope,
    WireHeader, WireKemPreKey, WireOneTimePreKey, address, bundle, deliver, establish, header,
    identity, kind, manager, prekey_message, send, snapshot, with_prekey_message,
};
use proptest::prelude::*;
use prost::Message as _;
use sotto::keys::{BundleError, DhPublicKey, KeyError, OneTimePreKeyPublic, PreKeyBundle};
use sotto::protocol::{
    MAX_BUNDLE_LEN, MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, MAX_RECORD_LEN, MAX_SKIP, WIRE_VERSION,
};
use sotto::ratchet::RatchetError;
use sotto::record::RecordError;
use sotto::session::{Address, SessionError, SessionManager, SessionRecord};
use sotto::store::{IdentityStore, SessionStore, SignedPreKeyStore, StoreError};
use sotto::x3dh::X3dhError;

/// The small-order points of Curve25519 and their non-canonical encodings
/// below 2^255 (libsodium's blocklist): DH with any of them is all zeros.
fn small_order_points() -> Vec<[u8; 32]> {
    let mut points = vec![[0u8; 32]];
    let mut one = [0u8; 32];
    one[0] = 1;
    points.push(one);
    points.push([
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ]);
    points.push([
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ]);
    // p - 1 (p = 2^255 - 19).
    let mut point = [0xff; 32];
    point[0] = 0xec;
    point[31] = 0x7f;
    points.push(point);
    points
}

/// Second encodings of small-order points: p and p + 1 (which X25519 reads
/// as 0 and 1), and 0 and 1 with the top bit set. Refused as non-canonical
/// before any Diffie-Hellman.
fn non_canonical_points() -> Vec<[u8; 32]> {
    let mut points = Vec::new();
    for low in [0xed, 0xee] {
        let mut point = [0xff; 32];
        point[0] = low;
        point[31] = 0x7f;
        points.push(point);
    }
    for low in [0, 1] {
        let mut point = [0u8; 32];
        point[0] = low;
        point[31] = 0x80;
        points.push(point);
    }
    points
}

/// Alice has processed Bob's bundle (signed prekey 1, one-time prekey 100)
/// and made her first message; Bob has not seen it.
fn first_message(seed: u64) -> (Manager, Manager, Vec<u8>) {
    let alice = manager("alice", seed);
    let bob = manager("bob", seed + 1);
    alice.process_bundle(bob.address(), &bundle(&bob, 1, Some(100))).unwrap();
    let message = alice.encrypt(bob.address(), b"first message").unwrap();
    assert_eq!(kind(&message), common::Kind::PreKey);
    (alice, bob, message)
}

/// An established session and two ratchet messages from Alice that Bob has
/// not seen: the first of a new chain, and the second of it.
fn ratchet_messages(seed: u64) -> (Manager, Manager, [Vec<u8>; 2]) {
    let alice = manager("alice", seed);
    let bob = manager("bob", seed + 1);
    establish(&alice, &bob);
    let new_chain = alice.encrypt(bob.address(), b"new chain").unwrap();
    let in_chain = alice.encrypt(bob.address(), b"in chain").unwrap();
    assert_eq!(kind(&new_chain), common::Kind::Ratchet);
    assert_eq!(header(&in_chain).counter, 1);
    (alice, bob, [new_chain, in_chain])
}

/// Decrypts `message` at `bob`, expecting a refusal that changes nothing.
fn refused<S, R>(
    bob: &SessionManager<S, R>,
    from: &Address,
    message: &[u8],
    what: &str,
) -> SessionError
where
    S: sotto::store::ProtocolStore + common::CountPreKeys,
    R: rand_core::CryptoRng,
{
    let before = snapshot(bob, from);
    let error = match bob.decrypt(from, message) {
        Ok(decrypted) => panic!("{what}: accepted, plaintext {:?}", decrypted.plaintext()),
        Err(error) => error,
    };
    assert_eq!(snapshot(bob, from), before, "{what}: {error:?} changed the store");
    error
}

fn assert_parse_error(error: &SessionError, what: &str) {
    assert!(
        matches!(
            error,
            SessionError::MalformedMessage { .. } | SessionError::UnsupportedVersion { .. }
        ),
        "{what}: {error:?}"
    );
}

#[test]
fn every_truncation_of_a_first_message_is_refused() {
    let (alice, bob, message) = first_message(1);
    for len in 0..message.len() {
        let error = refused(&bob, alice.address(), &message[..len], &format!("prefix {len}"));
        assert_parse_error(&error, &format!("prefix {len}"));
    }
    deliver(&bob, alice.address(), &message, b"first message");
}

#[test]
fn every_truncation_of_a_ratchet_message_is_refused() {
    let (alice, bob, messages) = ratchet_messages(3);
    for message in &messages {
        for len in 0..message.len() {
            let error = refused(&bob, alice.address(), &message[..len], &format!("prefix {len}"));
            assert_parse_error(&error, &format!("prefix {len}"));
        }
    }
    deliver(&bob, alice.address(), &messages[1], b"in chain");
    deliver(&bob, alice.address(), &messages[0], b"new chain");
}

#[test]
fn an_oversized_message_is_refused_before_parsing() {
    let (alice, bob, messages) = ratchet_messages(5);
    let error = refused(&bob, alice.address(), &vec![0; MAX_ENVELOPE_LEN + 1], "zeros");
    assert!(
        matches!(error, SessionError::MessageTooLarge { max: MAX_ENVELOPE_LEN, found }
            if found == MAX_ENVELOPE_LEN + 1),
        "{error:?}"
    );
    // A real message padded with an unknown field past the limit.
    let mut padded = messages[0].clone();
    padded.extend_from_slice(&[0x7a]); // field 15, length-delimited
    let pad = MAX_ENVELOPE_LEN + 10 - padded.len() - 3;
    let mut varint = pad;
    while varint >= 0x80 {
        padded.push(u8::try_from(varint & 0x7f).unwrap() | 0x80);
        varint >>= 7;
    }
    padded.push(u8::try_from(varint).unwrap());
    padded.resize(padded.len() + pad, 0);
    assert!(padded.len() > MAX_ENVELOPE_LEN);
    let error = refused(&bob, alice.address(), &padded, "padded");
    assert!(matches!(error, SessionError::MessageTooLarge { .. }), "{error:?}");
    // At the limit, the length check passes and the parser refuses.
    let error = refused(&bob, alice.address(), &vec![0xff; MAX_ENVELOPE_LEN], "at the limit");
    assert!(matches!(error, SessionError::MalformedMessage { .. }), "{error:?}");
    deliver(&bob, alice.address(), &messages[0], b"new chain");
}

#[test]
fn plaintexts_up_to_the_limit_fit_an_envelope_and_larger_ones_are_refused() {
    let alice = manager("alice", 7);
    let bob = manager("bob", 8);
    alice.process_bundle(bob.address(), &bundle(&bob, 1, Some(u32::MAX))).unwrap();
    let before = snapshot(&alice, bob.address());
    let error = alice.encrypt(bob.address(), &vec![1; MAX_PLAINTEXT_LEN + 1]).unwrap_err();
    assert!(
        matches!(error, SessionError::Ratchet(RatchetError::PlaintextTooLarge { max, found })
            if max == MAX_PLAINTEXT_LEN && found == MAX_PLAINTEXT_LEN + 1),
        "{error:?}"
    );
    assert_eq!(snapshot(&alice, bob.address()), before);

    // The largest plaintext, in the largest first message and ratchet message.
    let largest = vec![0xA5; MAX_PLAINTEXT_LEN];
    let first = alice.encrypt(bob.address(), &largest).unwrap();
    assert_eq!(kind(&first), common::Kind::PreKey);
    assert!(first.len() <= MAX_ENVELOPE_LEN, "{} bytes", first.len());
    deliver(&bob, alice.address(), &first, &largest);
    let reply = bob.encrypt(alice.address(), &largest).unwrap();
    assert!(reply.len() <= MAX_ENVELOPE_LEN, "{} bytes", reply.len());
    deliver(&alice, bob.address(), &reply, &largest);
}

/// Flips one bit in every byte (a different bit per position, and all the
/// bits once every eight positions): each copy is refused without a change,
/// and the untampered message decrypts afterwards.
fn flip_every_byte<S, R>(bob: &SessionManager<S, R>, from: &Address, message: &[u8])
where
    S: sotto::store::ProtocolStore + common::CountPreKeys,
    R: rand_core::CryptoRng,
{
    for position in 0..message.len() {
        for mask in [1u8 << (position % 8), 0xff] {
            let mut tampered = message.to_vec();
            tampered[position] ^= mask;
            let error = refused(bob, from, &tampered, &format!("byte {position} ^ {mask:#04x}"));
            assert!(
                !matches!(error, SessionError::Store(_) | SessionError::NoLocalIdentity),
                "byte {position}: {error:?}"
            );
        }
    }
}

#[test]
fn a_bit_flip_anywhere_in_a_first_message_is_refused() {
    let (alice, bob, message) = first_message(9);
    flip_every_byte(&bob, alice.address(), &message);
    assert_eq!(bob.store().count_one_time_prekeys(), 1);
    deliver(&bob, alice.address(), &message, b"first message");
    assert_eq!(bob.store().count_one_time_prekeys(), 0);
}

#[test]
fn a_bit_flip_anywhere_in_a_ratchet_message_is_refused() {
    let (alice, bob, messages) = ratchet_messages(11);
    for message in &messages {
        flip_every_byte(&bob, alice.address(), message);
    }
    deliver(&bob, alice.address(), &messages[1], b"in chain");
    deliver(&bob, alice.address(), &messages[0], b"new chain");
}

#[test]
fn a_bit_flip_in_a_repeated_first_message_is_refused_unless_it_only_touches_x3dh_fields() {
    // Alice sends twice before hearing back; Bob has read the first, so the
    // second repeats X3DH fields of a session Bob knows by its base key.
    // Those fields are not used again (src/session/mod.rs: "Its identity
    // field is not trusted here"), so a flip there may be accepted: but only
    // with the base key and the authenticated inner message untouched, with
    // the authentic plaintext, and without changing any store.
    let (alice, bob, first) = first_message(13);
    let second = alice.encrypt(bob.address(), b"second").unwrap();
    deliver(&bob, alice.address(), &first, b"first message");
    let original = prekey_message(&second);
    let mut accepted = 0;
    for position in 0..second.len() {
        for mask in [1u8 << (position % 8), 0xff] {
            let mut tampered = second.clone();
            tampered[position] ^= mask;
            let what = format!("byte {position} ^ {mask:#04x}");
            let before = snapshot(&bob, alice.address());
            match bob.decrypt(alice.address(), &tampered) {
                Ok(decrypted) => {
                    accepted += 1;
                    assert_eq!(decrypted.plaintext(), b"second", "{what}");
                    let parsed = WireEnvelope::decode(tampered.as_slice()).ok();
                    let Some(WireEnvelope { content: Some(WireContent::PreKey(prekey)), .. }) =
                        parsed
                    else {
                        panic!("{what}: accepted, but not a prekey message");
                    };
                    assert_eq!(prekey.base_key, original.base_key, "{what}");
                    assert_eq!(prekey.message, original.message, "{what}");
                }
                Err(error) => {
                    assert!(!matches!(error, SessionError::Store(_)), "{what}: {error:?}");
                }
            }
            assert_eq!(snapshot(&bob, alice.address()), before, "{what}");
        }
    }
    // Only the 32-byte identity key, the three ids and the 1568-byte KEM
    // ciphertext (a repeat decrypts in the session its base key started,
    // which needs no KEM) are outside the AEAD.
    assert!(accepted <= 2 * (32 + 3 * 6 + 1568), "{accepted} flips accepted");
    deliver(&bob, alice.address(), &second, b"second");
    assert_eq!(
        bob.store().peer_identity(alice.address()).unwrap().map(|peer| peer.key),
        Some(alice.identity_key().unwrap())
    );
}

#[test]
fn a_repeated_first_message_cannot_change_the_recorded_identity() {
    let (alice, bob, first) = first_message(15);
    let second = alice.encrypt(bob.address(), b"second").unwrap();
    deliver(&bob, alice.address(), &first, b"first message");
    let mallory = identity(16).public();
    let tampered = with_prekey_message(&second, |prekey| {
        prekey.identity_key = mallory.to_bytes().to_vec();
    });
    let before = snapshot(&bob, alice.address());
    match bob.decrypt(alice.address(), &tampered) {
        // Either refused, or read in Alice's session as Alice's message...
        Ok(decrypted) => {
            assert_eq!(decrypted.plaintext(), b"second");
            decrypted.commit().unwrap();
        }
        Err(error) => {
            assert_eq!(snapshot(&bob, alice.address()), before, "{error:?}");
        }
    }
    // ...but never recorded as a new identity for Alice.
    let peer = bob.store().peer_identity(alice.address()).unwrap().map(|peer| peer.key);
    assert_eq!(peer, Some(alice.identity_key().unwrap()));
    assert_eq!(
        bob.safety_number(alice.address()).unwrap(),
        alice.safety_number(bob.address()).unwrap()
    );
}

#[test]
fn a_wrong_envelope_version_is_refused() {
    let (alice, bob, first) = first_message(17);
    let second = alice.encrypt(bob.address(), b"second").unwrap();
    let (carol, dave, ratchet) = ratchet_messages(19);
    for version in [0, 2, WIRE_VERSION + 1, u32::MAX] {
        for (receiver, from, message) in [
            (&bob, alice.address(), &first),
            (&bob, alice.address(), &second),
            (&dave, carol.address(), &ratchet[0]),
        ] {
            let mut envelope = WireEnvelope::decode(message.as_slice()).unwrap();
            envelope.version = version;
            let error = refused(receiver, from, &envelope.encode_to_vec(), "version");
            assert!(
                matches!(error, SessionError::UnsupportedVersion { expected: WIRE_VERSION, found }
                    if found == version),
                "{error:?}"
            );
        }
    }
    deliver(&bob, alice.address(), &second, b"second");
    deliver(&bob, alice.address(), &first, b"first message");
    deliver(&dave, carol.address(), &ratchet[0], b"new chain");
}

#[test]
fn envelopes_missing_parts_are_malformed() {
    let (alice, bob, first) = first_message(21);
    let empty = WireEnvelope { version: WIRE_VERSION, content: None }.encode_to_vec();
    let no_message = with_prekey_message(&first, |prekey| prekey.message = None);
    let short_ciphertext = with_prekey_message(&first, |prekey| {
        prekey.message.as_mut().unwrap().ciphertext.truncate(15);
    });
    let short_identity = with_prekey_message(&first, |prekey| prekey.identity_key.truncate(31));
    let weak_identity = with_prekey_message(&first, |prekey| {
        let mut point = [0u8; 32];
        point[0] = 1; // the Edwards identity: small order
        prekey.identity_key = point.to_vec();
    });
    let long_base_key = with_prekey_message(&first, |prekey| prekey.base_key.push(0));
    for (what, message) in [
        ("empty", empty),
        ("no ratchet message", no_message),
        ("ciphertext shorter than a tag", short_ciphertext),
        ("31-byte identity key", short_identity),
        ("weak identity key", weak_identity),
        ("33-byte base key", long_base_key),
    ] {
        let error = refused(&bob, alice.address(), &message, what);
        assert!(matches!(error, SessionError::MalformedMessage { .. }), "{what}: {error:?}");
    }
    // A header that is not a RatchetHeader.
    let bad_header = with_prekey_message(&first, |prekey| {
        prekey.message.as_mut().unwrap().header = vec![0xff; 8];
    });
    let error = refused(&bob, alice.address(), &bad_header, "bad header");
    assert!(
        matches!(error, SessionError::Ratchet(RatchetError::MalformedHeader)),
        "bad header: {error:?}"
    );
    deliver(&bob, alice.address(), &first, b"first message");
}

#[test]
fn a_message_in_an_unknown_session_is_refused() {
    let (alice, bob, messages) = ratchet_messages(23);
    // From an address Bob never talked to.
    let carol = address("carol");
    let error = refused(&bob, &carol, &messages[0], "unknown address");
    assert!(matches!(error, SessionError::NoSession), "{error:?}");
    assert!(!bob.has_session(&carol).unwrap());
    // A ratchet message to a device that has no session yet.
    let fresh = manager("bob", 24);
    let error = refused(&fresh, alice.address(), &messages[0], "fresh device");
    assert!(matches!(error, SessionError::NoSession), "{error:?}");
    deliver(&bob, alice.address(), &messages[0], b"new chain");
}

#[test]
fn a_message_attributed_to_the_wrong_sender_is_refused() {
    let (alice, bob, messages) = ratchet_messages(25);
    let carol = manager("carol", 27);
    establish(&carol, &bob);
    for message in &messages {
        let error = refused(&bob, carol.address(), message, "as if from Carol");
        assert!(
            matches!(error, SessionError::Ratchet(RatchetError::AuthenticationFailed)),
            "{error:?}"
        );
    }
    send(&carol, &bob, b"Carol's session is intact");
    deliver(&bob, alice.address(), &messages[0], b"new chain");
}

#[test]
fn a_replayed_message_is_a_duplicate() {
    let (alice, bob, first) = first_message(29);
    deliver(&bob, alice.address(), &first, b"first message");
    let error = refused(&bob, alice.address(), &first, "replayed first message");
    assert!(
        matches!(error, SessionError::Ratchet(RatchetError::DuplicateMessage { counter: 0 })),
        "{error:?}"
    );
    let reply = bob.encrypt(alice.address(), b"reply").unwrap();
    deliver(&alice, bob.address(), &reply, b"reply");
    let error = refused(&alice, bob.address(), &reply, "replayed reply");
    assert!(
        matches!(error, SessionError::Ratchet(RatchetError::DuplicateMessage { counter: 0 })),
        "{error:?}"
    );
    // A replay of a message that was skipped over and then read.
    let m: Vec<_> =
        (0..3u8).map(|n| (alice.encrypt(bob.address(), &[n]).unwrap(), vec![n])).collect();
    deliver(&bob, alice.address(), &m[2].0, &m[2].1);
    deliver(&bob, alice.address(), &m[0].0, &m[0].1);
    for n in [0, 2] {
        let error = refused(&bob, alice.address(), &m[n].0, "replay");
        assert!(
            matches!(error, SessionError::Ratchet(RatchetError::DuplicateMessage { counter })
                if counter == u32::try_from(n).unwrap()),
            "{error:?}"
        );
    }
    deliver(&bob, alice.address(), &m[1].0, &m[1].1);
}

#[test]
fn a_counter_jump_beyond_max_skip_is_refused() {
    let alice = manager("alice", 31);
    let bob = manager("bob", 32);
    establish(&alice, &bob);
    let count = usize::try_from(MAX_SKIP).unwrap() + 2;
    let messages: Vec<Vec<u8>> = (0..count)
        .map(|n| alice.encrypt(bob.address(), &u32::try_from(n).unwrap().to_be_bytes()).unwrap())
        .collect();
    let text = |n: usize| u32::try_from(n).unwrap().to_be_bytes();

    // Counter MAX_SKIP + 1 would skip MAX_SKIP + 1 keys.
    let last = count - 1;
    let error = refused(&bob, alice.address(), &messages[last], "too far");
    assert!(
        matches!(error, SessionError::Ratchet(RatchetError::TooFarAhead { skip, max: MAX_SKIP })
            if skip == MAX_SKIP + 1),
        "{error:?}"
    );
    // Counter MAX_SKIP skips exactly MAX_SKIP keys: allowed; then the rest follow.
    deliver(&bob, alice.address(), &messages[last - 1], &text(last - 1));
    deliver(&bob, alice.address(), &messages[last], &text(last));
    for n in [0, 500, last - 2] {
        deliver(&bob, alice.address(), &messages[n], &text(n));
    }
}

#[test]
fn a_bundle_with_a_bad_signature_is_refused() {
    let alice = manager("alice", 33);
    let bob = manager("bob", 34);
    let good = WireBundle::decode(bundle(&bob, 5, Some(50)).as_slice()).unwrap();
    let other_identity = identity(35).public().to_bytes().to_vec();
    let other_key = {
        let other = manager("other", 36);
        WireBundle::decode(bundle(&other, 5, None).as_slice()).unwrap().signed_prekey
    };
    let mut cases: Vec<(String, WireBundle)> = Vec::new();
    for position in [0, 31, 32, 63] {
        let mut tampered = good.clone();
        tampered.signed_prekey_signature[position] ^= 0x01;
        cases.push((format!("signature byte {position}"), tampered));
    }
    let mut tampered = good.clone();
    tampered.signed_prekey_id = 6;
    cases.push(("signed prekey id".into(), tampered));
    let mut tampered = good.clone();
    tampered.signed_prekey = other_key;
    cases.push(("signed prekey".into(), tampered));
    let mut tampered = good.clone();
    tampered.identity_key = other_identity;
    cases.push(("identity key".into(), tampered));

    let before = snapshot(&alice, bob.address());
    for (what, tampered) in cases {
        let error = alice.process_bundle(bob.address(), &tampered.encode_to_vec()).unwrap_err();
        assert!(
            matches!(error, SessionError::Bundle(BundleError::BadSignature)),
            "{what}: {error:?}"
        );
        assert_eq!(snapshot(&alice, bob.address()), before, "{what}");
    }
    assert!(!alice.has_session(bob.address()).unwrap());
    alice.process_bundle(bob.address(), &good.encode_to_vec()).unwrap();
    send(&alice, &bob, b"the untampered bundle works");
}

#[test]
fn malformed_bundles_are_refused() {
    let alice = manager("alice", 37);
    let bob = manager("bob", 38);
    let bytes = bundle(&bob, 5, Some(50));
    let good = WireBundle::decode(bytes.as_slice()).unwrap();
    let before = snapshot(&alice, bob.address());
    let check = |what: &str, encoded: &[u8], expected: &dyn Fn(&BundleError) -> bool| {
        match alice.process_bundle(bob.address(), encoded) {
            Err(SessionError::Bundle(error)) => assert!(expected(&error), "{what}: {error:?}"),
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(snapshot(&alice, bob.address()), before, "{what}");
    };
    // Neither the one-time prekey nor the KEM prekey (the last fields) is
    // part of what the signed prekey's signature covers: the bundle cut just
    // before either is a valid classical bundle, which the manager refuses
    // as such (a downgrade), storing nothing; every other prefix is a bundle
    // error.
    let without_kem = WireBundle { kem_prekey: None, ..good.clone() }.encode_to_vec();
    let without_either =
        WireBundle { kem_prekey: None, one_time_prekey: None, ..good.clone() }.encode_to_vec();
    assert!(bytes.starts_with(&without_kem) && bytes.starts_with(&without_either));
    for len in 0..bytes.len() {
        let prefix = &bytes[..len];
        if prefix == without_kem.as_slice() || prefix == without_either.as_slice() {
            let parsed = PreKeyBundle::from_bytes(prefix).unwrap().verify().unwrap();
            assert!(parsed.kem_prekey().is_none());
            let downgraded = alice.process_bundle(bob.address(), prefix).unwrap_err();
            assert!(
                matches!(downgraded, SessionError::ClassicalSessionRefused { .. }),
                "prefix {len}: {downgraded:?}"
            );
            assert_eq!(snapshot(&alice, bob.address()), before);
        } else {
            check(&format!("prefix {len}"), prefix, &|_| true);
        }
    }
    check("too large", &vec![0; MAX_BUNDLE_LEN + 1], &|e| {
        matches!(e, BundleError::TooLarge { .. })
    });

    // The KEM prekey: its encoding, its key and its signature.
    let kem = good.kem_prekey.clone().unwrap();
    let with_kem = |change: &dyn Fn(&mut WireKemPreKey)| {
        let mut kem = kem.clone();
        change(&mut kem);
        WireBundle { kem_prekey: Some(kem), ..good.clone() }.encode_to_vec()
    };
    check(
        "KEM key length",
        &with_kem(&|kem| {
            kem.key.pop();
        }),
        &|e| {
            matches!(
                e,
                BundleError::InvalidKey {
                    field: "kem_prekey",
                    source: KeyError::InvalidLength { expected: 1569, found: 1568 }
                }
            )
        },
    );
    check("KEM type byte", &with_kem(&|kem| kem.key[0] = 0x02), &|e| {
        matches!(
            e,
            BundleError::InvalidKey { field: "kem_prekey", source: KeyError::InvalidKemKey }
        )
    });
    // A coefficient of 0xfff, above q = 3329: the signature would not
    // verify either, but the key is refused before.
    check(
        "KEM key modulus",
        &with_kem(&|kem| kem.key[1..3].copy_from_slice(&[0xff, 0xff])),
        &|e| {
            matches!(
                e,
                BundleError::InvalidKey { field: "kem_prekey", source: KeyError::InvalidKemKey }
            )
        },
    );
    check("KEM key swapped", &with_kem(&|kem| kem.key[100] ^= 1), &|e| {
        matches!(e, BundleError::BadKemSignature)
    });
    check("KEM id", &with_kem(&|kem| kem.id += 1), &|e| matches!(e, BundleError::BadKemSignature));
    check(
        "KEM signature length",
        &with_kem(&|kem| {
            kem.signature.pop();
        }),
        &|e| matches!(e, BundleError::InvalidSignatureLength { field: "kem_prekey", found: 63 }),
    );
    check("KEM signature", &with_kem(&|kem| kem.signature[3] ^= 1), &|e| {
        matches!(e, BundleError::BadKemSignature)
    });

    let mut b = good.clone();
    b.version = 2;
    check("version", &b.encode_to_vec(), &|e| {
        matches!(e, BundleError::UnsupportedVersion { expected: 1, found: 2 })
    });
    let mut b = good.clone();
    b.signed_prekey_signature.pop();
    check("signature length", &b.encode_to_vec(), &|e| {
        matches!(e, BundleError::InvalidSignatureLength { field: "signed_prekey", found: 63 })
    });
    let mut b = good.clone();
    b.signed_prekey.pop();
    check("signed prekey length", &b.encode_to_vec(), &|e| {
        matches!(
            e,
            BundleError::InvalidKey {
                field: "signed_prekey",
                source: KeyError::InvalidLength { expected: 32, found: 31 }
            }
        )
    });
    let mut b = good.clone();
    b.one_time_prekey = Some(WireOneTimePreKey { id: 50, key: vec![9; 33] });
    check("one-time prekey length", &b.encode_to_vec(), &|e| {
        matches!(e, BundleError::InvalidKey { field: "one_time_prekey", .. })
    });
    let mut b = good.clone();
    let mut weak = [0u8; 32];
    weak[0] = 1;
    b.identity_key = weak.to_vec();
    check("weak identity key", &b.encode_to_vec(), &|e| {
        matches!(e, BundleError::InvalidKey { field: "identity_key", source: KeyError::WeakKey })
    });
    let mut b = good;
    b.identity_key = vec![];
    check("no identity key", &b.encode_to_vec(), &|e| {
        matches!(e, BundleError::InvalidKey { field: "identity_key", .. })
    });
}

#[test]
fn a_small_order_one_time_prekey_in_a_bundle_is_refused() {
    let alice = manager("alice", 39);
    let bob = manager("bob", 40);
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let kem = bob.generate_last_resort_kem_prekey(1.into()).unwrap();
    let before = snapshot(&alice, bob.address());
    for point in small_order_points() {
        let one_time = OneTimePreKeyPublic::new(9.into(), DhPublicKey::from_bytes(&point).unwrap());
        let bundle = PreKeyBundle::new(
            bob.identity_key().unwrap(),
            signed.clone(),
            kem.clone(),
            Some(one_time),
        );
        let error = alice.process_bundle(bob.address(), &bundle.to_bytes()).unwrap_err();
        assert!(
            matches!(error, SessionError::X3dh(X3dhError::NonContributory { dh: 4 })),
            "{point:02x?}: {error:?}"
        );
        assert_eq!(snapshot(&alice, bob.address()), before);
    }
    let mut good = WireBundle::decode(bundle(&bob, 1, None).as_slice()).unwrap();
    for point in non_canonical_points() {
        good.one_time_prekey = Some(WireOneTimePreKey { id: 9, key: point.to_vec() });
        let error = alice.process_bundle(bob.address(), &good.encode_to_vec()).unwrap_err();
        assert!(
            matches!(
                error,
                SessionError::Bundle(BundleError::InvalidKey {
                    field: "one_time_prekey",
                    source: KeyError::NonCanonical
                })
            ),
            "{point:02x?}: {error:?}"
        );
        assert_eq!(snapshot(&alice, bob.address()), before);
    }
}

#[test]
fn a_small_order_base_key_in_a_first_message_is_refused() {
    let (alice, bob, first) = first_message(41);
    for point in small_order_points() {
        let tampered = with_prekey_message(&first, |prekey| prekey.base_key = point.to_vec());
        let error = refused(&bob, alice.address(), &tampered, "small-order base key");
        assert!(
            matches!(error, SessionError::X3dh(X3dhError::NonContributory { dh: 2 })),
            "{point:02x?}: {error:?}"
        );
    }
    for point in non_canonical_points() {
        let tampered = with_prekey_message(&first, |prekey| prekey.base_key = point.to_vec());
        let error = refused(&bob, alice.address(), &tampered, "non-canonical base key");
        assert!(
            matches!(error, SessionError::MalformedMessage { reason: "invalid base key" }),
            "{point:02x?}: {error:?}"
        );
    }
    deliver(&bob, alice.address(), &first, b"first message");
}

#[test]
fn unknown_prekeys_in_a_first_message_are_refused() {
    let (alice, bob, first) = first_message(43);
    let tampered = with_prekey_message(&first, |prekey| prekey.signed_prekey_id = 2);
    let error = refused(&bob, alice.address(), &tampered, "signed prekey 2");
    assert!(
        matches!(error, SessionError::UnknownSignedPreKey { id } if u32::from(id) == 2),
        "{error:?}"
    );
    let tampered = with_prekey_message(&first, |prekey| prekey.one_time_prekey_id = Some(101));
    let error = refused(&bob, alice.address(), &tampered, "one-time prekey 101");
    assert!(
        matches!(error, SessionError::UnknownOneTimePreKey { id } if u32::from(id) == 101),
        "{error:?}"
    );
    // Without the one-time prekey X3DH gives another key: refused, and the
    // one-time prekey stays.
    let tampered = with_prekey_message(&first, |prekey| prekey.one_time_prekey_id = None);
    let error = refused(&bob, alice.address(), &tampered, "no one-time prekey");
    assert!(
        matches!(error, SessionError::Ratchet(RatchetError::AuthenticationFailed)),
        "{error:?}"
    );
    deliver(&bob, alice.address(), &first, b"first message");

    // The one-time prekey is used up: Carol, who got the same bundle, is refused.
    let carol = manager("carol", 45);
    let stale = WireBundle {
        one_time_prekey: Some(WireOneTimePreKey {
            id: 100,
            key: prekey_message(&first).base_key, // any valid key: it is never used
        }),
        ..WireBundle::decode(bundle(&bob, 1, None).as_slice()).unwrap()
    };
    carol.process_bundle(bob.address(), &stale.encode_to_vec()).unwrap();
    let from_carol = carol.encrypt(bob.address(), b"hi").unwrap();
    let error = refused(&bob, carol.address(), &from_carol, "used one-time prekey");
    assert!(
        matches!(error, SessionError::UnknownOneTimePreKey { id } if u32::from(id) == 100),
        "{error:?}"
    );
    // A signed prekey Bob has rotated away.
    let dave = manager("dave", 46);
    dave.process_bundle(bob.address(), &bundle(&bob, 3, None)).unwrap();
    bob.store().remove_signed_prekey(3.into()).unwrap();
    let from_dave = dave.encrypt(bob.address(), b"hi").unwrap();
    let error = refused(&bob, dave.address(), &from_dave, "removed signed prekey");
    assert!(
        matches!(error, SessionError::UnknownSignedPreKey { id } if u32::from(id) == 3),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------
// Corrupt stored records.

/// A manager over a [`ByteStore`].
type ByteManager = SessionManager<ByteStore, ChaCha20Rng>;

/// A message and its plaintext.
type Sent = (Vec<u8>, Vec<u8>);

/// Bob keeps his sessions in a [`ByteStore`]. His record with Alice has
/// several receiving chains and skipped keys; the returned messages from
/// Alice are still to be read (one skipped over, one ahead).
fn bob_with_a_rich_record() -> (Manager, ByteManager, Vec<Sent>) {
    let alice = manager("alice", 47);
    let bob =
        SessionManager::with_rng(address("bob"), ByteStore::new(identity(48)), common::rng(49));
    establish(&alice, &bob);
    let mut pending = Vec::new();
    for round in 0..3u8 {
        let held = alice.encrypt(bob.address(), &[round, 0]).unwrap();
        let read = alice.encrypt(bob.address(), &[round, 1]).unwrap();
        deliver(&bob, alice.address(), &read, &[round, 1]);
        pending.push((held, vec![round, 0]));
        send(&bob, &alice, &[round, 2]);
    }
    let ahead = alice.encrypt(bob.address(), b"ahead").unwrap();
    pending.push((ahead, b"ahead".to_vec()));
    (alice, bob, pending)
}

/// The manager refuses a record that does not load with the loader's error,
/// and leaves the stored bytes alone; a record that loads (some corruptions
/// are still well-formed) gives a result or a typed error, never a panic.
fn check_corrupt_record(
    alice: &Manager,
    bob: &ByteManager,
    pending: &[Sent],
    corrupted: &[u8],
    what: &str,
) {
    let store = bob.store();
    store.set_session_bytes(alice.address(), corrupted.to_vec());
    match SessionRecord::from_bytes(corrupted) {
        Err(expected) => {
            let is_corrupt = |result: Result<(), SessionError>| match result {
                Err(SessionError::Store(StoreError::Corrupt(found))) => {
                    assert_eq!(found, expected, "{what}");
                }
                other => panic!("{what}: expected Store(Corrupt({expected:?})), got {other:?}"),
            };
            for (message, _) in pending {
                is_corrupt(bob.decrypt(alice.address(), message).map(drop));
            }
            is_corrupt(bob.encrypt(alice.address(), b"x").map(drop));
            is_corrupt(bob.has_session(alice.address()).map(drop));
            assert!(matches!(
                store.load_session(alice.address()),
                Err(StoreError::Corrupt(found)) if found == expected
            ));
        }
        Ok(_) => {
            for (message, _) in pending {
                // Any typed outcome; the decryption is not committed.
                drop(bob.decrypt(alice.address(), message));
            }
            // Encrypting may store an advanced record; that is the point.
            drop(bob.encrypt(alice.address(), b"x"));
        }
    }
    if SessionRecord::from_bytes(corrupted).is_err() {
        assert_eq!(store.session_bytes(alice.address()).unwrap(), corrupted, "{what}");
    }
}

#[test]
fn a_corrupt_session_record_is_a_typed_store_error() {
    let (alice, bob, pending) = bob_with_a_rich_record();
    let original = bob.store().session_bytes(alice.address()).unwrap();
    assert!(SessionRecord::from_bytes(&original).is_ok());

    // Corruptions with a known outcome.
    let mut version = original.clone();
    assert_eq!(&version[..2], &[0x08, 0x01], "the record starts with its version");
    version[1] = 2;
    assert_eq!(
        SessionRecord::from_bytes(&version).err(),
        Some(RecordError::UnsupportedVersion { expected: 1, found: 2 })
    );
    assert_eq!(
        SessionRecord::from_bytes(&original[..original.len() - 1]).err(),
        Some(RecordError::Malformed)
    );
    let mut huge = original.clone();
    huge.resize(MAX_RECORD_LEN + 1, 0);
    assert_eq!(
        SessionRecord::from_bytes(&huge).err(),
        Some(RecordError::TooLarge { max: MAX_RECORD_LEN, found: MAX_RECORD_LEN + 1 })
    );
    for (what, corrupted) in [("version", &version[..]), ("truncated", &original[..10])] {
        check_corrupt_record(&alice, &bob, &pending, corrupted, what);
    }

    // Every truncation and every single-byte corruption.
    for len in 0..original.len() {
        check_corrupt_record(&alice, &bob, &pending, &original[..len], &format!("prefix {len}"));
    }
    for position in 0..original.len() {
        for mask in [1u8 << (position % 8), 0x80, 0xff] {
            let mut corrupted = original.clone();
            corrupted[position] ^= mask;
            let what = format!("byte {position} ^ {mask:#04x}");
            check_corrupt_record(&alice, &bob, &pending, &corrupted, &what);
        }
    }

    // The intact record still reads everything.
    bob.store().set_session_bytes(alice.address(), original);
    for (message, text) in &pending {
        deliver(&bob, alice.address(), message, text);
    }
    send(&bob, &alice, b"intact");
}

#[test]
fn a_corrupt_record_blocks_a_new_session_without_losing_it() {
    let (alice, bob, _) = bob_with_a_rich_record();
    let mut corrupted = bob.store().session_bytes(alice.address()).unwrap();
    corrupted[1] = 9;
    bob.store().set_session_bytes(alice.address(), corrupted.clone());
    // A first message from Alice's address also needs the record.
    let new_alice = manager("alice", 50);
    let bundle = bundle(&bob, 2, Some(7));
    new_alice.process_bundle(bob.address(), &bundle).unwrap();
    let first = new_alice.encrypt(bob.address(), b"hi").unwrap();
    let count = bob.store().count_one_time_prekeys();
    let error = bob.decrypt(alice.address(), &first).unwrap_err();
    assert!(
        matches!(
            error,
            SessionError::Store(StoreError::Corrupt(RecordError::UnsupportedVersion {
                expected: 1,
                found: 9
            }))
        ),
        "{error:?}"
    );
    // Bob starting a session towards the address needs it too.
    let error = bob.process_bundle(alice.address(), &common::bundle(&alice, 9, None)).unwrap_err();
    assert!(matches!(error, SessionError::Store(StoreError::Corrupt(_))), "{error:?}");
    assert_eq!(bob.store().session_bytes(alice.address()).unwrap(), corrupted);
    assert_eq!(bob.store().count_one_time_prekeys(), count);
}

// ---------------------------------------------------------------------------
// Random input.

/// A field of a real message replaced by a random value.
#[derive(Debug, Clone)]
enum Mutation {
    RatchetKey([u8; 32]),
    Counter(u32),
    PreviousCounter(u32),
    Header(Vec<u8>),
    Ciphertext(Vec<u8>),
    IdentityKey([u8; 32]),
    BaseKey([u8; 32]),
    SignedPreKeyId(u32),
    OneTimePreKeyId(Option<u32>),
    Version(u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(Mutation::RatchetKey),
        prop_oneof![0..(2 * MAX_SKIP), any::<u32>()].prop_map(Mutation::Counter),
        prop_oneof![0..(2 * MAX_SKIP), any::<u32>()].prop_map(Mutation::PreviousCounter),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Mutation::Header),
        proptest::collection::vec(any::<u8>(), 0..256).prop_map(Mutation::Ciphertext),
        any::<[u8; 32]>().prop_map(Mutation::IdentityKey),
        any::<[u8; 32]>().prop_map(Mutation::BaseKey),
        any::<u32>().prop_map(Mutation::SignedPreKeyId),
        any::<Option<u32>>().prop_map(Mutation::OneTimePreKeyId),
        any::<u32>().prop_map(Mutation::Version),
    ]
}

/// Applies `mutation` to an envelope Sotto produced.
fn mutate(message: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut envelope = WireEnvelope::decode(message).unwrap();
    let mut prekey = match &envelope.content {
        Some(WireContent::PreKey(prekey)) => Some(prekey.clone()),
        _ => None,
    };
    let mut ratchet = match &envelope.content {
        Some(WireContent::PreKey(prekey)) => prekey.message.clone().unwrap(),
        Some(WireContent::Ratchet(ratchet)) => ratchet.clone(),
        None => unreachable!(),
    };
    let mut header = WireHeader::decode(ratchet.header.as_slice()).unwrap();
    match mutation {
        Mutation::RatchetKey(key) => header.ratchet_key = key.to_vec(),
        Mutation::Counter(counter) => header.counter = *counter,
        Mutation::PreviousCounter(counter) => header.previous_counter = *counter,
        Mutation::Header(_)
        | Mutation::Ciphertext(_)
        | Mutation::Version(_)
        | Mutation::IdentityKey(_)
        | Mutation::BaseKey(_)
        | Mutation::SignedPreKeyId(_)
        | Mutation::OneTimePreKeyId(_) => {}
    }
    ratchet.header = header.encode_to_vec();
    match mutation {
        Mutation::Header(bytes) => ratchet.header.clone_from(bytes),
        Mutation::Ciphertext(bytes) => ratchet.ciphertext.clone_from(bytes),
        Mutation::Version(version) => envelope.version = *version,
        _ => {}
    }
    if let Some(prekey) = prekey.as_mut() {
        match mutation {
            Mutation::IdentityKey(key) => prekey.identity_key = key.to_vec(),
            Mutation::BaseKey(key) => prekey.base_key = key.to_vec(),
            Mutation::SignedPreKeyId(id) => prekey.signed_prekey_id = *id,
            Mutation::OneTimePreKeyId(id) => prekey.one_time_prekey_id = *id,
            _ => {}
        }
    }
    envelope.content = Some(match prekey {
        Some(mut prekey) => {
            prekey.message = Some(ratchet);
            WireContent::PreKey(prekey)
        }
        None => WireContent::Ratchet(ratchet),
    });
    envelope.encode_to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Arbitrary bytes are refused without a panic or a store change, both
    /// by a device with no session and by one with an established session.
    #[test]
    fn random_bytes_are_refused_without_a_change(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        seed in any::<u64>(),
    ) {
        let (alice, bob, messages) = ratchet_messages(seed);
        let fresh = manager("carol", seed);
        for receiver in [&bob, &fresh] {
            let before: Snapshot = snapshot(receiver, alice.address());
            prop_assert!(receiver.decrypt(alice.address(), &bytes).is_err());
            prop_assert_eq!(snapshot(receiver, alice.address()), before);
        }
        // Random bytes after a valid message's prefix reach deeper parsers.
        for message in &messages {
            let cut = usize::from(bytes.first().copied().unwrap_or(0)) % message.len();
            let mut spliced = message[..cut].to_vec();
            spliced.extend_from_slice(&bytes);
            let before = snapshot(&bob, alice.address());
            if spliced != *message {
                prop_assert!(bob.decrypt(alice.address(), &spliced).is_err());
            }
            prop_assert_eq!(snapshot(&bob, alice.address()), before);
        }
    }

    /// A real message with one field replaced by a random value is refused
    /// without a panic or a store change.
    #[test]
    fn random_fields_in_real_messages_are_refused_without_a_change(
        mutation in mutation(),
        which in 0usize..3,
        seed in any::<u64>(),
    ) {
        let (alice, bob, message) = if which == 0 {
            first_message(seed)
        } else {
            let (alice, bob, messages) = ratchet_messages(seed);
            (alice, bob, messages[which - 1].clone())
        };
        let mutated = mutate(&message, &mutation);
        prop_assume!(mutated != message);
        let before = snapshot(&bob, alice.address());
        let result = bob.decrypt(alice.address(), &mutated);
        prop_assert!(result.is_err(), "{:?} accepted", mutation);
        prop_assert_eq!(snapshot(&bob, alice.address()), before);
    }
}
