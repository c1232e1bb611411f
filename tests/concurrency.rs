//! No message key is used twice, whatever the interleaving: many threads on
//! one manager, two managers (two connections) on one SQLite file, two OS
//! processes on one SQLite file, and decryptions committing while other
//! threads encrypt.
//!
//! Every test checks the same two things on what the sender produced: no
//! (ratchet key, counter) header appears twice, and the receiver decrypts
//! every envelope exactly once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "tests: a failure is the test failing"
)]

mod common;

use std::collections::{HashSet, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use common::{address, establish, header, identity, is_duplicate, manager, rng};
use sotto::session::{Address, SessionError, SessionManager};
use sotto::store::{InMemoryStore, ProtocolStore, SqliteStore, StorageKey};

/// A database file under the temporary directory, removed (with its `-wal`
/// and `-shm` files) when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir()
            .join(format!("sotto-concurrency-{}-{unique}-{name}.sqlite", std::process::id()));
        let db = Self(path);
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal", ".out0", ".out1"] {
            let mut file = self.0.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

fn storage_key() -> StorageKey {
    StorageKey::from_bytes(&[0xC0; 32])
}

/// Checks that no two envelopes share a (ratchet key, counter) header,
/// then has `receiver` decrypt and commit each of them once, in the order
/// given, and checks that each decrypted (and that a second delivery of
/// each is a duplicate).
fn assert_each_decrypts_once<S: ProtocolStore>(
    receiver: &SessionManager<S, chacha20::ChaCha20Rng>,
    from: &Address,
    envelopes: &[Vec<u8>],
) {
    let mut headers = HashSet::new();
    let repeated = envelopes
        .iter()
        .filter(|envelope| {
            let header = header(envelope);
            !headers.insert((header.ratchet_key, header.counter))
        })
        .count();
    assert_eq!(repeated, 0, "{repeated} of {} envelopes reuse a message key", envelopes.len());

    for (index, envelope) in envelopes.iter().enumerate() {
        match receiver.decrypt(from, envelope) {
            Ok(decrypted) => drop(decrypted.commit().unwrap()),
            Err(error) => panic!("envelope {index} of {}: {error}", envelopes.len()),
        }
    }
    for envelope in envelopes.iter().step_by(97) {
        let error = receiver.decrypt(from, envelope).unwrap_err();
        assert!(is_duplicate(&error), "a second delivery: {error}");
    }
}

/// Sorts envelopes of one sending chain by their counter: the order an
/// honest sender's messages take.
fn by_counter(mut envelopes: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    envelopes.sort_by_key(|envelope| header(envelope).counter);
    envelopes
}

/// `threads` threads each encrypt `per_thread` messages to `to` through
/// `sender`, all started at once; returns every envelope.
fn encrypt_from_threads<S: ProtocolStore>(
    senders: &[&SessionManager<S, chacha20::ChaCha20Rng>],
    to: &Address,
    threads: usize,
    per_thread: usize,
) -> Vec<Vec<u8>> {
    let barrier = std::sync::Barrier::new(threads);
    let out = Mutex::new(Vec::with_capacity(threads * per_thread));
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let sender = senders[thread % senders.len()];
            let (barrier, out) = (&barrier, &out);
            scope.spawn(move || {
                barrier.wait();
                let mut mine = Vec::with_capacity(per_thread);
                for message in 0..per_thread {
                    let plaintext = format!("thread {thread} message {message}");
                    let envelope = sender.encrypt(to, plaintext.as_bytes());
                    mine.push(envelope.unwrap_or_else(|e| panic!("{plaintext}: {e:?}")));
                }
                out.lock().unwrap_or_else(PoisonError::into_inner).extend(mine);
            });
        }
    });
    out.into_inner().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn eight_threads_encrypting_through_one_manager_never_reuse_a_key() {
    let alice = manager("alice", 1);
    let bob = manager("bob", 2);
    establish(&alice, &bob);
    let envelopes = encrypt_from_threads(&[&alice], bob.address(), 8, 1000);
    assert_eq!(envelopes.len(), 8000);
    assert_each_decrypts_once(&bob, alice.address(), &by_counter(envelopes));
}

/// Alice on an SQLite file opened twice (two connections, as two managers of
/// an app and its extension would), Bob in memory.
#[test]
fn two_managers_on_one_sqlite_file_never_reuse_a_key() {
    let db = TempDb::new("two-managers");
    drop(SqliteStore::create(&db.0, &storage_key(), &identity(1)).unwrap());
    let open = |seed| {
        let store = SqliteStore::open(&db.0, &storage_key()).unwrap();
        SessionManager::with_rng(address("alice"), store, rng(seed))
    };
    let (first, second) = (open(10), open(11));
    let bob = manager("bob", 2);
    establish(&first, &bob);
    let envelopes = encrypt_from_threads(&[&first, &second], bob.address(), 8, 1000);
    assert_eq!(envelopes.len(), 8000);
    assert_each_decrypts_once(&bob, first.address(), &by_counter(envelopes));
}

/// Alice's one in-memory store shared by two managers (an `Arc`): their
/// per-address locks know nothing of each other, so only the store's
/// compare-and-swap keeps the keys apart.
#[test]
fn two_managers_sharing_one_in_memory_store_never_reuse_a_key() {
    let store = Arc::new(InMemoryStore::new(identity(1)));
    let share = |seed| SessionManager::with_rng(address("alice"), Arc::clone(&store), rng(seed));
    let (first, second) = (share(10), share(11));
    let bob = manager("bob", 2);
    establish(&first, &bob);
    let envelopes = encrypt_from_threads(&[&first, &second], bob.address(), 8, 500);
    assert_eq!(envelopes.len(), 4000);
    assert_each_decrypts_once(&bob, first.address(), &by_counter(envelopes));
}

const CHILD_DB_VAR: &str = "SOTTO_TEST_CONCURRENCY_DB";
const CHILD_OUT_VAR: &str = "SOTTO_TEST_CONCURRENCY_OUT";
const CHILD_THREADS: usize = 4;
const CHILD_MESSAGES: usize = 500;

/// One of the two processes of `two_processes_on_one_sqlite_file_never_reuse_a_key`:
/// encrypts to Bob from 4 threads on its own connection and writes the
/// envelopes to a file.
#[test]
#[ignore = "run by two_processes_on_one_sqlite_file_never_reuse_a_key in a child process"]
fn encrypting_child() {
    let (Some(db), Some(out)) = (std::env::var_os(CHILD_DB_VAR), std::env::var_os(CHILD_OUT_VAR))
    else {
        return;
    };
    let store = SqliteStore::open(db, &storage_key()).unwrap();
    let alice = SessionManager::with_rng(address("alice"), store, rng(std::process::id().into()));
    let envelopes = encrypt_from_threads(&[&alice], &address("bob"), CHILD_THREADS, CHILD_MESSAGES);
    let mut file = std::fs::File::create(out).unwrap();
    for envelope in envelopes {
        file.write_all(&u32::try_from(envelope.len()).unwrap().to_be_bytes()).unwrap();
        file.write_all(&envelope).unwrap();
    }
}

fn read_envelopes(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut rest = bytes.as_slice();
    let mut envelopes = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        envelopes.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    envelopes
}

#[test]
fn two_processes_on_one_sqlite_file_never_reuse_a_key() {
    let db = TempDb::new("two-processes");
    let bob = manager("bob", 2);
    {
        let store = SqliteStore::create(&db.0, &storage_key(), &identity(1)).unwrap();
        let alice = SessionManager::with_rng(address("alice"), store, rng(10));
        establish(&alice, &bob);
    }
    let outputs: Vec<PathBuf> = (0..2).map(|n| db.0.with_extension(format!("out{n}"))).collect();
    let children: Vec<_> = outputs
        .iter()
        .map(|out| {
            Command::new(std::env::current_exe().unwrap())
                .args(["encrypting_child", "--exact", "--ignored", "--test-threads", "1"])
                .env(CHILD_DB_VAR, &db.0)
                .env(CHILD_OUT_VAR, out)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child failed");
    }
    let envelopes: Vec<Vec<u8>> = outputs
        .iter()
        .flat_map(|out| {
            let envelopes = read_envelopes(out);
            let _ = std::fs::remove_file(out);
            assert_eq!(envelopes.len(), CHILD_THREADS * CHILD_MESSAGES, "a child wrote too few");
            envelopes
        })
        .collect();
    assert_each_decrypts_once(&bob, &address("alice"), &by_counter(envelopes));
}

/// While four threads encrypt to Bob, two threads decrypt and commit Bob's
/// replies (each of which may turn Alice's DH ratchet). A commit refused as
/// stale is decrypted again; every reply is taken exactly once, and Bob
/// decrypts every envelope of Alice's exactly once.
#[test]
fn decryptions_committing_between_encryptions_never_reuse_a_key() {
    const ENCRYPTING: usize = 4;
    const PER_THREAD: usize = 150;
    const REPLIES: usize = 60;
    let alice = manager("alice", 1);
    let bob = manager("bob", 2);
    establish(&alice, &bob);
    // Bob's replies, in three chains: Alice's decryptions turn her ratchet.
    let replies: VecDeque<Vec<u8>> = (0..REPLIES)
        .map(|n| {
            if n % 20 == 0 && n > 0 {
                common::send(&alice, &bob, b"turn");
            }
            bob.encrypt(alice.address(), format!("reply {n}").as_bytes()).unwrap()
        })
        .collect();
    let copies: Vec<Vec<u8>> = replies.iter().cloned().collect();
    let replies = Mutex::new(replies);
    let sent = Mutex::new(Vec::new());
    let (received, stale) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for thread in 0..ENCRYPTING {
            let (alice, bob, sent) = (&alice, &bob, &sent);
            scope.spawn(move || {
                for message in 0..PER_THREAD {
                    let plaintext = format!("thread {thread} message {message}");
                    let envelope = alice.encrypt(bob.address(), plaintext.as_bytes()).unwrap();
                    sent.lock().unwrap_or_else(PoisonError::into_inner).push(envelope);
                }
            });
        }
        for _ in 0..2 {
            let (alice, bob, replies, received, stale) =
                (&alice, &bob, &replies, &received, &stale);
            scope.spawn(move || {
                loop {
                    let next = replies.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
                    let Some(reply) = next else { break };
                    loop {
                        let decrypted = alice.decrypt(bob.address(), &reply).unwrap();
                        match decrypted.commit() {
                            Ok(_) => break,
                            Err(SessionError::StaleDecryption) => {
                                stale.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(error) => panic!("commit: {error}"),
                        }
                    }
                    received.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(received.load(Ordering::Relaxed), REPLIES);
    // The order in which the encryptions returned: close to Alice's order,
    // and within the receiver's skipping limits.
    let sent = sent.into_inner().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(sent.len(), ENCRYPTING * PER_THREAD);
    assert_each_decrypts_once(&bob, alice.address(), &sent);
    // Every reply was committed once: a second delivery is a duplicate.
    for reply in &copies {
        let error = alice.decrypt(bob.address(), reply).unwrap_err();
        assert!(is_duplicate(&error), "a reply delivered again: {error}");
    }
}
