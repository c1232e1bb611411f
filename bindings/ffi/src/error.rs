//! The two error types that cross the FFI: [`SottoError`], thrown by every
//! fallible call into Sotto, and [`StoreError`], thrown by a store that the
//! app implements.
//!
//! `SottoError` is deliberately smaller than the core's errors: an app
//! branches on what it can act on (a duplicate to acknowledge, a changed
//! identity to show, a missing session to set up), and the `reason` string
//! carries the core's precise message for logs. Its variants are stable:
//! new ones may be added, none will be renamed.

use sotto::call::CallError;
use sotto::keys::{BundleError, KeyError};
use sotto::media::SframeError;
use sotto::ratchet::RatchetError;
use sotto::record::RecordError;
use sotto::session::{AddressError, SessionError};
use sotto::store::SqliteStoreError;
use sotto::store::conformance::ConformanceError;
use sotto::verify::VerifyError;
use sotto::x3dh::X3dhError;

use crate::types::Address;

/// Why a call into Sotto failed. Whatever the error, no store changed.
///
/// In Kotlin this is `SottoException`, in Swift `SottoError`, in Python
/// `SottoError`; each variant is a subclass (Kotlin, Python) or a case
/// (Swift).
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum SottoError {
    /// An argument is unusable: an empty or too long account id, key bytes
    /// of the wrong length or not a valid point, a call id of the wrong
    /// length, a scanned safety number of the wrong form.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong with it.
        reason: String,
    },
    /// A prekey bundle is malformed (a key that is not one, an ML-KEM key
    /// that fails its modulus check included), of another version, or its
    /// signed prekey is not signed by its identity key.
    #[error("invalid prekey bundle: {reason}")]
    InvalidBundle {
        /// What is wrong with it.
        reason: String,
    },
    /// A prekey bundle's KEM prekey is not signed by the bundle's identity
    /// key: the server, or someone between, replaced it, which would break
    /// the session's post-quantum protection. Nothing was stored; do not
    /// retry with the same bundle.
    #[error("the prekey bundle's KEM prekey signature does not verify")]
    BadKemSignature,
    /// The session with `address` would be classical (X3DH), not
    /// post-quantum: its bundle has no KEM prekey, or its first message no
    /// KEM ciphertext, and the manager refuses classical sessions (the
    /// default). Nothing was stored. Either the peer's device publishes no
    /// KEM prekeys (an older Sotto), or something between stripped them; an
    /// app that must reach such devices opts in with
    /// `SessionManager.with_classical_sessions(Allow)`.
    #[error("{} offers only a classical (not post-quantum) session, which is refused", address.account)]
    ClassicalSessionRefused {
        /// The peer.
        address: Address,
    },
    /// A received message is not a well-formed Sotto message (too large,
    /// not protobuf, another wire version, a malformed header), or a 1:1
    /// call's offer or answer is not one (malformed, of another version).
    #[error("malformed message: {reason}")]
    MalformedMessage {
        /// What is wrong with it.
        reason: String,
    },
    /// There is no session with the address, or none that the message
    /// belongs to (a 1:1 call needs one too). Process the peer's bundle to
    /// start a new one.
    #[error("no session for this address or message")]
    NoSession,
    /// The store has no identity key pair for this device.
    #[error("the store has no local identity")]
    NoLocalIdentity,
    /// `address` presented an identity key other than the one recorded for
    /// it. Show the user the change; once accepted (ideally after comparing
    /// safety numbers), call `trust_identity(address, identity_key, ...)`.
    #[error("{} presented a different identity key than before", address.account)]
    UntrustedIdentity {
        /// The address.
        address: Address,
        /// The identity key it presented (32 bytes, Ed25519).
        identity_key: Vec<u8>,
    },
    /// A first message names a signed, one-time or KEM prekey this device
    /// does not have (never made, removed, or already used: a one-time KEM
    /// prekey starts one session only).
    #[error("unknown prekey: {reason}")]
    UnknownPreKey {
        /// Which prekey.
        reason: String,
    },
    /// The message was already decrypted and committed (or its key was
    /// dropped). An app that commits before acknowledging treats this as
    /// "already have it" and acknowledges the message.
    #[error("message {counter} was already received")]
    DuplicateMessage {
        /// The message's index in its chain.
        counter: u32,
    },
    /// A bound was exceeded: a plaintext over the size limit, a message too
    /// far ahead in its chain, an exhausted message or frame counter.
    #[error("limit exceeded: {reason}")]
    LimitExceeded {
        /// Which limit.
        reason: String,
    },
    /// A message or media frame failed authentication: it was altered, or
    /// is not meant for this session or key.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// Key agreement refused a key: a small-order (non-contributory) key in
    /// PQXDH (or X3DH), the ratchet, or a 1:1 call's offer or answer.
    #[error("key agreement failed: {reason}")]
    KeyAgreementFailed {
        /// What was refused.
        reason: String,
    },
    /// An SFrame frame was refused before authentication: a malformed
    /// header, an unknown key id, a frame too short to hold a tag.
    #[error("frame refused: {reason}")]
    FrameRejected {
        /// Why.
        reason: String,
    },
    /// An SFrame frame was already received, or is older than the replay
    /// window.
    #[error("replayed frame: {reason}")]
    FrameReplayed {
        /// Which frame.
        reason: String,
    },
    /// A group-call sender key message was refused: malformed, of another
    /// call, suite or sender, from a participant that left, or of an epoch
    /// or step older than the key held (a repeat included).
    #[error("sender key refused: {reason}")]
    SenderKeyRejected {
        /// Why.
        reason: String,
    },
    /// A stored record (in the app's store or given to a `from_record_bytes`)
    /// cannot be loaded: malformed, of another version, or with an invalid
    /// field.
    #[error("corrupt record: {reason}")]
    CorruptRecord {
        /// What is wrong with it.
        reason: String,
    },
    /// The store failed: the message of the `StoreError` an app's store
    /// threw, or of the SDK store's failure (SQLite, or a `rekey` refused
    /// while rows sealed by an older Sotto remain: `upgrade_legacy_rows`
    /// first).
    #[error("the store failed: {reason}")]
    Store {
        /// The store's message.
        reason: String,
    },
    /// The storage key does not open this `SqliteStore`: it is not the key
    /// the store was created with.
    #[error("the storage key does not open this store")]
    WrongStorageKey,
    /// A `SqliteStore` was altered by someone without the storage key: rows
    /// removed, added or rolled back one by one, or (`open_anchored`) the
    /// whole file restored to a copy older than the app's anchor. The store
    /// is refused: treat the device's storage as compromised.
    #[error("the store was tampered with: {reason}")]
    StoreTampered {
        /// What was found.
        reason: String,
    },
    /// `commit()` was called a second time on the same decrypted message,
    /// or a batch was used after its `commit()`.
    #[error("this message or batch was already committed")]
    AlreadyCommitted,
    /// A one-time object was used again: an outgoing call whose answer was
    /// already received, a 1:1 call whose keys were taken out with
    /// `into_keys`.
    #[error("already used: {reason}")]
    AlreadyUsed {
        /// What was used.
        reason: String,
    },
    /// The session was written after the message was decrypted (a message
    /// was encrypted to the address in between): the commit was refused,
    /// since it would undo that write. Decrypt the message again.
    #[error("the session changed after the message was decrypted; decrypt it again")]
    StaleDecryption,
    /// Another writer (another manager or process on the same store) kept
    /// changing the session of `address` while this call tried to write it.
    /// Nothing was stored and no message was handed out: try again.
    #[error("the session of {} kept changing; try again", address.account)]
    Contended {
        /// The address.
        address: Address,
    },
    /// The store has sessions with `address` but no identity recorded for
    /// it: it lost that record (a damaged or tampered-with store). The
    /// address is refused, rather than trusting a key on first use again,
    /// until the user confirms its identity (`trust_identity`).
    #[error("no identity is recorded for {}, which has sessions", address.account)]
    PeerIdentityMissing {
        /// The address.
        address: Address,
    },
    /// A 1:1 call's offer or answer was refused: an offer naming other
    /// identity keys than the session's, an offer accepted before (a
    /// replay), an answer that does not answer this call's offer.
    #[error("call signal refused: {reason}")]
    CallSignalRejected {
        /// Why.
        reason: String,
    },
    /// `check_store_conformance`: the store breaks the commit contract of
    /// `ProtocolStore.commit`.
    #[error("the store fails the commit contract: {check}: {detail}")]
    ConformanceFailed {
        /// Which check failed.
        check: String,
        /// What was expected and what happened.
        detail: String,
    },
    /// A failure this version of the bindings has no variant for (a newer
    /// core error), a misuse no app handles at run time (a store that calls
    /// back into the session manager), or an internal invariant that did
    /// not hold.
    #[error("internal error: {reason}")]
    Internal {
        /// The core's message.
        reason: String,
    },
}

/// The error a store implemented by the app throws.
///
/// In Kotlin `StoreException.Backend(reason)` / `StoreException.Conflict()`,
/// in Swift `StoreError.Backend(reason:)` / `StoreError.Conflict`, in Python
/// `StoreError.Backend(reason)` / `StoreError.Conflict()`. Any other
/// exception a store method throws arrives as `Backend` too, with the
/// exception's text as `reason`; Sotto returns it to the caller as
/// `SottoError.Store`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum StoreError {
    /// The storage failed (I/O, database, ...).
    #[error("{reason}")]
    Backend {
        /// What failed.
        reason: String,
    },
    /// Thrown by `ProtocolStore.commit` only: a write of the batch does not
    /// match the stored state (another generation, another identity, a
    /// one-time prekey already gone), so nothing was written. Sotto loads
    /// the state again and retries, or reports the decryption as stale.
    #[error("the stored state changed since it was loaded")]
    Conflict,
}

impl From<uniffi::UnexpectedUniFFICallbackError> for StoreError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Backend { reason: error.reason }
    }
}

fn reason(error: impl std::fmt::Display) -> String {
    error.to_string()
}

impl From<SessionError> for SottoError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::MessageTooLarge { .. }
            | SessionError::MalformedMessage { .. }
            | SessionError::UnsupportedVersion { .. } => {
                Self::MalformedMessage { reason: reason(error) }
            }
            SessionError::NoSession => Self::NoSession,
            SessionError::StaleDecryption => Self::StaleDecryption,
            SessionError::UntrustedIdentity { address, identity_key } => Self::UntrustedIdentity {
                address: Address::from(&address),
                identity_key: identity_key.to_bytes().to_vec(),
            },
            SessionError::NoLocalIdentity => Self::NoLocalIdentity,
            SessionError::Contended { address, .. } => {
                Self::Contended { address: Address::from(&address) }
            }
            SessionError::PeerIdentityMissing { address } => {
                Self::PeerIdentityMissing { address: Address::from(&address) }
            }
            SessionError::UnknownSignedPreKey { .. }
            | SessionError::UnknownOneTimePreKey { .. }
            | SessionError::UnknownKemPreKey { .. } => {
                Self::UnknownPreKey { reason: reason(error) }
            }
            SessionError::ClassicalSessionRefused { address } => {
                Self::ClassicalSessionRefused { address: Address::from(&address) }
            }
            SessionError::Bundle(error) => error.into(),
            SessionError::X3dh(error) => error.into(),
            SessionError::Ratchet(error) => error.into(),
            SessionError::Call(error) => error.into(),
            SessionError::Store(error) => error.into(),
            other => Self::Internal { reason: reason(other) },
        }
    }
}

impl From<BundleError> for SottoError {
    fn from(error: BundleError) -> Self {
        match error {
            BundleError::BadKemSignature => Self::BadKemSignature,
            other => Self::InvalidBundle { reason: reason(other) },
        }
    }
}

impl From<X3dhError> for SottoError {
    fn from(error: X3dhError) -> Self {
        Self::KeyAgreementFailed { reason: reason(error) }
    }
}

impl From<RatchetError> for SottoError {
    fn from(error: RatchetError) -> Self {
        match error {
            RatchetError::MalformedHeader => Self::MalformedMessage { reason: reason(error) },
            RatchetError::DuplicateMessage { counter } => Self::DuplicateMessage { counter },
            RatchetError::TooFarAhead { .. }
            | RatchetError::CounterExhausted
            | RatchetError::PlaintextTooLarge { .. } => {
                Self::LimitExceeded { reason: reason(error) }
            }
            RatchetError::AuthenticationFailed => Self::AuthenticationFailed,
            RatchetError::NonContributory => Self::KeyAgreementFailed { reason: reason(error) },
            other => Self::Internal { reason: reason(other) },
        }
    }
}

impl From<CallError> for SottoError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::InvalidCallId { .. } | CallError::OwnParticipant { .. } => {
                Self::InvalidArgument { reason: reason(error) }
            }
            CallError::MalformedCallSignal { .. } | CallError::UnsupportedSignalVersion { .. } => {
                Self::MalformedMessage { reason: reason(error) }
            }
            CallError::IdentityMismatch | CallError::AnswerMismatch | CallError::ReplayedOffer => {
                Self::CallSignalRejected { reason: reason(error) }
            }
            CallError::WeakEphemeralKey => Self::KeyAgreementFailed { reason: reason(error) },
            CallError::Sframe(error) => error.into(),
            CallError::MalformedSenderKey { .. }
            | CallError::UnsupportedSenderKeyVersion { .. }
            | CallError::WrongCall { .. }
            | CallError::WrongCipherSuite { .. }
            | CallError::WrongSender { .. }
            | CallError::RemovedParticipant { .. }
            | CallError::StaleEpoch { .. }
            | CallError::StaleStep { .. } => Self::SenderKeyRejected { reason: reason(error) },
            CallError::UnknownSender { .. } => Self::FrameRejected { reason: reason(error) },
            CallError::StepsExhausted { .. } | CallError::EpochOutOfRange { .. } => {
                Self::LimitExceeded { reason: reason(error) }
            }
            other => Self::Internal { reason: reason(other) },
        }
    }
}

impl From<SframeError> for SottoError {
    fn from(error: SframeError) -> Self {
        match error {
            SframeError::Header(_)
            | SframeError::UnknownKeyId(_)
            | SframeError::FrameTooShort { .. } => Self::FrameRejected { reason: reason(error) },
            SframeError::Replay { .. } | SframeError::TooOld { .. } => {
                Self::FrameReplayed { reason: reason(error) }
            }
            SframeError::AuthenticationFailed => Self::AuthenticationFailed,
            SframeError::CounterExhausted(_) | SframeError::FrameTooLong => {
                Self::LimitExceeded { reason: reason(error) }
            }
            SframeError::UnsupportedCipherSuite(_)
            | SframeError::InvalidKeyLength { .. }
            | SframeError::EmptyBaseKey => Self::InvalidArgument { reason: reason(error) },
            other => Self::Internal { reason: reason(other) },
        }
    }
}

impl From<sotto::store::StoreError> for SottoError {
    fn from(error: sotto::store::StoreError) -> Self {
        match error {
            sotto::store::StoreError::Corrupt(error) => error.into(),
            // The manager retries a lost compare-and-swap or reports it as a
            // stale decryption; one that still arrives here is contention.
            sotto::store::StoreError::Conflict { address } => {
                Self::Contended { address: Address::from(&address) }
            }
            sotto::store::StoreError::Backend(error) => {
                match error.downcast::<SqliteStoreError>() {
                    Ok(sqlite) => (*sqlite).into(),
                    Err(other) => Self::Store { reason: reason(other) },
                }
            }
            other => Self::Store { reason: reason(other) },
        }
    }
}

impl From<SqliteStoreError> for SottoError {
    fn from(error: SqliteStoreError) -> Self {
        match error {
            SqliteStoreError::WrongStorageKey => Self::WrongStorageKey,
            SqliteStoreError::StorageKeyLength { .. } => {
                Self::InvalidArgument { reason: reason(error) }
            }
            SqliteStoreError::Corrupt { .. }
            | SqliteStoreError::CorruptRecord { .. }
            | SqliteStoreError::Record { .. } => Self::CorruptRecord { reason: reason(error) },
            SqliteStoreError::Tampered { .. } | SqliteStoreError::RolledBack { .. } => {
                Self::StoreTampered { reason: reason(error) }
            }
            SqliteStoreError::SealLimitReached { .. } => {
                Self::LimitExceeded { reason: reason(error) }
            }
            other => Self::Store { reason: reason(other) },
        }
    }
}

impl From<ConformanceError> for SottoError {
    fn from(error: ConformanceError) -> Self {
        Self::ConformanceFailed { check: error.check.to_owned(), detail: error.detail }
    }
}

impl From<RecordError> for SottoError {
    fn from(error: RecordError) -> Self {
        Self::CorruptRecord { reason: reason(error) }
    }
}

impl From<AddressError> for SottoError {
    fn from(error: AddressError) -> Self {
        Self::InvalidArgument { reason: reason(error) }
    }
}

impl From<KeyError> for SottoError {
    fn from(error: KeyError) -> Self {
        Self::InvalidArgument { reason: reason(error) }
    }
}

impl From<VerifyError> for SottoError {
    fn from(error: VerifyError) -> Self {
        Self::InvalidArgument { reason: reason(error) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratchet_errors_keep_what_an_app_acts_on() {
        assert!(matches!(
            SottoError::from(SessionError::Ratchet(RatchetError::DuplicateMessage { counter: 3 })),
            SottoError::DuplicateMessage { counter: 3 }
        ));
        assert!(matches!(
            SottoError::from(SessionError::MalformedMessage { reason: "x" }),
            SottoError::MalformedMessage { .. }
        ));
        assert!(matches!(
            SottoError::from(SframeError::Replay { kid: 1.into(), ctr: 2 }),
            SottoError::FrameReplayed { .. }
        ));
    }

    #[test]
    fn call_errors_keep_what_an_app_acts_on() {
        for refused in
            [CallError::IdentityMismatch, CallError::AnswerMismatch, CallError::ReplayedOffer]
        {
            assert!(matches!(
                SottoError::from(SessionError::Call(refused)),
                SottoError::CallSignalRejected { .. }
            ));
        }
        assert!(matches!(
            SottoError::from(CallError::MalformedCallSignal { reason: "x" }),
            SottoError::MalformedMessage { .. }
        ));
        assert!(matches!(
            SottoError::from(CallError::UnsupportedSignalVersion { expected: 1, found: 2 }),
            SottoError::MalformedMessage { .. }
        ));
        assert!(matches!(
            SottoError::from(CallError::WeakEphemeralKey),
            SottoError::KeyAgreementFailed { .. }
        ));
    }

    #[test]
    fn session_and_store_errors_keep_what_an_app_acts_on() {
        let address = sotto::session::Address::new("alice", 1).unwrap();
        let expected = Address::from(&address);
        assert!(matches!(
            SottoError::from(SessionError::Contended { address: address.clone(), attempts: 32 }),
            SottoError::Contended { address } if address == expected
        ));
        assert!(matches!(
            SottoError::from(SessionError::PeerIdentityMissing { address: address.clone() }),
            SottoError::PeerIdentityMissing { address } if address == expected
        ));
        assert!(matches!(
            SottoError::from(sotto::store::StoreError::Conflict { address }),
            SottoError::Contended { .. }
        ));
        assert!(matches!(
            SottoError::from(SqliteStoreError::RolledBack { anchor: 5, found: 3 }),
            SottoError::StoreTampered { .. }
        ));
        assert!(matches!(
            SottoError::from(SqliteStoreError::Tampered { detail: "x".into() }),
            SottoError::StoreTampered { .. }
        ));
        assert!(matches!(
            SottoError::from(SqliteStoreError::SealLimitReached { max: 1 }),
            SottoError::LimitExceeded { .. }
        ));
        assert!(matches!(
            SottoError::from(SqliteStoreError::LegacyRows { count: 2 }),
            SottoError::Store { .. }
        ));
    }

    #[test]
    fn post_quantum_errors_keep_what_an_app_acts_on() {
        let address = sotto::session::Address::new("bob", 2).unwrap();
        let expected = Address::from(&address);
        assert!(matches!(
            SottoError::from(SessionError::ClassicalSessionRefused { address }),
            SottoError::ClassicalSessionRefused { address } if address == expected
        ));
        assert!(matches!(
            SottoError::from(SessionError::Bundle(BundleError::BadKemSignature)),
            SottoError::BadKemSignature
        ));
        // The signed prekey's bad signature stays an invalid bundle.
        assert!(matches!(
            SottoError::from(SessionError::Bundle(BundleError::BadSignature)),
            SottoError::InvalidBundle { .. }
        ));
        assert!(matches!(
            SottoError::from(SessionError::UnknownKemPreKey { id: 7.into() }),
            SottoError::UnknownPreKey { reason } if reason.contains("KEM") && reason.contains('7')
        ));
        let invalid_kem =
            BundleError::InvalidKey { field: "kem_prekey", source: KeyError::InvalidKemKey };
        assert!(matches!(SottoError::from(invalid_kem), SottoError::InvalidBundle { .. }));
        assert!(matches!(
            SottoError::from(KeyError::InvalidKemKey),
            SottoError::InvalidArgument { .. }
        ));
    }

    #[test]
    fn a_foreign_exception_becomes_a_store_error() {
        let unexpected = uniffi::UnexpectedUniFFICallbackError::new("disk on fire");
        let core = sotto::store::StoreError::backend(StoreError::from(unexpected));
        assert!(
            matches!(SottoError::from(core), SottoError::Store { reason } if reason == "disk on fire")
        );
    }
}
