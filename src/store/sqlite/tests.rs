//! Tests that need the store's insides: a fault-injection point inside the
//! commit transaction (returning an error, or killing the process),
//! migrations beyond the ones this build ships, and the rows of a KEM
//! prekey's recorded uses.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use super::*;
use crate::keys::{KemPreKeyKind, PreKeyBundle};
use crate::session::SessionManager;
use crate::store::InMemoryStore;
use crate::store::LastResortUse;

/// What the fault point in [`SqliteStore::commit`] does.
#[derive(Debug, Default)]
pub(super) struct FaultSwitch(AtomicU8);

const FAULT_NONE: u8 = 0;
const FAULT_FAIL: u8 = 1;
const FAULT_ABORT: u8 = 2;

/// What the fault point prints before it aborts the process.
const ABORT_MARKER: &str = "sotto fault point: aborting the process";

impl FaultSwitch {
    fn set(&self, fault: u8) {
        self.0.store(fault, Ordering::SeqCst);
    }

    /// Inside a write's transaction, after its rows are written and before
    /// the state is sealed and the transaction commits.
    pub(super) fn point(&self) -> Result<(), SqliteStoreError> {
        match self.0.load(Ordering::SeqCst) {
            FAULT_FAIL => Err(SqliteStoreError::Database(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some("injected fault".into()),
            ))),
            FAULT_ABORT => {
                eprintln!("{ABORT_MARKER}");
                std::process::abort()
            }
            _ => Ok(()),
        }
    }
}

/// A database file under the temporary directory, removed (with its
/// `-wal` and `-shm` files) when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir()
            .join(format!("sotto-unit-{}-{unique}-{name}.sqlite", std::process::id()));
        remove_database(&path);
        Self(path)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        remove_database(&self.0);
    }
}

fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

fn key() -> StorageKey {
    StorageKey::from_bytes(&[0x5A; 32])
}

fn address(account: &str) -> Address {
    Address::new(account, 1).unwrap()
}

fn identity(seed: u8) -> IdentityKeyPair {
    IdentityKeyPair::generate(&mut crate::rng::test_rng(seed))
}

/// Bob's store at `path` with signed prekey 1, one-time prekey 7 and
/// one-time KEM prekey 8, and Alice's first message to him (which consumes
/// prekeys 7 and 8).
fn first_message(path: &Path) -> (SqliteStore, Vec<u8>) {
    let bob = SessionManager::with_rng(
        address("bob"),
        SqliteStore::create(path, &key(), &identity(2)).unwrap(),
        crate::rng::test_rng(12),
    );
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let one_time = bob.generate_one_time_prekeys(7, 1).unwrap();
    let kem = bob.generate_kem_prekeys(8, 1).unwrap().remove(0);
    let bundle =
        PreKeyBundle::new(bob.identity_key().unwrap(), signed, kem, one_time.first().copied());
    let alice = SessionManager::with_rng(
        address("alice"),
        InMemoryStore::new(identity(1)),
        crate::rng::test_rng(11),
    );
    alice.process_bundle(&address("bob"), &bundle.to_bytes()).unwrap();
    let message = alice.encrypt(&address("bob"), b"first").unwrap();
    (into_store(bob), message)
}

fn into_store(manager: SessionManager<SqliteStore, chacha20::ChaCha20Rng>) -> SqliteStore {
    // The manager has no accessor that gives the store back; reopen it.
    let path = manager.store().path().to_owned();
    drop(manager);
    SqliteStore::open(path, &key()).unwrap()
}

/// The state before Bob handled the first message.
fn assert_untouched(store: &SqliteStore) {
    assert!(store.load_session(&address("alice")).unwrap().is_none());
    assert!(store.peer_identity(&address("alice")).unwrap().is_none());
    assert!(store.one_time_prekey(7.into()).unwrap().is_some());
    assert_eq!(store.one_time_prekey_count().unwrap(), 1);
    assert!(store.kem_prekey(8.into()).unwrap().is_some());
    assert_eq!(store.kem_prekey_count().unwrap(), 1);
}

/// Decrypts and commits `message` on `store`, then checks the new state.
fn handle_and_check(store: SqliteStore, message: &[u8]) {
    let bob = SessionManager::with_rng(address("bob"), store, crate::rng::test_rng(13));
    let plaintext = bob.decrypt(&address("alice"), message).unwrap().commit().unwrap();
    assert_eq!(plaintext, b"first");
    let store = bob.store();
    assert!(store.load_session(&address("alice")).unwrap().is_some());
    assert_eq!(store.peer_identity(&address("alice")).unwrap().unwrap().key, identity(1).public());
    assert!(store.one_time_prekey(7.into()).unwrap().is_none());
    assert!(store.kem_prekey(8.into()).unwrap().is_none());
}

#[test]
fn a_failure_inside_the_commit_leaves_the_old_state() {
    let db = TempDb::new("fault-fail");
    let (store, message) = first_message(&db.0);
    store.fault.set(FAULT_FAIL);
    let bob = SessionManager::with_rng(address("bob"), store, crate::rng::test_rng(13));
    let error = bob.decrypt(&address("alice"), &message).unwrap().commit().unwrap_err();
    assert!(matches!(error, crate::session::SessionError::Store(StoreError::Backend(_))));
    // Nothing of the failed commit, in this connection or a new one.
    assert_untouched(bob.store());
    let store = into_store(bob);
    assert_untouched(&store);
    handle_and_check(store, &message);
}

/// Aborts the process (SIGABRT) inside the commit transaction, after the
/// session row is written and the prekey rows are deleted, before the
/// state is sealed and the transaction commits, then checks
/// from a fresh process that the database holds the old state.
#[test]
fn a_crash_inside_the_commit_leaves_the_old_state() {
    let db = TempDb::new("fault-abort");
    let (store, message) = first_message(&db.0);
    drop(store);
    let message_path = db.0.with_extension("message");
    std::fs::write(&message_path, &message).unwrap();

    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["store::sqlite::tests::crash_child", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CRASH_DB_VAR, &db.0)
        .env(CRASH_MESSAGE_VAR, &message_path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&message_path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the child was meant to die: {stderr}");
    assert!(stderr.contains(ABORT_MARKER), "the child did not reach the fault point: {stderr}");

    let store = SqliteStore::open(&db.0, &key()).unwrap();
    assert_untouched(&store);
    handle_and_check(store, &message);
}

const CRASH_DB_VAR: &str = "SOTTO_TEST_CRASH_DB";
const CRASH_MESSAGE_VAR: &str = "SOTTO_TEST_CRASH_MESSAGE";

/// The child of the crash test; does nothing unless run by it.
#[test]
#[ignore = "run by a_crash_inside_the_commit_leaves_the_old_state in a child process"]
fn crash_child() {
    let (Some(db), Some(message)) =
        (std::env::var_os(CRASH_DB_VAR), std::env::var_os(CRASH_MESSAGE_VAR))
    else {
        return;
    };
    let message = std::fs::read(message).unwrap();
    let store = SqliteStore::open(db, &key()).unwrap();
    store.fault.set(FAULT_ABORT);
    let bob = SessionManager::with_rng(address("bob"), store, crate::rng::test_rng(13));
    let decrypted = bob.decrypt(&address("alice"), &message).unwrap();
    let _ = decrypted.commit();
    unreachable!("the fault point aborts the process");
}

#[test]
fn without_a_fault_the_commit_applies_everything() {
    let db = TempDb::new("no-fault");
    let (store, message) = first_message(&db.0);
    assert_eq!(store.fault.0.load(Ordering::SeqCst), FAULT_NONE);
    handle_and_check(store, &message);
}

/// Version 4 of a schema that does not exist yet: adds a table and a row.
const TEST_V4: Migration = Migration {
    to: 4,
    apply: |connection, _| {
        Ok(connection.execute_batch(
            "CREATE TABLE v4_notes (note TEXT NOT NULL) STRICT;
             INSERT INTO v4_notes (note) VALUES ('migrated');",
        )?)
    },
};

/// A version 4 that fails halfway.
const BROKEN_V4: Migration = Migration {
    to: 4,
    apply: |connection, _| {
        Ok(connection.execute_batch(
            "CREATE TABLE v4_notes (note TEXT NOT NULL) STRICT;
             INSERT INTO no_such_table VALUES (1);",
        )?)
    },
};

fn user_version(path: &Path) -> i64 {
    let connection = Connection::open(path).unwrap();
    connection.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap()
}

fn has_table(path: &Path, table: &str) -> bool {
    let connection = Connection::open(path).unwrap();
    connection
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name = ?1", [table], |row| {
            row.get::<_, i64>(0)
        })
        .unwrap()
        == 1
}

#[test]
fn open_runs_the_pending_migrations_and_keeps_the_records() {
    let db = TempDb::new("migrate");
    let (store, message) = first_message(&db.0);
    drop(store);
    assert_eq!(user_version(&db.0), 3);

    let migrations = [MIGRATIONS[0], MIGRATIONS[1], MIGRATIONS[2], TEST_V4];
    let store = SqliteStore::open_with(&db.0, &key(), &migrations, 0).unwrap();
    assert_untouched(&store);
    drop(store);
    assert_eq!(user_version(&db.0), 4);
    assert!(has_table(&db.0, "v4_notes"));

    // Reopening at version 4 runs nothing; this build (version 3) refuses it.
    drop(SqliteStore::open_with(&db.0, &key(), &migrations, 0).unwrap());
    assert!(matches!(
        SqliteStore::open(&db.0, &key()),
        Err(SqliteStoreError::UnsupportedSchemaVersion { max: 3, found: 4 })
    ));
    handle_and_check(SqliteStore::open_with(&db.0, &key(), &migrations, 0).unwrap(), &message);
}

#[test]
fn a_failed_migration_leaves_the_old_version() {
    let db = TempDb::new("migrate-broken");
    let (store, message) = first_message(&db.0);
    drop(store);
    let migrations = [MIGRATIONS[0], MIGRATIONS[1], MIGRATIONS[2], BROKEN_V4];
    assert!(matches!(
        SqliteStore::open_with(&db.0, &key(), &migrations, 0),
        Err(SqliteStoreError::Database(_))
    ));
    assert_eq!(user_version(&db.0), 3);
    assert!(!has_table(&db.0, "v4_notes"));
    handle_and_check(SqliteStore::open(&db.0, &key()).unwrap(), &message);
}

#[test]
fn a_gap_in_the_migrations_is_refused() {
    let db = TempDb::new("migrate-gap");
    drop(SqliteStore::create(&db.0, &key(), &identity(3)).unwrap());
    let five = Migration { to: 5, ..TEST_V4 };
    let migrations = [MIGRATIONS[0], MIGRATIONS[1], MIGRATIONS[2], five];
    assert!(matches!(
        SqliteStore::open_with(&db.0, &key(), &migrations, 0),
        Err(SqliteStoreError::Corrupt { .. })
    ));
    assert_eq!(user_version(&db.0), 3);
}

#[test]
fn the_store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SqliteStore>();
    assert_send_sync::<StorageKey>();
}

/// Past MAX_SEALS values under one storage key every write is refused, with
/// nothing written; a rekey starts the new key's count at 0.
#[test]
fn the_seal_limit_is_enforced_and_a_rekey_resets_it() {
    let db = TempDb::new("seal-limit");
    let (store, message) = first_message(&db.0);
    {
        // Bring the count to just below the limit, as 2³² writes would.
        let inner = store.inner();
        let mut state = rows::StoreState::load(&inner.connection, &inner.sealer).unwrap();
        state.seals = rows::MAX_SEALS - 3;
        state.save(&inner.connection, &inner.sealer).unwrap();
    }
    let prekey = OneTimePreKey::generate(50.into(), &mut crate::rng::test_rng(50));
    // Saving the state took one; one prekey and the state: the last two.
    store.save_one_time_prekey(&prekey).unwrap();
    let refused = store
        .save_one_time_prekey(&OneTimePreKey::generate(51.into(), &mut crate::rng::test_rng(51)));
    let Err(StoreError::Backend(error)) = refused else { panic!("{refused:?}") };
    assert!(matches!(
        error.downcast_ref::<SqliteStoreError>(),
        Some(SqliteStoreError::SealLimitReached { max }) if *max == rows::MAX_SEALS
    ));
    assert!(store.one_time_prekey(51.into()).unwrap().is_none(), "nothing written");
    store.rekey(&StorageKey::from_bytes(&[0x6B; 32])).unwrap();
    store
        .save_one_time_prekey(&OneTimePreKey::generate(51.into(), &mut crate::rng::test_rng(51)))
        .unwrap();
    drop(store);
    let store = SqliteStore::open(&db.0, &StorageKey::from_bytes(&[0x6B; 32])).unwrap();
    let inner = store.inner();
    let state = rows::StoreState::load(&inner.connection, &inner.sealer).unwrap();
    assert!(state.seals < 100, "{} seals after the rekey", state.seals);
    drop(inner);
    handle_and_check(store, &message);
}

fn base_key(byte: u8) -> DhPublicKey {
    DhPublicKey::from_bytes(&[byte; 32]).unwrap()
}

fn last_resort(id: u32, seed: u8) -> KemPreKey {
    KemPreKey::generate(
        id.into(),
        KemPreKeyKind::LastResort,
        &identity(2),
        &mut crate::rng::test_rng(seed),
    )
}

/// The recorded uses of `id`, as `remove_kem_prekey` finds them.
fn uses_of(store: &SqliteStore, id: u32) -> usize {
    kem_prekey_uses_of(&store.inner().connection, id).unwrap().len()
}

/// The use rows of a KEM prekey are found by their id prefix, also at the
/// ends of the id range, where `u32be(id + 1)` does not exist (id 2³² − 1)
/// or the prefix is all zeros (id 0); removing a prekey removes its uses
/// and no other's, and the digest follows.
#[test]
fn the_uses_of_a_kem_prekey_are_the_rows_that_start_with_its_id() {
    let db = TempDb::new("kem-uses");
    let store = SqliteStore::create(&db.0, &key(), &identity(2)).unwrap();
    let ids = [0, 1, 0x00FF_FFFF, 0x0100_0000, u32::MAX - 1, u32::MAX];
    let mut commit = StoreCommit::new(address("alice"), None, SessionRecord::default());
    for (index, id) in ids.into_iter().enumerate() {
        store.save_kem_prekey(&last_resort(id, 60 + index as u8)).unwrap();
        for byte in [0x00, 0x7F] {
            commit =
                commit.recording(LastResortUse { kem_prekey: id.into(), base_key: base_key(byte) });
        }
    }
    store.commit(&[commit]).unwrap();
    for id in ids {
        assert_eq!(uses_of(&store, id), 2, "{id:#x}");
    }
    assert_eq!(uses_of(&store, 2), 0);
    assert_eq!(uses_of(&store, u32::MAX - 2), 0);

    store.remove_kem_prekey(u32::MAX.into()).unwrap();
    store.remove_kem_prekey(0.into()).unwrap();
    store.remove_kem_prekey(0x00FF_FFFF.into()).unwrap();
    for id in ids {
        let kept = ![0, 0x00FF_FFFF, u32::MAX].contains(&id);
        assert_eq!(uses_of(&store, id), if kept { 2 } else { 0 }, "{id:#x}");
        assert_eq!(store.kem_prekey(id.into()).unwrap().is_some(), kept, "{id:#x}");
        for byte in [0x00, 0x7F] {
            assert_eq!(
                store.last_resort_use_recorded(id.into(), &base_key(byte)).unwrap(),
                kept,
                "{id:#x}"
            );
        }
    }
    drop(store);
    // Every term removed with its row: the digest still matches.
    let store = SqliteStore::open(&db.0, &key()).unwrap();
    assert_eq!(store.kem_prekey_count().unwrap(), 3);
    assert_eq!(uses_of(&store, 1), 2);
}

/// A use row's key is the prekey id and a keyed hash of the base key, which
/// depends on the id, the base key and the store's index key.
#[test]
fn a_use_key_is_the_prekey_id_and_a_keyed_hash() {
    let (db, other_db) = (TempDb::new("use-key"), TempDb::new("use-key-other"));
    let store = SqliteStore::create(&db.0, &key(), &identity(2)).unwrap();
    let other = SqliteStore::create(&other_db.0, &key(), &identity(2)).unwrap();
    let use_key = |store: &SqliteStore, id: u32, byte: u8| {
        store.inner().sealer.kem_prekey_use_key(id, base_key(byte).as_bytes())
    };
    let first = use_key(&store, 0x0102_0304, 9);
    assert_eq!(first[..4], [1, 2, 3, 4]);
    assert!(!first.windows(4).any(|window| window == [9; 4]), "no base key bytes");
    assert_ne!(first[4..], use_key(&store, 0x0102_0304, 10)[4..]);
    assert_ne!(first[4..], use_key(&store, 0x0102_0305, 9)[4..]);
    assert_ne!(first[4..], use_key(&other, 0x0102_0304, 9)[4..], "another index key");
}
