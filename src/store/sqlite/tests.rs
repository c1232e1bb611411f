//! Tests that need the store's insides: a fault-injection point inside the
//! commit transaction (returning an error, or killing the process), and
//! migrations beyond the ones this build ships.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use super::*;
use crate::keys::PreKeyBundle;
use crate::session::SessionManager;
use crate::store::InMemoryStore;

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

    /// Between the session write and the one-time prekey removal.
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

/// Bob's store at `path` with signed prekey 1 and one-time prekey 7, and
/// Alice's first message to him (which consumes prekey 7).
fn first_message(path: &Path) -> (SqliteStore, Vec<u8>) {
    let bob = SessionManager::with_rng(
        address("bob"),
        SqliteStore::create(path, &key(), &identity(2)).unwrap(),
        crate::rng::test_rng(12),
    );
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let one_time = bob.generate_one_time_prekeys(7, 1).unwrap();
    let bundle = PreKeyBundle::new(bob.identity_key().unwrap(), signed, one_time.first().copied());
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
/// session row is written and before the prekey row is deleted, then checks
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

/// Version 3 of a schema that does not exist yet: adds a table and a row.
const TEST_V3: Migration = Migration {
    to: 3,
    apply: |connection, _| {
        Ok(connection.execute_batch(
            "CREATE TABLE v3_notes (note TEXT NOT NULL) STRICT;
             INSERT INTO v3_notes (note) VALUES ('migrated');",
        )?)
    },
};

/// A version 3 that fails halfway.
const BROKEN_V3: Migration = Migration {
    to: 3,
    apply: |connection, _| {
        Ok(connection.execute_batch(
            "CREATE TABLE v3_notes (note TEXT NOT NULL) STRICT;
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
    assert_eq!(user_version(&db.0), 2);

    let migrations = [MIGRATIONS[0], MIGRATIONS[1], TEST_V3];
    let store = SqliteStore::open_with(&db.0, &key(), &migrations, 0).unwrap();
    assert_untouched(&store);
    drop(store);
    assert_eq!(user_version(&db.0), 3);
    assert!(has_table(&db.0, "v3_notes"));

    // Reopening at version 3 runs nothing; this build (version 2) refuses it.
    drop(SqliteStore::open_with(&db.0, &key(), &migrations, 0).unwrap());
    assert!(matches!(
        SqliteStore::open(&db.0, &key()),
        Err(SqliteStoreError::UnsupportedSchemaVersion { max: 2, found: 3 })
    ));
    handle_and_check(SqliteStore::open_with(&db.0, &key(), &migrations, 0).unwrap(), &message);
}

#[test]
fn a_failed_migration_leaves_the_old_version() {
    let db = TempDb::new("migrate-broken");
    let (store, message) = first_message(&db.0);
    drop(store);
    let migrations = [MIGRATIONS[0], MIGRATIONS[1], BROKEN_V3];
    assert!(matches!(
        SqliteStore::open_with(&db.0, &key(), &migrations, 0),
        Err(SqliteStoreError::Database(_))
    ));
    assert_eq!(user_version(&db.0), 2);
    assert!(!has_table(&db.0, "v3_notes"));
    handle_and_check(SqliteStore::open(&db.0, &key()).unwrap(), &message);
}

#[test]
fn a_gap_in_the_migrations_is_refused() {
    let db = TempDb::new("migrate-gap");
    drop(SqliteStore::create(&db.0, &key(), &identity(3)).unwrap());
    let four = Migration { to: 4, ..TEST_V3 };
    let migrations = [MIGRATIONS[0], MIGRATIONS[1], four];
    assert!(matches!(
        SqliteStore::open_with(&db.0, &key(), &migrations, 0),
        Err(SqliteStoreError::Corrupt { .. })
    ));
    assert_eq!(user_version(&db.0), 2);
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
