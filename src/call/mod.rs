//! Call keys: the SFrame base keys of voice and video calls, agreed over DM
//! sessions so that the service that relays the media never learns them.
//!
//! - **1:1 calls** ([`OutgoingCall`], [`CallOffer`], [`OneToOneCall`]): a
//!   per-call key agreement. The offer and the answer each carry a fresh
//!   X25519 ephemeral key and travel inside the DM session; the two
//!   directions' keys come from their Diffie-Hellman, so every agreement
//!   (every restart of a side, every answering device) has its own keys.
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
//! # let kem = bob.generate_last_resort_kem_prekey(1.into())?;
//! # let bundle = PreKeyBundle::new(bob.identity_key()?, bob.generate_signed_prekey(1.into())?, kem, None);
//! # alice.process_bundle(&b, &bundle.to_bytes())?;
//! # bob.decrypt(&a, &alice.encrypt(&b, b"hi")?)?.commit()?;
//! // Alice and Bob have a DM session; the call's signalling named a call id.
//! let call_id = CallId::new(*b"call-2026-11-25-0001")?;
//! let (calling, offer) = alice.offer_call(&b, call_id, CipherSuite::Aes128GcmSha256_128)?;
//! let offer = bob.decrypt(&a, &alice.encrypt(&b, &offer)?)?.commit()?;
//!
//! // Bob's phone rings; he picks up.
//! let offer = bob.parse_call_offer(&a, &offer)?;
//! let (mut on_bob, answer) = bob.accept_call(&a, offer)?;
//! let answer = alice.decrypt(&b, &bob.encrypt(&a, &answer)?)?.commit()?;
//! let mut on_alice = calling.receive_answer(&answer)?;
//!
//! let frame = on_alice.encrypt(b"", b"an opus frame")?;
//! assert_eq!(on_bob.decrypt(b"", &frame)?, b"an opus frame");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod group;
mod one_to_one;

pub use group::{
    EPOCH_BITS, Epoch, GroupCall, GroupKeyId, MAX_EPOCH, MAX_SENDER_KEY_MESSAGE_LEN, MAX_STEP,
    PARTICIPANT_BITS, ParticipantId, STEP_BITS,
};
pub use one_to_one::{CallOffer, DirectionKey, OneToOneCall, OutgoingCall, RefusedAnswer};

use core::fmt;

use crate::media::{CipherSuite, SframeError};
use crate::protocol::MAX_CALL_ID_LEN;

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
    /// A 1:1 call's offer or answer could not be parsed, or a field is out
    /// of range.
    #[error("malformed call offer or answer: {reason}")]
    MalformedCallSignal {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A 1:1 call's offer or answer has a version this build does not read.
    #[error("call offer or answer version {found} is not supported (this build reads {expected})")]
    UnsupportedSignalVersion {
        /// The version this build reads.
        expected: u32,
        /// The version in the message.
        found: u32,
    },
    /// An offer names other identity keys than the DM session it arrived in:
    /// it was made for another device, or the two sides know different keys.
    #[error("the offer names other identity keys than the session's")]
    IdentityMismatch,
    /// An answer is not the answer to this call's offer (an answer to an
    /// earlier offer, to another call, or naming other identities).
    #[error("the answer does not answer this offer")]
    AnswerMismatch,
    /// An offer was accepted before: each offer is answered once (a side
    /// that restarted sends a new offer).
    #[error("this offer was already accepted")]
    ReplayedOffer,
    /// An ephemeral key of an offer or answer is a small-order point.
    #[error("the ephemeral key is non-contributory")]
    WeakEphemeralKey,
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
