//! End-to-end sessions through `SessionManager` and `InMemoryStore`: X3DH
//! from bundles, conversations both ways, out-of-order first messages,
//! commit semantics, identity changes, safety numbers, simultaneous
//! initiation and stored records.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

mod common;

use common::{
    Kind, Manager, address, bundle, deliver, establish, header, identity, kind, manager,
    manager_with_identity, prekey_message, send, snapshot,
};
use sotto::keys::OneTimePreKeyId;
use sotto::ratchet::RatchetError;
use sotto::session::{SessionError, SessionManager, SessionRecord};
use sotto::store::{
    IdentityStore, InMemoryStore, OneTimePreKeyStore, PeerIdentity, PeerIdentityWrite,
    ProtocolStore, SessionStore, SignedPreKeyStore, StoreCommit, StoreError,
};

/// Alice starts from Bob's bundle; the one-time prekey (if any) goes only
/// when Bob commits the first message; then several rounds both ways.
fn conversation(with_one_time_prekey: bool) {
    let alice = manager("alice", 1);
    let bob = manager("bob", 2);
    // Bob has five one-time prekeys (10..=14); the bundle carries 12.
    bob.generate_one_time_prekeys(10, 2).unwrap();
    let bundle = bundle(&bob, 1, with_one_time_prekey.then_some(12));
    bob.generate_one_time_prekeys(13, 2).unwrap();
    let prekeys = if with_one_time_prekey { 5 } else { 4 };
    assert_eq!(bob.store().one_time_prekey_count(), prekeys);

    assert!(!alice.has_session(bob.address()).unwrap());
    alice.process_bundle(bob.address(), &bundle).unwrap();
    assert!(alice.has_session(bob.address()).unwrap());
    assert_eq!(
        alice.store().peer_identity(bob.address()).unwrap(),
        Some(PeerIdentity { key: bob.identity_key().unwrap(), verified: false })
    );

    let first = alice.encrypt(bob.address(), b"first").unwrap();
    let prekey = prekey_message(&first);
    assert_eq!(prekey.signed_prekey_id, 1);
    assert_eq!(prekey.one_time_prekey_id, with_one_time_prekey.then_some(12));
    assert_eq!(prekey.identity_key, alice.identity_key().unwrap().to_bytes());

    // Before the decryption, after it but before the commit, after the commit.
    let before = snapshot(&bob, alice.address());
    assert_eq!(before.one_time_prekeys, prekeys);
    let decrypted = bob.decrypt(alice.address(), &first).unwrap();
    assert!(decrypted.started_session());
    assert_eq!(decrypted.plaintext(), b"first");
    assert_eq!(bob.store().one_time_prekey_count(), prekeys);
    assert_eq!(snapshot(&bob, alice.address()), before);
    assert!(!bob.has_session(alice.address()).unwrap());
    assert_eq!(decrypted.commit().unwrap(), b"first");
    let after = if with_one_time_prekey { prekeys - 1 } else { prekeys };
    assert_eq!(bob.store().one_time_prekey_count(), after);
    if with_one_time_prekey {
        assert!(bob.store().one_time_prekey(OneTimePreKeyId::from(12)).unwrap().is_none());
    }
    for id in [10, 11, 13, 14] {
        assert!(
            bob.store().one_time_prekey(OneTimePreKeyId::from(id)).unwrap().is_some(),
            "one-time prekey {id} must stay"
        );
    }
    assert!(bob.has_session(alice.address()).unwrap());
    assert_eq!(
        bob.store().peer_identity(alice.address()).unwrap(),
        Some(PeerIdentity { key: alice.identity_key().unwrap(), verified: false })
    );

    for round in 0..4u8 {
        for n in 0..=round {
            let text = [b'b', round, n];
            let message = bob.encrypt(alice.address(), &text).unwrap();
            assert_eq!(kind(&message), Kind::Ratchet);
            let decrypted = alice.decrypt(bob.address(), &message).unwrap();
            assert!(!decrypted.started_session());
            assert_eq!(decrypted.commit().unwrap(), text);
        }
        for n in 0..2u8 {
            let text = [b'a', round, n];
            let message = alice.encrypt(bob.address(), &text).unwrap();
            assert_eq!(kind(&message), Kind::Ratchet);
            let decrypted = bob.decrypt(alice.address(), &message).unwrap();
            assert!(!decrypted.started_session());
            assert_eq!(decrypted.commit().unwrap(), text);
        }
    }
    assert_eq!(bob.store().one_time_prekey_count(), after);
}

#[test]
fn a_conversation_from_a_bundle_with_a_one_time_prekey() {
    conversation(true);
}

#[test]
fn a_conversation_from_a_bundle_without_a_one_time_prekey() {
    conversation(false);
}

#[test]
fn first_messages_carry_x3dh_until_the_reply_and_arrive_in_any_order() {
    let alice = manager("alice", 3);
    let bob = manager("bob", 4);
    alice.process_bundle(bob.address(), &bundle(&bob, 7, Some(70))).unwrap();
    assert_eq!(bob.store().one_time_prekey_count(), 1);

    let texts: [&[u8]; 4] = [b"one", b"two", b"three", b"four"];
    let messages: Vec<Vec<u8>> =
        texts.iter().map(|text| alice.encrypt(bob.address(), text).unwrap()).collect();
    let first = prekey_message(&messages[0]);
    for (n, message) in messages.iter().enumerate() {
        assert_eq!(kind(message), Kind::PreKey, "message {n}");
        let prekey = prekey_message(message);
        assert_eq!(prekey.identity_key, first.identity_key);
        assert_eq!(prekey.base_key, first.base_key);
        assert_eq!(prekey.signed_prekey_id, 7);
        assert_eq!(prekey.one_time_prekey_id, Some(70));
        assert_eq!(header(message).counter, u32::try_from(n).unwrap());
    }

    // The third arrives first and starts the session.
    let decrypted = bob.decrypt(alice.address(), &messages[2]).unwrap();
    assert!(decrypted.started_session());
    assert_eq!(decrypted.commit().unwrap(), texts[2]);
    assert_eq!(bob.store().one_time_prekey_count(), 0);
    for n in [0, 3, 1] {
        let decrypted = bob.decrypt(alice.address(), &messages[n]).unwrap();
        assert!(!decrypted.started_session(), "message {n}");
        assert_eq!(decrypted.commit().unwrap(), texts[n]);
    }

    // Until Bob's reply reaches her, Alice keeps sending X3DH fields.
    let reply = bob.encrypt(alice.address(), b"reply").unwrap();
    assert_eq!(kind(&reply), Kind::Ratchet);
    let fifth = alice.encrypt(bob.address(), b"five").unwrap();
    assert_eq!(kind(&fifth), Kind::PreKey);
    assert_eq!(prekey_message(&fifth).base_key, first.base_key);
    deliver(&alice, bob.address(), &reply, b"reply");
    let sixth = alice.encrypt(bob.address(), b"six").unwrap();
    assert_eq!(kind(&sixth), Kind::Ratchet);
    // Bob reads the late first message and the plain one, in either order.
    deliver(&bob, alice.address(), &sixth, b"six");
    deliver(&bob, alice.address(), &fifth, b"five");
    assert_eq!(kind(&alice.encrypt(bob.address(), b"x").unwrap()), Kind::Ratchet);
}

#[test]
fn an_uncommitted_decryption_changes_nothing_and_a_committed_one_is_a_duplicate() {
    let alice = manager("alice", 5);
    let bob = manager("bob", 6);
    alice.process_bundle(bob.address(), &bundle(&bob, 1, Some(1))).unwrap();

    // A first message, then a reply (a new chain at Alice), then a second
    // message in that chain.
    let first = alice.encrypt(bob.address(), b"first").unwrap();
    let steps: [(&Manager, &Manager, &[u8]); 3] =
        [(&alice, &bob, b"first"), (&bob, &alice, b"reply"), (&bob, &alice, b"reply 2")];
    for (n, (sender, receiver, text)) in steps.into_iter().enumerate() {
        let message =
            if n == 0 { first.clone() } else { sender.encrypt(receiver.address(), text).unwrap() };
        let counter = header(&message).counter;
        let before = snapshot(receiver, sender.address());

        let dropped = receiver.decrypt(sender.address(), &message).unwrap();
        assert_eq!(dropped.plaintext(), text);
        drop(dropped);
        assert_eq!(snapshot(receiver, sender.address()), before, "step {n}");

        let again = receiver.decrypt(sender.address(), &message).unwrap();
        assert_eq!(again.plaintext(), text);
        assert_eq!(again.commit().unwrap(), text);
        let committed = snapshot(receiver, sender.address());
        assert_ne!(committed, before, "step {n}");

        let error = receiver.decrypt(sender.address(), &message).unwrap_err();
        assert!(
            matches!(
                error,
                SessionError::Ratchet(RatchetError::DuplicateMessage { counter: c }) if c == counter
            ),
            "step {n}: {error:?}"
        );
        assert_eq!(snapshot(receiver, sender.address()), committed, "step {n}");
    }
}

#[test]
fn a_new_identity_in_a_bundle_is_refused_until_trusted() {
    let alice = manager("alice", 7);
    let bob = manager("bob", 8);
    establish(&alice, &bob);

    // Bob reinstalls: same address, new identity, new bundle.
    let new_bob = manager("bob", 9);
    let new_key = new_bob.identity_key().unwrap();
    assert_ne!(new_key, bob.identity_key().unwrap());
    let new_bundle = bundle(&new_bob, 1, Some(1));

    let before = snapshot(&alice, bob.address());
    let error = alice.process_bundle(bob.address(), &new_bundle).unwrap_err();
    match error {
        SessionError::UntrustedIdentity { address, identity_key } => {
            assert_eq!(&address, bob.address());
            assert_eq!(identity_key, new_key);
        }
        other => panic!("expected UntrustedIdentity, got {other:?}"),
    }
    assert_eq!(snapshot(&alice, bob.address()), before);
    // The old session is untouched and still works.
    send(&alice, &bob, b"still the old Bob");

    // Whoever still holds the old identity and session keeps writing.
    let from_old_bob = bob.encrypt(alice.address(), b"it is still me").unwrap();

    alice.trust_identity(bob.address(), new_key, false).unwrap();
    // The old session belonged to the old key: it is gone, so nothing is
    // encrypted to the old key, and the old key's messages are refused.
    let error = alice.encrypt(bob.address(), b"to whom?").unwrap_err();
    assert!(matches!(error, SessionError::NoSession), "{error:?}");
    let before = snapshot(&alice, bob.address());
    let error = alice.decrypt(bob.address(), &from_old_bob).unwrap_err();
    assert!(matches!(error, SessionError::NoSession), "{error:?}");
    assert_eq!(snapshot(&alice, bob.address()), before);
    alice.process_bundle(bob.address(), &new_bundle).unwrap();
    assert_eq!(
        alice.store().peer_identity(bob.address()).unwrap(),
        Some(PeerIdentity { key: new_key, verified: false })
    );
    send(&alice, &new_bob, b"hello new Bob");
    send(&new_bob, &alice, b"hello again");
    send(&alice, &new_bob, b"good");
}

#[test]
fn a_first_message_with_a_new_identity_is_refused_until_trusted() {
    let alice = manager("alice", 10);
    let bob = manager("bob", 11);
    establish(&alice, &bob);

    // Alice reinstalls and starts over from a fresh bundle of Bob's.
    let new_alice = manager("alice", 12);
    let new_key = new_alice.identity_key().unwrap();
    new_alice.process_bundle(bob.address(), &bundle(&bob, 2, Some(200))).unwrap();
    let first = new_alice.encrypt(bob.address(), b"it's me").unwrap();
    assert_eq!(kind(&first), Kind::PreKey);

    let before = snapshot(&bob, alice.address());
    assert_eq!(before.one_time_prekeys, 1);
    let error = bob.decrypt(alice.address(), &first).unwrap_err();
    match error {
        SessionError::UntrustedIdentity { address, identity_key } => {
            assert_eq!(&address, alice.address());
            assert_eq!(identity_key, new_key);
        }
        other => panic!("expected UntrustedIdentity, got {other:?}"),
    }
    assert_eq!(snapshot(&bob, alice.address()), before);
    // The old session still works both ways.
    send(&alice, &bob, b"old Alice");
    send(&bob, &alice, b"old Bob");

    bob.trust_identity(alice.address(), new_key, true).unwrap();
    let decrypted = bob.decrypt(alice.address(), &first).unwrap();
    assert!(decrypted.started_session());
    assert_eq!(decrypted.commit().unwrap(), b"it's me");
    assert_eq!(bob.store().one_time_prekey_count(), 0);
    assert_eq!(
        bob.store().peer_identity(alice.address()).unwrap(),
        Some(PeerIdentity { key: new_key, verified: true })
    );
    send(&bob, &new_alice, b"welcome back");
}

#[test]
fn safety_numbers_agree_across_devices_and_change_with_the_keys() {
    let alice = manager("alice", 13);
    let bob = manager("bob", 14);
    assert_eq!(alice.safety_number(bob.address()).unwrap(), None);
    establish(&alice, &bob);

    let on_alice = alice.safety_number(bob.address()).unwrap().unwrap();
    let on_bob = bob.safety_number(alice.address()).unwrap().unwrap();
    assert_eq!(on_alice.displayable(), on_bob.displayable());
    assert_eq!(on_alice.displayable().len(), 60);
    assert!(on_alice.displayable().bytes().all(|c| c.is_ascii_digit()));
    assert_eq!(on_alice.grouped(), on_bob.grouped());
    assert_eq!(on_alice.scannable(), on_bob.scannable());
    assert!(on_alice.matches_scanned(&on_bob.scannable()).unwrap());
    assert!(on_bob.matches_scanned(&on_alice.scannable()).unwrap());

    // Bob's key changes: Alice's number changes once she accepts it, and
    // matches the new Bob's, not the old one's.
    let new_bob = manager("bob", 15);
    alice.trust_identity(bob.address(), new_bob.identity_key().unwrap(), false).unwrap();
    alice.process_bundle(bob.address(), &bundle(&new_bob, 1, None)).unwrap();
    send(&alice, &new_bob, b"hi");
    let changed = alice.safety_number(bob.address()).unwrap().unwrap();
    let on_new_bob = new_bob.safety_number(alice.address()).unwrap().unwrap();
    assert_ne!(changed.displayable(), on_alice.displayable());
    assert_ne!(changed.scannable(), on_alice.scannable());
    assert_eq!(changed.displayable(), on_new_bob.displayable());
    assert!(changed.matches_scanned(&on_new_bob.scannable()).unwrap());
    assert!(on_new_bob.matches_scanned(&changed.scannable()).unwrap());
    assert!(!changed.matches_scanned(&on_bob.scannable()).unwrap());
    assert!(!on_bob.matches_scanned(&changed.scannable()).unwrap());

    // Verifying does not change the number.
    alice.trust_identity(bob.address(), new_bob.identity_key().unwrap(), true).unwrap();
    assert_eq!(alice.safety_number(bob.address()).unwrap(), Some(changed));
}

#[test]
fn simultaneous_initiation_converges() {
    let alice = manager("alice", 16);
    let bob = manager("bob", 17);
    let alice_bundle = bundle(&alice, 1, Some(1));
    let bob_bundle = bundle(&bob, 1, Some(1));
    alice.process_bundle(bob.address(), &bob_bundle).unwrap();
    bob.process_bundle(alice.address(), &alice_bundle).unwrap();

    let from_alice = alice.encrypt(bob.address(), b"A0").unwrap();
    let from_bob = bob.encrypt(alice.address(), b"B0").unwrap();
    assert_eq!(kind(&from_alice), Kind::PreKey);
    assert_eq!(kind(&from_bob), Kind::PreKey);
    deliver(&bob, alice.address(), &from_alice, b"A0");
    deliver(&alice, bob.address(), &from_bob, b"B0");
    assert_eq!(alice.store().one_time_prekey_count(), 0);
    assert_eq!(bob.store().one_time_prekey_count(), 0);

    // Both keep talking, first crossing again, then taking turns.
    let from_alice = alice.encrypt(bob.address(), b"A1").unwrap();
    let from_bob = bob.encrypt(alice.address(), b"B1").unwrap();
    deliver(&bob, alice.address(), &from_alice, b"A1");
    deliver(&alice, bob.address(), &from_bob, b"B1");
    for n in 2..6u8 {
        send(&alice, &bob, &[b'A', n]);
        send(&bob, &alice, &[b'B', n]);
        send(&bob, &alice, &[b'b', n]);
    }
    // Once settled, both send plain ratchet messages.
    assert_eq!(kind(&alice.encrypt(bob.address(), b"x").unwrap()), Kind::Ratchet);
    assert_eq!(kind(&bob.encrypt(alice.address(), b"y").unwrap()), Kind::Ratchet);
}

#[test]
fn simultaneous_initiation_converges_when_both_send_before_reading() {
    let alice = manager("alice", 18);
    let bob = manager("bob", 19);
    let alice_bundle = bundle(&alice, 1, None);
    let bob_bundle = bundle(&bob, 1, None);
    alice.process_bundle(bob.address(), &bob_bundle).unwrap();
    bob.process_bundle(alice.address(), &alice_bundle).unwrap();

    // Each sends twice before anything arrives; everything then arrives.
    let a: Vec<_> =
        [b"A0", b"A1"].iter().map(|text| alice.encrypt(bob.address(), *text).unwrap()).collect();
    let b: Vec<_> =
        [b"B0", b"B1"].iter().map(|text| bob.encrypt(alice.address(), *text).unwrap()).collect();
    deliver(&bob, alice.address(), &a[0], b"A0");
    deliver(&alice, bob.address(), &b[1], b"B1");
    deliver(&bob, alice.address(), &a[1], b"A1");
    deliver(&alice, bob.address(), &b[0], b"B0");
    for n in 2..6u8 {
        let from_alice = alice.encrypt(bob.address(), &[b'A', n]).unwrap();
        let from_bob = bob.encrypt(alice.address(), &[b'B', n]).unwrap();
        deliver(&alice, bob.address(), &from_bob, &[b'B', n]);
        deliver(&bob, alice.address(), &from_alice, &[b'A', n]);
    }
    send(&alice, &bob, b"done");
    send(&bob, &alice, b"done too");
}

#[test]
fn a_session_record_survives_its_stored_form_mid_conversation() {
    let bob_identity = identity(21);
    let alice = manager("alice", 20);
    let bob = manager_with_identity("bob", bob_identity.clone(), 21);
    establish(&alice, &bob);

    // Two chains of Alice's with held-back messages, one of Bob's in flight.
    let held: Vec<(Vec<u8>, Vec<u8>)> = (0..6u8)
        .map(|n| {
            let text = vec![b'a', n];
            (alice.encrypt(bob.address(), &text).unwrap(), text)
        })
        .collect();
    for n in [1, 3, 5] {
        deliver(&bob, alice.address(), &held[n].0, &held[n].1);
    }
    let to_alice = bob.encrypt(alice.address(), b"in flight").unwrap();
    send(&bob, &alice, b"turn");
    let late = alice.encrypt(bob.address(), b"late").unwrap();
    send(&alice, &bob, b"new chain");

    // Bob's state, through its bytes, into a new device store.
    let record = bob.store().load_session(alice.address()).unwrap().unwrap();
    let bytes = record.to_bytes();
    let reloaded = SessionRecord::from_bytes(&bytes).unwrap();
    assert_eq!(*reloaded.to_bytes(), *bytes);
    assert!(reloaded.has_current_session());

    let store = InMemoryStore::new(bob_identity);
    let peer = bob.store().peer_identity(alice.address()).unwrap().unwrap();
    store
        .commit(&[StoreCommit::new(alice.address().clone(), None, reloaded)
            .with_peer_identity(PeerIdentityWrite::FirstUse(peer))])
        .unwrap();
    // The signed prekey is not needed for an established session.
    assert!(store.signed_prekey(1.into()).unwrap().is_none());
    let restored = SessionManager::with_rng(address("bob"), store, common::rng(22));

    for n in [4, 0, 2] {
        deliver(&restored, alice.address(), &held[n].0, &held[n].1);
    }
    deliver(&restored, alice.address(), &late, b"late");
    deliver(&alice, restored.address(), &to_alice, b"in flight");
    send(&restored, &alice, b"from the restored device");
    send(&alice, &restored, b"welcome");
}

#[test]
fn encrypting_to_an_unknown_address_is_no_session() {
    let alice = manager("alice", 23);
    let carol = address("carol");
    let error = alice.encrypt(&carol, b"hello?").unwrap_err();
    assert!(matches!(error, SessionError::NoSession), "{error:?}");
    assert!(!alice.has_session(&carol).unwrap());
    assert!(alice.store().load_session(&carol).unwrap().is_none());
}

/// Written by sotto at commit 9783947 (record version 1, before the record
/// kept `ratchet_public_key`): Alice (seed 0xA1 × 32) and Bob (seed 0xB0 ×
/// 32), device 1 each, after a first message, a reply, and two messages of
/// Alice's of which Bob read the second; then Bob wrote to Alice.
mod earlier_records {
    pub(super) const BOB_RECORD: &str = "080112a6030a20705fbac01f5519899f437bc42e40255ae9ab54bff00de3433af7d687d9e71ad51220bc7cbcb5636375fa1d82434d466724d92377f53b980695dd49d26d0ce12205a52220c9561fe32c63944f32911110e14dc210d15c4c3402f82a05f1c5c8334172216b2a20731a7b5b9cbc4c848057e1974b0f673b45dc97d4b811c7451e1c0dbf39d3a7c032203ee356f0f91b96194792ab113b81a2ee3a4692dc1a39a3d18745985cd85811ac3a209a559d10e498e3eb46388223140546515db353ba1ecb6f26e7222f3399876cde4001480152460a205075f33218cbde118c7875c5681e27f81deb2be3cfeadf0cfc61e9cd262f09631220fa4046ad1a6de42f3a2dc2353bfd6a7293d0b8fae8c025076b2b3eb3d3b668b1180252460a2009a8173423eb0e24e19f4ad87cb92bb008dc99a5d722baa9a3fad3eb08b49f3a122021ae5e24114e74c528513505de85a26c4026858f23f9589668709276ffa6e6c218015a440a205075f33218cbde118c7875c5681e27f81deb2be3cfeadf0cfc61e9cd262f09631a204470f9ecc2eaee21e57d3bdd804fccce09a14b757ae1e89a6a64191d792cf4ae";
    pub(super) const ALICE_RECORD: &str = "0801129a020a20bc7cbcb5636375fa1d82434d466724d92377f53b980695dd49d26d0ce12205a51220705fbac01f5519899f437bc42e40255ae9ab54bff00de3433af7d687d9e71ad518012220c9561fe32c63944f32911110e14dc210d15c4c3402f82a05f1c5c8334172216b2a20dfb672833315fafd9132bbd707c0f25608709e1559165041293fd40d2c9e5e9b322079b11434a5fdc770b93606144264009e561c82d0d0f2ad461884748de63ad49e3a20fa4046ad1a6de42f3a2dc2353bfd6a7293d0b8fae8c025076b2b3eb3d3b668b14002480152460a20c4904d84d3526f4b7f95ccafa75d3f3639f46fe55eb12c9bdbc4a87953795d70122003e08473ae8c644372b426c801b060a743db1d636c356c5538adaaf45adc89e41801";
    /// Alice's message "held back", which Bob skipped over.
    pub(super) const HELD: &str = "08011a410a240a205075f33218cbde118c7875c5681e27f81deb2be3cfeadf0cfc61e9cd262f0963100112190936fc184a3d09e4517c8f2a9a7d98d6ab022e80a395573963";
    /// Bob's message "to Alice", in flight.
    pub(super) const TO_ALICE: &str = "08011a400a240a20e5cdebc181d2d556382d0ee2628d5648fd0324c38866d02b408e212d49b16d391001121868980afa9af9da8ffc3e62be76504c5716e4fa30318a59e9";
}

#[test]
fn sessions_stored_by_an_earlier_build_still_load_and_continue() {
    use common::unhex;
    use sotto::keys::IdentityKeyPair;
    use sotto::record::RecordError;

    let alice_identity = IdentityKeyPair::from_seed(&[0xA1; 32]);
    let bob_identity = IdentityKeyPair::from_seed(&[0xB0; 32]);
    let restore = |name: &str, identity: &IdentityKeyPair, peer: &str, record: &str, seed| {
        let loaded = SessionRecord::from_bytes(&unhex(record));
        assert!(
            loaded.is_ok(),
            "{name}'s version-1 record: {:?}",
            loaded.as_ref().err().map(RecordError::to_string)
        );
        let store = InMemoryStore::new(identity.clone());
        let loaded = loaded.unwrap();
        let trusted = PeerIdentity { key: loaded.remote_identity().unwrap(), verified: false };
        store
            .commit(&[StoreCommit::new(address(peer), None, loaded)
                .with_peer_identity(PeerIdentityWrite::FirstUse(trusted))])
            .unwrap();
        SessionManager::with_rng(address(name), store, common::rng(seed))
    };
    let alice = restore("alice", &alice_identity, "bob", earlier_records::ALICE_RECORD, 1);
    let bob = restore("bob", &bob_identity, "alice", earlier_records::BOB_RECORD, 2);
    deliver(&bob, alice.address(), &unhex(earlier_records::HELD), b"held back");
    deliver(&alice, bob.address(), &unhex(earlier_records::TO_ALICE), b"to Alice");
    send(&alice, &bob, b"after the upgrade");
    send(&bob, &alice, b"still talking");
}

/// Re-delivers Bob's committed message after `turns` more round trips.
fn redeliver_after_turns(turns: usize) -> Result<(), SessionError> {
    let alice = manager("alice", 60);
    let bob = manager("bob", 61);
    establish(&alice, &bob);
    let old = bob.encrypt(alice.address(), b"old").unwrap();
    deliver(&alice, bob.address(), &old, b"old");
    for turn in 0..turns {
        // Each round trip gives Alice a new receiving chain of Bob's.
        send(&alice, &bob, format!("ping {turn}").as_bytes());
        send(&bob, &alice, format!("pong {turn}").as_bytes());
    }
    let before = snapshot(&alice, bob.address());
    let result = alice.decrypt(bob.address(), &old).map(drop);
    assert_eq!(snapshot(&alice, bob.address()), before);
    result
}

#[test]
fn a_redelivered_message_is_a_duplicate_while_its_chain_is_kept() {
    for turns in 0..sotto::protocol::MAX_RECEIVING_CHAINS {
        let error = redeliver_after_turns(turns).unwrap_err();
        assert!(
            matches!(error, SessionError::Ratchet(RatchetError::DuplicateMessage { counter: 1 })),
            "after {turns} turns: {error:?}"
        );
    }
}

#[test]
fn a_redelivered_message_is_a_duplicate_after_its_chain_is_forgotten() {
    let turns = sotto::protocol::MAX_RECEIVING_CHAINS;
    let error = redeliver_after_turns(turns).unwrap_err();
    assert!(
        matches!(error, SessionError::Ratchet(RatchetError::DuplicateMessage { counter: 1 })),
        "after {turns} turns: {error:?}"
    );
}

#[test]
fn the_store_free_record_core_agrees_with_the_manager() {
    let alice = manager("alice", 62);
    let bob = manager("bob", 63);
    establish(&alice, &bob);

    // Alice encrypts by hand in her stored record and stores it back.
    let mut record = alice.store().load_session(bob.address()).unwrap().unwrap();
    assert_eq!(record.remote_identity(), Some(bob.identity_key().unwrap()));
    let generation = record.generation();
    let message = record.encrypt(b"by hand").unwrap();
    assert_eq!(record.generation(), generation + 1);
    alice
        .store()
        .commit(&[StoreCommit::new(bob.address().clone(), Some(generation), record)])
        .unwrap();
    let next = alice.encrypt(bob.address(), b"by the manager").unwrap();
    assert_eq!(header(&next).counter, header(&message).counter + 1);

    // Bob decrypts by hand; the manager then sees the message as read.
    let mut record = bob.store().load_session(alice.address()).unwrap().unwrap();
    let before = record.to_bytes();
    let generation = record.generation();
    let plaintext = record.decrypt(&message, &mut common::rng(64)).unwrap();
    assert_eq!(plaintext, b"by hand");
    assert_ne!(*record.to_bytes(), *before);
    // Storing it over a generation that is no longer the stored one is refused.
    let stale =
        StoreCommit::new(alice.address().clone(), Some(generation + 7), SessionRecord::default());
    assert!(matches!(bob.store().commit(&[stale]), Err(StoreError::Conflict { .. })));
    bob.store()
        .commit(&[StoreCommit::new(alice.address().clone(), Some(generation), record)])
        .unwrap();
    let error = bob.decrypt(alice.address(), &message).unwrap_err();
    assert!(matches!(error, SessionError::Ratchet(RatchetError::DuplicateMessage { .. })));
    deliver(&bob, alice.address(), &next, b"by the manager");

    // A first message of a session the record does not have needs the
    // manager (and its prekeys): the record refuses it unchanged.
    let carol = manager("carol", 65);
    carol.process_bundle(bob.address(), &bundle(&bob, 2, None)).unwrap();
    let from_carol = carol.encrypt(bob.address(), b"hi").unwrap();
    let mut record = bob.store().load_session(alice.address()).unwrap().unwrap();
    let before = record.to_bytes();
    let error = record.decrypt(&from_carol, &mut common::rng(66)).unwrap_err();
    assert!(matches!(error, SessionError::NoSession), "{error:?}");
    assert_eq!(*record.to_bytes(), *before);
}

#[test]
fn a_new_session_with_the_same_peer_keeps_messages_in_flight_readable() {
    let alice = manager("alice", 67);
    let bob = manager("bob", 68);
    establish(&alice, &bob);
    let old_from_alice = alice.encrypt(bob.address(), b"old session, Alice").unwrap();
    let old_from_bob = bob.encrypt(alice.address(), b"old session, Bob").unwrap();

    // Alice starts over from a new bundle of the same Bob.
    alice.process_bundle(bob.address(), &bundle(&bob, 2, Some(201))).unwrap();
    let new_first = alice.encrypt(bob.address(), b"new session").unwrap();
    assert_eq!(kind(&new_first), Kind::PreKey);
    let decrypted = bob.decrypt(alice.address(), &new_first).unwrap();
    assert!(decrypted.started_session());
    assert_eq!(decrypted.commit().unwrap(), b"new session");

    // What was in flight in the old session still arrives, both ways.
    deliver(&bob, alice.address(), &old_from_alice, b"old session, Alice");
    deliver(&alice, bob.address(), &old_from_bob, b"old session, Bob");
    for n in 0..3u8 {
        send(&alice, &bob, &[b'a', n]);
        send(&bob, &alice, &[b'b', n]);
    }
}

/// Found through the bindings: an `encrypt` between a `decrypt` and its
/// `commit` used to be undone by the commit, so the next `encrypt` reused a
/// message key. The commit must now be refused, and the message decrypt
/// again from the newer state.
#[test]
fn a_commit_that_would_undo_a_later_write_is_refused() {
    let alice = manager("alice", 21);
    let bob = manager("bob", 22);
    common::establish(&alice, &bob);
    let incoming = alice.encrypt(bob.address(), b"in a steady chain").unwrap();

    let pending = bob.decrypt(alice.address(), &incoming).unwrap();
    let first_reply = bob.encrypt(alice.address(), b"x1").unwrap();
    let before = snapshot(&bob, alice.address());
    let error = pending.commit().unwrap_err();
    assert!(matches!(error, SessionError::StaleDecryption), "{error:?}");
    assert_eq!(snapshot(&bob, alice.address()), before, "a refused commit stores nothing");

    // Decrypted again from the newer state, the message commits.
    let again = bob.decrypt(alice.address(), &incoming).unwrap();
    assert_eq!(again.commit().unwrap(), b"in a steady chain");
    let second_reply = bob.encrypt(alice.address(), b"x2").unwrap();
    assert_ne!(header(&first_reply).counter, header(&second_reply).counter);
    for (reply, text) in [(first_reply, b"x1"), (second_reply, b"x2")] {
        assert_eq!(alice.decrypt(bob.address(), &reply).unwrap().commit().unwrap(), text);
    }
}

#[test]
fn an_owned_pending_commit_applies_through_the_manager() {
    let alice = manager("alice", 23);
    let bob = manager("bob", 24);
    common::establish(&alice, &bob);
    let a = alice.encrypt(bob.address(), b"a").unwrap();
    let b = alice.encrypt(bob.address(), b"b").unwrap();

    let (plaintext, pending) = bob.decrypt(alice.address(), &a).unwrap().into_parts();
    assert_eq!(plaintext, b"a");
    bob.commit(&pending).unwrap();
    assert!(matches!(bob.commit(&pending), Err(SessionError::StaleDecryption)));
    // Two pending commits from the same state: the second is stale.
    let (_, first) = bob.decrypt(alice.address(), &b).unwrap().into_parts();
    let (_, second) = bob.decrypt(alice.address(), &b).unwrap().into_parts();
    bob.commit(&first).unwrap();
    assert!(matches!(bob.commit(&second), Err(SessionError::StaleDecryption)));
    assert!(common::is_duplicate(&bob.decrypt(alice.address(), &b).unwrap_err()));
}
