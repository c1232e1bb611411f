//! The PQXDH known answers `tests/vectors/pqxdh/pqxdh.json`, written in
//! Python from `docs/PROTOCOL.md`, PQXDH revision 3 and FIPS 203 alone (see
//! `tests/vectors/pqxdh/README.md`), replayed through the public API: Sotto
//! must load the Python side's stored keys, encode the same bundle, send the
//! same first message and reply byte for byte, and read both.
//!
//! The first message's ciphertext depends on every value before it (the
//! KEM shared secret, `SK`, the associated data with its KEM binding, the
//! root, chain and message keys), so equal envelopes mean equal values; the
//! unit tests of `src/x3dh.rs` and `src/keys/kem` cover the parts alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

mod common;

use std::sync::atomic::Ordering;

use common::vectors::{Json, hex, parse_json, scripted};
use sotto::keys::{
    IdentityKeyPair, KemPreKey, KemPreKeyKind, OneTimePreKey, PreKeyBundle, SignedPreKey,
};
use sotto::session::{Address, Handshake, SessionManager};
use sotto::store::{InMemoryStore, KemPreKeyStore, OneTimePreKeyStore, SignedPreKeyStore};

const VECTORS: &str = include_str!("vectors/pqxdh/pqxdh.json");

fn address(party: &Json) -> Address {
    Address::new(party.get("account").str(), party.get("device").u32()).unwrap()
}

/// One case: Bob's keys from the Python side's records, Alice's draws
/// scripted; then the bundle, the first message and the reply.
fn replay(case: &Json) {
    let name = case.get("name").str();
    let (a, b) = (case.get("alice"), case.get("bob"));
    let (alice_address, bob_address) = (address(a), address(b));

    let alice_identity = IdentityKeyPair::from_seed(&a.get("identity_seed").bytes32());
    let bob_identity = IdentityKeyPair::from_seed(&b.get("identity_seed").bytes32());
    assert_eq!(hex(&alice_identity.public().to_bytes()), a.get("identity_key").str(), "{name}");
    assert_eq!(hex(&bob_identity.public().to_bytes()), b.get("identity_key").str(), "{name}");

    // Bob's prekeys, loaded from the records the Python side encoded.
    let signed = SignedPreKey::from_record_bytes(&b.get("signed_prekey_record").bytes()).unwrap();
    let kem = KemPreKey::from_record_bytes(&b.get("kem_prekey_record").bytes()).unwrap();
    assert_eq!(u32::from(kem.id()), b.get("kem_prekey_id").u32(), "{name}: KEM prekey id");
    let last_resort = b.get("kem_prekey_last_resort").u32() == 1;
    let kind = if last_resort { KemPreKeyKind::LastResort } else { KemPreKeyKind::OneTime };
    assert_eq!(kem.kind(), kind, "{name}: KEM prekey kind");
    assert_eq!(
        hex(&kem.public().key().to_encoded()),
        b.get("kem_prekey_encoded").str(),
        "{name}: EncodeKEM of the key inside dk"
    );
    // The same key pair comes out of FIPS 203 key generation from (d, z),
    // and signs the same (Ed25519 is deterministic).
    let mut seeds = [b.get("kem_prekey_d").bytes32(), b.get("kem_prekey_z").bytes32()].into_iter();
    let regenerated = KemPreKey::generate(kem.id(), kind, &bob_identity, &mut SeedRng(&mut seeds));
    assert_eq!(regenerated.public(), kem.public(), "{name}: KeyGen_internal(d, z)");
    assert_eq!(hex(&kem.public().signature()), b.get("kem_prekey_signature").str(), "{name}");

    let one_time = b.has("one_time_prekey_record").then(|| {
        OneTimePreKey::from_record_bytes(&b.get("one_time_prekey_record").bytes()).unwrap()
    });
    let bundle = case.get("bundle").bytes();
    assert_eq!(
        hex(&PreKeyBundle::new(
            bob_identity.public(),
            signed.public(),
            kem.public(),
            one_time.as_ref().map(OneTimePreKey::public)
        )
        .to_bytes()),
        hex(&bundle),
        "{name}: bundle encoding"
    );

    let bob_store = InMemoryStore::new(bob_identity);
    bob_store.save_signed_prekey(&signed).unwrap();
    bob_store.save_kem_prekey(&kem).unwrap();
    if let Some(one_time) = &one_time {
        bob_store.save_one_time_prekey(one_time).unwrap();
    }
    let draws = case.get("draws");
    let mut alice_draws = draws.get("alice").array().to_vec();
    alice_draws.extend(draws.get("alice_on_reply").array().iter().cloned());
    let (alice_rng, alice_used) = scripted("alice", &Json::Array(alice_draws));
    let (bob_rng, bob_used) = scripted("bob", draws.get("bob"));
    let alice = SessionManager::with_rng(
        alice_address.clone(),
        InMemoryStore::new(alice_identity),
        alice_rng,
    );
    let bob = SessionManager::with_rng(bob_address.clone(), bob_store, bob_rng);

    // Alice: EK_A, her first ratchet key and the encapsulation's m.
    alice.process_bundle(&bob_address, &bundle).unwrap();
    assert_eq!(alice_used.load(Ordering::SeqCst), 3, "{name}: draws for the bundle");
    assert_eq!(alice.session_handshake(&bob_address).unwrap(), Some(Handshake::Pqxdh));

    let first = case.get("first_message");
    let envelope = alice.encrypt(&bob_address, &first.get("plaintext").bytes()).unwrap();
    assert_eq!(hex(&envelope), first.get("envelope").str(), "{name}: first message");

    let received = bob.decrypt(&alice_address, &envelope).unwrap();
    assert_eq!(received.plaintext(), first.get("plaintext").bytes(), "{name}");
    assert!(received.started_session());
    received.commit().unwrap();
    assert_eq!(bob_used.load(Ordering::SeqCst), 1, "{name}: Bob's ratchet draw");
    assert_eq!(bob.session_handshake(&alice_address).unwrap(), Some(Handshake::Pqxdh));
    // A one-time KEM prekey is gone with the commit; a last-resort one stays.
    let kept = bob.store().kem_prekey(kem.id()).unwrap().is_some();
    assert_eq!(kept, last_resort, "{name}: the KEM prekey after the commit");

    let reply = case.get("reply");
    let envelope = bob.encrypt(&alice_address, &reply.get("plaintext").bytes()).unwrap();
    assert_eq!(hex(&envelope), reply.get("envelope").str(), "{name}: reply");
    let read = alice.decrypt(&bob_address, &envelope).unwrap().commit().unwrap();
    assert_eq!(read, reply.get("plaintext").bytes(), "{name}");
}

/// Hands out fixed 32-byte seeds, for key generation from (d, z).
struct SeedRng<'a>(&'a mut dyn Iterator<Item = [u8; 32]>);

impl rand_core::TryRng for SeedRng<'_> {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        panic!("key generation asked for a u32")
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        panic!("key generation asked for a u64")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.copy_from_slice(&self.0.next().expect("a seed"));
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SeedRng<'_> {}

#[test]
fn python_pqxdh_vectors_replay_byte_for_byte() {
    let vectors = parse_json(VECTORS);
    let cases = vectors.get("cases").array();
    assert_eq!(cases.len(), 2);
    for case in cases {
        replay(case);
    }
}
