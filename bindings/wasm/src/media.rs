//! Media: SFrame (RFC 9605) cipher suites, senders and receivers, for keys
//! from anywhere (a group call, a media stack's own signalling); 1:1 calls
//! make their own (`crate::call`).
//!
//! Key ids are 64-bit: they come out as `bigint`, and go in as a `bigint`
//! or a safe-integer `number`.

use sotto::media::{self, BaseKey, KeyId};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::error::{JsResult, SottoError};

/// An SFrame cipher suite; each value is the suite's 16-bit id (RFC 9605
/// §4.5, and Sotto's private-use ChaCha20-Poly1305 suite 0xF001).
#[wasm_bindgen]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherSuite {
    /// 0x0001: AES-128-CTR with HMAC-SHA256, 80-bit tag.
    Aes128CtrHmacSha256_80 = 0x0001,
    /// 0x0002: AES-128-CTR with HMAC-SHA256, 64-bit tag.
    Aes128CtrHmacSha256_64 = 0x0002,
    /// 0x0003: AES-128-CTR with HMAC-SHA256, 32-bit tag.
    Aes128CtrHmacSha256_32 = 0x0003,
    /// 0x0004: AES-128-GCM, HKDF-SHA256.
    Aes128GcmSha256_128 = 0x0004,
    /// 0x0005: AES-256-GCM, HKDF-SHA512.
    Aes256GcmSha512_128 = 0x0005,
    /// 0x0006: AES-256-CTR with HMAC-SHA512, 80-bit tag.
    Aes256CtrHmacSha512_80 = 0x0006,
    /// 0x0007: AES-256-CTR with HMAC-SHA512, 64-bit tag.
    Aes256CtrHmacSha512_64 = 0x0007,
    /// 0x0008: AES-256-CTR with HMAC-SHA512, 32-bit tag.
    Aes256CtrHmacSha512_32 = 0x0008,
    /// 0xF001 (private use): ChaCha20-Poly1305, HKDF-SHA256.
    ChaCha20Poly1305Sha256_128 = 0xF001,
}

/// A suite from its id. Taken as a number, not as the enum, so that an
/// unknown id is refused with `INVALID_ARGUMENT` rather than a bare throw.
pub(crate) fn suite(id: u32) -> JsResult<media::CipherSuite> {
    let id = u16::try_from(id)
        .map_err(|_| SottoError::invalid_argument(format!("no cipher suite 0x{id:x}")))?;
    Ok(media::CipherSuite::from_id(id)?)
}

/// A key id from a `bigint` or a non-negative safe-integer `number`.
fn kid(value: JsValue) -> JsResult<KeyId> {
    const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
    let id = match value.as_f64() {
        Some(number) if number.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&number) => {
            // A safe integer: the conversion is exact.
            Some(number as u64)
        }
        Some(_) => None,
        None => u64::try_from(value).ok(),
    };
    id.map(KeyId::new).ok_or_else(|| {
        SottoError::invalid_argument("a key id is a bigint or an integer from 0 to 2^64 - 1")
    })
}

fn base_key(bytes: Vec<u8>) -> JsResult<BaseKey> {
    Ok(BaseKey::from_bytes(&Zeroizing::new(bytes))?)
}

/// The sending side of SFrame for one key: each frame takes the next
/// counter.
#[wasm_bindgen]
pub struct SframeSender(media::SframeSender);

#[wasm_bindgen]
impl SframeSender {
    /// A sender for key id `kid` under `suite`, keyed from `baseKey`.
    ///
    /// **Warning:** two senders with the same key and key id reuse nonces.
    ///
    /// Throws `INVALID_ARGUMENT` for an unknown suite, a bad key id or an
    /// empty base key.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "CipherSuite")] suite: u32,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] kid: JsValue,
        #[wasm_bindgen(js_name = baseKey)] base_key: Vec<u8>,
    ) -> JsResult<SframeSender> {
        let sender = media::SframeSender::new(
            self::suite(suite)?,
            self::kid(kid)?,
            &self::base_key(base_key)?,
        )?;
        Ok(Self(sender))
    }

    /// Encrypts one frame: `header ‖ ciphertext ‖ tag`. `metadata` is
    /// authenticated but not sent; the receiver must pass the same bytes.
    ///
    /// Throws `LIMIT_EXCEEDED` once every counter was used.
    pub fn encrypt(&mut self, metadata: &[u8], frame: &[u8]) -> JsResult<Vec<u8>> {
        Ok(self.0.encrypt(metadata, frame)?)
    }

    /// The key id written into every frame.
    #[wasm_bindgen(getter)]
    pub fn kid(&self) -> u64 {
        self.0.kid().value()
    }
}

/// The receiving side of SFrame: keys by key id, each with a replay window.
#[wasm_bindgen]
pub struct SframeReceiver(media::SframeReceiver);

#[wasm_bindgen]
impl SframeReceiver {
    /// A receiver with no keys.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)] // `Default` is not exported to JS.
    pub fn new() -> SframeReceiver {
        Self(media::SframeReceiver::new())
    }

    /// Adds (or replaces) the key for `kid`, with a fresh replay window.
    ///
    /// Throws `INVALID_ARGUMENT` for an unknown suite, a bad key id or an
    /// empty base key.
    #[wasm_bindgen(js_name = addKey)]
    pub fn add_key(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "CipherSuite")] suite: u32,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] kid: JsValue,
        #[wasm_bindgen(js_name = baseKey)] base_key: Vec<u8>,
    ) -> JsResult<()> {
        Ok(self.0.add_key(self::suite(suite)?, self::kid(kid)?, &self::base_key(base_key)?)?)
    }

    /// Removes the key for `kid`; returns whether there was one.
    ///
    /// Throws `INVALID_ARGUMENT` for a bad key id.
    #[wasm_bindgen(js_name = removeKey)]
    pub fn remove_key(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] kid: JsValue,
    ) -> JsResult<bool> {
        Ok(self.0.remove_key(self::kid(kid)?))
    }

    /// Whether the receiver has a key for `kid`.
    ///
    /// Throws `INVALID_ARGUMENT` for a bad key id.
    #[wasm_bindgen(js_name = hasKey)]
    pub fn has_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] kid: JsValue,
    ) -> JsResult<bool> {
        Ok(self.0.has_key(self::kid(kid)?))
    }

    /// Decrypts one frame. A frame refused for any reason changes nothing.
    ///
    /// Throws `FRAME_REJECTED`, `FRAME_REPLAYED` or `AUTHENTICATION_FAILED`.
    pub fn decrypt(&mut self, metadata: &[u8], frame: &[u8]) -> JsResult<Vec<u8>> {
        Ok(self.0.decrypt(metadata, frame)?)
    }
}
