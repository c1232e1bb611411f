//! Group calls: one SFrame sender key per participant, handed to every
//! other participant over DM sessions, ratcheted on joins and replaced on
//! leaves.
//!
//! Each participant of a [`GroupCall`] encrypts its frames under its own
//! random *sender secret* and gives that secret to every other participant
//! as a [sender key message](GroupCall::sender_key_message), sent as the
//! plaintext of a DM session message: the service relaying the call never
//! sees it. A frame names the key it was encrypted with in its SFrame KID
//! ([`GroupKeyId`]):
//!
//! ```text
//! KID = epoch << 24 | participant << 8 | step       (40 | 16 | 8 bits)
//! ```
//!
//! - **Join** ([`GroupCall::participant_joined`]): every member moves its
//!   own key one step along the sender-key ratchet of RFC 9605 §5.1 and
//!   sends the new step to the newcomer only. The other members follow when
//!   they first authenticate a frame of the new step. The newcomer cannot
//!   decrypt frames sent before it joined.
//! - **Leave** ([`GroupCall::participant_left`]): every remaining member
//!   forgets the leaver's keys at once, moves to the next epoch with a new
//!   random secret and sends it to every remaining member. The leaver cannot
//!   decrypt what is sent in the new epoch.
//!
//! Any failure (a malformed or foreign sender key message, an unknown KID,
//! a replay, a frame of a removed participant or an old epoch, a tag that
//! does not verify) is a [`CallError`] and changes no state.
//!
//! docs/PROTOCOL.md §9 states the formats and rules exactly;
//! [`GroupCall`] has an example of a call of three.

mod keys;
mod kid;
mod sender_key;

use core::fmt;
use std::collections::{BTreeMap, BTreeSet};

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{CallError, CallId};
use crate::media::{CipherSuite, SframeError, SframeHeader};
use keys::{PeerKeys, SendingKey};
pub use kid::{
    EPOCH_BITS, Epoch, GroupKeyId, MAX_EPOCH, MAX_SENDER_KEY_MESSAGE_LEN, MAX_STEP,
    PARTICIPANT_BITS, ParticipantId, STEP_BITS,
};
use sender_key::SenderKey;

/// One participant's view of a group call: its own sending key and the
/// keys it received from the others.
///
/// The app tells it who joined and who left (from the call's signalling),
/// sends the sender key messages it returns over the DM sessions with the
/// participants named, and passes each sender key message it receives to
/// [`receive_sender_key`](Self::receive_sender_key) with the participant id
/// its signalling gave that DM session's address.
///
/// ```
/// use sotto::call::{CallId, Epoch, GroupCall, ParticipantId};
/// use sotto::media::CipherSuite;
///
/// let mut rng = sotto::rng::os_rng();
/// let call = CallId::new(*b"standup-42")?;
/// let suite = CipherSuite::Aes128GcmSha256_128;
/// let (a, b, c) = (ParticipantId::new(1), ParticipantId::new(2), ParticipantId::new(3));
/// let mut alice = GroupCall::new(call.clone(), suite, a, Epoch::ZERO, &mut rng)?;
/// let mut bob = GroupCall::new(call.clone(), suite, b, Epoch::ZERO, &mut rng)?;
///
/// // Each sends its sender key to the other inside their DM session.
/// bob.receive_sender_key(a, &alice.sender_key_message())?;
/// alice.receive_sender_key(b, &bob.sender_key_message())?;
/// let frame = alice.encrypt(b"", b"an opus frame")?;
/// assert_eq!(bob.decrypt(b"", &frame)?, b"an opus frame");
///
/// // Carol joins: Alice and Bob ratchet and send her their new step;
/// // she sends them her key.
/// let mut carol = GroupCall::new(call, suite, c, Epoch::ZERO, &mut rng)?;
/// carol.receive_sender_key(a, &alice.participant_joined(c)?)?;
/// carol.receive_sender_key(b, &bob.participant_joined(c)?)?;
/// alice.receive_sender_key(c, &carol.sender_key_message())?;
/// bob.receive_sender_key(c, &carol.sender_key_message())?;
/// let frame = alice.encrypt(b"", b"step 1")?;
/// assert_eq!(bob.decrypt(b"", &frame)?, b"step 1"); // Bob ratchets his copy
/// assert_eq!(carol.decrypt(b"", &frame)?, b"step 1");
///
/// // Bob leaves: Alice and Carol forget his keys and move to epoch 1.
/// let for_carol = alice.participant_left(b, &mut rng)?;
/// let for_alice = carol.participant_left(b, &mut rng)?;
/// carol.receive_sender_key(a, &for_carol)?;
/// alice.receive_sender_key(c, &for_alice)?;
/// let frame = alice.encrypt(b"", b"epoch 1")?;
/// assert_eq!(carol.decrypt(b"", &frame)?, b"epoch 1");
/// assert!(bob.decrypt(b"", &frame).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// **Warning:** a `GroupCall` is not persisted. A participant that loses it
/// (an app restart) must rejoin the call under a new [`ParticipantId`]:
/// the others would refuse a second secret for a KID they already hold.
pub struct GroupCall {
    call_id: CallId,
    suite: CipherSuite,
    me: ParticipantId,
    own: SendingKey,
    peers: BTreeMap<ParticipantId, PeerKeys>,
    participants: BTreeSet<ParticipantId>,
    /// Participants that left, with the first epoch after their leave: their
    /// keys of earlier epochs are refused even if they rejoin.
    removed: BTreeMap<ParticipantId, Epoch>,
}

impl fmt::Debug for GroupCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCall")
            .field("call_id", &self.call_id)
            .field("suite", &self.suite)
            .field("sending", &self.own.id)
            .field("participants", &self.participants)
            .finish_non_exhaustive()
    }
}

impl GroupCall {
    /// Joins (or starts) call `call_id` as participant `me` in epoch `epoch`
    /// (as the call's signalling says), with a new random sender secret.
    /// Send [`sender_key_message`](Self::sender_key_message) to every other
    /// participant.
    ///
    /// # Errors
    /// Only [`CallError::Sframe`] with an internal error (key derivation
    /// cannot otherwise fail).
    pub fn new<R: CryptoRng + ?Sized>(
        call_id: CallId,
        suite: CipherSuite,
        me: ParticipantId,
        epoch: Epoch,
        rng: &mut R,
    ) -> Result<Self, CallError> {
        Ok(Self {
            own: SendingKey::random(suite, me, epoch, rng)?,
            call_id,
            suite,
            me,
            peers: BTreeMap::new(),
            participants: BTreeSet::from([me]),
            removed: BTreeMap::new(),
        })
    }

    /// The call's id.
    #[must_use]
    pub const fn call_id(&self) -> &CallId {
        &self.call_id
    }

    /// The call's cipher suite.
    #[must_use]
    pub const fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// This participant's id.
    #[must_use]
    pub const fn me(&self) -> ParticipantId {
        self.me
    }

    /// The epoch this participant sends in.
    #[must_use]
    pub const fn epoch(&self) -> Epoch {
        self.own.id.epoch
    }

    /// The KID this participant's next frame carries.
    #[must_use]
    pub const fn key_id(&self) -> GroupKeyId {
        self.own.id
    }

    /// The participants this one knows are in the call, itself included, in
    /// increasing order: those the app said joined and those it received a
    /// sender key from, less those that left.
    pub fn participants(&self) -> impl ExactSizeIterator<Item = ParticipantId> + '_ {
        self.participants.iter().copied()
    }

    /// The newest key held for `participant`'s frames, if any.
    #[must_use]
    pub fn sender_key_of(&self, participant: ParticipantId) -> Option<GroupKeyId> {
        self.peers.get(&participant).map(|peer| peer.id)
    }

    /// This participant's current sender key, encoded (`wire.proto`,
    /// `CallSenderKey`), to send to one or more participants as the
    /// plaintext of a DM session message.
    ///
    /// **Warning:** the bytes hold the secret every frame of this participant
    /// is encrypted under: send them only inside a DM session. They are wiped
    /// when dropped.
    #[must_use]
    pub fn sender_key_message(&self) -> Zeroizing<Vec<u8>> {
        SenderKey::encode(&self.call_id, self.suite, &self.own)
    }

    /// Takes a sender key message that arrived over the DM session with the
    /// participant the app knows as `expected_sender`, and returns the key
    /// it now holds for that participant.
    ///
    /// A key of a newer epoch replaces the sender's older keys; a newer
    /// step of the same epoch becomes the newest step, the step before it
    /// kept for frames in flight. The sender joins
    /// [`participants`](Self::participants) if it was not there.
    ///
    /// # Errors
    /// [`CallError::OwnParticipant`] if `expected_sender` is this
    /// participant; [`CallError::MalformedSenderKey`] or
    /// [`CallError::UnsupportedSenderKeyVersion`] for bad input;
    /// [`CallError::WrongCall`], [`CallError::WrongCipherSuite`] or
    /// [`CallError::WrongSender`] for a message of another call, suite or
    /// sender (an insider cannot take another participant's KID);
    /// [`CallError::RemovedParticipant`] for a participant that left (and
    /// has not rejoined, or sends a key from before it left);
    /// [`CallError::StaleEpoch`] for an epoch older than the sender's key
    /// held, or more than one epoch older than this participant's;
    /// [`CallError::StaleStep`] for a step of the held epoch not newer than
    /// the one held (a repeat included). On error nothing changed.
    pub fn receive_sender_key(
        &mut self,
        expected_sender: ParticipantId,
        message: &[u8],
    ) -> Result<GroupKeyId, CallError> {
        if expected_sender == self.me {
            return Err(CallError::OwnParticipant { participant: expected_sender });
        }
        let key = SenderKey::parse(message, &self.call_id, self.suite)?;
        let id = key.id;
        let participant = id.participant;
        if participant != expected_sender {
            return Err(CallError::WrongSender { expected: expected_sender, found: participant });
        }
        if let Some(&rejoined_at) = self.removed.get(&participant)
            && (!self.participants.contains(&participant) || id.epoch < rejoined_at)
        {
            return Err(CallError::RemovedParticipant { participant });
        }
        let oldest = self.epoch().previous();
        if id.epoch < oldest {
            return Err(CallError::StaleEpoch { participant, current: oldest, found: id.epoch });
        }
        let held = self.peers.get(&participant).map(|peer| peer.id);
        if let Some(held) = held {
            if id.epoch < held.epoch {
                return Err(CallError::StaleEpoch {
                    participant,
                    current: held.epoch,
                    found: id.epoch,
                });
            }
            if id.epoch == held.epoch && id.step <= held.step {
                return Err(CallError::StaleStep {
                    participant,
                    current: held.step,
                    found: id.step,
                });
            }
        }
        let mut fresh = PeerKeys::new(self.suite, id, key.secret)?;
        if let Some(old) = self.peers.remove(&participant)
            && old.id.epoch == id.epoch
        {
            fresh.previous = Some((old.id.step, old.current));
        }
        self.peers.insert(participant, fresh);
        self.participants.insert(participant);
        Ok(id)
    }

    /// `participant` joined the call: moves this participant's key one
    /// ratchet step forward (RFC 9605 §5.1) and returns the sender key
    /// message for the newcomer only. The others, who hold the previous
    /// step, ratchet their copy when they first see a frame of the new step.
    ///
    /// Every member calls this for every join, so that the newcomer cannot
    /// decrypt frames sent before it joined.
    ///
    /// # Errors
    /// [`CallError::OwnParticipant`] for this participant's own id;
    /// [`CallError::StepsExhausted`] after [`MAX_STEP`] joins in one epoch
    /// (call [`rekey`](Self::rekey) first). On error nothing changed.
    pub fn participant_joined(
        &mut self,
        participant: ParticipantId,
    ) -> Result<Zeroizing<Vec<u8>>, CallError> {
        if participant == self.me {
            return Err(CallError::OwnParticipant { participant });
        }
        self.own = self.own.ratcheted(self.suite)?;
        self.participants.insert(participant);
        Ok(self.sender_key_message())
    }

    /// `participant` left the call: forgets its keys at once, moves to the
    /// next epoch with a new random secret, and returns the sender key
    /// message for every remaining participant.
    ///
    /// Other senders' keys of the epoch just ended stay until their key of
    /// the new epoch arrives (frames sent before they handled the leave
    /// still decrypt); keys two epochs old are dropped.
    ///
    /// # Errors
    /// [`CallError::OwnParticipant`] for this participant's own id;
    /// [`CallError::EpochOutOfRange`] after epoch [`MAX_EPOCH`]. On error
    /// nothing changed.
    pub fn participant_left<R: CryptoRng + ?Sized>(
        &mut self,
        participant: ParticipantId,
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, CallError> {
        if participant == self.me {
            return Err(CallError::OwnParticipant { participant });
        }
        let own = self.next_epoch_key(rng)?;
        self.peers.remove(&participant);
        self.participants.remove(&participant);
        self.removed.insert(participant, own.id.epoch);
        Ok(self.enter_epoch(own))
    }

    /// Moves to the next epoch with a new random secret, removing no one,
    /// and returns the sender key message for every other participant:
    /// after [`CallError::StepsExhausted`], or to rekey a long call. Every
    /// participant should do it on the same signalling event.
    ///
    /// # Errors
    /// [`CallError::EpochOutOfRange`] after epoch [`MAX_EPOCH`]. On error
    /// nothing changed.
    pub fn rekey<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, CallError> {
        let own = self.next_epoch_key(rng)?;
        Ok(self.enter_epoch(own))
    }

    fn next_epoch_key<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<SendingKey, CallError> {
        SendingKey::random(self.suite, self.me, self.epoch().next()?, rng)
    }

    fn enter_epoch(&mut self, own: SendingKey) -> Zeroizing<Vec<u8>> {
        let oldest = own.id.epoch.previous();
        self.own = own;
        self.peers.retain(|_, peer| peer.id.epoch >= oldest);
        self.sender_key_message()
    }

    /// Encrypts one frame into `out` under this participant's current key,
    /// returning its length. Allocates nothing.
    ///
    /// # Errors
    /// As [`SframeSender::encrypt_into`](crate::media::SframeSender::encrypt_into), wrapped in [`CallError::Sframe`].
    pub fn encrypt_into(
        &mut self,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CallError> {
        Ok(self.own.sender.encrypt_into(metadata, plaintext, out)?)
    }

    /// Encrypts one frame into a new vector.
    ///
    /// # Errors
    /// As [`SframeSender::encrypt`](crate::media::SframeSender::encrypt), wrapped in [`CallError::Sframe`].
    pub fn encrypt(&mut self, metadata: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CallError> {
        Ok(self.own.sender.encrypt(metadata, plaintext)?)
    }

    /// The exact length of the next frame for `plaintext_len` bytes, or
    /// `None` once the current key's counter is exhausted.
    #[must_use]
    pub fn frame_len(&self, plaintext_len: usize) -> Option<usize> {
        self.own.sender.frame_len(plaintext_len)
    }

    /// Decrypts another participant's frame into `out`, returning the
    /// plaintext length. A frame of a newer ratchet step of a held key moves
    /// that key forward once the frame authenticated (at most [`MAX_STEP`]
    /// steps of RFC 9605 §5.1).
    ///
    /// # Errors
    /// [`CallError::UnknownSender`] for a participant no key was received
    /// from; [`CallError::RemovedParticipant`] for a participant that left;
    /// [`CallError::StaleEpoch`] for an epoch older than the sender's held
    /// key; [`CallError::StaleStep`] for a step older than the two held;
    /// [`CallError::Sframe`] for everything else: a malformed header,
    /// [`SframeError::UnknownKeyId`] for this participant's own KID or a
    /// newer epoch than held (its key may still be on its way: the app may
    /// keep the frame briefly and retry), a replay, a frame too short, a
    /// buffer too small, or a tag that does not verify. On error nothing
    /// changed; `out` may have been written.
    pub fn decrypt_into(
        &mut self,
        metadata: &[u8],
        frame: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CallError> {
        let (header, _) = SframeHeader::decode(frame).map_err(SframeError::from)?;
        let id = GroupKeyId::from_kid(header.kid());
        let participant = id.participant;
        if participant == self.me {
            return Err(SframeError::UnknownKeyId(header.kid()).into());
        }
        let Some(peer) = self.peers.get_mut(&participant) else {
            if self.removed.contains_key(&participant) && !self.participants.contains(&participant)
            {
                return Err(CallError::RemovedParticipant { participant });
            }
            return Err(CallError::UnknownSender { participant });
        };
        if id.epoch < peer.id.epoch {
            return Err(CallError::StaleEpoch {
                participant,
                current: peer.id.epoch,
                found: id.epoch,
            });
        }
        if id.epoch > peer.id.epoch {
            return Err(SframeError::UnknownKeyId(header.kid()).into());
        }
        peer.decrypt_into(self.suite, id.step, metadata, frame, out)
    }

    /// Decrypts another participant's frame into a new vector.
    ///
    /// # Errors
    /// As [`Self::decrypt_into`].
    pub fn decrypt(&mut self, metadata: &[u8], frame: &[u8]) -> Result<Vec<u8>, CallError> {
        let mut out = vec![0u8; frame.len()];
        let len = self.decrypt_into(metadata, frame, &mut out)?;
        out.truncate(len);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Counter, KeyId, ratchet_kid, split_ratchet_kid};
    use crate::rng::test_rng;

    const SUITE: CipherSuite = CipherSuite::Aes128GcmSha256_128;

    fn call() -> CallId {
        CallId::new(*b"group").unwrap()
    }

    #[test]
    fn kid_layout_is_the_rfc_ratchet_layout() {
        assert_eq!(EPOCH_BITS, 40);
        let id = GroupKeyId::new(Epoch::new(0x12_3456_789a).unwrap(), ParticipantId(0xbcde), 0xf0);
        assert_eq!(id.kid(), KeyId::new(0x1234_5678_9abc_def0));
        assert_eq!(GroupKeyId::from_kid(id.kid()), id);
        let generation = (0x12_3456_789a << PARTICIPANT_BITS) | 0xbcde;
        assert_eq!(ratchet_kid(generation, 0xf0, STEP_BITS).unwrap(), id.kid());
        assert_eq!(split_ratchet_kid(id.kid(), STEP_BITS).unwrap(), (generation, 0xf0));
        let top = GroupKeyId::from_kid(KeyId::new(u64::MAX));
        assert_eq!(
            (top.epoch().value(), top.participant().value(), top.step()),
            (MAX_EPOCH, u16::MAX, 255)
        );
        assert!(Epoch::new(MAX_EPOCH).unwrap().next().is_err());
        assert!(matches!(
            Epoch::new(MAX_EPOCH + 1),
            Err(CallError::EpochOutOfRange { found, .. }) if found == MAX_EPOCH + 1
        ));
    }

    #[test]
    fn secrets_are_nh_bytes_and_round_trip() {
        let mut rng = test_rng(50);
        for suite in CipherSuite::ALL {
            let mut a =
                GroupCall::new(call(), suite, ParticipantId(1), Epoch::ZERO, &mut rng).unwrap();
            let mut b =
                GroupCall::new(call(), suite, ParticipantId(2), Epoch::ZERO, &mut rng).unwrap();
            let message = a.sender_key_message();
            let parsed = SenderKey::parse(&message, &call(), suite).unwrap();
            assert_eq!(parsed.secret.expose_secret().len(), suite.nh());
            b.receive_sender_key(
                ParticipantId(1),
                &a.participant_joined(ParticipantId(3)).unwrap(),
            )
            .unwrap();
            let frame = a.encrypt(b"m", b"frame").unwrap();
            assert_eq!(b.decrypt(b"m", &frame).unwrap(), b"frame", "{suite:?}");
        }
    }

    #[test]
    fn counters_restart_per_step_under_distinct_keys() {
        let mut rng = test_rng(51);
        let mut a = GroupCall::new(call(), SUITE, ParticipantId(1), Epoch::ZERO, &mut rng).unwrap();
        a.encrypt(b"", b"x").unwrap();
        let before = a.own.base_key.expose_secret().to_vec();
        a.participant_joined(ParticipantId(2)).unwrap();
        assert_eq!(a.own.sender.next_counter(), Some(Counter::new(0)));
        assert_ne!(a.own.base_key.expose_secret(), &before[..]);
        assert_eq!(a.key_id().step(), 1);
    }

    #[test]
    fn steps_run_out_without_changing_state() {
        let mut rng = test_rng(52);
        let mut a = GroupCall::new(call(), SUITE, ParticipantId(1), Epoch::ZERO, &mut rng).unwrap();
        for _ in 0..MAX_STEP {
            a.participant_joined(ParticipantId(2)).unwrap();
        }
        let id = a.key_id();
        assert_eq!(
            a.participant_joined(ParticipantId(3)).err(),
            Some(CallError::StepsExhausted { epoch: Epoch::ZERO })
        );
        assert_eq!(a.key_id(), id);
        assert!(!a.participants().any(|p| p == ParticipantId(3)));
        a.rekey(&mut rng).unwrap();
        assert_eq!(a.key_id(), GroupKeyId::new(Epoch::new(1).unwrap(), ParticipantId(1), 0));
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut rng = test_rng(53);
        let a = GroupCall::new(call(), SUITE, ParticipantId(1), Epoch::ZERO, &mut rng).unwrap();
        let secret = a.own.base_key.expose_secret();
        let debug = format!("{a:?}");
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!debug.contains(&hex));
        assert!(!debug.contains(&format!("{secret:?}")));
        assert!(debug.contains("GroupCall"));
    }
}
