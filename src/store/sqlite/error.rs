//! The errors of the SQLite store, and how they reach the store traits.

use rusqlite::ErrorCode;

use super::RecordKind;
use crate::record::RecordError;
use crate::store::StoreError;

/// Why the SQLite store could not create, open, migrate, read or write a
/// database. Whatever the error at [`create`](super::SqliteStore::create) or
/// [`open`](super::SqliteStore::open), the file was not changed.
///
/// Through the store traits it arrives as a [`StoreError`]: a
/// [`Record`](Self::Record) error as [`StoreError::Corrupt`], every other as
/// [`StoreError::Backend`] (downcast it to this type to match).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteStoreError {
    /// [`create`](super::SqliteStore::create) found a database already in
    /// the file; it refuses to overwrite one.
    #[error("the file already holds a database; refusing to overwrite it")]
    AlreadyExists,
    /// The file is not an SQLite database, or its header is damaged.
    #[error("the file is not an SQLite database (or its header is damaged)")]
    NotADatabase,
    /// The file is an SQLite database, but not a Sotto store (its
    /// `application_id` is not [`SqliteStore::APPLICATION_ID`](super::SqliteStore::APPLICATION_ID)).
    #[error(
        "the database is not a Sotto store (application id {found:#010x}, expected {expected:#010x})"
    )]
    NotASottoStore {
        /// [`SqliteStore::APPLICATION_ID`](super::SqliteStore::APPLICATION_ID).
        expected: u32,
        /// The file's application id (0 for a plain or empty database).
        found: u32,
    },
    /// The storage key does not open this store: it is not the key the
    /// store was created with (or the `meta` table was altered).
    #[error("the storage key does not open this store")]
    WrongStorageKey,
    /// The store was written by a newer version of Sotto, with a schema
    /// this build does not know.
    #[error("schema version {found} is not supported (this build reads up to {max})")]
    UnsupportedSchemaVersion {
        /// The newest schema version this build reads
        /// ([`SqliteStore::SCHEMA_VERSION`](super::SqliteStore::SCHEMA_VERSION)).
        max: u32,
        /// The version in the file.
        found: i64,
    },
    /// The database file is shorter than its header says.
    #[error("the database file is truncated: {found} bytes, its header says {expected}")]
    Truncated {
        /// The length the header implies (page count × page size).
        expected: u64,
        /// The file's length.
        found: u64,
    },
    /// The database file is damaged: a page overwritten or cut short, or a
    /// table or row Sotto needs is missing.
    #[error("the database is corrupt: {detail}")]
    Corrupt {
        /// What was found wrong.
        detail: String,
    },
    /// A stored value failed authentication: it was altered, moved from
    /// another row, table or database, or is too short to be a sealed value.
    #[error("a stored {kind} record failed authentication")]
    CorruptRecord {
        /// The kind of record.
        kind: RecordKind,
    },
    /// A stored value authenticated, but the record in it cannot be loaded
    /// (written by a newer record version, say).
    #[error("a stored {kind} record cannot be loaded: {source}")]
    Record {
        /// The kind of record.
        kind: RecordKind,
        /// Why it cannot be loaded.
        #[source]
        source: RecordError,
    },
    /// A record to store is larger than any record Sotto loads.
    #[error("a {kind} record of {found} bytes is over the limit of {max}")]
    RecordTooLarge {
        /// The kind of record.
        kind: RecordKind,
        /// The limit ([`MAX_RECORD_LEN`](crate::protocol::MAX_RECORD_LEN)).
        max: usize,
        /// The record's length.
        found: usize,
    },
    /// Rows of the file were removed, added, or rolled back one by one to an
    /// older copy, by someone without the storage key: they do not match the
    /// store's sealed digest, or this handle saw a newer version of a row or
    /// of the whole store than the one now in the file. The store is not
    /// used: treat its device storage as compromised.
    #[error("the store was tampered with: {detail}")]
    Tampered {
        /// What was found.
        detail: String,
    },
    /// [`open_anchored`](super::SqliteStore::open_anchored): the file's
    /// write counter is below the anchor the app kept: the whole file was
    /// restored to an older copy of itself.
    #[error("the store was rolled back: its write counter is {found}, the anchor {anchor}")]
    RolledBack {
        /// The counter the app kept.
        anchor: u64,
        /// The file's counter.
        found: u64,
    },
    /// [`SqliteStore::MAX_SEALS`](super::SqliteStore::MAX_SEALS) values were
    /// sealed under the storage key: writes are refused until
    /// [`rekey`](super::SqliteStore::rekey) seals under a new one.
    #[error("{max} values were sealed under this storage key; rekey the store")]
    SealLimitReached {
        /// The limit.
        max: u64,
    },
    /// [`rekey`](super::SqliteStore::rekey) found sessions or peer identities
    /// still sealed by schema version 1, which only
    /// [`upgrade_legacy_rows`](super::SqliteStore::upgrade_legacy_rows), given
    /// their addresses, can re-seal.
    #[error("{count} rows are still sealed by schema version 1")]
    LegacyRows {
        /// How many.
        count: u64,
    },
    /// A storage key of the wrong length was given.
    #[error("a storage key is {expected} bytes, not {found}")]
    StorageKeyLength {
        /// [`StorageKey::LEN`](super::StorageKey::LEN).
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// SQLite failed (I/O, a locked database, a full disk…).
    #[error("the database failed: {0}")]
    Database(#[source] rusqlite::Error),
}

impl From<rusqlite::Error> for SqliteStoreError {
    /// Sorts SQLite's "not a database" and "corrupt" results, and values of
    /// the wrong type (which a `STRICT` table cannot hold unless the file was
    /// altered), into their own variants.
    fn from(error: rusqlite::Error) -> Self {
        if matches!(
            error,
            rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::FromSqlConversionFailure(..)
        ) {
            return Self::Corrupt { detail: error.to_string() };
        }
        match error.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => Self::NotADatabase,
            Some(ErrorCode::DatabaseCorrupt) => Self::Corrupt { detail: error.to_string() },
            _ => Self::Database(error),
        }
    }
}

impl From<SqliteStoreError> for StoreError {
    fn from(error: SqliteStoreError) -> Self {
        match error {
            SqliteStoreError::Record { source, .. } => Self::Corrupt(source),
            other => Self::backend(other),
        }
    }
}
