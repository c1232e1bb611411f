//! The session manager, decrypted messages and batches of them.
//!
//! [`SessionManager`] wraps the core's `SessionManager` over whichever store
//! it was made with; each method converts its arguments and forwards.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sotto::session::{PendingBatch, PendingCommit};

use crate::one_to_one::{AcceptedCall, CallOffer, OfferedCall, OneToOneCall, OutgoingCall};
use crate::store::{ForeignStore, SharedStore};
use crate::types::{
    Address, ClassicalSessions, Handshake, KemPreKeyPublic, OneTimePreKeyPublic, SignedPreKeyPublic,
};
use crate::verify::SafetyNumber;
use crate::{CipherSuite, InMemoryStore, ProtocolStore, SottoError, SqliteStore};

type CoreManager<S> = sotto::session::SessionManager<S>;

/// The sessions of one device, over its store. Thread-safe: any thread may
/// call any method at any time, and several managers (or app processes) may
/// share one store; every write of a session is a compare-and-swap in the
/// store, so no message key is used twice. Handle the messages of one
/// address one at a time (see `decrypt`).
///
/// Every new session is post-quantum (PQXDH, ML-KEM-1024): a bundle without
/// a KEM prekey, or a first message without a KEM ciphertext, is refused
/// with `ClassicalSessionRefused` unless the manager was made with
/// `with_classical_sessions(Allow)`. `session_handshake` tells which key
/// agreement a conversation has.
#[derive(uniffi::Object)]
pub struct SessionManager {
    core: Arc<CoreManager<SharedStore>>,
    /// The policy `core` was made with (the core's enum may grow variants
    /// this binding does not know; this one is what the binding set).
    classical: ClassicalSessions,
}

impl SessionManager {
    fn over(address: Address, store: SharedStore) -> Result<Arc<Self>, SottoError> {
        Ok(Self::with_policy(address.to_core()?, store, ClassicalSessions::Refuse))
    }

    fn with_policy(
        address: sotto::session::Address,
        store: SharedStore,
        classical: ClassicalSessions,
    ) -> Arc<Self> {
        let core = CoreManager::new(address, store).with_classical_sessions(classical.into());
        Arc::new(Self { core: Arc::new(core), classical })
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

    /// A manager for the same device over the same store that starts and
    /// accepts classical (X3DH) sessions as `policy` says (the constructors
    /// make managers that refuse them). Use the new manager in place of this one:
    /// the two share the store as any two managers over one store do, but
    /// each remembers only the call offers it accepted itself.
    pub fn with_classical_sessions(&self, policy: ClassicalSessions) -> Arc<Self> {
        let store = Arc::clone(self.core.store());
        Self::with_policy(self.core.address().clone(), store, policy)
    }

    /// Whether this manager starts and accepts classical sessions.
    pub fn classical_sessions(&self) -> ClassicalSessions {
        self.classical
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

    /// Makes `count` one-time KEM prekeys (ML-KEM-1024) with ids `first_id`,
    /// `first_id + 1`, … (wrapping), signs and stores them, and returns their
    /// public halves to upload. Each starts at most one session, and is
    /// removed by the commit of the first message that used it.
    ///
    /// # Errors
    /// `NoLocalIdentity` or a store error; the prekeys stored before it stay
    /// (upload none of them, and generate again with the same ids).
    pub fn generate_kem_prekeys(
        &self,
        first_id: u32,
        count: u32,
    ) -> Result<Vec<KemPreKeyPublic>, SottoError> {
        Ok(self.core.generate_kem_prekeys(first_id, count)?.into_iter().map(Into::into).collect())
    }

    /// Makes the last-resort KEM prekey with `id`, signs and stores it, and
    /// returns its public half to upload: the server hands it out when no
    /// one-time KEM prekey is left. It serves many sessions, each first
    /// message once (its use is recorded in the store). Rotate it as the
    /// signed prekey is rotated: upload a new one, and after a grace period
    /// for messages in flight remove the old one from the store
    /// (`remove_kem_prekey` of `SqliteStore` or `InMemoryStore`, or the app's
    /// own `ProtocolStore.remove_kem_prekey`), which forgets its uses too.
    ///
    /// # Errors
    /// `NoLocalIdentity` or a store error.
    pub fn generate_last_resort_kem_prekey(&self, id: u32) -> Result<KemPreKeyPublic, SottoError> {
        Ok(self.core.generate_last_resort_kem_prekey(id.into())?.into())
    }

    /// Which key agreement made the current session with `address`
    /// (`null`/`nil`/`None` without one): for the app to show whether a
    /// conversation is post-quantum.
    ///
    /// # Errors
    /// `CorruptRecord` or another store error.
    pub fn session_handshake(&self, address: Address) -> Result<Option<Handshake>, SottoError> {
        self.core.session_handshake(&address.to_core()?)?.map(TryInto::try_into).transpose()
    }

    /// Starts a session with `address` from its encoded prekey bundle
    /// (signatures verified first): a PQXDH session, or a classical one if
    /// the bundle has no KEM prekey and this manager allows them. The next
    /// `encrypt` to `address` sends the first message.
    ///
    /// # Errors
    /// `InvalidBundle`, `BadKemSignature` if the identity key did not sign
    /// the KEM prekey, `ClassicalSessionRefused` for a bundle without a KEM
    /// prekey (unless classical sessions are allowed), `UntrustedIdentity`
    /// if `address` is known with another identity key,
    /// `PeerIdentityMissing`, `KeyAgreementFailed`, `Contended`, or a store
    /// error. On error nothing is stored.
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
    /// `PeerIdentityMissing`, `ClassicalSessionRefused` for a first message
    /// without a KEM ciphertext (unless classical sessions are allowed),
    /// `UnknownPreKey` (a one-time KEM prekey already used included),
    /// `DuplicateMessage` (a replayed first message included),
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

    /// Stores the session state that results from this message (and, for a
    /// first message, removes the one-time prekey and one-time KEM prekey it
    /// used, or records its use of the last-resort KEM prekey). If the store
    /// fails, the commit may be tried again.
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
            .field("classical", &self.classical)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::testing::{Broken, MapStore, address, bundle, connect, in_memory, send};
    use crate::{
        ClassicalSessions, Handshake, IdentityKeyPair, InMemoryStore, KemPreKeyPublic,
        LastResortUse, PreKeyBundle, SessionManager, SottoError,
    };

    /// Bob over a store written in Rust, as an app's store in its language.
    fn over_map_store(account: &str) -> (Arc<MapStore>, Arc<SessionManager>) {
        let store = MapStore::new(Broken::Nothing);
        (store.clone(), SessionManager::with_store(address(account), store).unwrap())
    }

    /// `bob`'s bundle with `kem` as its KEM prekey, a new signed prekey of
    /// the same id, and no one-time prekey (so that only the KEM prekey is
    /// single-use).
    fn bundle_with(bob: &SessionManager, kem: KemPreKeyPublic) -> Vec<u8> {
        let signed = bob.generate_signed_prekey(kem.id).unwrap();
        PreKeyBundle::new(bob.identity_key().unwrap(), signed, kem, None).unwrap().to_bytes()
    }

    #[test]
    fn a_session_is_post_quantum_on_both_sides() {
        let (alice, bob) = (in_memory("alice"), in_memory("bob"));
        assert_eq!(alice.session_handshake(bob.address()).unwrap(), None);
        let bundle = bundle(&bob, 7);
        assert!(PreKeyBundle::from_bytes(bundle.clone()).unwrap().has_kem_prekey());
        alice.process_bundle(bob.address(), bundle).unwrap();
        assert_eq!(alice.session_handshake(bob.address()).unwrap(), Some(Handshake::Pqxdh));
        let first = alice.encrypt(bob.address(), b"hello".to_vec()).unwrap();
        let received = bob.decrypt(alice.address(), first).unwrap();
        assert!(received.started_session());
        received.commit().unwrap();
        assert_eq!(bob.session_handshake(alice.address()).unwrap(), Some(Handshake::Pqxdh));
        assert!(Handshake::Pqxdh.is_post_quantum() && !Handshake::X3dh.is_post_quantum());
        assert_eq!(send(&bob, &alice, b"reply".to_vec()), b"reply");
        assert_eq!(alice.classical_sessions(), ClassicalSessions::Refuse);
    }

    #[test]
    fn a_classical_bundle_is_refused_unless_classical_sessions_are_allowed() {
        let (alice, bob) = (in_memory("alice"), in_memory("bob"));
        let signed = bob.generate_signed_prekey(1).unwrap();
        let one_time = bob.generate_one_time_prekeys(100, 1).unwrap().pop();
        let classical = PreKeyBundle::classical(bob.identity_key().unwrap(), signed, one_time)
            .unwrap()
            .to_bytes();
        assert!(!PreKeyBundle::from_bytes(classical.clone()).unwrap().has_kem_prekey());
        let refused = alice.process_bundle(bob.address(), classical.clone()).unwrap_err();
        assert!(
            matches!(&refused, SottoError::ClassicalSessionRefused { address } if *address == bob.address()),
            "{refused:?}"
        );
        assert!(!alice.has_session(bob.address()).unwrap());

        // Allowed on Alice's side only: Bob refuses the first message.
        let alice = alice.with_classical_sessions(ClassicalSessions::Allow);
        assert_eq!(alice.classical_sessions(), ClassicalSessions::Allow);
        alice.process_bundle(bob.address(), classical).unwrap();
        assert_eq!(alice.session_handshake(bob.address()).unwrap(), Some(Handshake::X3dh));
        let first = alice.encrypt(bob.address(), b"classical".to_vec()).unwrap();
        assert!(matches!(
            bob.decrypt(alice.address(), first.clone()),
            Err(SottoError::ClassicalSessionRefused { address }) if address == alice.address()
        ));
        assert!(!bob.has_session(alice.address()).unwrap());

        // Allowed on both sides: a classical session, which says so.
        let bob = bob.with_classical_sessions(ClassicalSessions::Allow);
        assert_eq!(bob.decrypt_and_commit(alice.address(), first).unwrap(), b"classical");
        assert_eq!(bob.session_handshake(alice.address()).unwrap(), Some(Handshake::X3dh));
        assert_eq!(send(&bob, &alice, b"reply".to_vec()), b"reply");
        // The opt-in is the new manager's: a new manager refuses again.
        let strict = alice.with_classical_sessions(ClassicalSessions::Refuse);
        assert!(matches!(
            strict.process_bundle(address("dave"), {
                let dave = in_memory("dave");
                let signed = dave.generate_signed_prekey(1).unwrap();
                PreKeyBundle::classical(dave.identity_key().unwrap(), signed, None)
                    .unwrap()
                    .to_bytes()
            }),
            Err(SottoError::ClassicalSessionRefused { .. })
        ));
        // The stored classical session goes on under it.
        assert_eq!(send(&strict, &bob, b"still classical".to_vec()), b"still classical");
    }

    #[test]
    fn a_one_time_kem_prekey_starts_one_session_only() {
        let (store, bob) = over_map_store("bob");
        let kem = bob.generate_kem_prekeys(40, 1).unwrap().remove(0);
        assert_eq!(kem.id, 40);
        assert_eq!(kem.key.len(), sotto::keys::KEM_ENCODED_KEY_LEN);
        assert!(store.state().kem.contains_key(&40));
        let bundle = bundle_with(&bob, kem);
        let (alice, carol) = (in_memory("alice"), in_memory("carol"));
        alice.process_bundle(bob.address(), bundle.clone()).unwrap();
        carol.process_bundle(bob.address(), bundle).unwrap();
        let first = alice.encrypt(bob.address(), b"first".to_vec()).unwrap();

        let received = bob.decrypt(alice.address(), first.clone()).unwrap();
        assert!(store.state().kem.contains_key(&40), "nothing is removed before the commit");
        received.commit().unwrap();
        assert!(!store.state().kem.contains_key(&40), "the commit consumed the KEM prekey");
        let committed = store.state().committed.last().unwrap().clone();
        assert_eq!(committed[0].consumed_kem_prekeys, vec![40]);
        assert!(committed[0].last_resort_uses.is_empty());
        assert_eq!(bob.session_handshake(alice.address()).unwrap(), Some(Handshake::Pqxdh));

        // The first message again: a duplicate in the session it started,
        // and, replayed as if from another address, an unknown KEM prekey.
        assert!(matches!(
            bob.decrypt(alice.address(), first.clone()),
            Err(SottoError::DuplicateMessage { .. })
        ));
        let replayed = bob.decrypt(address("mallory"), first).unwrap_err();
        assert!(
            matches!(&replayed, SottoError::UnknownPreKey { reason } if reason.contains("KEM prekey with id 40")),
            "{replayed:?}"
        );
        // Carol used the same bundle: her first message is refused too.
        let from_carol = carol.encrypt(bob.address(), b"too late".to_vec()).unwrap();
        assert!(matches!(
            bob.decrypt(carol.address(), from_carol),
            Err(SottoError::UnknownPreKey { .. })
        ));
        assert!(!bob.has_session(carol.address()).unwrap());
        assert!(!bob.has_session(address("mallory")).unwrap());
    }

    #[test]
    fn a_last_resort_kem_prekey_serves_many_sessions_each_once() {
        let (store, bob) = over_map_store("bob");
        let bundle = bundle_with(&bob, bob.generate_last_resort_kem_prekey(5).unwrap());
        let mut firsts = Vec::new();
        for account in ["alice", "carol"] {
            let peer = in_memory(account);
            peer.process_bundle(bob.address(), bundle.clone()).unwrap();
            let first = peer.encrypt(bob.address(), account.as_bytes().to_vec()).unwrap();
            assert_eq!(
                bob.decrypt_and_commit(peer.address(), first.clone()).unwrap(),
                account.as_bytes()
            );
            assert_eq!(bob.session_handshake(peer.address()).unwrap(), Some(Handshake::Pqxdh));
            firsts.push((peer, first));
        }
        assert!(store.state().kem.contains_key(&5), "a last-resort KEM prekey stays");
        let uses: Vec<LastResortUse> = store
            .state()
            .committed
            .iter()
            .flat_map(|batch| batch[0].last_resort_uses.clone())
            .collect();
        assert_eq!(uses.len(), 2);
        assert!(uses.iter().all(|used| used.kem_prekey == 5 && used.base_key.len() == 32));
        assert_ne!(uses[0].base_key, uses[1].base_key);
        assert_eq!(store.state().last_resort_uses.len(), 2);

        // Each first message again, even as if from another address, is a
        // duplicate: its use of the last-resort prekey was recorded.
        for (peer, first) in firsts {
            assert!(matches!(
                bob.decrypt(peer.address(), first.clone()),
                Err(SottoError::DuplicateMessage { .. })
            ));
            assert!(matches!(
                bob.decrypt(address("mallory"), first),
                Err(SottoError::DuplicateMessage { .. })
            ));
        }
        assert!(!bob.has_session(address("mallory")).unwrap());
    }

    #[test]
    fn a_batch_commits_kem_prekey_consumption_with_its_sessions() {
        let (store, bob) = over_map_store("bob");
        let one_time = bundle_with(&bob, bob.generate_kem_prekeys(60, 1).unwrap().remove(0));
        let last_resort = bundle_with(&bob, bob.generate_last_resort_kem_prekey(61).unwrap());
        let (alice, carol) = (in_memory("alice"), in_memory("carol"));
        alice.process_bundle(bob.address(), one_time).unwrap();
        carol.process_bundle(bob.address(), last_resort).unwrap();
        let from_alice = alice.encrypt(bob.address(), b"alice".to_vec()).unwrap();
        let from_carol = carol.encrypt(bob.address(), b"carol".to_vec()).unwrap();

        let batch = bob.batch();
        assert_eq!(batch.decrypt(alice.address(), from_alice.clone()).unwrap(), b"alice");
        assert_eq!(batch.decrypt(carol.address(), from_carol.clone()).unwrap(), b"carol");
        let commits = store.state().committed.len();
        batch.commit().unwrap();
        let state = store.state();
        assert_eq!(state.committed.len(), commits + 1, "one store commit for the batch");
        let writes = state.committed.last().unwrap();
        let of = |account: &str| writes.iter().find(|write| write.address == address(account));
        let (to_alice, to_carol) = (of("alice").unwrap(), of("carol").unwrap());
        assert_eq!(
            (to_alice.consumed_kem_prekeys.clone(), to_alice.last_resort_uses.len()),
            (vec![60], 0)
        );
        assert!(to_carol.consumed_kem_prekeys.is_empty());
        assert_eq!(to_carol.last_resort_uses.len(), 1);
        assert_eq!(to_carol.last_resort_uses[0].kem_prekey, 61);
        assert!(!state.kem.contains_key(&60) && state.kem.contains_key(&61));
        assert!(state.last_resort_uses.contains(&to_carol.last_resort_uses[0]));
        drop(state);

        // Replayed in a new batch, as if from other addresses: both refused.
        let again = bob.batch();
        assert!(matches!(
            again.decrypt(address("mallory"), from_alice),
            Err(SottoError::UnknownPreKey { .. })
        ));
        assert!(matches!(
            again.decrypt(address("mallory"), from_carol),
            Err(SottoError::DuplicateMessage { .. })
        ));
        assert!(again.is_empty());
    }

    #[test]
    fn a_rotated_last_resort_kem_prekey_is_forgotten_with_its_uses() {
        let store = InMemoryStore::new(IdentityKeyPair::generate());
        let bob = SessionManager::with_in_memory_store(address("bob"), store.clone()).unwrap();
        let alice = in_memory("alice");
        let bundle = bundle_with(&bob, bob.generate_last_resort_kem_prekey(5).unwrap());
        alice.process_bundle(bob.address(), bundle).unwrap();
        let first = alice.encrypt(bob.address(), b"first".to_vec()).unwrap();
        assert_eq!(bob.decrypt_and_commit(alice.address(), first.clone()).unwrap(), b"first");
        assert_eq!(store.kem_prekey_count(), 1, "a last-resort KEM prekey stays");
        assert!(matches!(
            bob.decrypt(address("mallory"), first.clone()),
            Err(SottoError::DuplicateMessage { .. })
        ));

        bob.generate_last_resort_kem_prekey(6).unwrap();
        assert_eq!(store.kem_prekey_count(), 2);
        store.remove_kem_prekey(5).unwrap();
        assert_eq!(store.kem_prekey_count(), 1);
        assert!(matches!(
            bob.decrypt(address("mallory"), first),
            Err(SottoError::UnknownPreKey { .. })
        ));
        assert_eq!(send(&alice, &bob, b"still here".to_vec()), b"still here");
    }

    /// `bundle` with one bit of `field` (found in it) flipped.
    fn flipped(bundle: &[u8], field: &[u8]) -> Vec<u8> {
        let at = bundle.windows(field.len()).position(|window| window == field).unwrap();
        assert_eq!(bundle.windows(field.len()).filter(|window| *window == field).count(), 1);
        let mut tampered = bundle.to_vec();
        tampered[at] ^= 0x01;
        tampered
    }

    #[test]
    fn a_bundle_whose_kem_prekey_is_not_signed_by_its_identity_is_refused() {
        let (alice, bob) = (in_memory("alice"), in_memory("bob"));
        let signed = bob.generate_signed_prekey(1).unwrap();
        let kem = bob.generate_kem_prekeys(9, 1).unwrap().remove(0);
        let identity = bob.identity_key().unwrap();
        let good = PreKeyBundle::new(identity.clone(), signed.clone(), kem.clone(), None).unwrap();

        // A byte of the KEM prekey's signature flipped in the bundle's bytes
        // (its offset found in them): parsed, then refused when processed.
        let tampered = flipped(&good.to_bytes(), &kem.signature);
        let parsed = PreKeyBundle::from_bytes(tampered.clone()).unwrap();
        assert!(parsed.has_kem_prekey());
        let refused = alice.process_bundle(bob.address(), parsed.to_bytes()).unwrap_err();
        assert!(matches!(refused, SottoError::BadKemSignature), "{refused:?}");
        assert!(!alice.has_session(bob.address()).unwrap());

        // So is a KEM prekey of another identity, assembled through the binding.
        let mallory = in_memory("mallory");
        let foreign = mallory.generate_last_resort_kem_prekey(9).unwrap();
        let forged = PreKeyBundle::new(identity.clone(), signed.clone(), foreign, None).unwrap();
        assert!(matches!(
            alice.process_bundle(bob.address(), forged.to_bytes()),
            Err(SottoError::BadKemSignature)
        ));
        // And a KEM prekey with another id than the one signed.
        let renumbered = KemPreKeyPublic { id: 10, ..kem.clone() };
        let renumbered =
            PreKeyBundle::new(identity.clone(), signed.clone(), renumbered, None).unwrap();
        assert!(matches!(
            alice.process_bundle(bob.address(), renumbered.to_bytes()),
            Err(SottoError::BadKemSignature)
        ));
        // A flipped signed-prekey signature is the other refusal.
        let bad_signed = flipped(&good.to_bytes(), &signed.signature);
        assert!(matches!(
            alice.process_bundle(bob.address(), bad_signed),
            Err(SottoError::InvalidBundle { .. })
        ));
        // A key that is no ML-KEM-1024 key is refused as an argument.
        let mut not_a_key = kem.clone();
        not_a_key.key[0] = 0x02;
        assert!(matches!(
            PreKeyBundle::new(identity.clone(), signed.clone(), not_a_key, None),
            Err(SottoError::InvalidArgument { .. })
        ));
        let short = KemPreKeyPublic { signature: vec![0; 63], ..kem };
        assert!(matches!(
            PreKeyBundle::new(identity, signed, short, None),
            Err(SottoError::InvalidArgument { .. })
        ));
        // The untampered bundle still works.
        alice.process_bundle(bob.address(), good.to_bytes()).unwrap();
        assert_eq!(alice.session_handshake(bob.address()).unwrap(), Some(Handshake::Pqxdh));
    }

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
