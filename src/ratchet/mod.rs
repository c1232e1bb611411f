//! The Double Ratchet (Signal's specification, revision 1, §3 and §5.2),
//! with X3DH's shared key as its first root key (§7.1).
//!
//! Every message moves a symmetric chain (`ChainKey`); every change of
//! speaker moves the DH ratchet (`RootKey::advance` on receiving, then
//! `root_key::turn` once the message authenticated). Messages may arrive
//! out of order: keys of skipped messages are kept (`SkippedKeys`) within
//! [`MAX_SKIP`] per chain and [`MAX_SKIPPED_KEYS`] per session. A message
//! whose key was used or dropped is refused as a duplicate.
//!
//! Decryption is try-then-commit: the next state is computed on the side
//! and assigned only after the AEAD tag verified, so a failed decryption
//! leaves the ratchet exactly as it was.
//!
//! [`MAX_SKIP`]: crate::protocol::MAX_SKIP
//! [`MAX_SKIPPED_KEYS`]: crate::protocol::MAX_SKIPPED_KEYS

mod chain_key;
mod header;
mod message_key;
mod root_key;
mod skipped;

use std::collections::VecDeque;

pub(crate) use chain_key::ChainKey;
pub(crate) use header::Header;
pub(crate) use message_key::MessageKey;
use root_key::RootKey;
use skipped::SkippedKeys;

use crate::keys::{DhKeyPair, DhPublicKey, DhSeed, SeedSource};
use crate::proto::storage;
use crate::protocol::{
    DH_RATCHET_WORK, MAX_DECRYPT_WORK, MAX_PLAINTEXT_LEN, MAX_RECEIVING_CHAINS,
    MAX_RETIRED_RATCHET_KEYS, MAX_SKIP, MAX_SKIPPED_KEYS,
};
use crate::record::{self, RecordError};
use crate::x3dh::{AssociatedData, SharedKey};

/// Why the Double Ratchet refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RatchetError {
    /// The header is not a valid encoded `RatchetHeader`.
    #[error("the message header is malformed")]
    MalformedHeader,
    /// The message's key was already used (or dropped): a duplicate, a
    /// replay, or a message older than the skipped keys kept.
    #[error("message {counter} was already received (or its key was dropped)")]
    DuplicateMessage {
        /// The message's index in its chain.
        counter: u32,
    },
    /// The message is further ahead in its chain than [`MAX_SKIP`] allows.
    ///
    /// [`MAX_SKIP`]: crate::protocol::MAX_SKIP
    #[error("the message would skip {skip} keys, more than the limit of {max}")]
    TooFarAhead {
        /// How many keys it would skip.
        skip: u32,
        /// The limit.
        max: u32,
    },
    /// The ciphertext or header failed authentication.
    #[error("the message failed authentication")]
    AuthenticationFailed,
    /// A chain reached `u32::MAX` messages; the session must be replaced.
    #[error("the message counter is exhausted")]
    CounterExhausted,
    /// The peer's ratchet key is a small-order point.
    #[error("the peer's ratchet key is non-contributory")]
    NonContributory,
    /// The message was not tried in this session: trying it in the sessions
    /// before took the work one received message may cost
    /// ([`MAX_DECRYPT_WORK`]). The first
    /// session tried always has enough, so this is never a message's only
    /// error.
    #[error("the message's work budget is spent")]
    WorkLimit,
    /// The plaintext is larger than Sotto sends in one message.
    #[error("the plaintext is {found} bytes, more than the limit of {max}")]
    PlaintextTooLarge {
        /// The limit ([`MAX_PLAINTEXT_LEN`]).
        max: usize,
        /// The plaintext's length.
        found: usize,
    },
}

/// What one received message may make the receiver compute before a tag
/// tells whether it is authentic, in chain steps (one HMAC each), a new
/// ratchet key (one X25519) counted as [`DH_RATCHET_WORK`] of them: shared
/// by every session the message is tried in, so that a forged message costs
/// at most what the costliest honest one does (a new ratchet key and
/// [`MAX_SKIP`] chain steps), whatever the number of sessions.
///
/// [`MAX_SKIP`]: crate::protocol::MAX_SKIP
#[derive(Debug)]
pub(crate) struct WorkBudget(u32);

impl WorkBudget {
    /// A full budget: [`MAX_DECRYPT_WORK`].
    pub(crate) fn new() -> Self {
        Self(MAX_DECRYPT_WORK)
    }

    /// Takes `cost` from the budget.
    ///
    /// # Errors
    /// [`RatchetError::WorkLimit`] (and nothing taken) if less is left.
    fn spend(&mut self, cost: u32) -> Result<(), RatchetError> {
        self.0 = self.0.checked_sub(cost).ok_or(RatchetError::WorkLimit)?;
        Ok(())
    }
}

/// A chain of the peer's messages, identified by their ratchet key.
#[derive(Debug, Clone)]
struct ReceivingChain {
    ratchet_key: DhPublicKey,
    chain_key: ChainKey,
}

/// A Double Ratchet session after its first message: it can send and receive.
#[derive(Debug, Clone)]
pub(crate) struct DoubleRatchet {
    root_key: RootKey,
    /// DHs: our current ratchet key.
    ratchet_key: DhKeyPair,
    /// CKs and Ns.
    sending: ChainKey,
    /// PN.
    previous_counter: u32,
    /// Newest first; at most [`MAX_RECEIVING_CHAINS`].
    receiving: VecDeque<ReceivingChain>,
    /// Ratchet keys of forgotten receiving chains, newest first; at most
    /// [`MAX_RETIRED_RATCHET_KEYS`]. A replay from such a chain is refused
    /// as a duplicate rather than mistaken for a new ratchet key.
    retired: VecDeque<DhPublicKey>,
    skipped: SkippedKeys,
}

/// The responder's ratchet before its first message: it can only receive
/// (§7.1: Bob's first ratchet key is his signed prekey).
pub(crate) struct ResponderStart {
    root_key: RootKey,
    ratchet_key: DhKeyPair,
}

/// A ciphertext and the header bytes it was authenticated with.
pub(crate) struct Encrypted {
    pub(crate) header: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
}

impl DoubleRatchet {
    /// Alice's ratchet (§3.3 `RatchetInitAlice`), towards Bob's signed prekey.
    pub(crate) fn initiator(
        shared_key: SharedKey,
        their_signed_prekey: &DhPublicKey,
        seed: &DhSeed,
    ) -> Result<Self, RatchetError> {
        let ratchet_key = seed.key_pair();
        let (root_key, sending) =
            RootKey::new(shared_key.0).advance(&ratchet_key, their_signed_prekey)?;
        Ok(Self {
            root_key,
            ratchet_key,
            sending,
            previous_counter: 0,
            receiving: VecDeque::new(),
            retired: VecDeque::new(),
            skipped: SkippedKeys::default(),
        })
    }

    /// Bob's ratchet (§3.3 `RatchetInitBob`), before his first message.
    pub(crate) fn responder(shared_key: SharedKey, signed_prekey: DhKeyPair) -> ResponderStart {
        ResponderStart { root_key: RootKey::new(shared_key.0), ratchet_key: signed_prekey }
    }

    /// Encrypts the next message (§3.4 `RatchetEncrypt`).
    pub(crate) fn encrypt(
        &mut self,
        ad: &AssociatedData,
        plaintext: &[u8],
    ) -> Result<Encrypted, RatchetError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(RatchetError::PlaintextTooLarge {
                max: MAX_PLAINTEXT_LEN,
                found: plaintext.len(),
            });
        }
        let mut sending = self.sending.clone();
        let message_key = sending.next_message_key()?;
        let header = Header {
            ratchet_key: self.ratchet_key.public(),
            previous_counter: self.previous_counter,
            counter: message_key.counter(),
        }
        .encode();
        let ciphertext = message_key.encrypt(plaintext, ad, &header)?;
        self.sending = sending;
        Ok(Encrypted { header, ciphertext })
    }

    /// Decrypts a message (§3.5 `RatchetDecrypt`), changing nothing unless
    /// it authenticates; a DH ratchet step draws its new key pair from
    /// `seeds`, and the work before the tag is checked comes out of `budget`.
    pub(crate) fn decrypt<S: SeedSource + ?Sized>(
        &mut self,
        ad: &AssociatedData,
        header_bytes: &[u8],
        ciphertext: &[u8],
        seeds: &mut S,
        budget: &mut WorkBudget,
    ) -> Result<Vec<u8>, RatchetError> {
        let header = Header::decode(header_bytes)?;
        let chain = self.receiving.iter().position(|c| c.ratchet_key == header.ratchet_key);

        // A message ahead in a chain we know.
        if let Some((index, receiving)) =
            chain.and_then(|index| Some((index, self.receiving.get(index)?)))
            && header.counter >= receiving.chain_key.counter()
        {
            budget.spend(receiving.chain_key.skip_count(header.counter)?.saturating_add(1))?;
            let caught = receiving.chain_key.catch_up(header.counter)?;
            let plaintext = caught.message_key.decrypt(ciphertext, ad, header_bytes)?;
            self.skipped.extend(header.ratchet_key, caught.skipped_keys());
            if let Some(receiving) = self.receiving.get_mut(index) {
                receiving.chain_key = caught.chain;
            }
            return Ok(plaintext);
        }

        // A message we skipped over earlier.
        if let Some(index) = self.skipped.find(&header.ratchet_key, header.counter) {
            let skipped = self.skipped.get(index).ok_or(RatchetError::AuthenticationFailed)?;
            let plaintext = skipped.message_key.decrypt(ciphertext, ad, header_bytes)?;
            self.skipped.remove(index);
            return Ok(plaintext);
        }
        if chain.is_some() || self.retired.contains(&header.ratchet_key) {
            return Err(RatchetError::DuplicateMessage { counter: header.counter });
        }

        // A new ratchet key: the peer has heard from us and turned the DH
        // ratchet. The bounds are checked first; the newest chain is skipped
        // to PN only once the message authenticated (its keys do not key
        // this message).
        let old_chain_ends = self
            .receiving
            .front()
            .filter(|current| header.previous_counter > current.chain_key.counter())
            .map(|current| current.chain_key.skip_count(header.previous_counter))
            .transpose()?;
        if header.counter > MAX_SKIP {
            return Err(RatchetError::TooFarAhead { skip: header.counter, max: MAX_SKIP });
        }
        budget.spend(DH_RATCHET_WORK.saturating_add(header.counter).saturating_add(1))?;
        let (root_key, receiving) =
            self.root_key.advance(&self.ratchet_key, &header.ratchet_key)?;
        let caught = receiving.catch_up(header.counter)?;
        let plaintext = caught.message_key.decrypt(ciphertext, ad, header_bytes)?;
        let turned = root_key::turn(&root_key, &header.ratchet_key, seeds)?;

        if old_chain_ends.is_some()
            && let Some(current) = self.receiving.front_mut()
        {
            let (chain_key, old_skipped) = current.chain_key.skip_to(header.previous_counter)?;
            current.chain_key = chain_key;
            self.skipped.extend(current.ratchet_key, old_skipped);
        }
        self.skipped.extend(header.ratchet_key, caught.skipped_keys());
        let receiving = caught.chain;
        self.previous_counter = self.sending.counter();
        self.sending = turned.sending;
        self.ratchet_key = turned.ratchet_key;
        self.root_key = turned.root_key;
        self.receiving
            .push_front(ReceivingChain { ratchet_key: header.ratchet_key, chain_key: receiving });
        while self.receiving.len() > MAX_RECEIVING_CHAINS {
            if let Some(forgotten) = self.receiving.pop_back() {
                self.retired.push_front(forgotten.ratchet_key);
            }
        }
        self.retired.truncate(MAX_RETIRED_RATCHET_KEYS);
        Ok(plaintext)
    }

    /// Our current ratchet public key.
    #[cfg(test)]
    pub(crate) fn ratchet_public_key(&self) -> DhPublicKey {
        self.ratchet_key.public()
    }

    /// Writes the ratchet's fields of a stored session.
    pub(crate) fn to_record(&self, state: &mut storage::SessionState) {
        state.root_key = self.root_key.as_bytes().to_vec();
        state.ratchet_private_key = self.ratchet_key.secret_bytes().to_vec();
        state.ratchet_public_key = self.ratchet_key.public().to_bytes().to_vec();
        state.sending_chain_key = self.sending.as_bytes().to_vec();
        state.sending_counter = self.sending.counter();
        state.previous_counter = self.previous_counter;
        state.receiving_chains = self
            .receiving
            .iter()
            .map(|chain| storage::ReceivingChain {
                ratchet_key: chain.ratchet_key.to_bytes().to_vec(),
                chain_key: chain.chain_key.as_bytes().to_vec(),
                counter: chain.chain_key.counter(),
            })
            .collect();
        state.retired_ratchet_keys = self.retired.iter().flat_map(DhPublicKey::to_bytes).collect();
        state.skipped_keys = self
            .skipped
            .iter()
            .map(|skipped| storage::SkippedKey {
                ratchet_key: skipped.ratchet_key.to_bytes().to_vec(),
                counter: skipped.message_key.counter(),
                message_key: skipped.message_key.as_bytes().to_vec(),
            })
            .collect();
    }

    /// Reads the ratchet's fields of a stored session.
    pub(crate) fn from_record(state: &storage::SessionState) -> Result<Self, RecordError> {
        let invalid = |field| move |_| RecordError::InvalidField { field };
        if state.receiving_chains.len() > MAX_RECEIVING_CHAINS {
            return Err(RecordError::InvalidField { field: "receiving_chains" });
        }
        if state.skipped_keys.len() > MAX_SKIPPED_KEYS {
            return Err(RecordError::InvalidField { field: "skipped_keys" });
        }
        let receiving = state
            .receiving_chains
            .iter()
            .map(|chain| {
                Ok(ReceivingChain {
                    ratchet_key: DhPublicKey::from_stored_bytes(&chain.ratchet_key)
                        .map_err(invalid("receiving_chains.ratchet_key"))?,
                    chain_key: ChainKey::new(
                        record::secret32(&chain.chain_key, "receiving_chains.chain_key")?,
                        chain.counter,
                    ),
                })
            })
            .collect::<Result<_, RecordError>>()?;
        if state.retired_ratchet_keys.len() > 32 * MAX_RETIRED_RATCHET_KEYS
            || !state.retired_ratchet_keys.len().is_multiple_of(32)
        {
            return Err(RecordError::InvalidField { field: "retired_ratchet_keys" });
        }
        let retired = state
            .retired_ratchet_keys
            .chunks_exact(32)
            .map(|key| DhPublicKey::from_stored_bytes(key).map_err(invalid("retired_ratchet_keys")))
            .collect::<Result<_, RecordError>>()?;
        let ratchet_secret = record::secret32(&state.ratchet_private_key, "ratchet_private_key")?;
        // Records of earlier builds of version 1 lack the public half: derive it.
        let ratchet_key = if state.ratchet_public_key.is_empty() {
            DhKeyPair::from_secret_bytes(&ratchet_secret)
        } else {
            DhKeyPair::from_stored(
                &ratchet_secret,
                DhPublicKey::from_stored_bytes(&state.ratchet_public_key)
                    .map_err(invalid("ratchet_public_key"))?,
            )
        };
        let mut skipped = SkippedKeys::default();
        for key in &state.skipped_keys {
            let ratchet_key = DhPublicKey::from_stored_bytes(&key.ratchet_key)
                .map_err(invalid("skipped_keys.ratchet_key"))?;
            let message_key = record::secret32(&key.message_key, "skipped_keys.message_key")?;
            skipped.extend(ratchet_key, vec![MessageKey::new(message_key, key.counter)]);
        }
        Ok(Self {
            root_key: RootKey::new(record::secret32(&state.root_key, "root_key")?),
            ratchet_key,
            sending: ChainKey::new(
                record::secret32(&state.sending_chain_key, "sending_chain_key")?,
                state.sending_counter,
            ),
            previous_counter: state.previous_counter,
            receiving,
            retired,
            skipped,
        })
    }
}

impl ResponderStart {
    /// Decrypts the first message to arrive, which turns the responder's
    /// ratchet into a full session.
    pub(crate) fn decrypt<S: SeedSource + ?Sized>(
        self,
        ad: &AssociatedData,
        header_bytes: &[u8],
        ciphertext: &[u8],
        seeds: &mut S,
    ) -> Result<(DoubleRatchet, Vec<u8>), RatchetError> {
        let header = Header::decode(header_bytes)?;
        let (root_key, receiving) =
            self.root_key.advance(&self.ratchet_key, &header.ratchet_key)?;
        let caught = receiving.catch_up(header.counter)?;
        let plaintext = caught.message_key.decrypt(ciphertext, ad, header_bytes)?;
        let turned = root_key::turn(&root_key, &header.ratchet_key, seeds)?;
        let mut skipped_keys = SkippedKeys::default();
        skipped_keys.extend(header.ratchet_key, caught.skipped_keys());
        let receiving = caught.chain;
        let ratchet = DoubleRatchet {
            root_key: turned.root_key,
            ratchet_key: turned.ratchet_key,
            sending: turned.sending,
            previous_counter: 0,
            receiving: VecDeque::from([ReceivingChain {
                ratchet_key: header.ratchet_key,
                chain_key: receiving,
            }]),
            retired: VecDeque::new(),
            skipped: skipped_keys,
        };
        Ok((ratchet, plaintext))
    }
}

#[cfg(test)]
mod tests;
