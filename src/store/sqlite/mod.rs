//! A persistent store on SQLite, every record sealed at rest: the SDK's
//! default store for native apps (cargo feature `sqlite`, on by default).
//!
//! [`SqliteStore`] implements every store trait over one SQLite database
//! file (SQLite is compiled in; no system library is needed). Each record
//! is sealed with ChaCha20-Poly1305 under a key derived from the app's
//! [`StorageKey`], with the record's kind and row bound into the associated
//! data; addresses appear in the file only as keyed hashes. A
//! [`StoreCommit`] is applied in one transaction. The format (tables,
//! associated data as bytes, nonces, key check, versions, migrations) is
//! specified in `docs/PROTOCOL.md` §11.
//!
//! [`SqliteStore`] documents its use, its protections and its limits.

mod error;
mod key;
mod schema;
mod seal;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand_core::Rng as _;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};

pub use error::SqliteStoreError;
pub use key::StorageKey;
pub use seal::RecordKind;

use schema::{APPLICATION_ID, META_DATABASE_ID, META_KEY_CHECK, MIGRATIONS, Migration};
use seal::{DATABASE_ID_LEN, Sealer, address_row_key, id_row_key};

use super::{
    IdentityStore, OneTimePreKeyStore, PeerIdentity, ProtocolStore, SessionStore,
    SignedPreKeyStore, StoreCommit, StoreError,
};
use crate::keys::{IdentityKeyPair, OneTimePreKey, OneTimePreKeyId, SignedPreKey, SignedPreKeyId};
use crate::record::RecordError;
use crate::rng::os_rng;
use crate::session::{Address, SessionRecord};

/// How long a write waits for another connection (another process of the
/// app, such as a notification extension) to release the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SELECT_LOCAL_IDENTITY: &str = "SELECT value FROM local_identity WHERE id = 0";
const SELECT_PEER_IDENTITY: &str = "SELECT value FROM peer_identities WHERE address_id = ?1";
const UPSERT_PEER_IDENTITY: &str = "INSERT INTO peer_identities (address_id, value) VALUES (?1, ?2) \
     ON CONFLICT (address_id) DO UPDATE SET value = excluded.value";
const SELECT_SIGNED_PREKEY: &str = "SELECT value FROM signed_prekeys WHERE id = ?1";
const UPSERT_SIGNED_PREKEY: &str = "INSERT INTO signed_prekeys (id, value) VALUES (?1, ?2) \
     ON CONFLICT (id) DO UPDATE SET value = excluded.value";
const DELETE_SIGNED_PREKEY: &str = "DELETE FROM signed_prekeys WHERE id = ?1";
const SELECT_ONE_TIME_PREKEY: &str = "SELECT value FROM one_time_prekeys WHERE id = ?1";
const UPSERT_ONE_TIME_PREKEY: &str = "INSERT INTO one_time_prekeys (id, value) VALUES (?1, ?2) \
     ON CONFLICT (id) DO UPDATE SET value = excluded.value";
const DELETE_ONE_TIME_PREKEY: &str = "DELETE FROM one_time_prekeys WHERE id = ?1";
const COUNT_ONE_TIME_PREKEYS: &str = "SELECT count(*) FROM one_time_prekeys";
const SELECT_SESSION: &str = "SELECT value FROM sessions WHERE address_id = ?1";
const UPSERT_SESSION: &str = "INSERT INTO sessions (address_id, value) VALUES (?1, ?2) \
     ON CONFLICT (address_id) DO UPDATE SET value = excluded.value";

/// Every store trait on one SQLite database file, each record sealed with
/// ChaCha20-Poly1305 under a key derived from the app's [`StorageKey`], with
/// its kind and row bound into the associated data; addresses appear in the
/// file only as keyed hashes, and a [`StoreCommit`] is applied in one
/// transaction. The exact format is `docs/PROTOCOL.md` §11.
///
/// One connection serves all calls, behind a lock; the store is `Send +
/// Sync`. Several processes may open the same file: SQLite serialises their
/// writes (waiting up to [`BUSY_TIMEOUT`](Self::BUSY_TIMEOUT)). The local
/// identity is loaded at open and kept in memory (wiped when dropped).
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
/// key yields no secret, no peer identity key and no account id; it shows
/// how many sessions, peers and prekeys there are, the prekey ids (which
/// are public anyway) and the sizes of the records. A value altered, or
/// moved to another row, table or database, is refused when it is read.
///
/// **Warning:** the file cannot detect being rolled back as a whole to an
/// older copy of itself. Restoring an old copy makes the device reuse
/// message keys it already used and accept messages again that it already
/// handled; restore session state from a backup only if the app can
/// tolerate that, or discard sessions on restore.
///
/// SQLite is configured with `secure_delete` (freed pages are zeroed) and
/// `synchronous = FULL` in WAL mode (a commit is durable when it returns, so
/// that a message key is never reused after a power loss); an older page
/// may persist in the `-wal` file until the next checkpoint overwrites it,
/// sealed like every other.
pub struct SqliteStore {
    connection: Mutex<Connection>,
    sealer: Sealer,
    identity: IdentityKeyPair,
    path: PathBuf,
    #[cfg(test)]
    fault: tests::FaultSwitch,
}

impl SqliteStore {
    /// The schema version this build writes, and the newest it opens
    /// (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: u32 = schema::SCHEMA_VERSION;

    /// The `PRAGMA application_id` of every Sotto store: `"Sott"` in ASCII.
    pub const APPLICATION_ID: u32 = APPLICATION_ID;

    /// The format label that starts every sealed record's associated data.
    pub const STORE_LABEL: &'static [u8] = seal::STORE_LABEL;

    /// HKDF `info` of the key records are sealed under.
    pub const SEAL_KEY_INFO: &'static [u8] = seal::SEAL_KEY_INFO;

    /// HKDF `info` of the key that blinds addresses into row ids.
    pub const INDEX_KEY_INFO: &'static [u8] = seal::INDEX_KEY_INFO;

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
        let sealer = Sealer::new(key, &database_id);
        let key_check = sealer.seal(RecordKind::KeyCheck, &[], &[], &mut rng)?;
        let identity_value =
            sealer.seal(RecordKind::LocalIdentity, &[], &identity.to_record_bytes(), &mut rng)?;

        let transaction = connection.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        let header = schema::read_header(&transaction)?;
        let objects: i64 =
            transaction.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
        if header.application_id != 0 || header.user_version != 0 || objects != 0 {
            return Err(SqliteStoreError::AlreadyExists);
        }
        transaction.pragma_update(None, "application_id", APPLICATION_ID.cast_signed())?;
        schema::migrate(&transaction, 0, MIGRATIONS)?;
        let mut insert_meta =
            transaction.prepare("INSERT INTO meta (name, value) VALUES (?1, ?2)")?;
        insert_meta.execute(params![META_DATABASE_ID, &database_id[..]])?;
        insert_meta.execute(params![META_KEY_CHECK, key_check])?;
        drop(insert_meta);
        transaction.execute(
            "INSERT INTO local_identity (id, value) VALUES (0, ?1)",
            params![identity_value],
        )?;
        transaction.commit()?;

        use_wal(&connection)?;
        Ok(Self::assemble(connection, sealer, identity.clone(), path))
    }

    /// Opens the store in the file at `path` with `key`, migrating it to
    /// [`SCHEMA_VERSION`](Self::SCHEMA_VERSION) if an older version of Sotto wrote it.
    ///
    /// Before anything is written, the file's length is checked against its
    /// header and its pages one by one (SQLite's `quick_check`), the storage key is checked against the key check
    /// sealed at creation, and the local identity is loaded; migrations then
    /// run in one transaction. The page check reads the whole file: its cost
    /// grows with the number of sessions (a few milliseconds for thousands).
    ///
    /// # Errors
    /// [`SqliteStoreError::WrongStorageKey`] for another key,
    /// [`SqliteStoreError::NotADatabase`] or
    /// [`SqliteStoreError::NotASottoStore`] for a file that is not a Sotto
    /// store, [`SqliteStoreError::Truncated`] or [`SqliteStoreError::Corrupt`]
    /// for a truncated or damaged file,
    /// [`SqliteStoreError::CorruptRecord`] or [`SqliteStoreError::Record`]
    /// for a damaged identity record,
    /// [`SqliteStoreError::UnsupportedSchemaVersion`] for a store written by
    /// a newer Sotto, [`SqliteStoreError::Database`] if SQLite fails (a
    /// missing file, say). On error the file is unchanged.
    pub fn open(path: impl AsRef<Path>, key: &StorageKey) -> Result<Self, SqliteStoreError> {
        Self::open_with(path.as_ref(), key, MIGRATIONS)
    }

    fn open_with(
        path: &Path,
        key: &StorageKey,
        migrations: &[Migration],
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
        let sealer = Sealer::new(key, &database_id);
        sealer
            .open(RecordKind::KeyCheck, &[], &key_check)
            .map_err(|_| SqliteStoreError::WrongStorageKey)?;

        let identity = if version < latest {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Another process may have migrated it meanwhile.
            let version = schema::supported_version(&schema::read_header(&transaction)?, latest)?;
            schema::migrate(&transaction, version, migrations)?;
            let identity = load_identity(&transaction, &sealer)?;
            transaction.commit()?;
            identity
        } else {
            load_identity(&connection, &sealer)?
        };
        use_wal(&connection)?;
        Ok(Self::assemble(connection, sealer, identity, path))
    }

    fn assemble(
        connection: Connection,
        sealer: Sealer,
        identity: IdentityKeyPair,
        path: &Path,
    ) -> Self {
        Self {
            connection: Mutex::new(connection),
            sealer,
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

    /// How many one-time prekeys are left.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the database failed.
    pub fn one_time_prekey_count(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .connection()
            .prepare_cached(COUNT_ONE_TIME_PREKEYS)
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(SqliteStoreError::from)?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock is held unwinds through the transaction's
        // drop, which rolls it back: the database stays consistent.
        self.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The row key and the blinded row id of `address`.
    fn address_row(&self, address: &Address) -> (Vec<u8>, [u8; 32]) {
        let row_key = address_row_key(address);
        let id = self.sealer.address_id(address);
        (row_key, id)
    }

    /// Reads the value of one row, `None` if there is none.
    fn read_value(
        &self,
        sql: &str,
        row_id: impl rusqlite::ToSql,
    ) -> Result<Option<Vec<u8>>, SqliteStoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(sql)?;
        Ok(statement.query_row([row_id], |row| row.get(0)).optional()?)
    }

    /// Writes (or removes, with `value` = `None`) one row.
    fn write_value(
        &self,
        sql: &str,
        row_id: impl rusqlite::ToSql,
        value: Option<&[u8]>,
    ) -> Result<(), SqliteStoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(sql)?;
        match value {
            Some(value) => statement.execute(params![row_id, value])?,
            None => statement.execute([row_id])?,
        };
        Ok(())
    }

    /// Opens `value` as a record of `kind` at `row_key` and loads it.
    fn load<T>(
        &self,
        kind: RecordKind,
        row_key: &[u8],
        value: Option<Vec<u8>>,
        decode: impl FnOnce(&[u8]) -> Result<T, RecordError>,
    ) -> Result<Option<T>, SqliteStoreError> {
        value
            .map(|value| {
                let record = self.sealer.open(kind, row_key, &value)?;
                decode(&record).map_err(|source| SqliteStoreError::Record { kind, source })
            })
            .transpose()
    }

    fn seal(
        &self,
        kind: RecordKind,
        row_key: &[u8],
        record: &[u8],
    ) -> Result<Vec<u8>, SqliteStoreError> {
        self.sealer.seal(kind, row_key, record, &mut os_rng())
    }

    fn peer_identity_inner(
        &self,
        address: &Address,
    ) -> Result<Option<PeerIdentity>, SqliteStoreError> {
        let (row_key, id) = self.address_row(address);
        let value = self.read_value(SELECT_PEER_IDENTITY, &id[..])?;
        self.load(RecordKind::PeerIdentity, &row_key, value, PeerIdentity::from_record_bytes)
    }

    fn save_peer_identity_inner(
        &self,
        address: &Address,
        identity: &PeerIdentity,
    ) -> Result<(), SqliteStoreError> {
        let (row_key, id) = self.address_row(address);
        let value = self.seal(RecordKind::PeerIdentity, &row_key, &identity.to_record_bytes())?;
        self.write_value(UPSERT_PEER_IDENTITY, &id[..], Some(&value))
    }

    fn signed_prekey_inner(
        &self,
        id: SignedPreKeyId,
    ) -> Result<Option<SignedPreKey>, SqliteStoreError> {
        let id = u32::from(id);
        let value = self.read_value(SELECT_SIGNED_PREKEY, id)?;
        self.load(RecordKind::SignedPreKey, &id_row_key(id), value, |record| {
            let prekey = SignedPreKey::from_record_bytes(record)?;
            check_id(u32::from(prekey.id()), id)?;
            Ok(prekey)
        })
    }

    fn save_signed_prekey_inner(&self, prekey: &SignedPreKey) -> Result<(), SqliteStoreError> {
        let id = u32::from(prekey.id());
        let value =
            self.seal(RecordKind::SignedPreKey, &id_row_key(id), &prekey.to_record_bytes())?;
        self.write_value(UPSERT_SIGNED_PREKEY, id, Some(&value))
    }

    fn one_time_prekey_inner(
        &self,
        id: OneTimePreKeyId,
    ) -> Result<Option<OneTimePreKey>, SqliteStoreError> {
        let id = u32::from(id);
        let value = self.read_value(SELECT_ONE_TIME_PREKEY, id)?;
        self.load(RecordKind::OneTimePreKey, &id_row_key(id), value, |record| {
            let prekey = OneTimePreKey::from_record_bytes(record)?;
            check_id(u32::from(prekey.id()), id)?;
            Ok(prekey)
        })
    }

    fn save_one_time_prekey_inner(&self, prekey: &OneTimePreKey) -> Result<(), SqliteStoreError> {
        let id = u32::from(prekey.id());
        let value =
            self.seal(RecordKind::OneTimePreKey, &id_row_key(id), &prekey.to_record_bytes())?;
        self.write_value(UPSERT_ONE_TIME_PREKEY, id, Some(&value))
    }

    fn load_session_inner(
        &self,
        address: &Address,
    ) -> Result<Option<SessionRecord>, SqliteStoreError> {
        let (row_key, id) = self.address_row(address);
        let value = self.read_value(SELECT_SESSION, &id[..])?;
        self.load(RecordKind::Session, &row_key, value, SessionRecord::from_bytes)
    }

    fn store_session_inner(
        &self,
        address: &Address,
        record: &SessionRecord,
    ) -> Result<(), SqliteStoreError> {
        let (row_key, id) = self.address_row(address);
        let value = self.seal(RecordKind::Session, &row_key, &record.to_bytes())?;
        self.write_value(UPSERT_SESSION, &id[..], Some(&value))
    }

    /// Seals everything first, then writes it in one transaction: the peer
    /// identity, the session, the removal of the one-time prekey.
    fn commit_inner(&self, commit: &StoreCommit) -> Result<(), SqliteStoreError> {
        let (row_key, id) = self.address_row(&commit.address);
        let peer_identity = commit
            .new_peer_identity
            .map(|identity| {
                self.seal(RecordKind::PeerIdentity, &row_key, &identity.to_record_bytes())
            })
            .transpose()?;
        let session = self.seal(RecordKind::Session, &row_key, &commit.session.to_bytes())?;

        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(value) = peer_identity {
            transaction.prepare_cached(UPSERT_PEER_IDENTITY)?.execute(params![&id[..], value])?;
        }
        transaction.prepare_cached(UPSERT_SESSION)?.execute(params![&id[..], session])?;
        #[cfg(test)]
        self.fault.point()?;
        if let Some(prekey) = commit.consumed_one_time_prekey {
            transaction.prepare_cached(DELETE_ONE_TIME_PREKEY)?.execute([u32::from(prekey)])?;
        }
        transaction.commit()?;
        Ok(())
    }
}

/// Sets the per-connection options, before anything is read.
fn configure(connection: &Connection) -> Result<(), SqliteStoreError> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
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
    let value: Vec<u8> = connection
        .query_row(SELECT_LOCAL_IDENTITY, [], |row| row.get(0))
        .optional()?
        .ok_or_else(|| SqliteStoreError::Corrupt { detail: "no local identity".into() })?;
    let kind = RecordKind::LocalIdentity;
    let record = sealer.open(kind, &[], &value)?;
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
        Ok(self.peer_identity_inner(address)?)
    }

    fn save_peer_identity(
        &self,
        address: &Address,
        identity: &PeerIdentity,
    ) -> Result<(), StoreError> {
        Ok(self.save_peer_identity_inner(address, identity)?)
    }
}

impl SignedPreKeyStore for SqliteStore {
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, StoreError> {
        Ok(self.signed_prekey_inner(id)?)
    }

    fn save_signed_prekey(&self, prekey: &SignedPreKey) -> Result<(), StoreError> {
        Ok(self.save_signed_prekey_inner(prekey)?)
    }

    fn remove_signed_prekey(&self, id: SignedPreKeyId) -> Result<(), StoreError> {
        Ok(self.write_value(DELETE_SIGNED_PREKEY, u32::from(id), None)?)
    }
}

impl OneTimePreKeyStore for SqliteStore {
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, StoreError> {
        Ok(self.one_time_prekey_inner(id)?)
    }

    fn save_one_time_prekey(&self, prekey: &OneTimePreKey) -> Result<(), StoreError> {
        Ok(self.save_one_time_prekey_inner(prekey)?)
    }

    fn remove_one_time_prekey(&self, id: OneTimePreKeyId) -> Result<(), StoreError> {
        Ok(self.write_value(DELETE_ONE_TIME_PREKEY, u32::from(id), None)?)
    }
}

impl SessionStore for SqliteStore {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.load_session_inner(address)?)
    }

    fn store_session(&self, address: &Address, record: &SessionRecord) -> Result<(), StoreError> {
        Ok(self.store_session_inner(address, record)?)
    }
}

impl ProtocolStore for SqliteStore {
    /// Applies `commit` in one SQLite transaction: after a crash at any
    /// point, the store holds either all of its writes or none.
    ///
    /// # Errors
    /// [`StoreError`] if the database failed; then nothing was written.
    fn commit(&self, commit: &StoreCommit) -> Result<(), StoreError> {
        Ok(self.commit_inner(commit)?)
    }
}
