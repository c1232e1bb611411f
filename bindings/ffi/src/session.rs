//! The session manager, decrypted messages and batches of them.
//!
//! [`SessionManager`] wraps the core's `SessionManager` over whichever store
//! it was made with; each method converts its arguments and forwards.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sotto::session::{PendingBatch, PendingCommit};

use crate::one_to_one::{AcceptedCall, CallOffer, OfferedCall, OneToOneCall, OutgoingCall};
use crate::store::{ForeignStore, SharedStore};
use crate::types::{Address, OneTimePreKeyPublic, SignedPreKeyPublic};
use crate::verify::SafetyNumber;
use crate::{CipherSuite, InMemoryStore, ProtocolStore, SottoError, SqliteStore};

type CoreManager<S> = sotto::session::SessionManager<S>;

/// The sessions of one device, over its store. Thread-safe: any thread may
/// call any method at any time, and several managers (or app processes) may
/// share one store; every write of a session is a compare-and-swap in the
/// store, so no message key is used twice. Handle the messages of one
/// address one at a time (see `decrypt`).
#[derive(uniffi::Object)]
pub struct SessionManager {
    core: Arc<CoreManager<SharedStore>>,
}

impl SessionManager {
    fn over(address: Address, store: SharedStore) -> Result<Arc<Self>, SottoError> {
        Ok(Arc::new(Self { core: Arc::new(CoreManager::new(address.to_core()?, store)) }))
    }
}

#[uniffi::export]
impl SessionManager {
    /// A manager for the device at `address` over the SDK's in-memory store.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad address.
    #[uniffi::constructor]
    pub fn with_in_memory_store(
        address: Address,
        store: Arc<InMemoryStore>,
    ) -> Result<Arc<Self>, SottoError> {
        Self::over(address, store.0.clone())
    }

    /// A manager for the device at `address` over the SDK's persistent
    /// store. Several managers (or app processes) may share one store.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad address.
    #[uniffi::constructor]
    pub fn with_sqlite_store(
        address: Address,
        store: Arc<SqliteStore>,
    ) -> Result<Arc<Self>, SottoError> {
        Self::over(address, store.0.clone())
    }

    /// A manager for the device at `address` over a store the app
    /// implements.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad address.
    #[uniffi::constructor]
    pub fn with_store(
        address: Address,
        store: Arc<dyn ProtocolStore>,
    ) -> Result<Arc<Self>, SottoError> {
        Self::over(address, Arc::new(ForeignStore(store)))
    }

    /// This device's address.
    pub fn address(&self) -> Address {
        self.core.address().into()
    }

    /// This device's public identity key (32 bytes).
    ///
    /// # Errors
    /// `NoLocalIdentity`, `CorruptRecord` or `Store`.
    pub fn identity_key(&self) -> Result<Vec<u8>, SottoError> {
        Ok(self.core.identity_key()?.to_bytes().to_vec())
    }

    /// Makes a signed prekey with `id`, stores it, and returns its public
    /// half to upload.
    ///
    /// # Errors
    /// `NoLocalIdentity` or a store error.
    pub fn generate_signed_prekey(&self, id: u32) -> Result<SignedPreKeyPublic, SottoError> {
        Ok(self.core.generate_signed_prekey(id.into())?.into())
    }

    /// Makes `count` one-time prekeys with ids `first_id`, `first_id + 1`, …
    /// (wrapping), stores them, and returns their public halves to upload.
    ///
    /// # Errors
    /// A store error; the prekeys stored before it stay.
    pub fn generate_one_time_prekeys(
        &self,
        first_id: u32,
        count: u32,
    ) -> Result<Vec<OneTimePreKeyPublic>, SottoError> {
        Ok(self
            .core
            .generate_one_time_prekeys(first_id, count)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Starts a session with `address` from its encoded prekey bundle
    /// (signature verified first). The next `encrypt` to `address` sends the
    /// first message.
    ///
    /// # Errors
    /// `InvalidBundle`, `UntrustedIdentity` if `address` is known with
    /// another identity key, `PeerIdentityMissing`, `KeyAgreementFailed`,
    /// `Contended`, or a store error. On error nothing is stored.
    pub fn process_bundle(&self, address: Address, bundle: Vec<u8>) -> Result<(), SottoError> {
        Ok(self.core.process_bundle(&address.to_core()?, &bundle)?)
    }

    /// Whether there is a session to encrypt to `address` in.
    ///
    /// # Errors
    /// A store error.
    pub fn has_session(&self, address: Address) -> Result<bool, SottoError> {
        Ok(self.core.has_session(&address.to_core()?)?)
    }

    /// Encrypts `plaintext` to `address`; the advanced session is durable in
    /// the store before the message is returned, so no later encryption, in
    /// this thread or another, this process or another, reuses its key.
    ///
    /// # Errors
    /// `NoSession`, `UntrustedIdentity` if the identity recorded for
    /// `address` is no longer the session's, `PeerIdentityMissing`,
    /// `LimitExceeded` for a plaintext over the limit, `Contended`, or a
    /// store error.
    pub fn encrypt(&self, address: Address, plaintext: Vec<u8>) -> Result<Vec<u8>, SottoError> {
        Ok(self.core.encrypt(&address.to_core()?, &plaintext)?)
    }

    /// Decrypts a message from `address` without storing anything: handle
    /// the plaintext (store it in the app's database), then call `commit()`
    /// on the result, then acknowledge the message to the server.
    ///
    /// A crash before `commit()` leaves the old state, so the redelivered
    /// message decrypts again; a redelivery after `commit()` throws
    /// `DuplicateMessage`, which means "already handled". Handle the
    /// messages of one address one at a time (decrypt, handle, commit); a
    /// commit after another write to the session (an `encrypt` in between,
    /// a trust decision) throws `StaleDecryption`: decrypt the message
    /// again. Many queued messages go faster through `batch()`.
    ///
    /// # Errors
    /// `MalformedMessage`, `NoSession`, `UntrustedIdentity` for a first
    /// message from a known address with a new identity key,
    /// `PeerIdentityMissing`, `UnknownPreKey`, `DuplicateMessage`,
    /// `LimitExceeded`, `AuthenticationFailed`, `KeyAgreementFailed`, or a
    /// store error. On error nothing changed.
    pub fn decrypt(
        &self,
        address: Address,
        message: Vec<u8>,
    ) -> Result<Arc<DecryptedMessage>, SottoError> {
        let decrypted = self.core.decrypt(&address.to_core()?, &message)?;
        let started_session = decrypted.started_session();
        let (plaintext, pending) = decrypted.into_parts();
        Ok(Arc::new(DecryptedMessage {
            manager: Arc::clone(&self.core),
            plaintext,
            started_session,
            pending: Mutex::new(Some(pending)),
        }))
    }

    /// Decrypts a message from `address` and commits at once: for apps that
    /// can afford to lose a message if they crash before handling it.
    ///
    /// # Errors
    /// As `decrypt` and `DecryptedMessage.commit`.
    pub fn decrypt_and_commit(
        &self,
        address: Address,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, SottoError> {
        Ok(self.core.decrypt(&address.to_core()?, &message)?.commit()?)
    }

    /// A batch of decryptions committed together, in one store transaction:
    /// for a device catching up with many queued messages.
    pub fn batch(&self) -> Arc<DecryptBatch> {
        Arc::new(DecryptBatch {
            manager: Arc::clone(&self.core),
            pending: Mutex::new(Some(PendingBatch::new())),
        })
    }

    /// Records `identity_key` (32 bytes) as the identity of `address`,
    /// replacing any earlier one: after `UntrustedIdentity` or
    /// `PeerIdentityMissing`, once the user accepted the key, or with
    /// `verified` after comparing safety numbers.
    ///
    /// Sessions with any other identity key are dropped in the same commit
    /// (their messages are refused from now on), and every decryption not
    /// yet committed for `address` becomes stale (`StaleDecryption`).
    ///
    /// # Errors
    /// `InvalidArgument` for a bad key or address, `Contended`, or a store
    /// error.
    pub fn trust_identity(
        &self,
        address: Address,
        identity_key: Vec<u8>,
        verified: bool,
    ) -> Result<(), SottoError> {
        Ok(self.core.trust_identity(
            &address.to_core()?,
            crate::types::identity_key(&identity_key)?,
            verified,
        )?)
    }

    /// The safety number of this device and `address`, from the identity
    /// key recorded for `address`; `null`/`nil`/`None` if none is recorded.
    ///
    /// # Errors
    /// `NoLocalIdentity` or a store error.
    pub fn safety_number(&self, address: Address) -> Result<Option<Arc<SafetyNumber>>, SottoError> {
        Ok(self.core.safety_number(&address.to_core()?)?.map(|number| Arc::new(number.into())))
    }

    /// Starts 1:1 call `call_id` (1 to 255 bytes, chosen by the app's
    /// signalling) with `address` in cipher suite `suite`: returns the call,
    /// waiting for its answer, and the offer to send to `address` inside the
    /// DM session. A caller that restarted mid-call offers again: the new
    /// agreement has new keys.
    ///
    /// # Errors
    /// `NoSession` without a session with `address`, `PeerIdentityMissing`,
    /// `InvalidArgument` for a bad call id or address, or a store error.
    pub fn offer_call(
        &self,
        address: Address,
        call_id: Vec<u8>,
        suite: CipherSuite,
    ) -> Result<OfferedCall, SottoError> {
        let call_id = sotto::call::CallId::new(call_id)?;
        let (call, offer) = self.core.offer_call(&address.to_core()?, call_id, suite.into())?;
        Ok(OfferedCall { call: Arc::new(OutgoingCall::from(call)), offer })
    }

    /// Parses a call offer that arrived from `address` (the plaintext of a
    /// DM message), checking that it names this device's identity key and
    /// the one recorded for `address`.
    ///
    /// # Errors
    /// `NoSession`, `PeerIdentityMissing`, `MalformedMessage` for bytes that
    /// are no offer, `CallSignalRejected` for an offer naming other
    /// identities, or a store error.
    pub fn parse_call_offer(
        &self,
        address: Address,
        offer: Vec<u8>,
    ) -> Result<Arc<CallOffer>, SottoError> {
        let offer = self.core.parse_call_offer(&address.to_core()?, &offer)?;
        Ok(Arc::new(CallOffer::try_from(offer)?))
    }

    /// Accepts a call offer from `address`: returns the agreed call and the
    /// answer to send to `address` inside the DM session. Each offer is
    /// accepted once.
    ///
    /// # Errors
    /// `CallSignalRejected` for an offer accepted before (a replay) or
    /// parsed for other identities than the session's now,
    /// `KeyAgreementFailed` for a weak ephemeral key, `NoSession`,
    /// `PeerIdentityMissing`, or a store error.
    pub fn accept_call(
        &self,
        address: Address,
        offer: Arc<CallOffer>,
    ) -> Result<AcceptedCall, SottoError> {
        // A copy: the manager remembers every offer it accepted, so that
        // accepting this one again is refused as a replay.
        let (call, answer) = self.core.accept_call(&address.to_core()?, offer.offer.clone())?;
        Ok(AcceptedCall { call: Arc::new(OneToOneCall::try_from(call)?), answer })
    }
}

/// A decrypted message whose session state is not yet stored.
///
/// Read `plaintext()`, handle it, then call `commit()`. Without a commit the
/// store stays as it was, and the same message decrypts again when it is
/// delivered again.
#[derive(uniffi::Object)]
pub struct DecryptedMessage {
    manager: Arc<CoreManager<SharedStore>>,
    plaintext: Vec<u8>,
    started_session: bool,
    pending: Mutex<Option<PendingCommit>>,
}

#[uniffi::export]
impl DecryptedMessage {
    /// The plaintext.
    pub fn plaintext(&self) -> Vec<u8> {
        self.plaintext.clone()
    }

    /// Whether this message started a new session.
    pub fn started_session(&self) -> bool {
        self.started_session
    }

    /// Stores the session state that results from this message (and removes
    /// the one-time prekey a first message used). If the store fails, the
    /// commit may be tried again.
    ///
    /// # Errors
    /// `AlreadyCommitted` on a second successful call, `StaleDecryption` if
    /// the session was written since the decryption (decrypt the message
    /// again), or a store error.
    pub fn commit(&self) -> Result<(), SottoError> {
        // Taken out of the lock: the store may be foreign code.
        let pending = self.lock().take().ok_or(SottoError::AlreadyCommitted)?;
        let result = self.manager.commit(&pending);
        if result.is_err() {
            *self.lock() = Some(pending);
        }
        Ok(result?)
    }
}

impl DecryptedMessage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<PendingCommit>> {
        // Nothing panics while the lock is held; the slot stays consistent.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Many decryptions committed in one store transaction (one `fsync`
/// rather than one per message), from `SessionManager.batch()`.
///
/// Decrypt the queued messages one by one, handle (store) each plaintext,
/// then `commit()` them all and acknowledge them to the server. Messages
/// from one address build on each other in the batch, in the order
/// decrypted; a message that fails changes nothing. Nothing is stored
/// before `commit()`: a batch dropped uncommitted leaves the store as it
/// was. Thread-safe; its decryptions run one at a time.
#[derive(uniffi::Object)]
pub struct DecryptBatch {
    manager: Arc<CoreManager<SharedStore>>,
    pending: Mutex<Option<PendingBatch>>,
}

impl DecryptBatch {
    fn lock(&self) -> MutexGuard<'_, Option<PendingBatch>> {
        // A decryption that fails leaves the batch unchanged, so a
        // poisoned lock guards a consistent batch.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[uniffi::export]
impl DecryptBatch {
    /// Decrypts a message from `address`, on top of the batch's earlier
    /// messages from it, and returns its plaintext.
    ///
    /// # Errors
    /// As `SessionManager.decrypt`, and `AlreadyCommitted` after `commit()`;
    /// the batch is unchanged.
    pub fn decrypt(&self, address: Address, message: Vec<u8>) -> Result<Vec<u8>, SottoError> {
        let address = address.to_core()?;
        let mut pending = self.lock();
        let batch = pending.as_mut().ok_or(SottoError::AlreadyCommitted)?;
        Ok(self.manager.decrypt_in_batch(batch, &address, &message)?)
    }

    /// How many messages the batch decrypted (0 after `commit()`).
    pub fn len(&self) -> u64 {
        self.lock().as_ref().map_or(0, PendingBatch::len).try_into().unwrap_or(u64::MAX)
    }

    /// Whether the batch decrypted no message (also true after `commit()`).
    pub fn is_empty(&self) -> bool {
        self.lock().as_ref().is_none_or(PendingBatch::is_empty)
    }

    /// Stores the state every decrypted message leads to, in one store
    /// transaction, all or nothing. Whatever the outcome, the batch is
    /// done: after an error, decrypt the messages again in a new batch.
    ///
    /// # Errors
    /// `StaleDecryption` if any address of the batch was written since the
    /// batch first loaded it, or a store error (nothing is stored in either
    /// case); `AlreadyCommitted` on a second call.
    pub fn commit(&self) -> Result<(), SottoError> {
        // Taken out of the lock: the store may be foreign code.
        let batch = self.lock().take().ok_or(SottoError::AlreadyCommitted)?;
        Ok(self.manager.commit_batch(batch)?)
    }
}

impl std::fmt::Debug for DecryptBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptBatch").field("pending", &*self.lock()).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DecryptedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedMessage")
            .field("plaintext_len", &self.plaintext.len())
            .field("started_session", &self.started_session)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("address", self.core.address())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::SottoError;
    use crate::testing::{connect, in_memory};

    #[test]
    fn a_batch_commits_once() {
        let (alice, bob) = (in_memory("alice"), in_memory("bob"));
        connect(&alice, &bob);
        let queued: Vec<Vec<u8>> = (0..5)
            .map(|n| alice.encrypt(bob.address(), format!("queued {n}").into_bytes()).unwrap())
            .collect();
        let batch = bob.batch();
        assert!(batch.is_empty());
        for (n, message) in queued.iter().enumerate() {
            assert_eq!(
                batch.decrypt(alice.address(), message.clone()).unwrap(),
                format!("queued {n}").into_bytes()
            );
        }
        assert_eq!(batch.len(), 5);
        batch.commit().unwrap();
        assert!(matches!(batch.commit(), Err(SottoError::AlreadyCommitted)));
        assert!(matches!(
            batch.decrypt(alice.address(), queued[0].clone()),
            Err(SottoError::AlreadyCommitted)
        ));
        assert!(matches!(
            bob.decrypt(alice.address(), queued[4].clone()),
            Err(SottoError::DuplicateMessage { .. })
        ));

        // An encryption to the address in between makes the batch stale.
        let stale = bob.batch();
        stale
            .decrypt(alice.address(), alice.encrypt(bob.address(), b"x".to_vec()).unwrap())
            .unwrap();
        bob.encrypt(alice.address(), b"in between".to_vec()).unwrap();
        assert!(matches!(stale.commit(), Err(SottoError::StaleDecryption)));
    }
}
