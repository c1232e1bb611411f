//! The storage key the app provides, and the two keys the store derives
//! from it for one database (docs/PROTOCOL.md §11.3).

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::SqliteStoreError;

/// The key a [`SqliteStore`](super::SqliteStore) is sealed under: 32 bytes
/// the app keeps outside the database, in the platform's key store (the iOS
/// Keychain, the Android Keystore, a non-extractable WebCrypto key's
/// wrapped bytes).
///
/// Wiped when dropped; its `Debug` output is redacted.
///
/// **Warning:** whoever has this key and a copy of the database file has
/// every session secret in it. Never store it next to the database (in the
/// same backup), and never derive it from something guessable.
#[derive(Clone)]
pub struct StorageKey(Zeroizing<[u8; StorageKey::LEN]>);

impl StorageKey {
    /// The length of a storage key in bytes.
    pub const LEN: usize = 32;

    /// A storage key from its bytes.
    pub fn from_bytes(bytes: &[u8; Self::LEN]) -> Self {
        Self(Zeroizing::new(*bytes))
    }

    /// A new random storage key, for the first run of an app: store it in
    /// the platform's key store (see [`as_bytes`](Self::as_bytes)) before
    /// creating the database.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; Self::LEN]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// The key's bytes, to hand to the platform's key store.
    ///
    /// **Warning:** a secret: do not log it, and let copies drop soon.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

impl TryFrom<&[u8]> for StorageKey {
    type Error = SqliteStoreError;

    /// # Errors
    /// [`SqliteStoreError::StorageKeyLength`] unless `bytes` is 32 bytes.
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let array: &[u8; Self::LEN] = bytes.try_into().map_err(|_| {
            SqliteStoreError::StorageKeyLength { expected: Self::LEN, found: bytes.len() }
        })?;
        Ok(Self::from_bytes(array))
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = StorageKey::from_bytes(&[0x41; 32]);
        let printed = format!("{key:?}");
        assert_eq!(printed, "StorageKey(<redacted>)");
        assert!(!printed.contains("41") && !printed.contains("65"));
    }

    #[test]
    fn from_slice_checks_the_length() {
        assert!(matches!(
            StorageKey::try_from(&[0u8; 31][..]),
            Err(SqliteStoreError::StorageKeyLength { expected: 32, found: 31 })
        ));
        let key = StorageKey::try_from(&[7u8; 32][..]).unwrap();
        assert_eq!(key.as_bytes(), &[7u8; 32]);
    }

    #[test]
    fn generated_keys_differ() {
        let mut rng = crate::rng::test_rng(1);
        let a = StorageKey::generate(&mut rng);
        let b = StorageKey::generate(&mut rng);
        assert_ne!(a.as_bytes(), b.as_bytes());
    }
}
