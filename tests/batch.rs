//! Catching up: many queued messages decrypted into one batch and committed
//! in one store transaction, with the guarantees of one-by-one commits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "tests: a failure is the test failing"
)]

mod common;

use common::{Manager, bundle, establish, is_duplicate, manager, rng, snapshot};
use sotto::session::{SessionError, SessionManager};
use sotto::store::{SqliteStore, StorageKey};

/// A queued message: its sender's index, the envelope and its plaintext.
type Queued = (usize, Vec<u8>, Vec<u8>);

/// Bob and three senders, each with `per_sender` messages queued for him:
/// Alice and Carol in established sessions, Dave's starting one.
fn queue(per_sender: usize) -> (Manager, Vec<Manager>, Vec<Queued>) {
    let bob = manager("bob", 1);
    let senders = vec![manager("alice", 2), manager("carol", 3), manager("dave", 4)];
    establish(&senders[0], &bob);
    establish(&senders[1], &bob);
    senders[2].process_bundle(bob.address(), &bundle(&bob, 5, Some(500))).unwrap();
    let mut queued = Vec::new();
    for n in 0..per_sender {
        for (index, sender) in senders.iter().enumerate() {
            let plaintext = format!("{} {n}", sender.address().account()).into_bytes();
            queued.push((index, sender.encrypt(bob.address(), &plaintext).unwrap(), plaintext));
        }
    }
    (bob, senders, queued)
}

#[test]
fn a_batch_decrypts_every_queued_message_and_commits_them_at_once() {
    let (bob, senders, mut queued) = queue(20);
    // Delivered out of order within each sender's messages.
    queued.swap(0, 9);
    queued.swap(4, 30);
    let mut batch = bob.batch();
    for (index, envelope, plaintext) in &queued {
        assert_eq!(&batch.decrypt(senders[*index].address(), envelope).unwrap(), plaintext);
    }
    assert_eq!(batch.len(), queued.len());
    // Nothing is stored before the commit: each sender's messages still
    // decrypt one by one.
    for (index, envelope, plaintext) in &queued {
        let decrypted = bob.decrypt(senders[*index].address(), envelope).unwrap();
        assert_eq!(decrypted.plaintext(), plaintext.as_slice());
    }
    batch.commit().unwrap();
    for (index, envelope, _) in &queued {
        assert!(is_duplicate(&bob.decrypt(senders[*index].address(), envelope).unwrap_err()));
    }
    // The sessions go on: Dave's was started by the batch.
    for sender in &senders {
        common::send(&bob, sender, b"caught up");
        common::send(sender, &bob, b"good");
    }
}

#[test]
fn a_batch_not_committed_stores_nothing_and_a_refused_message_changes_nothing() {
    let (bob, senders, queued) = queue(3);
    let before: Vec<_> = senders.iter().map(|s| snapshot(&bob, s.address())).collect();
    {
        let mut batch = bob.batch();
        let (index, envelope, _) = &queued[0];
        batch.decrypt(senders[*index].address(), envelope).unwrap();
        // The same message again in the batch: a duplicate, nothing changes.
        assert!(is_duplicate(&batch.decrypt(senders[*index].address(), envelope).unwrap_err()));
        let mut tampered = queued[1].1.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(batch.decrypt(senders[queued[1].0].address(), &tampered).is_err());
        // The untampered message still decrypts after the refusal.
        batch.decrypt(senders[queued[1].0].address(), &queued[1].1).unwrap();
        assert_eq!(batch.len(), 2);
    }
    let after: Vec<_> = senders.iter().map(|s| snapshot(&bob, s.address())).collect();
    assert_eq!(before, after, "a dropped batch stores nothing");
}

#[test]
fn a_batch_is_stale_as_a_whole_if_any_address_changed() {
    let (bob, senders, queued) = queue(2);
    let before: Vec<_> = senders.iter().map(|s| snapshot(&bob, s.address())).collect();
    let mut batch = bob.batch();
    for (index, envelope, _) in &queued {
        batch.decrypt(senders[*index].address(), envelope).unwrap();
    }
    // Bob writes to Carol meanwhile (another thread, another process).
    let to_carol = bob.encrypt(senders[1].address(), b"meanwhile").unwrap();
    let error = batch.commit().unwrap_err();
    assert!(matches!(error, SessionError::StaleDecryption), "{error:?}");
    // Nothing of the batch is stored, for Alice and Dave either.
    assert_eq!(snapshot(&bob, senders[0].address()), before[0]);
    assert_eq!(snapshot(&bob, senders[2].address()), before[2]);
    // Decrypted again, the batch commits.
    let mut batch = bob.batch();
    for (index, envelope, plaintext) in &queued {
        assert_eq!(&batch.decrypt(senders[*index].address(), envelope).unwrap(), plaintext);
    }
    batch.commit().unwrap();
    common::deliver(&senders[1], bob.address(), &to_carol, b"meanwhile");
}

#[test]
fn two_first_messages_in_a_batch_cannot_share_a_one_time_prekey() {
    let bob = manager("bob", 10);
    let bundle = bundle(&bob, 1, Some(77));
    let (alice, carol) = (manager("alice", 11), manager("carol", 12));
    alice.process_bundle(bob.address(), &bundle).unwrap();
    carol.process_bundle(bob.address(), &bundle).unwrap();
    let from_alice = alice.encrypt(bob.address(), b"alice").unwrap();
    let from_carol = carol.encrypt(bob.address(), b"carol").unwrap();
    let mut batch = bob.batch();
    batch.decrypt(alice.address(), &from_alice).unwrap();
    let error = batch.decrypt(carol.address(), &from_carol).unwrap_err();
    assert!(matches!(error, SessionError::UnknownOneTimePreKey { .. }), "{error:?}");
    batch.commit().unwrap();
    assert_eq!(bob.store().one_time_prekey_count(), 0);
}

#[test]
fn a_batch_on_sqlite_is_one_transaction() {
    let path = std::env::temp_dir().join(format!("sotto-batch-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let key = StorageKey::from_bytes(&[0x42; 32]);
    let store = SqliteStore::create(&path, &key, &common::identity(20)).unwrap();
    let bob = SessionManager::with_rng(common::address("bob"), store, rng(21));
    let alice = manager("alice", 22);
    establish(&alice, &bob);
    let queued: Vec<_> =
        (0..50).map(|n| alice.encrypt(bob.address(), format!("{n}").as_bytes()).unwrap()).collect();
    let counter = bob.store().write_counter().unwrap();
    let mut batch = bob.batch();
    for envelope in &queued {
        batch.decrypt(alice.address(), envelope).unwrap();
    }
    batch.commit().unwrap();
    assert_eq!(bob.store().write_counter().unwrap(), counter + 1);
    assert!(is_duplicate(&bob.decrypt(alice.address(), &queued[49]).unwrap_err()));
    drop(bob);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
