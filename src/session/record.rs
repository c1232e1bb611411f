//! Session records: the state of every session with one address, and its
//! stored encoding (`storage.proto`, `SessionRecord`).

use std::collections::VecDeque;

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::SessionError;
use super::envelope::{Envelope, PreKeyMessage, RatchetMessage};
use crate::keys::{
    DhPublicKey, IdentityKey, KEM_CIPHERTEXT_LEN, OneTimePreKeyId, SeedSource, SignedPreKeyId,
};
use crate::proto::storage;
use crate::protocol::{MAX_PREVIOUS_SESSIONS, MAX_RETIRED_BASE_KEYS, RECORD_VERSION};
use crate::ratchet::{DoubleRatchet, RatchetError, WorkBudget};
use crate::record::{self, RecordError};
use crate::x3dh::{AssociatedData, KemFields};

/// What the initiator repeats in every message until it hears back, so
/// that the responder can run X3DH from whichever message arrives first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingPreKey {
    pub(crate) signed_prekey_id: SignedPreKeyId,
    pub(crate) one_time_prekey_id: Option<OneTimePreKeyId>,
    /// PQXDH's KEM prekey id and ciphertext, repeated in every first message.
    pub(crate) kem: Option<KemFields>,
}

/// Which key agreement made a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Handshake {
    /// PQXDH (revision 3, with ML-KEM-1024): the session's first key resists
    /// a future quantum computer that records the traffic today.
    Pqxdh,
    /// Classical X3DH, made only where the app allowed classical sessions,
    /// or stored before Sotto made every new session post-quantum.
    X3dh,
}

impl Handshake {
    /// Whether the session's key agreement is post-quantum.
    pub fn is_post_quantum(self) -> bool {
        self == Self::Pqxdh
    }
}

/// One session: a Double Ratchet bound to two identity keys.
#[derive(Clone)]
pub(crate) struct SessionState {
    pub(crate) ratchet: DoubleRatchet,
    pub(crate) local_identity: IdentityKey,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) initiator: bool,
    /// X3DH's EK_A: identifies the session to both sides.
    pub(crate) base_key: DhPublicKey,
    pub(crate) pending_prekey: Option<PendingPreKey>,
    /// `KEM_BINDING` for a session PQXDH made; none for X3DH.
    pub(crate) kem_binding: Option<[u8; 32]>,
}

impl fmt::Debug for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand: the secrets never print, whatever their types'
        // `Debug` does.
        f.debug_struct("SessionState")
            .field("local_identity", &self.local_identity)
            .field("remote_identity", &self.remote_identity)
            .field("initiator", &self.initiator)
            .field("base_key", &self.base_key)
            .field("pending_prekey", &self.pending_prekey)
            .field("handshake", &self.handshake())
            .finish_non_exhaustive()
    }
}

impl SessionState {
    /// `AD = IK_A ‖ IK_B`, initiator first.
    pub(crate) fn associated_data(&self) -> AssociatedData {
        let binding = self.kem_binding.as_ref();
        if self.initiator {
            AssociatedData::new(&self.local_identity, &self.remote_identity, binding)
        } else {
            AssociatedData::new(&self.remote_identity, &self.local_identity, binding)
        }
    }

    pub(crate) fn handshake(&self) -> Handshake {
        if self.kem_binding.is_some() { Handshake::Pqxdh } else { Handshake::X3dh }
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
            // Written by earlier builds, which keyed 1:1 calls from it;
            // ignored on load since calls have their own key agreement.
            exporter_secret: Vec::new(),
            retired_ratchet_keys: Vec::new(),
            sending_chain_key: Vec::new(),
            sending_counter: 0,
            previous_counter: 0,
            receiving_chains: Vec::new(),
            skipped_keys: Vec::new(),
            pending_prekey: self.pending_prekey.as_ref().map(|pending| storage::PendingPreKey {
                signed_prekey_id: pending.signed_prekey_id.into(),
                one_time_prekey_id: pending.one_time_prekey_id.map(Into::into),
                kem_prekey_id: pending.kem.as_ref().map(|kem| kem.prekey_id.into()),
                kem_ciphertext: pending
                    .kem
                    .as_ref()
                    .map(|kem| kem.ciphertext.to_vec())
                    .unwrap_or_default(),
            }),
            kem_binding: self.kem_binding.map(|binding| binding.to_vec()).unwrap_or_default(),
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
            base_key: DhPublicKey::from_stored_bytes(&state.base_key)
                .map_err(|_| RecordError::InvalidField { field: "base_key" })?,
            pending_prekey: state.pending_prekey.as_ref().map(pending_from_record).transpose()?,
            kem_binding: match state.kem_binding.as_slice() {
                [] => None,
                binding => Some(
                    binding
                        .try_into()
                        .map_err(|_| RecordError::InvalidField { field: "kem_binding" })?,
                ),
            },
        })
    }
}

/// The pending first-message fields of a stored session: PQXDH's KEM
/// fields come as both or neither.
fn pending_from_record(pending: &storage::PendingPreKey) -> Result<PendingPreKey, RecordError> {
    let kem = match (pending.kem_prekey_id, pending.kem_ciphertext.as_slice()) {
        (None, []) => None,
        (Some(id), ciphertext) => {
            let ciphertext: [u8; KEM_CIPHERTEXT_LEN] = ciphertext
                .try_into()
                .map_err(|_| RecordError::InvalidField { field: "kem_ciphertext" })?;
            Some(KemFields { prekey_id: id.into(), ciphertext: Box::new(ciphertext) })
        }
        (None, _) => return Err(RecordError::InvalidField { field: "kem_prekey_id" }),
    };
    Ok(PendingPreKey {
        signed_prekey_id: pending.signed_prekey_id.into(),
        one_time_prekey_id: pending.one_time_prekey_id.map(Into::into),
        kem,
    })
}

/// Every session with one address: the current one, which new messages are
/// encrypted in, and up to [`MAX_PREVIOUS_SESSIONS`] earlier ones, kept so
/// that messages still in flight for them decrypt (for instance when both
/// sides started a session at the same time).
///
/// Its stored form ([`to_bytes`](Self::to_bytes)) holds secrets.
#[derive(Debug, Default)]
pub struct SessionRecord {
    /// Bumped by every write through a [`SessionManager`](super::SessionManager):
    /// the stores' compare-and-swap is on it.
    pub(crate) generation: u64,
    pub(crate) current: Option<SessionState>,
    pub(crate) previous: VecDeque<SessionState>,
    /// Base keys of sessions the peer started that are no longer kept,
    /// newest first; at most [`MAX_RETIRED_BASE_KEYS`].
    retired_base_keys: VecDeque<DhPublicKey>,
}

/// Which session of a record decrypted a message, and where it goes.
enum Candidate {
    Current,
    Previous(usize),
}

impl SessionRecord {
    /// A record without sessions, at `generation`.
    pub(crate) fn empty(generation: u64) -> Self {
        Self { generation, ..Self::default() }
    }

    /// A copy of the whole record, for a store that keeps records in memory.
    /// Not public: two copies that both encrypt would reuse message keys.
    pub(crate) fn stored_copy(&self) -> Self {
        Self {
            generation: self.generation,
            current: self.current.clone(),
            previous: self.previous.clone(),
            retired_base_keys: self.retired_base_keys.clone(),
        }
    }

    /// Makes `state` the current session, keeping the old current one as
    /// the newest previous session.
    pub(crate) fn promote(&mut self, state: SessionState) {
        if let Some(old) = self.current.replace(state) {
            self.previous.push_front(old);
            while self.previous.len() > MAX_PREVIOUS_SESSIONS {
                if let Some(dropped) = self.previous.pop_back() {
                    self.retire(&dropped);
                }
            }
        }
    }

    /// Remembers the base key of a dropped session the peer started.
    fn retire(&mut self, dropped: &SessionState) {
        if !dropped.initiator {
            self.retired_base_keys.push_front(dropped.base_key);
            self.retired_base_keys.truncate(MAX_RETIRED_BASE_KEYS);
        }
    }

    /// Whether `base_key` started a session the peer started that is no
    /// longer kept: a first message with it is a replay.
    pub(crate) fn retired_base_key(&self, base_key: &DhPublicKey) -> bool {
        self.retired_base_keys.contains(base_key)
    }

    /// Makes previous session `index` the current one.
    fn promote_previous(&mut self, index: usize) {
        if let Some(state) = self.previous.remove(index) {
            self.promote(state);
        }
    }

    /// Keeps only the sessions with `identity`: after the user trusted a new
    /// identity key for the address, sessions with the old one are dropped.
    /// Returns whether any was.
    pub(crate) fn retain_identity(&mut self, identity: &IdentityKey) -> bool {
        let before = self.previous.len() + usize::from(self.current.is_some());
        let (kept, dropped): (Vec<_>, Vec<_>) = self
            .current
            .take()
            .into_iter()
            .chain(self.previous.drain(..))
            .partition(|state| state.remote_identity == *identity);
        for state in &dropped {
            self.retire(state);
        }
        let mut kept = VecDeque::from(kept);
        self.current = kept.pop_front();
        self.previous = kept;
        before != self.previous.len() + usize::from(self.current.is_some())
    }

    /// The session the peer started with the first message `prekey`
    /// repeats (the same base key), if it is kept.
    ///
    /// # Errors
    /// [`SessionError::MalformedMessage`] if the repeat names another
    /// identity key than the session's: a repeat is answered only for the
    /// identity that started the session.
    fn started_by(&self, prekey: &PreKeyMessage) -> Result<Option<Candidate>, SessionError> {
        let started = |state: &SessionState| !state.initiator && state.base_key == prekey.base_key;
        let found = if self.current.as_ref().is_some_and(started) {
            self.current.as_ref().map(|state| (Candidate::Current, state))
        } else {
            self.previous
                .iter()
                .position(started)
                .and_then(|index| Some((Candidate::Previous(index), self.previous.get(index)?)))
        };
        let Some((candidate, state)) = found else {
            return Ok(None);
        };
        if state.remote_identity != prekey.identity_key {
            return Err(SessionError::MalformedMessage {
                reason: "a repeated first message names another identity key",
            });
        }
        Ok(Some(candidate))
    }

    /// Whether `prekey` repeats the first message of a session the peer
    /// started and that is kept: it then decrypts in that session only.
    pub(crate) fn is_repeated_first_message(
        &self,
        prekey: &PreKeyMessage,
    ) -> Result<bool, SessionError> {
        Ok(self.started_by(prekey)?.is_some())
    }

    /// Whether the record keeps any session, current or previous.
    pub fn has_any_session(&self) -> bool {
        self.current.is_some() || !self.previous.is_empty()
    }

    /// Whether one of the record's sessions is with `identity`.
    pub(crate) fn has_session_with(&self, identity: &IdentityKey) -> bool {
        self.current.iter().chain(&self.previous).any(|state| state.remote_identity == *identity)
    }

    /// The peer's identity key in the current session.
    pub fn remote_identity(&self) -> Option<IdentityKey> {
        self.current.as_ref().map(|state| state.remote_identity)
    }

    /// Which key agreement made the current session, if there is one.
    pub fn handshake(&self) -> Option<Handshake> {
        self.current.as_ref().map(SessionState::handshake)
    }

    /// Encrypts `plaintext` in the current session and returns the envelope
    /// to send.
    ///
    /// This is the store-free core of
    /// [`SessionManager::encrypt`](super::SessionManager::encrypt), for apps
    /// that load and store records themselves.
    ///
    /// The record's [generation](Self::generation) advances by one: store
    /// it with a compare-and-swap over the generation it had (for a
    /// [`ProtocolStore`](crate::store::ProtocolStore), a
    /// [`StoreCommit`](crate::store::StoreCommit) naming the old one).
    ///
    /// **Warning:** store the record before sending the message, and never
    /// encrypt twice from one stored state: a restart, or a second thread or
    /// process working from the same record, would reuse the message key.
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
        let envelope = match &state.pending_prekey {
            Some(pending) => Envelope::PreKey(Box::new(PreKeyMessage {
                identity_key: state.local_identity,
                base_key: state.base_key,
                signed_prekey_id: pending.signed_prekey_id,
                one_time_prekey_id: pending.one_time_prekey_id,
                kem: pending.kem.clone(),
                message,
            })),
            None => Envelope::Ratchet(message),
        };
        self.generation = self.generation.wrapping_add(1);
        Ok(envelope.encode())
    }

    /// Decrypts a message in one of the record's sessions, changing the
    /// record only if it authenticates.
    ///
    /// This is the store-free core of
    /// [`SessionManager::decrypt`](super::SessionManager::decrypt) for
    /// messages of existing sessions; a message that starts a new session
    /// needs the device's prekeys and goes through the manager. It tries
    /// every session of the record, whatever its identity key: an app that
    /// keeps records itself also decides which identities it trusts. On
    /// success the [generation](Self::generation) advances by one.
    ///
    /// # Errors
    /// As [`SessionManager::decrypt`](super::SessionManager::decrypt);
    /// [`SessionError::NoSession`] for a first message of a new session.
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        message: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, SessionError> {
        let plaintext = match Envelope::parse(message)? {
            Envelope::Ratchet(message) => self.decrypt_ratchet(&message, None, rng),
            Envelope::PreKey(prekey) => self.decrypt_repeated_first_message(&prekey, rng),
        }?;
        self.generation = self.generation.wrapping_add(1);
        Ok(plaintext)
    }

    /// Decrypts a repeat of a first message in the session it started.
    ///
    /// # Errors
    /// [`SessionError::NoSession`] if no kept session was started by it.
    pub(crate) fn decrypt_repeated_first_message<S: SeedSource + ?Sized>(
        &mut self,
        prekey: &PreKeyMessage,
        seeds: &mut S,
    ) -> Result<Vec<u8>, SessionError> {
        let candidate = self.started_by(prekey)?.ok_or(SessionError::NoSession)?;
        self.decrypt_in(candidate, &prekey.message, seeds)
    }

    /// Decrypts `message` in one session, which then becomes the current one.
    fn decrypt_in<S: SeedSource + ?Sized>(
        &mut self,
        candidate: Candidate,
        message: &RatchetMessage,
        seeds: &mut S,
    ) -> Result<Vec<u8>, SessionError> {
        let state = match candidate {
            Candidate::Current => self.current.as_mut(),
            Candidate::Previous(index) => self.previous.get_mut(index),
        }
        .ok_or(SessionError::NoSession)?;
        let ad = state.associated_data();
        let mut budget = WorkBudget::new();
        let plaintext =
            state.ratchet.decrypt(&ad, &message.header, &message.ciphertext, seeds, &mut budget)?;
        // The peer has heard from us: stop repeating X3DH.
        state.pending_prekey = None;
        if let Candidate::Previous(index) = candidate {
            self.promote_previous(index);
        }
        Ok(plaintext)
    }

    /// Tries the current session, then the previous ones, newest first,
    /// skipping any whose identity is not `trusted` (when given); the
    /// session the message decrypts in becomes the current one. A duplicate
    /// in the current session is reported at once, as the current session is
    /// where an honest peer's messages go.
    ///
    /// # Errors
    /// [`SessionError::NoSession`] when no session was tried, else the
    /// error of the first session tried.
    pub(crate) fn decrypt_ratchet<S: SeedSource + ?Sized>(
        &mut self,
        message: &RatchetMessage,
        trusted: Option<&IdentityKey>,
        seeds: &mut S,
    ) -> Result<Vec<u8>, SessionError> {
        let admits = |state: &SessionState| trusted.is_none_or(|key| state.remote_identity == *key);
        let mut first_error = None;
        let candidates = self
            .current
            .iter_mut()
            .map(|state| (Candidate::Current, state))
            .chain(self.previous.iter_mut().enumerate().map(|(i, s)| (Candidate::Previous(i), s)))
            .filter(|(_, state)| admits(state));
        let mut decrypted = None;
        // One budget for every session tried: a forged message costs what
        // one honest message may, however many sessions the record keeps.
        let mut budget = WorkBudget::new();
        for (candidate, state) in candidates {
            let ad = state.associated_data();
            match state.ratchet.decrypt(
                &ad,
                &message.header,
                &message.ciphertext,
                seeds,
                &mut budget,
            ) {
                Ok(plaintext) => {
                    state.pending_prekey = None;
                    decrypted = Some((candidate, plaintext));
                    break;
                }
                Err(error @ RatchetError::DuplicateMessage { .. })
                    if matches!(candidate, Candidate::Current) =>
                {
                    return Err(error.into());
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        let Some((candidate, plaintext)) = decrypted else {
            return Err(first_error.map_or(SessionError::NoSession, SessionError::from));
        };
        if let Candidate::Previous(index) = candidate {
            self.promote_previous(index);
        }
        Ok(plaintext)
    }

    /// How many times the record was changed: every encryption, decryption
    /// or trust decision that was stored advanced it by one. Stores
    /// compare-and-swap on it.
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
            retired_base_keys: self
                .retired_base_keys
                .iter()
                .flat_map(DhPublicKey::to_bytes)
                .collect(),
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
        let retired = &stored.retired_base_keys;
        if retired.len() > 32 * MAX_RETIRED_BASE_KEYS || !retired.len().is_multiple_of(32) {
            return Err(RecordError::InvalidField { field: "retired_base_keys" });
        }
        Ok(Self {
            generation: stored.generation,
            current: stored.current.as_ref().map(SessionState::from_record).transpose()?,
            previous: stored
                .previous
                .iter()
                .map(SessionState::from_record)
                .collect::<Result<_, _>>()?,
            retired_base_keys: retired
                .chunks_exact(32)
                .map(|key| {
                    DhPublicKey::from_stored_bytes(key)
                        .map_err(|_| RecordError::InvalidField { field: "retired_base_keys" })
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::keys::{IdentityKeyPair, PreKeyBundle, test_count};
    use crate::proto::wire;
    use crate::protocol::{DH_RATCHET_WORK, MAX_DECRYPT_WORK, MAX_SKIP};
    use crate::rng::test_rng;
    use crate::session::{Address, SessionManager};
    use crate::store::{InMemoryStore, SessionStore};

    fn manager(account: &str, seed: u8) -> SessionManager<InMemoryStore, chacha20::ChaCha20Rng> {
        let identity = IdentityKeyPair::generate(&mut test_rng(seed));
        let address = Address::new(account, 1).unwrap();
        SessionManager::with_rng(address, InMemoryStore::new(identity), test_rng(seed ^ 0x5e))
    }

    /// A forged ratchet message with a ratchet key no session knows and
    /// counter `counter`: every session could take it for a DH ratchet step.
    fn forged(counter: u32) -> Vec<u8> {
        let header = wire::RatchetHeader {
            ratchet_key: [0x5a; 31].into_iter().chain([0x1a]).collect(),
            previous_counter: 999,
            counter: counter.into(),
        };
        wire::Envelope {
            version: 1,
            content: Some(wire::envelope::Content::RatchetMessage(wire::RatchetMessage {
                header: header.encode_to_vec(),
                ciphertext: vec![0x17; 116],
            })),
        }
        .encode_to_vec()
    }

    /// The work one forged message costs is bounded across the sessions it
    /// is tried in (one DH and `MAX_SKIP` chain steps before a tag fails),
    /// not multiplied by them, and draws no key of ours.
    #[test]
    fn a_forged_message_costs_at_most_one_honest_message_of_work() {
        let alice = manager("alice", 1);
        let bob = manager("bob", 2);
        let signed = bob.generate_signed_prekey(SignedPreKeyId::from(1)).unwrap();
        let kem = bob.generate_last_resort_kem_prekey(1.into()).unwrap();
        let bundle = PreKeyBundle::new(bob.identity_key().unwrap(), signed, kem, None).to_bytes();
        for n in 0..=MAX_PREVIOUS_SESSIONS {
            alice.process_bundle(bob.address(), &bundle).unwrap();
            let first = alice.encrypt(bob.address(), &[n as u8]).unwrap();
            bob.decrypt(alice.address(), &first).unwrap().commit().unwrap();
        }
        let load = || bob.store().load_session(alice.address()).unwrap().unwrap();
        assert_eq!(load().previous.len(), MAX_PREVIOUS_SESSIONS);
        let work = |counter| {
            let mut record = load();
            let before = test_count::diffie_hellmans();
            let error = record.decrypt(&forged(counter), &mut test_rng(3)).unwrap_err();
            let after = test_count::diffie_hellmans();
            assert!(
                matches!(error, SessionError::Ratchet(RatchetError::AuthenticationFailed)),
                "{error:?}"
            );
            assert_eq!(
                record.to_bytes(),
                load().to_bytes(),
                "a failed decryption changed the record"
            );
            after - before
        };
        // With the most chain steps, one session's DH fits the budget.
        assert_eq!(work(MAX_SKIP), 1);
        // With none, as many DHs as the budget holds, not one per session.
        let fit = u64::from(MAX_DECRYPT_WORK / (DH_RATCHET_WORK + 1));
        let sessions = u64::try_from(MAX_PREVIOUS_SESSIONS + 1).unwrap();
        assert!(fit < sessions, "the budget must bind before the sessions run out");
        assert_eq!(work(0), fit);
    }
}
