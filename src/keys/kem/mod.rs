//! KEM prekeys (PQXDH revision 3 §2.5 and §3.2): ML-KEM-1024 key pairs
//! (FIPS 203) that a device signs with its identity key and publishes, so
//! that a session's key agreement resists a future quantum computer.
//!
//! A device keeps one **last-resort** KEM prekey, handed out whenever its
//! server has no **one-time** KEM prekey left, and a stock of one-time ones,
//! each used for at most one session. The identity key signs each of them
//! over `KEM_PREKEY_LABEL ‖ id (u32 big-endian) ‖ EncodeKEM(key)`, where
//! `EncodeKEM(key) = 0x01 ‖ ek` (docs/PROTOCOL.md §1).

use core::fmt;

use ed25519_dalek::Signature;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::prekey::SIGNATURE_LEN;
use super::{IdentityKey, IdentityKeyPair, KeyError};
use crate::proto::storage::KemPreKeyRecord;
use crate::protocol::{KEM_ML_KEM_1024, KEM_PREKEY_LABEL, RECORD_VERSION};
use crate::record::{self, RecordError};

mod ml_kem;

pub(crate) use ml_kem::{CIPHERTEXT_LEN, SHARED_SECRET_LEN};
use ml_kem::{DECAPSULATION_KEY_LEN, ENCAPSULATION_KEY_LEN};

/// The length of `EncodeKEM(key)`: the type byte and the 1568-byte
/// ML-KEM-1024 encapsulation key.
pub const KEM_ENCODED_KEY_LEN: usize = 1 + ENCAPSULATION_KEY_LEN;

/// The length of an ML-KEM-1024 ciphertext, as a first message carries it.
pub const KEM_CIPHERTEXT_LEN: usize = CIPHERTEXT_LEN;

/// The id of a KEM prekey, chosen by its owner (KEM prekeys have ids of
/// their own, apart from signed and one-time prekeys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KemPreKeyId(u32);

impl From<u32> for KemPreKeyId {
    fn from(value: u32) -> Self {
        Self(value)
    }
}

impl From<KemPreKeyId> for u32 {
    fn from(id: KemPreKeyId) -> u32 {
        id.0
    }
}

impl fmt::Display for KemPreKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which of a device's KEM prekeys this is (PQXDH §2.5). Known only to its
/// owner: it is neither signed nor sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KemPreKeyKind {
    /// Used for at most one session, then deleted.
    OneTime,
    /// Handed out when no one-time KEM prekey is left, and kept until the
    /// device rotates it; each base key that used it is remembered for as
    /// long, so that a replayed first message cannot start a second session.
    LastResort,
}

/// An ML-KEM-1024 encapsulation key, checked as FIPS 203 §7.2 requires
/// (every coefficient reduced modulo q). The public half of a KEM prekey.
#[derive(Clone, PartialEq, Eq)]
pub struct KemPublicKey(Box<[u8; ENCAPSULATION_KEY_LEN]>);

impl KemPublicKey {
    /// Parses `EncodeKEM(key)`: the type byte 0x01 (ML-KEM-1024) and the
    /// 1568-byte encapsulation key.
    ///
    /// # Errors
    /// [`KeyError::InvalidLength`] for another length,
    /// [`KeyError::InvalidKemKey`] for another type byte or a key that fails
    /// the modulus check.
    pub fn from_encoded(bytes: &[u8]) -> Result<Self, KeyError> {
        let Some((&kind, key)) = bytes.split_first() else {
            return Err(KeyError::InvalidLength { expected: KEM_ENCODED_KEY_LEN, found: 0 });
        };
        let key: [u8; ENCAPSULATION_KEY_LEN] = key.try_into().map_err(|_| {
            KeyError::InvalidLength { expected: KEM_ENCODED_KEY_LEN, found: bytes.len() }
        })?;
        if kind != KEM_ML_KEM_1024 || !ml_kem::is_valid_encapsulation_key(&key) {
            return Err(KeyError::InvalidKemKey);
        }
        Ok(Self(Box::new(key)))
    }

    /// `EncodeKEM(key)`, 1569 bytes.
    pub fn to_encoded(&self) -> Vec<u8> {
        let mut encoded = Vec::with_capacity(KEM_ENCODED_KEY_LEN);
        encoded.push(KEM_ML_KEM_1024);
        encoded.extend_from_slice(self.0.as_ref());
        encoded
    }

    /// `KEM_BINDING = SHA-256(EncodeKEM(key))`, which ends a PQXDH session's
    /// associated data (docs/PROTOCOL.md §3).
    pub(crate) fn binding(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update([KEM_ML_KEM_1024]);
        hash.update(self.0.as_ref());
        hash.finalize().into()
    }

    /// Encapsulates a fresh secret to this key from the 32 random bytes `m`
    /// (FIPS 203 `Encaps_internal`): the ciphertext and the shared secret.
    pub(crate) fn encapsulate(
        &self,
        m: &Zeroizing<[u8; 32]>,
    ) -> (Box<[u8; CIPHERTEXT_LEN]>, Zeroizing<[u8; SHARED_SECRET_LEN]>) {
        ml_kem::encapsulate(&self.0, m)
    }
}

impl fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The binding names the key in 32 bytes rather than 1568.
        write!(f, "KemPublicKey(sha256 ")?;
        for byte in self.binding().iter().take(8) {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("…)")
    }
}

/// The bytes the identity key signs to vouch for a KEM prekey.
fn signed_message(id: KemPreKeyId, key: &KemPublicKey) -> Vec<u8> {
    let mut message = Vec::with_capacity(KEM_PREKEY_LABEL.len() + 4 + KEM_ENCODED_KEY_LEN);
    message.extend_from_slice(KEM_PREKEY_LABEL);
    message.extend_from_slice(&id.0.to_be_bytes());
    message.extend_from_slice(&key.to_encoded());
    message
}

/// A KEM prekey with its secret (the FIPS 203 decapsulation key). Zeroized
/// on drop, never printed.
#[derive(Clone)]
pub struct KemPreKey {
    id: KemPreKeyId,
    kind: KemPreKeyKind,
    secret: Box<Zeroizing<[u8; DECAPSULATION_KEY_LEN]>>,
    public: KemPublicKey,
    signature: Signature,
}

impl KemPreKey {
    /// Makes a new KEM prekey of `kind` and signs it with `identity`. Draws
    /// FIPS 203's two 32-byte seeds `d`, then `z`, from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(
        id: KemPreKeyId,
        kind: KemPreKeyKind,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        let mut seeds = Zeroizing::new([0u8; 64]);
        let (d, z) = seeds.split_at_mut(32);
        rng.fill_bytes(d);
        rng.fill_bytes(z);
        let (secret, public) = ml_kem::generate(&seeds);
        let public = KemPublicKey(public);
        let signature = identity.sign(&signed_message(id, &public));
        Self { id, kind, secret, public, signature }
    }

    /// This prekey's id.
    pub fn id(&self) -> KemPreKeyId {
        self.id
    }

    /// Whether this is a one-time or the last-resort KEM prekey.
    pub fn kind(&self) -> KemPreKeyKind {
        self.kind
    }

    /// The public half, as it goes into a bundle.
    pub fn public(&self) -> KemPreKeyPublic {
        KemPreKeyPublic { id: self.id, key: self.public.clone(), signature: self.signature }
    }

    /// The shared secret `ciphertext` encapsulates to this key (FIPS 203
    /// `Decaps`, which never fails: a tampered ciphertext gives an unrelated
    /// secret, and the first message then fails to authenticate).
    pub(crate) fn decapsulate(
        &self,
        ciphertext: &[u8; CIPHERTEXT_LEN],
    ) -> Zeroizing<[u8; SHARED_SECRET_LEN]> {
        ml_kem::decapsulate(&self.secret, ciphertext)
    }

    /// `KEM_BINDING` of this prekey's public key.
    pub(crate) fn binding(&self) -> [u8; 32] {
        self.public.binding()
    }

    /// Encodes the prekey, secret included, as a stored record.
    ///
    /// **Warning:** the bytes hold a secret: keep them encrypted at rest.
    pub fn to_record_bytes(&self) -> Zeroizing<Vec<u8>> {
        record::encode(&KemPreKeyRecord {
            version: RECORD_VERSION,
            id: self.id.0,
            last_resort: self.kind == KemPreKeyKind::LastResort,
            private_key: self.secret.to_vec(),
            signature: self.signature.to_bytes().to_vec(),
        })
    }

    /// Loads a prekey from [`to_record_bytes`](Self::to_record_bytes).
    ///
    /// # Errors
    /// A [`RecordError`] if the record is malformed, of another version,
    /// holds a field of the wrong length, or a decapsulation key whose
    /// embedded hash of its encapsulation key does not match (FIPS 203
    /// §7.3).
    pub fn from_record_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let stored: KemPreKeyRecord = record::decode(bytes)?;
        record::check_version(stored.version)?;
        let invalid = |field| RecordError::InvalidField { field };
        let secret: [u8; DECAPSULATION_KEY_LEN] =
            stored.private_key.as_slice().try_into().map_err(|_| invalid("private_key"))?;
        let secret = Box::new(Zeroizing::new(secret));
        let public = ml_kem::encapsulation_key_of(&secret).ok_or(invalid("private_key"))?;
        let signature: [u8; SIGNATURE_LEN] =
            stored.signature.as_slice().try_into().map_err(|_| invalid("signature"))?;
        Ok(Self {
            id: KemPreKeyId(stored.id),
            kind: if stored.last_resort {
                KemPreKeyKind::LastResort
            } else {
                KemPreKeyKind::OneTime
            },
            secret,
            public: KemPublicKey(public),
            signature: Signature::from_bytes(&signature),
        })
    }
}

impl fmt::Debug for KemPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemPreKey")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The public half of a KEM prekey: its id, key and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KemPreKeyPublic {
    pub(crate) id: KemPreKeyId,
    pub(crate) key: KemPublicKey,
    pub(crate) signature: Signature,
}

impl KemPreKeyPublic {
    /// Assembles the public half from its parts (as a server stores them).
    pub fn new(id: KemPreKeyId, key: KemPublicKey, signature: [u8; SIGNATURE_LEN]) -> Self {
        Self { id, key, signature: Signature::from_bytes(&signature) }
    }

    /// The prekey's id.
    pub fn id(&self) -> KemPreKeyId {
        self.id
    }

    /// The ML-KEM-1024 public key.
    pub fn key(&self) -> &KemPublicKey {
        &self.key
    }

    /// The Ed25519 signature over the key.
    pub fn signature(&self) -> [u8; SIGNATURE_LEN] {
        self.signature.to_bytes()
    }

    /// Whether `identity` signed this prekey.
    pub(crate) fn is_signed_by(&self, identity: &IdentityKey) -> bool {
        identity.verify(&signed_message(self.id, &self.key), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::test_rng;

    fn prekey(id: u32, kind: KemPreKeyKind, seed: u8) -> (IdentityKeyPair, KemPreKey) {
        let mut rng = test_rng(seed);
        let identity = IdentityKeyPair::generate(&mut rng);
        let prekey = KemPreKey::generate(id.into(), kind, &identity, &mut rng);
        (identity, prekey)
    }

    #[test]
    fn encapsulation_and_decapsulation_agree() {
        let (_, prekey) = prekey(1, KemPreKeyKind::OneTime, 30);
        let m = Zeroizing::new([7u8; 32]);
        let (ciphertext, sent) = prekey.public().key().encapsulate(&m);
        assert_eq!(*prekey.decapsulate(&ciphertext), *sent);
        // A tampered ciphertext decapsulates to another secret, not an error.
        let mut tampered = ciphertext.clone();
        tampered[100] ^= 1;
        assert_ne!(*prekey.decapsulate(&tampered), *sent);
    }

    #[test]
    fn the_signature_covers_id_and_key() {
        let (identity, prekey) = prekey(5, KemPreKeyKind::LastResort, 31);
        let public = prekey.public();
        assert!(public.is_signed_by(&identity.public()));
        let other_id = KemPreKeyPublic { id: 6.into(), ..public.clone() };
        assert!(!other_id.is_signed_by(&identity.public()));
        let (_, other) = self::prekey(5, KemPreKeyKind::LastResort, 32);
        let other_key = KemPreKeyPublic { key: other.public().key().clone(), ..public };
        assert!(!other_key.is_signed_by(&identity.public()));
    }

    #[test]
    fn encoding_checks_type_length_and_modulus() {
        let (_, prekey) = prekey(1, KemPreKeyKind::OneTime, 33);
        let encoded = prekey.public().key().to_encoded();
        assert_eq!(encoded.len(), KEM_ENCODED_KEY_LEN);
        assert_eq!(encoded[0], KEM_ML_KEM_1024);
        assert_eq!(KemPublicKey::from_encoded(&encoded).as_ref(), Ok(prekey.public().key()));

        let mut other_type = encoded.clone();
        other_type[0] = 0x02;
        assert_eq!(KemPublicKey::from_encoded(&other_type), Err(KeyError::InvalidKemKey));
        assert_eq!(
            KemPublicKey::from_encoded(&encoded[..KEM_ENCODED_KEY_LEN - 1]),
            Err(KeyError::InvalidLength {
                expected: KEM_ENCODED_KEY_LEN,
                found: KEM_ENCODED_KEY_LEN - 1
            })
        );
        assert!(KemPublicKey::from_encoded(&[]).is_err());
        // The first 12-bit coefficient set to 0xfff, above q = 3329.
        let mut unreduced = encoded;
        unreduced[1] = 0xff;
        unreduced[2] |= 0x0f;
        assert_eq!(KemPublicKey::from_encoded(&unreduced), Err(KeyError::InvalidKemKey));
    }

    #[test]
    fn records_round_trip_and_corrupt_ones_are_refused() {
        for kind in [KemPreKeyKind::OneTime, KemPreKeyKind::LastResort] {
            let (_, prekey) = prekey(9, kind, 34);
            let loaded = KemPreKey::from_record_bytes(&prekey.to_record_bytes()).unwrap();
            assert_eq!(loaded.public(), prekey.public());
            assert_eq!(loaded.kind(), kind);
        }
        let (_, prekey) = prekey(9, KemPreKeyKind::OneTime, 35);
        let mut record: KemPreKeyRecord = record::decode(&prekey.to_record_bytes()).unwrap();
        // Flip a byte of the embedded encapsulation key: its hash no longer
        // matches.
        record.private_key[1600] ^= 1;
        let bytes = record::encode(&record);
        assert_eq!(
            KemPreKey::from_record_bytes(&bytes).err(),
            Some(RecordError::InvalidField { field: "private_key" })
        );
        record.private_key.pop();
        assert!(KemPreKey::from_record_bytes(&record::encode(&record)).is_err());
    }

    #[test]
    fn debug_prints_no_secret() {
        let (_, prekey) = prekey(1, KemPreKeyKind::OneTime, 36);
        let printed = format!("{prekey:?}");
        assert!(printed.starts_with("KemPreKey { id: KemPreKeyId(1), kind: OneTime"));
        assert!(printed.len() < 200, "{printed}");
    }
}
