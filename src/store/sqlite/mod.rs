//! A persistent store on SQLite, every record sealed at rest: the SDK's
//! default store for native apps (cargo feature `sqlite`, on by default).
//!
//! [`SqliteStore`] implements every store trait over one SQLite database
//! file (SQLite is compiled in; no system library is needed). Each record
//! is sealed with ChaCha20-Poly1305 under a key derived from the app's
//! [`StorageKey`], with the record's kind, row and version bound into the
//! associated data; addresses, and the base keys of recorded last-resort
//! KEM prekey uses, appear in the file only as keyed hashes; a sealed
//! digest of every row, rewritten by every write, tells rows removed, added
//! or rolled back. A [`StoreCommit`] is a compare-and-swap applied in
//! one transaction. The format (tables, associated data as bytes, digest,
//! nonces, key check, versions, migrations) is specified in
//! `docs/PROTOCOL.md` §11.
//!
//! [`SqliteStore`] documents its use, its protections and its limits.

mod error;
mod key;
mod rows;
mod schema;
mod seal;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand_core::Rng as _;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

pub use error::SqliteStoreError;
pub use key::StorageKey;
pub use seal::RecordKind;

use rows::{
    MAX_SEALS, Row, RowId, StoreState, TABLES, Table, Writer, digest_of_rows, kem_prekey_uses_of,
    read_row,
};
use schema::{
    APPLICATION_ID, META_DATABASE_ID, META_KEY_CHECK, MIGRATIONS, Migration, MigrationKeys,
};
use seal::{DATABASE_ID_LEN, IndexKey, Sealer, address_row_key};

use super::{
    IdentityStore, KemPreKeyStore, OneTimePreKeyStore, PeerIdentity, PeerIdentityWrite,
    ProtocolStore, SessionStore, SignedPreKeyStore, StoreCommit, StoreError, WriteTransaction,
};
use crate::keys::{
    DhPublicKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    SignedPreKey, SignedPreKeyId,
};
use crate::record::RecordError;
use crate::rng::os_rng;
use crate::session::{Address, SessionRecord};

/// How long a write waits for another connection (another process of the
/// app, such as a notification extension) to release the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const COUNT_ONE_TIME_PREKEYS: &str = "SELECT count(*) FROM one_time_prekeys";
const COUNT_KEM_PREKEYS: &str = "SELECT count(*) FROM kem_prekeys";
const COUNT_LEGACY_ROWS: &str = "SELECT (SELECT count(*) FROM sessions WHERE generation IS NULL) \
     + (SELECT count(*) FROM peer_identities WHERE version IS NULL)";

/// Every store trait on one SQLite database file, each record sealed with
/// ChaCha20-Poly1305 under a key derived from the app's [`StorageKey`], with
/// its kind, row and version bound into the associated data; addresses
/// appear in the file only as keyed hashes, and a [`StoreCommit`] is a
/// compare-and-swap on the session's generation, applied in one `IMMEDIATE`
/// transaction. The exact format is `docs/PROTOCOL.md` §11.
///
/// One connection serves all calls, behind a lock; the store is `Send +
/// Sync`. Several processes may open the same file (an app and its
/// notification extension): SQLite serialises their writes (waiting up to
/// [`BUSY_TIMEOUT`](Self::BUSY_TIMEOUT)), and the compare-and-swap keeps
/// them from undoing each other's sessions. The local identity is loaded at
/// open and kept in memory (wiped when dropped).
///
/// ```
/// use sotto::keys::IdentityKeyPair;
/// use sotto::store::{IdentityStore, SqliteStore, StorageKey};
///
/// let mut rng = sotto::rng::os_rng();
/// let path = std::env::temp_dir().join(format!("sotto-doc-{}.sqlite", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
///
/// // First run: make a storage key and keep it in the platform's key store
/// // (Keychain, Keystore), then create the store with the device identity.
/// let key = StorageKey::generate(&mut rng);
/// let identity = IdentityKeyPair::generate(&mut rng);
/// drop(SqliteStore::create(&path, &key, &identity)?);
///
/// // Every later run: open it with the key from the key store.
/// let store = SqliteStore::open(&path, &key)?;
/// assert_eq!(store.local_identity()?.map(|pair| pair.public()), Some(identity.public()));
///
/// // Another key is refused before anything is read or written.
/// let wrong = StorageKey::generate(&mut rng);
/// assert!(matches!(
///     SqliteStore::open(&path, &wrong),
///     Err(sotto::store::SqliteStoreError::WrongStorageKey)
/// ));
/// # drop(store);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # What it protects, and what it does not
///
/// A copy of the file (a backup, a stolen disk image) without the storage
/// key yields no secret, no peer identity key, no account id and no base
/// key; it shows how many sessions, peers and prekeys there are, the prekey
/// ids (which are public anyway), how many sessions each last-resort KEM
/// prekey started, and the sizes of the records. Someone who can write
/// the file but has no storage key cannot change it undetected: a value
/// altered, or moved to another row, table, version or database, is refused
/// when it is read; rows removed, added, or rolled back one by one to an
/// older copy (from the `-wal` file, say) make [`open`](Self::open) refuse
/// the whole store ([`SqliteStoreError::Tampered`]), and a handle that has
/// seen a newer version of a row refuses the older one at once.
///
/// **Warning:** rolling back the whole file, every row and the digest
/// together, to an older copy of itself is detected only against an anchor
/// the app keeps outside the file: [`write_counter`](Self::write_counter)
/// stored in the platform's key store, given back to
/// [`open_anchored`](Self::open_anchored). Without one, restoring an old
/// copy makes the device reuse message keys it already used and accept
/// messages again that it already handled.
///
/// SQLite is configured with `secure_delete` (freed pages are zeroed) and
/// `synchronous = FULL` in WAL mode (a commit is durable when it returns, so
/// that a message key is never reused after a power loss); an older page
/// may persist in the `-wal` file until the next checkpoint overwrites it,
/// sealed like every other.
pub struct SqliteStore {
    inner: Mutex<Inner>,
    identity: IdentityKeyPair,
    path: PathBuf,
    #[cfg(test)]
    fault: tests::FaultSwitch,
}

/// The connection and what this handle knows of the file.
struct Inner {
    connection: Connection,
    database_id: [u8; DATABASE_ID_LEN],
    index_key: IndexKey,
    sealer: Sealer,
    /// The newest version this handle read or wrote of each session and
    /// peer identity: an older one (or none) found later was rolled back
    /// under it.
    seen: HashMap<(Table, [u8; 32]), u64>,
    /// The newest write counter this handle saw.
    counter: u64,
}

/// A session or peer identity as read, with its version.
struct Versioned<T> {
    value: T,
    version: u64,
}

impl SqliteStore {
    /// The schema version this build writes, and the newest it opens
    /// (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: u32 = schema::SCHEMA_VERSION;

    /// The `PRAGMA application_id` of every Sotto store: `"Sott"` in ASCII.
    pub const APPLICATION_ID: u32 = APPLICATION_ID;

    /// The format label that starts every sealed record's associated data.
    pub const STORE_LABEL: &'static [u8] = seal::STORE_LABEL;

    /// The format label of schema version 1's associated data, which the
    /// key check keeps.
    pub const STORE_LABEL_V1: &'static [u8] = seal::STORE_LABEL_V1;

    /// HKDF `info` of the key records are sealed under.
    pub const SEAL_KEY_INFO: &'static [u8] = seal::SEAL_KEY_INFO;

    /// HKDF `info` of the key that blinds addresses into row ids.
    pub const INDEX_KEY_INFO: &'static [u8] = seal::INDEX_KEY_INFO;

    /// HKDF `info` of the key of the digest of the store's rows.
    pub const DIGEST_KEY_INFO: &'static [u8] = seal::DIGEST_KEY_INFO;

    /// The label that starts every row's digest term.
    pub const ROW_TERM_LABEL: &'static [u8] = seal::ROW_TERM_LABEL;

    /// The label that starts the keyed hash in the row id of a recorded
    /// last-resort KEM prekey use.
    pub const KEM_PREKEY_USE_LABEL: &'static [u8] = seal::KEM_PREKEY_USE_LABEL;

    /// The most values sealed under one storage key before every write is
    /// refused ([`SqliteStoreError::SealLimitReached`]) until
    /// [`rekey`](Self::rekey): 2³².
    pub const MAX_SEALS: u64 = MAX_SEALS;

    /// How long a write waits for another connection (another process of
    /// the app, such as a notification extension) to release the database.
    pub const BUSY_TIMEOUT: Duration = BUSY_TIMEOUT;

    /// Creates a store in the file at `path` for the device with `identity`,
    /// sealed under `key`. The file must not exist, or be empty.
    ///
    /// Everything is written in one transaction: interrupted, the file is
    /// left empty and `create` can run again.
    ///
    /// # Errors
    /// [`SqliteStoreError::AlreadyExists`] if the file holds a database
    /// (which is left untouched), [`SqliteStoreError::NotADatabase`] if it
    /// holds something else, [`SqliteStoreError::Database`] if SQLite fails
    /// (a missing directory, say).
    pub fn create(
        path: impl AsRef<Path>,
        key: &StorageKey,
        identity: &IdentityKeyPair,
    ) -> Result<Self, SqliteStoreError> {
        let path = path.as_ref();
        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&connection)?;

        let mut rng = os_rng();
        let mut database_id = [0u8; DATABASE_ID_LEN];
        rng.fill_bytes(&mut database_id);
        let index_key = IndexKey::derive(key, &database_id);
        let sealer = Sealer::new(key, &database_id, &index_key);
        let key_check = sealer.seal_v1(RecordKind::KeyCheck, &[], &[], &mut rng)?;

        let transaction = connection.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        let header = schema::read_header(&transaction)?;
        let objects: i64 =
            transaction.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
        if header.application_id != 0 || header.user_version != 0 || objects != 0 {
            return Err(SqliteStoreError::AlreadyExists);
        }
        transaction.pragma_update(None, "application_id", APPLICATION_ID.cast_signed())?;
        let keys = MigrationKeys { storage_key: key, database_id: &database_id };
        schema::migrate(&transaction, 0, MIGRATIONS, &keys)?;
        let mut insert_meta =
            transaction.prepare("INSERT INTO meta (name, value) VALUES (?1, ?2)")?;
        insert_meta.execute(params![META_DATABASE_ID, &database_id[..]])?;
        insert_meta.execute(params![META_KEY_CHECK, key_check])?;
        drop(insert_meta);
        let mut writer = Writer::begin(&transaction, &sealer)?;
        writer.put(Table::LocalIdentity, &RowId::Only, 0, &identity.to_record_bytes())?;
        let state = writer.finish()?;
        transaction.commit()?;

        use_wal(&connection)?;
        let inner = Inner::new(connection, database_id, index_key, sealer, state.counter);
        Ok(Self::assemble(inner, identity.clone(), path))
    }

    /// Opens the store in the file at `path` with `key`, migrating it to
    /// [`SCHEMA_VERSION`](Self::SCHEMA_VERSION) if an older version of Sotto wrote it.
    ///
    /// Before anything is written, the file's length is checked against its
    /// header and its pages one by one (SQLite's `quick_check`), the storage
    /// key is checked against the key check sealed at creation; migrations
    /// then run in one transaction; then the local identity is loaded and
    /// every row is checked against the sealed digest. These checks read the
    /// whole file: their cost grows with the number of sessions (a few
    /// milliseconds for thousands).
    ///
    /// # Errors
    /// [`SqliteStoreError::WrongStorageKey`] for another key,
    /// [`SqliteStoreError::NotADatabase`] or
    /// [`SqliteStoreError::NotASottoStore`] for a file that is not a Sotto
    /// store, [`SqliteStoreError::Truncated`] or [`SqliteStoreError::Corrupt`]
    /// for a truncated or damaged file, [`SqliteStoreError::Tampered`] if
    /// rows were removed, added or rolled back,
    /// [`SqliteStoreError::CorruptRecord`] or [`SqliteStoreError::Record`]
    /// for a damaged record, [`SqliteStoreError::UnsupportedSchemaVersion`]
    /// for a store written by a newer Sotto, [`SqliteStoreError::Database`]
    /// if SQLite fails (a missing file, say). On error the file is unchanged.
    pub fn open(path: impl AsRef<Path>, key: &StorageKey) -> Result<Self, SqliteStoreError> {
        Self::open_with(path.as_ref(), key, MIGRATIONS, 0)
    }

    /// Opens the store as [`open`](Self::open) does, and also refuses it if
    /// its [`write_counter`](Self::write_counter) is below `anchor`: the
    /// counter the app read earlier and kept outside the file (in the
    /// platform's key store), so that a restored older copy of the whole
    /// file is refused too.
    ///
    /// The anchor is only as fresh as the app keeps it: a file rolled back
    /// to a state after the last anchor the app stored is not detected.
    ///
    /// # Errors
    /// As [`open`](Self::open), and [`SqliteStoreError::RolledBack`] if the
    /// file's counter is below `anchor`.
    pub fn open_anchored(
        path: impl AsRef<Path>,
        key: &StorageKey,
        anchor: u64,
    ) -> Result<Self, SqliteStoreError> {
        Self::open_with(path.as_ref(), key, MIGRATIONS, anchor)
    }

    fn open_with(
        path: &Path,
        key: &StorageKey,
        migrations: &[Migration],
        anchor: u64,
    ) -> Result<Self, SqliteStoreError> {
        let latest = migrations.last().map_or(0, |migration| migration.to);
        schema::check_length(path)?;
        // Without SQLITE_OPEN_CREATE: a missing file is an error, not a new
        // empty database.
        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&connection)?;
        let version = schema::supported_version(&schema::read_header(&connection)?, latest)?;
        schema::quick_check(&connection)?;
        let (database_id, key_check) = schema::read_meta(&connection)?;
        Sealer::new(key, &database_id, &IndexKey::derive(key, &database_id))
            .open_v1(RecordKind::KeyCheck, &[], &key_check)
            .map_err(|_| SqliteStoreError::WrongStorageKey)?;

        if version < latest {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Another process may have migrated it meanwhile.
            let version = schema::supported_version(&schema::read_header(&transaction)?, latest)?;
            let keys = MigrationKeys { storage_key: key, database_id: &database_id };
            schema::migrate(&transaction, version, migrations, &keys)?;
            transaction.commit()?;
        }

        // A consistent snapshot for the checks, even while another process
        // writes.
        let transaction = connection.transaction()?;
        let index_key = schema::read_index_key(&transaction, key, &database_id)?;
        let sealer = Sealer::new(key, &database_id, &index_key);
        let state = StoreState::load(&transaction, &sealer)?;
        if digest_of_rows(&transaction, &sealer, &TABLES)? != state.digest {
            return Err(SqliteStoreError::Tampered {
                detail: "the rows do not match the store's digest".into(),
            });
        }
        if state.counter < anchor {
            return Err(SqliteStoreError::RolledBack { anchor, found: state.counter });
        }
        let identity = load_identity(&transaction, &sealer)?;
        transaction.commit()?;

        use_wal(&connection)?;
        let inner = Inner::new(connection, database_id, index_key, sealer, state.counter);
        Ok(Self::assemble(inner, identity, path))
    }

    fn assemble(inner: Inner, identity: IdentityKeyPair, path: &Path) -> Self {
        Self {
            inner: Mutex::new(inner),
            identity,
            path: path.to_owned(),
            #[cfg(test)]
            fault: tests::FaultSwitch::default(),
        }
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock is held unwinds through the transaction's
        // drop, which rolls it back: the database stays consistent, and the
        // handle's memory of versions only ever grows.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many one-time prekeys are left.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the database failed.
    pub fn one_time_prekey_count(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .inner()
            .connection
            .prepare_cached(COUNT_ONE_TIME_PREKEYS)
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(SqliteStoreError::from)?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// How many KEM prekeys (one-time and last-resort) are stored.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the database failed.
    pub fn kem_prekey_count(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .inner()
            .connection
            .prepare_cached(COUNT_KEM_PREKEYS)
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(SqliteStoreError::from)?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// How many write transactions the store has committed: it grows with
    /// every write. An app that keeps it in the platform's key store (from
    /// time to time, say when it goes to the background) and opens with
    /// [`open_anchored`](Self::open_anchored) detects a file restored to a
    /// copy older than that.
    ///
    /// # Errors
    /// [`SqliteStoreError::WrongStorageKey`] if the store was rekeyed by
    /// another handle, or a database error.
    pub fn write_counter(&self) -> Result<u64, SqliteStoreError> {
        let mut inner = self.inner();
        let state = StoreState::load(&inner.connection, &inner.sealer)?;
        inner.check_counter(&state)?;
        Ok(state.counter)
    }

    /// Re-seals every record under `new_key`, in one transaction: killed at
    /// any point, the store opens afterwards with the old key or with the
    /// new one, with nothing lost. The new key's seal count starts at 0
    /// ([`MAX_SEALS`](Self::MAX_SEALS)). Row ids do not change: the index
    /// key, made when the store was, is kept.
    ///
    /// Rekey while no other handle or process has the store open: one that
    /// does gets [`SqliteStoreError::WrongStorageKey`] at its next access
    /// and must open the store again with the new key. Store the new key in
    /// the platform's key store before calling this, and drop the old one
    /// after it returned.
    ///
    /// # Errors
    /// [`SqliteStoreError::LegacyRows`] if sessions or peer identities sealed
    /// by schema version 1 remain (see
    /// [`upgrade_legacy_rows`](Self::upgrade_legacy_rows)),
    /// [`SqliteStoreError::WrongStorageKey`] if another handle rekeyed it,
    /// or a database error; then nothing changed.
    pub fn rekey(&self, new_key: &StorageKey) -> Result<(), SqliteStoreError> {
        let mut inner = self.inner();
        let Inner { connection, database_id, index_key, sealer, .. } = &mut *inner;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let old_state = StoreState::load(&transaction, sealer)?;
        let legacy: i64 = transaction.query_row(COUNT_LEGACY_ROWS, [], |row| row.get(0))?;
        if legacy > 0 {
            return Err(SqliteStoreError::LegacyRows { count: legacy.unsigned_abs() });
        }
        let new_sealer = Sealer::new(new_key, database_id, index_key);
        let mut rng = os_rng();
        let mut state = StoreState::empty();
        state.counter = old_state.counter.wrapping_add(1);
        for table in TABLES {
            let rows: Vec<(RowId, u64, Vec<u8>)> = {
                let mut statement = transaction.prepare(&table.select_all())?;
                let mut rows = statement.query([])?;
                let mut all = Vec::new();
                while let Some(row) = rows.next()? {
                    let id = RowId::from_column(table, row.get_ref(0)?)?;
                    let version = rows::version_from_sql(row.get(1)?)?;
                    all.push((id, version, row.get(2)?));
                }
                all
            };
            for (id, version, value) in rows {
                let record = sealer.open(table.kind(), &id.term_bytes(), version, &value)?;
                let resealed =
                    new_sealer.seal(table.kind(), &id.term_bytes(), version, &record, &mut rng)?;
                state.count_seals(1)?;
                rows::replace_value(&transaction, table, &id, &resealed)?;
            }
        }
        let key_check = new_sealer.seal_v1(RecordKind::KeyCheck, &[], &[], &mut rng)?;
        let sealed_index_key =
            new_sealer.seal(RecordKind::IndexKey, &[], 0, index_key.as_record(), &mut rng)?;
        state.count_seals(2)?;
        let mut update_meta = transaction.prepare("UPDATE meta SET value = ?1 WHERE name = ?2")?;
        update_meta.execute(params![key_check, META_KEY_CHECK])?;
        update_meta.execute(params![sealed_index_key, rows::META_INDEX_KEY])?;
        drop(update_meta);
        state.digest = digest_of_rows(&transaction, &new_sealer, &TABLES)?;
        state.save(&transaction, &new_sealer)?;
        #[cfg(test)]
        self.fault.point()?;
        transaction.commit()?;
        *sealer = new_sealer;
        inner.counter = state.counter;
        Ok(())
    }

    /// Re-seals, in one transaction, the sessions and peer identities of
    /// `addresses` that are still sealed by schema version 1 (their sealing
    /// names the address, which the file does not hold, so only a caller
    /// that knows the address can re-seal them); returns how many rows it
    /// re-sealed. Any write of a session or identity re-seals it too.
    /// [`rekey`](Self::rekey) needs none left.
    ///
    /// # Errors
    /// A database or record error; then nothing changed.
    pub fn upgrade_legacy_rows(&self, addresses: &[Address]) -> Result<usize, SqliteStoreError> {
        let mut inner = self.inner();
        let Inner { connection, sealer, seen, counter, .. } = &mut *inner;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut writer = Writer::begin(&transaction, sealer)?;
        check_counter(*counter, writer.state())?;
        let mut upgraded = 0;
        for address in addresses {
            let id = sealer.address_id(address);
            let row_id = RowId::Address(id);
            for table in [Table::Sessions, Table::PeerIdentities] {
                let Some(row @ Row { version: None, .. }) = read_row(&transaction, table, &row_id)?
                else {
                    continue;
                };
                let record = sealer.open_v1(table.kind(), &address_row_key(address), &row.value)?;
                let version = match table {
                    Table::Sessions => SessionRecord::from_bytes(&record)
                        .map_err(|source| SqliteStoreError::Record { kind: table.kind(), source })?
                        .generation(),
                    _ => 0,
                };
                writer.put(table, &row_id, version, &record)?;
                seen.entry((table, id)).and_modify(|v| *v = (*v).max(version)).or_insert(version);
                upgraded += 1;
            }
        }
        if upgraded > 0 {
            let state = writer.finish()?;
            transaction.commit()?;
            *counter = state.counter;
        }
        Ok(upgraded)
    }

    /// Runs `write` in one `IMMEDIATE` transaction with a [`Writer`], then
    /// commits; the handle's counter follows.
    fn write<T, E: From<SqliteStoreError>>(
        &self,
        write: impl FnOnce(&mut Writer<'_>, &mut HashMap<(Table, [u8; 32]), u64>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut inner = self.inner();
        begin_immediate(&inner.connection)?;
        let result = self.write_in(&mut inner, write).and_then(|value| {
            inner.connection.execute_batch("COMMIT").map_err(SqliteStoreError::from)?;
            Ok(value)
        });
        if result.is_err() {
            rollback(&inner.connection);
        }
        result
    }

    /// The body of a write, inside a transaction the caller opened and
    /// commits.
    fn write_in<T, E: From<SqliteStoreError>>(
        &self,
        inner: &mut Inner,
        write: impl FnOnce(&mut Writer<'_>, &mut HashMap<(Table, [u8; 32]), u64>) -> Result<T, E>,
    ) -> Result<T, E> {
        let Inner { connection, sealer, seen, counter, .. } = inner;
        let mut writer = Writer::begin(connection, sealer)?;
        check_counter(*counter, writer.state())?;
        let mut staged = seen.clone();
        let value = write(&mut writer, &mut staged)?;
        #[cfg(test)]
        self.fault.point()?;
        let state = writer.finish()?;
        // Taken for good only once the transaction commits: the caller
        // commits next, and a failed commit leaves a counter this handle
        // will see again.
        *counter = state.counter;
        *seen = staged;
        Ok(value)
    }

    fn prekey<T>(
        &self,
        table: Table,
        id: u32,
        decode: impl FnOnce(&[u8]) -> Result<T, RecordError>,
    ) -> Result<Option<T>, SqliteStoreError> {
        let inner = self.inner();
        let Some(row) = read_row(&inner.connection, table, &RowId::Id(id))? else {
            return Ok(None);
        };
        let record = inner.sealer.open(table.kind(), &id.to_be_bytes(), 0, &row.value)?;
        decode(&record)
            .map(Some)
            .map_err(|source| SqliteStoreError::Record { kind: table.kind(), source })
    }

    /// Applies `commits` in one transaction: for each, every check first (a
    /// conflict rolls everything back), then the peer identity, the session,
    /// the removal of the one-time prekeys and one-time KEM prekeys, and the
    /// record of the last-resort KEM prekey uses.
    fn commit_inner(&self, commits: &[StoreCommit]) -> Result<(), CommitError> {
        self.write(|writer, seen| {
            commits.iter().try_for_each(|commit| apply_commit(writer, seen, commit))
        })
    }
}

/// Begins an `IMMEDIATE` transaction, waiting (see [`busy`]) for other
/// writers to finish. A transaction left open by a panic is rolled back
/// first.
fn begin_immediate(connection: &Connection) -> Result<(), SqliteStoreError> {
    if !connection.is_autocommit() {
        rollback(connection);
    }
    connection.execute_batch("BEGIN IMMEDIATE")?;
    Ok(())
}

/// Rolls back the open transaction. Fails only if there is none (SQLite
/// rolls back by itself on some errors): nothing is left to undo.
fn rollback(connection: &Connection) {
    let _ = connection.execute_batch("ROLLBACK");
}

/// The exclusive write transaction of [`ProtocolStore::begin_write`]: the
/// handle's connection, in an `IMMEDIATE` transaction.
struct SqliteWrite<'a> {
    store: &'a SqliteStore,
    inner: MutexGuard<'a, Inner>,
    open: bool,
}

impl WriteTransaction for SqliteWrite<'_> {
    fn load_session(&mut self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        Ok(load_checked_session(&mut self.inner, address)?)
    }

    fn peer_identity(&mut self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        Ok(load_checked_peer_identity(&mut self.inner, address)?)
    }

    fn commit(mut self: Box<Self>, commits: &[StoreCommit]) -> Result<(), StoreError> {
        let store = self.store;
        let result = store.write_in(&mut self.inner, |writer, seen| {
            commits.iter().try_for_each(|commit| apply_commit(writer, seen, commit))
        });
        match result {
            Ok(()) => {
                self.inner.connection.execute_batch("COMMIT").map_err(SqliteStoreError::from)?;
                self.open = false;
                Ok(())
            }
            Err(CommitError::Conflict(address)) => Err(StoreError::Conflict { address }),
            Err(CommitError::Store(error)) => Err(error.into()),
        }
    }
}

impl Drop for SqliteWrite<'_> {
    fn drop(&mut self) {
        if self.open {
            rollback(&self.inner.connection);
        }
    }
}

/// Why a commit failed: a conflict is a [`StoreError::Conflict`], not a
/// database error.
enum CommitError {
    Conflict(Address),
    Store(SqliteStoreError),
}

impl From<SqliteStoreError> for CommitError {
    fn from(error: SqliteStoreError) -> Self {
        Self::Store(error)
    }
}

/// Checks and applies one commit inside `writer`'s transaction.
fn apply_commit(
    writer: &mut Writer<'_>,
    seen: &mut HashMap<(Table, [u8; 32]), u64>,
    commit: &StoreCommit,
) -> Result<(), CommitError> {
    let conflict = || CommitError::Conflict(commit.address.clone());
    let sealer = writer.sealer();
    let id = sealer.address_id(&commit.address);
    let row_id = RowId::Address(id);
    let connection = writer.connection();
    let stored = read_session(connection, sealer, &commit.address)?;
    if stored.as_ref().map(|read| read.version) != commit.expected_generation {
        return Err(conflict());
    }
    let peer = match commit.peer_identity {
        None => None,
        Some(write) => {
            let current = read_peer_identity(connection, sealer, &commit.address)?;
            let version = current.as_ref().map_or(1, |read| read.version.wrapping_add(1));
            match (write, current) {
                (PeerIdentityWrite::FirstUse(identity), Some(read))
                    if read.value.key == identity.key =>
                {
                    None
                }
                (PeerIdentityWrite::FirstUse(_), Some(_)) => return Err(conflict()),
                (write, _) => Some((*write.identity(), version)),
            }
        }
    };
    for prekey in &commit.consumed_one_time_prekeys {
        if read_row(connection, Table::OneTimePreKeys, &RowId::Id((*prekey).into()))?.is_none() {
            return Err(conflict());
        }
    }
    for prekey in &commit.consumed_kem_prekeys {
        if read_row(connection, Table::KemPreKeys, &RowId::Id((*prekey).into()))?.is_none() {
            return Err(conflict());
        }
    }
    let mut uses = Vec::with_capacity(commit.last_resort_uses.len());
    for used in &commit.last_resort_uses {
        let prekey = u32::from(used.kem_prekey);
        let use_row = RowId::Use(sealer.kem_prekey_use_key(prekey, used.base_key.as_bytes()));
        if read_row(connection, Table::KemPreKeys, &RowId::Id(prekey))?.is_none()
            || read_row(connection, Table::KemPreKeyUses, &use_row)?.is_some()
        {
            return Err(conflict());
        }
        uses.push(use_row);
    }

    if let Some((identity, version)) = peer {
        writer.put(Table::PeerIdentities, &row_id, version, &identity.to_record_bytes())?;
        seen.insert((Table::PeerIdentities, id), version);
    }
    let generation = commit.session.generation();
    writer.put(Table::Sessions, &row_id, generation, &commit.session.to_bytes())?;
    seen.insert((Table::Sessions, id), generation);
    for prekey in &commit.consumed_one_time_prekeys {
        writer.delete(Table::OneTimePreKeys, &RowId::Id((*prekey).into()))?;
    }
    for prekey in &commit.consumed_kem_prekeys {
        writer.delete(Table::KemPreKeys, &RowId::Id((*prekey).into()))?;
    }
    for use_row in &uses {
        // An empty record: the row's nonce gives it a term in the digest.
        writer.put(Table::KemPreKeyUses, use_row, 0, &[])?;
    }
    Ok(())
}

/// The identity recorded for `address`, checked against what the handle saw.
fn load_checked_peer_identity(
    inner: &mut Inner,
    address: &Address,
) -> Result<Option<PeerIdentity>, SqliteStoreError> {
    let Inner { connection, sealer, seen, .. } = inner;
    let read = read_peer_identity(connection, sealer, address)?;
    let id = sealer.address_id(address);
    check_seen(seen, Table::PeerIdentities, id, read.as_ref().map(|read| read.version))?;
    Ok(read.map(|read| read.value))
}

/// The session of `address`, checked against what the handle saw.
fn load_checked_session(
    inner: &mut Inner,
    address: &Address,
) -> Result<Option<SessionRecord>, SqliteStoreError> {
    let Inner { connection, sealer, seen, .. } = inner;
    let read = read_session(connection, sealer, address)?;
    let id = sealer.address_id(address);
    check_seen(seen, Table::Sessions, id, read.as_ref().map(|read| read.version))?;
    Ok(read.map(|read| read.value))
}

/// Reads and opens the session of `address`, with its generation.
fn read_session(
    connection: &Connection,
    sealer: &Sealer,
    address: &Address,
) -> Result<Option<Versioned<SessionRecord>>, SqliteStoreError> {
    let kind = RecordKind::Session;
    let Some((row, record)) = read_address_row(connection, sealer, Table::Sessions, address)?
    else {
        return Ok(None);
    };
    let session = SessionRecord::from_bytes(&record)
        .map_err(|source| SqliteStoreError::Record { kind, source })?;
    // A row sealed by version 1 has its generation only in the record.
    let version = row.version.unwrap_or(session.generation());
    if session.generation() != version {
        return Err(SqliteStoreError::CorruptRecord { kind });
    }
    Ok(Some(Versioned { value: session, version }))
}

/// Reads and opens the identity recorded for `address`, with its version.
fn read_peer_identity(
    connection: &Connection,
    sealer: &Sealer,
    address: &Address,
) -> Result<Option<Versioned<PeerIdentity>>, SqliteStoreError> {
    let kind = RecordKind::PeerIdentity;
    let Some((row, record)) = read_address_row(connection, sealer, Table::PeerIdentities, address)?
    else {
        return Ok(None);
    };
    let identity = PeerIdentity::from_record_bytes(&record)
        .map_err(|source| SqliteStoreError::Record { kind, source })?;
    Ok(Some(Versioned { value: identity, version: row.version.unwrap_or(0) }))
}

/// A row as stored, and its opened record.
type OpenedRow = (Row, zeroize::Zeroizing<Vec<u8>>);

/// Reads and opens the row of `address` in `table`.
fn read_address_row(
    connection: &Connection,
    sealer: &Sealer,
    table: Table,
    address: &Address,
) -> Result<Option<OpenedRow>, SqliteStoreError> {
    let id = sealer.address_id(address);
    let Some(row) = read_row(connection, table, &RowId::Address(id))? else {
        return Ok(None);
    };
    let record = match row.version {
        Some(version) => sealer.open(table.kind(), &id, version, &row.value)?,
        None => sealer.open_v1(table.kind(), &address_row_key(address), &row.value)?,
    };
    Ok(Some((row, record)))
}

/// Refuses a row older than one this handle saw (or a missing one it saw),
/// and remembers the version read.
fn check_seen(
    seen: &mut HashMap<(Table, [u8; 32]), u64>,
    table: Table,
    id: [u8; 32],
    found: Option<u64>,
) -> Result<(), SqliteStoreError> {
    let known = seen.get(&(table, id)).copied();
    match (known, found) {
        (Some(known), None) => Err(SqliteStoreError::Tampered {
            detail: format!("a {} row of version {known} is gone", table.kind()),
        }),
        (Some(known), Some(found)) if found < known => Err(SqliteStoreError::Tampered {
            detail: format!("a {} row went back from version {known} to {found}", table.kind()),
        }),
        (_, Some(found)) => {
            seen.insert((table, id), found);
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

/// Refuses a store state older than one this handle saw.
fn check_counter(known: u64, state: &StoreState) -> Result<(), SqliteStoreError> {
    if state.counter < known {
        return Err(SqliteStoreError::Tampered {
            detail: format!("the store went back from write {known} to {}", state.counter),
        });
    }
    Ok(())
}

impl Inner {
    fn new(
        connection: Connection,
        database_id: [u8; DATABASE_ID_LEN],
        index_key: IndexKey,
        sealer: Sealer,
        counter: u64,
    ) -> Self {
        Self { connection, database_id, index_key, sealer, seen: HashMap::new(), counter }
    }

    fn check_counter(&mut self, state: &StoreState) -> Result<(), SqliteStoreError> {
        check_counter(self.counter, state)?;
        self.counter = state.counter;
        Ok(())
    }
}

/// How long a connection waiting for the write lock sleeps between tries.
const BUSY_POLL: Duration = Duration::from_millis(1);

/// The busy handler: tries again every [`BUSY_POLL`] for up to
/// [`BUSY_TIMEOUT`]. SQLite's own handler backs off to 100 ms between
/// tries, which lets a busy writer in another process take the lock again
/// and again before the sleeper wakes; short, even polls give a waiting
/// writer its turn in the gaps.
fn busy(tries: i32) -> bool {
    let limit = BUSY_TIMEOUT.as_millis() / BUSY_POLL.as_millis().max(1);
    if u128::try_from(tries).unwrap_or(u128::MAX) >= limit {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

/// Sets the per-connection options, before anything is read.
fn configure(connection: &Connection) -> Result<(), SqliteStoreError> {
    connection.busy_handler(Some(busy))?;
    // Zero freed pages, so that a removed one-time prekey or an overwritten
    // session state does not linger in the file.
    connection.pragma_update(None, "secure_delete", true)?;
    // A commit is on disk when it returns (see the module documentation).
    connection.pragma_update(None, "synchronous", "FULL")?;
    // Check each b-tree cell's size as it is read: a damaged page is
    // reported as corrupt rather than read past.
    connection.pragma_update(None, "cell_size_check", true)?;
    connection.pragma_update(None, "trusted_schema", false)?;
    Ok(())
}

/// Switches the file to write-ahead logging (persistent; a no-op when it is
/// already in WAL mode). Done after the checks of `open`, as it writes the
/// header.
fn use_wal(connection: &Connection) -> Result<(), SqliteStoreError> {
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(SqliteStoreError::Corrupt { detail: format!("journal mode {mode} instead of wal") })
    }
}

fn load_identity(
    connection: &Connection,
    sealer: &Sealer,
) -> Result<IdentityKeyPair, SqliteStoreError> {
    let kind = RecordKind::LocalIdentity;
    let row = read_row(connection, Table::LocalIdentity, &RowId::Only)?
        .ok_or_else(|| SqliteStoreError::Corrupt { detail: "no local identity".into() })?;
    let record = sealer.open(kind, &[], 0, &row.value)?;
    IdentityKeyPair::from_record_bytes(&record)
        .map_err(|source| SqliteStoreError::Record { kind, source })
}

/// A prekey record holds its own id: it must be the row's.
fn check_id(stored: u32, row: u32) -> Result<(), RecordError> {
    if stored == row { Ok(()) } else { Err(RecordError::InvalidField { field: "id" }) }
}

impl core::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("identity", &self.identity.public())
            .finish_non_exhaustive()
    }
}

impl IdentityStore for SqliteStore {
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError> {
        Ok(Some(self.identity.clone()))
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        Ok(load_checked_peer_identity(&mut self.inner(), address)?)
    }
}

impl SignedPreKeyStore for SqliteStore {
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, StoreError> {
        let id = u32::from(id);
        Ok(self.prekey(Table::SignedPreKeys, id, |record| {
            let prekey = SignedPreKey::from_record_bytes(record)?;
            check_id(u32::from(prekey.id()), id)?;
            Ok(prekey)
        })?)
    }

    fn save_signed_prekey(&self, prekey: &SignedPreKey) -> Result<(), StoreError> {
        let id = RowId::Id(prekey.id().into());
        let record = prekey.to_record_bytes();
        Ok(self.write(|writer, _| writer.put(Table::SignedPreKeys, &id, 0, &record))?)
    }

    fn remove_signed_prekey(&self, id: SignedPreKeyId) -> Result<(), StoreError> {
        let id = RowId::Id(id.into());
        Ok(self.write(|writer, _| writer.delete(Table::SignedPreKeys, &id).map(drop))?)
    }
}

impl OneTimePreKeyStore for SqliteStore {
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, StoreError> {
        let id = u32::from(id);
        Ok(self.prekey(Table::OneTimePreKeys, id, |record| {
            let prekey = OneTimePreKey::from_record_bytes(record)?;
            check_id(u32::from(prekey.id()), id)?;
            Ok(prekey)
        })?)
    }

    fn save_one_time_prekey(&self, prekey: &OneTimePreKey) -> Result<(), StoreError> {
        let id = RowId::Id(prekey.id().into());
        let record = prekey.to_record_bytes();
        Ok(self.write(|writer, _| writer.put(Table::OneTimePreKeys, &id, 0, &record))?)
    }

    fn remove_one_time_prekey(&self, id: OneTimePreKeyId) -> Result<(), StoreError> {
        let id = RowId::Id(id.into());
        Ok(self.write(|writer, _| writer.delete(Table::OneTimePreKeys, &id).map(drop))?)
    }
}

impl KemPreKeyStore for SqliteStore {
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, StoreError> {
        let id = u32::from(id);
        Ok(self.prekey(Table::KemPreKeys, id, |record| {
            let prekey = KemPreKey::from_record_bytes(record)?;
            check_id(u32::from(prekey.id()), id)?;
            Ok(prekey)
        })?)
    }

    fn save_kem_prekey(&self, prekey: &KemPreKey) -> Result<(), StoreError> {
        let id = RowId::Id(prekey.id().into());
        let record = prekey.to_record_bytes();
        Ok(self.write(|writer, _| writer.put(Table::KemPreKeys, &id, 0, &record))?)
    }

    /// Deletes the prekey's row and every row of its recorded uses in one
    /// transaction.
    fn remove_kem_prekey(&self, id: KemPreKeyId) -> Result<(), StoreError> {
        let id = u32::from(id);
        Ok(self.write(|writer, _| {
            writer.delete(Table::KemPreKeys, &RowId::Id(id))?;
            for use_row in kem_prekey_uses_of(writer.connection(), id)? {
                writer.delete(Table::KemPreKeyUses, &use_row)?;
            }
            Ok::<_, SqliteStoreError>(())
        })?)
    }

    /// Reads the use's row and opens its sealed (empty) record.
    fn last_resort_use_recorded(
        &self,
        id: KemPreKeyId,
        base_key: &DhPublicKey,
    ) -> Result<bool, StoreError> {
        let kind = RecordKind::KemPreKeyUse;
        let inner = self.inner();
        let use_key = inner.sealer.kem_prekey_use_key(id.into(), base_key.as_bytes());
        let Some(row) = read_row(&inner.connection, Table::KemPreKeyUses, &RowId::Use(use_key))?
        else {
            return Ok(false);
        };
        if !inner.sealer.open(kind, &use_key, 0, &row.value)?.is_empty() {
            return Err(SqliteStoreError::Record { kind, source: RecordError::Malformed }.into());
        }
        Ok(true)
    }
}

impl SessionStore for SqliteStore {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        Ok(load_checked_session(&mut self.inner(), address)?)
    }
}

impl ProtocolStore for SqliteStore {
    /// Applies `commits` in one SQLite `IMMEDIATE` transaction, checking
    /// each generation inside it: after a crash at any point, the store
    /// holds either all of their writes or none.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] as the trait describes;
    /// [`StoreError::Backend`] if the database failed. Either way nothing
    /// was written.
    fn commit(&self, commits: &[StoreCommit]) -> Result<(), StoreError> {
        if commits.is_empty() {
            return Ok(());
        }
        match self.commit_inner(commits) {
            Ok(()) => Ok(()),
            Err(CommitError::Conflict(address)) => Err(StoreError::Conflict { address }),
            Err(CommitError::Store(error)) => Err(error.into()),
        }
    }

    /// An `IMMEDIATE` transaction on this handle's connection: every other
    /// writer (thread or process) waits until it commits or drops.
    fn begin_write(&self) -> Result<Option<Box<dyn WriteTransaction + '_>>, StoreError> {
        let inner = self.inner();
        begin_immediate(&inner.connection)?;
        Ok(Some(Box::new(SqliteWrite { store: self, inner, open: true })))
    }
}
