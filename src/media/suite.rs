//! SFrame cipher suites (RFC 9605 §4.5 and §8.1; draft-barnes-sframe-iana-256).
//!
//! | id | name | Nh | Nka | Nk | Nn | Nt | KDF |
//! | --- | --- | --- | --- | --- | --- | --- | --- |
//! | 0x0001 | AES_128_CTR_HMAC_SHA256_80 | 32 | 16 | 48 | 12 | 10 | HKDF-SHA256 |
//! | 0x0002 | AES_128_CTR_HMAC_SHA256_64 | 32 | 16 | 48 | 12 | 8 | HKDF-SHA256 |
//! | 0x0003 | AES_128_CTR_HMAC_SHA256_32 | 32 | 16 | 48 | 12 | 4 | HKDF-SHA256 |
//! | 0x0004 | AES_128_GCM_SHA256_128 | 32 | — | 16 | 12 | 16 | HKDF-SHA256 |
//! | 0x0005 | AES_256_GCM_SHA512_128 | 64 | — | 32 | 12 | 16 | HKDF-SHA512 |
//! | 0x0006 | AES_256_CTR_HMAC_SHA512_80 | 64 | 32 | 96 | 12 | 10 | HKDF-SHA512 |
//! | 0x0007 | AES_256_CTR_HMAC_SHA512_64 | 64 | 32 | 96 | 12 | 8 | HKDF-SHA512 |
//! | 0x0008 | AES_256_CTR_HMAC_SHA512_32 | 64 | 32 | 96 | 12 | 4 | HKDF-SHA512 |
//! | 0xF001 | CHACHA20_POLY1305_SHA256_128 (private use) | 32 | — | 32 | 12 | 16 | HKDF-SHA256 |
//!
//! 0xF001 lies in the range RFC 9605 §8.1 reserves for private use (0xF000–0xFFFF):
//! it is Sotto's own, ChaCha20-Poly1305 (RFC 8439) with HKDF-SHA256, and only
//! interoperates with peers that define 0xF001 the same way.

use super::error::SframeError;

/// The hash function behind a suite's HKDF (and HMAC, for the CTR+HMAC suites).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KdfHash {
    /// SHA-256 (`Nh` = 32).
    Sha256,
    /// SHA-512 (`Nh` = 64).
    Sha512,
}

/// An SFrame cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherSuite {
    /// 0x0001: AES-128-CTR with HMAC-SHA256, 80-bit tag (RFC 9605 §4.5.1).
    Aes128CtrHmacSha256_80,
    /// 0x0002: AES-128-CTR with HMAC-SHA256, 64-bit tag (RFC 9605 §4.5.1).
    Aes128CtrHmacSha256_64,
    /// 0x0003: AES-128-CTR with HMAC-SHA256, 32-bit tag (RFC 9605 §4.5.1).
    Aes128CtrHmacSha256_32,
    /// 0x0004: AES-128-GCM, HKDF-SHA256.
    Aes128GcmSha256_128,
    /// 0x0005: AES-256-GCM, HKDF-SHA512.
    Aes256GcmSha512_128,
    /// 0x0006: AES-256-CTR with HMAC-SHA512, 80-bit tag (draft-barnes-sframe-iana-256).
    Aes256CtrHmacSha512_80,
    /// 0x0007: AES-256-CTR with HMAC-SHA512, 64-bit tag (draft-barnes-sframe-iana-256).
    Aes256CtrHmacSha512_64,
    /// 0x0008: AES-256-CTR with HMAC-SHA512, 32-bit tag (draft-barnes-sframe-iana-256).
    Aes256CtrHmacSha512_32,
    /// 0xF001 (private use, RFC 9605 §8.1): ChaCha20-Poly1305, HKDF-SHA256. Sotto's own.
    ChaCha20Poly1305Sha256_128,
}

impl CipherSuite {
    /// Every suite this crate implements.
    pub const ALL: [Self; 9] = [
        Self::Aes128CtrHmacSha256_80,
        Self::Aes128CtrHmacSha256_64,
        Self::Aes128CtrHmacSha256_32,
        Self::Aes128GcmSha256_128,
        Self::Aes256GcmSha512_128,
        Self::Aes256CtrHmacSha512_80,
        Self::Aes256CtrHmacSha512_64,
        Self::Aes256CtrHmacSha512_32,
        Self::ChaCha20Poly1305Sha256_128,
    ];

    /// The 16-bit id carried in the IANA registry (and in the key derivation labels).
    #[must_use]
    pub const fn id(self) -> u16 {
        match self {
            Self::Aes128CtrHmacSha256_80 => 0x0001,
            Self::Aes128CtrHmacSha256_64 => 0x0002,
            Self::Aes128CtrHmacSha256_32 => 0x0003,
            Self::Aes128GcmSha256_128 => 0x0004,
            Self::Aes256GcmSha512_128 => 0x0005,
            Self::Aes256CtrHmacSha512_80 => 0x0006,
            Self::Aes256CtrHmacSha512_64 => 0x0007,
            Self::Aes256CtrHmacSha512_32 => 0x0008,
            Self::ChaCha20Poly1305Sha256_128 => 0xF001,
        }
    }

    /// The suite with the given id.
    ///
    /// # Errors
    ///
    /// [`SframeError::UnsupportedCipherSuite`] for an id this crate does not implement.
    pub fn from_id(id: u16) -> Result<Self, SframeError> {
        Self::ALL.into_iter().find(|s| s.id() == id).ok_or(SframeError::UnsupportedCipherSuite(id))
    }

    /// The hash behind HKDF (and HMAC where used).
    #[must_use]
    pub const fn kdf_hash(self) -> KdfHash {
        match self {
            Self::Aes256GcmSha512_128
            | Self::Aes256CtrHmacSha512_80
            | Self::Aes256CtrHmacSha512_64
            | Self::Aes256CtrHmacSha512_32 => KdfHash::Sha512,
            _ => KdfHash::Sha256,
        }
    }

    /// `Nh`: the output size of the hash, in bytes.
    #[must_use]
    pub const fn nh(self) -> usize {
        match self.kdf_hash() {
            KdfHash::Sha256 => 32,
            KdfHash::Sha512 => 64,
        }
    }

    /// `Nka`: the AES key size inside `sframe_key` for the CTR+HMAC suites, `None` otherwise.
    #[must_use]
    pub const fn nka(self) -> Option<usize> {
        match self {
            Self::Aes128CtrHmacSha256_80
            | Self::Aes128CtrHmacSha256_64
            | Self::Aes128CtrHmacSha256_32 => Some(16),
            Self::Aes256CtrHmacSha512_80
            | Self::Aes256CtrHmacSha512_64
            | Self::Aes256CtrHmacSha512_32 => Some(32),
            _ => None,
        }
    }

    /// `Nk`: the AEAD key size (`sframe_key`), in bytes. For CTR+HMAC it is `Nka + Nh`.
    #[must_use]
    pub const fn nk(self) -> usize {
        match self {
            Self::Aes128GcmSha256_128 => 16,
            Self::Aes256GcmSha512_128 | Self::ChaCha20Poly1305Sha256_128 => 32,
            Self::Aes128CtrHmacSha256_80
            | Self::Aes128CtrHmacSha256_64
            | Self::Aes128CtrHmacSha256_32 => 16 + 32,
            Self::Aes256CtrHmacSha512_80
            | Self::Aes256CtrHmacSha512_64
            | Self::Aes256CtrHmacSha512_32 => 32 + 64,
        }
    }

    /// `Nn`: the nonce size, in bytes (12 for every suite).
    #[must_use]
    pub const fn nn(self) -> usize {
        NONCE_LEN
    }

    /// `Nt`: the authentication tag size, in bytes.
    #[must_use]
    pub const fn nt(self) -> usize {
        match self {
            Self::Aes128CtrHmacSha256_80 | Self::Aes256CtrHmacSha512_80 => 10,
            Self::Aes128CtrHmacSha256_64 | Self::Aes256CtrHmacSha512_64 => 8,
            Self::Aes128CtrHmacSha256_32 | Self::Aes256CtrHmacSha512_32 => 4,
            Self::Aes128GcmSha256_128
            | Self::Aes256GcmSha512_128
            | Self::ChaCha20Poly1305Sha256_128 => 16,
        }
    }
}

impl TryFrom<u16> for CipherSuite {
    type Error = SframeError;

    fn try_from(id: u16) -> Result<Self, SframeError> {
        Self::from_id(id)
    }
}

impl From<CipherSuite> for u16 {
    fn from(suite: CipherSuite) -> Self {
        suite.id()
    }
}

/// `Nn` of every implemented suite: 12 bytes.
pub const NONCE_LEN: usize = 12;

/// The largest `Nt` of any suite: 16 bytes.
pub const MAX_TAG_LEN: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for s in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_id(s.id()).unwrap(), s);
            assert!(s.nt() <= MAX_TAG_LEN);
            if let Some(nka) = s.nka() {
                assert_eq!(s.nk(), nka + s.nh());
            }
        }
        assert_eq!(CipherSuite::from_id(0), Err(SframeError::UnsupportedCipherSuite(0)));
        assert_eq!(CipherSuite::try_from(0xF000), Err(SframeError::UnsupportedCipherSuite(0xF000)));
    }
}
