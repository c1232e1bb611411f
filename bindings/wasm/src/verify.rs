//! Safety numbers, to compare out of band.

use wasm_bindgen::prelude::*;

use crate::error::JsResult;
use crate::types::{address, identity_key};

/// The safety number of two devices: 60 digits both users see alike, and a
/// payload for a QR code that one device scans from the other.
#[wasm_bindgen]
pub struct SafetyNumber(sotto::verify::SafetyNumber);

impl From<sotto::verify::SafetyNumber> for SafetyNumber {
    fn from(number: sotto::verify::SafetyNumber) -> Self {
        Self(number)
    }
}

#[wasm_bindgen]
impl SafetyNumber {
    /// The safety number of a local and a remote device, each an address
    /// with its identity key (32 bytes). Both sides compute the same number.
    ///
    /// Throws `INVALID_ARGUMENT` for a bad address or key.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = localAddress, unchecked_param_type = "Address")]
        local_address: JsValue,
        #[wasm_bindgen(js_name = localIdentityKey)] local_identity_key: &[u8],
        #[wasm_bindgen(js_name = remoteAddress, unchecked_param_type = "Address")]
        remote_address: JsValue,
        #[wasm_bindgen(js_name = remoteIdentityKey)] remote_identity_key: &[u8],
    ) -> JsResult<SafetyNumber> {
        Ok(Self(sotto::verify::SafetyNumber::new(
            (&address(&local_address)?, &identity_key(local_identity_key)?),
            (&address(&remote_address)?, &identity_key(remote_identity_key)?),
        )))
    }

    /// The 60 digits.
    pub fn displayable(&self) -> String {
        self.0.displayable().to_owned()
    }

    /// The 60 digits in twelve space-separated groups of five.
    pub fn grouped(&self) -> String {
        self.0.grouped()
    }

    /// The payload to show as a QR code (65 bytes).
    pub fn scannable(&self) -> Vec<u8> {
        self.0.scannable().to_vec()
    }

    /// Whether a payload scanned from the other device matches.
    ///
    /// Throws `INVALID_ARGUMENT` if the payload is not a scannable safety
    /// number.
    #[wasm_bindgen(js_name = matchesScanned)]
    pub fn matches_scanned(&self, scanned: &[u8]) -> JsResult<bool> {
        Ok(self.0.matches_scanned(scanned)?)
    }
}
