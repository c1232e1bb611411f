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

use core::fmt;
use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use super::{CallError, CallId};
use crate::media::{
    BaseKey, CipherSuite, KeyId, SframeError, SframeHeader, SframeReceiver, SframeSender,
    ratchet_base_key,
};
use crate::proto::wire;
use crate::protocol::WIRE_VERSION;

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
/// participant must [`rekey`](GroupCall::rekey) before the next join.
pub const MAX_STEP: u8 = u8::MAX;

/// The largest encoded sender key message Sotto parses, in bytes (a valid
/// one is at most 342: a 255-byte call id and a 64-byte secret).
pub const MAX_SENDER_KEY_MESSAGE_LEN: usize = 512;

/// The longest sender secret: `Nh` of the SHA-512 suites.
const MAX_SECRET_LEN: usize = 64;

/// A participant's id in a group call, assigned by the app's signalling
/// and unique within the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParticipantId(u16);

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
pub struct Epoch(u64);

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
    const fn previous(self) -> Self {
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
    epoch: Epoch,
    participant: ParticipantId,
    step: u8,
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

/// This participant's sending key: `base_key[step]` of its secret for the
/// epoch, and the SFrame sender for that KID.
struct SendingKey {
    id: GroupKeyId,
    base_key: BaseKey,
    sender: SframeSender,
}

impl SendingKey {
    /// Step 0 of a new random secret of `Nh` bytes.
    fn random<R: CryptoRng + ?Sized>(
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
    fn new(suite: CipherSuite, id: GroupKeyId, base_key: BaseKey) -> Result<Self, CallError> {
        let sender = SframeSender::new(suite, id.kid(), &base_key)?;
        Ok(Self { id, base_key, sender })
    }

    /// The next ratchet step of the same secret.
    fn ratcheted(&self, suite: CipherSuite) -> Result<Self, CallError> {
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
struct PeerKeys {
    id: GroupKeyId,
    base_key: BaseKey,
    current: SframeReceiver,
    previous: Option<(u8, SframeReceiver)>,
}

fn receiver_for(
    suite: CipherSuite,
    id: GroupKeyId,
    base_key: &BaseKey,
) -> Result<SframeReceiver, CallError> {
    let mut receiver = SframeReceiver::new();
    receiver.add_key(suite, id.kid(), base_key)?;
    Ok(receiver)
}

impl PeerKeys {
    fn new(suite: CipherSuite, id: GroupKeyId, base_key: BaseKey) -> Result<Self, CallError> {
        let current = receiver_for(suite, id, &base_key)?;
        Ok(Self { id, base_key, current, previous: None })
    }

    /// Decrypts a frame of this sender's epoch at `step`, ratcheting this
    /// copy of its key forward (on the side, kept only if the frame
    /// authenticates) when `step` is newer than the newest known.
    fn decrypt_into(
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

/// A sender key message, parsed and checked against the call it is for.
struct SenderKey {
    id: GroupKeyId,
    secret: BaseKey,
}

impl SenderKey {
    /// Parses a `CallSenderKey` for `call_id` under `suite`.
    fn parse(bytes: &[u8], call_id: &CallId, suite: CipherSuite) -> Result<Self, CallError> {
        let malformed = |reason| CallError::MalformedSenderKey { reason };
        if bytes.len() > MAX_SENDER_KEY_MESSAGE_LEN {
            return Err(malformed("longer than any sender key message"));
        }
        let mut message = wire::CallSenderKey::decode(bytes)
            .map_err(|_| malformed("not a protobuf CallSenderKey"))?;
        // Wiped when dropped, whichever way this function returns.
        let secret = Zeroizing::new(core::mem::take(&mut message.secret));
        if message.version != WIRE_VERSION {
            return Err(CallError::UnsupportedSenderKeyVersion {
                expected: WIRE_VERSION,
                found: message.version,
            });
        }
        let found_call = CallId::new(core::mem::take(&mut message.call_id))
            .map_err(|_| malformed("call id length"))?;
        if found_call != *call_id {
            return Err(CallError::WrongCall { expected: call_id.clone(), found: found_call });
        }
        let found_suite = u16::try_from(message.cipher_suite)
            .map_err(|_| malformed("cipher suite id above 0xffff"))?;
        if found_suite != suite.id() {
            return Err(CallError::WrongCipherSuite { expected: suite, found: found_suite });
        }
        let epoch = Epoch::new(message.epoch).map_err(|_| malformed("epoch above 2^40 - 1"))?;
        let participant = u16::try_from(message.participant)
            .map_err(|_| malformed("participant id above 2^16 - 1"))?;
        let step = u8::try_from(message.step).map_err(|_| malformed("step above 255"))?;
        if secret.len() != suite.nh() {
            return Err(malformed("secret is not Nh bytes"));
        }
        Ok(Self {
            id: GroupKeyId::new(epoch, ParticipantId(participant), step),
            secret: BaseKey::from_bytes(&secret)?,
        })
    }

    /// Encodes a `CallSenderKey`. The result holds the secret: it is wiped
    /// when dropped, once the app has encrypted it into a DM message.
    fn encode(call_id: &CallId, suite: CipherSuite, key: &SendingKey) -> Zeroizing<Vec<u8>> {
        let mut message = wire::CallSenderKey {
            call_id: call_id.as_bytes().to_vec(),
            epoch: key.id.epoch.0,
            participant: u32::from(key.id.participant.0),
            step: u32::from(key.id.step),
            secret: key.base_key.expose_secret().to_vec(),
            cipher_suite: u32::from(suite.id()),
            version: WIRE_VERSION,
        };
        let bytes = Zeroizing::new(message.encode_to_vec());
        message.secret.zeroize();
        bytes
    }
}

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
    /// As [`SframeSender::encrypt_into`], wrapped in [`CallError::Sframe`].
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
    /// As [`SframeSender::encrypt`], wrapped in [`CallError::Sframe`].
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
    use crate::media::{Counter, ratchet_kid, split_ratchet_kid};
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
