//! The two key-derivation primitives every part of the protocol uses:
//! HKDF-SHA256 (RFC 5869) and HMAC-SHA256 (RFC 2104).

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// HKDF-SHA256 with an `N`-byte output, wiped when dropped.
pub(crate) fn hkdf_sha256<const N: usize>(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 255 * 32, "HKDF-SHA256 output is at most 255 blocks") };
    let mut okm = Zeroizing::new([0u8; N]);
    // Cannot fail: the output length was checked at compile time.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, okm.as_mut());
    okm
}

/// An HMAC-SHA256 instance keyed with `key`, to be cloned for each message
/// it authenticates (keying costs two compressions; a clone costs none).
pub(crate) fn hmac_sha256(key: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC pads a key shorter than the 64-byte block with zeros (RFC 2104
    // §2); padding it here selects the infallible, block-sized constructor.
    let mut block = Zeroizing::new([0u8; 64]);
    let (head, _) = block.split_at_mut(32);
    head.copy_from_slice(key);
    let block: &[u8; 64] = &block;
    <Hmac<Sha256> as KeyInit>::new(block.into())
}

/// HMAC-SHA256 of `data` under the already keyed `mac`.
pub(crate) fn mac_bytes(mac: &Hmac<Sha256>, data: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = mac.clone();
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 5869 Appendix A.1.
    #[test]
    fn hkdf_rfc5869_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf_sha256::<42>(&salt, &ikm, &info);
        assert_eq!(
            hex(okm.as_ref()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    /// The zero-padded block key gives the same MAC as the 32-byte key.
    #[test]
    fn keyed_clone_equals_fresh_hmac() {
        let key = [0x0b; 32];
        let mut fresh = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        fresh.update(b"Hi There");
        let expected: [u8; 32] = fresh.finalize().into_bytes().into();
        assert_eq!(*mac_bytes(&hmac_sha256(&key), b"Hi There"), expected);
    }
}
