//! The session manager and decrypted messages.
//!
//! [`SessionManager`] wraps the core's `SessionManager` over whichever store
//! it was made with; each method converts its arguments and forwards.

use std::sync::{Arc, Mutex, PoisonError};

use sotto::session::PendingCommit;

use crate::call::OneToOneCallKeys;
use crate::store::{ForeignStore, SharedStore};
use crate::types::{Address, OneTimePreKeyPublic, SignedPreKeyPublic};
use crate::verify::SafetyNumber;
use crate::{InMemoryStore, ProtocolStore, SottoError, SqliteStore};

type CoreManager<S> = sotto::session::SessionManager<S>;

/// The sessions of one device, over its store. Thread-safe; handle the
/// messages of one address one at a time (see `decrypt`).
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
        Self::over(address, SharedStore(store.0.clone()))
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
        Self::over(address, SharedStore(store.0.clone()))
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
        Self::over(address, SharedStore(Arc::new(ForeignStore(store))))
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
    /// another identity key, `KeyAgreementFailed`, or a store error. On
    /// error nothing is stored.
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

    /// Encrypts `plaintext` to `address`; the advanced session is stored
    /// before the message is returned.
    ///
    /// # Errors
    /// `NoSession`, `UntrustedIdentity` if the identity recorded for
    /// `address` changed, `LimitExceeded` for a plaintext over the limit, or
    /// a store error.
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
    /// commit after another write to the session (an `encrypt` in between)
    /// throws `StaleDecryption`: decrypt the message again.
    ///
    /// # Errors
    /// `MalformedMessage`, `NoSession`, `UntrustedIdentity` for a first
    /// message from a known address with a new identity key,
    /// `UnknownPreKey`, `DuplicateMessage`, `LimitExceeded`,
    /// `AuthenticationFailed`, `KeyAgreementFailed`, or a store error. On
    /// error nothing changed.
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
    /// As `decrypt`.
    pub fn decrypt_and_commit(
        &self,
        address: Address,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, SottoError> {
        Ok(self.core.decrypt(&address.to_core()?, &message)?.commit()?)
    }

    /// Records `identity_key` (32 bytes) as the identity of `address`,
    /// replacing any earlier one: after `UntrustedIdentity`, once the user
    /// accepted the change, or with `verified` after comparing safety
    /// numbers.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad key or address, or a store error.
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

    /// The SFrame keys of 1:1 call `call_id` (1 to 255 bytes, chosen by the
    /// app's signalling) with `address`, derived from the current DM
    /// session: both sides get the same keys. Derive them once a message
    /// went each way in the session (the call's offer and answer).
    ///
    /// # Errors
    /// `NoSession`, `InvalidArgument` for a bad call id, or a store error.
    pub fn call_keys(
        &self,
        address: Address,
        call_id: Vec<u8>,
    ) -> Result<Arc<OneToOneCallKeys>, SottoError> {
        let call_id = sotto::call::CallId::new(call_id).map_err(SottoError::from)?;
        Ok(Arc::new(self.core.call_keys(&address.to_core()?, &call_id)?.into()))
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
