//! Post-quantum sessions (PQXDH, docs/PROTOCOL.md §2, §3, §6): sessions both
//! ways, the refusals a first message or a bundle can meet (each typed, none
//! storing anything), no silent downgrade to classical X3DH, the lifecycle of
//! one-time and last-resort KEM prekeys, and the one-time rule under threads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

mod common;

use std::sync::Barrier;

use common::{
    Manager, deliver, establish, manager, prekey_message, send, snapshot, with_prekey_message,
};
use sotto::keys::{KemPreKeyPublic, PreKeyBundle};
use sotto::ratchet::RatchetError;
use sotto::session::{Address, ClassicalSessions, Handshake, SessionError};
use sotto::store::{KemPreKeyStore, SessionStore};

/// Bob's bundle with a fresh one-time KEM prekey `kem_id` (and signed
/// prekey 1, no one-time prekey).
fn one_time_bundle(bob: &Manager, kem_id: u32) -> Vec<u8> {
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let kem = bob.generate_kem_prekeys(kem_id, 1).unwrap().remove(0);
    PreKeyBundle::new(bob.identity_key().unwrap(), signed, kem, None).to_bytes()
}

/// Decrypts `message` at `to` and expects a refusal that changes nothing.
fn refused(to: &Manager, from: &Address, message: &[u8]) -> SessionError {
    let before = snapshot(to, from);
    let error = match to.decrypt(from, message) {
        Ok(decrypted) => panic!("accepted: {:?}", String::from_utf8_lossy(decrypted.plaintext())),
        Err(error) => error,
    };
    assert_eq!(snapshot(to, from), before, "{error:?} changed the store");
    error
}

fn allow(manager: Manager) -> Manager {
    manager.with_classical_sessions(ClassicalSessions::Allow)
}

#[test]
fn a_session_is_post_quantum_both_ways() {
    let (alice, bob) = (manager("alice", 1), manager("bob", 2));
    establish(&alice, &bob);
    assert_eq!(alice.session_handshake(bob.address()).unwrap(), Some(Handshake::Pqxdh));
    assert_eq!(bob.session_handshake(alice.address()).unwrap(), Some(Handshake::Pqxdh));
    assert!(Handshake::Pqxdh.is_post_quantum());
    for n in 0..5 {
        send(&alice, &bob, format!("to Bob {n}").as_bytes());
        send(&bob, &alice, format!("to Alice {n}").as_bytes());
    }
    // The first message carried the KEM prekey's id and its ciphertext.
    let (carol, dave) = (manager("carol", 3), manager("dave", 4));
    carol.process_bundle(dave.address(), &one_time_bundle(&dave, 40)).unwrap();
    let first = prekey_message(&carol.encrypt(dave.address(), b"hi").unwrap());
    assert_eq!(first.kem_prekey_id, Some(40));
    assert_eq!(first.kem_ciphertext.len(), sotto::keys::KEM_CIPHERTEXT_LEN);
}

#[test]
fn a_tampered_kem_ciphertext_is_refused_and_changes_nothing() {
    let (alice, bob) = (manager("alice", 5), manager("bob", 6));
    alice.process_bundle(bob.address(), &one_time_bundle(&bob, 7)).unwrap();
    let first = alice.encrypt(bob.address(), b"first").unwrap();
    for position in [0, 1, 700, 1567] {
        let tampered = with_prekey_message(&first, |prekey| prekey.kem_ciphertext[position] ^= 1);
        let error = refused(&bob, alice.address(), &tampered);
        assert!(
            matches!(error, SessionError::Ratchet(RatchetError::AuthenticationFailed)),
            "byte {position}: {error:?}"
        );
    }
    // The KEM prekey is still there, and the untampered message decrypts.
    assert!(bob.store().kem_prekey(7.into()).unwrap().is_some());
    deliver(&bob, alice.address(), &first, b"first");
}

#[test]
fn malformed_kem_fields_in_a_first_message_are_refused() {
    let (alice, bob) = (manager("alice", 7), manager("bob", 8));
    alice.process_bundle(bob.address(), &one_time_bundle(&bob, 9)).unwrap();
    let first = alice.encrypt(bob.address(), b"first").unwrap();
    let malformed = |change: &dyn Fn(&mut common::WirePreKeyMessage)| {
        let bytes = with_prekey_message(&first, |prekey| change(prekey));
        refused(&bob, alice.address(), &bytes)
    };
    let is_malformed =
        |error: &SessionError| matches!(error, SessionError::MalformedMessage { .. });
    assert!(is_malformed(&malformed(&|prekey| {
        prekey.kem_ciphertext.pop();
    })));
    assert!(is_malformed(&malformed(&|prekey| prekey.kem_ciphertext.push(0))));
    assert!(is_malformed(&malformed(&|prekey| prekey.kem_prekey_id = None)));
    // An id without a ciphertext.
    assert!(is_malformed(&malformed(&|prekey| prekey.kem_ciphertext.clear())));
    // Another KEM prekey id: one Bob does not have.
    let error = malformed(&|prekey| prekey.kem_prekey_id = Some(10));
    assert!(matches!(error, SessionError::UnknownKemPreKey { id } if u32::from(id) == 10));
    deliver(&bob, alice.address(), &first, b"first");
}

#[test]
fn a_one_time_kem_prekey_starts_one_session_only() {
    let bob = manager("bob", 9);
    let bundle = one_time_bundle(&bob, 11);
    assert_eq!(bob.store().kem_prekey_count(), 1);
    let (alice, carol) = (manager("alice", 10), manager("carol", 11));
    alice.process_bundle(bob.address(), &bundle).unwrap();
    carol.process_bundle(bob.address(), &bundle).unwrap();
    let from_alice = alice.encrypt(bob.address(), b"alice").unwrap();
    let from_carol = carol.encrypt(bob.address(), b"carol").unwrap();
    deliver(&bob, alice.address(), &from_alice, b"alice");
    assert_eq!(bob.store().kem_prekey_count(), 0, "consumed by the commit");
    let error = refused(&bob, carol.address(), &from_carol);
    assert!(matches!(error, SessionError::UnknownKemPreKey { .. }), "{error:?}");

    // Two decryptions before either commits: only the first commit holds.
    let (alice, carol) = (manager("alice", 100), manager("carol", 101));
    let bob = manager("bob", 12);
    let bundle = one_time_bundle(&bob, 13);
    alice.process_bundle(bob.address(), &bundle).unwrap();
    carol.process_bundle(bob.address(), &bundle).unwrap();
    let from_alice = alice.encrypt(bob.address(), b"alice").unwrap();
    let from_carol = carol.encrypt(bob.address(), b"carol").unwrap();
    let first = bob.decrypt(alice.address(), &from_alice).unwrap();
    let second = bob.decrypt(carol.address(), &from_carol).unwrap();
    first.commit().unwrap();
    assert!(matches!(second.commit(), Err(SessionError::StaleDecryption)));
    assert!(bob.store().load_session(carol.address()).unwrap().is_none());

    // In one batch, the second first message is refused at once.
    let (alice, carol) = (manager("alice", 102), manager("carol", 103));
    let bob = manager("bob", 14);
    let bundle = one_time_bundle(&bob, 15);
    alice.process_bundle(bob.address(), &bundle).unwrap();
    carol.process_bundle(bob.address(), &bundle).unwrap();
    let mut batch = bob.batch();
    batch.decrypt(alice.address(), &alice.encrypt(bob.address(), b"alice").unwrap()).unwrap();
    let error = batch.decrypt(carol.address(), &carol.encrypt(bob.address(), b"carol").unwrap());
    assert!(matches!(error, Err(SessionError::UnknownKemPreKey { .. })), "{error:?}");
    batch.commit().unwrap();
    assert_eq!(bob.store().kem_prekey_count(), 0);
}

#[test]
fn the_last_resort_kem_prekey_serves_many_sessions_and_each_once() {
    let bob = manager("bob", 16);
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let last_resort = bob.generate_last_resort_kem_prekey(2.into()).unwrap();
    let bundle = PreKeyBundle::new(bob.identity_key().unwrap(), signed, last_resort, None);
    let bundle = bundle.to_bytes();
    let peers: Vec<Manager> = (0..4).map(|n| manager(&format!("peer{n}"), 20 + n)).collect();
    let firsts: Vec<Vec<u8>> = peers
        .iter()
        .map(|peer| {
            peer.process_bundle(bob.address(), &bundle).unwrap();
            let first = peer.encrypt(bob.address(), b"hello").unwrap();
            deliver(&bob, peer.address(), &first, b"hello");
            first
        })
        .collect();
    assert!(bob.store().kem_prekey(2.into()).unwrap().is_some(), "a last-resort key stays");
    // Each use is recorded with its base key: a replay of any of the first
    // messages is a duplicate (tests/trust.rs shows it still is once the
    // session and its base key are long forgotten).
    for (peer, first) in peers.iter().zip(&firsts) {
        let base_key = sotto::keys::DhPublicKey::from_bytes(&prekey_message(first).base_key);
        assert!(bob.store().last_resort_use_recorded(2.into(), &base_key.unwrap()).unwrap());
        assert!(common::is_duplicate(&refused(&bob, peer.address(), first)));
    }
}

#[test]
fn a_bundle_without_a_kem_prekey_is_refused_unless_classical_sessions_are_allowed() {
    let (alice, bob) = (manager("alice", 30), manager("bob", 31));
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let classical = PreKeyBundle::classical(bob.identity_key().unwrap(), signed, None).to_bytes();
    let before = snapshot(&alice, bob.address());
    let error = alice.process_bundle(bob.address(), &classical).unwrap_err();
    assert!(
        matches!(&error, SessionError::ClassicalSessionRefused { address } if address == bob.address()),
        "{error:?}"
    );
    assert_eq!(snapshot(&alice, bob.address()), before);

    // With the opt-in on Alice's side only, Bob still refuses the first
    // message (his policy is his own), and stores nothing.
    let alice = allow(alice);
    alice.process_bundle(bob.address(), &classical).unwrap();
    assert_eq!(alice.session_handshake(bob.address()).unwrap(), Some(Handshake::X3dh));
    let first = alice.encrypt(bob.address(), b"classical").unwrap();
    assert!(prekey_message(&first).kem_prekey_id.is_none());
    let error = refused(&bob, alice.address(), &first);
    assert!(matches!(error, SessionError::ClassicalSessionRefused { .. }), "{error:?}");

    // With it on both sides, a classical session works, and says so.
    let bob = allow(bob);
    deliver(&bob, alice.address(), &first, b"classical");
    assert_eq!(bob.session_handshake(alice.address()).unwrap(), Some(Handshake::X3dh));
    assert!(!Handshake::X3dh.is_post_quantum());
    send(&bob, &alice, b"reply");
}

#[test]
fn a_classical_session_stored_earlier_keeps_working_under_the_default() {
    let (alice, bob) = (allow(manager("alice", 32)), allow(manager("bob", 33)));
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let classical = PreKeyBundle::classical(bob.identity_key().unwrap(), signed, None).to_bytes();
    alice.process_bundle(bob.address(), &classical).unwrap();
    send(&alice, &bob, b"before");
    send(&bob, &alice, b"before");
    // The same stores under managers that refuse classical sessions (the
    // default): the stored session goes on, and is reported as classical.
    let refuse = |manager: Manager| manager.with_classical_sessions(ClassicalSessions::Refuse);
    let (alice, bob) = (refuse(alice), refuse(bob));
    assert_eq!(alice.classical_sessions(), ClassicalSessions::Refuse);
    for n in 0..3 {
        send(&alice, &bob, format!("after {n}").as_bytes());
        send(&bob, &alice, format!("after {n}").as_bytes());
    }
    assert_eq!(alice.session_handshake(bob.address()).unwrap(), Some(Handshake::X3dh));
}

#[test]
fn kem_prekeys_are_generated_signed_and_stored() {
    let bob = manager("bob", 34);
    let one_time = bob.generate_kem_prekeys(u32::MAX - 1, 3).unwrap();
    let ids: Vec<u32> = one_time.iter().map(|prekey| prekey.id().into()).collect();
    assert_eq!(ids, [u32::MAX - 1, u32::MAX, 0], "ids wrap");
    let last_resort = bob.generate_last_resort_kem_prekey(7.into()).unwrap();
    assert_eq!(bob.store().kem_prekey_count(), 4);
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let identity = bob.identity_key().unwrap();
    for prekey in one_time.iter().chain([&last_resort]) {
        let stored = bob.store().kem_prekey(prekey.id()).unwrap().unwrap();
        assert_eq!(&stored.public(), prekey);
        // Each verifies in a bundle: signed by Bob's identity.
        let bundle = PreKeyBundle::new(identity, signed.clone(), prekey.clone(), None);
        let parsed = PreKeyBundle::from_bytes(&bundle.to_bytes()).unwrap().verify().unwrap();
        assert_eq!(parsed.kem_prekey(), Some(prekey));
    }
    // Another device's KEM prekey does not verify under Bob's identity.
    let mallory = manager("mallory", 35);
    let foreign: KemPreKeyPublic = mallory.generate_last_resort_kem_prekey(7.into()).unwrap();
    let forged = PreKeyBundle::new(identity, signed, foreign, None);
    assert!(forged.verify().is_err());
}

/// Eight threads decrypt and commit eight first messages that all name the
/// same one-time KEM prekey: exactly one session is started; and eight
/// threads deliver one first message that used the last-resort KEM prekey:
/// exactly one commit starts the session.
#[test]
fn under_threads_a_one_time_kem_prekey_and_a_last_resort_use_commit_once() {
    const THREADS: usize = 8;
    let bob = manager("bob", 40);
    let bundle = one_time_bundle(&bob, 41);
    let firsts: Vec<(Address, Vec<u8>)> = (0..THREADS)
        .map(|n| {
            let peer = manager(&format!("peer{n}"), 50 + n as u64);
            peer.process_bundle(bob.address(), &bundle).unwrap();
            (peer.address().clone(), peer.encrypt(bob.address(), b"hello").unwrap())
        })
        .collect();
    let barrier = Barrier::new(THREADS);
    let committed: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = firsts
            .iter()
            .map(|(from, first)| {
                let (bob, barrier) = (&bob, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let Ok(decrypted) = bob.decrypt(from, first) else { return 0 };
                    match decrypted.commit() {
                        Ok(_) => 1,
                        Err(SessionError::StaleDecryption) => 0,
                        Err(error) => panic!("{error:?}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).sum()
    });
    assert_eq!(committed, 1);
    let started =
        firsts.iter().filter(|(from, _)| bob.store().load_session(from).unwrap().is_some()).count();
    assert_eq!(started, 1);

    let bob = manager("bob", 60);
    let alice = manager("alice", 61);
    alice.process_bundle(bob.address(), &common::bundle(&bob, 1, None)).unwrap();
    let first = alice.encrypt(bob.address(), b"once").unwrap();
    let barrier = Barrier::new(THREADS);
    let committed: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (bob, barrier, first, from) = (&bob, &barrier, &first, alice.address());
                scope.spawn(move || {
                    barrier.wait();
                    let Ok(decrypted) = bob.decrypt(from, first) else { return 0 };
                    usize::from(decrypted.commit().is_ok())
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).sum()
    });
    assert_eq!(committed, 1);
    assert!(common::is_duplicate(&refused(&bob, alice.address(), &first)));
}
