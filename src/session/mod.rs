//! Sessions: X3DH and the Double Ratchet behind an address-based API.
//!
//! A [`SessionManager`] wraps a [`ProtocolStore`] for one device. Alice
//! starts a session from Bob's prekey bundle and encrypts to his address;
//! Bob decrypts, handles the message, and only then commits the new session
//! state (see [`Decrypted`]).
//!
//! ```
//! use sotto::keys::{IdentityKeyPair, PreKeyBundle};
//! use sotto::session::{Address, SessionManager};
//! use sotto::store::InMemoryStore;
//!
//! let mut rng = sotto::rng::os_rng();
//! let alice_address = Address::new("alice", 1)?;
//! let bob_address = Address::new("bob", 1)?;
//! let alice = SessionManager::new(alice_address.clone(), InMemoryStore::new(IdentityKeyPair::generate(&mut rng)));
//! let bob = SessionManager::new(bob_address.clone(), InMemoryStore::new(IdentityKeyPair::generate(&mut rng)));
//!
//! // Bob publishes a bundle; Alice starts a session from it.
//! let signed = bob.generate_signed_prekey(1.into())?;
//! let one_time = bob.generate_one_time_prekeys(100, 1)?;
//! let bundle = PreKeyBundle::new(bob.identity_key()?, signed, one_time.first().copied());
//! alice.process_bundle(&bob_address, &bundle.to_bytes())?;
//!
//! let message = alice.encrypt(&bob_address, b"hi Bob")?;
//! let received = bob.decrypt(&alice_address, &message)?;
//! assert_eq!(received.plaintext(), b"hi Bob");
//! received.commit()?; // after the app has stored the plaintext
//!
//! let reply = bob.encrypt(&alice_address, b"hi Alice")?;
//! assert_eq!(alice.decrypt(&bob_address, &reply)?.commit()?, b"hi Alice");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Committing after handling a message
//!
//! [`SessionManager::decrypt`] changes no store: it returns the plaintext
//! with the session state that results from it, and
//! [`Decrypted::commit`] writes that state. An app that must not lose a
//! message does, in this order:
//!
//! 1. `decrypt` the message;
//! 2. store the plaintext in its own database (or otherwise handle it);
//! 3. `commit`;
//! 4. acknowledge the message to the server, which then deletes it.
//!
//! A crash before step 3 leaves the old session state: the server delivers
//! the message again and it decrypts again. A crash between 3 and 4 makes
//! the server deliver a message already handled: it is refused as
//! [`RatchetError::DuplicateMessage`](crate::ratchet::RatchetError::DuplicateMessage),
//! which the app treats as "already have it" and acknowledges.
//!
//! Handle the messages of one address one at a time (decrypt, handle,
//! commit, then the next). A commit checks that the session is still the
//! one the message was decrypted from: if anything wrote it in between (an
//! `encrypt` to the address, another commit), the commit is refused with
//! [`SessionError::StaleDecryption`] rather than undo that write, and the
//! message is decrypted again.

mod address;
mod envelope;
mod error;
mod record;

use std::sync::{Mutex, PoisonError};

use rand_core::CryptoRng;

pub use address::{Address, AddressError, DeviceId};
pub use error::SessionError;
pub use record::SessionRecord;

use envelope::{Envelope, PreKeyMessage, RatchetMessage};
use record::{PendingPreKey, SessionState};

use crate::keys::{
    IdentityKey, IdentityKeyPair, OneTimePreKey, OneTimePreKeyPublic, PreKeyBundle, SignedPreKey,
    SignedPreKeyId, SignedPreKeyPublic,
};
use crate::ratchet::DoubleRatchet;
use crate::rng::{OsRng, os_rng};
use crate::store::{PeerIdentity, ProtocolStore, StoreCommit};
use crate::verify::SafetyNumber;
use crate::x3dh;

/// The sessions of one device, over the app's store.
///
/// Every method takes `&self`; the manager is `Send + Sync` when its store
/// and random generator are.
#[derive(Debug)]
pub struct SessionManager<S, R = OsRng> {
    address: Address,
    store: S,
    rng: Mutex<R>,
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
        Self { address, store, rng: Mutex::new(rng) }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// This device's address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    fn with_rng_locked<T>(&self, f: impl FnOnce(&mut R) -> T) -> T {
        // A panic while drawing randomness cannot leave a generator in a
        // state that repeats output, so a poisoned lock is safe to use.
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut rng)
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
    /// A store error; the prekeys stored before it stay.
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

    /// Refuses `presented` if `address` is known with another identity key;
    /// returns the identity to record if the address is new.
    fn check_identity(
        &self,
        address: &Address,
        presented: IdentityKey,
    ) -> Result<Option<PeerIdentity>, SessionError> {
        match self.store.peer_identity(address)? {
            Some(known) if known.key == presented => Ok(None),
            Some(_) => Err(SessionError::UntrustedIdentity {
                address: address.clone(),
                identity_key: presented,
            }),
            None => Ok(Some(PeerIdentity { key: presented, verified: false })),
        }
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
    /// key, or a store error. On error, nothing is stored.
    pub fn process_bundle(&self, address: &Address, bundle: &[u8]) -> Result<(), SessionError> {
        let bundle = PreKeyBundle::from_bytes(bundle)?.verify()?;
        let new_peer_identity = self.check_identity(address, bundle.identity_key())?;
        let local = self.local_identity()?;
        let state = self.with_rng_locked(|rng| -> Result<_, SessionError> {
            let initiated = x3dh::initiate(&local, &bundle, rng)?;
            let exporter_secret = Some(initiated.shared_key.exporter_secret());
            let ratchet =
                DoubleRatchet::initiator(initiated.shared_key, &initiated.signed_prekey, rng)?;
            Ok(SessionState {
                ratchet,
                local_identity: local.public(),
                remote_identity: bundle.identity_key(),
                initiator: true,
                base_key: initiated.base_key,
                pending_prekey: Some(PendingPreKey {
                    signed_prekey_id: initiated.signed_prekey_id,
                    one_time_prekey_id: initiated.one_time_prekey_id,
                }),
                exporter_secret,
            })
        })?;
        let mut session = self.store.load_session(address)?.unwrap_or_default();
        session.promote(state);
        session.generation = session.generation.wrapping_add(1);
        self.store.commit(&StoreCommit {
            address: address.clone(),
            session,
            new_peer_identity,
            consumed_one_time_prekey: None,
        })?;
        Ok(())
    }

    /// Whether there is a session to encrypt to `address` in.
    ///
    /// # Errors
    /// A store error.
    pub fn has_session(&self, address: &Address) -> Result<bool, SessionError> {
        Ok(self.store.load_session(address)?.is_some_and(|record| record.has_current_session()))
    }

    /// Encrypts `plaintext` to `address`, storing the advanced session
    /// before returning the message to send.
    ///
    /// # Errors
    /// [`SessionError::NoSession`] without a session,
    /// [`SessionError::UntrustedIdentity`] if the identity recorded for
    /// `address` is no longer the session's, a [`SessionError::Ratchet`]
    /// error for a plaintext over
    /// [`MAX_PLAINTEXT_LEN`](crate::protocol::MAX_PLAINTEXT_LEN), or a store
    /// error.
    pub fn encrypt(&self, address: &Address, plaintext: &[u8]) -> Result<Vec<u8>, SessionError> {
        let mut record = self.store.load_session(address)?.ok_or(SessionError::NoSession)?;
        let session_identity = record.remote_identity().ok_or(SessionError::NoSession)?;
        if self.store.peer_identity(address)?.is_some_and(|known| known.key != session_identity) {
            return Err(SessionError::UntrustedIdentity {
                address: address.clone(),
                identity_key: session_identity,
            });
        }
        let message = record.encrypt(plaintext)?;
        record.generation = record.generation.wrapping_add(1);
        self.store.store_session(address, &record)?;
        Ok(message)
    }

    /// Decrypts a message from `address`. Nothing is stored until the
    /// returned [`Decrypted`] is committed (see the [module
    /// documentation](self) for when to commit).
    ///
    /// A first message (one that starts a session) runs X3DH; its one-time
    /// prekey is removed by the commit, after the message authenticated.
    ///
    /// # Errors
    /// [`SessionError::MessageTooLarge`], [`SessionError::MalformedMessage`]
    /// or [`SessionError::UnsupportedVersion`] for bad input,
    /// [`SessionError::NoSession`] for a message in an unknown session,
    /// [`SessionError::UntrustedIdentity`] for a first message from a known
    /// address with a new identity key, [`SessionError::UnknownSignedPreKey`]
    /// or [`SessionError::UnknownOneTimePreKey`], a [`SessionError::Ratchet`]
    /// error for a duplicate, a too-far jump or a failed authentication, or
    /// a store error. On error, nothing changed.
    pub fn decrypt(
        &self,
        address: &Address,
        message: &[u8],
    ) -> Result<Decrypted<'_, S>, SessionError> {
        match Envelope::parse(message)? {
            Envelope::Ratchet(message) => self.decrypt_ratchet(address, &message),
            Envelope::PreKey(prekey) => self.decrypt_prekey(address, *prekey),
        }
    }

    fn decrypt_ratchet(
        &self,
        address: &Address,
        message: &RatchetMessage,
    ) -> Result<Decrypted<'_, S>, SessionError> {
        let mut record = self.store.load_session(address)?.ok_or(SessionError::NoSession)?;
        let generation = record.generation;
        let plaintext = self.with_rng_locked(|rng| record.decrypt_ratchet(message, rng))?;
        let pending = PendingCommit::new(address, record, Some(generation), None, None);
        Ok(Decrypted { store: &self.store, plaintext, pending, started_session: false })
    }

    fn decrypt_prekey(
        &self,
        address: &Address,
        prekey: PreKeyMessage,
    ) -> Result<Decrypted<'_, S>, SessionError> {
        let loaded = self.store.load_session(address)?;
        let generation = loaded.as_ref().map(|record| record.generation);
        let mut record = loaded.unwrap_or_default();
        // A repeat of a first message we already answered: same session.
        if record.is_repeated_first_message(&prekey)? {
            return self.decrypt_ratchet(address, &prekey.message);
        }

        let new_peer_identity = self.check_identity(address, prekey.identity_key)?;
        let local = self.local_identity()?;
        let signed = self
            .store
            .signed_prekey(prekey.signed_prekey_id)?
            .ok_or(SessionError::UnknownSignedPreKey { id: prekey.signed_prekey_id })?;
        let one_time = match prekey.one_time_prekey_id {
            Some(id) => Some(
                self.store.one_time_prekey(id)?.ok_or(SessionError::UnknownOneTimePreKey { id })?,
            ),
            None => None,
        };
        let (shared_key, ad) = x3dh::respond(
            &local,
            &signed,
            one_time.as_ref(),
            &prekey.identity_key,
            &prekey.base_key,
        )?;
        let exporter_secret = Some(shared_key.exporter_secret());
        let (ratchet, plaintext) = self.with_rng_locked(|rng| {
            DoubleRatchet::responder(shared_key, signed.key_pair().clone()).decrypt(
                &ad,
                &prekey.message.header,
                &prekey.message.ciphertext,
                rng,
            )
        })?;
        record.promote(SessionState {
            ratchet,
            local_identity: local.public(),
            remote_identity: prekey.identity_key,
            initiator: false,
            base_key: prekey.base_key,
            pending_prekey: None,
            exporter_secret,
        });
        let pending = PendingCommit::new(
            address,
            record,
            generation,
            new_peer_identity,
            prekey.one_time_prekey_id,
        );
        Ok(Decrypted { store: &self.store, plaintext, pending, started_session: true })
    }

    /// The SFrame keys of 1:1 call `call_id` with `address`, derived from
    /// the current DM session (see [`SessionRecord::call_keys`]).
    ///
    /// # Errors
    /// [`SessionError::NoSession`] without a session, a
    /// [`SessionError::Call`] error, or a store error.
    pub fn call_keys(
        &self,
        address: &Address,
        call_id: &crate::call::CallId,
    ) -> Result<crate::call::OneToOneCallKeys, SessionError> {
        self.store.load_session(address)?.ok_or(SessionError::NoSession)?.call_keys(call_id)
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
    /// # Errors
    /// A store error.
    pub fn trust_identity(
        &self,
        address: &Address,
        identity_key: IdentityKey,
        verified: bool,
    ) -> Result<(), SessionError> {
        self.store.save_peer_identity(address, &PeerIdentity { key: identity_key, verified })?;
        Ok(())
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
}

/// A decrypted message whose session state is not yet stored.
///
/// Handle the plaintext, then call [`commit`](Self::commit). Dropping it
/// without committing leaves the store as it was, so the same message
/// decrypts again when it is delivered again.
#[must_use = "the session is not advanced until you call commit()"]
pub struct Decrypted<'a, S: ProtocolStore> {
    store: &'a S,
    plaintext: Vec<u8>,
    pending: PendingCommit,
    started_session: bool,
}

/// The session changes of a decrypted message, not yet stored: the owned
/// form of [`Decrypted`], for callers that cannot keep its borrow of the
/// manager (bindings). Apply it with [`SessionManager::commit`].
#[must_use = "the session is not advanced until it is committed"]
#[derive(Debug)]
pub struct PendingCommit {
    commit: StoreCommit,
    /// The generation of the record the message was decrypted from (`None`:
    /// there was no record).
    expected_generation: Option<u64>,
}

impl PendingCommit {
    /// Stores the changes if the session is still the one the message was
    /// decrypted from.
    fn apply<S: ProtocolStore>(&self, store: &S) -> Result<(), SessionError> {
        let found = store.load_session(&self.commit.address)?.map(|record| record.generation);
        if found != self.expected_generation {
            return Err(SessionError::StaleDecryption);
        }
        store.commit(&self.commit)?;
        Ok(())
    }
}

impl PendingCommit {
    fn new(
        address: &Address,
        mut session: SessionRecord,
        expected_generation: Option<u64>,
        new_peer_identity: Option<PeerIdentity>,
        consumed_one_time_prekey: Option<crate::keys::OneTimePreKeyId>,
    ) -> Self {
        session.generation = expected_generation.unwrap_or(0).wrapping_add(1);
        let commit = StoreCommit {
            address: address.clone(),
            session,
            new_peer_identity,
            consumed_one_time_prekey,
        };
        Self { commit, expected_generation }
    }
}

impl<'a, S: ProtocolStore> Decrypted<'a, S> {
    /// The plaintext.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// Whether this message started a new session.
    pub fn started_session(&self) -> bool {
        self.started_session
    }

    /// Stores the session state that results from this message (and removes
    /// the one-time prekey a first message used), returning the plaintext.
    ///
    /// # Errors
    /// [`SessionError::StaleDecryption`] if the session was written since
    /// the message was decrypted (a message was encrypted to the address, or
    /// another decryption committed): storing this state would undo that
    /// write, and could make a message key be used twice. Nothing is stored;
    /// decrypt the message again. A [`SessionError::Store`] error if the
    /// store failed.
    pub fn commit(self) -> Result<Vec<u8>, SessionError> {
        self.pending.apply(self.store)?;
        Ok(self.plaintext)
    }

    /// The plaintext and the owned changes, to commit later with
    /// [`SessionManager::commit`].
    pub fn into_parts(self) -> (Vec<u8>, PendingCommit) {
        (self.plaintext, self.pending)
    }
}

impl<S: ProtocolStore> core::fmt::Debug for Decrypted<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decrypted")
            .field("address", &self.pending.commit.address)
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}
