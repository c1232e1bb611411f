//! Store traits: where a device keeps its identity, prekeys, sessions and
//! what it knows of its peers' identities.
//!
//! Each app keeps this state in its own database, so Sotto defines traits
//! and ships ready implementations ([`InMemoryStore`]). The traits follow
//! the shape foreign languages can implement through bindings: methods take
//! `&self`, implementations are `Send + Sync`, and every method returns
//! `Result<_, StoreError>`, where `Err` means the storage failed and
//! `Ok(None)` means the item does not exist.
//!
//! Writes that belong together reach the store as one [`StoreCommit`]
//! through [`ProtocolStore::commit`]; a transactional store applies it in
//! one transaction, and the default applies it in an order that loses no
//! message if it is interrupted (see [`ProtocolStore::commit`]).

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::InMemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{RecordKind, SqliteStore, SqliteStoreError, StorageKey};

use crate::keys::{
    IdentityKey, IdentityKeyPair, OneTimePreKey, OneTimePreKeyId, SignedPreKey, SignedPreKeyId,
};
use crate::proto::storage::PeerIdentityRecord;
use crate::protocol::RECORD_VERSION;
use crate::record::{self, RecordError};
use crate::session::{Address, SessionRecord};

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A stored record exists but cannot be loaded.
    #[error("a stored record is corrupt: {0}")]
    Corrupt(#[from] RecordError),
    /// The storage itself failed (I/O, database, a foreign implementation).
    #[error("the store failed: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl StoreError {
    /// Wraps a storage failure.
    pub fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Self::Backend(error.into())
    }
}

/// What this device knows of a peer's identity key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The identity key the peer's address is bound to.
    pub key: IdentityKey,
    /// Whether the user compared safety numbers for this key (otherwise it
    /// is trusted on first use).
    pub verified: bool,
}

impl PeerIdentity {
    /// Encodes the identity as a stored record (`storage.proto`,
    /// `PeerIdentityRecord`).
    pub fn to_record_bytes(&self) -> Vec<u8> {
        record::encode(&PeerIdentityRecord {
            version: RECORD_VERSION,
            identity_key: self.key.to_bytes().to_vec(),
            verified: self.verified,
        })
        .to_vec()
    }

    /// Loads an identity from [`to_record_bytes`](Self::to_record_bytes).
    ///
    /// # Errors
    /// A [`RecordError`] if the record is malformed, of another version, or
    /// its key is not a valid identity key.
    pub fn from_record_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let stored: PeerIdentityRecord = record::decode(bytes)?;
        record::check_version(stored.version)?;
        let key = IdentityKey::from_bytes(&stored.identity_key)
            .map_err(|_| RecordError::InvalidField { field: "identity_key" })?;
        Ok(Self { key, verified: stored.verified })
    }
}

/// This device's identity and its trust in peers' identities.
pub trait IdentityStore: Send + Sync {
    /// This device's identity key pair.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError>;

    /// The identity key recorded for `address`, if any.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, StoreError>;

    /// Records `identity` for `address`, replacing any earlier one.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn save_peer_identity(
        &self,
        address: &Address,
        identity: &PeerIdentity,
    ) -> Result<(), StoreError>;
}

/// This device's signed prekeys.
pub trait SignedPreKeyStore: Send + Sync {
    /// The signed prekey with `id`, if any.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, StoreError>;

    /// Stores a signed prekey under its id.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn save_signed_prekey(&self, prekey: &SignedPreKey) -> Result<(), StoreError>;

    /// Removes the signed prekey with `id` (absent is not an error).
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn remove_signed_prekey(&self, id: SignedPreKeyId) -> Result<(), StoreError>;
}

/// This device's one-time prekeys.
pub trait OneTimePreKeyStore: Send + Sync {
    /// The one-time prekey with `id`, if it has not been used.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, StoreError>;

    /// Stores a one-time prekey under its id.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn save_one_time_prekey(&self, prekey: &OneTimePreKey) -> Result<(), StoreError>;

    /// Removes the one-time prekey with `id` (absent is not an error).
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn remove_one_time_prekey(&self, id: OneTimePreKeyId) -> Result<(), StoreError>;
}

/// Sessions, one record per address.
pub trait SessionStore: Send + Sync {
    /// The session record for `address`, if any.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the stored record cannot be loaded,
    /// [`StoreError::Backend`] if the storage failed.
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError>;

    /// Stores the session record for `address`, replacing any earlier one.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn store_session(&self, address: &Address, record: &SessionRecord) -> Result<(), StoreError>;
}

/// The writes that one handled message (or one new session) makes, applied
/// together by [`ProtocolStore::commit`].
#[derive(Debug)]
pub struct StoreCommit {
    /// The address whose session changed.
    pub address: Address,
    /// The session record to store.
    pub session: SessionRecord,
    /// A peer identity seen for the first time, to record.
    pub new_peer_identity: Option<PeerIdentity>,
    /// A one-time prekey the session consumed, to remove.
    pub consumed_one_time_prekey: Option<OneTimePreKeyId>,
}

/// Everything the session layer needs from storage.
pub trait ProtocolStore:
    IdentityStore + SignedPreKeyStore + OneTimePreKeyStore + SessionStore
{
    /// Applies `commit`.
    ///
    /// A database should override this to apply it in one transaction. The
    /// default applies the writes one by one in an order that is safe to
    /// interrupt: the peer identity, then the session, then the removal of
    /// the one-time prekey. Interrupted before the session is stored, the
    /// message decrypts again when it is delivered again; interrupted after,
    /// the one-time prekey lingers, but a replay of the first message is
    /// recognised by its base key and refused as a duplicate.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed; the writes before the failure
    /// stay.
    fn commit(&self, commit: &StoreCommit) -> Result<(), StoreError> {
        if let Some(identity) = &commit.new_peer_identity {
            self.save_peer_identity(&commit.address, identity)?;
        }
        self.store_session(&commit.address, &commit.session)?;
        if let Some(id) = commit.consumed_one_time_prekey {
            self.remove_one_time_prekey(id)?;
        }
        Ok(())
    }
}
