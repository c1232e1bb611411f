//! What the unit tests of the exported objects share: two devices with a
//! session.

use std::sync::Arc;

use crate::{Address, IdentityKeyPair, InMemoryStore, PreKeyBundle, SessionManager};

pub(crate) fn address(account: &str) -> Address {
    Address { account: account.into(), device: 1 }
}

pub(crate) fn in_memory(account: &str) -> Arc<SessionManager> {
    let store = InMemoryStore::new(IdentityKeyPair::generate());
    SessionManager::with_in_memory_store(address(account), store).unwrap()
}

/// Alice starts a session from Bob's bundle, and Bob answers.
pub(crate) fn connect(alice: &SessionManager, bob: &SessionManager) {
    let signed = bob.generate_signed_prekey(1).unwrap();
    let one_time = bob.generate_one_time_prekeys(100, 1).unwrap().pop();
    let bundle = PreKeyBundle::new(bob.identity_key().unwrap(), signed, one_time).unwrap();
    alice.process_bundle(bob.address(), bundle.to_bytes()).unwrap();
    let first = alice.encrypt(bob.address(), b"hello Bob".to_vec()).unwrap();
    assert_eq!(bob.decrypt_and_commit(alice.address(), first).unwrap(), b"hello Bob");
    let reply = bob.encrypt(alice.address(), b"hello Alice".to_vec()).unwrap();
    assert_eq!(alice.decrypt_and_commit(bob.address(), reply).unwrap(), b"hello Alice");
}

/// Sends `plaintext` from `from` to `to` through their session.
pub(crate) fn send(from: &SessionManager, to: &SessionManager, plaintext: Vec<u8>) -> Vec<u8> {
    let message = from.encrypt(to.address(), plaintext).unwrap();
    to.decrypt_and_commit(from.address(), message).unwrap()
}
