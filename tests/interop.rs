//! Interoperability with an independent implementation: replays the
//! known-answer transcript `tests/vectors/dm/transcript.json`, written in
//! Python from `docs/PROTOCOL.md` alone (see `tests/vectors/dm/README.md`),
//! through the public API, and requires every envelope Sotto produces to
//! equal the Python one byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

mod common;

use std::sync::atomic::Ordering;

use common::unhex;
use common::vectors::{hex, parse_json, scripted};
use sotto::keys::{IdentityKey, IdentityKeyPair, OneTimePreKey, PreKeyBundle, SignedPreKey};
use sotto::session::{Address, ClassicalSessions, SessionManager};
use sotto::store::{InMemoryStore, OneTimePreKeyStore, SignedPreKeyStore};
use sotto::verify::SafetyNumber;

const TRANSCRIPT: &str = include_str!("vectors/dm/transcript.json");

// ------------------------------------------------------------------ protobuf
// The stored prekey records (proto/storage.proto), encoded by hand.

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn uint_field(out: &mut Vec<u8>, number: u32, value: u32) {
    if value != 0 {
        varint(out, u64::from(number) << 3);
        varint(out, u64::from(value));
    }
}

fn bytes_field(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    if !value.is_empty() {
        varint(out, u64::from(number) << 3 | 2);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

/// `SignedPreKeyRecord { version = 1, id = 2, private_key = 3, signature = 4 }`.
fn signed_prekey_record(id: u32, private_key: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    uint_field(&mut out, 1, 1);
    uint_field(&mut out, 2, id);
    bytes_field(&mut out, 3, private_key);
    bytes_field(&mut out, 4, signature);
    out
}

/// `OneTimePreKeyRecord { version = 1, id = 2, private_key = 3 }`.
fn one_time_prekey_record(id: u32, private_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    uint_field(&mut out, 1, 1);
    uint_field(&mut out, 2, id);
    bytes_field(&mut out, 3, private_key);
    out
}

// ------------------------------------------------------------------ the replay

#[test]
fn python_transcript_replays_byte_for_byte() {
    let t = parse_json(TRANSCRIPT);
    let (a, b) = (t.get("alice"), t.get("bob"));

    let alice_address = Address::new(a.get("account").str(), a.get("device").u32()).unwrap();
    let bob_address = Address::new(b.get("account").str(), b.get("device").u32()).unwrap();

    // Identities from their seeds.
    let alice_identity = IdentityKeyPair::from_seed(&a.get("identity_seed").bytes32());
    let bob_identity = IdentityKeyPair::from_seed(&b.get("identity_seed").bytes32());
    assert_eq!(
        hex(&alice_identity.public().to_bytes()),
        a.get("identity_key").str(),
        "Alice's identity key"
    );
    assert_eq!(
        hex(&bob_identity.public().to_bytes()),
        b.get("identity_key").str(),
        "Bob's identity key"
    );

    // Bob's prekeys, from stored records built here.
    let spk_id = b.get("signed_prekey_id").u32();
    let spk = SignedPreKey::from_record_bytes(&signed_prekey_record(
        spk_id,
        &b.get("signed_prekey_private").bytes(),
        &b.get("signed_prekey_signature").bytes(),
    ))
    .unwrap();
    let opk_id = b.get("one_time_prekey_id").u32();
    let opk = OneTimePreKey::from_record_bytes(&one_time_prekey_record(
        opk_id,
        &b.get("one_time_prekey_private").bytes(),
    ))
    .unwrap();
    assert_eq!(
        hex(spk.public().key().as_bytes()),
        b.get("signed_prekey_public").str(),
        "Bob's signed prekey"
    );
    assert_eq!(
        hex(opk.public().key().as_bytes()),
        b.get("one_time_prekey_public").str(),
        "Bob's one-time prekey"
    );

    // Sotto encodes the same bundle as the Python side.
    let bundle = t.get("bundle").bytes();
    assert_eq!(
        hex(&PreKeyBundle::classical(bob_identity.public(), spk.public(), Some(opk.public()))
            .to_bytes()),
        hex(&bundle),
        "bundle encoding"
    );

    let bob_store = InMemoryStore::new(bob_identity);
    bob_store.save_signed_prekey(&spk).unwrap();
    bob_store.save_one_time_prekey(&opk).unwrap();
    let (alice_rng, alice_used) = scripted("alice", t.get("draws").get("alice"));
    let (bob_rng, bob_used) = scripted("bob", t.get("draws").get("bob"));
    // The transcript is classical X3DH (the PQXDH vectors are
    // tests/vectors/pqxdh): both sides opt in.
    let alice = SessionManager::with_rng(
        alice_address.clone(),
        InMemoryStore::new(alice_identity),
        alice_rng,
    )
    .with_classical_sessions(ClassicalSessions::Allow);
    let bob = SessionManager::with_rng(bob_address.clone(), bob_store, bob_rng)
        .with_classical_sessions(ClassicalSessions::Allow);

    alice.process_bundle(&bob_address, &bundle).unwrap();
    assert_eq!(alice_used.load(Ordering::SeqCst), 2, "draws for the bundle");

    // The first header is inside the first envelope.
    let first = t.get("first_message");
    let events = t.get("events").array();
    assert!(
        hex(&events[0].get("envelope").bytes()).contains(first.get("header").str()),
        "the first header is in the first envelope"
    );
    assert_eq!(
        first.get("ad").str(),
        format!("{}{}", a.get("identity_key").str(), b.get("identity_key").str()),
        "AD = IK_A || IK_B"
    );

    let mut sent: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut delivered_any = false;
    for (number, event) in events.iter().enumerate() {
        if event.has("send") {
            let index = event.get("send").usize();
            assert_eq!(index, sent.len(), "sends are numbered in order");
            let plaintext = event.get("plaintext").bytes();
            let expected = event.get("envelope").bytes();
            let (sender, to) = match event.get("from").str() {
                "alice" => (&alice, &bob_address),
                "bob" => (&bob, &alice_address),
                other => panic!("unknown sender {other}"),
            };
            let envelope = sender
                .encrypt(to, &plaintext)
                .unwrap_or_else(|e| panic!("event {number} (send {index}): encrypt failed: {e}"));
            assert_eq!(
                hex(&envelope),
                hex(&expected),
                "event {number}: send {index} from {} (kind {}, N = {}, PN = {}, header {}): \
                 envelope differs",
                event.get("from").str(),
                event.get("kind").str(),
                event.get("n").u32(),
                event.get("pn").u32(),
                event.get("header").str(),
            );
            sent.push((expected, plaintext));
        } else {
            let index = event.get("deliver").usize();
            let (envelope, plaintext) = &sent[index];
            let (receiver, from) = match event.get("to").str() {
                "alice" => (&alice, &bob_address),
                "bob" => (&bob, &alice_address),
                other => panic!("unknown receiver {other}"),
            };
            let decrypted = receiver
                .decrypt(from, envelope)
                .unwrap_or_else(|e| panic!("event {number}: delivery of send {index} failed: {e}"));
            assert_eq!(
                decrypted.started_session(),
                !delivered_any,
                "event {number}: only the first delivery starts a session"
            );
            delivered_any = true;
            let committed = decrypted.commit().unwrap();
            assert_eq!(
                hex(&committed),
                hex(plaintext),
                "event {number}: plaintext of send {index}"
            );
        }
    }

    assert_eq!(sent.len(), 13, "sends replayed");
    assert_eq!(events.len(), 13 + 13, "events replayed");

    // Every scripted draw was used, and no more.
    let draws = t.get("draws");
    assert_eq!(
        alice_used.load(Ordering::SeqCst),
        draws.get("alice").array().len(),
        "Alice's draws"
    );
    assert_eq!(bob_used.load(Ordering::SeqCst), draws.get("bob").array().len(), "Bob's draws");

    // The first message used Bob's one-time prekey, which the commit removed.
    assert!(bob.store().one_time_prekey(opk_id.into()).unwrap().is_none());
    assert_eq!(bob.store().one_time_prekey_count(), 0);

    // Safety numbers, from both sides.
    let expected = t.get("safety_number");
    for (side, number) in [
        ("alice", alice.safety_number(&bob_address).unwrap().unwrap()),
        ("bob", bob.safety_number(&alice_address).unwrap().unwrap()),
    ] {
        assert_eq!(
            number.displayable(),
            expected.get("displayable").str(),
            "{side}: displayable safety number"
        );
        assert_eq!(
            hex(&number.scannable()),
            expected.get("scannable").str(),
            "{side}: scannable safety number"
        );
        assert!(number.matches_scanned(&unhex(expected.get("scannable").str())).unwrap());
    }
}

/// More safety numbers: digit strings and fingerprints sorting in opposite
/// orders, and a non-ASCII account id (its length prefix counts UTF-8 bytes).
#[test]
fn python_safety_numbers() {
    let t = parse_json(TRANSCRIPT);
    let cases = t.get("more_safety_numbers").array();
    assert!(!cases.is_empty());
    for case in cases {
        let side = |key: &str| {
            let side = case.get(key);
            (
                Address::new(side.get("account").str(), side.get("device").u32()).unwrap(),
                IdentityKey::from_bytes(&side.get("identity_key").bytes()).unwrap(),
            )
        };
        let (a, b) = (side("a"), side("b"));
        for number in [
            SafetyNumber::new((&a.0, &a.1), (&b.0, &b.1)),
            SafetyNumber::new((&b.0, &b.1), (&a.0, &a.1)),
        ] {
            assert_eq!(
                number.displayable(),
                case.get("displayable").str(),
                "{} / {}: displayable safety number",
                a.0,
                b.0
            );
            assert_eq!(
                hex(&number.scannable()),
                case.get("scannable").str(),
                "{} / {}: scannable safety number",
                a.0,
                b.0
            );
        }
    }
}
