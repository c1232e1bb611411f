//! SFrame: end-to-end encryption of media frames for calls (RFC 9605).
//!
//! SFrame encrypts each encoded audio or video frame on the sender, before it reaches
//! the media server, so that a Selective Forwarding Unit can route frames without being
//! able to read them. A frame on the wire is `header ‖ ciphertext ‖ tag`: the header
//! names the key (KID) and the frame counter (CTR), the AEAD nonce is derived from the
//! counter, and the header plus application metadata is authenticated as AAD.
//!
//! Implemented here:
//!
//! - the header encoding, minimal and canonical (RFC 9605 §4.3): [`SframeHeader`];
//! - key derivation (§4.4.2), nonce and AAD formation (§4.4.3, §4.4.4):
//!   [`SframeKeyMaterial`], [`Salt::nonce`];
//! - the cipher suites of §4.5, including the AES-CTR + HMAC construction of §4.5.1,
//!   the 256-bit CTR + HMAC suites of draft-barnes-sframe-iana-256, and Sotto's
//!   private-use ChaCha20-Poly1305 suite 0xF001 (§8.1): [`CipherSuite`], [`FrameCipher`];
//! - per-frame sender and receiver state with a replay window (§9.4):
//!   [`SframeSender`], [`SframeReceiver`], [`REPLAY_WINDOW`];
//! - the sender-key ratchet of §5.1: [`SenderKeyRatchet`], [`ratchet_kid`].
//!
//! Call keys and their distribution over DM sessions are not part of this module.
//!
//! ```
//! use sotto::media::{BaseKey, CipherSuite, KeyId, SframeReceiver, SframeSender};
//!
//! let suite = CipherSuite::Aes128GcmSha256_128;
//! let kid = KeyId::new(17);
//! let base_key = BaseKey::from_bytes(&[0x2a; 16])?; // from the key-management layer
//!
//! let mut sender = SframeSender::new(suite, kid, &base_key)?;
//! let mut receiver = SframeReceiver::new();
//! receiver.add_key(suite, kid, &base_key)?;
//!
//! // Per frame, without allocating: encrypt into a buffer the caller owns.
//! let frame_data = b"an encoded video frame";
//! let mut wire = [0u8; 64];
//! let n = sender.encrypt_into(b"rtp-metadata", frame_data, &mut wire)?;
//!
//! let mut plain = [0u8; 64];
//! let m = receiver.decrypt_into(b"rtp-metadata", &wire[..n], &mut plain)?;
//! assert_eq!(&plain[..m], frame_data);
//!
//! // The same frame a second time is a replay.
//! assert!(receiver.decrypt_into(b"rtp-metadata", &wire[..n], &mut plain).is_err());
//! # Ok::<(), sotto::media::SframeError>(())
//! ```

mod aead;
mod context;
mod error;
mod header;
mod key;
mod ratchet;
mod replay;
mod suite;

pub use aead::FrameCipher;
pub use context::{SframeReceiver, SframeSender};
pub use error::{HeaderError, SframeError};
pub use header::{Counter, EncodedHeader, KeyId, MAX_HEADER_LEN, SframeHeader};
pub use key::{
    BaseKey, KEY_LABEL_LEN, KEY_LABEL_PREFIX, SALT_LABEL_LEN, SALT_LABEL_PREFIX, Salt,
    SframeKeyMaterial, SframeSecret, key_label, salt_label,
};
pub use ratchet::{
    MAX_RATCHET_JUMP, RATCHET_LABEL, SenderKeyRatchet, ratchet_base_key, ratchet_kid,
    split_ratchet_kid,
};
pub use replay::REPLAY_WINDOW;
pub use suite::{CipherSuite, KdfHash, MAX_TAG_LEN, NONCE_LEN};
