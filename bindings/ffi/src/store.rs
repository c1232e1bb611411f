//! Stores: the [`ProtocolStore`] trait an app implements in Swift, Kotlin or
//! Python, the SDK's own [`InMemoryStore`] and [`SqliteStore`], and
//! [`check_store_conformance`], which tests an app's store against the
//! commit contract (`docs/PROTOCOL.md` §6).
//!
//! A foreign store keeps opaque byte records, one per key, exactly as a
//! key-value table or a database column would: Sotto encodes and decodes
//! them (`storage.proto`), checks their versions, and refuses a corrupt one
//! with `SottoError.CorruptRecord`. [`ForeignStore`] adapts such a store to
//! the core's store traits; it holds no lock while it calls into foreign
//! code.

use std::sync::Arc;

use sotto::keys::{
    DhPublicKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    SignedPreKey, SignedPreKeyId,
};
use sotto::session::SessionRecord;
use sotto::store::{self as core, PeerIdentity, PeerIdentityWrite, StoreCommit};
use zeroize::Zeroizing;

use crate::types::Address;
use crate::{IdentityKeyPair as FfiIdentityKeyPair, SottoError, StoreError};

/// Where a device keeps its identity, prekeys (signed, one-time and KEM),
/// sessions and peers' identities, implemented by the app (in Kotlin `ProtocolStore`, in Swift
/// `ProtocolStore`, in Python a subclass of `ProtocolStore`).
///
/// Every record is an opaque byte string that the store keeps as given and
/// returns unchanged. A getter returns `null`/`nil`/`None` when there is no
/// such record; throwing (`StoreError.Backend`, or any exception) means the
/// storage failed. Several threads may call the store at once: it must be
/// thread-safe.
///
/// Session records and peer identities are written only by
/// [`commit`](Self::commit), a compare-and-swap that the store must make
/// atomic: it is what keeps every message key single-use. Run
/// `check_store_conformance` on an empty instance of the store in the
/// app's tests.
///
/// **Warning:** the identity, prekey and session records hold secrets: keep
/// them in storage encrypted at rest.
// `foreign`: implemented only in Swift, Kotlin or Python (uniffi 0.32's
// spelling; its `with_foreign` is a deprecated alias for `rust, foreign`).
#[uniffi::export(foreign)]
pub trait ProtocolStore: Send + Sync {
    /// This device's identity key pair record (`IdentityKeyPair.to_record_bytes`).
    fn local_identity(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// The identity record of `address`, as the last `commit` that wrote
    /// one gave it.
    fn peer_identity(&self, address: Address) -> Result<Option<Vec<u8>>, StoreError>;

    /// The signed prekey record with `id`.
    fn signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores the signed prekey record with `id`.
    fn save_signed_prekey(&self, id: u32, record: Vec<u8>) -> Result<(), StoreError>;

    /// Removes the signed prekey record with `id` (absent is not an error).
    fn remove_signed_prekey(&self, id: u32) -> Result<(), StoreError>;

    /// The one-time prekey record with `id`.
    fn one_time_prekey(&self, id: u32) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores the one-time prekey record with `id`.
    fn save_one_time_prekey(&self, id: u32, record: Vec<u8>) -> Result<(), StoreError>;

    /// Removes the one-time prekey record with `id` (absent is not an error).
    fn remove_one_time_prekey(&self, id: u32) -> Result<(), StoreError>;

    /// The KEM prekey record with `id` (one-time or last-resort: the record
    /// says which).
    fn kem_prekey(&self, id: u32) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores (or replaces) the KEM prekey record with `id`.
    fn save_kem_prekey(&self, id: u32, record: Vec<u8>) -> Result<(), StoreError>;

    /// Removes the KEM prekey record with `id` (absent is not an error), and
    /// forgets every last-resort use recorded for `id` (see `commit`). Sotto
    /// removes one-time KEM prekeys through `commit`; an app calls this when
    /// it rotates its last-resort KEM prekey, after a grace period for
    /// messages in flight.
    fn remove_kem_prekey(&self, id: u32) -> Result<(), StoreError>;

    /// Whether a `commit` recorded the last-resort use of KEM prekey `id`
    /// with `base_key` (32 bytes), and `remove_kem_prekey(id)` has not been
    /// called since.
    fn last_resort_use_recorded(&self, id: u32, base_key: Vec<u8>) -> Result<bool, StoreError>;

    /// The session record of `address`, as the last `commit` that wrote it
    /// gave it.
    fn load_session(&self, address: Address) -> Result<Option<Vec<u8>>, StoreError>;

    /// Applies every write of `writes` (at most one per address), all or
    /// none, atomically with respect to every other `commit` and
    /// `load_session` on the same storage, from any thread or process.
    ///
    /// The store keeps, beside each address's session record, the
    /// `generation` it was committed with. For each write, in one
    /// transaction (a database transaction, or one lock held throughout):
    ///
    /// 1. **Check**, and throw `StoreError.Conflict` writing nothing at all
    ///    (of any write of the batch) unless every write passes:
    ///    - the generation kept for `address` equals `expected_generation`;
    ///      `expected_generation` null/nil/None: no session is stored for
    ///      `address`;
    ///    - if `peer_identity_first_use`: no identity is recorded for
    ///      `address`, or exactly the bytes of `peer_identity` are;
    ///    - every id in `consumed_one_time_prekeys` is still stored as a
    ///      one-time prekey;
    ///    - every id in `consumed_kem_prekeys` is still stored as a KEM
    ///      prekey;
    ///    - for every use in `last_resort_uses`: its `kem_prekey` is still
    ///      stored, and that use (the pair of id and base key) is not
    ///      recorded yet;
    ///    - no two writes of the batch consume the same one-time prekey or
    ///      KEM prekey, or record the same last-resort use.
    /// 2. If `peer_identity` is set, store it as the identity of `address`
    ///    (replacing any other, unless `peer_identity_first_use`: then only
    ///    if none is recorded).
    /// 3. Store `session` as the record of `address`, and `generation` as
    ///    its generation.
    /// 4. Remove the one-time prekeys of `consumed_one_time_prekeys` and the
    ///    KEM prekeys of `consumed_kem_prekeys`, and record each use of
    ///    `last_resort_uses` (kept until its KEM prekey is removed).
    ///
    /// Return only once the writes are durable: a message built on them may
    /// be sent next. Throw `StoreError.Backend` (or any exception) if the
    /// storage failed; then too nothing may have been written.
    fn commit(&self, writes: Vec<PendingWrites>) -> Result<(), StoreError>;
}

/// One address's writes in a `ProtocolStore.commit`: one change of its
/// state (an encryption, a handled message, a new session, a trust
/// decision).
#[derive(Debug, Clone, uniffi::Record)]
pub struct PendingWrites {
    /// The address whose state changed.
    pub address: Address,
    /// The generation of the session of `address` this change was computed
    /// from, which must still be the stored one; null/nil/None: no session
    /// may be stored for `address`.
    pub expected_generation: Option<u64>,
    /// The generation of `session`, to keep beside it (never equal to
    /// `expected_generation`).
    pub generation: u64,
    /// The session record to store for `address`.
    pub session: Vec<u8>,
    /// An identity record to store for `address`.
    pub peer_identity: Option<Vec<u8>>,
    /// Whether `peer_identity` is trusted on first use: stored only if no
    /// identity is recorded for `address`; if another record is stored (other
    /// bytes), the commit is a conflict. Otherwise `peer_identity` (the
    /// user's trust decision) replaces whatever is recorded.
    pub peer_identity_first_use: bool,
    /// The one-time prekeys the change consumed: each must still be stored
    /// (otherwise the commit is a conflict), and is removed.
    pub consumed_one_time_prekeys: Vec<u32>,
    /// The one-time KEM prekeys the change consumed (a PQXDH first
    /// message): each must still be stored (otherwise the commit is a
    /// conflict), and is removed.
    pub consumed_kem_prekeys: Vec<u32>,
    /// The uses of last-resort KEM prekeys the change makes (a PQXDH first
    /// message that named one): each prekey must still be stored and each
    /// use must not be recorded yet (otherwise the commit is a conflict);
    /// each is recorded, until its prekey is removed, so that a replay of
    /// the first message cannot start a second session.
    pub last_resort_uses: Vec<LastResortUse>,
}

/// A session started with a last-resort KEM prekey, as `PendingWrites`
/// carries it and `ProtocolStore.last_resort_use_recorded` asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct LastResortUse {
    /// The id of the last-resort KEM prekey.
    pub kem_prekey: u32,
    /// The base key (the initiator's ephemeral key, 32 bytes) of the first
    /// message that used it.
    pub base_key: Vec<u8>,
}

impl From<&core::LastResortUse> for LastResortUse {
    fn from(used: &core::LastResortUse) -> Self {
        Self { kem_prekey: used.kem_prekey.into(), base_key: used.base_key.to_bytes().to_vec() }
    }
}

impl PendingWrites {
    /// The foreign form of `commit`.
    ///
    /// # Errors
    /// A backend error for an identity write this binding does not know (a
    /// newer core): refused rather than guessed at.
    fn from_core(commit: &StoreCommit) -> Result<Self, core::StoreError> {
        let (peer_identity, peer_identity_first_use) = match commit.peer_identity {
            None => (None, false),
            Some(PeerIdentityWrite::FirstUse(identity)) => (Some(identity.to_record_bytes()), true),
            Some(PeerIdentityWrite::Replace(identity)) => (Some(identity.to_record_bytes()), false),
            Some(_) => {
                return Err(core::StoreError::backend("an identity write unknown to sotto-ffi"));
            }
        };
        Ok(Self {
            address: (&commit.address).into(),
            expected_generation: commit.expected_generation,
            generation: commit.session.generation(),
            session: commit.session.to_bytes().to_vec(),
            peer_identity,
            peer_identity_first_use,
            consumed_one_time_prekeys: commit
                .consumed_one_time_prekeys
                .iter()
                .map(|&id| id.into())
                .collect(),
            consumed_kem_prekeys: commit.consumed_kem_prekeys.iter().map(|&id| id.into()).collect(),
            last_resort_uses: commit.last_resort_uses.iter().map(Into::into).collect(),
        })
    }
}

/// The most threads [`check_store_conformance`] races: the check spawns
/// them all at once, and a thread the system refuses would abort it.
const MAX_CONFORMANCE_THREADS: u32 = 64;

/// Checks `store` against the commit contract of `ProtocolStore.commit`,
/// with `threads` threads (at most 64) racing compare-and-swaps (none if
/// `threads` is 0 or 1): run it in the app's tests, on an empty instance of
/// its store.
///
/// It writes sessions and identities for the addresses of account
/// `sotto-conformance-check` (devices 0 to 7), the one-time prekeys
/// 4294967294 and 4294967295, and the KEM prekeys 4294967293 to 4294967295
/// (with last-resort uses of them), which must not exist: never run it on
/// a user's store.
///
/// # Errors
/// `ConformanceFailed`, naming the first check that failed;
/// `InvalidArgument` for more than 64 threads.
#[uniffi::export]
pub fn check_store_conformance(
    store: Arc<dyn ProtocolStore>,
    threads: u32,
) -> Result<(), SottoError> {
    let threads = usize::try_from(threads)
        .ok()
        .filter(|_| threads <= MAX_CONFORMANCE_THREADS)
        .ok_or_else(|| SottoError::InvalidArgument {
            reason: format!("at most {MAX_CONFORMANCE_THREADS} threads, not {threads}"),
        })?;
    Ok(core::conformance::check(&ForeignStore(store), threads)?)
}

/// The SDK's store in memory: for tests, and for apps that persist nothing.
#[derive(Debug, uniffi::Object)]
pub struct InMemoryStore(pub(crate) Arc<core::InMemoryStore>);

#[uniffi::export]
impl InMemoryStore {
    /// An empty store for the device with `identity`.
    #[uniffi::constructor]
    pub fn new(identity: Arc<FfiIdentityKeyPair>) -> Arc<Self> {
        Arc::new(Self(Arc::new(core::InMemoryStore::new(identity.0.clone()))))
    }

    /// How many one-time prekeys are left.
    pub fn one_time_prekey_count(&self) -> u64 {
        self.0.one_time_prekey_count().try_into().unwrap_or(u64::MAX)
    }

    /// How many KEM prekeys (one-time and last-resort) are stored.
    pub fn kem_prekey_count(&self) -> u64 {
        self.0.kem_prekey_count().try_into().unwrap_or(u64::MAX)
    }

    /// Removes the KEM prekey with `id` (absent is not an error) and forgets
    /// the last-resort uses recorded for it: for rotating the last-resort
    /// KEM prekey, after a grace period for messages in flight.
    ///
    /// # Errors
    /// A store error (none, in memory).
    pub fn remove_kem_prekey(&self, id: u32) -> Result<(), SottoError> {
        Ok(core::KemPreKeyStore::remove_kem_prekey(&*self.0, id.into())?)
    }
}

/// The SDK's persistent store: one SQLite database file (SQLite is compiled
/// in), every record sealed at rest under a 32-byte storage key that the app
/// keeps in the platform's key store (the Keychain, the Android Keystore),
/// never next to the database. `docs/PROTOCOL.md` §11 gives the format.
///
/// Rows removed, added or rolled back one by one are detected when the
/// store is opened (`StoreTampered`).
///
/// **Warning:** restoring an older copy of the whole file makes the device
/// reuse message keys, and is detected only against an anchor the app keeps
/// outside the file: store `write_counter()` in the platform's key store
/// (from time to time, say when the app goes to the background) and open
/// with `open_anchored`.
#[derive(Debug, uniffi::Object)]
pub struct SqliteStore(pub(crate) Arc<core::SqliteStore>);

fn storage_key(bytes: &[u8]) -> Result<core::StorageKey, SottoError> {
    Ok(core::StorageKey::try_from(bytes)?)
}

#[uniffi::export]
impl SqliteStore {
    /// Creates a store in the file at `path` (which must not exist, or be
    /// empty) for the device with `identity`, sealed under `storage_key`.
    ///
    /// # Errors
    /// `InvalidArgument` for a key that is not 32 bytes, `Store` if the file
    /// already holds a database (left untouched) or SQLite fails.
    #[uniffi::constructor]
    pub fn create(
        path: String,
        storage_key: Vec<u8>,
        identity: Arc<FfiIdentityKeyPair>,
    ) -> Result<Arc<Self>, SottoError> {
        let key = self::storage_key(&storage_key)?;
        Ok(Arc::new(Self(Arc::new(core::SqliteStore::create(path, &key, &identity.0)?))))
    }

    /// Opens the store in the file at `path` with `storage_key`, migrating a
    /// file written by an older Sotto.
    ///
    /// # Errors
    /// `WrongStorageKey` for another key, `CorruptRecord` for a damaged
    /// store, `StoreTampered` if rows were removed, added or rolled back,
    /// `Store` for a missing file, a file that is not a Sotto store, or a
    /// failure of SQLite. On error the file is unchanged.
    #[uniffi::constructor]
    pub fn open(path: String, storage_key: Vec<u8>) -> Result<Arc<Self>, SottoError> {
        let key = self::storage_key(&storage_key)?;
        Ok(Arc::new(Self(Arc::new(core::SqliteStore::open(path, &key)?))))
    }

    /// Opens the store as `open` does, and also refuses it if its
    /// `write_counter()` is below `anchor`, the counter the app read earlier
    /// and kept outside the file: the whole file was restored to an older
    /// copy. The anchor is only as fresh as the app keeps it.
    ///
    /// # Errors
    /// As `open`, and `StoreTampered` if the file's counter is below
    /// `anchor`.
    #[uniffi::constructor]
    pub fn open_anchored(
        path: String,
        storage_key: Vec<u8>,
        anchor: u64,
    ) -> Result<Arc<Self>, SottoError> {
        let key = self::storage_key(&storage_key)?;
        Ok(Arc::new(Self(Arc::new(core::SqliteStore::open_anchored(path, &key, anchor)?))))
    }

    /// The path of the database file.
    pub fn path(&self) -> String {
        self.0.path().to_string_lossy().into_owned()
    }

    /// How many one-time prekeys are left.
    ///
    /// # Errors
    /// `Store` if the database failed.
    pub fn one_time_prekey_count(&self) -> Result<u64, SottoError> {
        Ok(self.0.one_time_prekey_count()?.try_into().unwrap_or(u64::MAX))
    }

    /// How many KEM prekeys (one-time and last-resort) are stored.
    ///
    /// # Errors
    /// `Store` if the database failed.
    pub fn kem_prekey_count(&self) -> Result<u64, SottoError> {
        Ok(self.0.kem_prekey_count()?.try_into().unwrap_or(u64::MAX))
    }

    /// Removes the KEM prekey with `id` (absent is not an error) and forgets
    /// the last-resort uses recorded for it, in one transaction: for
    /// rotating the last-resort KEM prekey, after a grace period for
    /// messages in flight.
    ///
    /// # Errors
    /// `Store` if the database failed; then nothing changed.
    pub fn remove_kem_prekey(&self, id: u32) -> Result<(), SottoError> {
        Ok(core::KemPreKeyStore::remove_kem_prekey(&*self.0, id.into())?)
    }

    /// How many write transactions the store has committed: it grows with
    /// every write. Keep it in the platform's key store and give it to
    /// `open_anchored`.
    ///
    /// # Errors
    /// `WrongStorageKey` if another handle rekeyed the store, `Store` if the
    /// database failed.
    pub fn write_counter(&self) -> Result<u64, SottoError> {
        Ok(self.0.write_counter()?)
    }

    /// Re-seals every record under `new_key` (32 bytes), in one
    /// transaction: interrupted, the store opens afterwards with the old key
    /// or with the new one. Needed once `LimitExceeded` reports the storage
    /// key's seal limit reached. Store the new key in the platform's key
    /// store before calling this, and drop the old one after it returned.
    ///
    /// **Warning:** rekey while no other handle or process has the store
    /// open: one that does fails with `WrongStorageKey` at its next access
    /// and must open the store again with the new key.
    ///
    /// # Errors
    /// `InvalidArgument` for a key that is not 32 bytes, `Store` if rows
    /// sealed by an older Sotto remain (call `upgrade_legacy_rows` with
    /// every address first) or the database failed, `WrongStorageKey` if
    /// another handle rekeyed it. On error nothing changed.
    pub fn rekey(&self, new_key: Vec<u8>) -> Result<(), SottoError> {
        Ok(self.0.rekey(&storage_key(&new_key)?)?)
    }

    /// Re-seals, in one transaction, the sessions and peer identities of
    /// `addresses` still sealed by an older Sotto (only a caller that knows
    /// the addresses can; any write of them does it too), and returns how
    /// many rows it re-sealed. `rekey` needs none left.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad address, `CorruptRecord` or `Store`; then
    /// nothing changed.
    pub fn upgrade_legacy_rows(&self, addresses: Vec<Address>) -> Result<u64, SottoError> {
        let addresses =
            addresses.iter().map(Address::to_core).collect::<Result<Vec<_>, SottoError>>()?;
        Ok(self.0.upgrade_legacy_rows(&addresses)?.try_into().unwrap_or(u64::MAX))
    }
}

/// A new random 32-byte storage key for a [`SqliteStore`], for an app's
/// first run (or a `rekey`): keep it in the platform's key store before
/// creating the store.
///
/// **Warning:** a secret: whoever has it and the database file has every
/// session secret in it.
#[uniffi::export]
pub fn generate_storage_key() -> Vec<u8> {
    core::StorageKey::generate(&mut sotto::rng::os_rng()).as_bytes().to_vec()
}

/// Wraps a foreign store's failure as the core's backend error.
fn backend(error: StoreError) -> core::StoreError {
    core::StoreError::backend(error)
}

/// A foreign [`ProtocolStore`] seen as the core's store traits.
pub(crate) struct ForeignStore(pub(crate) Arc<dyn ProtocolStore>);

impl ForeignStore {
    fn load<T>(
        record: Option<Vec<u8>>,
        parse: impl FnOnce(&[u8]) -> Result<T, sotto::record::RecordError>,
    ) -> Result<Option<T>, core::StoreError> {
        let record = record.map(Zeroizing::new);
        Ok(record.map(|bytes| parse(&bytes)).transpose()?)
    }
}

impl core::IdentityStore for ForeignStore {
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, core::StoreError> {
        Self::load(self.0.local_identity().map_err(backend)?, IdentityKeyPair::from_record_bytes)
    }

    fn peer_identity(
        &self,
        address: &sotto::session::Address,
    ) -> Result<Option<PeerIdentity>, core::StoreError> {
        let record = self.0.peer_identity(address.into()).map_err(backend)?;
        Self::load(record, PeerIdentity::from_record_bytes)
    }
}

impl core::SignedPreKeyStore for ForeignStore {
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, core::StoreError> {
        let record = self.0.signed_prekey(id.into()).map_err(backend)?;
        Self::load(record, SignedPreKey::from_record_bytes)
    }

    fn save_signed_prekey(&self, prekey: &SignedPreKey) -> Result<(), core::StoreError> {
        let record = prekey.to_record_bytes().to_vec();
        self.0.save_signed_prekey(prekey.id().into(), record).map_err(backend)
    }

    fn remove_signed_prekey(&self, id: SignedPreKeyId) -> Result<(), core::StoreError> {
        self.0.remove_signed_prekey(id.into()).map_err(backend)
    }
}

impl core::OneTimePreKeyStore for ForeignStore {
    fn one_time_prekey(
        &self,
        id: OneTimePreKeyId,
    ) -> Result<Option<OneTimePreKey>, core::StoreError> {
        let record = self.0.one_time_prekey(id.into()).map_err(backend)?;
        Self::load(record, OneTimePreKey::from_record_bytes)
    }

    fn save_one_time_prekey(&self, prekey: &OneTimePreKey) -> Result<(), core::StoreError> {
        let record = prekey.to_record_bytes().to_vec();
        self.0.save_one_time_prekey(prekey.id().into(), record).map_err(backend)
    }

    fn remove_one_time_prekey(&self, id: OneTimePreKeyId) -> Result<(), core::StoreError> {
        self.0.remove_one_time_prekey(id.into()).map_err(backend)
    }
}

impl core::KemPreKeyStore for ForeignStore {
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, core::StoreError> {
        let record = self.0.kem_prekey(id.into()).map_err(backend)?;
        Self::load(record, KemPreKey::from_record_bytes)
    }

    fn save_kem_prekey(&self, prekey: &KemPreKey) -> Result<(), core::StoreError> {
        let record = prekey.to_record_bytes().to_vec();
        self.0.save_kem_prekey(prekey.id().into(), record).map_err(backend)
    }

    fn remove_kem_prekey(&self, id: KemPreKeyId) -> Result<(), core::StoreError> {
        self.0.remove_kem_prekey(id.into()).map_err(backend)
    }

    fn last_resort_use_recorded(
        &self,
        id: KemPreKeyId,
        base_key: &DhPublicKey,
    ) -> Result<bool, core::StoreError> {
        self.0.last_resort_use_recorded(id.into(), base_key.to_bytes().to_vec()).map_err(backend)
    }
}

impl core::SessionStore for ForeignStore {
    fn load_session(
        &self,
        address: &sotto::session::Address,
    ) -> Result<Option<SessionRecord>, core::StoreError> {
        let record = self.0.load_session(address.into()).map_err(backend)?;
        Self::load(record, SessionRecord::from_bytes)
    }
}

impl core::ProtocolStore for ForeignStore {
    fn commit(&self, commits: &[StoreCommit]) -> Result<(), core::StoreError> {
        // The core's conflict names an address; the foreign one does not,
        // and the manager acts on the conflict alone.
        let Some(first) = commits.first() else {
            return Ok(());
        };
        let writes = commits.iter().map(PendingWrites::from_core).collect::<Result<_, _>>()?;
        self.0.commit(writes).map_err(|error| match error {
            StoreError::Conflict => core::StoreError::Conflict { address: first.address.clone() },
            other => backend(other),
        })
    }
}

/// Whichever store a manager was made with, shared with the FFI object that
/// made it (the core implements its store traits for an `Arc` of one).
pub(crate) type SharedStore = Arc<dyn core::ProtocolStore>;

#[cfg(test)]
mod tests {
    use sotto::keys::KemPreKeyKind;

    use super::*;
    use crate::testing::{Broken, MapStore};

    #[test]
    fn a_foreign_store_that_keeps_the_contract_passes_the_check() {
        check_store_conformance(MapStore::new(Broken::Nothing), 8).unwrap();
    }

    #[test]
    fn the_check_refuses_more_threads_than_it_races() {
        assert!(matches!(
            check_store_conformance(MapStore::new(Broken::Nothing), MAX_CONFORMANCE_THREADS + 1),
            Err(SottoError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn a_foreign_store_that_ignores_the_generation_fails_the_check() {
        let error = check_store_conformance(MapStore::new(Broken::Generation), 1).unwrap_err();
        assert!(
            matches!(&error, SottoError::ConformanceFailed { check, .. } if check.contains("compare-and-swap")),
            "{error}"
        );
    }

    #[test]
    fn a_foreign_store_that_ignores_last_resort_uses_fails_the_check() {
        let error = check_store_conformance(MapStore::new(Broken::LastResortUses), 1).unwrap_err();
        assert!(
            matches!(&error, SottoError::ConformanceFailed { check, .. } if check == "KEM prekeys"),
            "{error}"
        );
    }

    /// A base key, as a first message carries it.
    fn base_key() -> DhPublicKey {
        OneTimePreKey::generate(1.into(), &mut sotto::rng::os_rng()).public().key()
    }

    #[test]
    fn a_commit_crosses_as_pending_writes() {
        let store = MapStore::new(Broken::Nothing);
        let foreign = ForeignStore(store.clone());
        let address = sotto::session::Address::new("carol", 2).unwrap();
        let mut rng = sotto::rng::os_rng();
        let own = IdentityKeyPair::generate(&mut rng);
        let identity =
            PeerIdentity { key: IdentityKeyPair::generate(&mut rng).public(), verified: false };
        let prekey = OneTimePreKey::generate(7.into(), &mut rng);
        core::OneTimePreKeyStore::save_one_time_prekey(&foreign, &prekey).unwrap();
        let (one_time_kem, last_resort) = (
            KemPreKey::generate(8.into(), KemPreKeyKind::OneTime, &own, &mut rng),
            KemPreKey::generate(9.into(), KemPreKeyKind::LastResort, &own, &mut rng),
        );
        for kem in [&one_time_kem, &last_resort] {
            core::KemPreKeyStore::save_kem_prekey(&foreign, kem).unwrap();
        }
        let base_key = base_key();
        let used = core::LastResortUse { kem_prekey: 9.into(), base_key };
        let record = SessionRecord::from_bytes(&SessionRecord::default().to_bytes()).unwrap();
        let commit = StoreCommit::new(address.clone(), None, record)
            .with_peer_identity(PeerIdentityWrite::FirstUse(identity))
            .consuming(7.into())
            .consuming_kem(8.into())
            .recording(used);

        let writes = PendingWrites::from_core(&commit).unwrap();
        assert_eq!(writes.address, Address::from(&address));
        assert_eq!(writes.expected_generation, None);
        assert_eq!(writes.generation, commit.session.generation());
        assert_eq!(writes.peer_identity, Some(identity.to_record_bytes()));
        assert!(writes.peer_identity_first_use);
        assert_eq!(writes.consumed_one_time_prekeys, vec![7]);
        assert_eq!(writes.consumed_kem_prekeys, vec![8]);
        assert_eq!(
            writes.last_resort_uses,
            vec![LastResortUse { kem_prekey: 9, base_key: base_key.to_bytes().to_vec() }]
        );

        core::ProtocolStore::commit(&foreign, std::slice::from_ref(&commit)).unwrap();
        assert_eq!(core::IdentityStore::peer_identity(&foreign, &address).unwrap(), Some(identity));
        assert!(core::OneTimePreKeyStore::one_time_prekey(&foreign, 7.into()).unwrap().is_none());
        assert!(core::KemPreKeyStore::kem_prekey(&foreign, 8.into()).unwrap().is_none());
        // The last-resort prekey stays, and its use is recorded.
        let kept = core::KemPreKeyStore::kem_prekey(&foreign, 9.into()).unwrap().unwrap();
        assert_eq!((kept.public(), kept.kind()), (last_resort.public(), KemPreKeyKind::LastResort));
        assert!(
            core::KemPreKeyStore::last_resort_use_recorded(&foreign, 9.into(), &base_key).unwrap()
        );
        assert!(
            !core::KemPreKeyStore::last_resort_use_recorded(&foreign, 8.into(), &base_key).unwrap()
        );
        // The same commit again: the generation moved on, the prekeys are gone.
        assert!(matches!(
            core::ProtocolStore::commit(&foreign, &[commit]),
            Err(core::StoreError::Conflict { address: conflicted }) if conflicted == address
        ));
        // Removing the last-resort prekey forgets its uses.
        core::KemPreKeyStore::remove_kem_prekey(&foreign, 9.into()).unwrap();
        assert!(
            !core::KemPreKeyStore::last_resort_use_recorded(&foreign, 9.into(), &base_key).unwrap()
        );
    }

    #[test]
    fn a_corrupt_kem_prekey_record_is_refused() {
        let store = MapStore::new(Broken::Nothing);
        store.state().kem.insert(3, b"not a record".to_vec());
        assert!(matches!(
            core::KemPreKeyStore::kem_prekey(&ForeignStore(store), 3.into()),
            Err(core::StoreError::Corrupt(_))
        ));
    }
}
