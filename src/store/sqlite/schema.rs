//! The schema, its version and its migrations (docs/PROTOCOL.md §11.2, §11.10).
//!
//! A Sotto store is an SQLite database whose `PRAGMA application_id` is
//! [`APPLICATION_ID`] and whose `PRAGMA user_version` is its schema version.
//! Migration `n` takes a database from version `n - 1` to `n`; version 0 is
//! the empty database, so creating a store is migrating it from 0. All the
//! migrations an open needs run in one transaction with the version update:
//! a crash leaves the old version or the new one.
//!
//! Every version keeps the `meta` table and its `database_id` and
//! `key_check` rows as they are, so that any version can check the storage
//! key before it migrates.

use std::io::Read as _;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension as _, Transaction, params};

use super::rows::{META_INDEX_KEY, StoreState, TABLES_V2, digest_of_rows};
use super::seal::{DATABASE_ID_LEN, IndexKey, RecordKind, Sealer};
use super::{SqliteStoreError, StorageKey};
use crate::rng::os_rng;

/// The `application_id` of every Sotto store: `"Sott"` in ASCII.
pub(super) const APPLICATION_ID: u32 = 0x536F_7474;

/// The schema version this build writes, and the newest it opens.
pub(super) const SCHEMA_VERSION: u32 = 3;

/// The `meta` row holding the database's random id.
pub(super) const META_DATABASE_ID: &str = "database_id";

/// The `meta` row holding the key check: an empty record sealed as
/// [`RecordKind::KeyCheck`](super::RecordKind::KeyCheck).
pub(super) const META_KEY_CHECK: &str = "key_check";

/// What a migration may need besides the database: the keys.
pub(super) struct MigrationKeys<'a> {
    pub(super) storage_key: &'a StorageKey,
    pub(super) database_id: &'a [u8; DATABASE_ID_LEN],
}

/// One step of the schema.
#[derive(Clone, Copy)]
pub(super) struct Migration {
    /// The version this step produces.
    pub(super) to: u32,
    /// What it does, inside the migration's transaction.
    pub(super) apply: fn(&Connection, &MigrationKeys<'_>) -> Result<(), SqliteStoreError>,
}

/// The schema of version 1.
const V1: &str = "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT;
CREATE TABLE local_identity (
    id    INTEGER PRIMARY KEY CHECK (id = 0),
    value BLOB NOT NULL
) STRICT;
CREATE TABLE peer_identities (
    address_id BLOB PRIMARY KEY NOT NULL CHECK (length(address_id) = 32),
    value      BLOB NOT NULL
) STRICT;
CREATE TABLE signed_prekeys (
    id    INTEGER PRIMARY KEY CHECK (id BETWEEN 0 AND 4294967295),
    value BLOB NOT NULL
) STRICT;
CREATE TABLE one_time_prekeys (
    id    INTEGER PRIMARY KEY CHECK (id BETWEEN 0 AND 4294967295),
    value BLOB NOT NULL
) STRICT;
CREATE TABLE sessions (
    address_id BLOB PRIMARY KEY NOT NULL CHECK (length(address_id) = 32),
    value      BLOB NOT NULL
) STRICT;
";

/// What version 2 adds to the tables: the version of each row that is
/// rewritten (`NULL` in rows sealed by version 1 and not rewritten since).
const V2: &str = "
ALTER TABLE peer_identities ADD COLUMN version INTEGER CHECK (version >= 0);
ALTER TABLE sessions ADD COLUMN generation INTEGER CHECK (generation >= 0);
";

/// Version 2: rows sealed with their row id and version in the associated
/// data, the index key kept sealed in `meta`, and the store state (write
/// counter, seal count, digest of every row).
///
/// The local identity and the prekeys are re-sealed here. A session or peer
/// identity sealed by version 1 has its address in its associated data,
/// which the file does not hold: it keeps its version 1 sealing (and a
/// `NULL` version) until it is next written, and opens with the address its
/// reader names.
fn migrate_to_v2(
    connection: &Connection,
    keys: &MigrationKeys<'_>,
) -> Result<(), SqliteStoreError> {
    connection.execute_batch(V2)?;
    let index_key = IndexKey::derive(keys.storage_key, keys.database_id);
    let sealer = Sealer::new(keys.storage_key, keys.database_id, &index_key);
    let mut rng = os_rng();
    let mut state = StoreState::empty();
    let sealed_index_key =
        sealer.seal(RecordKind::IndexKey, &[], 0, index_key.as_record(), &mut rng)?;
    state.count_seals(1)?;
    connection.execute(
        "INSERT INTO meta (name, value) VALUES (?1, ?2)",
        params![META_INDEX_KEY, sealed_index_key],
    )?;
    for (table, kind) in [
        ("local_identity", RecordKind::LocalIdentity),
        ("signed_prekeys", RecordKind::SignedPreKey),
        ("one_time_prekeys", RecordKind::OneTimePreKey),
    ] {
        let rows: Vec<(i64, Vec<u8>)> = connection
            .prepare(&format!("SELECT id, value FROM {table}"))?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, value) in rows {
            let row_key = match kind {
                RecordKind::LocalIdentity => Vec::new(),
                _ => u32::try_from(id)
                    .map_err(|_| SqliteStoreError::Corrupt { detail: format!("{table} id {id}") })?
                    .to_be_bytes()
                    .to_vec(),
            };
            let record = sealer.open_v1(kind, &row_key, &value)?;
            let resealed = sealer.seal(kind, &row_key, 0, &record, &mut rng)?;
            state.count_seals(1)?;
            connection.execute(
                &format!("UPDATE {table} SET value = ?1 WHERE id = ?2"),
                params![resealed, id],
            )?;
        }
    }
    state.digest = digest_of_rows(connection, &sealer, &TABLES_V2)?;
    state.save(connection, &sealer)
}

/// What version 3 adds: the KEM prekeys (PQXDH), one sealed
/// `KemPreKeyRecord` per row, and the recorded uses of last-resort KEM
/// prekeys, one sealed empty record per use, keyed by the prekey's id and a
/// keyed hash of the base key that used it.
const V3: &str = "
CREATE TABLE kem_prekeys (
    id    INTEGER PRIMARY KEY CHECK (id BETWEEN 0 AND 4294967295),
    value BLOB NOT NULL
) STRICT;
CREATE TABLE kem_prekey_uses (
    use_key BLOB PRIMARY KEY NOT NULL CHECK (length(use_key) = 36),
    value   BLOB NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE meta_v3 (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO meta_v3 (name, value) SELECT name, value FROM meta;
DROP TABLE meta;
ALTER TABLE meta_v3 RENAME TO meta;
CREATE TABLE peer_identities_v3 (
    address_id BLOB PRIMARY KEY NOT NULL CHECK (length(address_id) = 32),
    value      BLOB NOT NULL,
    version    INTEGER CHECK (version >= 0)
) STRICT, WITHOUT ROWID;
INSERT INTO peer_identities_v3 (address_id, value, version)
    SELECT address_id, value, version FROM peer_identities;
DROP TABLE peer_identities;
ALTER TABLE peer_identities_v3 RENAME TO peer_identities;
CREATE TABLE sessions_v3 (
    address_id BLOB PRIMARY KEY NOT NULL CHECK (length(address_id) = 32),
    value      BLOB NOT NULL,
    generation INTEGER CHECK (generation >= 0)
) STRICT, WITHOUT ROWID;
INSERT INTO sessions_v3 (address_id, value, generation)
    SELECT address_id, value, generation FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v3 RENAME TO sessions;
";

/// Version 3: the two KEM prekey tables, empty; and every table keyed by
/// something other than its row number becomes `WITHOUT ROWID`, so that
/// its primary key is the table's own b-tree rather than a separate index.
/// A lookup and the digest's scan then read the same rows: with an index
/// beside the table, an edit of one index entry hid a session or a peer
/// identity from lookups while the table, and so the digest, still held
/// it (found by the `store_file` fuzz target; `quick_check` does not
/// compare indexes with their tables). The rows move as they are (same
/// values, same versions), so the digest and the write counter stay as
/// they are.
fn migrate_to_v3(connection: &Connection, _: &MigrationKeys<'_>) -> Result<(), SqliteStoreError> {
    Ok(connection.execute_batch(V3)?)
}

/// The migrations, in order: `MIGRATIONS[n - 1].to == n`.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration { to: 1, apply: |connection, _| Ok(connection.execute_batch(V1)?) },
    Migration { to: 2, apply: migrate_to_v2 },
    Migration { to: 3, apply: migrate_to_v3 },
];

/// The schema version and application id found in a file, read without
/// writing.
pub(super) struct Header {
    pub(super) application_id: u32,
    pub(super) user_version: i64,
}

/// Reads the header fields. A file that is not an SQLite database fails
/// here with [`SqliteStoreError::NotADatabase`].
pub(super) fn read_header(connection: &Connection) -> Result<Header, SqliteStoreError> {
    let application_id: i32 =
        connection.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let user_version: i64 =
        connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    Ok(Header { application_id: application_id.cast_unsigned(), user_version })
}

/// The 16 bytes that start every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The length of an SQLite file header.
const SQLITE_HEADER_LEN: usize = 100;

/// Checks, before SQLite reads the file, that it is not shorter than its
/// header says: SQLite would read missing pages as zeros, and
/// [`quick_check`] finds that only if the lost bytes held data.
///
/// The header's page count is used only when SQLite itself trusts it (the
/// change counter at offset 24 equals the one at offset 92) and no
/// write-ahead log is beside the file (a checkpoint interrupted by a crash
/// can leave the file short, and the log completes it).
pub(super) fn check_length(path: &Path) -> Result<(), SqliteStoreError> {
    let io = |error: std::io::Error| {
        SqliteStoreError::Database(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("cannot read {}: {error}", path.display())),
        ))
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let found = file.metadata().map_err(io)?.len();
    let mut header = Vec::with_capacity(SQLITE_HEADER_LEN);
    file.take(SQLITE_HEADER_LEN as u64).read_to_end(&mut header).map_err(io)?;
    if header.is_empty() {
        // An empty file is an empty database: `open` reports it as not a
        // Sotto store.
        return Ok(());
    }
    let magic_len = header.len().min(SQLITE_MAGIC.len());
    if header.get(..magic_len) != SQLITE_MAGIC.get(..magic_len) {
        return Err(SqliteStoreError::NotADatabase);
    }
    let Ok(header) = <[u8; SQLITE_HEADER_LEN]>::try_from(header.as_slice()) else {
        return Err(SqliteStoreError::Truncated { expected: SQLITE_HEADER_LEN as u64, found });
    };
    let field = |offset: usize| {
        header.get(offset..offset + 4).and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
    };
    let page_size = match header.get(16..18) {
        Some([0, 1]) => 65_536,
        Some([high, low]) => u64::from(u16::from_be_bytes([*high, *low])),
        _ => 0,
    };
    let pages = field(28).map_or(0, |bytes| u64::from(u32::from_be_bytes(bytes)));
    let trusted = field(24).is_some() && field(24) == field(92);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let has_wal = std::fs::metadata(&wal).is_ok_and(|metadata| metadata.len() > 0);
    let expected = pages.saturating_mul(page_size);
    if trusted && !has_wal && found < expected {
        return Err(SqliteStoreError::Truncated { expected, found });
    }
    Ok(())
}

/// Runs SQLite's `quick_check` (a scan of every page: finds a truncated file
/// or a damaged b-tree) without writing.
pub(super) fn quick_check(connection: &Connection) -> Result<(), SqliteStoreError> {
    let mut statement = connection.prepare("PRAGMA quick_check")?;
    let findings: Vec<String> =
        statement.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    match findings.as_slice() {
        [only] if only == "ok" => Ok(()),
        _ => Err(SqliteStoreError::Corrupt { detail: findings.join("; ") }),
    }
}

/// The schema version of `header`, if this build can open it.
pub(super) fn supported_version(header: &Header, latest: u32) -> Result<u32, SqliteStoreError> {
    if header.application_id != APPLICATION_ID {
        return Err(SqliteStoreError::NotASottoStore {
            expected: APPLICATION_ID,
            found: header.application_id,
        });
    }
    match u32::try_from(header.user_version) {
        // A store is created in one transaction with its version.
        Ok(0) => Err(SqliteStoreError::Corrupt { detail: "schema version 0".into() }),
        Ok(version) if version <= latest => Ok(version),
        _ => Err(SqliteStoreError::UnsupportedSchemaVersion {
            max: latest,
            found: header.user_version,
        }),
    }
}

/// Takes the database from version `from` to the last of `migrations`,
/// inside `transaction`; returns the new version.
pub(super) fn migrate(
    transaction: &Transaction<'_>,
    from: u32,
    migrations: &[Migration],
    keys: &MigrationKeys<'_>,
) -> Result<u32, SqliteStoreError> {
    let mut version = from;
    for migration in migrations.iter().filter(|migration| migration.to > from) {
        if migration.to != version.saturating_add(1) {
            return Err(SqliteStoreError::Corrupt {
                detail: format!("no migration from schema version {version}"),
            });
        }
        (migration.apply)(transaction, keys)?;
        version = migration.to;
    }
    transaction.pragma_update(None, "user_version", version)?;
    Ok(version)
}

/// Reads the sealed index key from `meta` (schema version 2 and later).
pub(super) fn read_index_key(
    connection: &Connection,
    storage_key: &StorageKey,
    database_id: &[u8; DATABASE_ID_LEN],
) -> Result<IndexKey, SqliteStoreError> {
    let value: Vec<u8> = connection
        .query_row("SELECT value FROM meta WHERE name = ?1", [META_INDEX_KEY], |row| row.get(0))
        .optional()?
        .ok_or_else(|| SqliteStoreError::Corrupt {
            detail: format!("no meta row {META_INDEX_KEY}"),
        })?;
    // Sealed under the seal key alone: any index key opens it.
    let opener = Sealer::new(storage_key, database_id, &IndexKey::derive(storage_key, database_id));
    IndexKey::from_record(&opener.open(RecordKind::IndexKey, &[], 0, &value)?)
}

/// Reads the database id and the key check from `meta`.
pub(super) fn read_meta(
    connection: &Connection,
) -> Result<([u8; DATABASE_ID_LEN], Vec<u8>), SqliteStoreError> {
    let missing = |row: &str| SqliteStoreError::Corrupt { detail: format!("no meta row {row}") };
    let mut statement = connection.prepare("SELECT value FROM meta WHERE name = ?1")?;
    let mut read = |name: &str| -> Result<Vec<u8>, SqliteStoreError> {
        statement.query_row([name], |row| row.get(0)).optional()?.ok_or_else(|| missing(name))
    };
    let database_id = read(META_DATABASE_ID)?;
    let key_check = read(META_KEY_CHECK)?;
    let database_id = database_id.as_slice().try_into().map_err(|_| SqliteStoreError::Corrupt {
        detail: format!("database id of {} bytes", database_id.len()),
    })?;
    Ok((database_id, key_check))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.to as usize, index + 1);
        }
        assert_eq!(MIGRATIONS.last().unwrap().to, SCHEMA_VERSION);
    }

    #[test]
    fn application_id_spells_sott() {
        assert_eq!(&APPLICATION_ID.to_be_bytes(), b"Sott");
    }
}
