//! Chain keys: the symmetric-key ratchet (Double Ratchet §5.2, `KDF_CK`).
//!
//! `MK = HMAC-SHA256(CK, 0x01)` and `CK' = HMAC-SHA256(CK, 0x02)`; the chain
//! counts the messages it has keyed. A counter never wraps: at `u32::MAX`
//! the chain refuses to advance.

use zeroize::Zeroizing;

use super::{MessageKey, RatchetError};
use crate::kdf::{hmac_sha256, mac_bytes};
use crate::protocol::{CHAIN_KEY_SEED, MAX_SKIP, MESSAGE_KEY_SEED};

/// A sending or receiving chain key with the index of its next message.
#[derive(Clone)]
pub(crate) struct ChainKey {
    key: Zeroizing<[u8; 32]>,
    counter: u32,
}

impl ChainKey {
    pub(crate) fn new(key: Zeroizing<[u8; 32]>, counter: u32) -> Self {
        Self { key, counter }
    }

    /// The index of the next message of this chain.
    pub(crate) fn counter(&self) -> u32 {
        self.counter
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The key of message `counter`, moving the chain on by one.
    ///
    /// # Errors
    /// [`RatchetError::CounterExhausted`] when the counter is at `u32::MAX`.
    pub(crate) fn next_message_key(&mut self) -> Result<MessageKey, RatchetError> {
        let next_counter = self.counter.checked_add(1).ok_or(RatchetError::CounterExhausted)?;
        let mac = hmac_sha256(&self.key);
        let message_key = MessageKey::new(mac_bytes(&mac, &[MESSAGE_KEY_SEED]), self.counter);
        self.key = mac_bytes(&mac, &[CHAIN_KEY_SEED]);
        self.counter = next_counter;
        Ok(message_key)
    }

    /// Moves a copy of this chain to message `counter`, computing only the
    /// chain keys on the way (`CK' = HMAC(CK, 0x02)`, one HMAC a step): the
    /// keys of the skipped messages are derived from them by
    /// [`CatchUp::skipped_keys`] only once the message authenticated, so a
    /// forged message costs half the work.
    ///
    /// # Errors
    /// [`RatchetError::TooFarAhead`] when more than [`MAX_SKIP`] keys would
    /// be skipped, [`RatchetError::DuplicateMessage`] when `counter` is
    /// behind the chain.
    pub(crate) fn catch_up(&self, counter: u32) -> Result<CatchUp, RatchetError> {
        let skip = self.skip_count(counter)?;
        let mut chain = self.clone();
        let mut skipped = Vec::with_capacity(usize::try_from(skip).unwrap_or(0));
        while chain.counter < counter {
            skipped.push(chain.clone());
            chain.step()?;
        }
        let message_key = chain.next_message_key()?;
        Ok(CatchUp { message_key, chain, skipped })
    }

    /// How many keys reaching message `counter` skips.
    ///
    /// # Errors
    /// As [`catch_up`](Self::catch_up).
    pub(crate) fn skip_count(&self, counter: u32) -> Result<u32, RatchetError> {
        let skip =
            counter.checked_sub(self.counter).ok_or(RatchetError::DuplicateMessage { counter })?;
        if skip > MAX_SKIP {
            return Err(RatchetError::TooFarAhead { skip, max: MAX_SKIP });
        }
        Ok(skip)
    }

    /// `CK' = HMAC(CK, 0x02)`, without the message key.
    fn step(&mut self) -> Result<(), RatchetError> {
        let next_counter = self.counter.checked_add(1).ok_or(RatchetError::CounterExhausted)?;
        self.key = mac_bytes(&hmac_sha256(&self.key), &[CHAIN_KEY_SEED]);
        self.counter = next_counter;
        Ok(())
    }

    /// Moves a copy of this chain to message `counter` without using it,
    /// returning the keys of every message before it.
    pub(crate) fn skip_to(
        &self,
        counter: u32,
    ) -> Result<(ChainKey, Vec<MessageKey>), RatchetError> {
        self.skip_count(counter)?;
        let mut chain = self.clone();
        let mut skipped = Vec::new();
        while chain.counter < counter {
            skipped.push(chain.next_message_key()?);
        }
        Ok((chain, skipped))
    }
}

/// A chain moved ahead to one message ([`ChainKey::catch_up`]): the
/// message's key, the chain after it, and the chain keys of the messages
/// skipped on the way, oldest first.
pub(crate) struct CatchUp {
    pub(crate) message_key: MessageKey,
    pub(crate) chain: ChainKey,
    skipped: Vec<ChainKey>,
}

impl CatchUp {
    /// The keys of the skipped messages, oldest first: `MK = HMAC(CK, 0x01)`
    /// of each skipped chain key.
    pub(crate) fn skipped_keys(&self) -> Vec<MessageKey> {
        self.skipped
            .iter()
            .map(|chain| {
                MessageKey::new(
                    mac_bytes(&hmac_sha256(&chain.key), &[MESSAGE_KEY_SEED]),
                    chain.counter,
                )
            })
            .collect()
    }
}

impl core::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChainKey").field("counter", &self.counter).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_up_matches_stepping() {
        let start = ChainKey::new(Zeroizing::new([9; 32]), 0);
        let mut stepped = start.clone();
        let keys: Vec<_> = (0..5).map(|_| stepped.next_message_key().unwrap()).collect();
        let caught = start.catch_up(4).unwrap();
        let (key, chain, skipped) = (&caught.message_key, &caught.chain, caught.skipped_keys());
        assert_eq!(key.as_bytes(), keys[4].as_bytes());
        assert_eq!(chain.counter(), 5);
        assert_eq!(chain.as_bytes(), stepped.as_bytes());
        assert_eq!(skipped.len(), 4);
        assert_eq!(skipped[2].as_bytes(), keys[2].as_bytes());
        assert_eq!(skipped[2].counter(), 2);
    }

    #[test]
    fn limits_are_enforced() {
        let chain = ChainKey::new(Zeroizing::new([1; 32]), 10);
        assert_eq!(chain.catch_up(9).err(), Some(RatchetError::DuplicateMessage { counter: 9 }));
        assert_eq!(
            chain.catch_up(10 + MAX_SKIP + 1).err(),
            Some(RatchetError::TooFarAhead { skip: MAX_SKIP + 1, max: MAX_SKIP })
        );
        assert!(chain.catch_up(10 + MAX_SKIP).is_ok());
        let mut last = ChainKey::new(Zeroizing::new([1; 32]), u32::MAX);
        assert_eq!(last.next_message_key().err(), Some(RatchetError::CounterExhausted));
    }

    /// MK and CK' are HMAC-SHA256 of 0x01 and 0x02 under CK.
    #[test]
    fn kdf_ck_is_hmac_of_the_seeds() {
        use hmac::{KeyInit, Mac};
        let ck = [0x42u8; 32];
        let hmac = |data: u8| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&ck).unwrap();
            mac.update(&[data]);
            <[u8; 32]>::from(mac.finalize().into_bytes())
        };
        let mut chain = ChainKey::new(Zeroizing::new(ck), 0);
        let mk = chain.next_message_key().unwrap();
        assert_eq!(*mk.as_bytes(), hmac(0x01));
        assert_eq!(*chain.as_bytes(), hmac(0x02));
    }
}
