//! The store's rows and its state (docs/PROTOCOL.md §11.2, §11.5): every
//! write goes through one [`Writer`], which keeps the sealed
//! [`StoreState`] (write counter, seal count, digest of every row) in step
//! with the rows inside the same transaction.

use rusqlite::{Connection, OptionalExtension as _, ToSql, params};

use super::SqliteStoreError;
use super::seal::{DIGEST_LEN, KEM_PREKEY_USE_KEY_LEN, RecordKind, Sealer, nonce_of};
use crate::proto::storage::StoreStateRecord;
use crate::protocol::RECORD_VERSION;
use crate::record;
use crate::rng::os_rng;

/// The most values sealed under one seal key (docs/PROTOCOL.md §11.6): with
/// random 96-bit nonces, the chance that two of them share a nonce stays
/// below 2⁻³³. Past it every write is refused until
/// [`rekey`](super::SqliteStore::rekey).
pub(super) const MAX_SEALS: u64 = 1 << 32;

/// The `meta` row holding the sealed [`StoreState`].
pub(super) const META_STATE: &str = "store_state";

/// The `meta` row holding the sealed index key.
pub(super) const META_INDEX_KEY: &str = "index_key";

/// A table of sealed rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Table {
    LocalIdentity,
    PeerIdentities,
    SignedPreKeys,
    OneTimePreKeys,
    Sessions,
    KemPreKeys,
    KemPreKeyUses,
}

/// Every table of sealed rows, in the order the digest is documented.
pub(super) const TABLES: [Table; 7] = [
    Table::LocalIdentity,
    Table::PeerIdentities,
    Table::SignedPreKeys,
    Table::OneTimePreKeys,
    Table::Sessions,
    Table::KemPreKeys,
    Table::KemPreKeyUses,
];

/// The tables of schema version 2, whose digest its migration computes
/// (version 3 adds the KEM prekey tables, empty).
pub(super) const TABLES_V2: [Table; 5] = [
    Table::LocalIdentity,
    Table::PeerIdentities,
    Table::SignedPreKeys,
    Table::OneTimePreKeys,
    Table::Sessions,
];

impl Table {
    pub(super) fn kind(self) -> RecordKind {
        match self {
            Self::LocalIdentity => RecordKind::LocalIdentity,
            Self::PeerIdentities => RecordKind::PeerIdentity,
            Self::SignedPreKeys => RecordKind::SignedPreKey,
            Self::OneTimePreKeys => RecordKind::OneTimePreKey,
            Self::Sessions => RecordKind::Session,
            Self::KemPreKeys => RecordKind::KemPreKey,
            Self::KemPreKeyUses => RecordKind::KemPreKeyUse,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::LocalIdentity => "local_identity",
            Self::PeerIdentities => "peer_identities",
            Self::SignedPreKeys => "signed_prekeys",
            Self::OneTimePreKeys => "one_time_prekeys",
            Self::Sessions => "sessions",
            Self::KemPreKeys => "kem_prekeys",
            Self::KemPreKeyUses => "kem_prekey_uses",
        }
    }

    fn id_column(self) -> &'static str {
        match self {
            Self::PeerIdentities | Self::Sessions => "address_id",
            Self::KemPreKeyUses => "use_key",
            Self::LocalIdentity | Self::SignedPreKeys | Self::OneTimePreKeys | Self::KemPreKeys => {
                "id"
            }
        }
    }

    /// The column holding the row's version, if the table has one (rows of
    /// the others are written once and have version 0).
    fn version_column(self) -> Option<&'static str> {
        match self {
            Self::PeerIdentities => Some("version"),
            Self::Sessions => Some("generation"),
            Self::LocalIdentity
            | Self::SignedPreKeys
            | Self::OneTimePreKeys
            | Self::KemPreKeys
            | Self::KemPreKeyUses => None,
        }
    }

    /// `SELECT id, version, value` over the whole table.
    pub(super) fn select_all(self) -> String {
        let version = self.version_column().unwrap_or("0");
        format!("SELECT {}, {version}, value FROM {}", self.id_column(), self.name())
    }

    fn select_one(self) -> String {
        let version = self.version_column().unwrap_or("0");
        format!("SELECT {version}, value FROM {} WHERE {} = ?1", self.name(), self.id_column())
    }

    fn upsert(self) -> String {
        let (id, table) = (self.id_column(), self.name());
        match self.version_column() {
            Some(version) => format!(
                "INSERT INTO {table} ({id}, {version}, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT ({id}) DO UPDATE SET {version} = excluded.{version}, value = excluded.value"
            ),
            None => format!(
                "INSERT INTO {table} ({id}, value) VALUES (?1, ?3) \
                 ON CONFLICT ({id}) DO UPDATE SET value = excluded.value"
            ),
        }
    }

    fn update_value(self) -> String {
        format!("UPDATE {} SET value = ?1 WHERE {} = ?2", self.name(), self.id_column())
    }

    fn delete(self) -> String {
        format!("DELETE FROM {} WHERE {} = ?1", self.name(), self.id_column())
    }
}

/// The primary key of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum RowId {
    /// `local_identity`: the one row, id 0.
    Only,
    /// A prekey id.
    Id(u32),
    /// An address's blinded id.
    Address([u8; 32]),
    /// A KEM prekey use: the prekey id, then the blinded use
    /// ([`Sealer::kem_prekey_use_key`]).
    Use([u8; KEM_PREKEY_USE_KEY_LEN]),
}

impl RowId {
    /// The bytes a sealed value's associated data and a digest term name
    /// the row by: empty, the id as a big-endian `u32`, the 32-byte address
    /// id, or the 36-byte use key.
    pub(super) fn term_bytes(&self) -> Vec<u8> {
        match self {
            Self::Only => Vec::new(),
            Self::Id(id) => id.to_be_bytes().to_vec(),
            Self::Address(id) => id.to_vec(),
            Self::Use(key) => key.to_vec(),
        }
    }

    /// The row id as SQLite returned it from `table`.
    pub(super) fn from_column(
        table: Table,
        value: rusqlite::types::ValueRef<'_>,
    ) -> Result<Self, SqliteStoreError> {
        let corrupt =
            || SqliteStoreError::Corrupt { detail: format!("a row id of {}", table.name()) };
        match (table, value) {
            (Table::LocalIdentity, rusqlite::types::ValueRef::Integer(0)) => Ok(Self::Only),
            (
                Table::SignedPreKeys | Table::OneTimePreKeys | Table::KemPreKeys,
                rusqlite::types::ValueRef::Integer(id),
            ) => Ok(Self::Id(u32::try_from(id).map_err(|_| corrupt())?)),
            (Table::PeerIdentities | Table::Sessions, rusqlite::types::ValueRef::Blob(id)) => {
                Ok(Self::Address(id.try_into().map_err(|_| corrupt())?))
            }
            (Table::KemPreKeyUses, rusqlite::types::ValueRef::Blob(key)) => {
                Ok(Self::Use(key.try_into().map_err(|_| corrupt())?))
            }
            _ => Err(corrupt()),
        }
    }
}

impl ToSql for RowId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Only => 0i64.to_sql(),
            Self::Id(id) => id.to_sql(),
            Self::Address(id) => id.to_sql(),
            Self::Use(key) => key.to_sql(),
        }
    }
}

/// A version as SQLite stores it (a signed 64-bit integer).
pub(super) fn version_from_sql(version: i64) -> Result<u64, SqliteStoreError> {
    u64::try_from(version)
        .map_err(|_| SqliteStoreError::Corrupt { detail: format!("a row version of {version}") })
}

fn version_to_sql(version: u64) -> Result<i64, SqliteStoreError> {
    i64::try_from(version)
        .map_err(|_| SqliteStoreError::Corrupt { detail: format!("a row version of {version}") })
}

/// One row as stored: its version (`None`: sealed by schema version 1,
/// not re-sealed since) and sealed value.
pub(super) struct Row {
    pub(super) version: Option<u64>,
    pub(super) value: Vec<u8>,
}

/// The version a row's digest term names: a row sealed by schema version 1
/// counts as version 0.
fn term_version(version: Option<u64>) -> u64 {
    version.unwrap_or(0)
}

/// Reads one row of `table`.
pub(super) fn read_row(
    connection: &Connection,
    table: Table,
    id: &RowId,
) -> Result<Option<Row>, SqliteStoreError> {
    let mut statement = connection.prepare_cached(&table.select_one())?;
    let row = statement
        .query_row([id], |row| Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, Vec<u8>>(1)?)))
        .optional()?;
    row.map(|(version, value)| {
        Ok(Row { version: version.map(version_from_sql).transpose()?, value })
    })
    .transpose()
}

/// The rows of `kem_prekey_uses` whose key is at least `u32be(id)` and
/// below `u32be(id + 1)`.
const SELECT_USES_BELOW: &str =
    "SELECT use_key FROM kem_prekey_uses WHERE use_key >= ?1 AND use_key < ?2";

/// The rows of `kem_prekey_uses` whose key is at least `u32be(id)`.
const SELECT_USES_FROM: &str = "SELECT use_key FROM kem_prekey_uses WHERE use_key >= ?1";

/// The recorded uses of KEM prekey `id`: the rows of `kem_prekey_uses` whose
/// key starts with `u32be(id)`. Keys compare as bytes, so these are the keys
/// from `u32be(id)` up to `u32be(id + 1)`, and for the last id every key from
/// `u32be(id)` on (nothing that starts with another id is above it).
pub(super) fn kem_prekey_uses_of(
    connection: &Connection,
    id: u32,
) -> Result<Vec<RowId>, SqliteStoreError> {
    let from = id.to_be_bytes();
    let (select, upper) = match id.checked_add(1) {
        Some(next) => (SELECT_USES_BELOW, Some(next.to_be_bytes())),
        None => (SELECT_USES_FROM, None),
    };
    let mut statement = connection.prepare_cached(select)?;
    let mut rows = match upper {
        Some(upper) => statement.query(params![from, upper])?,
        None => statement.query(params![from])?,
    };
    let mut uses = Vec::new();
    while let Some(row) = rows.next()? {
        uses.push(RowId::from_column(Table::KemPreKeyUses, row.get_ref(0)?)?);
    }
    Ok(uses)
}

/// Replaces the sealed value of row `id` of `table`, keeping its version
/// (a rekey: the caller recomputes the digest).
pub(super) fn replace_value(
    connection: &Connection,
    table: Table,
    id: &RowId,
    value: &[u8],
) -> Result<(), SqliteStoreError> {
    connection.prepare_cached(&table.update_value())?.execute(params![value, id])?;
    Ok(())
}

/// The store's state: sealed in `meta`, rewritten by every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoreState {
    /// Write transactions committed so far.
    pub(super) counter: u64,
    /// Values sealed under the current seal key.
    pub(super) seals: u64,
    /// The XOR of every row's term.
    pub(super) digest: [u8; DIGEST_LEN],
}

impl StoreState {
    /// The state of a store without rows.
    pub(super) fn empty() -> Self {
        Self { counter: 0, seals: 0, digest: [0; DIGEST_LEN] }
    }

    /// Loads the sealed state from `meta`.
    ///
    /// # Errors
    /// [`SqliteStoreError::Corrupt`] if there is none,
    /// [`SqliteStoreError::WrongStorageKey`] if it does not open (another
    /// key: the store was rekeyed since this one opened it, or `meta` was
    /// altered), [`SqliteStoreError::Record`] if it does not load.
    pub(super) fn load(connection: &Connection, sealer: &Sealer) -> Result<Self, SqliteStoreError> {
        let value: Vec<u8> = connection
            .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
            .query_row([META_STATE], |row| row.get(0))
            .optional()?
            .ok_or_else(|| SqliteStoreError::Corrupt { detail: "no store state".into() })?;
        let kind = RecordKind::StoreState;
        let opened =
            sealer.open(kind, &[], 0, &value).map_err(|_| SqliteStoreError::WrongStorageKey)?;
        let stored: StoreStateRecord =
            record::decode(&opened).map_err(|source| SqliteStoreError::Record { kind, source })?;
        record::check_version(stored.version)
            .map_err(|source| SqliteStoreError::Record { kind, source })?;
        let digest = stored.digest.as_slice().try_into().map_err(|_| SqliteStoreError::Record {
            kind,
            source: crate::record::RecordError::InvalidField { field: "digest" },
        })?;
        Ok(Self { counter: stored.counter, seals: stored.seals, digest })
    }

    /// Seals the state into `meta` (its own seal counted first).
    pub(super) fn save(
        &mut self,
        connection: &Connection,
        sealer: &Sealer,
    ) -> Result<(), SqliteStoreError> {
        self.count_seals(1)?;
        let record = record::encode(&StoreStateRecord {
            version: RECORD_VERSION,
            counter: self.counter,
            seals: self.seals,
            digest: self.digest.to_vec(),
        });
        let value = sealer.seal(RecordKind::StoreState, &[], 0, &record, &mut os_rng())?;
        connection
            .prepare_cached(
                "INSERT INTO meta (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![META_STATE, value])?;
        Ok(())
    }

    /// Counts `n` more seals under the current key.
    ///
    /// # Errors
    /// [`SqliteStoreError::SealLimitReached`] past [`MAX_SEALS`].
    pub(super) fn count_seals(&mut self, n: u64) -> Result<(), SqliteStoreError> {
        self.seals = self.seals.saturating_add(n);
        if self.seals > MAX_SEALS {
            return Err(SqliteStoreError::SealLimitReached { max: MAX_SEALS });
        }
        Ok(())
    }

    /// Adds (or removes: XOR is its own inverse) a row's term.
    pub(super) fn toggle(&mut self, term: &[u8; DIGEST_LEN]) {
        for (digest, term) in self.digest.iter_mut().zip(term) {
            *digest ^= term;
        }
    }
}

/// The writes of one transaction, keeping the store's state in step.
pub(super) struct Writer<'a> {
    connection: &'a Connection,
    sealer: &'a Sealer,
    state: StoreState,
}

impl<'a> Writer<'a> {
    /// Starts writing, inside a transaction on `connection`, on top of the
    /// stored state.
    pub(super) fn begin(
        connection: &'a Connection,
        sealer: &'a Sealer,
    ) -> Result<Self, SqliteStoreError> {
        let state = StoreState::load(connection, sealer)?;
        Ok(Self { connection, sealer, state })
    }

    /// The state as of the writes so far.
    pub(super) fn state(&self) -> &StoreState {
        &self.state
    }

    pub(super) fn sealer(&self) -> &'a Sealer {
        self.sealer
    }

    pub(super) fn connection(&self) -> &'a Connection {
        self.connection
    }

    /// Seals `record` and writes it as row `id` of `table` with `version`,
    /// replacing any row there.
    pub(super) fn put(
        &mut self,
        table: Table,
        id: &RowId,
        version: u64,
        record: &[u8],
    ) -> Result<(), SqliteStoreError> {
        let value =
            self.sealer.seal(table.kind(), &id.term_bytes(), version, record, &mut os_rng())?;
        self.state.count_seals(1)?;
        self.put_sealed(table, id, version, value)
    }

    /// Writes an already sealed value as row `id` of `table`.
    pub(super) fn put_sealed(
        &mut self,
        table: Table,
        id: &RowId,
        version: u64,
        value: Vec<u8>,
    ) -> Result<(), SqliteStoreError> {
        self.forget(table, id)?;
        let term = self.sealer.term(table.kind(), &id.term_bytes(), version, nonce_of(&value));
        self.state.toggle(&term);
        self.connection.prepare_cached(&table.upsert())?.execute(params![
            id,
            version_to_sql(version)?,
            value
        ])?;
        Ok(())
    }

    /// Removes row `id` of `table`; whether there was one.
    pub(super) fn delete(&mut self, table: Table, id: &RowId) -> Result<bool, SqliteStoreError> {
        let existed = self.forget(table, id)?;
        if existed {
            self.connection.prepare_cached(&table.delete())?.execute([id])?;
        }
        Ok(existed)
    }

    /// Takes the current row `id` of `table` (if any) out of the digest.
    fn forget(&mut self, table: Table, id: &RowId) -> Result<bool, SqliteStoreError> {
        let Some(old) = read_row(self.connection, table, id)? else {
            return Ok(false);
        };
        let term = self.sealer.term(
            table.kind(),
            &id.term_bytes(),
            term_version(old.version),
            nonce_of(&old.value),
        );
        self.state.toggle(&term);
        Ok(true)
    }

    /// Counts the transaction and seals the new state; the caller commits.
    pub(super) fn finish(mut self) -> Result<StoreState, SqliteStoreError> {
        self.state.counter = self.state.counter.wrapping_add(1);
        self.state.save(self.connection, self.sealer)?;
        Ok(self.state)
    }
}

/// The digest of every row of `tables` ([`TABLES`] but in a migration),
/// computed afresh: what the sealed state's digest must be.
pub(super) fn digest_of_rows(
    connection: &Connection,
    sealer: &Sealer,
    tables: &[Table],
) -> Result<[u8; DIGEST_LEN], SqliteStoreError> {
    let mut state = StoreState::empty();
    for &table in tables {
        let mut statement = connection.prepare(&table.select_all())?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let id = RowId::from_column(table, row.get_ref(0)?)?;
            let version = row.get::<_, Option<i64>>(1)?.map(version_from_sql).transpose()?;
            let version = term_version(version);
            let value = row.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            state.toggle(&sealer.term(table.kind(), &id.term_bytes(), version, nonce_of(value)));
        }
    }
    Ok(state.digest)
}
