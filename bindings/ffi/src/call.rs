//! Media: SFrame (RFC 9605) senders and receivers, and group calls. The 1:1
//! calls, agreed through a session manager, are in `one_to_one`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sotto::media::{self, BaseKey, KeyId};
use zeroize::Zeroizing;

use crate::SottoError;

/// An SFrame cipher suite (RFC 9605 §4.5, plus Sotto's ChaCha20-Poly1305).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum CipherSuite {
    /// 0x0001: AES-128-CTR with HMAC-SHA256, 80-bit tag.
    Aes128CtrHmacSha256_80,
    /// 0x0002: AES-128-CTR with HMAC-SHA256, 64-bit tag.
    Aes128CtrHmacSha256_64,
    /// 0x0003: AES-128-CTR with HMAC-SHA256, 32-bit tag.
    Aes128CtrHmacSha256_32,
    /// 0x0004: AES-128-GCM, HKDF-SHA256.
    Aes128GcmSha256_128,
    /// 0x0005: AES-256-GCM, HKDF-SHA512.
    Aes256GcmSha512_128,
    /// 0x0006: AES-256-CTR with HMAC-SHA512, 80-bit tag.
    Aes256CtrHmacSha512_80,
    /// 0x0007: AES-256-CTR with HMAC-SHA512, 64-bit tag.
    Aes256CtrHmacSha512_64,
    /// 0x0008: AES-256-CTR with HMAC-SHA512, 32-bit tag.
    Aes256CtrHmacSha512_32,
    /// 0xF001 (private use): ChaCha20-Poly1305, HKDF-SHA256.
    ChaCha20Poly1305Sha256_128,
}

impl From<CipherSuite> for media::CipherSuite {
    fn from(suite: CipherSuite) -> Self {
        match suite {
            CipherSuite::Aes128CtrHmacSha256_80 => Self::Aes128CtrHmacSha256_80,
            CipherSuite::Aes128CtrHmacSha256_64 => Self::Aes128CtrHmacSha256_64,
            CipherSuite::Aes128CtrHmacSha256_32 => Self::Aes128CtrHmacSha256_32,
            CipherSuite::Aes128GcmSha256_128 => Self::Aes128GcmSha256_128,
            CipherSuite::Aes256GcmSha512_128 => Self::Aes256GcmSha512_128,
            CipherSuite::Aes256CtrHmacSha512_80 => Self::Aes256CtrHmacSha512_80,
            CipherSuite::Aes256CtrHmacSha512_64 => Self::Aes256CtrHmacSha512_64,
            CipherSuite::Aes256CtrHmacSha512_32 => Self::Aes256CtrHmacSha512_32,
            CipherSuite::ChaCha20Poly1305Sha256_128 => Self::ChaCha20Poly1305Sha256_128,
        }
    }
}

impl TryFrom<media::CipherSuite> for CipherSuite {
    type Error = SottoError;

    fn try_from(suite: media::CipherSuite) -> Result<Self, SottoError> {
        Ok(match suite {
            media::CipherSuite::Aes128CtrHmacSha256_80 => Self::Aes128CtrHmacSha256_80,
            media::CipherSuite::Aes128CtrHmacSha256_64 => Self::Aes128CtrHmacSha256_64,
            media::CipherSuite::Aes128CtrHmacSha256_32 => Self::Aes128CtrHmacSha256_32,
            media::CipherSuite::Aes128GcmSha256_128 => Self::Aes128GcmSha256_128,
            media::CipherSuite::Aes256GcmSha512_128 => Self::Aes256GcmSha512_128,
            media::CipherSuite::Aes256CtrHmacSha512_80 => Self::Aes256CtrHmacSha512_80,
            media::CipherSuite::Aes256CtrHmacSha512_64 => Self::Aes256CtrHmacSha512_64,
            media::CipherSuite::Aes256CtrHmacSha512_32 => Self::Aes256CtrHmacSha512_32,
            media::CipherSuite::ChaCha20Poly1305Sha256_128 => Self::ChaCha20Poly1305Sha256_128,
            other => {
                return Err(SottoError::Internal {
                    reason: format!("cipher suite {:#06x} has no binding", other.id()),
                });
            }
        })
    }
}

fn base_key(bytes: Vec<u8>) -> Result<BaseKey, SottoError> {
    Ok(BaseKey::from_bytes(&Zeroizing::new(bytes))?)
}

/// The sending side of SFrame for one key: each frame takes the next
/// counter. Thread-safe; frames are numbered in the order calls reach it.
#[derive(Debug, uniffi::Object)]
pub struct SframeSender(Mutex<media::SframeSender>);

impl SframeSender {
    fn lock(&self) -> MutexGuard<'_, media::SframeSender> {
        // A panic while encrypting cannot roll a counter back, so the
        // state behind a poisoned lock is still safe to use.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[uniffi::export]
impl SframeSender {
    /// A sender for key id `kid` under `suite`, keyed from `base_key`.
    ///
    /// **Warning:** two senders with the same key and key id reuse nonces.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty base key.
    #[uniffi::constructor]
    pub fn new(suite: CipherSuite, kid: u64, base_key: Vec<u8>) -> Result<Arc<Self>, SottoError> {
        let sender =
            media::SframeSender::new(suite.into(), KeyId::new(kid), &self::base_key(base_key)?)?;
        Ok(Arc::new(Self(Mutex::new(sender))))
    }

    /// Encrypts one frame: `header ‖ ciphertext ‖ tag`. `metadata` is
    /// authenticated but not sent; the receiver must pass the same bytes.
    ///
    /// # Errors
    /// `LimitExceeded` once every counter was used.
    pub fn encrypt(&self, metadata: Vec<u8>, frame: Vec<u8>) -> Result<Vec<u8>, SottoError> {
        Ok(self.lock().encrypt(&metadata, &frame)?)
    }

    /// The key id written into every frame.
    pub fn kid(&self) -> u64 {
        self.lock().kid().value()
    }
}

/// The receiving side of SFrame: keys by key id, each with a replay window.
/// Thread-safe.
#[derive(Debug, uniffi::Object)]
pub struct SframeReceiver(Mutex<media::SframeReceiver>);

impl SframeReceiver {
    fn lock(&self) -> MutexGuard<'_, media::SframeReceiver> {
        // A failed frame changes no state, so a poisoned lock guards a
        // consistent receiver.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[uniffi::export]
impl SframeReceiver {
    /// A receiver with no keys.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(media::SframeReceiver::new())))
    }

    /// Adds (or replaces) the key for `kid`, with a fresh replay window.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty base key.
    pub fn add_key(
        &self,
        suite: CipherSuite,
        kid: u64,
        base_key: Vec<u8>,
    ) -> Result<(), SottoError> {
        Ok(self.lock().add_key(suite.into(), KeyId::new(kid), &self::base_key(base_key)?)?)
    }

    /// Removes the key for `kid`; returns whether there was one.
    pub fn remove_key(&self, kid: u64) -> bool {
        self.lock().remove_key(KeyId::new(kid))
    }

    /// Whether the receiver has a key for `kid`.
    pub fn has_key(&self, kid: u64) -> bool {
        self.lock().has_key(KeyId::new(kid))
    }

    /// Decrypts one frame. A frame refused for any reason changes nothing.
    ///
    /// # Errors
    /// `FrameRejected`, `FrameReplayed` or `AuthenticationFailed`.
    pub fn decrypt(&self, metadata: Vec<u8>, frame: Vec<u8>) -> Result<Vec<u8>, SottoError> {
        Ok(self.lock().decrypt(&metadata, &frame)?)
    }
}

/// A group-call key id taken apart: `epoch << 24 | participant << 8 | step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Record)]
pub struct GroupKeyId {
    /// The key epoch (a participant leaving starts the next).
    pub epoch: u64,
    /// The sending participant.
    pub participant: u16,
    /// The sender-key ratchet step (a participant joining moves it).
    pub step: u8,
    /// The SFrame key id frames of this key carry.
    pub kid: u64,
}

impl From<sotto::call::GroupKeyId> for GroupKeyId {
    fn from(id: sotto::call::GroupKeyId) -> Self {
        Self {
            epoch: id.epoch().value(),
            participant: id.participant().value(),
            step: id.step(),
            kid: id.kid().value(),
        }
    }
}

/// One participant's view of a group call: its own sending key, and the
/// keys it received from the others over DM sessions.
///
/// The app tells it who joined and who left (from the call's signalling),
/// sends each sender key message it returns inside the DM session with the
/// participants concerned, and passes each sender key message it receives
/// to `receive_sender_key` with the participant id its signalling gave that
/// DM session's address. Thread-safe.
///
/// **Warning:** not persisted: a participant that loses it (an app restart)
/// must rejoin the call under a new participant id.
#[derive(Debug, uniffi::Object)]
pub struct GroupCall(Mutex<sotto::call::GroupCall>);

impl GroupCall {
    fn lock(&self) -> MutexGuard<'_, sotto::call::GroupCall> {
        // Every operation computes its new state before assigning it, so a
        // poisoned lock guards a consistent call.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The errors of a group-call frame: a sender that left or a stale key
/// refuses the frame, not a sender key.
fn frame_error(error: sotto::call::CallError) -> SottoError {
    use sotto::call::CallError;
    match error {
        CallError::RemovedParticipant { .. }
        | CallError::StaleEpoch { .. }
        | CallError::StaleStep { .. } => SottoError::FrameRejected { reason: error.to_string() },
        other => other.into(),
    }
}

#[uniffi::export]
impl GroupCall {
    /// Joins (or starts) call `call_id` (1 to 255 bytes) as participant `me`
    /// in key epoch `epoch`, as the call's signalling says, with a new random
    /// sender secret. Send `sender_key_message()` to every other participant
    /// over their DM sessions.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad call id, `LimitExceeded` for an epoch
    /// over 2^40 - 1.
    #[uniffi::constructor]
    pub fn new(
        call_id: Vec<u8>,
        suite: CipherSuite,
        me: u16,
        epoch: u64,
    ) -> Result<Arc<Self>, SottoError> {
        let call = sotto::call::GroupCall::new(
            sotto::call::CallId::new(call_id)?,
            suite.into(),
            me.into(),
            sotto::call::Epoch::new(epoch)?,
            &mut sotto::rng::os_rng(),
        )?;
        Ok(Arc::new(Self(Mutex::new(call))))
    }

    /// This participant's id.
    pub fn me(&self) -> u16 {
        self.lock().me().value()
    }

    /// The epoch this participant sends in.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch().value()
    }

    /// The key this participant's next frame is encrypted under.
    pub fn key_id(&self) -> GroupKeyId {
        self.lock().key_id().into()
    }

    /// The participants this one knows are in the call, itself included, in
    /// increasing order.
    pub fn participants(&self) -> Vec<u16> {
        self.lock().participants().map(|participant| participant.value()).collect()
    }

    /// The newest key held for `participant`'s frames, if any.
    pub fn sender_key_of(&self, participant: u16) -> Option<GroupKeyId> {
        self.lock().sender_key_of(participant.into()).map(Into::into)
    }

    /// This participant's current sender key, to send to participants as
    /// the plaintext of a DM session message.
    ///
    /// **Warning:** the bytes hold the secret of this participant's frames:
    /// send them only inside a DM session.
    pub fn sender_key_message(&self) -> Vec<u8> {
        self.lock().sender_key_message().to_vec()
    }

    /// Takes a sender key message that arrived over the DM session with the
    /// participant the app knows as `expected_sender`; returns the key now
    /// held for that participant.
    ///
    /// # Errors
    /// `SenderKeyRejected` for a malformed message, one of another call,
    /// suite or sender, of a participant that left, or an old epoch or step;
    /// `InvalidArgument` if `expected_sender` is this participant. On error
    /// nothing changed.
    pub fn receive_sender_key(
        &self,
        expected_sender: u16,
        message: Vec<u8>,
    ) -> Result<GroupKeyId, SottoError> {
        Ok(self.lock().receive_sender_key(expected_sender.into(), &Zeroizing::new(message))?.into())
    }

    /// `participant` joined: moves this participant's key one ratchet step
    /// forward and returns the sender key message for the newcomer only.
    ///
    /// # Errors
    /// `InvalidArgument` for this participant's own id, `LimitExceeded`
    /// after 255 joins in one epoch (call `rekey` first).
    pub fn participant_joined(&self, participant: u16) -> Result<Vec<u8>, SottoError> {
        Ok(self.lock().participant_joined(participant.into())?.to_vec())
    }

    /// `participant` left: forgets its keys, moves to the next epoch with a
    /// new secret, and returns the sender key message for every remaining
    /// participant.
    ///
    /// # Errors
    /// `InvalidArgument` for this participant's own id, `LimitExceeded`
    /// after the last epoch.
    pub fn participant_left(&self, participant: u16) -> Result<Vec<u8>, SottoError> {
        let mut rng = sotto::rng::os_rng();
        Ok(self.lock().participant_left(participant.into(), &mut rng)?.to_vec())
    }

    /// Moves to the next epoch with a new secret, removing no one; returns
    /// the sender key message for every other participant.
    ///
    /// # Errors
    /// `LimitExceeded` after the last epoch.
    pub fn rekey(&self) -> Result<Vec<u8>, SottoError> {
        Ok(self.lock().rekey(&mut sotto::rng::os_rng())?.to_vec())
    }

    /// Encrypts one of this participant's frames.
    ///
    /// # Errors
    /// `LimitExceeded` once every counter of the key was used.
    pub fn encrypt(&self, metadata: Vec<u8>, frame: Vec<u8>) -> Result<Vec<u8>, SottoError> {
        Ok(self.lock().encrypt(&metadata, &frame)?)
    }

    /// Decrypts another participant's frame, ratcheting its key forward if
    /// the frame is of a newer step.
    ///
    /// # Errors
    /// `FrameRejected` (a malformed header, an unknown or departed sender, a
    /// stale key), `FrameReplayed` or `AuthenticationFailed`.
    pub fn decrypt(&self, metadata: Vec<u8>, frame: Vec<u8>) -> Result<Vec<u8>, SottoError> {
        self.lock().decrypt(&metadata, &frame).map_err(frame_error)
    }
}
