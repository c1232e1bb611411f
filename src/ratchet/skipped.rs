//! Skipped message keys (Double Ratchet §3.2 `MKSKIPPED`), kept so that
//! messages that arrive out of order still decrypt.
//!
//! At most [`MAX_SKIPPED_KEYS`] keys are kept per session, oldest dropped
//! first. Each key is used once: it is removed when its message decrypts.

use std::collections::VecDeque;

use super::MessageKey;
use crate::keys::DhPublicKey;
use crate::protocol::MAX_SKIPPED_KEYS;

/// A skipped key, with the ratchet key of the chain it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct SkippedKey {
    pub(crate) ratchet_key: DhPublicKey,
    pub(crate) message_key: MessageKey,
}

/// Skipped keys in the order they were skipped.
#[derive(Debug, Default, Clone)]
pub(crate) struct SkippedKeys(VecDeque<SkippedKey>);

impl SkippedKeys {
    /// Where the key of message `counter` of chain `ratchet_key` is kept.
    pub(crate) fn find(&self, ratchet_key: &DhPublicKey, counter: u32) -> Option<usize> {
        self.0.iter().position(|skipped| {
            skipped.message_key.counter() == counter && skipped.ratchet_key == *ratchet_key
        })
    }

    pub(crate) fn get(&self, index: usize) -> Option<&SkippedKey> {
        self.0.get(index)
    }

    pub(crate) fn remove(&mut self, index: usize) {
        self.0.remove(index);
    }

    /// Adds keys skipped in one chain, dropping the oldest keys past the cap.
    pub(crate) fn extend(&mut self, ratchet_key: DhPublicKey, keys: Vec<MessageKey>) {
        self.0.extend(keys.into_iter().map(|message_key| SkippedKey { ratchet_key, message_key }));
        while self.0.len() > MAX_SKIPPED_KEYS {
            self.0.pop_front();
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &SkippedKey> {
        self.0.iter()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn keys(range: std::ops::Range<u32>) -> Vec<MessageKey> {
        range.map(|counter| MessageKey::new(Zeroizing::new([counter as u8; 32]), counter)).collect()
    }

    #[test]
    fn the_oldest_keys_go_first() {
        let chain = DhPublicKey::from_bytes(&[1; 32]).unwrap();
        let mut skipped = SkippedKeys::default();
        let total = MAX_SKIPPED_KEYS as u32;
        skipped.extend(chain, keys(0..total));
        skipped.extend(chain, keys(total..total + 10));
        assert_eq!(skipped.len(), MAX_SKIPPED_KEYS);
        assert_eq!(skipped.find(&chain, 9), None);
        assert_eq!(skipped.find(&chain, 10), Some(0));
        assert!(skipped.find(&chain, total + 9).is_some());
        let other = DhPublicKey::from_bytes(&[2; 32]).unwrap();
        assert_eq!(skipped.find(&other, 10), None);
    }
}
