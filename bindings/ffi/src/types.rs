//! Addresses, identity keys, prekeys, bundles and the key agreement of a
//! session as they cross the FFI.
//!
//! Public values cross as records of plain fields (`Vec<u8>` for bytes);
//! the identity key pair, which holds a secret, stays an opaque object whose
//! secret leaves Rust only through `to_record_bytes`.

use std::sync::Arc;

use sotto::keys::{self, DhPublicKey, IdentityKey, KemPublicKey};
use sotto::session as core_session;

use crate::SottoError;

/// A device of an account: the peer of a session.
///
/// `account` is 1 to 256 bytes of UTF-8; calls given another refuse it with
/// `SottoError.InvalidArgument`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct Address {
    /// The account id.
    pub account: String,
    /// The device id within the account.
    pub device: u32,
}

impl Address {
    pub(crate) fn to_core(&self) -> Result<sotto::session::Address, SottoError> {
        Ok(sotto::session::Address::new(self.account.as_str(), self.device)?)
    }
}

impl From<&sotto::session::Address> for Address {
    fn from(address: &sotto::session::Address) -> Self {
        Self { account: address.account().to_owned(), device: address.device().into() }
    }
}

/// Parses a 32-byte Ed25519 identity key.
pub(crate) fn identity_key(bytes: &[u8]) -> Result<IdentityKey, SottoError> {
    Ok(IdentityKey::from_bytes(bytes)?)
}

/// The public half of a signed prekey, as uploaded to the server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignedPreKeyPublic {
    /// The prekey's id.
    pub id: u32,
    /// The X25519 public key (32 bytes).
    pub key: Vec<u8>,
    /// The identity key's Ed25519 signature over it (64 bytes).
    pub signature: Vec<u8>,
}

impl From<keys::SignedPreKeyPublic> for SignedPreKeyPublic {
    fn from(prekey: keys::SignedPreKeyPublic) -> Self {
        Self {
            id: prekey.id().into(),
            key: prekey.key().to_bytes().to_vec(),
            signature: prekey.signature().to_vec(),
        }
    }
}

/// Parses a 64-byte Ed25519 signature.
fn signature(bytes: &[u8]) -> Result<[u8; 64], SottoError> {
    bytes.try_into().map_err(|_| SottoError::InvalidArgument {
        reason: format!("a signature must be 64 bytes, found {}", bytes.len()),
    })
}

impl TryFrom<SignedPreKeyPublic> for keys::SignedPreKeyPublic {
    type Error = SottoError;

    fn try_from(prekey: SignedPreKeyPublic) -> Result<Self, SottoError> {
        let signature = signature(&prekey.signature)?;
        Ok(Self::new(prekey.id.into(), DhPublicKey::from_bytes(&prekey.key)?, signature))
    }
}

/// The public half of a one-time prekey, as uploaded to the server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OneTimePreKeyPublic {
    /// The prekey's id.
    pub id: u32,
    /// The X25519 public key (32 bytes).
    pub key: Vec<u8>,
}

impl From<keys::OneTimePreKeyPublic> for OneTimePreKeyPublic {
    fn from(prekey: keys::OneTimePreKeyPublic) -> Self {
        Self { id: prekey.id().into(), key: prekey.key().to_bytes().to_vec() }
    }
}

impl TryFrom<OneTimePreKeyPublic> for keys::OneTimePreKeyPublic {
    type Error = SottoError;

    fn try_from(prekey: OneTimePreKeyPublic) -> Result<Self, SottoError> {
        Ok(Self::new(prekey.id.into(), DhPublicKey::from_bytes(&prekey.key)?))
    }
}

/// The public half of a KEM prekey (PQXDH, ML-KEM-1024), as uploaded to the
/// server: a one-time one, or the device's last-resort one (which of the two
/// is known only to the device, and is neither signed nor sent).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KemPreKeyPublic {
    /// The prekey's id (KEM prekeys have ids of their own, apart from
    /// signed and one-time prekeys).
    pub id: u32,
    /// The encoded ML-KEM-1024 public key, `EncodeKEM(key)`: the type byte
    /// 0x01 and the 1568-byte encapsulation key (1569 bytes).
    pub key: Vec<u8>,
    /// The identity key's Ed25519 signature over the id and the encoded key
    /// (64 bytes).
    pub signature: Vec<u8>,
}

impl From<keys::KemPreKeyPublic> for KemPreKeyPublic {
    fn from(prekey: keys::KemPreKeyPublic) -> Self {
        Self {
            id: prekey.id().into(),
            key: prekey.key().to_encoded(),
            signature: prekey.signature().to_vec(),
        }
    }
}

impl TryFrom<KemPreKeyPublic> for keys::KemPreKeyPublic {
    type Error = SottoError;

    fn try_from(prekey: KemPreKeyPublic) -> Result<Self, SottoError> {
        let signature = signature(&prekey.signature)?;
        Ok(Self::new(prekey.id.into(), KemPublicKey::from_encoded(&prekey.key)?, signature))
    }
}

/// Which key agreement made a session (`SessionManager.session_handshake`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Handshake {
    /// PQXDH (revision 3, with ML-KEM-1024): the session's first key resists
    /// a future quantum computer that records the traffic today.
    Pqxdh,
    /// Classical X3DH: made only where the app allowed classical sessions
    /// (`ClassicalSessions.Allow`), or stored before Sotto made every new
    /// session post-quantum.
    X3dh,
}

#[uniffi::export]
impl Handshake {
    /// Whether the session's key agreement is post-quantum.
    pub fn is_post_quantum(&self) -> bool {
        *self == Self::Pqxdh
    }
}

impl TryFrom<core_session::Handshake> for Handshake {
    type Error = SottoError;

    fn try_from(handshake: core_session::Handshake) -> Result<Self, SottoError> {
        match handshake {
            core_session::Handshake::Pqxdh => Ok(Self::Pqxdh),
            core_session::Handshake::X3dh => Ok(Self::X3dh),
            other => Err(SottoError::Internal {
                reason: format!("the handshake {other:?} has no binding"),
            }),
        }
    }
}

/// Whether a `SessionManager` starts and accepts classical (X3DH) sessions,
/// without a post-quantum KEM.
///
/// `Refuse` is the default: a bundle without a KEM prekey, or a first
/// message without a KEM ciphertext, is refused with
/// `SottoError.ClassicalSessionRefused`, so that a server cannot silently
/// downgrade a session to one a future quantum computer could read from
/// recorded traffic. Sessions already stored keep working either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, uniffi::Enum)]
pub enum ClassicalSessions {
    /// Every new session is PQXDH (the default).
    #[default]
    Refuse,
    /// New sessions may also be classical X3DH, with peers that publish no
    /// KEM prekeys: an opt-in the app names, and should show the user
    /// (`SessionManager.session_handshake`).
    Allow,
}

impl From<ClassicalSessions> for core_session::ClassicalSessions {
    fn from(policy: ClassicalSessions) -> Self {
        match policy {
            ClassicalSessions::Refuse => Self::Refuse,
            ClassicalSessions::Allow => Self::Allow,
        }
    }
}

/// A device's identity key pair (Ed25519). The secret stays in Rust and is
/// zeroized when the object is freed.
#[derive(Debug, uniffi::Object)]
pub struct IdentityKeyPair(pub(crate) keys::IdentityKeyPair);

#[uniffi::export]
impl IdentityKeyPair {
    /// A new key pair from the operating system's random generator.
    #[uniffi::constructor]
    pub fn generate() -> Arc<Self> {
        Arc::new(Self(keys::IdentityKeyPair::generate(&mut sotto::rng::os_rng())))
    }

    /// Loads a key pair from `to_record_bytes`.
    ///
    /// # Errors
    /// `CorruptRecord` if the bytes are not such a record.
    #[uniffi::constructor]
    pub fn from_record_bytes(record: Vec<u8>) -> Result<Arc<Self>, SottoError> {
        Ok(Arc::new(Self(keys::IdentityKeyPair::from_record_bytes(&record)?)))
    }

    /// The key pair as a stored record, for an app's own store.
    ///
    /// **Warning:** the bytes hold the device's long-term secret: keep them
    /// only in storage encrypted at rest (the Keychain, the Android
    /// Keystore, an encrypted database).
    pub fn to_record_bytes(&self) -> Vec<u8> {
        self.0.to_record_bytes().to_vec()
    }

    /// The public identity key (32 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.0.public().to_bytes().to_vec()
    }
}

/// A prekey bundle: what a server hands out so that anyone can start a
/// session with a device. Its bytes go to `SessionManager.process_bundle`.
#[derive(Debug, uniffi::Object)]
pub struct PreKeyBundle(keys::PreKeyBundle);

#[uniffi::export]
impl PreKeyBundle {
    /// Assembles a post-quantum bundle from a device's public keys (as a
    /// server stores them, or as a device publishes them): its identity key,
    /// signed prekey and a KEM prekey (a one-time one while the server has
    /// one left, else the last-resort one), and a one-time prekey if one is
    /// left.
    ///
    /// # Errors
    /// `InvalidArgument` if a key or a signature has the wrong form (a KEM
    /// key that is not an encoded ML-KEM-1024 key included). The signatures
    /// are checked when the bundle is processed.
    #[uniffi::constructor]
    pub fn new(
        identity_key: Vec<u8>,
        signed_prekey: SignedPreKeyPublic,
        kem_prekey: KemPreKeyPublic,
        one_time_prekey: Option<OneTimePreKeyPublic>,
    ) -> Result<Arc<Self>, SottoError> {
        Ok(Arc::new(Self(keys::PreKeyBundle::new(
            crate::types::identity_key(&identity_key)?,
            signed_prekey.try_into()?,
            kem_prekey.try_into()?,
            one_time_prekey.map(TryInto::try_into).transpose()?,
        ))))
    }

    /// Assembles a classical bundle, without a KEM prekey: it can start only
    /// a classical X3DH session, which a manager refuses
    /// (`ClassicalSessionRefused`) unless the app allowed classical sessions
    /// (`SessionManager.with_classical_sessions(Allow)`).
    ///
    /// # Errors
    /// `InvalidArgument` if a key or the signature has the wrong form.
    #[uniffi::constructor]
    pub fn classical(
        identity_key: Vec<u8>,
        signed_prekey: SignedPreKeyPublic,
        one_time_prekey: Option<OneTimePreKeyPublic>,
    ) -> Result<Arc<Self>, SottoError> {
        Ok(Arc::new(Self(keys::PreKeyBundle::classical(
            crate::types::identity_key(&identity_key)?,
            signed_prekey.try_into()?,
            one_time_prekey.map(TryInto::try_into).transpose()?,
        ))))
    }

    /// Parses an encoded bundle.
    ///
    /// # Errors
    /// `InvalidBundle` if it is malformed.
    #[uniffi::constructor]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Arc<Self>, SottoError> {
        Ok(Arc::new(Self(keys::PreKeyBundle::from_bytes(&bytes)?)))
    }

    /// The encoded bundle.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// The identity key the bundle claims (32 bytes).
    pub fn identity_key(&self) -> Vec<u8> {
        self.0.identity_key().to_bytes().to_vec()
    }

    /// Whether the bundle carries a KEM prekey: it can start a post-quantum
    /// session (a bundle without one is classical).
    pub fn has_kem_prekey(&self) -> bool {
        self.0.has_kem_prekey()
    }
}
