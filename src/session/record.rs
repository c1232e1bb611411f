//! Session records: the state of every session with one address, and its
//! stored encoding (`storage.proto`, `SessionRecord`).

use std::collections::VecDeque;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::SessionError;
use super::envelope::{Envelope, PreKeyMessage, RatchetMessage};
use crate::call::{CallError, CallId, OneToOneCallKeys};

use crate::keys::{DhPublicKey, IdentityKey, OneTimePreKeyId, SignedPreKeyId};
use crate::proto::storage;
use crate::protocol::{MAX_PREVIOUS_SESSIONS, RECORD_VERSION};
use crate::ratchet::DoubleRatchet;
use crate::record::{self, RecordError};
use crate::x3dh::AssociatedData;

/// What the initiator repeats in every message until it hears back, so
/// that the responder can run X3DH from whichever message arrives first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingPreKey {
    pub(crate) signed_prekey_id: SignedPreKeyId,
    pub(crate) one_time_prekey_id: Option<OneTimePreKeyId>,
}

/// One session: a Double Ratchet bound to two identity keys.
#[derive(Debug)]
pub(crate) struct SessionState {
    pub(crate) ratchet: DoubleRatchet,
    pub(crate) local_identity: IdentityKey,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) initiator: bool,
    /// X3DH's EK_A: identifies the session to both sides.
    pub(crate) base_key: DhPublicKey,
    pub(crate) pending_prekey: Option<PendingPreKey>,
    /// Derived from X3DH's SK; keys 1:1 calls. `None` only in sessions
    /// stored by builds that predate call keys.
    pub(crate) exporter_secret: Option<Zeroizing<[u8; 32]>>,
}

impl SessionState {
    /// `AD = IK_A ‖ IK_B`, initiator first.
    pub(crate) fn associated_data(&self) -> AssociatedData {
        if self.initiator {
            AssociatedData::new(&self.local_identity, &self.remote_identity)
        } else {
            AssociatedData::new(&self.remote_identity, &self.local_identity)
        }
    }

    fn to_record(&self) -> storage::SessionState {
        let mut state = storage::SessionState {
            local_identity: self.local_identity.to_bytes().to_vec(),
            remote_identity: self.remote_identity.to_bytes().to_vec(),
            initiator: self.initiator,
            base_key: self.base_key.to_bytes().to_vec(),
            root_key: Vec::new(),
            ratchet_private_key: Vec::new(),
            ratchet_public_key: Vec::new(),
            exporter_secret: self
                .exporter_secret
                .as_ref()
                .map(|secret| secret.to_vec())
                .unwrap_or_default(),
            retired_ratchet_keys: Vec::new(),
            sending_chain_key: Vec::new(),
            sending_counter: 0,
            previous_counter: 0,
            receiving_chains: Vec::new(),
            skipped_keys: Vec::new(),
            pending_prekey: self.pending_prekey.map(|pending| storage::PendingPreKey {
                signed_prekey_id: pending.signed_prekey_id.into(),
                one_time_prekey_id: pending.one_time_prekey_id.map(Into::into),
            }),
        };
        self.ratchet.to_record(&mut state);
        state
    }

    fn from_record(state: &storage::SessionState) -> Result<Self, RecordError> {
        let identity = |bytes: &[u8], field| {
            IdentityKey::from_stored_bytes(bytes).map_err(|_| RecordError::InvalidField { field })
        };
        Ok(Self {
            ratchet: DoubleRatchet::from_record(state)?,
            local_identity: identity(&state.local_identity, "local_identity")?,
            remote_identity: identity(&state.remote_identity, "remote_identity")?,
            initiator: state.initiator,
            base_key: DhPublicKey::from_bytes(&state.base_key)
                .map_err(|_| RecordError::InvalidField { field: "base_key" })?,
            pending_prekey: state.pending_prekey.map(|pending| PendingPreKey {
                signed_prekey_id: pending.signed_prekey_id.into(),
                one_time_prekey_id: pending.one_time_prekey_id.map(Into::into),
            }),
            // Records of earlier builds of version 1 have none: such a
            // session cannot key calls.
            exporter_secret: if state.exporter_secret.is_empty() {
                None
            } else {
                Some(record::secret32(&state.exporter_secret, "exporter_secret")?)
            },
        })
    }
}

/// Every session with one address: the current one, which new messages are
/// encrypted in, and up to [`MAX_PREVIOUS_SESSIONS`] earlier ones, kept so
/// that messages still in flight for them decrypt (for instance when both
/// sides started a session at the same time).
///
/// Its stored form ([`to_bytes`](Self::to_bytes)) holds secrets.
#[derive(Debug, Default)]
pub struct SessionRecord {
    /// Bumped by every write through a [`SessionManager`](super::SessionManager),
    /// so that a commit can tell whether the record changed under it.
    pub(crate) generation: u64,
    pub(crate) current: Option<SessionState>,
    pub(crate) previous: VecDeque<SessionState>,
}

impl SessionRecord {
    /// Makes `state` the current session, keeping the old current one as
    /// the newest previous session.
    pub(crate) fn promote(&mut self, state: SessionState) {
        if let Some(old) = self.current.replace(state) {
            self.previous.push_front(old);
            self.previous.truncate(MAX_PREVIOUS_SESSIONS);
        }
    }

    /// Makes previous session `index` the current one.
    pub(crate) fn promote_previous(&mut self, index: usize) {
        if let Some(state) = self.previous.remove(index) {
            self.promote(state);
        }
    }

    /// Whether `prekey` repeats the first message of one of the sessions
    /// (same base key), in which case it decrypts in that session.
    ///
    /// # Errors
    /// [`SessionError::MalformedMessage`] if the repeat names another
    /// identity key than the session's: a repeat is answered only for the
    /// identity that started the session.
    pub(crate) fn is_repeated_first_message(
        &self,
        prekey: &PreKeyMessage,
    ) -> Result<bool, SessionError> {
        let Some(state) = self
            .current
            .iter()
            .chain(&self.previous)
            .find(|state| state.base_key == prekey.base_key)
        else {
            return Ok(false);
        };
        if state.remote_identity != prekey.identity_key {
            return Err(SessionError::MalformedMessage {
                reason: "a repeated first message names another identity key",
            });
        }
        Ok(true)
    }

    /// The peer's identity key in the current session.
    pub fn remote_identity(&self) -> Option<IdentityKey> {
        self.current.as_ref().map(|state| state.remote_identity)
    }

    /// Encrypts `plaintext` in the current session and returns the envelope
    /// to send.
    ///
    /// This is the store-free core of
    /// [`SessionManager::encrypt`](super::SessionManager::encrypt), for apps
    /// that load and store records themselves: store the record before
    /// sending the message, or a restart would reuse the message key.
    ///
    /// # Errors
    /// [`SessionError::NoSession`] without a current session, or a
    /// [`SessionError::Ratchet`] error for a plaintext over
    /// [`MAX_PLAINTEXT_LEN`](crate::protocol::MAX_PLAINTEXT_LEN) or an
    /// exhausted counter.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SessionError> {
        let state = self.current.as_mut().ok_or(SessionError::NoSession)?;
        let encrypted = state.ratchet.encrypt(&state.associated_data(), plaintext)?;
        let message = RatchetMessage { header: encrypted.header, ciphertext: encrypted.ciphertext };
        let envelope = match state.pending_prekey {
            Some(pending) => Envelope::PreKey(Box::new(PreKeyMessage {
                identity_key: state.local_identity,
                base_key: state.base_key,
                signed_prekey_id: pending.signed_prekey_id,
                one_time_prekey_id: pending.one_time_prekey_id,
                message,
            })),
            None => Envelope::Ratchet(message),
        };
        Ok(envelope.encode())
    }

    /// Decrypts a message in one of the record's sessions, changing the
    /// record only if it authenticates.
    ///
    /// This is the store-free core of
    /// [`SessionManager::decrypt`](super::SessionManager::decrypt) for
    /// messages of existing sessions; a message that starts a new session
    /// needs the device's prekeys and goes through the manager.
    ///
    /// # Errors
    /// As [`SessionManager::decrypt`](super::SessionManager::decrypt);
    /// [`SessionError::NoSession`] for a first message of a new session.
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        message: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, SessionError> {
        match Envelope::parse(message)? {
            Envelope::Ratchet(message) => self.decrypt_ratchet(&message, rng),
            Envelope::PreKey(prekey) => {
                if self.is_repeated_first_message(&prekey)? {
                    self.decrypt_ratchet(&prekey.message, rng)
                } else {
                    Err(SessionError::NoSession)
                }
            }
        }
    }

    /// Tries the current session, then the previous ones, newest first; the
    /// session the message decrypts in becomes the current one.
    pub(crate) fn decrypt_ratchet<R: CryptoRng + ?Sized>(
        &mut self,
        message: &RatchetMessage,
        rng: &mut R,
    ) -> Result<Vec<u8>, SessionError> {
        let mut first_error = None;
        let candidates =
            self.current.iter_mut().map(|state| (None, state)).chain(
                self.previous.iter_mut().enumerate().map(|(index, state)| (Some(index), state)),
            );
        for (index, state) in candidates {
            let ad = state.associated_data();
            match state.ratchet.decrypt(&ad, &message.header, &message.ciphertext, rng) {
                Ok(plaintext) => {
                    // The peer has heard from us: stop repeating X3DH.
                    state.pending_prekey = None;
                    if let Some(index) = index {
                        self.promote_previous(index);
                    }
                    return Ok(plaintext);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        Err(first_error.map_or(SessionError::NoSession, SessionError::from))
    }

    /// The SFrame keys of 1:1 call `call_id`, derived from the current
    /// session's exporter secret: both sides get the same two keys.
    ///
    /// Derive them once a message has been decrypted each way in the session
    /// (the call's offer and answer), so that both sides use the same session.
    ///
    /// # Errors
    /// [`SessionError::NoSession`] without a current session, or a
    /// [`SessionError::Call`] error.
    pub fn call_keys(&self, call_id: &CallId) -> Result<OneToOneCallKeys, SessionError> {
        let state = self.current.as_ref().ok_or(SessionError::NoSession)?;
        let exporter_secret =
            state.exporter_secret.as_ref().ok_or(CallError::SessionPredatesCallKeys)?;
        Ok(OneToOneCallKeys::derive(
            exporter_secret,
            call_id,
            &state.local_identity,
            &state.remote_identity,
        )?)
    }

    /// How many times a [`SessionManager`](super::SessionManager) has written
    /// this record.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the record has a session to encrypt in.
    pub fn has_current_session(&self) -> bool {
        self.current.is_some()
    }

    /// Encodes the record (`storage.proto`, `SessionRecord`).
    ///
    /// **Warning:** the bytes hold session secrets: keep them encrypted at rest.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        record::encode(&storage::SessionRecord {
            version: RECORD_VERSION,
            generation: self.generation,
            current: self.current.as_ref().map(SessionState::to_record),
            previous: self.previous.iter().map(SessionState::to_record).collect(),
        })
    }

    /// Loads a record from [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// A [`RecordError`] if the bytes are too large, not a record, of
    /// another version, or hold an invalid field.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let stored: storage::SessionRecord = record::decode(bytes)?;
        record::check_version(stored.version)?;
        if stored.previous.len() > MAX_PREVIOUS_SESSIONS {
            return Err(RecordError::InvalidField { field: "previous" });
        }
        Ok(Self {
            generation: stored.generation,
            current: stored.current.as_ref().map(SessionState::from_record).transpose()?,
            previous: stored
                .previous
                .iter()
                .map(SessionState::from_record)
                .collect::<Result<_, _>>()?,
        })
    }
}
