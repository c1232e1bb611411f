//! The Sotto side of the direct-message benches: two parties, a session
//! setup, and an established pair of session records. Shared by
//! `benches/session.rs` and the peer bench (`benches/peers`), so that both
//! measure the same operations.

use std::hint::black_box;

use sotto::keys::{IdentityKeyPair, PreKeyBundle};
use sotto::rng::{OsRng, os_rng};
use sotto::session::{Address, SessionManager, SessionRecord};
use sotto::store::{InMemoryStore, SessionStore};

use super::floor::MESSAGE;

/// Two fresh parties and Bob's encoded bundle.
pub(crate) type SetupInput =
    (SessionManager<InMemoryStore>, SessionManager<InMemoryStore>, Vec<u8>);

pub(crate) fn alice() -> Address {
    Address::new("alice", 1).unwrap()
}

pub(crate) fn bob() -> Address {
    Address::new("bob", 1).unwrap()
}

pub(crate) fn manager(address: Address) -> SessionManager<InMemoryStore> {
    let identity = IdentityKeyPair::generate(&mut os_rng());
    SessionManager::new(address, InMemoryStore::new(identity))
}

/// Bob's manager and an encoded bundle of his, ready for Alice.
pub(crate) fn bob_with_bundle() -> (SessionManager<InMemoryStore>, Vec<u8>) {
    let bob = manager(bob());
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let one_time = bob.generate_one_time_prekeys(1, 1).unwrap();
    let bundle = PreKeyBundle::new(bob.identity_key().unwrap(), signed, one_time.first().copied());
    (bob, bundle.to_bytes())
}

/// Session setup: bundle → first message → decrypted and committed.
pub(crate) fn setup((alice_manager, bob_manager, bundle): SetupInput) {
    alice_manager.process_bundle(&bob(), &bundle).unwrap();
    let first = alice_manager.encrypt(&bob(), &MESSAGE).unwrap();
    let plaintext = bob_manager.decrypt(&alice(), &first).unwrap().commit().unwrap();
    assert_eq!(plaintext.len(), MESSAGE.len());
}

pub(crate) fn setup_input() -> SetupInput {
    let (bob_manager, bundle) = bob_with_bundle();
    (manager(alice()), bob_manager, bundle)
}

/// Alice's and Bob's managers after a first exchange both ways.
pub(crate) fn established_managers()
-> (SessionManager<InMemoryStore>, SessionManager<InMemoryStore>) {
    let (alice_manager, bob_manager, bundle) = setup_input();
    alice_manager.process_bundle(&bob(), &bundle).unwrap();
    let first = alice_manager.encrypt(&bob(), b"hi").unwrap();
    bob_manager.decrypt(&alice(), &first).unwrap().commit().unwrap();
    let reply = bob_manager.encrypt(&alice(), b"hi").unwrap();
    alice_manager.decrypt(&bob(), &reply).unwrap().commit().unwrap();
    (alice_manager, bob_manager)
}

/// Alice's and Bob's session records after a first exchange both ways.
pub(crate) fn established() -> (SessionRecord, SessionRecord) {
    let (alice_manager, bob_manager) = established_managers();
    (
        alice_manager.store().load_session(&bob()).unwrap().unwrap(),
        bob_manager.store().load_session(&alice()).unwrap().unwrap(),
    )
}

/// Alice's and Bob's session records after a message each way.
pub(crate) struct Steady {
    alice: SessionRecord,
    bob: SessionRecord,
    rng: OsRng,
}

impl Steady {
    pub(crate) fn new() -> Self {
        let (alice, bob) = established();
        Self { alice, bob, rng: os_rng() }
    }

    /// One 100-byte message, Alice to Bob, in the same chain as the last.
    pub(crate) fn message(&mut self) {
        let envelope = self.alice.encrypt(&MESSAGE).unwrap();
        black_box(self.bob.decrypt(&envelope, &mut self.rng).unwrap());
    }

    /// A message each way; each one's decryption turns the DH ratchet.
    pub(crate) fn turn_both_ways(&mut self) {
        let envelope = self.alice.encrypt(&MESSAGE).unwrap();
        black_box(self.bob.decrypt(&envelope, &mut self.rng).unwrap());
        let envelope = self.bob.encrypt(&MESSAGE).unwrap();
        black_box(self.alice.decrypt(&envelope, &mut self.rng).unwrap());
    }
}
