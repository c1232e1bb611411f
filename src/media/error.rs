//! Errors of the SFrame layer (RFC 9605).
//!
//! [`HeaderError`] says why a header could not be parsed (RFC 9605 §4.3);
//! [`SframeError`] covers everything a sender or receiver can refuse. A failed
//! decryption tells the caller *that* it failed and at which check; nothing in it
//! depends on secret data.

use super::header::KeyId;
use super::suite::CipherSuite;

/// Why an SFrame header could not be decoded (RFC 9605 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The input ended before the header did.
    #[error("truncated SFrame header: needed {needed} bytes, found {found}")]
    Truncated {
        /// Bytes the configuration byte announced (config byte included).
        needed: usize,
        /// Bytes that were available.
        found: usize,
    },
    /// The key id was encoded in more bytes than needed (or inline-able but extended).
    #[error("non-minimal encoding of the SFrame key id")]
    NonMinimalKeyId,
    /// The counter was encoded in more bytes than needed (or inline-able but extended).
    #[error("non-minimal encoding of the SFrame counter")]
    NonMinimalCounter,
}

/// Everything an SFrame sender or receiver can refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SframeError {
    /// The frame's header could not be decoded.
    #[error("bad SFrame header: {0}")]
    Header(#[from] HeaderError),
    /// The 16-bit cipher suite id is not one this crate implements.
    #[error("unsupported SFrame cipher suite 0x{0:04x}")]
    UnsupportedCipherSuite(u16),
    /// A key given directly to a cipher had the wrong length for its suite.
    #[error("wrong key length for {suite:?}: expected {expected} bytes, found {found}")]
    InvalidKeyLength {
        /// The suite the key was meant for.
        suite: CipherSuite,
        /// The length the suite needs (`Nk`).
        expected: usize,
        /// The length that was given.
        found: usize,
    },
    /// A base key was empty.
    #[error("empty SFrame base key")]
    EmptyBaseKey,
    /// The output buffer is too small for the result.
    #[error("output buffer too small: needed {needed} bytes, found {found}")]
    BufferTooSmall {
        /// Bytes the operation needs.
        needed: usize,
        /// Bytes the buffer has.
        found: usize,
    },
    /// The frame is shorter than its header plus the authentication tag.
    #[error("SFrame frame too short: needed at least {needed} bytes, found {found}")]
    FrameTooShort {
        /// Header length plus tag length.
        needed: usize,
        /// Bytes in the frame.
        found: usize,
    },
    /// The plaintext is longer than the cipher can encrypt under one nonce.
    #[error("SFrame frame too long for the cipher")]
    FrameTooLong,
    /// The sender has used every counter value of its key; a new key is needed.
    #[error("SFrame counter exhausted for key id {0}")]
    CounterExhausted(KeyId),
    /// The frame names a key id the receiver has no key for.
    #[error("unknown SFrame key id {0}")]
    UnknownKeyId(KeyId),
    /// A frame with this key id and counter was already accepted.
    #[error("replayed SFrame frame (key id {kid}, counter {ctr})")]
    Replay {
        /// The frame's key id.
        kid: KeyId,
        /// The frame's counter.
        ctr: u64,
    },
    /// The counter is older than the replay window can judge.
    #[error("SFrame frame too old (key id {kid}, counter {ctr}, newest {newest})")]
    TooOld {
        /// The frame's key id.
        kid: KeyId,
        /// The frame's counter.
        ctr: u64,
        /// The newest counter accepted so far under this key id.
        newest: u64,
    },
    /// The authentication tag did not verify: the frame was altered, or the key,
    /// metadata or header differ from the sender's.
    #[error("SFrame authentication failed")]
    AuthenticationFailed,
    /// A ratchet step does not fit in the `R` bits reserved for it, or `R` is out of range.
    #[error("ratchet step {step} does not fit in {bits} bits")]
    RatchetStepOutOfRange {
        /// The step that was asked for.
        step: u64,
        /// The number of bits `R` reserved for the step.
        bits: u32,
    },
    /// The key generation does not fit in the `64 - R` high bits of a key id.
    #[error("key generation {generation} does not fit in {bits} bits")]
    GenerationOutOfRange {
        /// The generation that was asked for.
        generation: u64,
        /// The number of bits left for it (`64 - R`).
        bits: u32,
    },
    /// A receiver was asked to ratchet backwards.
    #[error("cannot ratchet backwards from step {current} to step {requested}")]
    RatchetBackwards {
        /// The receiver's current step.
        current: u64,
        /// The step asked for.
        requested: u64,
    },
    /// An internal length invariant did not hold (a bug, never caused by input).
    #[error("internal SFrame length invariant violated")]
    Internal,
}
