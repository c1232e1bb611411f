//! Keys: identity keys, signed, one-time and KEM prekeys, and prekey
//! bundles.
//!
//! A device has one Ed25519 [`IdentityKeyPair`], a current
//! [`SignedPreKey`], a last-resort [`KemPreKey`] and stocks of one-time
//! [`OneTimePreKey`]s and one-time KEM prekeys (ML-KEM-1024). It uploads
//! their public halves to its server, which hands them out as
//! [`PreKeyBundle`]s; a bundle must be [verified](PreKeyBundle::verify)
//! before it can start a session (PQXDH, [`crate::x3dh`]).
//!
//! ```
//! use sotto::keys::{
//!     IdentityKeyPair, KemPreKey, KemPreKeyKind, OneTimePreKey, PreKeyBundle, SignedPreKey,
//! };
//!
//! let mut rng = sotto::rng::os_rng();
//! let identity = IdentityKeyPair::generate(&mut rng);
//! let signed = SignedPreKey::generate(1.into(), &identity, &mut rng);
//! let kem = KemPreKey::generate(1.into(), KemPreKeyKind::LastResort, &identity, &mut rng);
//! let one_time = OneTimePreKey::generate(7.into(), &mut rng);
//!
//! // What the server hands out, as bytes, and what a peer makes of them.
//! let bundle =
//!     PreKeyBundle::new(identity.public(), signed.public(), kem.public(), Some(one_time.public()));
//! let parsed = PreKeyBundle::from_bytes(&bundle.to_bytes())?;
//! let verified = parsed.verify()?;
//! assert_eq!(verified.identity_key(), identity.public());
//! assert!(verified.kem_prekey().is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bundle;
mod dh;
mod identity;
mod kem;
mod prekey;

pub use bundle::{BundleError, PreKeyBundle, VerifiedBundle};
pub use dh::DhPublicKey;
#[cfg(test)]
pub(crate) use dh::test_count;
pub(crate) use dh::{DhKeyPair, DhSeed, SeedSource, diffie_hellman};
pub use identity::{IDENTITY_KEY_LEN, IdentityKey, IdentityKeyPair};
pub use kem::{
    KEM_CIPHERTEXT_LEN, KEM_ENCODED_KEY_LEN, KemPreKey, KemPreKeyId, KemPreKeyKind,
    KemPreKeyPublic, KemPublicKey,
};
pub use prekey::{
    OneTimePreKey, OneTimePreKeyId, OneTimePreKeyPublic, SignedPreKey, SignedPreKeyId,
    SignedPreKeyPublic,
};

/// Why bytes are not a usable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key has the wrong length.
    #[error("a key must be {expected} bytes, found {found}")]
    InvalidLength {
        /// The length a key of this kind has.
        expected: usize,
        /// The length that was given.
        found: usize,
    },
    /// The bytes are not the encoding of a curve point.
    #[error("the bytes are not a valid curve point")]
    InvalidPoint,
    /// The point has small order: Diffie-Hellman with it would not depend on
    /// the other side's secret.
    #[error("the key is a small-order (weak) point")]
    WeakKey,
    /// The bytes encode a valid key, but not in its one canonical encoding
    /// (an Ed25519 y-coordinate or an X25519 u-coordinate of p or more, a
    /// sign or top bit that does not belong): one key would have two byte
    /// forms, and two trust records or safety numbers.
    #[error("the key is not in its canonical encoding")]
    NonCanonical,
    /// A KEM key is not an ML-KEM-1024 encapsulation key: another type byte
    /// in `EncodeKEM`, or a coefficient not reduced modulo q (FIPS 203 §7.2).
    #[error("the key is not a valid ML-KEM-1024 encapsulation key")]
    InvalidKemKey,
}
