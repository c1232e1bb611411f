//! Addresses, identity keys, prekeys and bundles as they cross into
//! JavaScript.
//!
//! Public values cross as plain objects (`{ account, device }`,
//! `{ id, key, signature }`) with `Uint8Array` bytes; the identity key pair,
//! which holds a secret, stays an opaque object whose secret leaves Rust only
//! through `toRecordBytes()`.

use sotto::keys::{self, DhPublicKey, IdentityKey};
use sotto::session::Address;
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

/// Reads a `SignedPreKeyPublic` (`{ id, key, signature }`).
fn signed_prekey(value: &JsValue) -> JsResult<keys::SignedPreKeyPublic> {
    let what = "signedPrekey";
    let id = js::get_u32(value, "id", what)?;
    let key = DhPublicKey::from_bytes(&js::get_bytes(value, "key", what)?)?;
    let signature = js::get_bytes(value, "signature", what)?;
    let signature = signature.as_slice().try_into().map_err(|_| {
        SottoError::invalid_argument(format!(
            "signedPrekey.signature must be 64 bytes, found {}",
            signature.len()
        ))
    })?;
    Ok(keys::SignedPreKeyPublic::new(id.into(), key, signature))
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
#[wasm_bindgen]
pub struct PreKeyBundle(keys::PreKeyBundle);

#[wasm_bindgen]
impl PreKeyBundle {
    /// Assembles a bundle from a device's public keys (as returned by
    /// `identityKey()`, `generateSignedPrekey` and
    /// `generateOneTimePrekeys`).
    ///
    /// Throws `INVALID_ARGUMENT` if a key or the signature has the wrong
    /// form. The signature is checked when the bundle is processed.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = identityKey)] identity_key: &[u8],
        #[wasm_bindgen(js_name = signedPrekey, unchecked_param_type = "SignedPreKeyPublic")]
        signed_prekey: JsValue,
        #[wasm_bindgen(
            js_name = oneTimePrekey,
            unchecked_optional_param_type = "OneTimePreKeyPublic | null"
        )]
        one_time_prekey: Option<JsValue>,
    ) -> JsResult<PreKeyBundle> {
        let one_time_prekey = one_time_prekey.filter(|value| !value.is_null());
        Ok(Self(keys::PreKeyBundle::new(
            self::identity_key(identity_key)?,
            self::signed_prekey(&signed_prekey)?,
            one_time_prekey.as_ref().map(self::one_time_prekey).transpose()?,
        )))
    }

    /// Parses an encoded bundle.
    ///
    /// Throws `INVALID_BUNDLE` if it is malformed.
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
}
