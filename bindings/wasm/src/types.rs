//! Addresses, identity keys, prekeys, bundles and the key agreement of a
//! session as they cross into JavaScript.
//!
//! Public values cross as plain objects (`{ account, device }`,
//! `{ id, key, signature }`) with `Uint8Array` bytes; the identity key pair,
//! which holds a secret, stays an opaque object whose secret leaves Rust only
//! through `toRecordBytes()`. The key agreement of a session and the policy
//! on classical sessions cross as strings (`"PQXDH"`, `"ALLOW"`, …).

use sotto::keys::{self, DhPublicKey, IdentityKey, KemPublicKey};
use sotto::session::{self as core_session, Address};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::error::{JsResult, SottoError};
use crate::js;

/// Reads an `Address` (`{ account: string, device: number }`).
pub(crate) fn address(value: &JsValue) -> JsResult<Address> {
    let account = js::get_string(value, "account", "address")?;
    let device = js::get_u32(value, "device", "address")?;
    Ok(Address::new(account, device)?)
}

/// An `Address` as a new plain object.
pub(crate) fn address_to_js(address: &Address) -> JsValue {
    js::object(&[
        ("account", address.account().into()),
        ("device", u32::from(address.device()).into()),
    ])
}

/// Parses a 32-byte Ed25519 identity key.
pub(crate) fn identity_key(bytes: &[u8]) -> JsResult<IdentityKey> {
    Ok(IdentityKey::from_bytes(bytes)?)
}

/// A `SignedPreKeyPublic` as a new plain object.
pub(crate) fn signed_prekey_to_js(prekey: &keys::SignedPreKeyPublic) -> JsValue {
    js::object(&[
        ("id", u32::from(prekey.id()).into()),
        ("key", js::bytes(&prekey.key().to_bytes())),
        ("signature", js::bytes(&prekey.signature())),
    ])
}

/// `object.signature` as a 64-byte Ed25519 signature.
fn signature(value: &JsValue, what: &str) -> JsResult<[u8; 64]> {
    let signature = js::get_bytes(value, "signature", what)?;
    signature.as_slice().try_into().map_err(|_| {
        SottoError::invalid_argument(format!(
            "{what}.signature must be 64 bytes, found {}",
            signature.len()
        ))
    })
}

/// Reads a `SignedPreKeyPublic` (`{ id, key, signature }`).
fn signed_prekey(value: &JsValue) -> JsResult<keys::SignedPreKeyPublic> {
    let what = "signedPrekey";
    let id = js::get_u32(value, "id", what)?;
    let key = DhPublicKey::from_bytes(&js::get_bytes(value, "key", what)?)?;
    Ok(keys::SignedPreKeyPublic::new(id.into(), key, signature(value, what)?))
}

/// A `KemPreKeyPublic` as a new plain object.
pub(crate) fn kem_prekey_to_js(prekey: &keys::KemPreKeyPublic) -> JsValue {
    js::object(&[
        ("id", u32::from(prekey.id()).into()),
        ("key", js::bytes(&prekey.key().to_encoded())),
        ("signature", js::bytes(&prekey.signature())),
    ])
}

/// Reads a `KemPreKeyPublic` (`{ id, key, signature }`, the key
/// `EncodeKEM(ek)`, 1569 bytes).
fn kem_prekey(value: &JsValue) -> JsResult<keys::KemPreKeyPublic> {
    let what = "kemPrekey";
    if value.is_undefined() || value.is_null() {
        return Err(SottoError::invalid_argument(
            "kemPrekey is required: a post-quantum bundle carries a KEM prekey \
             (generateKemPrekeys or generateLastResortKemPrekey); a bundle without one is \
             PreKeyBundle.classical",
        ));
    }
    let id = js::get_u32(value, "id", what)?;
    let key = KemPublicKey::from_encoded(&js::get_bytes(value, "key", what)?).map_err(|error| {
        SottoError::invalid_argument(format!(
            "kemPrekey.key is not an encoded ML-KEM-1024 key ({} bytes): {error}",
            keys::KEM_ENCODED_KEY_LEN
        ))
    })?;
    Ok(keys::KemPreKeyPublic::new(id.into(), key, signature(value, what)?))
}

/// A `OneTimePreKeyPublic` as a new plain object.
pub(crate) fn one_time_prekey_to_js(prekey: &keys::OneTimePreKeyPublic) -> JsValue {
    js::object(&[
        ("id", u32::from(prekey.id()).into()),
        ("key", js::bytes(&prekey.key().to_bytes())),
    ])
}

/// Reads a `OneTimePreKeyPublic` (`{ id, key }`).
fn one_time_prekey(value: &JsValue) -> JsResult<keys::OneTimePreKeyPublic> {
    let what = "oneTimePrekey";
    let id = js::get_u32(value, "id", what)?;
    let key = DhPublicKey::from_bytes(&js::get_bytes(value, "key", what)?)?;
    Ok(keys::OneTimePreKeyPublic::new(id.into(), key))
}

/// A device's identity key pair (Ed25519). The secret stays in the module's
/// memory and is zeroized when the object is freed (`free()`, or by the
/// garbage collector).
#[wasm_bindgen]
pub struct IdentityKeyPair(pub(crate) keys::IdentityKeyPair);

#[wasm_bindgen]
impl IdentityKeyPair {
    /// A new key pair from `crypto.getRandomValues`.
    pub fn generate() -> IdentityKeyPair {
        Self(keys::IdentityKeyPair::generate(&mut sotto::rng::os_rng()))
    }

    /// Loads a key pair from `toRecordBytes()`.
    ///
    /// Throws `CORRUPT_RECORD` if the bytes are not such a record.
    #[wasm_bindgen(js_name = fromRecordBytes)]
    pub fn from_record_bytes(record: Vec<u8>) -> JsResult<IdentityKeyPair> {
        let record = Zeroizing::new(record);
        Ok(Self(keys::IdentityKeyPair::from_record_bytes(&record)?))
    }

    /// The key pair as a stored record, for the app's own store.
    ///
    /// **Warning:** the bytes hold the device's long-term secret: keep them
    /// only in storage encrypted at rest.
    #[wasm_bindgen(js_name = toRecordBytes)]
    pub fn to_record_bytes(&self) -> Vec<u8> {
        self.0.to_record_bytes().to_vec()
    }

    /// The public identity key (32 bytes).
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.0.public().to_bytes().to_vec()
    }
}

/// A prekey bundle: what a server hands out so that anyone can start a
/// session with a device. Its bytes go to `SessionManager.processBundle`.
///
/// A bundle made with the constructor is post-quantum: it carries a KEM
/// prekey (ML-KEM-1024) and starts a PQXDH session. One without
/// (`PreKeyBundle.classical`) starts a classical X3DH session, which a
/// manager refuses unless the app allowed those
/// (`SessionManager.withClassicalSessions("ALLOW")`).
#[wasm_bindgen]
pub struct PreKeyBundle(keys::PreKeyBundle);

/// The optional `oneTimePrekey` argument of the bundle constructors.
fn optional_one_time_prekey(value: Option<JsValue>) -> JsResult<Option<keys::OneTimePreKeyPublic>> {
    value.filter(|value| !value.is_null()).as_ref().map(one_time_prekey).transpose()
}

#[wasm_bindgen]
impl PreKeyBundle {
    /// Assembles a post-quantum bundle from a device's public keys (as
    /// returned by `identityKey()`, `generateSignedPrekey`,
    /// `generateKemPrekeys` or `generateLastResortKemPrekey`, and
    /// `generateOneTimePrekeys`): its identity key, signed prekey, a KEM
    /// prekey (a one-time one while the server has one left, else the
    /// last-resort one), and a one-time prekey if one is left.
    ///
    /// Throws `INVALID_ARGUMENT` if a key or a signature has the wrong form
    /// (a KEM key that is no encoded ML-KEM-1024 key, a missing KEM prekey).
    /// The signatures are checked when the bundle is processed.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = identityKey)] identity_key: &[u8],
        #[wasm_bindgen(js_name = signedPrekey, unchecked_param_type = "SignedPreKeyPublic")]
        signed_prekey: JsValue,
        #[wasm_bindgen(js_name = kemPrekey, unchecked_param_type = "KemPreKeyPublic")]
        kem_prekey: JsValue,
        #[wasm_bindgen(
            js_name = oneTimePrekey,
            unchecked_optional_param_type = "OneTimePreKeyPublic | null"
        )]
        one_time_prekey: Option<JsValue>,
    ) -> JsResult<PreKeyBundle> {
        Ok(Self(keys::PreKeyBundle::new(
            self::identity_key(identity_key)?,
            self::signed_prekey(&signed_prekey)?,
            self::kem_prekey(&kem_prekey)?,
            optional_one_time_prekey(one_time_prekey)?,
        )))
    }

    /// Assembles a classical bundle, without a KEM prekey: it can start only
    /// a classical X3DH session, which a manager refuses
    /// (`CLASSICAL_SESSION_REFUSED`) unless it allows classical sessions.
    /// For peers whose devices publish no KEM prekeys (an earlier Sotto).
    ///
    /// Throws `INVALID_ARGUMENT` if a key or the signature has the wrong
    /// form.
    pub fn classical(
        #[wasm_bindgen(js_name = identityKey)] identity_key: &[u8],
        #[wasm_bindgen(js_name = signedPrekey, unchecked_param_type = "SignedPreKeyPublic")]
        signed_prekey: JsValue,
        #[wasm_bindgen(
            js_name = oneTimePrekey,
            unchecked_optional_param_type = "OneTimePreKeyPublic | null"
        )]
        one_time_prekey: Option<JsValue>,
    ) -> JsResult<PreKeyBundle> {
        Ok(Self(keys::PreKeyBundle::classical(
            self::identity_key(identity_key)?,
            self::signed_prekey(&signed_prekey)?,
            optional_one_time_prekey(one_time_prekey)?,
        )))
    }

    /// Parses an encoded bundle.
    ///
    /// Throws `INVALID_BUNDLE` if it is malformed (a KEM key that fails
    /// ML-KEM's checks included).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> JsResult<PreKeyBundle> {
        Ok(Self(keys::PreKeyBundle::from_bytes(bytes)?))
    }

    /// The encoded bundle.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// The identity key the bundle claims (32 bytes; not yet verified).
    #[wasm_bindgen(js_name = identityKey)]
    pub fn identity_key(&self) -> Vec<u8> {
        self.0.identity_key().to_bytes().to_vec()
    }

    /// Whether the bundle carries a KEM prekey: it can start a post-quantum
    /// (PQXDH) session.
    #[wasm_bindgen(js_name = hasKemPrekey)]
    pub fn has_kem_prekey(&self) -> bool {
        self.0.has_kem_prekey()
    }
}

/// A session's key agreement as JavaScript sees it (`Handshake` in the
/// TypeScript declarations): `"PQXDH"` or `"X3DH"`.
///
/// Throws `INTERNAL` for one this version has no name for.
pub(crate) fn handshake_to_js(handshake: core_session::Handshake) -> JsResult<JsValue> {
    let name = match handshake {
        core_session::Handshake::Pqxdh => PQXDH,
        core_session::Handshake::X3dh => "X3DH",
        other => {
            return Err(SottoError::new(
                crate::error::ErrorCode::Internal,
                format!("the key agreement {other:?} has no name in this version"),
            ));
        }
    };
    Ok(name.into())
}

/// The name of a post-quantum session's key agreement.
const PQXDH: &str = "PQXDH";

/// Whether `handshake` (from `SessionManager.sessionHandshake`) is
/// post-quantum: `true` for `"PQXDH"`, `false` for `"X3DH"`, `undefined`
/// and anything else.
#[wasm_bindgen(js_name = isPostQuantum)]
pub fn is_post_quantum(
    #[wasm_bindgen(unchecked_param_type = "Handshake | undefined")] handshake: JsValue,
) -> bool {
    handshake.as_string().as_deref() == Some(PQXDH)
}

/// Whether a manager starts and accepts classical (X3DH) sessions
/// (`ClassicalSessions` in the TypeScript declarations): `"REFUSE"`, the
/// default, or `"ALLOW"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClassicalSessions {
    /// Every new session is PQXDH.
    Refuse,
    /// New sessions may also be classical X3DH.
    Allow,
}

impl ClassicalSessions {
    /// Reads the policy from its name.
    ///
    /// Throws `INVALID_ARGUMENT` for anything but `"REFUSE"` or `"ALLOW"`.
    pub(crate) fn from_js(value: &JsValue) -> JsResult<Self> {
        match value.as_string().as_deref() {
            Some("REFUSE") => Ok(Self::Refuse),
            Some("ALLOW") => Ok(Self::Allow),
            _ => Err(SottoError::invalid_argument(
                "the classical sessions policy must be \"REFUSE\" or \"ALLOW\"",
            )),
        }
    }

    /// The policy's name.
    pub(crate) fn to_js(self) -> JsValue {
        match self {
            Self::Refuse => "REFUSE",
            Self::Allow => "ALLOW",
        }
        .into()
    }

    /// The core's policy.
    pub(crate) fn to_core(self) -> core_session::ClassicalSessions {
        match self {
            Self::Refuse => core_session::ClassicalSessions::Refuse,
            Self::Allow => core_session::ClassicalSessions::Allow,
        }
    }
}
