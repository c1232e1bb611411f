//! Message keys and the AEAD they drive (Double Ratchet §5.2, `ENCRYPT`).
//!
//! A 32-byte message key `MK` expands into a ChaCha20-Poly1305 key and nonce:
//! `key (32) ‖ nonce (12) = HKDF-SHA256(salt = 0x00 × 32, IKM = MK,
//! info = MESSAGE_KEYS_INFO)`. The associated data is `AD ‖ header`, where
//! `AD` is X3DH's 64 bytes and `header` the encoded header exactly as sent.
//! Each key encrypts one message, so the derived nonce is never reused.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use zeroize::Zeroizing;

use super::RatchetError;
use crate::kdf::hkdf_sha256;
use crate::protocol::{MAX_PLAINTEXT_LEN, MESSAGE_KEYS_INFO};
use crate::x3dh::AssociatedData;

/// The key of one message. Wiped when dropped, never printed. `Clone` only
/// for a store's copy of a whole record.
#[derive(Clone)]
pub(crate) struct MessageKey {
    key: Zeroizing<[u8; 32]>,
    counter: u32,
}

impl MessageKey {
    pub(crate) fn new(key: Zeroizing<[u8; 32]>, counter: u32) -> Self {
        Self { key, counter }
    }

    /// The index of the message this key belongs to.
    pub(crate) fn counter(&self) -> u32 {
        self.counter
    }

    /// The raw key, for a stored record.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    fn cipher(&self) -> (ChaCha20Poly1305, [u8; 12]) {
        let okm = hkdf_sha256::<44>(&[0u8; 32], self.key.as_ref(), MESSAGE_KEYS_INFO);
        let (key_bytes, nonce_bytes) = okm.split_at(32);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(key_bytes);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(nonce_bytes);
        let key: &[u8; 32] = &key;
        (ChaCha20Poly1305::new(key.into()), nonce)
    }

    pub(crate) fn encrypt(
        &self,
        plaintext: &[u8],
        ad: &AssociatedData,
        header: &[u8],
    ) -> Result<Vec<u8>, RatchetError> {
        let (cipher, nonce) = self.cipher();
        let aad = [ad.as_bytes(), header].concat();
        // ChaCha20-Poly1305 refuses only plaintexts over 256 GiB.
        cipher.encrypt(&nonce.into(), Payload { msg: plaintext, aad: &aad }).map_err(|_| {
            RatchetError::PlaintextTooLarge { max: MAX_PLAINTEXT_LEN, found: plaintext.len() }
        })
    }

    pub(crate) fn decrypt(
        &self,
        ciphertext: &[u8],
        ad: &AssociatedData,
        header: &[u8],
    ) -> Result<Vec<u8>, RatchetError> {
        let (cipher, nonce) = self.cipher();
        let aad = [ad.as_bytes(), header].concat();
        cipher
            .decrypt(&nonce.into(), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| RatchetError::AuthenticationFailed)
    }
}

impl core::fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MessageKey").field("counter", &self.counter).finish_non_exhaustive()
    }
}
