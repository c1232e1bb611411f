//! Identity verification: safety numbers that two users compare out of
//! band (read aloud, or one scans the other's code) to catch a server that
//! swapped keys.
//!
//! Each side's fingerprint is iterated SHA-512 over its address and
//! identity key:
//!
//! ```text
//! H   = SHA-512(FINGERPRINT_LABEL ‖ len(account) (u16 BE) ‖ account ‖ device (u32 BE) ‖ key)
//! H   = SHA-512(H ‖ key), FINGERPRINT_ITERATIONS times
//! fingerprint = the first 32 bytes of H
//! ```
//!
//! The displayable number takes the first 30 bytes of each fingerprint in
//! six 5-byte chunks, each a big-endian integer mod 100000 printed as five
//! digits; the two 30-digit halves are ordered (lower first), so both users
//! see the same 60 digits. The scannable payload is
//! `SCANNABLE_VERSION ‖ lower fingerprint ‖ higher fingerprint` (65 bytes),
//! the same on both sides.
//!
//! ```
//! use sotto::keys::IdentityKeyPair;
//! use sotto::session::Address;
//! use sotto::verify::SafetyNumber;
//!
//! let mut rng = sotto::rng::os_rng();
//! let (alice, bob) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
//! let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
//! let on_alice = SafetyNumber::new((&a, &alice.public()), (&b, &bob.public()));
//! let on_bob = SafetyNumber::new((&b, &bob.public()), (&a, &alice.public()));
//! assert_eq!(on_alice.displayable(), on_bob.displayable());
//! assert!(on_bob.matches_scanned(&on_alice.scannable())?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use sha2::{Digest, Sha512};

use crate::keys::IdentityKey;
use crate::protocol::{FINGERPRINT_ITERATIONS, FINGERPRINT_LABEL, SCANNABLE_VERSION};
use crate::session::Address;

/// The length of a scannable payload, in bytes.
pub const SCANNABLE_LEN: usize = 1 + 2 * 32;

/// Why a scanned payload could not be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The payload is not [`SCANNABLE_LEN`] bytes.
    #[error("a scanned payload must be {expected} bytes, found {found}")]
    InvalidLength {
        /// [`SCANNABLE_LEN`].
        expected: usize,
        /// The payload's length.
        found: usize,
    },
    /// The payload has a version this build does not read.
    #[error("scanned payload version {found} is not supported (this build reads {expected})")]
    UnsupportedVersion {
        /// The version this build reads.
        expected: u8,
        /// The payload's version.
        found: u8,
    },
}

/// The safety number of two devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyNumber {
    /// Ordered: `fingerprints[0] <= fingerprints[1]`.
    fingerprints: [[u8; 32]; 2],
    displayable: String,
}

fn fingerprint(address: &Address, key: &IdentityKey) -> [u8; 32] {
    let account = address.account().as_bytes();
    // Addresses are at most MAX_ACCOUNT_ID_LEN (256) bytes long.
    let account_len = u16::try_from(account.len()).unwrap_or(u16::MAX);
    let mut hash = Sha512::new()
        .chain_update(FINGERPRINT_LABEL)
        .chain_update(account_len.to_be_bytes())
        .chain_update(account)
        .chain_update(u32::from(address.device()).to_be_bytes())
        .chain_update(key.as_bytes())
        .finalize();
    for _ in 0..FINGERPRINT_ITERATIONS {
        hash = Sha512::new().chain_update(hash).chain_update(key.as_bytes()).finalize();
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.split_at(32).0);
    out
}

fn digits(fingerprint: &[u8; 32]) -> String {
    fingerprint
        .chunks_exact(5)
        .take(6)
        .map(|chunk| {
            let value = chunk.iter().fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
            format!("{:05}", value % 100_000)
        })
        .collect()
}

impl SafetyNumber {
    /// The safety number of `local` and `remote`, each an address with its
    /// identity key. Both sides compute the same number.
    pub fn new(local: (&Address, &IdentityKey), remote: (&Address, &IdentityKey)) -> Self {
        let mut fingerprints = [fingerprint(local.0, local.1), fingerprint(remote.0, remote.1)];
        fingerprints.sort_unstable();
        let [low, high] = &fingerprints;
        let mut halves = [digits(low), digits(high)];
        halves.sort_unstable();
        let displayable = halves.concat();
        Self { fingerprints, displayable }
    }

    /// The 60 digits, to show in twelve groups of five.
    pub fn displayable(&self) -> &str {
        &self.displayable
    }

    /// The 60 digits in twelve space-separated groups of five.
    pub fn grouped(&self) -> String {
        let groups: Vec<&str> =
            (0..12).filter_map(|group| self.displayable.get(group * 5..group * 5 + 5)).collect();
        groups.join(" ")
    }

    /// The payload to show as a QR code.
    pub fn scannable(&self) -> [u8; SCANNABLE_LEN] {
        let mut payload = [0u8; SCANNABLE_LEN];
        let (version, rest) = payload.split_at_mut(1);
        let (low, high) = rest.split_at_mut(32);
        version.copy_from_slice(&[SCANNABLE_VERSION]);
        low.copy_from_slice(&self.fingerprints[0]);
        high.copy_from_slice(&self.fingerprints[1]);
        payload
    }

    /// Whether a payload scanned from the other device matches.
    ///
    /// # Errors
    /// [`VerifyError`] if the payload is not a scannable safety number.
    pub fn matches_scanned(&self, scanned: &[u8]) -> Result<bool, VerifyError> {
        if scanned.len() != SCANNABLE_LEN {
            return Err(VerifyError::InvalidLength {
                expected: SCANNABLE_LEN,
                found: scanned.len(),
            });
        }
        match scanned.first().copied() {
            Some(SCANNABLE_VERSION) => Ok(scanned == self.scannable().as_slice()),
            found => Err(VerifyError::UnsupportedVersion {
                expected: SCANNABLE_VERSION,
                found: found.unwrap_or_default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::IdentityKeyPair;
    use crate::rng::test_rng;

    fn parties() -> ((Address, IdentityKey), (Address, IdentityKey)) {
        let mut rng = test_rng(30);
        (
            (Address::new("alice", 1).unwrap(), IdentityKeyPair::generate(&mut rng).public()),
            (Address::new("bob", 2).unwrap(), IdentityKeyPair::generate(&mut rng).public()),
        )
    }

    #[test]
    fn both_sides_see_the_same_number_and_payload() {
        let ((a, ka), (b, kb)) = parties();
        let on_a = SafetyNumber::new((&a, &ka), (&b, &kb));
        let on_b = SafetyNumber::new((&b, &kb), (&a, &ka));
        assert_eq!(on_a, on_b);
        assert_eq!(on_a.displayable().len(), 60);
        assert!(on_a.displayable().bytes().all(|c| c.is_ascii_digit()));
        assert_eq!(on_a.grouped().len(), 60 + 11);
        assert!(on_a.matches_scanned(&on_b.scannable()).unwrap());
    }

    #[test]
    fn a_swapped_key_changes_the_number() {
        let ((a, ka), (b, kb)) = parties();
        let impostor = IdentityKeyPair::generate(&mut test_rng(31)).public();
        let real = SafetyNumber::new((&a, &ka), (&b, &kb));
        let fake = SafetyNumber::new((&a, &ka), (&b, &impostor));
        assert_ne!(real.displayable(), fake.displayable());
        assert!(!real.matches_scanned(&fake.scannable()).unwrap());
    }

    #[test]
    fn the_fingerprint_binds_the_address() {
        let ((a, ka), (b, _)) = parties();
        assert_ne!(fingerprint(&a, &ka), fingerprint(&b, &ka));
        let other_device = Address::new("alice", 2).unwrap();
        assert_ne!(fingerprint(&a, &ka), fingerprint(&other_device, &ka));
    }

    /// Five bytes as a big-endian integer, mod 100000, as five digits.
    #[test]
    fn digit_encoding() {
        let mut fingerprint = [0u8; 32];
        fingerprint[..5].copy_from_slice(&[0x00, 0x00, 0x01, 0x86, 0xa0]); // 100000
        fingerprint[5..10].copy_from_slice(&[0x00, 0x00, 0x00, 0x30, 0x39]); // 12345
        fingerprint[25..30].copy_from_slice(&[0xff; 5]); // 1099511627775
        assert_eq!(digits(&fingerprint), "000001234500000000000000027775");
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let ((a, ka), (b, kb)) = parties();
        let number = SafetyNumber::new((&a, &ka), (&b, &kb));
        assert_eq!(
            number.matches_scanned(&[1; 10]),
            Err(VerifyError::InvalidLength { expected: SCANNABLE_LEN, found: 10 })
        );
        let mut payload = number.scannable();
        payload[0] = 9;
        assert_eq!(
            number.matches_scanned(&payload),
            Err(VerifyError::UnsupportedVersion { expected: 1, found: 9 })
        );
    }
}
