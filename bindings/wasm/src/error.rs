//! The one error JavaScript sees: a JS `Error` whose `name` is
//! `"SottoError"` and whose `code` is one of [`ErrorCode`]'s stable strings.
//!
//! The codes are the same cases as the uniffi bindings' `SottoError` (but
//! for `CONFLICT` and `REENTRANT_CALL`, which those report as `Contended`
//! and `Internal`): an app branches on what it can act on (a duplicate to
//! acknowledge, a changed identity to show, a missing session to set up),
//! and `message` carries the core's precise text for logs. Codes are never
//! renamed; new ones may be added.
//!
//! [`SottoError`] is plain Rust (so that the mapping is tested natively);
//! it becomes a JS `Error` only when it crosses into JavaScript.

use sotto::call::CallError;
use sotto::keys::{BundleError, KeyError};
use sotto::media::SframeError;
use sotto::ratchet::RatchetError;
use sotto::record::RecordError;
use sotto::session::{Address, AddressError, SessionError};
use sotto::store::StoreError;
use sotto::store::conformance::ConformanceError;
use sotto::verify::VerifyError;
use sotto::x3dh::X3dhError;
use wasm_bindgen::JsValue;

use crate::store::JsStoreFailure;

/// The stable `code` of a `SottoError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// An argument is unusable: a bad address, key, id or call id.
    InvalidArgument,
    /// A prekey bundle is malformed or its signed prekey badly signed.
    InvalidBundle,
    /// A prekey bundle's KEM prekey is not signed by its identity key.
    BadKemSignature,
    /// A new session would be classical (X3DH), and the manager refuses
    /// those.
    ClassicalSessionRefused,
    /// A received message is not a well-formed Sotto message.
    MalformedMessage,
    /// No session with the address, or none the message belongs to.
    NoSession,
    /// The session was written between a decrypt and its commit.
    StaleDecryption,
    /// A store's compare-and-swap was lost: the state of the address
    /// changed since it was loaded.
    Conflict,
    /// Another writer kept changing the session while this one tried.
    Contended,
    /// A store called back into the manager for the address being changed.
    ReentrantCall,
    /// The store has sessions with the address but no identity for it.
    PeerIdentityMissing,
    /// The store has no identity key pair for this device.
    NoLocalIdentity,
    /// The address presented another identity key than the one recorded.
    UntrustedIdentity,
    /// A first message names a prekey (signed, one-time or KEM) this device
    /// does not have.
    UnknownPrekey,
    /// A 1:1 call's offer or answer was refused (other identities, a
    /// replay, the answer to another offer).
    CallSignalRejected,
    /// The message was already decrypted and committed.
    DuplicateMessage,
    /// A bound was exceeded (size, skip, counter).
    LimitExceeded,
    /// A message or frame failed authentication.
    AuthenticationFailed,
    /// Key agreement refused a key.
    KeyAgreementFailed,
    /// An SFrame frame was refused before authentication.
    FrameRejected,
    /// An SFrame frame was replayed or is too old.
    FrameReplayed,
    /// A stored record cannot be loaded.
    CorruptRecord,
    /// The store failed (a JS store threw, or returned a non-record).
    Store,
    /// `commit()` was called again after it succeeded.
    AlreadyCommitted,
    /// An object whose one use is over was used again.
    AlreadyUsed,
    /// A store failed the conformance check.
    ConformanceFailed,
    /// A core error this version has no code for.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the `.d.ts`.
    #[cfg(test)]
    pub(crate) const ALL: [Self; 27] = [
        Self::InvalidArgument,
        Self::InvalidBundle,
        Self::BadKemSignature,
        Self::ClassicalSessionRefused,
        Self::MalformedMessage,
        Self::NoSession,
        Self::StaleDecryption,
        Self::Conflict,
        Self::Contended,
        Self::ReentrantCall,
        Self::PeerIdentityMissing,
        Self::NoLocalIdentity,
        Self::UntrustedIdentity,
        Self::UnknownPrekey,
        Self::CallSignalRejected,
        Self::DuplicateMessage,
        Self::LimitExceeded,
        Self::AuthenticationFailed,
        Self::KeyAgreementFailed,
        Self::FrameRejected,
        Self::FrameReplayed,
        Self::CorruptRecord,
        Self::Store,
        Self::AlreadyCommitted,
        Self::AlreadyUsed,
        Self::ConformanceFailed,
        Self::Internal,
    ];

    /// The string JavaScript sees as `error.code`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::InvalidBundle => "INVALID_BUNDLE",
            Self::BadKemSignature => "BAD_KEM_SIGNATURE",
            Self::ClassicalSessionRefused => "CLASSICAL_SESSION_REFUSED",
            Self::MalformedMessage => "MALFORMED_MESSAGE",
            Self::NoSession => "NO_SESSION",
            Self::StaleDecryption => "STALE_DECRYPTION",
            Self::Conflict => "CONFLICT",
            Self::Contended => "CONTENDED",
            Self::ReentrantCall => "REENTRANT_CALL",
            Self::PeerIdentityMissing => "PEER_IDENTITY_MISSING",
            Self::NoLocalIdentity => "NO_LOCAL_IDENTITY",
            Self::UntrustedIdentity => "UNTRUSTED_IDENTITY",
            Self::UnknownPrekey => "UNKNOWN_PREKEY",
            Self::CallSignalRejected => "CALL_SIGNAL_REJECTED",
            Self::DuplicateMessage => "DUPLICATE_MESSAGE",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::AuthenticationFailed => "AUTHENTICATION_FAILED",
            Self::KeyAgreementFailed => "KEY_AGREEMENT_FAILED",
            Self::FrameRejected => "FRAME_REJECTED",
            Self::FrameReplayed => "FRAME_REPLAYED",
            Self::CorruptRecord => "CORRUPT_RECORD",
            Self::Store => "STORE",
            Self::AlreadyCommitted => "ALREADY_COMMITTED",
            Self::AlreadyUsed => "ALREADY_USED",
            Self::ConformanceFailed => "CONFORMANCE_FAILED",
            Self::Internal => "INTERNAL",
        }
    }
}

/// What some codes carry besides the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detail {
    None,
    /// `UNTRUSTED_IDENTITY`: `error.address` and `error.identityKey`.
    UntrustedIdentity {
        address: Address,
        identity_key: [u8; 32],
    },
    /// `DUPLICATE_MESSAGE`: `error.counter`.
    DuplicateMessage {
        counter: u32,
    },
    /// `CONFLICT`, `PEER_IDENTITY_MISSING`, `CLASSICAL_SESSION_REFUSED`:
    /// `error.address`.
    Address {
        address: Address,
    },
    /// `CONTENDED`: `error.address` and `error.attempts`.
    Contended {
        address: Address,
        attempts: u32,
    },
    /// `CONFORMANCE_FAILED`: `error.check` and `error.detail`.
    Conformance {
        check: &'static str,
        detail: String,
    },
    /// `STORE` from a JS store that threw: `error.cause` is what it threw.
    StoreException {
        token: u64,
    },
}

/// Why a call into Sotto failed. Whatever the error, no store changed
/// (but for `STORE` from a write whose `Promise` rejected, made in JS by
/// `crate::durable`).
///
/// Thrown into JavaScript as an `Error` named `"SottoError"` with its
/// [`code`](Self::code) as `error.code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SottoError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) detail: Detail,
}

impl SottoError {
    /// The stable code, such as `"NO_SESSION"`.
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }

    /// The core's precise message, for logs.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn new(code: ErrorCode, message: impl std::fmt::Display) -> Self {
        Self { code, message: message.to_string(), detail: Detail::None }
    }

    pub(crate) fn invalid_argument(message: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
}

impl From<SottoError> for JsValue {
    fn from(error: SottoError) -> Self {
        let js = js_sys::Error::new(&error.message);
        js.set_name("SottoError");
        let object: &JsValue = js.as_ref();
        crate::js::set(object, "code", &error.code.as_str().into());
        match error.detail {
            Detail::None => {}
            Detail::UntrustedIdentity { address, identity_key } => {
                crate::js::set(object, "address", &crate::types::address_to_js(&address));
                crate::js::set(object, "identityKey", &crate::js::bytes(&identity_key));
            }
            Detail::DuplicateMessage { counter } => {
                crate::js::set(object, "counter", &counter.into());
            }
            Detail::Address { address } => {
                crate::js::set(object, "address", &crate::types::address_to_js(&address));
            }
            Detail::Contended { address, attempts } => {
                crate::js::set(object, "address", &crate::types::address_to_js(&address));
                crate::js::set(object, "attempts", &attempts.into());
            }
            Detail::Conformance { check, detail } => {
                crate::js::set(object, "check", &check.into());
                crate::js::set(object, "detail", &detail.into());
            }
            Detail::StoreException { token } => {
                if let Some(cause) = crate::store::take_exception(token) {
                    crate::js::set(object, "cause", &cause);
                }
            }
        }
        js.into()
    }
}

/// Results of exported functions: a `SottoError` crosses as a thrown JS
/// `Error`.
pub type JsResult<T> = Result<T, SottoError>;

impl From<SessionError> for SottoError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::MessageTooLarge { .. }
            | SessionError::MalformedMessage { .. }
            | SessionError::UnsupportedVersion { .. } => {
                Self::new(ErrorCode::MalformedMessage, error)
            }
            SessionError::NoSession => Self::new(ErrorCode::NoSession, error),
            SessionError::StaleDecryption => Self::new(ErrorCode::StaleDecryption, error),
            SessionError::Contended { ref address, attempts } => Self {
                code: ErrorCode::Contended,
                message: error.to_string(),
                detail: Detail::Contended { address: address.clone(), attempts },
            },
            SessionError::ReentrantCall => Self::new(ErrorCode::ReentrantCall, error),
            SessionError::PeerIdentityMissing { ref address } => Self {
                code: ErrorCode::PeerIdentityMissing,
                message: error.to_string(),
                detail: Detail::Address { address: address.clone() },
            },
            SessionError::UntrustedIdentity { ref address, identity_key } => Self {
                code: ErrorCode::UntrustedIdentity,
                message: error.to_string(),
                detail: Detail::UntrustedIdentity {
                    address: address.clone(),
                    identity_key: identity_key.to_bytes(),
                },
            },
            SessionError::NoLocalIdentity => Self::new(ErrorCode::NoLocalIdentity, error),
            SessionError::UnknownSignedPreKey { .. }
            | SessionError::UnknownOneTimePreKey { .. }
            | SessionError::UnknownKemPreKey { .. } => Self::new(ErrorCode::UnknownPrekey, error),
            SessionError::ClassicalSessionRefused { ref address } => Self {
                code: ErrorCode::ClassicalSessionRefused,
                message: error.to_string(),
                detail: Detail::Address { address: address.clone() },
            },
            SessionError::Bundle(error) => error.into(),
            SessionError::X3dh(error) => error.into(),
            SessionError::Ratchet(error) => error.into(),
            SessionError::Call(error) => error.into(),
            SessionError::Store(error) => error.into(),
            other => Self::new(ErrorCode::Internal, other),
        }
    }
}

impl From<BundleError> for SottoError {
    fn from(error: BundleError) -> Self {
        match error {
            BundleError::BadKemSignature => Self::new(ErrorCode::BadKemSignature, error),
            other => Self::new(ErrorCode::InvalidBundle, other),
        }
    }
}

impl From<X3dhError> for SottoError {
    fn from(error: X3dhError) -> Self {
        Self::new(ErrorCode::KeyAgreementFailed, error)
    }
}

impl From<RatchetError> for SottoError {
    fn from(error: RatchetError) -> Self {
        match error {
            RatchetError::MalformedHeader => Self::new(ErrorCode::MalformedMessage, error),
            RatchetError::DuplicateMessage { counter } => Self {
                code: ErrorCode::DuplicateMessage,
                message: error.to_string(),
                detail: Detail::DuplicateMessage { counter },
            },
            RatchetError::TooFarAhead { .. }
            | RatchetError::CounterExhausted
            | RatchetError::PlaintextTooLarge { .. } => Self::new(ErrorCode::LimitExceeded, error),
            RatchetError::AuthenticationFailed => Self::new(ErrorCode::AuthenticationFailed, error),
            RatchetError::NonContributory => Self::new(ErrorCode::KeyAgreementFailed, error),
            other => Self::new(ErrorCode::Internal, other),
        }
    }
}

impl From<CallError> for SottoError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::InvalidCallId { .. } => Self::invalid_argument(error),
            CallError::MalformedCallSignal { .. } | CallError::UnsupportedSignalVersion { .. } => {
                Self::new(ErrorCode::MalformedMessage, error)
            }
            CallError::IdentityMismatch | CallError::AnswerMismatch | CallError::ReplayedOffer => {
                Self::new(ErrorCode::CallSignalRejected, error)
            }
            CallError::WeakEphemeralKey => Self::new(ErrorCode::KeyAgreementFailed, error),
            CallError::Sframe(error) => error.into(),
            other => Self::new(ErrorCode::Internal, other),
        }
    }
}

impl From<SframeError> for SottoError {
    fn from(error: SframeError) -> Self {
        match error {
            SframeError::Header(_)
            | SframeError::UnknownKeyId(_)
            | SframeError::FrameTooShort { .. } => Self::new(ErrorCode::FrameRejected, error),
            SframeError::Replay { .. } | SframeError::TooOld { .. } => {
                Self::new(ErrorCode::FrameReplayed, error)
            }
            SframeError::AuthenticationFailed => Self::new(ErrorCode::AuthenticationFailed, error),
            SframeError::CounterExhausted(_) | SframeError::FrameTooLong => {
                Self::new(ErrorCode::LimitExceeded, error)
            }
            SframeError::UnsupportedCipherSuite(_)
            | SframeError::InvalidKeyLength { .. }
            | SframeError::EmptyBaseKey => Self::invalid_argument(error),
            other => Self::new(ErrorCode::Internal, other),
        }
    }
}

impl From<StoreError> for SottoError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Corrupt(error) => error.into(),
            StoreError::Conflict { ref address } => Self {
                code: ErrorCode::Conflict,
                message: error.to_string(),
                detail: Detail::Address { address: address.clone() },
            },
            StoreError::Backend(error) => match error.downcast::<JsStoreFailure>() {
                Ok(failure) => Self {
                    code: ErrorCode::Store,
                    message: format!("the store failed: {failure}"),
                    detail: failure
                        .token
                        .map_or(Detail::None, |token| Detail::StoreException { token }),
                },
                Err(other) => Self::new(ErrorCode::Store, format!("the store failed: {other}")),
            },
            other => Self::new(ErrorCode::Store, other),
        }
    }
}

impl From<ConformanceError> for SottoError {
    fn from(error: ConformanceError) -> Self {
        Self {
            code: ErrorCode::ConformanceFailed,
            message: error.to_string(),
            detail: Detail::Conformance { check: error.check, detail: error.detail },
        }
    }
}

impl From<RecordError> for SottoError {
    fn from(error: RecordError) -> Self {
        Self::new(ErrorCode::CorruptRecord, error)
    }
}

impl From<AddressError> for SottoError {
    fn from(error: AddressError) -> Self {
        Self::invalid_argument(error)
    }
}

impl From<KeyError> for SottoError {
    fn from(error: KeyError) -> Self {
        Self::invalid_argument(error)
    }
}

impl From<VerifyError> for SottoError {
    fn from(error: VerifyError) -> Self {
        Self::invalid_argument(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_in_the_typescript_declarations() {
        for code in ErrorCode::ALL {
            let quoted = format!("\"{}\"", code.as_str());
            assert!(
                include_str!("declarations.d.ts").contains(&quoted),
                "{quoted} is missing from the .d.ts"
            );
        }
    }

    #[test]
    fn ratchet_errors_keep_what_an_app_acts_on() {
        let duplicate =
            SottoError::from(SessionError::Ratchet(RatchetError::DuplicateMessage { counter: 3 }));
        assert_eq!(duplicate.code, ErrorCode::DuplicateMessage);
        assert_eq!(duplicate.detail, Detail::DuplicateMessage { counter: 3 });
        assert_eq!(
            SottoError::from(SessionError::MalformedMessage { reason: "x" }).code,
            ErrorCode::MalformedMessage
        );
        assert_eq!(
            SottoError::from(SessionError::Ratchet(RatchetError::AuthenticationFailed)).code,
            ErrorCode::AuthenticationFailed
        );
        assert_eq!(SottoError::from(SessionError::NoSession).code, ErrorCode::NoSession);
        assert_eq!(SottoError::from(SessionError::StaleDecryption).code(), "STALE_DECRYPTION");
    }

    #[test]
    fn frame_errors() {
        assert_eq!(
            SottoError::from(SframeError::Replay { kid: 1.into(), ctr: 2 }).code,
            ErrorCode::FrameReplayed
        );
        assert_eq!(
            SottoError::from(SframeError::UnknownKeyId(7.into())).code,
            ErrorCode::FrameRejected
        );
        assert_eq!(
            SottoError::from(SframeError::AuthenticationFailed).code,
            ErrorCode::AuthenticationFailed
        );
    }

    fn address() -> Address {
        Address::new("bob", 7).unwrap()
    }

    #[test]
    fn commit_contract_errors_name_their_address() {
        let conflict =
            SottoError::from(SessionError::Store(StoreError::Conflict { address: address() }));
        assert_eq!(conflict.code(), "CONFLICT");
        assert_eq!(conflict.detail, Detail::Address { address: address() });
        let contended =
            SottoError::from(SessionError::Contended { address: address(), attempts: 32 });
        assert_eq!(contended.code(), "CONTENDED");
        assert_eq!(contended.detail, Detail::Contended { address: address(), attempts: 32 });
        let missing = SottoError::from(SessionError::PeerIdentityMissing { address: address() });
        assert_eq!(missing.code(), "PEER_IDENTITY_MISSING");
        assert_eq!(missing.detail, Detail::Address { address: address() });
        assert_eq!(SottoError::from(SessionError::ReentrantCall).code(), "REENTRANT_CALL");
    }

    #[test]
    fn post_quantum_errors_keep_what_an_app_acts_on() {
        let refused =
            SottoError::from(SessionError::ClassicalSessionRefused { address: address() });
        assert_eq!(refused.code(), "CLASSICAL_SESSION_REFUSED");
        assert_eq!(refused.detail, Detail::Address { address: address() });
        let bad_kem = SottoError::from(SessionError::Bundle(BundleError::BadKemSignature));
        assert_eq!(bad_kem.code(), "BAD_KEM_SIGNATURE");
        // The signed prekey's bad signature stays an invalid bundle.
        let bad_signed = SottoError::from(SessionError::Bundle(BundleError::BadSignature));
        assert_eq!(bad_signed.code(), "INVALID_BUNDLE");
        let unknown = SottoError::from(SessionError::UnknownKemPreKey { id: 7.into() });
        assert_eq!(unknown.code(), "UNKNOWN_PREKEY");
        assert!(unknown.message().contains("KEM prekey with id 7"), "{}", unknown.message());
        let invalid_kem =
            BundleError::InvalidKey { field: "kem_prekey", source: KeyError::InvalidKemKey };
        assert_eq!(SottoError::from(invalid_kem).code(), "INVALID_BUNDLE");
        assert_eq!(SottoError::from(KeyError::InvalidKemKey).code(), "INVALID_ARGUMENT");
    }

    #[test]
    fn call_errors() {
        let code = |error: CallError| SottoError::from(SessionError::Call(error)).code;
        assert_eq!(
            code(CallError::MalformedCallSignal { reason: "x" }),
            ErrorCode::MalformedMessage
        );
        assert_eq!(
            code(CallError::UnsupportedSignalVersion { expected: 1, found: 2 }),
            ErrorCode::MalformedMessage
        );
        for refused in
            [CallError::IdentityMismatch, CallError::AnswerMismatch, CallError::ReplayedOffer]
        {
            assert_eq!(code(refused), ErrorCode::CallSignalRejected);
        }
        assert_eq!(code(CallError::WeakEphemeralKey), ErrorCode::KeyAgreementFailed);
        assert_eq!(
            code(CallError::InvalidCallId { max: 255, found: 0 }),
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn a_nonconforming_store_names_the_rule() {
        let error = SottoError::from(ConformanceError {
            check: "all-or-nothing batches",
            detail: "d".into(),
        });
        assert_eq!(error.code(), "CONFORMANCE_FAILED");
        assert_eq!(
            error.detail,
            Detail::Conformance { check: "all-or-nothing batches", detail: "d".into() }
        );
    }

    #[test]
    fn a_store_failure_keeps_its_message() {
        let failure = JsStoreFailure { message: "quota exceeded".into(), token: None };
        let error = SottoError::from(StoreError::backend(failure));
        assert_eq!(error.code, ErrorCode::Store);
        assert_eq!(error.message, "the store failed: quota exceeded");
        assert_eq!(error.detail, Detail::None);
    }
}
