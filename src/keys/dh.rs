//! X25519 key pairs and a Diffie-Hellman that refuses non-contributory results.

use core::fmt;

use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, SharedSecret, StaticSecret};
use zeroize::Zeroizing;

use super::KeyError;

/// An X25519 public key: a signed prekey, a one-time prekey, a ratchet key or
/// an X3DH base key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DhPublicKey(PublicKey);

impl DhPublicKey {
    /// Parses a 32-byte X25519 public key in its canonical encoding: the
    /// u-coordinate below p = 2²⁵⁵ − 19, little-endian, so the top bit clear.
    ///
    /// X25519 itself reads any 32 bytes (masking the top bit and reducing
    /// mod p), so 20 of the points have two encodings more; refusing those
    /// keeps one byte form per key, as keys are compared and remembered by
    /// their bytes. Weak (small-order) keys are caught when a
    /// Diffie-Hellman with them gives an all-zero output.
    ///
    /// # Errors
    /// [`KeyError::InvalidLength`] for lengths other than 32,
    /// [`KeyError::NonCanonical`] for an encoding with the top bit set or a
    /// u-coordinate of p or more.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let key = Self::from_stored_bytes(bytes)?;
        if !is_canonical_u(key.as_bytes()) {
            return Err(KeyError::NonCanonical);
        }
        Ok(key)
    }

    /// Takes a key from a stored record, checking only its length: keys
    /// were checked when they arrived, and records of earlier builds may
    /// hold keys those accepted.
    pub(crate) fn from_stored_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::InvalidLength { expected: 32, found: bytes.len() })?;
        Ok(Self(PublicKey::from(bytes)))
    }

    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 32-byte encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    pub(crate) fn inner(&self) -> &PublicKey {
        &self.0
    }
}

/// Whether `bytes` (little-endian) is a u-coordinate below p = 2²⁵⁵ − 19.
fn is_canonical_u(bytes: &[u8; 32]) -> bool {
    let Some((&top, rest)) = bytes.split_last() else {
        return false;
    };
    if top & 0x80 != 0 {
        return false;
    }
    // Below 2²⁵⁵: at or above p only as 0x7f ff … ff (≥ 0xed).
    let (&low, middle) = rest.split_first().unwrap_or((&0, &[]));
    !(top == 0x7f && middle.iter().all(|&byte| byte == 0xff) && low >= 0xed)
}

impl From<PublicKey> for DhPublicKey {
    fn from(key: PublicKey) -> Self {
        Self(key)
    }
}

impl fmt::Debug for DhPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DhPublicKey(")?;
        for byte in self.as_bytes() {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

/// 32 random bytes drawn for one X25519 key pair, made later: randomness is
/// drawn (under the generator's lock) before the work that needs it, so that
/// no lock is held across key agreement or decryption. Wiped when dropped,
/// never printed.
pub(crate) struct DhSeed(Zeroizing<[u8; 32]>);

impl DhSeed {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// The key pair of this seed.
    pub(crate) fn key_pair(&self) -> DhKeyPair {
        DhKeyPair::from_secret_bytes(&self.0)
    }
}

/// Where a step that needs a new key pair (a DH ratchet step) draws its
/// seed from, only when it needs one: a generator itself, or a manager's
/// generator behind its lock, locked just for the draw.
pub(crate) trait SeedSource {
    /// Draws a seed.
    fn draw(&mut self) -> DhSeed;
}

impl<R: CryptoRng + ?Sized> SeedSource for R {
    fn draw(&mut self) -> DhSeed {
        DhSeed::generate(self)
    }
}

impl fmt::Debug for DhSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhSeed(<redacted>)")
    }
}

/// An X25519 key pair. The secret is zeroized on drop and never printed.
#[derive(Clone)]
pub(crate) struct DhKeyPair {
    secret: StaticSecret,
    public: DhPublicKey,
}

impl DhKeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        DhSeed::generate(rng).key_pair()
    }

    pub(crate) fn from_secret_bytes(bytes: &[u8; 32]) -> Self {
        let secret = StaticSecret::from(*bytes);
        let public = DhPublicKey(PublicKey::from(&secret));
        Self { secret, public }
    }

    /// Rebuilds a key pair from a stored record that keeps both halves,
    /// sparing the scalar multiplication. The record was written from a
    /// consistent pair; a corrupted public half only makes the peer's
    /// decryption fail.
    pub(crate) fn from_stored(secret: &[u8; 32], public: DhPublicKey) -> Self {
        Self { secret: StaticSecret::from(*secret), public }
    }

    /// The secret scalar, for storing the key pair in an encrypted record.
    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    pub(crate) fn public(&self) -> DhPublicKey {
        self.public
    }

    pub(crate) fn secret(&self) -> &StaticSecret {
        &self.secret
    }
}

impl fmt::Debug for DhKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhKeyPair").field("public", &self.public).finish_non_exhaustive()
    }
}

/// X25519, refusing an all-zero (non-contributory) output: one of the keys
/// was a small-order point, and the result would not be secret.
pub(crate) fn diffie_hellman(
    secret: &StaticSecret,
    public: &DhPublicKey,
) -> Result<SharedSecret, KeyError> {
    #[cfg(test)]
    test_count::DH.with(|count| count.set(count.get() + 1));
    let shared = secret.diffie_hellman(public.inner());
    if shared.was_contributory() { Ok(shared) } else { Err(KeyError::WeakKey) }
}

/// The unit tests' measure of work: how many X25519 this thread computed.
#[cfg(test)]
pub(crate) mod test_count {
    use std::cell::Cell;

    thread_local! {
        pub(super) static DH: Cell<u64> = const { Cell::new(0) };
    }

    /// The X25519 this thread computed so far.
    pub(crate) fn diffie_hellmans() -> u64 {
        DH.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::test_rng;

    /// p = 2²⁵⁵ − 19 plus `add`, little-endian.
    fn p_plus(add: u8) -> [u8; 32] {
        let mut bytes = [0xff; 32];
        bytes[0] = 0xed + add;
        bytes[31] = 0x7f;
        bytes
    }

    #[test]
    fn only_canonical_encodings_parse() {
        let mut below = p_plus(0);
        below[0] = 0xec; // p − 1
        assert!(DhPublicKey::from_bytes(&below).is_ok());
        for add in [0, 1, 18] {
            assert_eq!(DhPublicKey::from_bytes(&p_plus(add)), Err(KeyError::NonCanonical));
        }
        let generated = DhKeyPair::generate(&mut test_rng(4)).public().to_bytes();
        let mut top = generated;
        top[31] |= 0x80;
        assert_eq!(DhPublicKey::from_bytes(&top), Err(KeyError::NonCanonical));
        assert_eq!(DhPublicKey::from_bytes(&generated).map(|key| key.to_bytes()), Ok(generated));
        // Records keep what they hold.
        assert!(DhPublicKey::from_stored_bytes(&top).is_ok());
    }

    #[test]
    fn both_sides_agree() {
        let mut rng = test_rng(3);
        let (a, b) = (DhKeyPair::generate(&mut rng), DhKeyPair::generate(&mut rng));
        let ab = diffie_hellman(a.secret(), &b.public()).unwrap();
        let ba = diffie_hellman(b.secret(), &a.public()).unwrap();
        assert_eq!(ab.as_bytes(), ba.as_bytes());
    }

    #[test]
    fn refuses_small_order_points() {
        let mut rng = test_rng(4);
        let a = DhKeyPair::generate(&mut rng);
        // u = 0 and u = 1 are small-order points on Curve25519.
        for u in [0u8, 1] {
            let mut bytes = [0u8; 32];
            bytes[0] = u;
            let weak = DhPublicKey::from_bytes(&bytes).unwrap();
            assert_eq!(diffie_hellman(a.secret(), &weak).err(), Some(KeyError::WeakKey));
        }
    }

    #[test]
    fn secret_round_trips_and_hides() {
        let pair = DhKeyPair::from_secret_bytes(&[0x5A; 32]);
        let again = DhKeyPair::from_secret_bytes(&pair.secret_bytes());
        assert_eq!(pair.public(), again.public());
        assert!(!format!("{pair:?}").contains("5a5a"));
    }
}
