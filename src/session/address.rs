//! Addresses: who a session is with. An account id (the app's own user id,
//! never a phone number) and a device id, since every device of an account
//! has its own identity key and its own sessions.

use core::fmt;

use crate::protocol::MAX_ACCOUNT_ID_LEN;

/// The id of one device of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(u32);

impl From<u32> for DeviceId {
    fn from(value: u32) -> Self {
        Self(value)
    }
}

impl From<DeviceId> for u32 {
    fn from(id: DeviceId) -> u32 {
        id.0
    }
}

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The account id is empty.
    #[error("the account id is empty")]
    EmptyAccount,
    /// The account id is longer than [`MAX_ACCOUNT_ID_LEN`] bytes.
    #[error("the account id is {found} bytes, more than the limit of {max}")]
    AccountTooLong {
        /// The limit.
        max: usize,
        /// The id's length in bytes.
        found: usize,
    },
}

/// A device of an account: the peer of a session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    account: String,
    device: DeviceId,
}

impl Address {
    /// The address of device `device` of account `account`.
    ///
    /// # Errors
    /// [`AddressError`] if the account id is empty or longer than
    /// [`MAX_ACCOUNT_ID_LEN`] bytes.
    pub fn new(
        account: impl Into<String>,
        device: impl Into<DeviceId>,
    ) -> Result<Self, AddressError> {
        let account = account.into();
        if account.is_empty() {
            return Err(AddressError::EmptyAccount);
        }
        if account.len() > MAX_ACCOUNT_ID_LEN {
            return Err(AddressError::AccountTooLong {
                max: MAX_ACCOUNT_ID_LEN,
                found: account.len(),
            });
        }
        Ok(Self { account, device: device.into() })
    }

    /// The address of a constant account id the crate knows to be valid.
    pub(crate) fn known_valid(account: &'static str, device: u32) -> Self {
        Self { account: account.into(), device: device.into() }
    }

    /// The account id.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The device id.
    pub fn device(&self) -> DeviceId {
        self.device
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.account, self.device.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(Address::new("", 1), Err(AddressError::EmptyAccount));
        let long = "x".repeat(MAX_ACCOUNT_ID_LEN + 1);
        assert_eq!(
            Address::new(long, 1),
            Err(AddressError::AccountTooLong {
                max: MAX_ACCOUNT_ID_LEN,
                found: MAX_ACCOUNT_ID_LEN + 1
            })
        );
        let address = Address::new("alice", 2).unwrap();
        assert_eq!(address.to_string(), "alice.2");
    }
}
