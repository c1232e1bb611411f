//! The one error JavaScript sees: a JS `Error` whose `name` is
//! `"SottoError"` and whose `code` is one of [`ErrorCode`]'s stable strings.
//!
//! The codes are the same cases as the uniffi bindings' `SottoError`: an app
//! branches on what it can act on (a duplicate to acknowledge, a changed
//! identity to show, a missing session to set up), and `message` carries the
//! core's precise text for logs. Codes are never renamed; new ones may be
//! added.
//!
//! [`SottoError`] is plain Rust (so that the mapping is tested natively);
//! it becomes a JS `Error` only when it crosses into JavaScript.

use sotto::call::CallError;
use sotto::keys::{BundleError, KeyError};
use sotto::media::SframeError;
use sotto::ratchet::RatchetError;
use sotto::record::RecordError;
use sotto::session::{Address, AddressError, SessionError};
use sotto::verify::VerifyError;
use sotto::x3dh::X3dhError;
use wasm_bindgen::JsValue;

use crate::store::JsStoreFailure;

/// The stable `code` of a `SottoError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// An argument is unusable: a bad address, key, id or call id.
    InvalidArgument,
    /// A prekey bundle is malformed or badly signed.
    InvalidBundle,
    /// A received message is not a well-formed Sotto message.
    MalformedMessage,
    /// No session with the address, or none the message belongs to.
    NoSession,
    /// The session was written between a decrypt and its commit.
    StaleDecryption,
    /// The store has no identity key pair for this device.
    NoLocalIdentity,
    /// The address presented another identity key than the one recorded.
    UntrustedIdentity,
    /// A first message names a prekey this device does not have.
    UnknownPrekey,
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
    /// A core error this version has no code for.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the `.d.ts`.
    #[cfg(test)]
    pub(crate) const ALL: [Self; 18] = [
        Self::InvalidArgument,
        Self::InvalidBundle,
        Self::MalformedMessage,
        Self::NoSession,
        Self::StaleDecryption,
        Self::NoLocalIdentity,
        Self::UntrustedIdentity,
        Self::UnknownPrekey,
        Self::DuplicateMessage,
        Self::LimitExceeded,
        Self::AuthenticationFailed,
        Self::KeyAgreementFailed,
        Self::FrameRejected,
        Self::FrameReplayed,
        Self::CorruptRecord,
        Self::Store,
        Self::AlreadyCommitted,
        Self::Internal,
    ];

    /// The string JavaScript sees as `error.code`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::InvalidBundle => "INVALID_BUNDLE",
            Self::MalformedMessage => "MALFORMED_MESSAGE",
            Self::NoSession => "NO_SESSION",
            Self::StaleDecryption => "STALE_DECRYPTION",
            Self::NoLocalIdentity => "NO_LOCAL_IDENTITY",
            Self::UntrustedIdentity => "UNTRUSTED_IDENTITY",
            Self::UnknownPrekey => "UNKNOWN_PREKEY",
            Self::DuplicateMessage => "DUPLICATE_MESSAGE",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::AuthenticationFailed => "AUTHENTICATION_FAILED",
            Self::KeyAgreementFailed => "KEY_AGREEMENT_FAILED",
            Self::FrameRejected => "FRAME_REJECTED",
            Self::FrameReplayed => "FRAME_REPLAYED",
            Self::CorruptRecord => "CORRUPT_RECORD",
            Self::Store => "STORE",
            Self::AlreadyCommitted => "ALREADY_COMMITTED",
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
    /// `STORE` from a JS store that threw: `error.cause` is what it threw.
    StoreException {
        token: u64,
    },
}

/// Why a call into Sotto failed. Whatever the error, no store changed.
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
            | SessionError::UnknownOneTimePreKey { .. } => {
                Self::new(ErrorCode::UnknownPrekey, error)
            }
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
        Self::new(ErrorCode::InvalidBundle, error)
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
            CallError::InvalidCallId { .. } | CallError::SenderAlreadyMade => {
                Self::invalid_argument(error)
            }
            CallError::SameIdentity => Self::new(ErrorCode::KeyAgreementFailed, error),
            CallError::SessionPredatesCallKeys => Self::new(ErrorCode::NoSession, error),
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

impl From<sotto::store::StoreError> for SottoError {
    fn from(error: sotto::store::StoreError) -> Self {
        match error {
            sotto::store::StoreError::Corrupt(error) => error.into(),
            sotto::store::StoreError::Backend(error) => match error.downcast::<JsStoreFailure>() {
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

    #[test]
    fn a_store_failure_keeps_its_message() {
        let failure = JsStoreFailure { message: "quota exceeded".into(), token: None };
        let error = SottoError::from(sotto::store::StoreError::backend(failure));
        assert_eq!(error.code, ErrorCode::Store);
        assert_eq!(error.message, "the store failed: quota exceeded");
        assert_eq!(error.detail, Detail::None);
    }
}
