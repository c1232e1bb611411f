//! SFrame (RFC 9605) placeholder docs.

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
