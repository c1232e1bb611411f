//! The per-suite AEAD, including the AES-CTR + HMAC construction of RFC 9605 §4.5.1.
//!
//! For the CTR+HMAC suites (0x0001–0x0003, and 0x0006–0x0008 from
//! draft-barnes-sframe-iana-256) the `Nk`-byte `sframe_key` is split into
//! `enc_key = sframe_key[..Nka]` and `auth_key = sframe_key[Nka..]` (`Nh` bytes), and:
//!
//! ```text
//! ct  = AES-CTR(enc_key, initial counter block = nonce ‖ 0x00000000, pt)
//! tag = truncate(HMAC(auth_key, len(aad) ‖ len(ct) ‖ Nt ‖ nonce ‖ aad ‖ ct), Nt)
//! ```
//!
//! where the three lengths are 64-bit big-endian integers (bytes). The tag is
//! verified in constant time *before* any byte is decrypted. The 32-bit block counter
//! is big-endian; a frame that would wrap it (over 64 GiB) is refused.
//!
//! AES-GCM (0x0004, 0x0005) and ChaCha20-Poly1305 (0xF001) are used as specified,
//! with AAD = `aad`.
//!
//! Every cipher instance (AES key schedule, HMAC key state) is built once per key
//! by [`FrameCipher::new`] and reused for every frame.

use core::fmt;

use aes::{Aes128, Aes256};
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use ctr::cipher::{InnerIvInit, StreamCipher};
use ctr::{Ctr32BE, CtrCore, flavors};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::error::SframeError;
use super::suite::{CipherSuite, MAX_TAG_LEN, NONCE_LEN};

enum Inner {
    CtrHmac128 { aes: Box<Aes128>, mac: Box<Hmac<Sha256>> },
    CtrHmac256 { aes: Box<Aes256>, mac: Box<Hmac<Sha512>> },
    Gcm128(Box<Aes128Gcm>),
    Gcm256(Box<Aes256Gcm>),
    ChaCha(ChaCha20Poly1305),
}

/// The AEAD of one suite, keyed once with an `sframe_key`.
pub struct FrameCipher {
    suite: CipherSuite,
    inner: Inner,
}

impl fmt::Debug for FrameCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameCipher").field("suite", &self.suite).finish_non_exhaustive()
    }
}

/// The two parts of the AAD: the header bytes and the application's metadata.
#[derive(Clone, Copy)]
pub(crate) struct Aad<'a> {
    pub(crate) header: &'a [u8],
    pub(crate) metadata: &'a [u8],
}

impl Aad<'_> {
    fn len(&self) -> usize {
        self.header.len() + self.metadata.len()
    }

    /// The AAD as one slice: borrowed when the metadata is empty, else built in `scratch`.
    fn contiguous<'s>(&'s self, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        if self.metadata.is_empty() {
            self.header
        } else {
            scratch.clear();
            scratch.extend_from_slice(self.header);
            scratch.extend_from_slice(self.metadata);
            scratch
        }
    }
}

fn u64_be(n: usize) -> [u8; 8] {
    // usize is at most 64 bits on every supported target.
    (n as u64).to_be_bytes()
}

fn ctr_hmac_tag<M: Mac + Clone>(
    mac: &M,
    nt: usize,
    nonce: &[u8; NONCE_LEN],
    aad: Aad<'_>,
    ct: &[u8],
    tag_out: &mut [u8],
) -> Result<(), SframeError> {
    let mut mac = mac.clone();
    mac.update(&u64_be(aad.len()));
    mac.update(&u64_be(ct.len()));
    mac.update(&u64_be(nt));
    mac.update(nonce);
    mac.update(aad.header);
    mac.update(aad.metadata);
    mac.update(ct);
    let full = mac.finalize().into_bytes();
    let tag = full.get(..nt).ok_or(SframeError::Internal)?;
    let out = tag_out.get_mut(..nt).ok_or(SframeError::Internal)?;
    out.copy_from_slice(tag);
    Ok(())
}

fn ctr_iv(nonce: &[u8; NONCE_LEN]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    for (d, s) in iv.iter_mut().zip(nonce) {
        *d = *s;
    }
    iv
}

/// AES-CTR with initial counter block `nonce ‖ 0x00000000` (32-bit big-endian block counter).
macro_rules! ctr_apply {
    ($aes:ty, $key:expr, $nonce:expr, $buf:expr) => {{
        let core =
            CtrCore::<$aes, flavors::Ctr32BE>::inner_iv_init($key.clone(), &ctr_iv($nonce).into());
        let mut cipher = Ctr32BE::<$aes>::from_core(core);
        cipher.try_apply_keystream($buf).map_err(|_| SframeError::FrameTooLong)
    }};
}

impl FrameCipher {
    /// Keys the AEAD of `suite` with `key` (`sframe_key`, `Nk` bytes).
    ///
    /// # Errors
    ///
    /// [`SframeError::InvalidKeyLength`] if `key` is not `suite.nk()` bytes.
    pub fn new(suite: CipherSuite, key: &[u8]) -> Result<Self, SframeError> {
        let bad =
            || SframeError::InvalidKeyLength { suite, expected: suite.nk(), found: key.len() };
        if key.len() != suite.nk() {
            return Err(bad());
        }
        let inner = match suite {
            CipherSuite::Aes128CtrHmacSha256_80
            | CipherSuite::Aes128CtrHmacSha256_64
            | CipherSuite::Aes128CtrHmacSha256_32 => {
                let (enc, auth) = key.split_at_checked(16).ok_or_else(bad)?;
                Inner::CtrHmac128 {
                    aes: Box::new(Aes128::new_from_slice(enc).map_err(|_| bad())?),
                    mac: Box::new(
                        <Hmac<Sha256> as KeyInit>::new_from_slice(auth).map_err(|_| bad())?,
                    ),
                }
            }
            CipherSuite::Aes256CtrHmacSha512_80
            | CipherSuite::Aes256CtrHmacSha512_64
            | CipherSuite::Aes256CtrHmacSha512_32 => {
                let (enc, auth) = key.split_at_checked(32).ok_or_else(bad)?;
                Inner::CtrHmac256 {
                    aes: Box::new(Aes256::new_from_slice(enc).map_err(|_| bad())?),
                    mac: Box::new(
                        <Hmac<Sha512> as KeyInit>::new_from_slice(auth).map_err(|_| bad())?,
                    ),
                }
            }
            CipherSuite::Aes128GcmSha256_128 => {
                Inner::Gcm128(Box::new(Aes128Gcm::new_from_slice(key).map_err(|_| bad())?))
            }
            CipherSuite::Aes256GcmSha512_128 => {
                Inner::Gcm256(Box::new(Aes256Gcm::new_from_slice(key).map_err(|_| bad())?))
            }
            CipherSuite::ChaCha20Poly1305Sha256_128 => {
                Inner::ChaCha(ChaCha20Poly1305::new_from_slice(key).map_err(|_| bad())?)
            }
        };
        Ok(Self { suite, inner })
    }

    /// The suite this cipher implements.
    #[must_use]
    pub const fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Encrypts `buf` in place and writes the `Nt`-byte tag to `tag_out`.
    ///
    /// This is the bare AEAD of the suite (`AEAD.Encrypt(key, nonce, aad, pt)` of
    /// RFC 9605 §4.4.3, whose output is `buf ‖ tag_out`).
    ///
    /// # Errors
    ///
    /// [`SframeError::BufferTooSmall`] if `tag_out` is not `Nt` bytes;
    /// [`SframeError::FrameTooLong`] if `buf` is longer than the cipher allows.
    pub fn seal_in_place_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag_out: &mut [u8],
    ) -> Result<(), SframeError> {
        let aad = Aad { header: aad, metadata: &[] };
        self.seal(nonce, aad, &mut Vec::new(), buf, tag_out)
    }

    /// Verifies `tag` and decrypts `buf` in place.
    ///
    /// # Errors
    ///
    /// [`SframeError::AuthenticationFailed`] if the tag does not verify (then `buf` is
    /// left as ciphertext for the CTR+HMAC suites; for the others it is unspecified).
    pub fn open_in_place_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), SframeError> {
        let aad = Aad { header: aad, metadata: &[] };
        self.open(nonce, aad, &mut Vec::new(), buf, tag)
    }

    pub(crate) fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: Aad<'_>,
        scratch: &mut Vec<u8>,
        buf: &mut [u8],
        tag_out: &mut [u8],
    ) -> Result<(), SframeError> {
        let nt = self.suite.nt();
        if tag_out.len() != nt {
            return Err(SframeError::BufferTooSmall { needed: nt, found: tag_out.len() });
        }
        match &self.inner {
            Inner::CtrHmac128 { aes, mac } => {
                ctr_apply!(Aes128, aes.as_ref(), nonce, buf)?;
                ctr_hmac_tag(mac.as_ref(), nt, nonce, aad, buf, tag_out)
            }
            Inner::CtrHmac256 { aes, mac } => {
                ctr_apply!(Aes256, aes.as_ref(), nonce, buf)?;
                ctr_hmac_tag(mac.as_ref(), nt, nonce, aad, buf, tag_out)
            }
            Inner::Gcm128(c) => {
                let tag = c
                    .encrypt_inout_detached(&(*nonce).into(), aad.contiguous(scratch), buf.into())
                    .map_err(|_| SframeError::FrameTooLong)?;
                tag_out.copy_from_slice(&tag);
                Ok(())
            }
            Inner::Gcm256(c) => {
                let tag = c
                    .encrypt_inout_detached(&(*nonce).into(), aad.contiguous(scratch), buf.into())
                    .map_err(|_| SframeError::FrameTooLong)?;
                tag_out.copy_from_slice(&tag);
                Ok(())
            }
            Inner::ChaCha(c) => {
                let tag = c
                    .encrypt_inout_detached(&(*nonce).into(), aad.contiguous(scratch), buf.into())
                    .map_err(|_| SframeError::FrameTooLong)?;
                tag_out.copy_from_slice(&tag);
                Ok(())
            }
        }
    }

    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: Aad<'_>,
        scratch: &mut Vec<u8>,
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), SframeError> {
        let nt = self.suite.nt();
        if tag.len() != nt {
            return Err(SframeError::AuthenticationFailed);
        }
        let fail = |_| SframeError::AuthenticationFailed;
        match &self.inner {
            Inner::CtrHmac128 { aes, mac } => {
                let mut expected = [0u8; MAX_TAG_LEN];
                let expected = expected.get_mut(..nt).ok_or(SframeError::Internal)?;
                ctr_hmac_tag(mac.as_ref(), nt, nonce, aad, buf, expected)?;
                if !bool::from(expected.ct_eq(tag)) {
                    return Err(SframeError::AuthenticationFailed);
                }
                ctr_apply!(Aes128, aes.as_ref(), nonce, buf)
            }
            Inner::CtrHmac256 { aes, mac } => {
                let mut expected = [0u8; MAX_TAG_LEN];
                let expected = expected.get_mut(..nt).ok_or(SframeError::Internal)?;
                ctr_hmac_tag(mac.as_ref(), nt, nonce, aad, buf, expected)?;
                if !bool::from(expected.ct_eq(tag)) {
                    return Err(SframeError::AuthenticationFailed);
                }
                ctr_apply!(Aes256, aes.as_ref(), nonce, buf)
            }
            Inner::Gcm128(c) => {
                let tag = tag.try_into().map_err(|_| SframeError::AuthenticationFailed)?;
                c.decrypt_inout_detached(&(*nonce).into(), aad.contiguous(scratch), buf.into(), tag)
                    .map_err(fail)
            }
            Inner::Gcm256(c) => {
                let tag = tag.try_into().map_err(|_| SframeError::AuthenticationFailed)?;
                c.decrypt_inout_detached(&(*nonce).into(), aad.contiguous(scratch), buf.into(), tag)
                    .map_err(fail)
            }
            Inner::ChaCha(c) => {
                let tag = tag.try_into().map_err(|_| SframeError::AuthenticationFailed)?;
                c.decrypt_inout_detached(&(*nonce).into(), aad.contiguous(scratch), buf.into(), tag)
                    .map_err(fail)
            }
        }
    }
}
