//! The keys one participant holds: its own sending key, and what it keeps
//! of every other participant's keys.

use rand_core::CryptoRng;

use zeroize::Zeroizing;

use super::kid::MAX_SECRET_LEN;
use super::{CallError, Epoch, GroupKeyId, ParticipantId};
use crate::media::{
    BaseKey, CipherSuite, SframeError, SframeReceiver, SframeSender, ratchet_base_key,
};

/// This participant's sending key: `base_key[step]` of its secret for the
/// epoch, and the SFrame sender for that KID.
pub(super) struct SendingKey {
    pub(super) id: GroupKeyId,
    pub(super) base_key: BaseKey,
    pub(super) sender: SframeSender,
}

impl SendingKey {
    /// Step 0 of a new random secret of `Nh` bytes.
    pub(super) fn random<R: CryptoRng + ?Sized>(
        suite: CipherSuite,
        me: ParticipantId,
        epoch: Epoch,
        rng: &mut R,
    ) -> Result<Self, CallError> {
        let mut bytes = Zeroizing::new([0u8; MAX_SECRET_LEN]);
        let secret = bytes.get_mut(..suite.nh()).ok_or(SframeError::Internal)?;
        rng.fill_bytes(secret);
        Self::new(suite, GroupKeyId::new(epoch, me, 0), BaseKey::from_bytes(secret)?)
    }

    /// A sender whose counter starts at 0. Safe: no other sender ever has
    /// this KID and base key (see docs/PROTOCOL.md §9, "Counters").
    pub(super) fn new(
        suite: CipherSuite,
        id: GroupKeyId,
        base_key: BaseKey,
    ) -> Result<Self, CallError> {
        let sender = SframeSender::new(suite, id.kid(), &base_key)?;
        Ok(Self { id, base_key, sender })
    }

    /// The next ratchet step of the same secret.
    pub(super) fn ratcheted(&self, suite: CipherSuite) -> Result<Self, CallError> {
        let step = self
            .id
            .step
            .checked_add(1)
            .ok_or(CallError::StepsExhausted { epoch: self.id.epoch })?;
        let id = GroupKeyId { step, ..self.id };
        Self::new(suite, id, ratchet_base_key(suite, &self.base_key)?)
    }
}

/// What one receiver holds of another participant's keys: one epoch, its
/// newest known ratchet step (with the base key, to ratchet further) and
/// the step before it, for frames still in flight across a join.
pub(super) struct PeerKeys {
    pub(super) id: GroupKeyId,
    pub(super) base_key: BaseKey,
    pub(super) current: SframeReceiver,
    pub(super) previous: Option<(u8, SframeReceiver)>,
}

pub(super) fn receiver_for(
    suite: CipherSuite,
    id: GroupKeyId,
    base_key: &BaseKey,
) -> Result<SframeReceiver, CallError> {
    let mut receiver = SframeReceiver::new();
    receiver.add_key(suite, id.kid(), base_key)?;
    Ok(receiver)
}

impl PeerKeys {
    pub(super) fn new(
        suite: CipherSuite,
        id: GroupKeyId,
        base_key: BaseKey,
    ) -> Result<Self, CallError> {
        let current = receiver_for(suite, id, &base_key)?;
        Ok(Self { id, base_key, current, previous: None })
    }

    /// Decrypts a frame of this sender's epoch at `step`, ratcheting this
    /// copy of its key forward (on the side, kept only if the frame
    /// authenticates) when `step` is newer than the newest known.
    pub(super) fn decrypt_into(
        &mut self,
        suite: CipherSuite,
        step: u8,
        metadata: &[u8],
        frame: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CallError> {
        if step == self.id.step {
            return Ok(self.current.decrypt_into(metadata, frame, out)?);
        }
        if step < self.id.step {
            return match &mut self.previous {
                Some((previous, receiver)) if *previous == step => {
                    Ok(receiver.decrypt_into(metadata, frame, out)?)
                }
                _ => Err(CallError::StaleStep {
                    participant: self.id.participant,
                    current: self.id.step,
                    found: step,
                }),
            };
        }
        // At most MAX_STEP ratchet steps, whatever the unauthenticated header says.
        let id = GroupKeyId { step, ..self.id };
        let mut base_key = ratchet_base_key(suite, &self.base_key)?;
        for _ in self.id.step.saturating_add(1)..step {
            base_key = ratchet_base_key(suite, &base_key)?;
        }
        let mut receiver = receiver_for(suite, id, &base_key)?;
        let len = receiver.decrypt_into(metadata, frame, out)?;
        let older = core::mem::replace(&mut self.current, receiver);
        self.previous = Some((self.id.step, older));
        self.id = id;
        self.base_key = base_key;
        Ok(len)
    }
}
