//! Signed prekeys and one-time prekeys (X3DH §2.5 and §3.2).
//!
//! A signed prekey is an X25519 key signed by the identity key over
//! `SIGNED_PREKEY_LABEL ‖ id (u32 big-endian) ‖ public key`; a one-time
//! prekey is an X25519 key used for at most one session. Both carry an id by
//! which a first message names the ones it used.

use core::fmt;

use ed25519_dalek::Signature;
use rand_core::CryptoRng;

use super::{DhKeyPair, DhPublicKey, IdentityKey, IdentityKeyPair};
use crate::proto::storage::{OneTimePreKeyRecord, SignedPreKeyRecord};
use crate::protocol::{RECORD_VERSION, SIGNED_PREKEY_LABEL};
use crate::record::{self, RecordError};
use zeroize::Zeroizing;

/// The length of an Ed25519 signature, in bytes.
pub(crate) const SIGNATURE_LEN: usize = 64;

/// The id of a signed prekey, chosen by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignedPreKeyId(u32);

/// The id of a one-time prekey, chosen by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OneTimePreKeyId(u32);

macro_rules! id_conversions {
    ($($id:ident),*) => {$(
        impl From<u32> for $id {
            fn from(value: u32) -> Self {
                Self(value)
            }
        }

        impl From<$id> for u32 {
            fn from(id: $id) -> u32 {
                id.0
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_conversions!(SignedPreKeyId, OneTimePreKeyId);

/// The bytes the identity key signs to vouch for a signed prekey.
pub(crate) fn signed_prekey_message(id: SignedPreKeyId, key: &DhPublicKey) -> [u8; 22 + 4 + 32] {
    let mut message = [0u8; 22 + 4 + 32];
    let (label, rest) = message.split_at_mut(SIGNED_PREKEY_LABEL.len());
    label.copy_from_slice(SIGNED_PREKEY_LABEL);
    let (id_bytes, key_bytes) = rest.split_at_mut(4);
    id_bytes.copy_from_slice(&id.0.to_be_bytes());
    key_bytes.copy_from_slice(key.as_bytes());
    message
}

/// A signed prekey with its secret. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct SignedPreKey {
    id: SignedPreKeyId,
    key: DhKeyPair,
    signature: Signature,
}

impl SignedPreKey {
    /// Makes a new signed prekey and signs it with `identity`.
    pub fn generate<R: CryptoRng + ?Sized>(
        id: SignedPreKeyId,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        let key = DhKeyPair::generate(rng);
        let signature = identity.sign(&signed_prekey_message(id, &key.public()));
        Self { id, key, signature }
    }

    /// This prekey's id.
    pub fn id(&self) -> SignedPreKeyId {
        self.id
    }

    /// The public half, as it goes into a bundle.
    pub fn public(&self) -> SignedPreKeyPublic {
        SignedPreKeyPublic { id: self.id, key: self.key.public(), signature: self.signature }
    }

    pub(crate) fn key_pair(&self) -> &DhKeyPair {
        &self.key
    }

    /// Encodes the prekey, secret included, as a stored record.
    ///
    /// **Warning:** the bytes hold a secret: keep them encrypted at rest.
    pub fn to_record_bytes(&self) -> Zeroizing<Vec<u8>> {
        record::encode(&SignedPreKeyRecord {
            version: RECORD_VERSION,
            id: self.id.0,
            private_key: self.key.secret_bytes().to_vec(),
            signature: self.signature.to_bytes().to_vec(),
        })
    }

    /// Loads a prekey from [`to_record_bytes`](Self::to_record_bytes).
    ///
    /// # Errors
    /// A [`RecordError`] if the record is malformed, of another version, or
    /// holds a field of the wrong length.
    pub fn from_record_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let stored: SignedPreKeyRecord = record::decode(bytes)?;
        record::check_version(stored.version)?;
        let secret = record::secret32(&stored.private_key, "private_key")?;
        let signature: [u8; SIGNATURE_LEN] = stored
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| RecordError::InvalidField { field: "signature" })?;
        Ok(Self {
            id: SignedPreKeyId(stored.id),
            key: DhKeyPair::from_secret_bytes(&secret),
            signature: Signature::from_bytes(&signature),
        })
    }
}

impl fmt::Debug for SignedPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKey")
            .field("id", &self.id)
            .field("public", &self.key.public())
            .finish_non_exhaustive()
    }
}

/// The public half of a signed prekey: its id, key and signature.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedPreKeyPublic {
    pub(crate) id: SignedPreKeyId,
    pub(crate) key: DhPublicKey,
    pub(crate) signature: Signature,
}

impl SignedPreKeyPublic {
    /// Assembles the public half from its parts (as a server stores them).
    pub fn new(id: SignedPreKeyId, key: DhPublicKey, signature: [u8; SIGNATURE_LEN]) -> Self {
        Self { id, key, signature: Signature::from_bytes(&signature) }
    }

    /// The prekey's id.
    pub fn id(&self) -> SignedPreKeyId {
        self.id
    }

    /// The X25519 public key.
    pub fn key(&self) -> DhPublicKey {
        self.key
    }

    /// The Ed25519 signature over the key.
    pub fn signature(&self) -> [u8; SIGNATURE_LEN] {
        self.signature.to_bytes()
    }

    /// Whether `identity` signed this prekey.
    pub(crate) fn is_signed_by(&self, identity: &IdentityKey) -> bool {
        identity.verify(&signed_prekey_message(self.id, &self.key), &self.signature)
    }
}

impl fmt::Debug for SignedPreKeyPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKeyPublic").field("id", &self.id).field("key", &self.key).finish()
    }
}

/// A one-time prekey with its secret. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct OneTimePreKey {
    id: OneTimePreKeyId,
    key: DhKeyPair,
}

impl OneTimePreKey {
    /// Makes a new one-time prekey.
    pub fn generate<R: CryptoRng + ?Sized>(id: OneTimePreKeyId, rng: &mut R) -> Self {
        Self { id, key: DhKeyPair::generate(rng) }
    }

    /// This prekey's id.
    pub fn id(&self) -> OneTimePreKeyId {
        self.id
    }

    /// The public half, as it goes into a bundle.
    pub fn public(&self) -> OneTimePreKeyPublic {
        OneTimePreKeyPublic { id: self.id, key: self.key.public() }
    }

    pub(crate) fn key_pair(&self) -> &DhKeyPair {
        &self.key
    }

    /// Encodes the prekey, secret included, as a stored record.
    ///
    /// **Warning:** the bytes hold a secret: keep them encrypted at rest.
    pub fn to_record_bytes(&self) -> Zeroizing<Vec<u8>> {
        record::encode(&OneTimePreKeyRecord {
            version: RECORD_VERSION,
            id: self.id.0,
            private_key: self.key.secret_bytes().to_vec(),
        })
    }

    /// Loads a prekey from [`to_record_bytes`](Self::to_record_bytes).
    ///
    /// # Errors
    /// A [`RecordError`] if the record is malformed, of another version, or
    /// holds a field of the wrong length.
    pub fn from_record_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let stored: OneTimePreKeyRecord = record::decode(bytes)?;
        record::check_version(stored.version)?;
        let secret = record::secret32(&stored.private_key, "private_key")?;
        Ok(Self { id: OneTimePreKeyId(stored.id), key: DhKeyPair::from_secret_bytes(&secret) })
    }
}

impl fmt::Debug for OneTimePreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimePreKey")
            .field("id", &self.id)
            .field("public", &self.key.public())
            .finish_non_exhaustive()
    }
}

/// The public half of a one-time prekey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneTimePreKeyPublic {
    pub(crate) id: OneTimePreKeyId,
    pub(crate) key: DhPublicKey,
}

impl OneTimePreKeyPublic {
    /// Assembles the public half from its parts.
    pub fn new(id: OneTimePreKeyId, key: DhPublicKey) -> Self {
        Self { id, key }
    }

    /// The prekey's id.
    pub fn id(&self) -> OneTimePreKeyId {
        self.id
    }

    /// The X25519 public key.
    pub fn key(&self) -> DhPublicKey {
        self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::test_rng;

    #[test]
    fn signature_covers_id_and_key() {
        let mut rng = test_rng(5);
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed = SignedPreKey::generate(9.into(), &identity, &mut rng);
        let public = signed.public();
        assert!(public.is_signed_by(&identity.public()));

        let other_id = SignedPreKeyPublic { id: 10.into(), ..public.clone() };
        assert!(!other_id.is_signed_by(&identity.public()));
        let other_key =
            SignedPreKeyPublic { key: DhKeyPair::generate(&mut rng).public(), ..public };
        assert!(!other_key.is_signed_by(&identity.public()));
    }

    #[test]
    fn signed_message_layout() {
        let key = DhPublicKey::from_bytes(&[7; 32]).unwrap();
        let message = signed_prekey_message(0x0102_0304.into(), &key);
        assert_eq!(&message[..22], SIGNED_PREKEY_LABEL);
        assert_eq!(&message[22..26], &[1, 2, 3, 4]);
        assert_eq!(&message[26..], &[7; 32]);
    }

    #[test]
    fn records_round_trip() {
        let mut rng = test_rng(6);
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed = SignedPreKey::generate(3.into(), &identity, &mut rng);
        let loaded = SignedPreKey::from_record_bytes(&signed.to_record_bytes()).unwrap();
        assert_eq!(loaded.public(), signed.public());

        let one_time = OneTimePreKey::generate(4.into(), &mut rng);
        let loaded = OneTimePreKey::from_record_bytes(&one_time.to_record_bytes()).unwrap();
        assert_eq!(loaded.public(), one_time.public());
    }

    #[test]
    fn corrupt_records_are_refused() {
        let mut rng = test_rng(7);
        let one_time = OneTimePreKey::generate(4.into(), &mut rng);
        let bytes = one_time.to_record_bytes();
        assert!(OneTimePreKey::from_record_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert_eq!(
            SignedPreKey::from_record_bytes(&[0x08, 0x02]).err(),
            Some(RecordError::UnsupportedVersion { expected: 1, found: 2 })
        );
    }
}
