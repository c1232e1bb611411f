//! The session manager and decrypted messages.
//!
//! [`SessionManager`] wraps the core's `SessionManager` over whichever store
//! it was made with; each method converts its arguments and forwards.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use sotto::session::PendingCommit;
use wasm_bindgen::prelude::*;

use crate::InMemoryStore;
use crate::call::OneToOneCallKeys;
use crate::error::{ErrorCode, JsResult, SottoError};
use crate::store::{JsProtocolStore, JsStore, SharedStore};
use crate::types::{address, address_to_js, one_time_prekey_to_js, signed_prekey_to_js};
use crate::verify::SafetyNumber;

type CoreManager<S> = sotto::session::SessionManager<S>;

/// The sessions of one device, over its store.
///
/// Handle the messages of one address one at a time: decrypt, handle,
/// commit, then the next (see `decrypt`).
#[wasm_bindgen]
pub struct SessionManager {
    /// Shared with the `DecryptedMessage`s it hands out, which commit
    /// through it.
    core: Rc<CoreManager<SharedStore>>,
}

impl SessionManager {
    fn over(address: &JsValue, store: SharedStore) -> JsResult<Self> {
        Ok(Self { core: Rc::new(CoreManager::new(self::address(address)?, store)) })
    }
}

#[wasm_bindgen]
impl SessionManager {
    /// A manager for the device at `address` over the SDK's in-memory
    /// store.
    ///
    /// Throws `INVALID_ARGUMENT` for a bad address.
    #[wasm_bindgen(js_name = withInMemoryStore)]
    pub fn with_in_memory_store(
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        store: &InMemoryStore,
    ) -> JsResult<SessionManager> {
        Self::over(&address, SharedStore(store.0.clone()))
    }

    /// A manager for the device at `address` over a store the app
    /// implements (its methods are synchronous: see `ProtocolStore`).
    ///
    /// Throws `INVALID_ARGUMENT` for a bad address or a store that lacks a
    /// method.
    #[wasm_bindgen(js_name = withStore)]
    pub fn with_store(
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        store: JsProtocolStore,
    ) -> JsResult<SessionManager> {
        Self::over(&address, SharedStore(Arc::new(JsStore::register(store)?)))
    }

    /// This device's address.
    #[wasm_bindgen(getter, unchecked_return_type = "Address")]
    pub fn address(&self) -> JsValue {
        address_to_js(self.core.address())
    }

    /// This device's public identity key (32 bytes).
    ///
    /// Throws `NO_LOCAL_IDENTITY`, `CORRUPT_RECORD` or `STORE`.
    #[wasm_bindgen(js_name = identityKey)]
    pub fn identity_key(&self) -> JsResult<Vec<u8>> {
        Ok(self.core.identity_key()?.to_bytes().to_vec())
    }

    /// Makes a signed prekey with `id`, stores it, and returns its public
    /// half to upload.
    ///
    /// Throws `NO_LOCAL_IDENTITY` or a store error.
    #[wasm_bindgen(js_name = generateSignedPrekey, unchecked_return_type = "SignedPreKeyPublic")]
    pub fn generate_signed_prekey(&self, id: u32) -> JsResult<JsValue> {
        Ok(signed_prekey_to_js(&self.core.generate_signed_prekey(id.into())?))
    }

    /// Makes `count` one-time prekeys with ids `firstId`, `firstId + 1`, …
    /// (wrapping), stores them, and returns their public halves to upload.
    ///
    /// Throws a store error; the prekeys stored before it stay.
    #[wasm_bindgen(
        js_name = generateOneTimePrekeys,
        unchecked_return_type = "OneTimePreKeyPublic[]"
    )]
    pub fn generate_one_time_prekeys(
        &self,
        #[wasm_bindgen(js_name = firstId)] first_id: u32,
        count: u32,
    ) -> JsResult<JsValue> {
        let prekeys = self.core.generate_one_time_prekeys(first_id, count)?;
        Ok(prekeys.iter().map(one_time_prekey_to_js).collect::<js_sys::Array>().into())
    }

    /// Starts a session with `address` from its encoded prekey bundle (its
    /// signature is verified first). The next `encrypt` to `address` sends
    /// the first message.
    ///
    /// Throws `INVALID_BUNDLE`, `UNTRUSTED_IDENTITY` if `address` is known
    /// with another identity key, `KEY_AGREEMENT_FAILED`, or a store error.
    /// On error nothing is stored.
    #[wasm_bindgen(js_name = processBundle)]
    pub fn process_bundle(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        bundle: &[u8],
    ) -> JsResult<()> {
        Ok(self.core.process_bundle(&self::address(&address)?, bundle)?)
    }

    /// Whether there is a session to encrypt to `address` in.
    ///
    /// Throws a store error.
    #[wasm_bindgen(js_name = hasSession)]
    pub fn has_session(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
    ) -> JsResult<bool> {
        Ok(self.core.has_session(&self::address(&address)?)?)
    }

    /// Encrypts `plaintext` to `address`; the advanced session is stored
    /// before the message is returned.
    ///
    /// Throws `NO_SESSION`, `UNTRUSTED_IDENTITY` if the identity recorded
    /// for `address` changed, `LIMIT_EXCEEDED` for a plaintext over the
    /// limit, or a store error.
    pub fn encrypt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        plaintext: &[u8],
    ) -> JsResult<Vec<u8>> {
        Ok(self.core.encrypt(&self::address(&address)?, plaintext)?)
    }

    /// Decrypts a message from `address` without storing anything: handle
    /// `plaintext` (store it in the app's database), then call `commit()`
    /// on the result, then acknowledge the message to the server.
    ///
    /// Without `commit()` the store stays as it was, so a redelivered
    /// message decrypts again; a redelivery after `commit()` throws
    /// `DUPLICATE_MESSAGE`, which means "already handled". Handle the
    /// messages of one address one at a time (decrypt, handle, commit): a
    /// commit after another write to the session (an `encrypt` to the
    /// address, another commit) throws `STALE_DECRYPTION`; decrypt the
    /// message again.
    ///
    /// Throws `MALFORMED_MESSAGE`, `NO_SESSION`, `UNTRUSTED_IDENTITY` (a
    /// first message from a known address with a new identity key),
    /// `UNKNOWN_PREKEY`, `DUPLICATE_MESSAGE`, `LIMIT_EXCEEDED`,
    /// `AUTHENTICATION_FAILED`, `KEY_AGREEMENT_FAILED`, or a store error.
    /// On error nothing changed.
    pub fn decrypt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        message: &[u8],
    ) -> JsResult<DecryptedMessage> {
        let decrypted = self.core.decrypt(&self::address(&address)?, message)?;
        let started_session = decrypted.started_session();
        let (plaintext, pending) = decrypted.into_parts();
        Ok(DecryptedMessage {
            manager: Rc::clone(&self.core),
            plaintext,
            started_session,
            pending: RefCell::new(Some(pending)),
        })
    }

    /// Decrypts a message from `address` and commits at once: for apps that
    /// can afford to lose a message if they crash before handling it.
    ///
    /// Throws as `decrypt`.
    #[wasm_bindgen(js_name = decryptAndCommit)]
    pub fn decrypt_and_commit(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        message: &[u8],
    ) -> JsResult<Vec<u8>> {
        Ok(self.core.decrypt(&self::address(&address)?, message)?.commit()?)
    }

    /// Records `identityKey` (32 bytes) as the identity of `address`,
    /// replacing any earlier one: after `UNTRUSTED_IDENTITY`, once the user
    /// accepted the change, or with `verified` after comparing safety
    /// numbers.
    ///
    /// Throws `INVALID_ARGUMENT` for a bad key or address, or a store error.
    #[wasm_bindgen(js_name = trustIdentity)]
    pub fn trust_identity(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        #[wasm_bindgen(js_name = identityKey)] identity_key: &[u8],
        verified: bool,
    ) -> JsResult<()> {
        let key = crate::types::identity_key(identity_key)?;
        Ok(self.core.trust_identity(&self::address(&address)?, key, verified)?)
    }

    /// The safety number of this device and `address`, from the identity
    /// key recorded for `address`; `undefined` if none is recorded.
    ///
    /// Throws `NO_LOCAL_IDENTITY` or a store error.
    #[wasm_bindgen(js_name = safetyNumber)]
    pub fn safety_number(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
    ) -> JsResult<Option<SafetyNumber>> {
        Ok(self.core.safety_number(&self::address(&address)?)?.map(SafetyNumber::from))
    }

    /// The SFrame keys of 1:1 call `callId` (1 to 255 bytes, chosen by the
    /// app's signalling) with `address`, derived from the current DM
    /// session: both sides get the same keys. Derive them once a message
    /// went each way in the session (the call's offer and answer).
    ///
    /// Throws `NO_SESSION`, `INVALID_ARGUMENT` for a bad call id, or a
    /// store error.
    #[wasm_bindgen(js_name = callKeys)]
    pub fn call_keys(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        #[wasm_bindgen(js_name = callId)] call_id: &[u8],
    ) -> JsResult<OneToOneCallKeys> {
        let call_id = sotto::call::CallId::new(call_id).map_err(SottoError::from)?;
        Ok(self.core.call_keys(&self::address(&address)?, &call_id)?.into())
    }
}

/// A decrypted message whose session state is not yet stored.
///
/// Read `plaintext`, handle it, then call `commit()`. Without a commit the
/// store stays as it was, and the same message decrypts again when it is
/// delivered again.
#[wasm_bindgen]
pub struct DecryptedMessage {
    manager: Rc<CoreManager<SharedStore>>,
    plaintext: Vec<u8>,
    started_session: bool,
    pending: RefCell<Option<PendingCommit>>,
}

#[wasm_bindgen]
impl DecryptedMessage {
    /// The plaintext (a new copy on each read).
    #[wasm_bindgen(getter)]
    pub fn plaintext(&self) -> Vec<u8> {
        self.plaintext.clone()
    }

    /// Whether this message started a new session.
    #[wasm_bindgen(getter, js_name = startedSession)]
    pub fn started_session(&self) -> bool {
        self.started_session
    }

    /// Stores the session state that results from this message (and removes
    /// the one-time prekey a first message used), if the session is still
    /// the one the message was decrypted from. If the store throws, the
    /// commit may be tried again.
    ///
    /// Throws `STALE_DECRYPTION` if the session was written since the
    /// decryption (nothing is stored: decrypt the message again),
    /// `ALREADY_COMMITTED` after a successful commit, or a store error.
    pub fn commit(&self) -> JsResult<()> {
        // Taken out of the cell before the store runs: a JS store may call
        // back into Sotto.
        let pending = self.pending.borrow_mut().take().ok_or_else(|| {
            SottoError::new(ErrorCode::AlreadyCommitted, "this message was already committed")
        })?;
        let result = self.manager.commit(&pending);
        if result.is_err() {
            *self.pending.borrow_mut() = Some(pending);
        }
        Ok(result?)
    }
}
