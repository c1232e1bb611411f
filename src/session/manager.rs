//! [`SessionManager`]: the sessions of one device over its store.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rand_core::CryptoRng;

use super::commit::{DecryptBatch, Decrypted, PendingBatch, PendingCommit};
use super::envelope::{Envelope, PreKeyMessage, RatchetMessage};
use super::record::{Handshake, PendingPreKey, SessionState};
use super::{Address, SessionError, SessionRecord};
use crate::call::{CallError, CallId, CallOffer, OneToOneCall, OutgoingCall};
use crate::keys::{
    DhPublicKey, DhSeed, IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, KemPreKeyKind,
    KemPreKeyPublic, OneTimePreKey, OneTimePreKeyId, OneTimePreKeyPublic, PreKeyBundle, SeedSource,
    SignedPreKey, SignedPreKeyId, SignedPreKeyPublic,
};
use crate::locks::{AddressLocks, Reentrant};
use crate::media::CipherSuite;
use crate::protocol::{MAX_ACCEPTED_CALL_OFFERS, MAX_COMMIT_ATTEMPTS};
use crate::ratchet::{DoubleRatchet, Header, RatchetError};
use crate::rng::{OsRng, os_rng};
use crate::store::{
    LastResortUse, PeerIdentity, PeerIdentityWrite, ProtocolStore, StoreCommit, StoreError,
};
use crate::verify::SafetyNumber;
use crate::x3dh;

/// The sessions of one device, over the app's store.
///
/// Every method takes `&self`, and the manager is `Send + Sync` when its
/// store and random generator are: any thread may call any method at any
/// time. Writes to one address's session are serialised in the manager, and
/// every write is a compare-and-swap in the store, so that no message key is
/// used twice whatever the interleaving, also with other managers and other
/// processes on the same store (see the [module documentation](super)).
pub struct SessionManager<S, R = OsRng> {
    address: Address,
    store: S,
    rng: Mutex<R>,
    locks: AddressLocks,
    classical: ClassicalSessions,
    /// The caller ephemeral keys of the call offers accepted, oldest first.
    accepted_offers: Mutex<RecentKeys>,
}

/// Whether a manager starts and accepts classical (X3DH) sessions, without a
/// post-quantum KEM.
///
/// [`Refuse`](Self::Refuse) is the default: a bundle without a KEM prekey,
/// or a first message without a KEM ciphertext, is refused with
/// [`SessionError::ClassicalSessionRefused`], so that a server cannot
/// silently downgrade a session to one a future quantum computer could read
/// from recorded traffic. Sessions already stored keep working either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClassicalSessions {
    /// Every new session is PQXDH (the default).
    #[default]
    Refuse,
    /// New sessions may also be classical X3DH, with peers that publish no
    /// KEM prekeys: an opt-in the app names, and should show the user
    /// ([`SessionManager::session_handshake`]).
    Allow,
}

/// A bounded set that forgets its oldest entries.
#[derive(Default)]
struct RecentKeys {
    order: VecDeque<DhPublicKey>,
    keys: HashSet<DhPublicKey>,
}

impl RecentKeys {
    /// Adds `key`; `false` if it was there already.
    fn insert(&mut self, key: DhPublicKey) -> bool {
        if !self.keys.insert(key) {
            return false;
        }
        self.order.push_back(key);
        while self.order.len() > MAX_ACCEPTED_CALL_OFFERS {
            if let Some(oldest) = self.order.pop_front() {
                self.keys.remove(&oldest);
            }
        }
        true
    }
}

/// The generation a record gets when it is written over `expected`.
pub(super) fn next_generation(expected: Option<u64>) -> u64 {
    expected.map_or(1, |generation| generation.wrapping_add(1))
}

/// The identity the sessions of `address` must have: the one `recorded`.
///
/// # Errors
/// [`SessionError::PeerIdentityMissing`] if none is recorded while `record`
/// has sessions, [`SessionError::NoSession`] if it has none either.
fn trusted(
    address: &Address,
    record: &SessionRecord,
    recorded: Option<PeerIdentity>,
) -> Result<IdentityKey, SessionError> {
    match recorded {
        Some(known) => Ok(known.key),
        None if record.has_any_session() => {
            Err(SessionError::PeerIdentityMissing { address: address.clone() })
        }
        None => Err(SessionError::NoSession),
    }
}

/// The identity write a first contact with `presented` makes, given what is
/// recorded for the address and whether the address has sessions.
pub(super) fn first_use(
    address: &Address,
    recorded: Option<PeerIdentity>,
    record: Option<&SessionRecord>,
    presented: IdentityKey,
) -> Result<Option<PeerIdentityWrite>, SessionError> {
    match recorded {
        Some(known) if known.key == presented => Ok(None),
        Some(_) => Err(SessionError::UntrustedIdentity {
            address: address.clone(),
            identity_key: presented,
        }),
        None if record.is_some_and(SessionRecord::has_any_session) => {
            Err(SessionError::PeerIdentityMissing { address: address.clone() })
        }
        None => {
            Ok(Some(PeerIdentityWrite::FirstUse(PeerIdentity { key: presented, verified: false })))
        }
    }
}

impl<S: ProtocolStore> SessionManager<S> {
    /// A manager for the device at `address`, drawing randomness from the
    /// operating system.
    pub fn new(address: Address, store: S) -> Self {
        Self::with_rng(address, store, os_rng())
    }
}

impl<S: ProtocolStore, R: CryptoRng> SessionManager<S, R> {
    /// A manager drawing randomness from `rng` (deterministic tests).
    pub fn with_rng(address: Address, store: S, rng: R) -> Self {
        Self {
            address,
            store,
            rng: Mutex::new(rng),
            locks: AddressLocks::default(),
            classical: ClassicalSessions::default(),
            accepted_offers: Mutex::default(),
        }
    }

    /// The same manager, starting and accepting classical sessions as
    /// `policy` says (by default it refuses them).
    #[must_use]
    pub fn with_classical_sessions(mut self, policy: ClassicalSessions) -> Self {
        self.classical = policy;
        self
    }

    /// Whether this manager starts and accepts classical sessions.
    pub fn classical_sessions(&self) -> ClassicalSessions {
        self.classical
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// This device's address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Draws randomness; the lock is held only while `f` draws.
    pub(super) fn with_rng_locked<T>(&self, f: impl FnOnce(&mut R) -> T) -> T {
        // A panic while drawing randomness cannot leave a generator in a
        // state that repeats output, so a poisoned lock is safe to use.
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut rng)
    }

    /// The manager's generator as a seed source: locked only while a DH
    /// ratchet step draws, never across a decryption.
    pub(super) fn seeds(&self) -> LockedSeeds<'_, R> {
        LockedSeeds(&self.rng)
    }

    fn local_identity(&self) -> Result<IdentityKeyPair, SessionError> {
        self.store.local_identity()?.ok_or(SessionError::NoLocalIdentity)
    }

    /// This device's public identity key.
    ///
    /// # Errors
    /// [`SessionError::NoLocalIdentity`] or a store error.
    pub fn identity_key(&self) -> Result<IdentityKey, SessionError> {
        Ok(self.local_identity()?.public())
    }

    /// Makes a signed prekey, stores it, and returns its public half for
    /// upload.
    ///
    /// # Errors
    /// [`SessionError::NoLocalIdentity`] or a store error.
    pub fn generate_signed_prekey(
        &self,
        id: SignedPreKeyId,
    ) -> Result<SignedPreKeyPublic, SessionError> {
        let identity = self.local_identity()?;
        let prekey = self.with_rng_locked(|rng| SignedPreKey::generate(id, &identity, rng));
        self.store.save_signed_prekey(&prekey)?;
        Ok(prekey.public())
    }

    /// Makes `count` one-time prekeys with ids `first_id`, `first_id + 1`, …
    /// (wrapping), stores them, and returns their public halves for upload.
    ///
    /// # Errors
    /// A store error; the prekeys stored before it stay (upload none of
    /// them, and generate again with the same ids).
    pub fn generate_one_time_prekeys(
        &self,
        first_id: u32,
        count: u32,
    ) -> Result<Vec<OneTimePreKeyPublic>, SessionError> {
        (0..count)
            .map(|offset| {
                let id = first_id.wrapping_add(offset).into();
                let prekey = self.with_rng_locked(|rng| OneTimePreKey::generate(id, rng));
                self.store.save_one_time_prekey(&prekey)?;
                Ok(prekey.public())
            })
            .collect()
    }

    /// Makes `count` one-time KEM prekeys (ML-KEM-1024) with ids `first_id`,
    /// `first_id + 1`, … (wrapping), signs and stores them, and returns
    /// their public halves for upload. Each is used for at most one session
    /// and removed when that session commits.
    ///
    /// # Errors
    /// [`SessionError::NoLocalIdentity`] or a store error; the prekeys
    /// stored before it stay (upload none of them, and generate again with
    /// the same ids).
    pub fn generate_kem_prekeys(
        &self,
        first_id: u32,
        count: u32,
    ) -> Result<Vec<KemPreKeyPublic>, SessionError> {
        let identity = self.local_identity()?;
        (0..count)
            .map(|offset| {
                let id = first_id.wrapping_add(offset).into();
                let prekey = self.with_rng_locked(|rng| {
                    KemPreKey::generate(id, KemPreKeyKind::OneTime, &identity, rng)
                });
                self.store.save_kem_prekey(&prekey)?;
                Ok(prekey.public())
            })
            .collect()
    }

    /// Makes the last-resort KEM prekey with `id`, signs and stores it, and
    /// returns its public half for upload: the server hands it out when no
    /// one-time KEM prekey is left. Rotate it as the signed prekey is
    /// rotated: upload a new one, and after a grace period for messages in
    /// flight remove the old one (`KemPreKeyStore::remove_kem_prekey`),
    /// which also forgets the base keys it was used with.
    ///
    /// # Errors
    /// [`SessionError::NoLocalIdentity`] or a store error.
    pub fn generate_last_resort_kem_prekey(
        &self,
        id: KemPreKeyId,
    ) -> Result<KemPreKeyPublic, SessionError> {
        let identity = self.local_identity()?;
        let prekey = self.with_rng_locked(|rng| {
            KemPreKey::generate(id, KemPreKeyKind::LastResort, &identity, rng)
        });
        self.store.save_kem_prekey(&prekey)?;
        Ok(prekey.public())
    }

    /// Which key agreement made the current session with `address`, if
    /// there is one: for the app to show whether a conversation is
    /// post-quantum.
    ///
    /// # Errors
    /// A store error.
    pub fn session_handshake(&self, address: &Address) -> Result<Option<Handshake>, SessionError> {
        Ok(self.store.load_session(address)?.and_then(|record| record.handshake()))
    }

    /// The identity recorded for `address`, which its sessions must have.
    ///
    /// # Errors
    /// [`SessionError::PeerIdentityMissing`] if none is recorded while
    /// `record` has sessions (the store lost it: trust on first use must not
    /// start again silently), or a store error.
    pub(super) fn trusted_identity(
        &self,
        address: &Address,
        record: &SessionRecord,
    ) -> Result<IdentityKey, SessionError> {
        trusted(address, record, self.store.peer_identity(address)?)
    }

    /// The identity the store records for the address of `change`, read
    /// from the store the first time only.
    fn recorded_identity(
        &self,
        address: &Address,
        change: &mut Change,
    ) -> Result<Option<PeerIdentity>, SessionError> {
        match change.recorded_identity {
            Some(recorded) => Ok(recorded),
            None => {
                let recorded = self.store.peer_identity(address)?;
                change.recorded_identity = Some(recorded);
                Ok(recorded)
            }
        }
    }

    /// Runs `change` on the stored record and identity of `address` and
    /// commits what it returns, under the address's lock: inside the store's
    /// exclusive [`WriteTransaction`](crate::store::WriteTransaction) when it
    /// has them, otherwise as a
    /// compare-and-swap that, when another writer (another process) changed
    /// the record first, loads it again and retries, up to
    /// [`MAX_COMMIT_ATTEMPTS`] times. What `change` computed in a refused
    /// attempt is dropped, never handed out. `change` must not call the
    /// store.
    fn update<T>(
        &self,
        address: &Address,
        mut change: impl FnMut(
            Option<SessionRecord>,
            Option<PeerIdentity>,
        ) -> Result<(StoreCommit, T), SessionError>,
    ) -> Result<T, SessionError> {
        let _guard = self.locks.lock(address).map_err(|Reentrant| SessionError::ReentrantCall)?;
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let outcome = match self.store.begin_write()? {
                Some(mut transaction) => {
                    let loaded = transaction.load_session(address)?;
                    let peer = transaction.peer_identity(address)?;
                    let (commit, value) = change(loaded, peer)?;
                    transaction.commit(core::slice::from_ref(&commit)).map(|()| value)
                }
                None => {
                    let loaded = self.store.load_session(address)?;
                    let peer = self.store.peer_identity(address)?;
                    let (commit, value) = change(loaded, peer)?;
                    self.store.commit(core::slice::from_ref(&commit)).map(|()| value)
                }
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err(StoreError::Conflict { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(SessionError::Contended { address: address.clone(), attempts: MAX_COMMIT_ATTEMPTS })
    }

    /// Starts a session with `address` from its encoded prekey bundle: the
    /// bundle is parsed and its signature verified before any
    /// Diffie-Hellman. The next [`encrypt`](Self::encrypt) to `address`
    /// sends the first message.
    ///
    /// # Errors
    /// [`SessionError::Bundle`] for a malformed or badly signed bundle,
    /// [`SessionError::UntrustedIdentity`] if `address` is known with
    /// another identity key, [`SessionError::X3dh`] for a non-contributory
    /// key, [`SessionError::Contended`], or a store error. On error, nothing
    /// is stored.
    pub fn process_bundle(&self, address: &Address, bundle: &[u8]) -> Result<(), SessionError> {
        let bundle = PreKeyBundle::from_bytes(bundle)?.verify()?;
        let post_quantum = bundle.kem_prekey().is_some();
        if !post_quantum && self.classical == ClassicalSessions::Refuse {
            return Err(SessionError::ClassicalSessionRefused { address: address.clone() });
        }
        let local = self.local_identity()?;
        // EK_A, the first ratchet key, then (PQXDH) the encapsulation's m.
        let (ephemeral, ratchet_seed, kem_randomness) = self.with_rng_locked(|rng| {
            let ephemeral = DhSeed::generate(rng);
            let ratchet_seed = DhSeed::generate(rng);
            let kem_randomness = post_quantum.then(|| {
                let mut m = zeroize::Zeroizing::new([0u8; 32]);
                rng.fill_bytes(m.as_mut());
                m
            });
            (ephemeral, ratchet_seed, kem_randomness)
        });
        let initiated = x3dh::initiate(&local, &bundle, &ephemeral, kem_randomness.as_ref())?;
        let (kem, kem_binding) =
            initiated.kem.map_or((None, None), |(kem, binding)| (Some(kem), Some(binding)));
        let ratchet = DoubleRatchet::initiator(
            initiated.shared_key,
            &initiated.signed_prekey,
            &ratchet_seed,
        )?;
        let state = SessionState {
            ratchet,
            local_identity: local.public(),
            remote_identity: bundle.identity_key(),
            initiator: true,
            base_key: initiated.base_key,
            pending_prekey: Some(PendingPreKey {
                signed_prekey_id: initiated.signed_prekey_id,
                one_time_prekey_id: initiated.one_time_prekey_id,
                kem,
            }),
            kem_binding,
        };
        self.update(address, |loaded, recorded| {
            let peer_identity =
                first_use(address, recorded, loaded.as_ref(), bundle.identity_key())?;
            let expected = loaded.as_ref().map(SessionRecord::generation);
            let mut record = loaded.unwrap_or_default();
            record.promote(state.clone());
            record.generation = next_generation(expected);
            let mut commit = StoreCommit::new(address.clone(), expected, record);
            commit.peer_identity = peer_identity;
            Ok((commit, ()))
        })
    }

    /// Whether there is a session to encrypt to `address` in.
    ///
    /// # Errors
    /// A store error.
    pub fn has_session(&self, address: &Address) -> Result<bool, SessionError> {
        Ok(self.store.load_session(address)?.is_some_and(|record| record.has_current_session()))
    }

    /// Encrypts `plaintext` to `address`: the advanced session is durable in
    /// the store before the message is returned, so no later encryption, in
    /// this process or another, can reuse its message key.
    ///
    /// # Errors
    /// [`SessionError::NoSession`] without a session,
    /// [`SessionError::UntrustedIdentity`] if the identity recorded for
    /// `address` is no longer the session's,
    /// [`SessionError::PeerIdentityMissing`], a [`SessionError::Ratchet`]
    /// error for a plaintext over
    /// [`MAX_PLAINTEXT_LEN`](crate::protocol::MAX_PLAINTEXT_LEN),
    /// [`SessionError::Contended`], or a store error.
    pub fn encrypt(&self, address: &Address, plaintext: &[u8]) -> Result<Vec<u8>, SessionError> {
        self.update(address, |loaded, recorded| {
            let mut record = loaded.ok_or(SessionError::NoSession)?;
            let identity = record.remote_identity().ok_or(SessionError::NoSession)?;
            if trusted(address, &record, recorded)? != identity {
                return Err(SessionError::UntrustedIdentity {
                    address: address.clone(),
                    identity_key: identity,
                });
            }
            let expected = record.generation;
            let message = record.encrypt(plaintext)?;
            record.generation = next_generation(Some(expected));
            Ok((StoreCommit::new(address.clone(), Some(expected), record), message))
        })
    }

    /// Decrypts a message from `address`. Nothing is stored until the
    /// returned [`Decrypted`] is committed (see the [module
    /// documentation](super) for when to commit).
    ///
    /// A first message (one that starts a session) runs X3DH; its one-time
    /// prekey is removed by the commit, after the message authenticated.
    /// A message is tried only in sessions with the identity key recorded
    /// for `address`.
    ///
    /// # Errors
    /// [`SessionError::MessageTooLarge`], [`SessionError::MalformedMessage`]
    /// or [`SessionError::UnsupportedVersion`] for bad input,
    /// [`SessionError::NoSession`] for a message in an unknown session,
    /// [`SessionError::UntrustedIdentity`] for a first message from a known
    /// address with a new identity key, or a message only a session with an
    /// identity no longer trusted could decrypt,
    /// [`SessionError::PeerIdentityMissing`],
    /// [`SessionError::UnknownSignedPreKey`] or
    /// [`SessionError::UnknownOneTimePreKey`], a [`SessionError::Ratchet`]
    /// error for a duplicate (a repeated first message included), a
    /// too-far jump or a failed authentication, or a store error. On error,
    /// nothing changed.
    pub fn decrypt(
        &self,
        address: &Address,
        message: &[u8],
    ) -> Result<Decrypted<'_, S>, SessionError> {
        let loaded = self.store.load_session(address)?;
        let expected = loaded.as_ref().map(SessionRecord::generation);
        let mut change = Change::new(loaded, None);
        let plaintext = self.decrypt_into(address, &mut change, message, None)?;
        let started_session = change.started_session;
        let pending = PendingCommit::new(change.into_commit(address.clone(), expected));
        Ok(Decrypted::new(&self.store, plaintext, pending, started_session))
    }

    /// Decrypts `message` into `change` (the state of `address` so far),
    /// changing it only if the message authenticates. `consumed` are the
    /// one-time prekeys that other changes of the same batch consume.
    pub(super) fn decrypt_into(
        &self,
        address: &Address,
        change: &mut Change,
        message: &[u8],
        consumed: Option<&Consumed>,
    ) -> Result<Vec<u8>, SessionError> {
        let mut seeds = self.seeds();
        match Envelope::parse(message)? {
            Envelope::Ratchet(message) => {
                self.decrypt_ratchet(address, change, &message, &mut seeds)
            }
            Envelope::PreKey(prekey) => {
                self.decrypt_prekey(address, change, &prekey, &mut seeds, consumed)
            }
        }
    }

    fn decrypt_ratchet(
        &self,
        address: &Address,
        change: &mut Change,
        message: &RatchetMessage,
        seeds: &mut LockedSeeds<'_, R>,
    ) -> Result<Vec<u8>, SessionError> {
        let trusted = match change.peer_identity {
            Some(write) => write.identity().key,
            None => {
                let recorded = self.recorded_identity(address, change)?;
                trusted(address, change.record.as_ref().ok_or(SessionError::NoSession)?, recorded)?
            }
        };
        let record = change.record.as_mut().ok_or(SessionError::NoSession)?;
        if !record.has_session_with(&trusted) {
            let identity_key = record.remote_identity().ok_or(SessionError::NoSession)?;
            return Err(SessionError::UntrustedIdentity { address: address.clone(), identity_key });
        }
        record.decrypt_ratchet(message, Some(&trusted), seeds)
    }

    fn decrypt_prekey(
        &self,
        address: &Address,
        change: &mut Change,
        prekey: &PreKeyMessage,
        seeds: &mut LockedSeeds<'_, R>,
        consumed: Option<&Consumed>,
    ) -> Result<Vec<u8>, SessionError> {
        let repeated = match change.record.as_ref() {
            Some(record) => record.is_repeated_first_message(prekey)?,
            None => false,
        };
        if repeated {
            // A repeat of a first message that started a session we keep:
            // decrypt it in that session only.
            let trusted = match change.peer_identity {
                Some(write) => write.identity().key,
                None => {
                    let recorded = self.recorded_identity(address, change)?;
                    trusted(
                        address,
                        change.record.as_ref().ok_or(SessionError::NoSession)?,
                        recorded,
                    )?
                }
            };
            if trusted != prekey.identity_key {
                return Err(SessionError::UntrustedIdentity {
                    address: address.clone(),
                    identity_key: prekey.identity_key,
                });
            }
            let record = change.record.as_mut().ok_or(SessionError::NoSession)?;
            return record.decrypt_repeated_first_message(prekey, seeds);
        }
        if change.record.as_ref().is_some_and(|record| record.retired_base_key(&prekey.base_key)) {
            let counter = Header::decode(&prekey.message.header)?.counter;
            return Err(RatchetError::DuplicateMessage { counter }.into());
        }

        let peer_identity = match change.peer_identity {
            // An identity this batch records already.
            Some(write) if write.identity().key == prekey.identity_key => None,
            Some(_) => {
                return Err(SessionError::UntrustedIdentity {
                    address: address.clone(),
                    identity_key: prekey.identity_key,
                });
            }
            None => {
                let recorded = self.recorded_identity(address, change)?;
                first_use(address, recorded, change.record.as_ref(), prekey.identity_key)?
            }
        };
        if prekey.kem.is_none() && self.classical == ClassicalSessions::Refuse {
            return Err(SessionError::ClassicalSessionRefused { address: address.clone() });
        }
        let local = self.local_identity()?;
        let signed = self
            .store
            .signed_prekey(prekey.signed_prekey_id)?
            .ok_or(SessionError::UnknownSignedPreKey { id: prekey.signed_prekey_id })?;
        let one_time = match prekey.one_time_prekey_id {
            Some(id)
                if consumed.is_some_and(|earlier| earlier.one_time.contains(&id))
                    || change.consumed.contains(&id) =>
            {
                return Err(SessionError::UnknownOneTimePreKey { id });
            }
            Some(id) => Some(
                self.store.one_time_prekey(id)?.ok_or(SessionError::UnknownOneTimePreKey { id })?,
            ),
            None => None,
        };
        let kem_prekey = match &prekey.kem {
            Some(kem) => Some(self.kem_prekey_for(prekey, kem.prekey_id, change, consumed)?),
            None => None,
        };
        let kem = kem_prekey
            .as_ref()
            .zip(prekey.kem.as_ref())
            .map(|(kem_prekey, fields)| (kem_prekey, &*fields.ciphertext));
        let (shared_key, ad) = x3dh::respond(
            &local,
            &signed,
            one_time.as_ref(),
            kem,
            &prekey.identity_key,
            &prekey.base_key,
        )?;
        let (ratchet, plaintext) = DoubleRatchet::responder(shared_key, signed.key_pair().clone())
            .decrypt(&ad, &prekey.message.header, &prekey.message.ciphertext, seeds)?;
        change.record.get_or_insert_with(SessionRecord::default).promote(SessionState {
            ratchet,
            local_identity: local.public(),
            remote_identity: prekey.identity_key,
            initiator: false,
            base_key: prekey.base_key,
            pending_prekey: None,
            kem_binding: kem_prekey.as_ref().map(KemPreKey::binding),
        });
        if peer_identity.is_some() {
            change.peer_identity = peer_identity;
        }
        change.consumed.extend(prekey.one_time_prekey_id);
        match kem_prekey.as_ref().map(|kem_prekey| (kem_prekey.id(), kem_prekey.kind())) {
            Some((id, KemPreKeyKind::OneTime)) => change.consumed_kem.push(id),
            Some((id, KemPreKeyKind::LastResort)) => change
                .last_resort_uses
                .push(LastResortUse { kem_prekey: id, base_key: prekey.base_key }),
            None => {}
        }
        change.started_session = true;
        Ok(plaintext)
    }

    /// The KEM prekey `id` a first message names, if it may still start a
    /// session: a one-time one not consumed yet (by this change or an
    /// earlier one of its batch), a last-resort one whose use with this base
    /// key is not recorded.
    ///
    /// # Errors
    /// [`SessionError::UnknownKemPreKey`] for one not stored or consumed,
    /// [`RatchetError::DuplicateMessage`] for a recorded last-resort use (a
    /// replayed first message).
    fn kem_prekey_for(
        &self,
        prekey: &PreKeyMessage,
        id: KemPreKeyId,
        change: &Change,
        consumed: Option<&Consumed>,
    ) -> Result<KemPreKey, SessionError> {
        if consumed.is_some_and(|earlier| earlier.kem.contains(&id))
            || change.consumed_kem.contains(&id)
        {
            return Err(SessionError::UnknownKemPreKey { id });
        }
        let kem_prekey = self.store.kem_prekey(id)?.ok_or(SessionError::UnknownKemPreKey { id })?;
        let used = LastResortUse { kem_prekey: id, base_key: prekey.base_key };
        if kem_prekey.kind() == KemPreKeyKind::LastResort
            && (consumed.is_some_and(|earlier| earlier.last_resort_uses.contains(&used))
                || change.last_resort_uses.contains(&used)
                || self.store.last_resort_use_recorded(id, &prekey.base_key)?)
        {
            let counter = Header::decode(&prekey.message.header)?.counter;
            return Err(RatchetError::DuplicateMessage { counter }.into());
        }
        Ok(kem_prekey)
    }

    /// A batch of decryptions committed together (see [`DecryptBatch`]):
    /// for a device catching up with many queued messages.
    pub fn batch(&self) -> DecryptBatch<'_, S, R> {
        DecryptBatch::new(self)
    }

    /// Decrypts a message from `address` into `batch`, as
    /// [`DecryptBatch::decrypt`] does.
    ///
    /// # Errors
    /// As [`DecryptBatch::decrypt`].
    pub fn decrypt_in_batch(
        &self,
        batch: &mut PendingBatch,
        address: &Address,
        message: &[u8],
    ) -> Result<Vec<u8>, SessionError> {
        batch.decrypt(self, address, message)
    }

    /// Commits `batch` in one store transaction, as [`DecryptBatch::commit`]
    /// does.
    ///
    /// # Errors
    /// As [`DecryptBatch::commit`].
    pub fn commit_batch(&self, batch: PendingBatch) -> Result<(), SessionError> {
        batch.commit(&self.store)
    }

    /// Applies the changes of a decrypted message, as [`Decrypted::commit`]
    /// does. After a store failure the same pending commit may be applied
    /// again; once applied, applying it again is refused as stale.
    ///
    /// # Errors
    /// As [`Decrypted::commit`].
    pub fn commit(&self, pending: &PendingCommit) -> Result<(), SessionError> {
        pending.apply(&self.store)
    }

    /// Records `identity_key` as the identity of `address`, replacing any
    /// earlier key: after a [`SessionError::UntrustedIdentity`], once the
    /// user accepted the change, or with `verified` after the user compared
    /// safety numbers.
    ///
    /// Sessions with any other identity key are dropped in the same commit
    /// (their messages would be refused anyway), and every decryption not yet
    /// committed for `address` becomes stale: it was checked against the
    /// trust this replaces.
    ///
    /// # Errors
    /// [`SessionError::Contended`] or a store error.
    pub fn trust_identity(
        &self,
        address: &Address,
        identity_key: IdentityKey,
        verified: bool,
    ) -> Result<(), SessionError> {
        let identity = PeerIdentity { key: identity_key, verified };
        self.update(address, |loaded, _| {
            let expected = loaded.as_ref().map(SessionRecord::generation);
            let mut record = loaded.unwrap_or_default();
            record.retain_identity(&identity_key);
            record.generation = next_generation(expected);
            let mut commit = StoreCommit::new(address.clone(), expected, record);
            commit.peer_identity = Some(PeerIdentityWrite::Replace(identity));
            Ok((commit, ()))
        })
    }

    /// What this device knows of the identity of `address`, if anything.
    ///
    /// # Errors
    /// A store error.
    pub fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, SessionError> {
        Ok(self.store.peer_identity(address)?)
    }

    /// The safety number of this device and `address`, from the identity
    /// key recorded for `address`; `None` if none is recorded.
    ///
    /// # Errors
    /// [`SessionError::NoLocalIdentity`] or a store error.
    pub fn safety_number(&self, address: &Address) -> Result<Option<SafetyNumber>, SessionError> {
        let local = self.identity_key()?;
        let Some(peer) = self.store.peer_identity(address)? else {
            return Ok(None);
        };
        Ok(Some(SafetyNumber::new((&self.address, &local), (address, &peer.key))))
    }

    /// The identity keys of a 1:1 call with `address`: this device's and
    /// the one recorded for `address`, whose session the call's offer and
    /// answer travel in.
    fn call_identities(
        &self,
        address: &Address,
    ) -> Result<(IdentityKey, IdentityKey), SessionError> {
        let record = self.store.load_session(address)?.unwrap_or_default();
        if !record.has_current_session() {
            return Err(SessionError::NoSession);
        }
        Ok((self.identity_key()?, self.trusted_identity(address, &record)?))
    }

    /// Starts 1:1 call `call_id` with `address` in cipher suite `suite`:
    /// returns the call, waiting for its answer, and the offer to send to
    /// `address` inside the DM session (as the plaintext of
    /// [`encrypt`](Self::encrypt), framed as the app frames its messages).
    ///
    /// # Errors
    /// [`SessionError::NoSession`] without a session with `address`,
    /// [`SessionError::PeerIdentityMissing`], a [`SessionError::Call`]
    /// error, or a store error.
    pub fn offer_call(
        &self,
        address: &Address,
        call_id: CallId,
        suite: CipherSuite,
    ) -> Result<(OutgoingCall, Vec<u8>), SessionError> {
        let (local, remote) = self.call_identities(address)?;
        Ok(self.with_rng_locked(|rng| OutgoingCall::offer(call_id, suite, local, remote, rng))?)
    }

    /// Parses a call offer that arrived from `address` (the plaintext of a
    /// DM message), checking that it names this device's identity key and the
    /// one recorded for `address`.
    ///
    /// # Errors
    /// [`SessionError::NoSession`], [`SessionError::PeerIdentityMissing`],
    /// a [`SessionError::Call`] error for bytes that are no offer or an offer
    /// for other identities, or a store error.
    pub fn parse_call_offer(
        &self,
        address: &Address,
        offer: &[u8],
    ) -> Result<CallOffer, SessionError> {
        let (local, remote) = self.call_identities(address)?;
        Ok(CallOffer::parse(offer, &remote, &local)?)
    }

    /// Accepts a call offer from `address`: returns the agreed call and the
    /// answer to send to `address` inside the DM session. Each offer is
    /// accepted once (the manager remembers the last
    /// [`MAX_ACCEPTED_CALL_OFFERS`] it accepted; across restarts a replayed
    /// offer can only arrive as a replayed DM message, which the session
    /// refuses as a duplicate).
    ///
    /// # Errors
    /// [`CallError::ReplayedOffer`] (as [`SessionError::Call`]) for an offer
    /// accepted before, [`CallError::IdentityMismatch`] if the offer was
    /// parsed for other identities than the session's now, another
    /// [`SessionError::Call`] error, or a store error.
    pub fn accept_call(
        &self,
        address: &Address,
        offer: CallOffer,
    ) -> Result<(OneToOneCall, Vec<u8>), SessionError> {
        let (local, remote) = self.call_identities(address)?;
        if !offer.names(&remote, &local) {
            return Err(CallError::IdentityMismatch.into());
        }
        if !self.accepted_offers().insert(offer.caller_ephemeral()) {
            return Err(CallError::ReplayedOffer.into());
        }
        Ok(self.with_rng_locked(|rng| offer.accept(rng))?)
    }

    fn accepted_offers(&self) -> MutexGuard<'_, RecentKeys> {
        // Inserting into sets cannot leave them inconsistent.
        self.accepted_offers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A manager's generator as a [`SeedSource`], locked for each draw only.
pub(super) struct LockedSeeds<'a, R>(&'a Mutex<R>);

impl<R: CryptoRng> SeedSource for LockedSeeds<'_, R> {
    fn draw(&mut self) -> DhSeed {
        // A panic while drawing cannot leave a generator in a state that
        // repeats output, so a poisoned lock is safe to use.
        DhSeed::generate(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The state of one address while messages are decrypted: the record so far
/// and what committing it must also write.
/// What the earlier changes of a batch consumed: a later first message may
/// not use it again.
#[derive(Debug, Default)]
pub(super) struct Consumed {
    pub(super) one_time: HashSet<OneTimePreKeyId>,
    pub(super) kem: HashSet<KemPreKeyId>,
    pub(super) last_resort_uses: HashSet<LastResortUse>,
}

impl Consumed {
    /// Adds what `change` consumed.
    pub(super) fn extend(&mut self, change: &Change) {
        self.one_time.extend(change.consumed.iter().copied());
        self.kem.extend(change.consumed_kem.iter().copied());
        self.last_resort_uses.extend(change.last_resort_uses.iter().copied());
    }
}

pub(super) struct Change {
    pub(super) record: Option<SessionRecord>,
    /// The identity the store records for the address, once read: read
    /// once per change, as the record is. (A trust decision in between
    /// moves the record's generation too, so the commit is refused.)
    recorded_identity: Option<Option<PeerIdentity>>,
    pub(super) peer_identity: Option<PeerIdentityWrite>,
    pub(super) consumed: Vec<OneTimePreKeyId>,
    /// The one-time KEM prekeys this change consumed.
    pub(super) consumed_kem: Vec<KemPreKeyId>,
    /// The last-resort KEM prekey uses this change records.
    pub(super) last_resort_uses: Vec<LastResortUse>,
    pub(super) started_session: bool,
    /// How many messages decrypted into this change.
    pub(super) decrypted: usize,
}

impl Change {
    pub(super) fn new(
        record: Option<SessionRecord>,
        peer_identity: Option<PeerIdentityWrite>,
    ) -> Self {
        Self {
            record,
            recorded_identity: None,
            peer_identity,
            consumed: Vec::new(),
            consumed_kem: Vec::new(),
            last_resort_uses: Vec::new(),
            started_session: false,
            decrypted: 0,
        }
    }

    /// The commit of this change over generation `expected`.
    pub(super) fn into_commit(self, address: Address, expected: Option<u64>) -> StoreCommit {
        let mut record = self.record.unwrap_or_default();
        record.generation = next_generation(expected);
        let mut commit = StoreCommit::new(address, expected, record);
        commit.peer_identity = self.peer_identity;
        commit.consumed_one_time_prekeys = self.consumed;
        commit.consumed_kem_prekeys = self.consumed_kem;
        commit.last_resort_uses = self.last_resort_uses;
        commit
    }
}

impl<S, R> core::fmt::Debug for SessionManager<S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionManager").field("address", &self.address).finish_non_exhaustive()
    }
}
