//! SFrame key derivation (RFC 9605 §4.4.2).
//!
//! ```text
//! sframe_secret = HKDF-Extract("", base_key)
//! sframe_key    = HKDF-Expand(sframe_secret, key_label,  AEAD.Nk)
//! sframe_salt   = HKDF-Expand(sframe_secret, salt_label, AEAD.Nn)
//!
//! key_label  = "SFrame 1.0 Secret key "  ‖ KID (u64 big-endian) ‖ cipher_suite (u16 big-endian)
//! salt_label = "SFrame 1.0 Secret salt " ‖ KID (u64 big-endian) ‖ cipher_suite (u16 big-endian)
//! ```
//!
//! HKDF uses the suite's hash ([`CipherSuite::kdf_hash`]). The per-frame nonce is
//! `sframe_salt XOR (CTR left-padded with zeros to Nn bytes)` (RFC 9605 §4.4.3).

use core::fmt;

use hkdf::Hkdf;
use sha2::{Sha256, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::SframeError;
use super::header::{Counter, KeyId};
use super::suite::{CipherSuite, KdfHash, NONCE_LEN};

/// Prefix of the key label (22 bytes, ending in a space).
pub const KEY_LABEL_PREFIX: &[u8; 22] = b"SFrame 1.0 Secret key ";
/// Prefix of the salt label (23 bytes, ending in a space).
pub const SALT_LABEL_PREFIX: &[u8; 23] = b"SFrame 1.0 Secret salt ";

/// Length of the full key label: prefix, 8-byte KID, 2-byte suite id.
pub const KEY_LABEL_LEN: usize = 22 + 8 + 2;
/// Length of the full salt label: prefix, 8-byte KID, 2-byte suite id.
pub const SALT_LABEL_LEN: usize = 23 + 8 + 2;

/// Largest `Nk` of any suite (the 256-bit CTR+HMAC suites: 32 + 64).
const MAX_NK: usize = 96;
/// Largest `Nh` of any suite.
const MAX_NH: usize = 64;

fn label<const N: usize>(prefix: &[u8], kid: KeyId, suite: CipherSuite) -> [u8; N] {
    let mut out = [0u8; N];
    let tail = kid.value().to_be_bytes().into_iter().chain(suite.id().to_be_bytes());
    for (dst, src) in out.iter_mut().zip(prefix.iter().copied().chain(tail)) {
        *dst = src;
    }
    out
}

/// The HKDF info for `sframe_key`: `"SFrame 1.0 Secret key " ‖ KID ‖ suite`.
#[must_use]
pub fn key_label(kid: KeyId, suite: CipherSuite) -> [u8; KEY_LABEL_LEN] {
    label(KEY_LABEL_PREFIX, kid, suite)
}

/// The HKDF info for `sframe_salt`: `"SFrame 1.0 Secret salt " ‖ KID ‖ suite`.
#[must_use]
pub fn salt_label(kid: KeyId, suite: CipherSuite) -> [u8; SALT_LABEL_LEN] {
    label(SALT_LABEL_PREFIX, kid, suite)
}

/// An SFrame base key: the secret a sender shares with its receivers for one KID.
///
/// Any non-empty length is accepted (RFC 9605 leaves it to the application). Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BaseKey(Box<[u8]>);

impl BaseKey {
    /// Wraps key material received from the key-management layer.
    ///
    /// # Errors
    ///
    /// [`SframeError::EmptyBaseKey`] if `bytes` is empty.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SframeError> {
        if bytes.is_empty() {
            return Err(SframeError::EmptyBaseKey);
        }
        Ok(Self(bytes.into()))
    }

    /// The raw key bytes, for handing to HKDF and to known-answer tests; keep them secret.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for BaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseKey([redacted; {} bytes])", self.0.len())
    }
}

/// HKDF state after Extract, for either hash.
pub(crate) enum Prk {
    Sha256(Hkdf<Sha256>),
    Sha512(Hkdf<Sha512>),
}

impl Prk {
    /// `HKDF-Extract("", ikm)` with the suite's hash; also returns the PRK bytes.
    pub(crate) fn extract(hash: KdfHash, ikm: &[u8]) -> (Self, SframeSecret) {
        let mut secret = SframeSecret { bytes: [0u8; MAX_NH], len: 0 };
        let prk = match hash {
            KdfHash::Sha256 => {
                let (out, hk) = Hkdf::<Sha256>::extract(Some(&[]), ikm);
                secret.fill(&out);
                Self::Sha256(hk)
            }
            KdfHash::Sha512 => {
                let (out, hk) = Hkdf::<Sha512>::extract(Some(&[]), ikm);
                secret.fill(&out);
                Self::Sha512(hk)
            }
        };
        (prk, secret)
    }

    /// `HKDF-Expand(prk, info, okm.len())`.
    pub(crate) fn expand(&self, info: &[u8], okm: &mut [u8]) -> Result<(), SframeError> {
        match self {
            Self::Sha256(hk) => hk.expand(info, okm),
            Self::Sha512(hk) => hk.expand(info, okm),
        }
        .map_err(|_| SframeError::Internal)
    }
}

/// `sframe_secret = HKDF-Extract("", base_key)`: `Nh` bytes, zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SframeSecret {
    bytes: [u8; MAX_NH],
    len: usize,
}

impl SframeSecret {
    fn fill(&mut self, src: &[u8]) {
        for (d, s) in self.bytes.iter_mut().zip(src) {
            *d = *s;
        }
        self.len = src.len().min(MAX_NH);
    }

    /// Computes `HKDF-Extract("", base_key)` with the suite's hash.
    #[must_use]
    pub fn extract(suite: CipherSuite, base_key: &BaseKey) -> Self {
        Prk::extract(suite.kdf_hash(), base_key.expose_secret()).1
    }

    /// The secret bytes, for known-answer tests; keep them secret.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl fmt::Debug for SframeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SframeSecret([redacted])")
    }
}

/// The per-key salt (`sframe_salt`, `Nn` bytes). Not secret on its own, but zeroized anyway.
#[derive(Clone, Copy, PartialEq, Eq, Zeroize)]
pub struct Salt([u8; NONCE_LEN]);

impl Salt {
    /// The salt bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; NONCE_LEN] {
        &self.0
    }

    /// The nonce of frame `ctr`: salt XOR (CTR as 64-bit big-endian, left-padded to `Nn`).
    #[must_use]
    pub fn nonce(&self, ctr: Counter) -> [u8; NONCE_LEN] {
        let mut nonce = self.0;
        let pad = NONCE_LEN - 8;
        for (n, c) in nonce.iter_mut().skip(pad).zip(ctr.value().to_be_bytes()) {
            *n ^= c;
        }
        nonce
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt([redacted])")
    }
}

/// The keys of one KID: `sframe_key` (`Nk` bytes) and `sframe_salt` (RFC 9605 §4.4.2).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SframeKeyMaterial {
    #[zeroize(skip)]
    suite: CipherSuite,
    key: [u8; MAX_NK],
    key_len: usize,
    salt: Salt,
}

impl SframeKeyMaterial {
    /// Derives `sframe_key` and `sframe_salt` for `kid` under `suite` from `base_key`.
    ///
    /// # Errors
    ///
    /// [`SframeError::Internal`] only if HKDF refuses an output length, which no suite asks for.
    pub fn derive(suite: CipherSuite, kid: KeyId, base_key: &BaseKey) -> Result<Self, SframeError> {
        let (prk, _secret) = Prk::extract(suite.kdf_hash(), base_key.expose_secret());
        let mut key = [0u8; MAX_NK];
        let nk = suite.nk();
        let okm = key.get_mut(..nk).ok_or(SframeError::Internal)?;
        prk.expand(&key_label(kid, suite), okm)?;
        let mut salt = [0u8; NONCE_LEN];
        prk.expand(&salt_label(kid, suite), &mut salt)?;
        Ok(Self { suite, key, key_len: nk, salt: Salt(salt) })
    }

    /// The suite these keys are for.
    #[must_use]
    pub const fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// `sframe_key`, for building the cipher and for known-answer tests; keep it secret.
    #[must_use]
    pub fn expose_key(&self) -> &[u8] {
        self.key.get(..self.key_len).unwrap_or(&[])
    }

    /// `sframe_salt`.
    #[must_use]
    pub const fn salt(&self) -> &Salt {
        &self.salt
    }
}

impl fmt::Debug for SframeKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SframeKeyMaterial")
            .field("suite", &self.suite)
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_exact_bytes() {
        let l = key_label(KeyId::new(0x0123), CipherSuite::Aes128CtrHmacSha256_80);
        assert_eq!(&l[..22], b"SFrame 1.0 Secret key ");
        assert_eq!(&l[22..], &[0, 0, 0, 0, 0, 0, 1, 0x23, 0, 1]);
        let s = salt_label(KeyId::new(u64::MAX), CipherSuite::ChaCha20Poly1305Sha256_128);
        assert_eq!(&s[..23], b"SFrame 1.0 Secret salt ");
        assert_eq!(
            &s[23..],
            &[0xff; 8].iter().copied().chain([0xf0, 0x01]).collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn nonce_xors_counter_into_low_bytes() {
        let salt = Salt([0xaa; NONCE_LEN]);
        let n = salt.nonce(Counter::new(0x0102));
        assert_eq!(&n[..10], &[0xaa; 10]);
        assert_eq!(&n[10..], &[0xaa ^ 0x01, 0xaa ^ 0x02]);
    }

    #[test]
    fn debug_redacts() {
        let k = BaseKey::from_bytes(&[0x42; 16]).unwrap();
        let m =
            SframeKeyMaterial::derive(CipherSuite::Aes128GcmSha256_128, KeyId::new(1), &k).unwrap();
        for s in [
            format!("{k:?}"),
            format!("{m:?}"),
            format!("{:?}", SframeSecret::extract(m.suite(), &k)),
        ] {
            assert!(!s.contains("42"), "{s}");
            assert!(s.contains("redacted"));
        }
        assert_eq!(BaseKey::from_bytes(&[]).unwrap_err(), SframeError::EmptyBaseKey);
    }
}
