//! 1:1 call keys from a per-call key agreement (docs/PROTOCOL.md §9.1).
//!
//! The caller makes an [`OutgoingCall`] and sends its offer; the callee
//! parses it ([`CallOffer`]) and [accepts](CallOffer::accept) it, which makes
//! its [`OneToOneCall`] and the answer; the caller
//! [completes](OutgoingCall::receive_answer) its call from the answer. Offer
//! and answer each carry a fresh X25519 ephemeral key, and travel as the
//! plaintext of DM session messages, which authenticate them; the SFrame base
//! keys come from HKDF over the two ephemerals' Diffie-Hellman, the call id,
//! both identity keys and both ephemeral keys. The ephemeral secrets are
//! gone once the keys exist.
//!
//! So every agreement has keys no other agreement has, and a side that
//! restarts mid-call (a crash, a relaunch, the call answered on another
//! device) simply makes a new offer: its new keys start their counters at 0
//! without reusing a nonce. The types make a second sender under one
//! agreement impossible to express: [`OutgoingCall`] and [`CallOffer`] are
//! consumed by the step that uses them, and [`OneToOneCall`] owns its one
//! sender.

use core::fmt;

use prost::Message;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{CallError, CallId};
use crate::kdf::hkdf_sha256;
use crate::keys::{DhKeyPair, DhPublicKey, IdentityKey, diffie_hellman};
use crate::media::{BaseKey, CipherSuite, KeyId, SframeError, SframeReceiver, SframeSender};
use crate::proto::wire;
use crate::protocol::{
    CALL_KEYS_LABEL, MAX_CALL_ID_LEN, MAX_CALL_SIGNAL_LEN, ONE_TO_ONE_KID_CALLEE,
    ONE_TO_ONE_KID_CALLER, WIRE_VERSION,
};

/// The caller's side of a 1:1 call whose offer is sent and not yet answered.
/// Holds the offer's ephemeral secret until [`receive_answer`](Self::receive_answer)
/// consumes it.
pub struct OutgoingCall {
    offer: Offer,
    ephemeral: DhKeyPair,
}

/// A parsed offer, checked against the identities of the DM session it
/// arrived in: what a callee shows (the call is ringing) before it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOffer(Offer);

/// The fields an offer and its answer share.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    call_id: CallId,
    suite: CipherSuite,
    caller: IdentityKey,
    callee: IdentityKey,
    caller_ephemeral: DhPublicKey,
}

/// The answer to an offer that the caller refused, with the call it was
/// for: the call stays usable (another answer may still come).
pub struct RefusedAnswer {
    call: Box<OutgoingCall>,
    reason: CallError,
}

/// An agreed 1:1 call: this side's one SFrame sender and its receiver for
/// the other side's frames.
pub struct OneToOneCall {
    call_id: CallId,
    suite: CipherSuite,
    sender: SframeSender,
    receiver: SframeReceiver,
    send_key: DirectionKey,
    receive_key: DirectionKey,
}

/// One direction's key of a 1:1 call, for a media stack with its own SFrame
/// (see [`OneToOneCall::into_keys`]).
pub struct DirectionKey {
    kid: KeyId,
    base_key: BaseKey,
}

impl OutgoingCall {
    /// Starts call `call_id` from the device with identity `caller` to the
    /// device with identity `callee` (as recorded for the DM session the
    /// offer will travel in), in cipher suite `suite`; returns the call and
    /// the offer to send inside that DM session.
    ///
    /// A caller that restarted mid-call starts again here: the new offer
    /// has a new ephemeral key, so the new agreement has new keys.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for suites a build may refuse.
    pub fn offer<R: CryptoRng + ?Sized>(
        call_id: CallId,
        suite: CipherSuite,
        caller: IdentityKey,
        callee: IdentityKey,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), CallError> {
        let ephemeral = DhKeyPair::generate(rng);
        let offer = Offer { call_id, suite, caller, callee, caller_ephemeral: ephemeral.public() };
        let bytes = offer.encode_offer();
        Ok((Self { offer, ephemeral }, bytes))
    }

    /// The call's id.
    pub fn call_id(&self) -> &CallId {
        &self.offer.call_id
    }

    /// Completes the call from the callee's answer (the plaintext of the DM
    /// message it arrived in), consuming this side's ephemeral secret.
    ///
    /// # Errors
    /// A [`RefusedAnswer`] that gives this call back, with
    /// [`CallError::MalformedCallSignal`] or
    /// [`CallError::UnsupportedSignalVersion`] for bytes that are no answer,
    /// [`CallError::AnswerMismatch`] for the answer to another offer (an
    /// earlier one, another call, other identities), or
    /// [`CallError::WeakEphemeralKey`] for a small-order ephemeral key.
    pub fn receive_answer(self, answer: &[u8]) -> Result<OneToOneCall, RefusedAnswer> {
        let keys = parse_answer(answer).and_then(|(offer, callee_ephemeral)| {
            if offer != self.offer {
                return Err(CallError::AnswerMismatch);
            }
            derive(&self.offer, &self.ephemeral, &callee_ephemeral, &callee_ephemeral)
        });
        match keys {
            Ok(keys) => OneToOneCall::new(&self.offer, keys, Role::Caller)
                .map_err(|reason| RefusedAnswer { call: Box::new(self), reason }),
            Err(reason) => Err(RefusedAnswer { call: Box::new(self), reason }),
        }
    }
}

impl CallOffer {
    /// Parses an offer that arrived as the plaintext of a DM message from
    /// the device with identity `caller`, to this device with identity
    /// `callee`.
    ///
    /// # Errors
    /// [`CallError::MalformedCallSignal`] or
    /// [`CallError::UnsupportedSignalVersion`] for bytes that are no offer,
    /// [`CallError::IdentityMismatch`] if the offer names other identities
    /// than the session's (it was made for another device, or the caller
    /// knows another identity key of this one).
    pub fn parse(
        bytes: &[u8],
        caller: &IdentityKey,
        callee: &IdentityKey,
    ) -> Result<Self, CallError> {
        let message = decode::<wire::CallOffer>(bytes)?;
        check_version(message.version)?;
        let offer = Offer::from_fields(
            message.call_id,
            message.cipher_suite,
            &message.caller_identity,
            &message.callee_identity,
            &message.caller_ephemeral,
        )?;
        if offer.caller != *caller || offer.callee != *callee {
            return Err(CallError::IdentityMismatch);
        }
        Ok(Self(offer))
    }

    /// The call's id.
    pub fn call_id(&self) -> &CallId {
        &self.0.call_id
    }

    /// Whether the offer is from `caller` to `callee`.
    pub fn names(&self, caller: &IdentityKey, callee: &IdentityKey) -> bool {
        self.0.caller == *caller && self.0.callee == *callee
    }

    /// The cipher suite the caller chose.
    pub fn suite(&self) -> CipherSuite {
        self.0.suite
    }

    /// The caller's ephemeral key: what tells two offers apart.
    pub fn caller_ephemeral(&self) -> DhPublicKey {
        self.0.caller_ephemeral
    }

    /// Accepts the offer: draws this side's ephemeral key, derives the
    /// call's keys and returns the call with the answer to send inside the
    /// DM session. The ephemeral secret is erased before this returns.
    ///
    /// # Errors
    /// [`CallError::WeakEphemeralKey`] if the caller's ephemeral key has
    /// small order.
    pub fn accept<R: CryptoRng + ?Sized>(
        self,
        rng: &mut R,
    ) -> Result<(OneToOneCall, Vec<u8>), CallError> {
        let ephemeral = DhKeyPair::generate(rng);
        let keys = derive(&self.0, &ephemeral, &self.0.caller_ephemeral, &ephemeral.public())?;
        let answer = self.0.encode_answer(&ephemeral.public());
        Ok((OneToOneCall::new(&self.0, keys, Role::Callee)?, answer))
    }
}

impl Offer {
    fn from_fields(
        call_id: Vec<u8>,
        suite: u64,
        caller: &[u8],
        callee: &[u8],
        caller_ephemeral: &[u8],
    ) -> Result<Self, CallError> {
        let malformed = |reason| CallError::MalformedCallSignal { reason };
        let call_id = CallId::new(call_id).map_err(|_| malformed("call id length"))?;
        let suite = u16::try_from(suite)
            .ok()
            .and_then(|id| CipherSuite::from_id(id).ok())
            .ok_or(malformed("unknown cipher suite"))?;
        let identity = |bytes: &[u8]| {
            IdentityKey::from_bytes(bytes).map_err(|_| malformed("invalid identity key"))
        };
        Ok(Self {
            call_id,
            suite,
            caller: identity(caller)?,
            callee: identity(callee)?,
            caller_ephemeral: DhPublicKey::from_bytes(caller_ephemeral)
                .map_err(|_| malformed("invalid ephemeral key"))?,
        })
    }

    fn encode_offer(&self) -> Vec<u8> {
        wire::CallOffer {
            version: WIRE_VERSION.into(),
            call_id: self.call_id.as_bytes().to_vec(),
            cipher_suite: self.suite.id().into(),
            caller_identity: self.caller.to_bytes().to_vec(),
            callee_identity: self.callee.to_bytes().to_vec(),
            caller_ephemeral: self.caller_ephemeral.to_bytes().to_vec(),
        }
        .encode_to_vec()
    }

    fn encode_answer(&self, callee_ephemeral: &DhPublicKey) -> Vec<u8> {
        wire::CallAnswer {
            version: WIRE_VERSION.into(),
            call_id: self.call_id.as_bytes().to_vec(),
            cipher_suite: self.suite.id().into(),
            caller_identity: self.caller.to_bytes().to_vec(),
            callee_identity: self.callee.to_bytes().to_vec(),
            caller_ephemeral: self.caller_ephemeral.to_bytes().to_vec(),
            callee_ephemeral: callee_ephemeral.to_bytes().to_vec(),
        }
        .encode_to_vec()
    }
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, CallError> {
    if bytes.len() > MAX_CALL_SIGNAL_LEN {
        return Err(CallError::MalformedCallSignal { reason: "longer than any offer or answer" });
    }
    M::decode(bytes).map_err(|_| CallError::MalformedCallSignal { reason: "not protobuf" })
}

fn check_version(found: u64) -> Result<(), CallError> {
    // A version beyond 32 bits is refused as malformed, never truncated.
    let found = u32::try_from(found)
        .map_err(|_| CallError::MalformedCallSignal { reason: "version above 2^32 - 1" })?;
    if found == WIRE_VERSION {
        Ok(())
    } else {
        Err(CallError::UnsupportedSignalVersion { expected: WIRE_VERSION, found })
    }
}

/// The offer an answer repeats, and the callee's ephemeral key.
fn parse_answer(bytes: &[u8]) -> Result<(Offer, DhPublicKey), CallError> {
    let message = decode::<wire::CallAnswer>(bytes)?;
    check_version(message.version)?;
    let offer = Offer::from_fields(
        message.call_id,
        message.cipher_suite,
        &message.caller_identity,
        &message.callee_identity,
        &message.caller_ephemeral,
    )?;
    let callee_ephemeral = DhPublicKey::from_bytes(&message.callee_ephemeral)
        .map_err(|_| CallError::MalformedCallSignal { reason: "invalid ephemeral key" })?;
    Ok((offer, callee_ephemeral))
}

/// Which side of the call this is.
#[derive(Clone, Copy)]
enum Role {
    Caller,
    Callee,
}

/// The two base keys, caller's first.
struct CallKeys(Zeroizing<[u8; 64]>);

/// `HKDF(salt = 0x00 × 32, IKM = DH(ours, theirs), info = CALL_KEYS_LABEL ‖
/// len(call id) (u8) ‖ call id ‖ IK_caller ‖ IK_callee ‖ E_caller ‖
/// E_callee, L = 64)`.
fn derive(
    offer: &Offer,
    ours: &DhKeyPair,
    theirs: &DhPublicKey,
    callee_ephemeral: &DhPublicKey,
) -> Result<CallKeys, CallError> {
    let shared = diffie_hellman(ours.secret(), theirs).map_err(|_| CallError::WeakEphemeralKey)?;
    let call_id = offer.call_id.as_bytes();
    // A `CallId` holds 1 to MAX_CALL_ID_LEN = 255 bytes.
    const _: () = assert!(MAX_CALL_ID_LEN <= u8::MAX as usize);
    let call_id_len = u8::try_from(call_id.len()).unwrap_or(u8::MAX);
    let mut info = Vec::with_capacity(CALL_KEYS_LABEL.len() + 1 + call_id.len() + 4 * 32);
    info.extend_from_slice(CALL_KEYS_LABEL);
    info.push(call_id_len);
    info.extend_from_slice(call_id);
    info.extend_from_slice(offer.caller.as_bytes());
    info.extend_from_slice(offer.callee.as_bytes());
    info.extend_from_slice(offer.caller_ephemeral.as_bytes());
    info.extend_from_slice(callee_ephemeral.as_bytes());
    Ok(CallKeys(hkdf_sha256::<64>(&[0u8; 32], shared.as_bytes(), &info)))
}

impl CallKeys {
    fn caller(&self) -> &[u8] {
        self.0.get(..32).unwrap_or_default()
    }

    fn callee(&self) -> &[u8] {
        self.0.get(32..).unwrap_or_default()
    }
}

impl OneToOneCall {
    fn new(offer: &Offer, keys: CallKeys, role: Role) -> Result<Self, CallError> {
        let caller = DirectionKey {
            kid: KeyId::new(ONE_TO_ONE_KID_CALLER),
            base_key: BaseKey::from_bytes(keys.caller())?,
        };
        let callee = DirectionKey {
            kid: KeyId::new(ONE_TO_ONE_KID_CALLEE),
            base_key: BaseKey::from_bytes(keys.callee())?,
        };
        let (send, receive) = match role {
            Role::Caller => (caller, callee),
            Role::Callee => (callee, caller),
        };
        let sender = SframeSender::new(offer.suite, send.kid, &send.base_key)?;
        let mut receiver = SframeReceiver::new();
        receiver.add_key(offer.suite, receive.kid, &receive.base_key)?;
        Ok(Self {
            call_id: offer.call_id.clone(),
            suite: offer.suite,
            sender,
            receiver,
            send_key: send,
            receive_key: receive,
        })
    }

    /// The call's id.
    pub fn call_id(&self) -> &CallId {
        &self.call_id
    }

    /// The call's cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// The KID of this side's frames.
    pub fn send_kid(&self) -> KeyId {
        self.send_key.kid
    }

    /// The KID of the other side's frames.
    pub fn receive_kid(&self) -> KeyId {
        self.receive_key.kid
    }

    /// This side's sender: the only one these keys ever make.
    pub fn sender(&mut self) -> &mut SframeSender {
        &mut self.sender
    }

    /// The receiver of the other side's frames.
    pub fn receiver(&mut self) -> &mut SframeReceiver {
        &mut self.receiver
    }

    /// Encrypts a frame (see [`SframeSender::encrypt`]).
    ///
    /// # Errors
    /// As [`SframeSender::encrypt`].
    pub fn encrypt(&mut self, metadata: &[u8], frame: &[u8]) -> Result<Vec<u8>, SframeError> {
        self.sender.encrypt(metadata, frame)
    }

    /// Decrypts a frame of the other side (see [`SframeReceiver::decrypt`]).
    ///
    /// # Errors
    /// As [`SframeReceiver::decrypt`]; a frame under the keys of an earlier
    /// agreement fails authentication.
    pub fn decrypt(&mut self, metadata: &[u8], frame: &[u8]) -> Result<Vec<u8>, SframeError> {
        self.receiver.decrypt(metadata, frame)
    }

    /// The sender and the receiver, for a media pipeline that owns them.
    pub fn into_parts(self) -> (SframeSender, SframeReceiver) {
        (self.sender, self.receiver)
    }

    /// The two directions' base keys (send, receive) instead of Sotto's
    /// sender and receiver, for a media stack with its own SFrame; this
    /// call's sender is dropped unused.
    ///
    /// **Warning:** make exactly one SFrame sender from the send key, its
    /// counter starting at 0, and never keep the key past the call: a second
    /// sender under it would reuse nonces. A restarted side makes a new
    /// offer rather than reuse these keys.
    pub fn into_keys(self) -> (DirectionKey, DirectionKey) {
        (self.send_key, self.receive_key)
    }
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

impl RefusedAnswer {
    /// Why the answer was refused.
    pub fn reason(&self) -> &CallError {
        &self.reason
    }

    /// The call, still waiting for its answer.
    pub fn into_call(self) -> OutgoingCall {
        *self.call
    }
}

impl fmt::Debug for OutgoingCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingCall").field("offer", &self.offer).finish_non_exhaustive()
    }
}

impl fmt::Debug for RefusedAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefusedAnswer").field("reason", &self.reason).finish_non_exhaustive()
    }
}

impl fmt::Display for RefusedAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the answer was refused: {}", self.reason)
    }
}

impl std::error::Error for RefusedAnswer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}

impl fmt::Debug for OneToOneCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneToOneCall").field("call_id", &self.call_id).finish_non_exhaustive()
    }
}

impl fmt::Debug for DirectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectionKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}
