//! Identity keys: one Ed25519 key pair per device.
//!
//! The identity key signs prekeys, and takes part in X3DH through the
//! birational map from Ed25519 to X25519 (as libsodium's
//! `crypto_sign_ed25519_pk_to_curve25519` and `..._sk_to_curve25519`): the
//! public key's Edwards point maps to its Montgomery u-coordinate, and the
//! private key is the first half of SHA-512(seed), which X25519 clamps.

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::KeyError;
use crate::proto::storage::IdentityKeyPairRecord;
use crate::protocol::RECORD_VERSION;
use crate::record::{self, RecordError};

/// The length of an identity public key, in bytes.
pub const IDENTITY_KEY_LEN: usize = 32;

/// A device's public identity key (Ed25519).
///
/// Constructing one from bytes checks that they are a valid, non-weak
/// Ed25519 point: a weak (small-order) key would give an all-zero X25519
/// output. The key is kept as its 32-byte encoding and decompressed only
/// when it verifies a signature or takes part in X3DH.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityKey([u8; IDENTITY_KEY_LEN]);

impl IdentityKey {
    /// Parses a 32-byte Ed25519 public key (RFC 8032 §5.1.3) in its
    /// canonical encoding: the bytes must be what the decoded point encodes
    /// to, so that one key has one byte form (one trust record, one safety
    /// number).
    ///
    /// # Errors
    /// [`KeyError::InvalidLength`] for other lengths, [`KeyError::InvalidPoint`]
    /// if the bytes are not a point, [`KeyError::NonCanonical`] for a
    /// y-coordinate of p or more or a sign bit on x = 0,
    /// [`KeyError::WeakKey`] for a small-order point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let key = Self::from_stored_bytes(bytes)?;
        let point = key.decompress()?;
        if point.to_edwards().compress().to_bytes() != key.0 {
            return Err(KeyError::NonCanonical);
        }
        Ok(key)
    }

    /// Takes a key from a stored session record, checking only its length:
    /// it was validated when the session was made, and a session's identity
    /// keys enter only its associated data, which the AEAD authenticates.
    pub(crate) fn from_stored_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: [u8; IDENTITY_KEY_LEN] = bytes.try_into().map_err(|_| {
            KeyError::InvalidLength { expected: IDENTITY_KEY_LEN, found: bytes.len() }
        })?;
        Ok(Self(bytes))
    }

    fn decompress(&self) -> Result<VerifyingKey, KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(key)
    }

    /// The 32-byte Ed25519 encoding.
    pub fn to_bytes(&self) -> [u8; IDENTITY_KEY_LEN] {
        self.0
    }

    /// The 32-byte Ed25519 encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; IDENTITY_KEY_LEN] {
        &self.0
    }

    /// The X25519 public key this identity key takes part in X3DH as.
    pub(crate) fn to_x25519(self) -> Result<PublicKey, KeyError> {
        Ok(PublicKey::from(self.decompress()?.to_montgomery().to_bytes()))
    }

    /// Checks an Ed25519 signature made by this key (strict verification:
    /// non-canonical signatures and small-order components are refused).
    pub(crate) fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        self.decompress().is_ok_and(|key| key.verify_strict(message, signature).is_ok())
    }
}

impl TryFrom<&[u8]> for IdentityKey {
    type Error = KeyError;

    fn try_from(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::from_bytes(bytes)
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey(")?;
        for byte in self.as_bytes() {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

/// A device's identity key pair: its Ed25519 signing key.
///
/// The secret is zeroized on drop and never printed.
#[derive(Clone)]
pub struct IdentityKeyPair {
    signing: SigningKey,
}

impl IdentityKeyPair {
    /// Makes a new identity key pair from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// Rebuilds a key pair from its 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { signing: SigningKey::from_bytes(seed) }
    }

    /// The 32-byte Ed25519 seed, for storing the key pair.
    ///
    /// **Warning:** this is the device's long-term secret. Keep it only in
    /// storage encrypted at rest, and let the returned value drop soon.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// Encodes the key pair as a stored record (`storage.proto`,
    /// `IdentityKeyPairRecord`).
    ///
    /// **Warning:** the bytes hold the device's long-term secret: keep them
    /// encrypted at rest.
    pub fn to_record_bytes(&self) -> Zeroizing<Vec<u8>> {
        record::encode(&IdentityKeyPairRecord {
            version: RECORD_VERSION,
            seed: self.signing.to_bytes().to_vec(),
        })
    }

    /// Loads a key pair from [`to_record_bytes`](Self::to_record_bytes).
    ///
    /// # Errors
    /// A [`RecordError`] if the record is malformed, of another version, or
    /// its seed is not 32 bytes.
    pub fn from_record_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let stored: IdentityKeyPairRecord = record::decode(bytes)?;
        record::check_version(stored.version)?;
        Ok(Self::from_seed(&*record::secret32(&stored.seed, "seed")?))
    }

    /// The public identity key.
    pub fn public(&self) -> IdentityKey {
        IdentityKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message` with Ed25519.
    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// The X25519 private key this identity takes part in X3DH as: the first
    /// half of SHA-512(seed), which X25519 clamps.
    pub(crate) fn to_x25519(&self) -> StaticSecret {
        let scalar = Zeroizing::new(self.signing.to_scalar_bytes());
        StaticSecret::from(*scalar)
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair").field("public", &self.public()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::test_rng;

    /// y = p + 3 (p = 2²⁵⁵ − 19), sign bit clear: the point y = 3 in a second
    /// byte form.
    const Y_P_PLUS_3: [u8; 32] = {
        let mut bytes = [0xff; 32];
        bytes[0] = 0xf0;
        bytes[31] = 0x7f;
        bytes
    };

    #[test]
    fn only_canonical_encodings_parse() {
        let mut canonical = [0u8; 32];
        canonical[0] = 3;
        // y = 3 is a point; its encoding as p + 3 decodes (RFC 8032 decoders
        // that do not check y < p accept it) and is refused.
        assert!(VerifyingKey::from_bytes(&Y_P_PLUS_3).is_ok(), "the premise");
        assert_eq!(IdentityKey::from_bytes(&Y_P_PLUS_3), Err(KeyError::NonCanonical));
        assert!(IdentityKey::from_bytes(&canonical).is_ok());
        let generated = IdentityKeyPair::generate(&mut test_rng(5)).public();
        assert_eq!(IdentityKey::from_bytes(generated.as_bytes()), Ok(generated));
    }

    #[test]
    fn x25519_halves_of_the_map_agree() {
        let mut rng = test_rng(1);
        let pair = IdentityKeyPair::generate(&mut rng);
        let from_secret = PublicKey::from(&pair.to_x25519());
        assert_eq!(from_secret.as_bytes(), pair.public().to_x25519().unwrap().as_bytes());
    }

    #[test]
    fn seed_round_trips() {
        let mut rng = test_rng(2);
        let pair = IdentityKeyPair::generate(&mut rng);
        let again = IdentityKeyPair::from_seed(&pair.to_seed());
        assert_eq!(pair.public(), again.public());
        let loaded = IdentityKeyPair::from_record_bytes(&pair.to_record_bytes()).unwrap();
        assert_eq!(pair.public(), loaded.public());
        assert!(IdentityKeyPair::from_record_bytes(&[0x12, 0x01, 0x00]).is_err());
    }

    #[test]
    fn refuses_bad_lengths_and_weak_keys() {
        assert_eq!(
            IdentityKey::from_bytes(&[1; 31]),
            Err(KeyError::InvalidLength { expected: 32, found: 31 })
        );
        // The identity point (0, 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(IdentityKey::from_bytes(&identity), Err(KeyError::WeakKey));
    }

    #[test]
    fn debug_shows_no_secret() {
        let pair = IdentityKeyPair::from_seed(&[0xAB; 32]);
        let text = format!("{pair:?}");
        assert!(!text.contains("abab"), "{text}");
        assert!(!text.contains("171, 171"), "{text}");
    }
}
