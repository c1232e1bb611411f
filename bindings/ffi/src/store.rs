//! Stores: the [`ProtocolStore`] trait an app implements in Swift, Kotlin or
//! Python, and the SDK's own [`InMemoryStore`] and [`SqliteStore`].
//!
//! A foreign store keeps opaque byte records, one per key, exactly as a
//! key-value table or a database column would: Sotto encodes and decodes
//! them (`storage.proto`), checks their versions, and refuses a corrupt one
//! with `SottoError.CorruptRecord`. [`ForeignStore`] adapts such a store to
//! the core's store traits; it holds no lock while it calls into foreign
//! code.

use std::sync::Arc;

use sotto::keys::{IdentityKeyPair, OneTimePreKey, OneTimePreKeyId, SignedPreKey, SignedPreKeyId};
use sotto::session::SessionRecord;
use sotto::store::{self as core, PeerIdentity, StoreCommit};
use zeroize::Zeroizing;

use crate::types::Address;
use crate::{IdentityKeyPair as FfiIdentityKeyPair, SottoError, StoreError};

/// Where a device keeps its identity, prekeys, sessions and peers'
/// identities, implemented by the app (in Kotlin `ProtocolStore`, in Swift
/// `ProtocolStore`, in Python a subclass of `ProtocolStore`).
///
/// Every record is an opaque byte string that the store keeps as given and
/// returns unchanged. A getter returns `null`/`nil`/`None` when there is no
/// such record; throwing (`StoreError.Backend`, or any exception) means the
/// storage failed. Several threads may call the store at once: it must be
/// thread-safe.
///
/// **Warning:** the identity, prekey and session records hold secrets: keep
/// them in storage encrypted at rest.
// `foreign`: implemented only in Swift, Kotlin or Python (uniffi 0.32's
// spelling; its `with_foreign` is a deprecated alias for `rust, foreign`).
#[uniffi::export(foreign)]
pub trait ProtocolStore: Send + Sync {
    /// This device's identity key pair record (`IdentityKeyPair.to_record_bytes`).
    fn local_identity(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// The identity record of `address`.
    fn peer_identity(&self, address: Address) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores the identity record of `address`, replacing any earlier one.
    fn save_peer_identity(&self, address: Address, record: Vec<u8>) -> Result<(), StoreError>;

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

    /// The session record of `address`.
    fn load_session(&self, address: Address) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores the session record of `address`, replacing any earlier one.
    fn store_session(&self, address: Address, record: Vec<u8>) -> Result<(), StoreError>;

    /// Applies the writes of one handled message together.
    ///
    /// A database applies them in one transaction. A store without
    /// transactions applies them in this order, which is safe to interrupt:
    /// `save_peer_identity` (if `new_peer_identity` is set), then
    /// `store_session`, then `remove_one_time_prekey` (if
    /// `consumed_one_time_prekey` is set).
    fn commit(&self, commit: PendingWrites) -> Result<(), StoreError>;
}

/// The writes of one handled message, given to `ProtocolStore.commit`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PendingWrites {
    /// The address whose session changed.
    pub address: Address,
    /// The session record to store for `address`.
    pub session: Vec<u8>,
    /// An identity record to store for `address` (seen for the first time).
    pub new_peer_identity: Option<Vec<u8>>,
    /// A one-time prekey the session consumed, to remove.
    pub consumed_one_time_prekey: Option<u32>,
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
}

/// The SDK's persistent store: one SQLite database file (SQLite is compiled
/// in), every record sealed at rest under a 32-byte storage key that the app
/// keeps in the platform's key store (the Keychain, the Android Keystore),
/// never next to the database. `docs/PROTOCOL.md` §11 gives the format.
///
/// **Warning:** restoring an older copy of the file makes the device reuse
/// message keys; restore sessions from a backup only if the app can
/// tolerate that.
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
    /// store, `Store` for a missing file, a file that is not a Sotto store,
    /// or a failure of SQLite. On error the file is unchanged.
    #[uniffi::constructor]
    pub fn open(path: String, storage_key: Vec<u8>) -> Result<Arc<Self>, SottoError> {
        let key = self::storage_key(&storage_key)?;
        Ok(Arc::new(Self(Arc::new(core::SqliteStore::open(path, &key)?))))
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
}

/// A new random 32-byte storage key for a [`SqliteStore`], for an app's
/// first run: keep it in the platform's key store before creating the
/// store.
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

    fn save_peer_identity(
        &self,
        address: &sotto::session::Address,
        identity: &PeerIdentity,
    ) -> Result<(), core::StoreError> {
        self.0.save_peer_identity(address.into(), identity.to_record_bytes()).map_err(backend)
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

impl core::SessionStore for ForeignStore {
    fn load_session(
        &self,
        address: &sotto::session::Address,
    ) -> Result<Option<SessionRecord>, core::StoreError> {
        let record = self.0.load_session(address.into()).map_err(backend)?;
        Self::load(record, SessionRecord::from_bytes)
    }

    fn store_session(
        &self,
        address: &sotto::session::Address,
        record: &SessionRecord,
    ) -> Result<(), core::StoreError> {
        self.0.store_session(address.into(), record.to_bytes().to_vec()).map_err(backend)
    }
}

impl core::ProtocolStore for ForeignStore {
    fn commit(&self, commit: &StoreCommit) -> Result<(), core::StoreError> {
        let writes = PendingWrites {
            address: (&commit.address).into(),
            session: commit.session.to_bytes().to_vec(),
            new_peer_identity: commit.new_peer_identity.map(|peer| peer.to_record_bytes()),
            consumed_one_time_prekey: commit.consumed_one_time_prekey.map(Into::into),
        };
        self.0.commit(writes).map_err(backend)
    }
}

/// Forwards every method of the core's store traits but `commit` to
/// `$inner` (an expression of a type implementing `core::ProtocolStore`,
/// with `self` bound).
macro_rules! forward_store_traits {
    ($ty:ty, |$self:ident| $inner:expr) => {
        impl core::IdentityStore for $ty {
            fn local_identity(&$self) -> Result<Option<IdentityKeyPair>, core::StoreError> {
                $inner.local_identity()
            }

            fn peer_identity(
                &$self,
                address: &sotto::session::Address,
            ) -> Result<Option<PeerIdentity>, core::StoreError> {
                $inner.peer_identity(address)
            }

            fn save_peer_identity(
                &$self,
                address: &sotto::session::Address,
                identity: &PeerIdentity,
            ) -> Result<(), core::StoreError> {
                $inner.save_peer_identity(address, identity)
            }
        }

        impl core::SignedPreKeyStore for $ty {
            fn signed_prekey(
                &$self,
                id: SignedPreKeyId,
            ) -> Result<Option<SignedPreKey>, core::StoreError> {
                $inner.signed_prekey(id)
            }

            fn save_signed_prekey(&$self, prekey: &SignedPreKey) -> Result<(), core::StoreError> {
                $inner.save_signed_prekey(prekey)
            }

            fn remove_signed_prekey(&$self, id: SignedPreKeyId) -> Result<(), core::StoreError> {
                $inner.remove_signed_prekey(id)
            }
        }

        impl core::OneTimePreKeyStore for $ty {
            fn one_time_prekey(
                &$self,
                id: OneTimePreKeyId,
            ) -> Result<Option<OneTimePreKey>, core::StoreError> {
                $inner.one_time_prekey(id)
            }

            fn save_one_time_prekey(
                &$self,
                prekey: &OneTimePreKey,
            ) -> Result<(), core::StoreError> {
                $inner.save_one_time_prekey(prekey)
            }

            fn remove_one_time_prekey(&$self, id: OneTimePreKeyId) -> Result<(), core::StoreError> {
                $inner.remove_one_time_prekey(id)
            }
        }

        impl core::SessionStore for $ty {
            fn load_session(
                &$self,
                address: &sotto::session::Address,
            ) -> Result<Option<SessionRecord>, core::StoreError> {
                $inner.load_session(address)
            }

            fn store_session(
                &$self,
                address: &sotto::session::Address,
                record: &SessionRecord,
            ) -> Result<(), core::StoreError> {
                $inner.store_session(address, record)
            }
        }
    };
}

/// Whichever store a manager was made with, shared with the FFI object that
/// made it.
#[derive(Clone)]
pub(crate) struct SharedStore(pub(crate) Arc<dyn core::ProtocolStore>);

forward_store_traits!(SharedStore, |self| self.0);

impl core::ProtocolStore for SharedStore {
    fn commit(&self, commit: &StoreCommit) -> Result<(), core::StoreError> {
        // The store's own commit: one transaction in a database.
        self.0.commit(commit)
    }
}
