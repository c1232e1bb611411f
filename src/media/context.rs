//! Per-frame encryption and decryption state (RFC 9605 §4.4.3, §4.4.4).
//!
//! An [`SframeSender`] owns one key id, its keys and a 64-bit frame counter; it writes
//! `header ‖ ciphertext ‖ tag` with `nonce = sframe_salt XOR CTR` and
//! `AAD = header ‖ metadata`. An [`SframeReceiver`] holds keys by key id, each with its
//! own replay window ([`REPLAY_WINDOW`](super::REPLAY_WINDOW) frames).
//!
//! The `*_into` methods work in the caller's buffer and allocate nothing per frame
//! (an AES-GCM or ChaCha20-Poly1305 frame with non-empty metadata joins header and
//! metadata in a scratch buffer owned by the context, which grows only when a longer
//! AAD than ever before is seen). Cipher instances are built once per key.

use std::collections::HashMap;

use super::aead::{Aad, FrameCipher};
use super::error::SframeError;
use super::header::{Counter, KeyId, SframeHeader};
use super::key::{BaseKey, Salt, SframeKeyMaterial};
use super::replay::ReplayWindow;
use super::suite::CipherSuite;

/// Room reserved up front for `header ‖ metadata` in the AAD scratch buffer.
const AAD_SCRATCH_CAPACITY: usize = 128;

/// A keyed cipher plus salt: everything needed to seal or open frames of one key id.
#[derive(Debug)]
struct FrameKey {
    cipher: FrameCipher,
    salt: Salt,
}

impl FrameKey {
    fn derive(suite: CipherSuite, kid: KeyId, base_key: &BaseKey) -> Result<Self, SframeError> {
        let material = SframeKeyMaterial::derive(suite, kid, base_key)?;
        Ok(Self { cipher: FrameCipher::new(suite, material.expose_key())?, salt: *material.salt() })
    }
}

/// The sending side of one SFrame key id.
///
/// Each frame takes the next counter value; a counter is never reused, and after
/// `u64::MAX` the sender refuses to encrypt ([`SframeError::CounterExhausted`]).
#[derive(Debug)]
pub struct SframeSender {
    kid: KeyId,
    key: FrameKey,
    next_ctr: Option<u64>,
    scratch: Vec<u8>,
}

impl SframeSender {
    /// A sender for `kid` under `suite`, keyed from `base_key`, starting at counter 0.
    ///
    /// # Errors
    ///
    /// Only [`SframeError::Internal`] (key derivation cannot otherwise fail).
    pub fn new(suite: CipherSuite, kid: KeyId, base_key: &BaseKey) -> Result<Self, SframeError> {
        Self::starting_at(suite, kid, base_key, Counter::new(0))
    }

    /// A sender whose first frame uses counter `first`.
    ///
    /// **Warning**: two frames under the same key id and base key with the same counter
    /// reuse a nonce and break confidentiality (and, for GCM, authenticity). Use this
    /// only to resume a sender whose last used counter is known to be below `first`.
    ///
    /// # Errors
    ///
    /// Only [`SframeError::Internal`] (key derivation cannot otherwise fail).
    pub fn starting_at(
        suite: CipherSuite,
        kid: KeyId,
        base_key: &BaseKey,
        first: Counter,
    ) -> Result<Self, SframeError> {
        Ok(Self {
            kid,
            key: FrameKey::derive(suite, kid, base_key)?,
            next_ctr: Some(first.value()),
            scratch: Vec::with_capacity(AAD_SCRATCH_CAPACITY),
        })
    }

    /// The key id written into every frame.
    #[must_use]
    pub const fn kid(&self) -> KeyId {
        self.kid
    }

    /// The cipher suite.
    #[must_use]
    pub const fn suite(&self) -> CipherSuite {
        self.key.cipher.suite()
    }

    /// The counter the next frame will use, or `None` once every counter was used.
    #[must_use]
    pub fn next_counter(&self) -> Option<Counter> {
        self.next_ctr.map(Counter::new)
    }

    /// The exact length of the next frame for a plaintext of `plaintext_len` bytes
    /// (header + plaintext + tag), or `None` if the counter is exhausted.
    #[must_use]
    pub fn frame_len(&self, plaintext_len: usize) -> Option<usize> {
        let ctr = self.next_ctr?;
        let header = SframeHeader::new(self.kid, Counter::new(ctr)).encoded_len();
        header.checked_add(plaintext_len)?.checked_add(self.suite().nt())
    }

    /// Encrypts one frame into `out`, returning the number of bytes written
    /// (`header ‖ ciphertext ‖ tag`). Allocates nothing.
    ///
    /// `metadata` is authenticated but not sent (RFC 9605 §4.4.3); the receiver must
    /// pass the same bytes.
    ///
    /// # Errors
    ///
    /// [`SframeError::CounterExhausted`] if every counter was used;
    /// [`SframeError::BufferTooSmall`] if `out` is shorter than [`Self::frame_len`];
    /// [`SframeError::FrameTooLong`] if the cipher cannot encrypt that much under one nonce.
    /// On `BufferTooSmall` and `CounterExhausted` no counter is consumed.
    pub fn encrypt_into(
        &mut self,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SframeError> {
        let ctr = self.next_ctr.ok_or(SframeError::CounterExhausted(self.kid))?;
        let header = SframeHeader::new(self.kid, Counter::new(ctr)).encode();
        let header_bytes = header.as_bytes();
        let hlen = header_bytes.len();
        let nt = self.suite().nt();
        let needed = hlen
            .checked_add(plaintext.len())
            .and_then(|n| n.checked_add(nt))
            .ok_or(SframeError::FrameTooLong)?;
        let found = out.len();
        let frame = out.get_mut(..needed).ok_or(SframeError::BufferTooSmall { needed, found })?;
        // The counter is consumed from here on, whatever happens: keystream may reach `out`.
        self.next_ctr = ctr.checked_add(1);
        let (head, rest) = frame.split_at_mut(hlen);
        head.copy_from_slice(header_bytes);
        let (body, tag) = rest.split_at_mut(plaintext.len());
        body.copy_from_slice(plaintext);
        let nonce = self.key.salt.nonce(Counter::new(ctr));
        let aad = Aad { header: header_bytes, metadata };
        self.key.cipher.seal(&nonce, aad, &mut self.scratch, body, tag)?;
        Ok(needed)
    }

    /// Encrypts one frame into a new vector (`header ‖ ciphertext ‖ tag`).
    ///
    /// # Errors
    ///
    /// As [`Self::encrypt_into`].
    pub fn encrypt(&mut self, metadata: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SframeError> {
        let len = self.frame_len(plaintext.len()).ok_or(SframeError::CounterExhausted(self.kid))?;
        let mut out = vec![0u8; len];
        let written = self.encrypt_into(metadata, plaintext, &mut out)?;
        out.truncate(written);
        Ok(out)
    }
}

#[derive(Debug)]
struct ReceiverKey {
    key: FrameKey,
    window: ReplayWindow,
}

/// The receiving side: keys by key id, each with its replay window.
///
/// A frame that fails any check (header, key id, replay window, tag) changes no state;
/// the replay window moves only after the tag verified.
#[derive(Debug, Default)]
pub struct SframeReceiver {
    keys: HashMap<KeyId, ReceiverKey>,
    scratch: Vec<u8>,
}

impl SframeReceiver {
    /// A receiver with no keys.
    #[must_use]
    pub fn new() -> Self {
        Self { keys: HashMap::new(), scratch: Vec::with_capacity(AAD_SCRATCH_CAPACITY) }
    }

    /// Adds (or replaces) the key for `kid`, with a fresh replay window.
    ///
    /// # Errors
    ///
    /// Only [`SframeError::Internal`] (key derivation cannot otherwise fail).
    pub fn add_key(
        &mut self,
        suite: CipherSuite,
        kid: KeyId,
        base_key: &BaseKey,
    ) -> Result<(), SframeError> {
        let key = FrameKey::derive(suite, kid, base_key)?;
        self.keys.insert(kid, ReceiverKey { key, window: ReplayWindow::default() });
        Ok(())
    }

    /// Removes the key for `kid`; returns whether there was one.
    pub fn remove_key(&mut self, kid: KeyId) -> bool {
        self.keys.remove(&kid).is_some()
    }

    /// Whether the receiver has a key for `kid`.
    #[must_use]
    pub fn has_key(&self, kid: KeyId) -> bool {
        self.keys.contains_key(&kid)
    }

    /// Decrypts one frame into `out`, returning the plaintext length. Allocates nothing.
    ///
    /// # Errors
    ///
    /// [`SframeError::Header`] for a malformed header; [`SframeError::UnknownKeyId`];
    /// [`SframeError::Replay`] / [`SframeError::TooOld`] from the replay window;
    /// [`SframeError::FrameTooShort`] if the frame cannot hold a tag;
    /// [`SframeError::BufferTooSmall`] if `out` is shorter than the plaintext;
    /// [`SframeError::AuthenticationFailed`] if the tag does not verify.
    /// In every case the receiver's state is unchanged; `out` may have been written.
    pub fn decrypt_into(
        &mut self,
        metadata: &[u8],
        frame: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SframeError> {
        let (header, hlen) = SframeHeader::decode(frame)?;
        let kid = header.kid();
        let ctr = header.ctr();
        let entry = self.keys.get_mut(&kid).ok_or(SframeError::UnknownKeyId(kid))?;
        entry.window.check(kid, ctr.value())?;
        let nt = entry.key.cipher.suite().nt();
        let (header_bytes, body) = frame.split_at_checked(hlen).ok_or(SframeError::Internal)?;
        let pt_len = body
            .len()
            .checked_sub(nt)
            .ok_or(SframeError::FrameTooShort { needed: hlen + nt, found: frame.len() })?;
        let (ct, tag) = body.split_at_checked(pt_len).ok_or(SframeError::Internal)?;
        let found = out.len();
        let dst =
            out.get_mut(..pt_len).ok_or(SframeError::BufferTooSmall { needed: pt_len, found })?;
        dst.copy_from_slice(ct);
        let nonce = entry.key.salt.nonce(ctr);
        let aad = Aad { header: header_bytes, metadata };
        entry.key.cipher.open(&nonce, aad, &mut self.scratch, dst, tag)?;
        entry.window.accept(ctr.value());
        Ok(pt_len)
    }

    /// Decrypts one frame into a new vector.
    ///
    /// # Errors
    ///
    /// As [`Self::decrypt_into`].
    pub fn decrypt(&mut self, metadata: &[u8], frame: &[u8]) -> Result<Vec<u8>, SframeError> {
        let mut out = vec![0u8; frame.len()];
        let len = self.decrypt_into(metadata, frame, &mut out)?;
        out.truncate(len);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(suite: CipherSuite) -> (SframeSender, SframeReceiver) {
        let base = BaseKey::from_bytes(b"sixteen byte key").unwrap();
        let kid = KeyId::new(42);
        let tx = SframeSender::new(suite, kid, &base).unwrap();
        let mut rx = SframeReceiver::new();
        rx.add_key(suite, kid, &base).unwrap();
        (tx, rx)
    }

    #[test]
    fn round_trip_every_suite() {
        for suite in CipherSuite::ALL {
            let (mut tx, mut rx) = pair(suite);
            for i in 0..20u8 {
                let pt = vec![i; usize::from(i) * 7];
                let md = vec![0xee; usize::from(i % 3) * 5];
                let frame = tx.encrypt(&md, &pt).unwrap();
                assert_eq!(
                    Some(frame.len()),
                    Some(
                        pt.len()
                            + suite.nt()
                            + SframeHeader::new(tx.kid(), Counter::new(u64::from(i))).encoded_len()
                    )
                );
                assert_eq!(rx.decrypt(&md, &frame).unwrap(), pt, "{suite:?}");
                assert!(matches!(rx.decrypt(&md, &frame), Err(SframeError::Replay { .. })));
            }
        }
    }

    #[test]
    fn counter_refuses_to_wrap() {
        let base = BaseKey::from_bytes(&[1; 16]).unwrap();
        let kid = KeyId::new(3);
        let mut tx = SframeSender::starting_at(
            CipherSuite::Aes128GcmSha256_128,
            kid,
            &base,
            Counter::new(u64::MAX),
        )
        .unwrap();
        let frame = tx.encrypt(b"", b"last").unwrap();
        assert_eq!(tx.next_counter(), None);
        assert_eq!(tx.encrypt(b"", b"more"), Err(SframeError::CounterExhausted(kid)));
        let mut buf = [0u8; 64];
        assert_eq!(
            tx.encrypt_into(b"", b"more", &mut buf),
            Err(SframeError::CounterExhausted(kid))
        );
        let mut rx = SframeReceiver::new();
        rx.add_key(CipherSuite::Aes128GcmSha256_128, kid, &base).unwrap();
        assert_eq!(rx.decrypt(b"", &frame).unwrap(), b"last");
    }

    #[test]
    fn small_buffer_consumes_no_counter() {
        let (mut tx, _) = pair(CipherSuite::Aes128CtrHmacSha256_80);
        let mut buf = [0u8; 8];
        assert_eq!(
            tx.encrypt_into(b"", b"hello", &mut buf),
            Err(SframeError::BufferTooSmall { needed: 1 + 1 + 5 + 10, found: 8 })
        );
        assert_eq!(tx.next_counter(), Some(Counter::new(0)));
    }

    #[test]
    fn metadata_mismatch_fails_without_state_change() {
        let (mut tx, mut rx) = pair(CipherSuite::ChaCha20Poly1305Sha256_128);
        let frame = tx.encrypt(b"meta", b"payload").unwrap();
        assert_eq!(rx.decrypt(b"other", &frame), Err(SframeError::AuthenticationFailed));
        assert_eq!(rx.decrypt(b"meta", &frame).unwrap(), b"payload");
    }
}
