//! The Sotto side of the direct-message benches: two parties, a session
//! setup, and an established pair of session records. Shared by
//! `benches/session.rs` and the peer bench (`benches/peers`), so that both
//! measure the same operations.

use std::hint::black_box;

use sotto::keys::{IdentityKeyPair, PreKeyBundle};
use sotto::rng::{OsRng, os_rng};
use sotto::session::{Address, ClassicalSessions, SessionManager, SessionRecord};
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

/// Bob's manager and an encoded bundle of his, ready for Alice: a one-time
/// prekey and a one-time KEM prekey (PQXDH).
pub(crate) fn bob_with_bundle() -> (SessionManager<InMemoryStore>, Vec<u8>) {
    let bob = manager(bob());
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let one_time = bob.generate_one_time_prekeys(1, 1).unwrap();
    let kem = bob.generate_kem_prekeys(1, 1).unwrap().remove(0);
    let bundle =
        PreKeyBundle::new(bob.identity_key().unwrap(), signed, kem, one_time.first().copied());
    (bob, bundle.to_bytes())
}

/// The same without the KEM prekey (classical X3DH), Bob allowing it.
#[allow(dead_code, reason = "each bench uses some of these")]
pub(crate) fn bob_with_classical_bundle() -> (SessionManager<InMemoryStore>, Vec<u8>) {
    let bob = manager(bob()).with_classical_sessions(ClassicalSessions::Allow);
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let one_time = bob.generate_one_time_prekeys(1, 1).unwrap();
    let bundle =
        PreKeyBundle::classical(bob.identity_key().unwrap(), signed, one_time.first().copied());
    (bob, bundle.to_bytes())
}

/// Session setup: bundle → first message → decrypted and committed.
pub(crate) fn setup((alice_manager, bob_manager, bundle): SetupInput) {
    alice_manager.process_bundle(&bob(), &bundle).unwrap();
    let first = alice_manager.encrypt(&bob(), &MESSAGE).unwrap();
    let plaintext = bob_manager.decrypt(&alice(), &first).unwrap().commit().unwrap();
    assert_eq!(plaintext.len(), MESSAGE.len());
}

#[allow(dead_code, reason = "each bench uses some of these")]
pub(crate) fn setup_input() -> SetupInput {
    let (bob_manager, bundle) = bob_with_bundle();
    (manager(alice()), bob_manager, bundle)
}

/// Two fresh parties for a classical (X3DH) setup, both allowing it.
#[allow(dead_code, reason = "each bench uses some of these")]
pub(crate) fn classical_setup_input() -> SetupInput {
    let (bob_manager, bundle) = bob_with_classical_bundle();
    (manager(alice()).with_classical_sessions(ClassicalSessions::Allow), bob_manager, bundle)
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

/// (Used by `benches/session.rs`; the peer bench shares this module.)
///
/// Bob's record of a conversation with Alice that started
/// `MAX_PREVIOUS_SESSIONS + 1` times (every session the record keeps), and
/// forged messages to it: the most work a receiver can be made to do.
#[allow(dead_code, reason = "used by benches/session.rs, not by the peer bench")]
pub(crate) struct Forged {
    record: SessionRecord,
    rng: OsRng,
    /// A forged message with a new ratchet key and N = MAX_SKIP: a DH
    /// ratchet step and MAX_SKIP chain steps before its tag fails.
    pub(crate) far: Vec<u8>,
    /// The same with N = 0: as many DH ratchet steps as the budget holds.
    pub(crate) near: Vec<u8>,
}

#[allow(dead_code, reason = "used by benches/session.rs, not by the peer bench")]
impl Forged {
    pub(crate) fn new() -> Self {
        let bob_manager = manager(bob());
        let signed = bob_manager.generate_signed_prekey(1.into()).unwrap();
        let kem = bob_manager.generate_last_resort_kem_prekey(1.into()).unwrap();
        let bundle =
            PreKeyBundle::new(bob_manager.identity_key().unwrap(), signed, kem, None).to_bytes();
        let alice_manager = manager(alice());
        for _ in 0..=sotto::protocol::MAX_PREVIOUS_SESSIONS {
            alice_manager.process_bundle(&bob(), &bundle).unwrap();
            let first = alice_manager.encrypt(&bob(), &MESSAGE).unwrap();
            bob_manager.decrypt(&alice(), &first).unwrap().commit().unwrap();
        }
        let record = bob_manager.store().load_session(&alice()).unwrap().unwrap();
        Self {
            record,
            rng: os_rng(),
            far: forged_message(sotto::protocol::MAX_SKIP),
            near: forged_message(0),
        }
    }

    /// Bob tries `message` (refused: his record is unchanged).
    pub(crate) fn try_message(&mut self, message: &[u8]) {
        assert!(self.record.decrypt(message, &mut self.rng).is_err());
    }
}

#[allow(dead_code, reason = "used by benches/session.rs, not by the peer bench")]
/// An envelope whose header names a ratchet key nobody has, with counter
/// `counter` and PN 999, and a 116-byte ciphertext of noise.
fn forged_message(counter: u32) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }
    fn field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
        out.push(tag);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    let mut key = [0x5a; 32];
    key[31] = 0x1a;
    let mut header = Vec::new();
    field(&mut header, 0x0a, &key);
    header.push(0x10);
    varint(&mut header, 999);
    header.push(0x18);
    varint(&mut header, u64::from(counter));
    let mut message = Vec::new();
    field(&mut message, 0x0a, &header);
    field(&mut message, 0x12, &[0x17; 116]);
    let mut envelope = vec![0x08, 0x01];
    field(&mut envelope, 0x1a, &message);
    envelope
}
