//! The errors of the session layer.

use crate::keys::{BundleError, IdentityKey, KemPreKeyId, OneTimePreKeyId, SignedPreKeyId};
use crate::ratchet::RatchetError;
use crate::store::StoreError;
use crate::x3dh::X3dhError;

use super::Address;

/// Why a session operation failed. Whatever the error, no session or trust
/// record changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The message is larger than any message Sotto sends.
    #[error("the message is {found} bytes, more than the limit of {max}")]
    MessageTooLarge {
        /// The limit ([`MAX_ENVELOPE_LEN`](crate::protocol::MAX_ENVELOPE_LEN)).
        max: usize,
        /// The message's length.
        found: usize,
    },
    /// The message is not a well-formed envelope.
    #[error("the message is malformed: {reason}")]
    MalformedMessage {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The message has a wire version this build does not read.
    #[error("message version {found} is not supported (this build reads {expected})")]
    UnsupportedVersion {
        /// The version this build reads.
        expected: u32,
        /// The version in the message.
        found: u32,
    },
    /// The session was written after this message was decrypted (a message
    /// was encrypted to the address, or another decryption committed): the
    /// commit was refused, since it would undo that write. Decrypt the
    /// message again.
    #[error("the session changed after the message was decrypted; decrypt it again")]
    StaleDecryption,
    /// There is no session with the address (or none that the message
    /// belongs to).
    #[error("there is no session for this message")]
    NoSession,
    /// Another writer (another manager or process on the same store) kept
    /// changing the session of `address` while this manager tried to write
    /// it, [`attempts`](Self::Contended::attempts) times in a row. Nothing was
    /// stored and no message was handed out; try again.
    #[error("the session of {address} kept changing under {attempts} attempts to write it")]
    Contended {
        /// The address.
        address: Address,
        /// How many attempts were made ([`MAX_COMMIT_ATTEMPTS`](crate::protocol::MAX_COMMIT_ATTEMPTS)).
        attempts: u32,
    },
    /// A store called back into the manager for an address the manager was
    /// changing in the same thread: a store must not call the manager.
    #[error("a store called back into the session manager")]
    ReentrantCall,
    /// The store has sessions with `address` but no identity recorded for
    /// it. Every session is made together with its peer's identity, so the
    /// store lost that record (a damaged or tampered-with store): rather
    /// than trust a key on first use again, the address is refused until
    /// the user confirms its identity with
    /// [`SessionManager::trust_identity`](super::SessionManager::trust_identity).
    #[error("no identity is recorded for {address}, which has sessions")]
    PeerIdentityMissing {
        /// The address.
        address: Address,
    },
    /// The address presented an identity key other than the one recorded
    /// for it. The user should compare safety numbers; the app may then
    /// accept the new key with
    /// [`SessionManager::trust_identity`](super::SessionManager::trust_identity).
    #[error("{address} presented a different identity key than before")]
    UntrustedIdentity {
        /// The address.
        address: Address,
        /// The identity key it presented.
        identity_key: IdentityKey,
    },
    /// The store has no identity key pair for this device.
    #[error("the store has no local identity")]
    NoLocalIdentity,
    /// A first message names a signed prekey this device does not have.
    #[error("no signed prekey with id {id}")]
    UnknownSignedPreKey {
        /// The id it named.
        id: SignedPreKeyId,
    },
    /// A first message names a one-time prekey this device does not have
    /// (never made, or already used).
    #[error("no one-time prekey with id {id}")]
    UnknownOneTimePreKey {
        /// The id it named.
        id: OneTimePreKeyId,
    },
    /// A first message names a KEM prekey this device does not have (never
    /// made, already used, or rotated away).
    #[error("no KEM prekey with id {id}")]
    UnknownKemPreKey {
        /// The id it named.
        id: KemPreKeyId,
    },
    /// A bundle without a KEM prekey, or a first message without a KEM
    /// ciphertext, would make a classical (X3DH) session, and the manager
    /// refuses them ([`ClassicalSessions::Refuse`], the default): nothing
    /// was stored. Either the peer's device publishes no KEM prekeys, or
    /// something between stripped them.
    ///
    /// [`ClassicalSessions::Refuse`]: super::ClassicalSessions::Refuse
    #[error("{address} offers only a classical (not post-quantum) session, which is refused")]
    ClassicalSessionRefused {
        /// The peer.
        address: Address,
    },
    /// The prekey bundle was refused.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// X3DH failed.
    #[error(transparent)]
    X3dh(#[from] X3dhError),
    /// The Double Ratchet refused the message.
    #[error(transparent)]
    Ratchet(#[from] RatchetError),
    /// Call keys could not be derived.
    #[error(transparent)]
    Call(#[from] crate::call::CallError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
