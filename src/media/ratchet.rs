//! The sender-key ratchet of RFC 9605 §5.1.
//!
//! When a member joins a call, each sender can move its key forward instead of
//! distributing a new one to everyone, so that the newcomer, given only the new key,
//! cannot decrypt what was sent before it joined:
//!
//! ```text
//! base_key[i+1] = HKDF-Expand(HKDF-Extract("", base_key[i]), "SFrame 1.0 Ratchet", CipherSuite.Nh)
//! ```
//!
//! The label is the 18 ASCII bytes `SFrame 1.0 Ratchet` (capital `F`, no trailing space,
//! nothing appended) and the output is `Nh` bytes (32 for SHA-256 suites, 64 for SHA-512
//! suites). The step `i` is signalled in the low `R` bits of the key id:
//!
//! ```text
//! KID = (generation << R) | step        64 - R bits: generation, R bits: step
//! ```
//!
//! so a receiver that sees a larger step for a known generation ratchets forward to it.
//! Ratchet steps cannot be undone: a receiver that moved to step `i` no longer holds
//! `base_key[j]` for `j < i`. They do not protect against a member that leaves: anyone
//! holding `base_key[i]` computes every later step, so a leave needs new secrets
//! (see [`crate::call::GroupCall`]).
//!
//! ```
//! use sotto::media::{BaseKey, CipherSuite, SenderKeyRatchet, SframeReceiver};
//!
//! let suite = CipherSuite::Aes128GcmSha256_128;
//! let mut ratchet = SenderKeyRatchet::new(suite, 7, 8, BaseKey::from_bytes(&[9; 16])?)?;
//! ratchet.advance()?; // a member joined
//! assert_eq!(ratchet.kid().value(), (7 << 8) | 1);
//! let mut sender = ratchet.sender()?;
//!
//! let mut receiver = SframeReceiver::new();
//! let mut theirs = SenderKeyRatchet::new(suite, 7, 8, BaseKey::from_bytes(&[9; 16])?)?;
//! theirs.advance_to(1)?;
//! receiver.add_key(suite, theirs.kid(), theirs.base_key())?;
//! let frame = sender.encrypt(b"", b"hello")?;
//! assert_eq!(receiver.decrypt(b"", &frame)?, b"hello");
//! # Ok::<(), sotto::media::SframeError>(())
//! ```

use core::fmt;

use super::context::SframeSender;
use super::error::SframeError;
use super::header::KeyId;
use super::key::{BaseKey, Prk};
use super::suite::CipherSuite;

/// The HKDF-Expand info of the ratchet: the 18 bytes `"SFrame 1.0 Ratchet"`.
pub const RATCHET_LABEL: &[u8; 18] = b"SFrame 1.0 Ratchet";

/// The most steps [`SenderKeyRatchet::advance_to`] will take in one call (1024), so a
/// step read from an unauthenticated header cannot make a receiver spin.
pub const MAX_RATCHET_JUMP: u64 = 1024;

/// `base_key[i+1]` from `base_key[i]` (RFC 9605 §5.1): `Nh` bytes.
///
/// # Errors
///
/// Only [`SframeError::Internal`] (HKDF-Expand of `Nh` bytes cannot otherwise fail).
pub fn ratchet_base_key(suite: CipherSuite, base_key: &BaseKey) -> Result<BaseKey, SframeError> {
    let (prk, _secret) = Prk::extract(suite.kdf_hash(), base_key.expose_secret());
    let mut next = [0u8; 64];
    let okm = next.get_mut(..suite.nh()).ok_or(SframeError::Internal)?;
    prk.expand(RATCHET_LABEL, okm)?;
    let key = BaseKey::from_bytes(okm);
    zeroize::Zeroize::zeroize(&mut next);
    key
}

fn check_bits(bits: u32) -> Result<(), SframeError> {
    if (1..=63).contains(&bits) {
        Ok(())
    } else {
        Err(SframeError::RatchetStepOutOfRange { step: 0, bits })
    }
}

/// The key id of ratchet step `step` of key generation `generation` with `R = bits`:
/// `(generation << R) | step`.
///
/// # Errors
///
/// [`SframeError::RatchetStepOutOfRange`] if `bits` is not in 1..=63 or `step >= 2^R`;
/// [`SframeError::GenerationOutOfRange`] if `generation >= 2^(64-R)`.
pub fn ratchet_kid(generation: u64, step: u64, bits: u32) -> Result<KeyId, SframeError> {
    check_bits(bits)?;
    if step >> bits != 0 {
        return Err(SframeError::RatchetStepOutOfRange { step, bits });
    }
    if generation >> (64 - bits) != 0 {
        return Err(SframeError::GenerationOutOfRange { generation, bits: 64 - bits });
    }
    Ok(KeyId::new((generation << bits) | step))
}

/// Splits a key id into `(generation, step)` with `R = bits`.
///
/// # Errors
///
/// [`SframeError::RatchetStepOutOfRange`] if `bits` is not in 1..=63.
pub fn split_ratchet_kid(kid: KeyId, bits: u32) -> Result<(u64, u64), SframeError> {
    check_bits(bits)?;
    let v = kid.value();
    Ok((v >> bits, v & ((1u64 << bits) - 1)))
}

/// One sender's ratcheting base key: key generation, `R`, current step and `base_key[step]`.
#[derive(Clone)]
pub struct SenderKeyRatchet {
    suite: CipherSuite,
    generation: u64,
    bits: u32,
    step: u64,
    base_key: BaseKey,
}

impl fmt::Debug for SenderKeyRatchet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyRatchet")
            .field("suite", &self.suite)
            .field("generation", &self.generation)
            .field("bits", &self.bits)
            .field("step", &self.step)
            .field("base_key", &self.base_key)
            .finish()
    }
}

impl SenderKeyRatchet {
    /// Step 0 of key generation `generation`, with `R = bits` and `base_key[0] = base_key`.
    ///
    /// # Errors
    ///
    /// As [`ratchet_kid`] for `(generation, 0, bits)`.
    pub fn new(
        suite: CipherSuite,
        generation: u64,
        bits: u32,
        base_key: BaseKey,
    ) -> Result<Self, SframeError> {
        ratchet_kid(generation, 0, bits)?;
        Ok(Self { suite, generation, bits, step: 0, base_key })
    }

    /// The current step.
    #[must_use]
    pub const fn step(&self) -> u64 {
        self.step
    }

    /// The key id of the current step.
    #[must_use]
    pub fn kid(&self) -> KeyId {
        KeyId::new((self.generation << self.bits) | self.step)
    }

    /// `base_key[step]`.
    #[must_use]
    pub const fn base_key(&self) -> &BaseKey {
        &self.base_key
    }

    /// Moves to the next step, forgetting the current base key.
    ///
    /// # Errors
    ///
    /// [`SframeError::RatchetStepOutOfRange`] if the next step does not fit in `R` bits
    /// (the ratchet is unchanged).
    pub fn advance(&mut self) -> Result<(), SframeError> {
        let next = self.step.saturating_add(1);
        ratchet_kid(self.generation, next, self.bits)?;
        self.base_key = ratchet_base_key(self.suite, &self.base_key)?;
        self.step = next;
        Ok(())
    }

    /// Moves forward to step `step` (at most [`MAX_RATCHET_JUMP`] steps at once).
    ///
    /// # Errors
    ///
    /// [`SframeError::RatchetBackwards`] if `step` is below the current step;
    /// [`SframeError::RatchetStepOutOfRange`] if it does not fit in `R` bits or is more than
    /// [`MAX_RATCHET_JUMP`] ahead. On error the ratchet is unchanged.
    pub fn advance_to(&mut self, step: u64) -> Result<(), SframeError> {
        if step < self.step {
            return Err(SframeError::RatchetBackwards { current: self.step, requested: step });
        }
        ratchet_kid(self.generation, step, self.bits)?;
        if step - self.step > MAX_RATCHET_JUMP {
            return Err(SframeError::RatchetStepOutOfRange { step, bits: self.bits });
        }
        let mut key = self.base_key.clone();
        for _ in self.step..step {
            key = ratchet_base_key(self.suite, &key)?;
        }
        self.base_key = key;
        self.step = step;
        Ok(())
    }

    /// A sender for the current step (key id [`Self::kid`], counter from 0).
    ///
    /// # Errors
    ///
    /// As [`SframeSender::new`].
    pub fn sender(&self) -> Result<SframeSender, SframeError> {
        SframeSender::new(self.suite, self.kid(), &self.base_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_bytes() {
        assert_eq!(RATCHET_LABEL.len(), 18);
        assert_eq!(&RATCHET_LABEL[..], b"SFrame 1.0 Ratchet");
    }

    #[test]
    fn output_is_nh_bytes() {
        let k = BaseKey::from_bytes(&[1; 16]).unwrap();
        for suite in CipherSuite::ALL {
            let next = ratchet_base_key(suite, &k).unwrap();
            assert_eq!(next.expose_secret().len(), suite.nh());
        }
    }

    #[test]
    fn kid_layout() {
        assert_eq!(ratchet_kid(0x1234, 5, 4).unwrap(), KeyId::new(0x12345));
        assert_eq!(split_ratchet_kid(KeyId::new(0x12345), 4).unwrap(), (0x1234, 5));
        assert!(ratchet_kid(0, 16, 4).is_err());
        assert!(ratchet_kid(1 << 60, 0, 4).is_err());
        assert!(ratchet_kid(0, 0, 0).is_err());
        assert!(ratchet_kid(0, 0, 64).is_err());
        assert_eq!(ratchet_kid(u64::MAX >> 63, 0, 63).unwrap(), KeyId::new(1 << 63));
    }

    #[test]
    fn advance_limits() {
        let mut r = SenderKeyRatchet::new(
            CipherSuite::Aes128GcmSha256_128,
            1,
            2,
            BaseKey::from_bytes(&[2; 16]).unwrap(),
        )
        .unwrap();
        r.advance_to(3).unwrap();
        assert!(r.advance().is_err());
        assert_eq!(r.step(), 3);
        assert!(matches!(r.advance_to(1), Err(SframeError::RatchetBackwards { .. })));
        let mut wide = SenderKeyRatchet::new(
            CipherSuite::Aes128GcmSha256_128,
            0,
            32,
            BaseKey::from_bytes(&[2; 16]).unwrap(),
        )
        .unwrap();
        assert!(wide.advance_to(MAX_RATCHET_JUMP + 1).is_err());
        assert_eq!(wide.step(), 0);
        assert!(format!("{wide:?}").contains("redacted"));
    }
}
