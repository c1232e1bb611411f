//! Prekey bundles: what a server hands out so that anyone can start a session
//! with a device (X3DH §3.2), parsed first and then verified.

use prost::Message;

use super::prekey::SIGNATURE_LEN;
use super::{DhPublicKey, IdentityKey, KeyError, OneTimePreKeyPublic, SignedPreKeyPublic};
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
        /// Which key: `identity_key`, `signed_prekey` or `one_time_prekey`.
        field: &'static str,
        /// What is wrong with it.
        source: KeyError,
    },
    /// The signature field is not 64 bytes.
    #[error("the signed prekey signature must be 64 bytes, found {found}")]
    InvalidSignatureLength {
        /// The signature's length.
        found: usize,
    },
    /// The identity key did not sign the signed prekey.
    #[error("the signed prekey's signature does not verify")]
    BadSignature,
}

/// A prekey bundle as received: parsed, but not yet verified.
///
/// Only a [`VerifiedBundle`] can start a session; call [`verify`](Self::verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    identity_key: IdentityKey,
    signed_prekey: SignedPreKeyPublic,
    one_time_prekey: Option<OneTimePreKeyPublic>,
}

impl PreKeyBundle {
    /// Assembles a bundle from a device's public keys.
    pub fn new(
        identity_key: IdentityKey,
        signed_prekey: SignedPreKeyPublic,
        one_time_prekey: Option<OneTimePreKeyPublic>,
    ) -> Self {
        Self { identity_key, signed_prekey, one_time_prekey }
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
        let signature: [u8; SIGNATURE_LEN] =
            bundle.signed_prekey_signature.as_slice().try_into().map_err(|_| {
                BundleError::InvalidSignatureLength { found: bundle.signed_prekey_signature.len() }
            })?;
        let signed_prekey = SignedPreKeyPublic::new(
            signed_prekey_id.into(),
            DhPublicKey::from_bytes(&bundle.signed_prekey).map_err(invalid("signed_prekey"))?,
            signature,
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
        Ok(Self { identity_key, signed_prekey, one_time_prekey })
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
        }
        .encode_to_vec()
    }

    /// The identity key the bundle claims.
    pub fn identity_key(&self) -> IdentityKey {
        self.identity_key
    }

    /// Checks that the identity key signed the signed prekey.
    ///
    /// # Errors
    /// [`BundleError::BadSignature`] if it did not.
    pub fn verify(self) -> Result<VerifiedBundle, BundleError> {
        if self.signed_prekey.is_signed_by(&self.identity_key) {
            Ok(VerifiedBundle(self))
        } else {
            Err(BundleError::BadSignature)
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{IdentityKeyPair, OneTimePreKey, SignedPreKey};
    use crate::rng::test_rng;

    fn bundle(with_one_time: bool) -> PreKeyBundle {
        let mut rng = test_rng(8);
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed = SignedPreKey::generate(1.into(), &identity, &mut rng);
        let one_time = with_one_time.then(|| OneTimePreKey::generate(2.into(), &mut rng).public());
        PreKeyBundle::new(identity.public(), signed.public(), one_time)
    }

    #[test]
    fn round_trips_with_and_without_one_time_prekey() {
        for with_one_time in [true, false] {
            let bundle = bundle(with_one_time);
            let parsed = PreKeyBundle::from_bytes(&bundle.to_bytes()).unwrap();
            assert_eq!(parsed, bundle);
            let verified = parsed.verify().unwrap();
            assert_eq!(verified.one_time_prekey().is_some(), with_one_time);
        }
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
            Some(BundleError::InvalidSignatureLength { found: 63 })
        );
        assert_eq!(
            PreKeyBundle::from_bytes(&[0u8; 2000]).err(),
            Some(BundleError::TooLarge { max: MAX_BUNDLE_LEN, found: 2000 })
        );
    }
}
