//! Prekey bundles: what a server hands out so that anyone can start a session
//! with a device (PQXDH §3.3, X3DH §3.2), parsed first and then verified.

use prost::Message;

use super::prekey::SIGNATURE_LEN;
use super::{
    DhPublicKey, IdentityKey, KemPreKeyPublic, KemPublicKey, KeyError, OneTimePreKeyPublic,
    SignedPreKeyPublic,
};
use crate::proto::wire;
use crate::protocol::WIRE_VERSION;

/// The largest encoded bundle Sotto parses, in bytes.
use crate::protocol::MAX_BUNDLE_LEN;

/// Why a prekey bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The encoded bundle is larger than any valid bundle.
    #[error("the bundle is {found} bytes, more than the limit of {max}")]
    TooLarge {
        /// The limit.
        max: usize,
        /// The bundle's length.
        found: usize,
    },
    /// The bytes are not a protobuf `PreKeyBundle`.
    #[error("the bundle is not valid protobuf")]
    Malformed,
    /// The bundle has a version this build does not read.
    #[error("bundle version {found} is not supported (this build reads {expected})")]
    UnsupportedVersion {
        /// The version this build reads.
        expected: u32,
        /// The version in the bundle.
        found: u32,
    },
    /// A key in the bundle is unusable.
    #[error("the bundle's {field} is invalid: {source}")]
    InvalidKey {
        /// Which key: `identity_key`, `signed_prekey`, `one_time_prekey` or
        /// `kem_prekey`.
        field: &'static str,
        /// What is wrong with it.
        source: KeyError,
    },
    /// A signature field is not 64 bytes.
    #[error("the {field} signature must be 64 bytes, found {found}")]
    InvalidSignatureLength {
        /// Whose signature: `signed_prekey` or `kem_prekey`.
        field: &'static str,
        /// The signature's length.
        found: usize,
    },
    /// The identity key did not sign the signed prekey.
    #[error("the signed prekey's signature does not verify")]
    BadSignature,
    /// The identity key did not sign the KEM prekey.
    #[error("the KEM prekey's signature does not verify")]
    BadKemSignature,
}

/// A prekey bundle as received: parsed, but not yet verified.
///
/// Only a [`VerifiedBundle`] can start a session; call [`verify`](Self::verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    identity_key: IdentityKey,
    signed_prekey: SignedPreKeyPublic,
    one_time_prekey: Option<OneTimePreKeyPublic>,
    kem_prekey: Option<KemPreKeyPublic>,
}

impl PreKeyBundle {
    /// Assembles a post-quantum bundle from a device's public keys: its
    /// identity key, signed prekey and a KEM prekey (a one-time one, or the
    /// last-resort one when none is left), and a one-time prekey if one is
    /// left.
    pub fn new(
        identity_key: IdentityKey,
        signed_prekey: SignedPreKeyPublic,
        kem_prekey: KemPreKeyPublic,
        one_time_prekey: Option<OneTimePreKeyPublic>,
    ) -> Self {
        Self { identity_key, signed_prekey, one_time_prekey, kem_prekey: Some(kem_prekey) }
    }

    /// Assembles a classical bundle, without a KEM prekey: it can start only
    /// an X3DH session, which a manager refuses unless the app allowed
    /// classical sessions (`ClassicalSessions::Allow`).
    pub fn classical(
        identity_key: IdentityKey,
        signed_prekey: SignedPreKeyPublic,
        one_time_prekey: Option<OneTimePreKeyPublic>,
    ) -> Self {
        Self { identity_key, signed_prekey, one_time_prekey, kem_prekey: None }
    }

    /// Parses an encoded bundle (`wire.proto`, `PreKeyBundle`).
    ///
    /// # Errors
    /// A [`BundleError`] naming what is malformed. Parsing does not check
    /// the signature: [`verify`](Self::verify) does.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_LEN {
            return Err(BundleError::TooLarge { max: MAX_BUNDLE_LEN, found: bytes.len() });
        }
        let bundle = wire::PreKeyBundle::decode(bytes).map_err(|_| BundleError::Malformed)?;
        // Values beyond 32 bits are refused, never truncated.
        let version = u32::try_from(bundle.version).map_err(|_| BundleError::Malformed)?;
        if version != WIRE_VERSION {
            return Err(BundleError::UnsupportedVersion { expected: WIRE_VERSION, found: version });
        }
        let signed_prekey_id =
            u32::try_from(bundle.signed_prekey_id).map_err(|_| BundleError::Malformed)?;
        let invalid = |field| move |source| BundleError::InvalidKey { field, source };
        let identity_key =
            IdentityKey::from_bytes(&bundle.identity_key).map_err(invalid("identity_key"))?;
        let signature = |field, bytes: &[u8]| -> Result<[u8; SIGNATURE_LEN], BundleError> {
            bytes
                .try_into()
                .map_err(|_| BundleError::InvalidSignatureLength { field, found: bytes.len() })
        };
        let signed_prekey = SignedPreKeyPublic::new(
            signed_prekey_id.into(),
            DhPublicKey::from_bytes(&bundle.signed_prekey).map_err(invalid("signed_prekey"))?,
            signature("signed_prekey", &bundle.signed_prekey_signature)?,
        );
        let one_time_prekey = bundle
            .one_time_prekey
            .map(|one_time| {
                let id = u32::try_from(one_time.id).map_err(|_| BundleError::Malformed)?;
                DhPublicKey::from_bytes(&one_time.key)
                    .map(|key| OneTimePreKeyPublic::new(id.into(), key))
                    .map_err(invalid("one_time_prekey"))
            })
            .transpose()?;
        let kem_prekey = bundle
            .kem_prekey
            .map(|kem| {
                let id = u32::try_from(kem.id).map_err(|_| BundleError::Malformed)?;
                let key = KemPublicKey::from_encoded(&kem.key).map_err(invalid("kem_prekey"))?;
                Ok(KemPreKeyPublic::new(id.into(), key, signature("kem_prekey", &kem.signature)?))
            })
            .transpose()?;
        Ok(Self { identity_key, signed_prekey, one_time_prekey, kem_prekey })
    }

    /// Encodes the bundle (`wire.proto`, `PreKeyBundle`).
    pub fn to_bytes(&self) -> Vec<u8> {
        wire::PreKeyBundle {
            version: WIRE_VERSION.into(),
            identity_key: self.identity_key.to_bytes().to_vec(),
            signed_prekey_id: u32::from(self.signed_prekey.id).into(),
            signed_prekey: self.signed_prekey.key.to_bytes().to_vec(),
            signed_prekey_signature: self.signed_prekey.signature().to_vec(),
            one_time_prekey: self.one_time_prekey.map(|one_time| wire::OneTimePreKey {
                id: u32::from(one_time.id).into(),
                key: one_time.key.to_bytes().to_vec(),
            }),
            kem_prekey: self.kem_prekey.as_ref().map(|kem| wire::KemPreKey {
                id: u32::from(kem.id).into(),
                key: kem.key.to_encoded(),
                signature: kem.signature().to_vec(),
            }),
        }
        .encode_to_vec()
    }

    /// The identity key the bundle claims.
    pub fn identity_key(&self) -> IdentityKey {
        self.identity_key
    }

    /// Whether the bundle carries a KEM prekey (it can start a post-quantum
    /// session).
    pub fn has_kem_prekey(&self) -> bool {
        self.kem_prekey.is_some()
    }

    /// Checks that the identity key signed the signed prekey and the KEM
    /// prekey.
    ///
    /// # Errors
    /// [`BundleError::BadSignature`] or [`BundleError::BadKemSignature`] for
    /// the one it did not sign.
    pub fn verify(self) -> Result<VerifiedBundle, BundleError> {
        if !self.signed_prekey.is_signed_by(&self.identity_key) {
            return Err(BundleError::BadSignature);
        }
        if self.kem_prekey.as_ref().is_some_and(|kem| !kem.is_signed_by(&self.identity_key)) {
            return Err(BundleError::BadKemSignature);
        }
        Ok(VerifiedBundle(self))
    }
}

/// A bundle whose signed prekey carries a valid signature by its identity
/// key: the only kind X3DH accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle(PreKeyBundle);

impl VerifiedBundle {
    /// The identity key that signed the bundle.
    pub fn identity_key(&self) -> IdentityKey {
        self.0.identity_key
    }

    /// The signed prekey.
    pub fn signed_prekey(&self) -> &SignedPreKeyPublic {
        &self.0.signed_prekey
    }

    /// The one-time prekey, if the server had one left.
    pub fn one_time_prekey(&self) -> Option<&OneTimePreKeyPublic> {
        self.0.one_time_prekey.as_ref()
    }

    /// The KEM prekey, if the bundle is post-quantum.
    pub fn kem_prekey(&self) -> Option<&KemPreKeyPublic> {
        self.0.kem_prekey.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{IdentityKeyPair, KemPreKey, KemPreKeyKind, OneTimePreKey, SignedPreKey};
    use crate::rng::test_rng;

    fn bundle(with_one_time: bool) -> PreKeyBundle {
        let mut rng = test_rng(8);
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed = SignedPreKey::generate(1.into(), &identity, &mut rng);
        let kem = KemPreKey::generate(3.into(), KemPreKeyKind::OneTime, &identity, &mut rng);
        let one_time = with_one_time.then(|| OneTimePreKey::generate(2.into(), &mut rng).public());
        PreKeyBundle::new(identity.public(), signed.public(), kem.public(), one_time)
    }

    #[test]
    fn round_trips_with_and_without_one_time_prekey() {
        for with_one_time in [true, false] {
            let bundle = bundle(with_one_time);
            let parsed = PreKeyBundle::from_bytes(&bundle.to_bytes()).unwrap();
            assert_eq!(parsed, bundle);
            let verified = parsed.verify().unwrap();
            assert_eq!(verified.one_time_prekey().is_some(), with_one_time);
            assert!(verified.kem_prekey().is_some());
        }
    }

    #[test]
    fn the_longest_bundle_fits_the_limit_that_is_stated() {
        let mut encoded = wire::PreKeyBundle::decode(bundle(true).to_bytes().as_slice()).unwrap();
        // Ids at their widest varint.
        encoded.signed_prekey_id = u32::MAX.into();
        encoded.one_time_prekey.as_mut().unwrap().id = u32::MAX.into();
        encoded.kem_prekey.as_mut().unwrap().id = u32::MAX.into();
        assert_eq!(encoded.encode_to_vec().len(), 1831, "docs/PROTOCOL.md §2 states 1831");
        assert!(encoded.encode_to_vec().len() <= MAX_BUNDLE_LEN);
    }

    #[test]
    fn a_classical_bundle_round_trips_without_a_kem_prekey() {
        let bundle = bundle(true);
        let classical = PreKeyBundle { kem_prekey: None, ..bundle };
        let parsed = PreKeyBundle::from_bytes(&classical.to_bytes()).unwrap();
        assert!(!parsed.has_kem_prekey());
        assert!(parsed.verify().unwrap().kem_prekey().is_none());
    }

    #[test]
    fn a_swapped_identity_key_fails_verification() {
        let mut rng = test_rng(9);
        let bundle = bundle(true);
        let impostor =
            PreKeyBundle { identity_key: IdentityKeyPair::generate(&mut rng).public(), ..bundle };
        assert_eq!(impostor.verify().err(), Some(BundleError::BadSignature));
    }

    #[test]
    fn a_kem_prekey_signed_by_another_identity_fails_verification() {
        let mut rng = test_rng(10);
        let other = IdentityKeyPair::generate(&mut rng);
        let foreign = KemPreKey::generate(3.into(), KemPreKeyKind::OneTime, &other, &mut rng);
        let bundle = PreKeyBundle { kem_prekey: Some(foreign.public()), ..bundle(false) };
        assert_eq!(bundle.verify().err(), Some(BundleError::BadKemSignature));
    }

    #[test]
    fn wrong_version_and_lengths_are_refused() {
        let mut encoded = wire::PreKeyBundle::decode(bundle(false).to_bytes().as_slice()).unwrap();
        encoded.version = 2;
        assert_eq!(
            PreKeyBundle::from_bytes(&encoded.encode_to_vec()).err(),
            Some(BundleError::UnsupportedVersion { expected: 1, found: 2 })
        );
        encoded.version = 1;
        encoded.signed_prekey_signature.pop();
        assert_eq!(
            PreKeyBundle::from_bytes(&encoded.encode_to_vec()).err(),
            Some(BundleError::InvalidSignatureLength { field: "signed_prekey", found: 63 })
        );
        encoded.signed_prekey_signature.push(0);
        encoded.kem_prekey.as_mut().unwrap().signature.pop();
        assert_eq!(
            PreKeyBundle::from_bytes(&encoded.encode_to_vec()).err(),
            Some(BundleError::InvalidSignatureLength { field: "kem_prekey", found: 63 })
        );
        encoded.kem_prekey.as_mut().unwrap().signature.push(0);
        encoded.kem_prekey.as_mut().unwrap().key.pop();
        assert_eq!(
            PreKeyBundle::from_bytes(&encoded.encode_to_vec()).err(),
            Some(BundleError::InvalidKey {
                field: "kem_prekey",
                source: KeyError::InvalidLength { expected: 1569, found: 1568 }
            })
        );
        assert_eq!(
            PreKeyBundle::from_bytes(&[0u8; 3000]).err(),
            Some(BundleError::TooLarge { max: MAX_BUNDLE_LEN, found: 3000 })
        );
    }
}
