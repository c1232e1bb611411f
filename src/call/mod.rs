//! Call keys: the SFrame base keys of voice and video calls, agreed over DM
//! sessions so that the service that relays the media never learns them.
//!
//! - **1:1 calls** ([`OneToOneCallKeys`]): both sides derive the same two
//!   per-direction base keys from their DM session's exporter secret and
//!   the call id; nothing extra is sent.
//! - **Group calls** ([`GroupCall`]): each participant's random sender
//!   secret travels to every other participant over their DM sessions; a
//!   join ratchets every sender key forward, a leave starts a new epoch with
//!   new secrets, and each frame's KID names its epoch, sender and ratchet
//!   step ([`GroupKeyId`]).
//!
//! docs/PROTOCOL.md §9 gives the derivations exactly.
//!
//! ```
//! # use sotto::keys::{IdentityKeyPair, PreKeyBundle};
//! # use sotto::session::{Address, SessionManager};
//! # use sotto::store::InMemoryStore;
//! use sotto::call::CallId;
//! use sotto::media::CipherSuite;
//! # let mut rng = sotto::rng::os_rng();
//! # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
//! # let alice = SessionManager::new(a.clone(), InMemoryStore::new(IdentityKeyPair::generate(&mut rng)));
//! # let bob = SessionManager::new(b.clone(), InMemoryStore::new(IdentityKeyPair::generate(&mut rng)));
//! # let bundle = PreKeyBundle::new(bob.identity_key()?, bob.generate_signed_prekey(1.into())?, None);
//! # alice.process_bundle(&b, &bundle.to_bytes())?;
//! # let offer = alice.encrypt(&b, b"call offer")?;
//! # bob.decrypt(&a, &offer)?.commit()?;
//! // Alice and Bob have a DM session; the call's signalling named a call id.
//! let call = CallId::new(*b"call-2026-11-25-0001")?;
//! let suite = CipherSuite::Aes128GcmSha256_128;
//! let on_alice = alice.call_keys(&b, &call)?;
//! let on_bob = bob.call_keys(&a, &call)?;
//!
//! let mut alice_sends = on_alice.sender(suite)?;
//! let mut bob_receives = on_bob.receiver(suite)?;
//! let frame = alice_sends.encrypt(b"", b"an opus frame")?;
//! assert_eq!(bob_receives.decrypt(b"", &frame)?, b"an opus frame");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod group;

pub use group::{
    EPOCH_BITS, Epoch, GroupCall, GroupKeyId, MAX_EPOCH, MAX_SENDER_KEY_MESSAGE_LEN, MAX_STEP,
    PARTICIPANT_BITS, ParticipantId, STEP_BITS,
};

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::kdf::hkdf_sha256;
use crate::keys::IdentityKey;
use crate::media::{BaseKey, CipherSuite, KeyId, SframeError, SframeReceiver, SframeSender};
use crate::protocol::{CALL_KEY_LABEL, MAX_CALL_ID_LEN};

/// The KID of the direction whose sender has the lower identity key (as
/// bytes) in a 1:1 call; the other direction uses [`ONE_TO_ONE_KID_HIGH`].
pub const ONE_TO_ONE_KID_LOW: u64 = 0;

/// The KID of the direction whose sender has the higher identity key.
pub const ONE_TO_ONE_KID_HIGH: u64 = 1;

/// Why call keys could not be made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// A call id must be 1 to [`MAX_CALL_ID_LEN`] bytes.
    #[error("a call id must be 1 to {max} bytes, found {found}")]
    InvalidCallId {
        /// The limit.
        max: usize,
        /// The id's length.
        found: usize,
    },
    /// Both ends of a 1:1 call have the same identity key: the two
    /// directions would share a key and reuse nonces.
    #[error("both ends of the call have the same identity key")]
    SameIdentity,
    /// The DM session was stored by a build that predates call keys and
    /// has no exporter secret: start a new session to call.
    #[error("the session predates call keys; start a new session")]
    SessionPredatesCallKeys,
    /// [`OneToOneCallKeys::sender`] was called a second time: two senders
    /// under one key would repeat counters, and so nonces.
    #[error("these call keys already made their sender")]
    SenderAlreadyMade,
    /// SFrame refused a key or a frame.
    #[error(transparent)]
    Sframe(#[from] SframeError),
    /// A group-call sender key message could not be parsed, or a field is
    /// out of range.
    #[error("malformed sender key message: {reason}")]
    MalformedSenderKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A sender key message has a version this build does not read.
    #[error("sender key message version {found} is not supported (this build reads {expected})")]
    UnsupportedSenderKeyVersion {
        /// The version this build reads.
        expected: u32,
        /// The version in the message.
        found: u32,
    },
    /// A sender key message is for another call.
    #[error("the sender key message is for call {found:?}, not {expected:?}")]
    WrongCall {
        /// This call's id.
        expected: CallId,
        /// The call id in the message.
        found: CallId,
    },
    /// A sender key message is for another cipher suite than the call's.
    #[error("the sender key message is for cipher suite 0x{found:04x}, not {expected:?}")]
    WrongCipherSuite {
        /// The call's suite.
        expected: CipherSuite,
        /// The suite id in the message.
        found: u16,
    },
    /// A sender key message names another participant than the one whose
    /// DM session it arrived in: no participant may send under another's KID.
    #[error("the sender key message names participant {found}, expected {expected}")]
    WrongSender {
        /// The participant the DM session belongs to.
        expected: ParticipantId,
        /// The participant the message names.
        found: ParticipantId,
    },
    /// An operation named this participant where only another fits (a
    /// sender key "from" itself, its own join or leave).
    #[error("participant {participant} is this participant")]
    OwnParticipant {
        /// This participant's id.
        participant: ParticipantId,
    },
    /// A frame is from a participant no sender key was received from.
    #[error("no sender key from participant {participant}")]
    UnknownSender {
        /// The participant the frame's KID names.
        participant: ParticipantId,
    },
    /// A frame or sender key is from a participant that left the call (or
    /// is a key from before it left).
    #[error("participant {participant} left the call")]
    RemovedParticipant {
        /// The participant.
        participant: ParticipantId,
    },
    /// A frame or sender key is of an epoch older than the key held.
    #[error("epoch {found} of participant {participant} is older than epoch {current}")]
    StaleEpoch {
        /// The participant.
        participant: ParticipantId,
        /// The oldest epoch still accepted from it.
        current: Epoch,
        /// The epoch of the frame or key.
        found: Epoch,
    },
    /// A frame or sender key is of a ratchet step older than those held (a
    /// repeated sender key included).
    #[error("step {found} of participant {participant} is not newer than step {current}")]
    StaleStep {
        /// The participant.
        participant: ParticipantId,
        /// The newest step held for it.
        current: u8,
        /// The step of the frame or key.
        found: u8,
    },
    /// This participant used every ratchet step of its epoch
    /// ([`MAX_STEP`] joins): [`GroupCall::rekey`] before the next join.
    #[error("every ratchet step of epoch {epoch} is used")]
    StepsExhausted {
        /// The epoch.
        epoch: Epoch,
    },
    /// An epoch does not fit in the [`EPOCH_BITS`] bits of a KID.
    #[error("epoch {found} is above the largest, {max}")]
    EpochOutOfRange {
        /// [`MAX_EPOCH`].
        max: u64,
        /// The epoch asked for.
        found: u64,
    },
}

/// The id of a call, chosen by the app's signalling (1 to 255 bytes).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CallId(Vec<u8>);

impl CallId {
    /// A call id from its bytes.
    ///
    /// # Errors
    /// [`CallError::InvalidCallId`] if empty or longer than [`MAX_CALL_ID_LEN`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, CallError> {
        let bytes = bytes.into();
        if bytes.is_empty() || bytes.len() > MAX_CALL_ID_LEN {
            return Err(CallError::InvalidCallId { max: MAX_CALL_ID_LEN, found: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({})", String::from_utf8_lossy(&self.0))
    }
}

/// One direction of a 1:1 call: its KID and SFrame base key.
pub struct DirectionKey {
    kid: KeyId,
    base_key: BaseKey,
}

impl DirectionKey {
    /// The SFrame key id of this direction.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// The SFrame base key of this direction.
    pub fn base_key(&self) -> &BaseKey {
        &self.base_key
    }
}

impl fmt::Debug for DirectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectionKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The two per-direction SFrame keys of a 1:1 call, as seen from one side.
#[derive(Debug)]
pub struct OneToOneCallKeys {
    send: DirectionKey,
    receive: DirectionKey,
    /// Set once [`sender`](Self::sender) made the one sender these keys
    /// allow: a second would start its counter at 0 again and reuse nonces.
    sender_made: AtomicBool,
}

impl OneToOneCallKeys {
    /// Derives the keys of call `call_id` from a DM session's exporter secret.
    pub(crate) fn derive(
        exporter_secret: &[u8; 32],
        call_id: &CallId,
        local: &IdentityKey,
        remote: &IdentityKey,
    ) -> Result<Self, CallError> {
        if local == remote {
            return Err(CallError::SameIdentity);
        }
        let direction = |sender: &IdentityKey, receiver: &IdentityKey| {
            let info = [CALL_KEY_LABEL, sender.as_bytes(), receiver.as_bytes()].concat();
            let key = hkdf_sha256::<32>(call_id.as_bytes(), exporter_secret, &info);
            let kid = if sender.as_bytes() < receiver.as_bytes() {
                ONE_TO_ONE_KID_LOW
            } else {
                ONE_TO_ONE_KID_HIGH
            };
            Ok::<_, CallError>(DirectionKey {
                kid: KeyId::new(kid),
                base_key: BaseKey::from_bytes(key.as_ref())?,
            })
        };
        Ok(Self {
            send: direction(local, remote)?,
            receive: direction(remote, local)?,
            sender_made: AtomicBool::new(false),
        })
    }

    /// The key this side sends with.
    pub fn send(&self) -> &DirectionKey {
        &self.send
    }

    /// The key this side receives with.
    pub fn receive(&self) -> &DirectionKey {
        &self.receive
    }

    /// The SFrame sender for this side's frames: one per derivation, kept
    /// for the call's length.
    ///
    /// **Warning:** the keys of a call id are the same each time they are
    /// derived from the same session. Derive them once per call; a side that
    /// loses its sender (a restart) must not send again under the same call
    /// id, since a new sender would start its counter at 0 and reuse nonces.
    ///
    /// # Errors
    /// [`CallError::SenderAlreadyMade`] on a second call (its counter would
    /// repeat the first sender's), or [`CallError::Sframe`] if the suite
    /// refuses the key.
    pub fn sender(&self, suite: CipherSuite) -> Result<SframeSender, CallError> {
        if self.sender_made.swap(true, Ordering::SeqCst) {
            return Err(CallError::SenderAlreadyMade);
        }
        Ok(SframeSender::new(suite, self.send.kid, &self.send.base_key)?)
    }

    /// An SFrame receiver for the other side's frames.
    ///
    /// # Errors
    /// [`SframeError`] if the suite refuses the key.
    pub fn receiver(&self, suite: CipherSuite) -> Result<SframeReceiver, SframeError> {
        let mut receiver = SframeReceiver::new();
        receiver.add_key(suite, self.receive.kid, &self.receive.base_key)?;
        Ok(receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::IdentityKeyPair;
    use crate::rng::test_rng;

    #[test]
    fn both_sides_agree_per_direction_and_directions_differ() {
        let mut rng = test_rng(40);
        let (a, b) = (
            IdentityKeyPair::generate(&mut rng).public(),
            IdentityKeyPair::generate(&mut rng).public(),
        );
        let call = CallId::new(*b"call").unwrap();
        let on_a = OneToOneCallKeys::derive(&[9; 32], &call, &a, &b).unwrap();
        let on_b = OneToOneCallKeys::derive(&[9; 32], &call, &b, &a).unwrap();
        assert_eq!(
            on_a.send().base_key().expose_secret(),
            on_b.receive().base_key().expose_secret()
        );
        assert_eq!(
            on_a.receive().base_key().expose_secret(),
            on_b.send().base_key().expose_secret()
        );
        assert_ne!(
            on_a.send().base_key().expose_secret(),
            on_a.receive().base_key().expose_secret()
        );
        assert_eq!(on_a.send().kid(), on_b.receive().kid());
        assert_ne!(on_a.send().kid(), on_a.receive().kid());
    }

    #[test]
    fn another_call_or_session_gives_other_keys() {
        let mut rng = test_rng(41);
        let (a, b) = (
            IdentityKeyPair::generate(&mut rng).public(),
            IdentityKeyPair::generate(&mut rng).public(),
        );
        let keys = |exporter: [u8; 32], call: &[u8]| {
            let call = CallId::new(call).unwrap();
            OneToOneCallKeys::derive(&exporter, &call, &a, &b)
                .unwrap()
                .send()
                .base_key()
                .expose_secret()
                .to_vec()
        };
        assert_ne!(keys([1; 32], b"one"), keys([1; 32], b"two"));
        assert_ne!(keys([1; 32], b"one"), keys([2; 32], b"one"));
    }

    #[test]
    fn refuses_bad_ids_and_self_calls() {
        assert!(matches!(CallId::new(Vec::new()), Err(CallError::InvalidCallId { found: 0, .. })));
        assert!(CallId::new(vec![0; MAX_CALL_ID_LEN + 1]).is_err());
        let key = IdentityKeyPair::generate(&mut test_rng(42)).public();
        let call = CallId::new(*b"x").unwrap();
        assert_eq!(
            OneToOneCallKeys::derive(&[0; 32], &call, &key, &key).err(),
            Some(CallError::SameIdentity)
        );
    }
}
