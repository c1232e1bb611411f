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
//! Sessions and peer identities are written only through
//! [`ProtocolStore::commit`]: a compare-and-swap on the session's
//! generation, applied in one transaction with everything that belongs to
//! the same change ([`StoreCommit`]). That contract is what keeps every
//! message key and nonce single-use across threads, managers and processes;
//! [`conformance::check`] tests a store against it.

pub mod conformance;
mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::InMemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{RecordKind, SqliteStore, SqliteStoreError, StorageKey};

use std::sync::Arc;

use crate::keys::{
    DhPublicKey, IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey,
    OneTimePreKeyId, SignedPreKey, SignedPreKeyId,
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
    /// A [`StoreCommit`] expected another generation of the session of
    /// `address` than the stored one (or expected none, and one is stored),
    /// or a first-use identity met another recorded identity: something
    /// else wrote that address since its state was loaded. Nothing of the
    /// commit (or of its batch) was written.
    #[error("the state of {address} changed since it was loaded")]
    Conflict {
        /// The address whose state changed.
        address: Address,
    },
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
    /// The key is taken as stored, its length checked but not its point: it
    /// was checked when it entered (from a message, a bundle or the app),
    /// and a recorded identity is only ever compared with other keys, never
    /// used as a point, so a corrupt one can only make a comparison fail.
    /// (Decompressing it on every load, that is on every decryption, cost a
    /// third of a message on `SqliteStore`.)
    ///
    /// # Errors
    /// A [`RecordError`] if the record is malformed, of another version, or
    /// its key is not 32 bytes.
    pub fn from_record_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let stored: PeerIdentityRecord = record::decode(bytes)?;
        record::check_version(stored.version)?;
        let key = IdentityKey::from_stored_bytes(&stored.identity_key)
            .map_err(|_| RecordError::InvalidField { field: "identity_key" })?;
        Ok(Self { key, verified: stored.verified })
    }
}

/// This device's identity and what it knows of its peers' identities.
///
/// A peer's identity is written only through [`ProtocolStore::commit`],
/// together with the session of its address.
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

/// The device's KEM prekeys (PQXDH): its one-time ML-KEM-1024 prekeys, its
/// last-resort one, and the recorded uses of its last-resort ones.
///
/// One-time KEM prekeys are removed by the [`ProtocolStore::commit`] of the
/// session that used one; the app removes a last-resort KEM prekey when it
/// rotates it (after a grace period for messages in flight), and the store
/// then forgets that prekey's recorded uses with it.
pub trait KemPreKeyStore: Send + Sync {
    /// The KEM prekey with `id`, if stored.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed or the record is corrupt.
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, StoreError>;

    /// Stores (or replaces) a KEM prekey.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn save_kem_prekey(&self, prekey: &KemPreKey) -> Result<(), StoreError>;

    /// Removes the KEM prekey with `id`, if stored, and forgets every use of
    /// it a commit recorded.
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn remove_kem_prekey(&self, id: KemPreKeyId) -> Result<(), StoreError>;

    /// Whether a commit recorded that the last-resort KEM prekey `id` started
    /// a session with `base_key` ([`LastResortUse`]).
    ///
    /// # Errors
    /// [`StoreError`] if the storage failed.
    fn last_resort_use_recorded(
        &self,
        id: KemPreKeyId,
        base_key: &DhPublicKey,
    ) -> Result<bool, StoreError>;
}

/// Sessions, one record per address, each with its
/// [generation](SessionRecord::generation).
///
/// A session record is written only through [`ProtocolStore::commit`].
pub trait SessionStore: Send + Sync {
    /// The session record for `address`, if any.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the stored record cannot be loaded,
    /// [`StoreError::Backend`] if the storage failed.
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError>;
}

/// How a [`StoreCommit`] changes the identity recorded for its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerIdentityWrite {
    /// Trust on first use: record this identity if none is recorded. If
    /// the same one is recorded, nothing changes; if another one is, the
    /// commit fails with [`StoreError::Conflict`].
    FirstUse(PeerIdentity),
    /// The user's decision ([`trust_identity`]): record this identity,
    /// replacing any other.
    ///
    /// [`trust_identity`]: crate::session::SessionManager::trust_identity
    Replace(PeerIdentity),
}

impl PeerIdentityWrite {
    /// The identity to record.
    pub fn identity(&self) -> &PeerIdentity {
        match self {
            Self::FirstUse(identity) | Self::Replace(identity) => identity,
        }
    }
}

/// A session started with a last-resort KEM prekey: the pair a store keeps
/// for as long as it keeps that prekey, so that a replay of the first
/// message cannot start another session with the same key (docs/PROTOCOL.md
/// §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LastResortUse {
    /// The last-resort KEM prekey.
    pub kem_prekey: KemPreKeyId,
    /// The base key (`EK_A`) of the first message that used it.
    pub base_key: DhPublicKey,
}

/// The writes that one change of an address's state makes (an encryption, a
/// handled message, a new session, a trust decision), applied together by
/// [`ProtocolStore::commit`] as a compare-and-swap on the session's
/// generation.
#[derive(Debug)]
#[non_exhaustive]
pub struct StoreCommit {
    /// The address whose state changed.
    pub address: Address,
    /// The generation of the session record this change was computed from,
    /// which must still be the stored one; `None`: no record may be stored.
    pub expected_generation: Option<u64>,
    /// The session record to store; its
    /// [`generation`](SessionRecord::generation) is the new one, always
    /// different from `expected_generation`.
    pub session: SessionRecord,
    /// A change of the identity recorded for `address`.
    pub peer_identity: Option<PeerIdentityWrite>,
    /// The one-time prekeys the change consumed (first messages), to
    /// remove; each must still be stored.
    pub consumed_one_time_prekeys: Vec<OneTimePreKeyId>,
    /// The one-time KEM prekeys the change consumed (PQXDH first messages),
    /// to remove; each must still be stored.
    pub consumed_kem_prekeys: Vec<KemPreKeyId>,
    /// The last-resort KEM prekey uses the change makes (PQXDH first
    /// messages), to record; each prekey must still be stored, and each use
    /// must not be recorded yet.
    pub last_resort_uses: Vec<LastResortUse>,
}

impl StoreCommit {
    /// A commit that stores `session` (with the generation it has) in place
    /// of generation `expected_generation` of the record of `address`.
    ///
    /// [`SessionManager`](crate::session::SessionManager) makes every commit
    /// a session needs; this is for tests and tools that write a store
    /// directly.
    pub fn new(address: Address, expected_generation: Option<u64>, session: SessionRecord) -> Self {
        Self {
            address,
            expected_generation,
            session,
            peer_identity: None,
            consumed_one_time_prekeys: Vec::new(),
            consumed_kem_prekeys: Vec::new(),
            last_resort_uses: Vec::new(),
        }
    }

    /// The same commit, also writing `identity` for its address.
    pub fn with_peer_identity(mut self, identity: PeerIdentityWrite) -> Self {
        self.peer_identity = Some(identity);
        self
    }

    /// The same commit, also consuming one-time prekey `id`.
    pub fn consuming(mut self, id: OneTimePreKeyId) -> Self {
        self.consumed_one_time_prekeys.push(id);
        self
    }

    /// The same commit, also consuming one-time KEM prekey `id`.
    pub fn consuming_kem(mut self, id: KemPreKeyId) -> Self {
        self.consumed_kem_prekeys.push(id);
        self
    }

    /// The same commit, also recording a use of a last-resort KEM prekey.
    pub fn recording(mut self, last_resort_use: LastResortUse) -> Self {
        self.last_resort_uses.push(last_resort_use);
        self
    }
}

/// A write transaction that a store holds exclusively against the other
/// transactions that write what it reads, from [`ProtocolStore::begin_write`]
/// to its [`commit`](Self::commit) (or its drop, which rolls it back): the
/// whole storage for a database's write lock (`SqliteStore`, across
/// processes), the address it reads first for [`InMemoryStore`]. What a
/// manager loads through it is then still the stored state when it commits,
/// and writers of one address take turns instead of racing one another's
/// compare-and-swap. The commit is still a compare-and-swap: a writer that
/// uses no transaction can make it fail, and the manager then retries.
pub trait WriteTransaction {
    /// The session record for `address`, as
    /// [`SessionStore::load_session`] returns it.
    ///
    /// # Errors
    /// As [`SessionStore::load_session`].
    fn load_session(&mut self, address: &Address) -> Result<Option<SessionRecord>, StoreError>;

    /// The identity recorded for `address`, as
    /// [`IdentityStore::peer_identity`] returns it.
    ///
    /// # Errors
    /// As [`IdentityStore::peer_identity`].
    fn peer_identity(&mut self, address: &Address) -> Result<Option<PeerIdentity>, StoreError>;

    /// Applies `commits` as [`ProtocolStore::commit`] does, and ends the
    /// transaction.
    ///
    /// # Errors
    /// As [`ProtocolStore::commit`].
    fn commit(self: Box<Self>, commits: &[StoreCommit]) -> Result<(), StoreError>;
}

/// Everything the session layer needs from storage.
///
/// # The commit contract
///
/// [`commit`](Self::commit) is the only way session records and peer
/// identities are written, and every implementation must make it a
/// compare-and-swap: no key or nonce is ever used twice only because no two
/// writers can both advance a session from the same generation, whether
/// they are two threads, two managers over one store, or two processes of
/// the app (an iOS app and its notification extension) on one database.
/// [`conformance::check`] exercises the contract on an empty store.
pub trait ProtocolStore:
    IdentityStore + SignedPreKeyStore + OneTimePreKeyStore + KemPreKeyStore + SessionStore
{
    /// Applies every commit of `commits` (at most one per address), all or
    /// none, atomically with respect to every other `commit` and
    /// [`load_session`](SessionStore::load_session) on the same storage, in
    /// any thread or process. For each commit, in one transaction:
    ///
    /// 1. the stored session record of `address` must have generation
    ///    `expected_generation` (`None`: there must be none), a
    ///    [`PeerIdentityWrite::FirstUse`] must find no identity recorded for
    ///    `address` or the same one, every consumed one-time prekey and
    ///    one-time KEM prekey must still be stored, and for every
    ///    [`LastResortUse`] the KEM prekey must still be stored and the use
    ///    not be recorded yet; otherwise nothing of any commit is written
    ///    and the result is [`StoreError::Conflict`];
    /// 2. the peer identity is written, if there is one to write;
    /// 3. the session record is stored with its generation;
    /// 4. the consumed one-time prekeys and one-time KEM prekeys are
    ///    removed, and the last-resort uses recorded (until their KEM prekey
    ///    is removed).
    ///
    /// A commit that returned `Ok` must be durable: the next encryption
    /// hands out a message built on it.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] as above; [`StoreError::Backend`] if the
    /// storage failed, in which case nothing was written.
    fn commit(&self, commits: &[StoreCommit]) -> Result<(), StoreError>;

    /// Starts an exclusive [`WriteTransaction`], if the store has them.
    ///
    /// Optional: without one (the default, `None`), a manager loads, then
    /// commits with a compare-and-swap and, when another writer changed the
    /// session in between, loads again and retries. A store shared by
    /// several processes whose writers wait for one another (a database's
    /// write lock) should offer one, so that a busy writer in one process
    /// cannot make another's retries fail again and again.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the storage failed.
    fn begin_write(&self) -> Result<Option<Box<dyn WriteTransaction + '_>>, StoreError> {
        Ok(None)
    }
}

// A store shared (by several managers, or by a manager and the app) is a
// store: every call goes to the one behind the `Arc`.

impl<T: IdentityStore + ?Sized> IdentityStore for Arc<T> {
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError> {
        (**self).local_identity()
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        (**self).peer_identity(address)
    }
}

impl<T: SignedPreKeyStore + ?Sized> SignedPreKeyStore for Arc<T> {
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, StoreError> {
        (**self).signed_prekey(id)
    }

    fn save_signed_prekey(&self, prekey: &SignedPreKey) -> Result<(), StoreError> {
        (**self).save_signed_prekey(prekey)
    }

    fn remove_signed_prekey(&self, id: SignedPreKeyId) -> Result<(), StoreError> {
        (**self).remove_signed_prekey(id)
    }
}

impl<T: OneTimePreKeyStore + ?Sized> OneTimePreKeyStore for Arc<T> {
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, StoreError> {
        (**self).one_time_prekey(id)
    }

    fn save_one_time_prekey(&self, prekey: &OneTimePreKey) -> Result<(), StoreError> {
        (**self).save_one_time_prekey(prekey)
    }

    fn remove_one_time_prekey(&self, id: OneTimePreKeyId) -> Result<(), StoreError> {
        (**self).remove_one_time_prekey(id)
    }
}

impl<T: KemPreKeyStore + ?Sized> KemPreKeyStore for Arc<T> {
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, StoreError> {
        (**self).kem_prekey(id)
    }

    fn save_kem_prekey(&self, prekey: &KemPreKey) -> Result<(), StoreError> {
        (**self).save_kem_prekey(prekey)
    }

    fn remove_kem_prekey(&self, id: KemPreKeyId) -> Result<(), StoreError> {
        (**self).remove_kem_prekey(id)
    }

    fn last_resort_use_recorded(
        &self,
        id: KemPreKeyId,
        base_key: &DhPublicKey,
    ) -> Result<bool, StoreError> {
        (**self).last_resort_use_recorded(id, base_key)
    }
}

impl<T: SessionStore + ?Sized> SessionStore for Arc<T> {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        (**self).load_session(address)
    }
}

impl<T: ProtocolStore + ?Sized> ProtocolStore for Arc<T> {
    fn commit(&self, commits: &[StoreCommit]) -> Result<(), StoreError> {
        (**self).commit(commits)
    }

    fn begin_write(&self) -> Result<Option<Box<dyn WriteTransaction + '_>>, StoreError> {
        (**self).begin_write()
    }
}
