//! Group-call key ids: a frame's KID names the epoch, the participant and
//! the sender-key ratchet step of the key that encrypted it.

use core::fmt;

use super::CallError;
use crate::media::KeyId;

/// Bits of a group-call KID that hold the sender-key ratchet step (the
/// `R` of RFC 9605 §5.1): the low 8.
pub const STEP_BITS: u32 = 8;

/// Bits of a group-call KID that hold the participant id: the 16 above the
/// step.
pub const PARTICIPANT_BITS: u32 = 16;

/// Bits of a group-call KID that hold the epoch: the high 40.
pub const EPOCH_BITS: u32 = 64 - PARTICIPANT_BITS - STEP_BITS;

/// The largest epoch, `2^40 - 1`.
pub const MAX_EPOCH: u64 = (1 << EPOCH_BITS) - 1;

/// The largest ratchet step, `2^8 - 1`: after 255 joins in one epoch a
/// participant must [`rekey`](super::GroupCall::rekey) before the next join.
pub const MAX_STEP: u8 = u8::MAX;

/// The largest encoded sender key message Sotto parses, in bytes (a valid
/// one is at most 342: a 255-byte call id and a 64-byte secret).
pub const MAX_SENDER_KEY_MESSAGE_LEN: usize = 512;

/// The longest sender secret: `Nh` of the SHA-512 suites.
pub(super) const MAX_SECRET_LEN: usize = 64;

/// A participant's id in a group call, assigned by the app's signalling
/// and unique within the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParticipantId(pub(super) u16);

impl ParticipantId {
    /// Wraps a participant id.
    #[must_use]
    pub const fn new(value: u16) -> Self {
        Self(value)
    }

    /// The id as a number.
    #[must_use]
    pub const fn value(self) -> u16 {
        self.0
    }
}

impl From<u16> for ParticipantId {
    fn from(value: u16) -> Self {
        Self(value)
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A group call's key epoch: every remaining participant moves to the next
/// one when a participant leaves. At most [`MAX_EPOCH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub(super) u64);

impl Epoch {
    /// Epoch 0.
    pub const ZERO: Self = Self(0);

    /// An epoch from its number (the call's signalling tells a newcomer the
    /// current one).
    ///
    /// # Errors
    /// [`CallError::EpochOutOfRange`] above [`MAX_EPOCH`].
    pub const fn new(value: u64) -> Result<Self, CallError> {
        if value > MAX_EPOCH {
            return Err(CallError::EpochOutOfRange { max: MAX_EPOCH, found: value });
        }
        Ok(Self(value))
    }

    /// The epoch as a number.
    #[must_use]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The epoch after this one.
    ///
    /// # Errors
    /// [`CallError::EpochOutOfRange`] after [`MAX_EPOCH`].
    pub const fn next(self) -> Result<Self, CallError> {
        Self::new(self.0.saturating_add(1))
    }

    /// The epoch before this one (epoch 0 for epoch 0).
    pub(super) const fn previous(self) -> Self {
        Self(self.0.saturating_sub(1))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A group-call KID taken apart: `epoch << 24 | participant << 8 | step`.
///
/// This is the KID layout of RFC 9605 §5.1 with `R` = [`STEP_BITS`] and
/// key generation `epoch << 16 | participant`; every 64-bit KID splits into
/// a valid `GroupKeyId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKeyId {
    pub(super) epoch: Epoch,
    pub(super) participant: ParticipantId,
    pub(super) step: u8,
}

impl GroupKeyId {
    /// The key of `participant` at ratchet step `step` of epoch `epoch`.
    #[must_use]
    pub const fn new(epoch: Epoch, participant: ParticipantId, step: u8) -> Self {
        Self { epoch, participant, step }
    }

    /// Splits an SFrame KID.
    #[must_use]
    pub const fn from_kid(kid: KeyId) -> Self {
        let v = kid.value();
        Self {
            epoch: Epoch(v >> (PARTICIPANT_BITS + STEP_BITS)),
            #[allow(clippy::cast_possible_truncation, reason = "masked to 16 bits")]
            participant: ParticipantId((v >> STEP_BITS) as u16),
            #[allow(clippy::cast_possible_truncation, reason = "masked to 8 bits")]
            step: v as u8,
        }
    }

    /// The SFrame KID.
    #[must_use]
    pub const fn kid(self) -> KeyId {
        KeyId::new(
            (self.epoch.0 << (PARTICIPANT_BITS + STEP_BITS))
                | ((self.participant.0 as u64) << STEP_BITS)
                | self.step as u64,
        )
    }

    /// The epoch.
    #[must_use]
    pub const fn epoch(self) -> Epoch {
        self.epoch
    }

    /// The sending participant.
    #[must_use]
    pub const fn participant(self) -> ParticipantId {
        self.participant
    }

    /// The sender-key ratchet step.
    #[must_use]
    pub const fn step(self) -> u8 {
        self.step
    }
}

impl fmt::Display for GroupKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}, participant {}, step {}", self.epoch, self.participant, self.step)
    }
}
