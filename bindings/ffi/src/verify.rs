//! Safety numbers, to compare out of band.

use std::sync::Arc;

use crate::SottoError;
use crate::types::{Address, identity_key};

/// The safety number of two devices: 60 digits both users see alike, and a
/// payload for a QR code that one device scans from the other.
#[derive(Debug, uniffi::Object)]
pub struct SafetyNumber(sotto::verify::SafetyNumber);

impl From<sotto::verify::SafetyNumber> for SafetyNumber {
    fn from(number: sotto::verify::SafetyNumber) -> Self {
        Self(number)
    }
}

#[uniffi::export]
impl SafetyNumber {
    /// The safety number of `local` and `remote`, each an address with its
    /// identity key (32 bytes). Both sides compute the same number.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad address or key.
    #[uniffi::constructor]
    pub fn new(
        local_address: Address,
        local_identity_key: Vec<u8>,
        remote_address: Address,
        remote_identity_key: Vec<u8>,
    ) -> Result<Arc<Self>, SottoError> {
        Ok(Arc::new(Self(sotto::verify::SafetyNumber::new(
            (&local_address.to_core()?, &identity_key(&local_identity_key)?),
            (&remote_address.to_core()?, &identity_key(&remote_identity_key)?),
        ))))
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
    /// # Errors
    /// `InvalidArgument` if the payload is not a scannable safety number.
    pub fn matches_scanned(&self, scanned: Vec<u8>) -> Result<bool, SottoError> {
        Ok(self.0.matches_scanned(&scanned)?)
    }
}
