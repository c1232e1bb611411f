//! The session manager and decrypted messages.
//!
//! [`SessionManager`] wraps the core's `SessionManager` over whichever store
//! it was made with; each method converts its arguments and forwards. The
//! methods that write the store return a `Promise` that resolves once those
//! writes are durable (`crate::durable`); the others are synchronous.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::Promise;
use sotto::session::PendingCommit;
use wasm_bindgen::prelude::*;

use crate::batch::DecryptBatch;
use crate::call::{CallOffer, OneToOneCall, OutgoingCall, call_id};
use crate::durable::durably;
use crate::error::{ErrorCode, JsResult, SottoError};
use crate::media::suite;
use crate::store::{JsProtocolStore, JsStore, SharedStore};
use crate::types::{
    ClassicalSessions, address, address_to_js, handshake_to_js, kem_prekey_to_js,
    one_time_prekey_to_js, signed_prekey_to_js,
};
use crate::verify::SafetyNumber;
use crate::{InMemoryStore, js};

/// The core's manager over the store of a JS manager.
pub(crate) type CoreManager = sotto::session::SessionManager<SharedStore>;

/// The sessions of one device, over its store.
///
/// The methods that write the store (`processBundle`, `encrypt`,
/// `decryptAndCommit`, `trustIdentity`, the prekey generators, and
/// `commit()` of what `decrypt` and `batch` return) return a `Promise` that
/// resolves only once the store's writes are durable: an envelope is handed
/// out only after the session state that used its message key is on disk.
/// They may overlap: each runs its store reads and writes to the end before
/// any other starts.
///
/// Every new session is post-quantum (PQXDH, ML-KEM-1024): a bundle without
/// a KEM prekey, or a first message without a KEM ciphertext, is refused
/// with `CLASSICAL_SESSION_REFUSED` unless the manager was made with
/// `withClassicalSessions("ALLOW")`. `sessionHandshake` tells which key
/// agreement a conversation has.
#[wasm_bindgen]
pub struct SessionManager {
    /// Shared with the `DecryptedMessage`s and batches it hands out, which
    /// commit through it.
    core: Rc<CoreManager>,
    /// The policy `core` was made with, as this binding names it.
    classical: ClassicalSessions,
}

impl SessionManager {
    fn over(address: &JsValue, store: SharedStore) -> JsResult<Self> {
        Ok(Self::with_policy(self::address(address)?, store, ClassicalSessions::Refuse))
    }

    fn with_policy(
        address: sotto::session::Address,
        store: SharedStore,
        classical: ClassicalSessions,
    ) -> Self {
        let core = CoreManager::new(address, store).with_classical_sessions(classical.to_core());
        Self { core: Rc::new(core), classical }
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
    /// implements (see `ProtocolStore`: synchronous reads, a
    /// compare-and-swap `commit`, writes that may return a `Promise`).
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

    /// A manager for the same device over the same store that starts and
    /// accepts classical (X3DH) sessions as `policy` says: `"ALLOW"` or
    /// `"REFUSE"` (the constructors make managers that refuse them). Use the
    /// new manager in place of this one: the two share the store as any two
    /// managers over one store do, but each remembers only the call offers
    /// it accepted itself.
    ///
    /// Throws `INVALID_ARGUMENT` for another string.
    #[wasm_bindgen(js_name = withClassicalSessions)]
    pub fn with_classical_sessions(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ClassicalSessions")] policy: JsValue,
    ) -> JsResult<SessionManager> {
        let policy = ClassicalSessions::from_js(&policy)?;
        let store = self.core.store().clone();
        Ok(Self::with_policy(self.core.address().clone(), store, policy))
    }

    /// Whether this manager starts and accepts classical sessions:
    /// `"REFUSE"` (the default) or `"ALLOW"`.
    #[wasm_bindgen(
        getter,
        js_name = classicalSessions,
        unchecked_return_type = "ClassicalSessions"
    )]
    pub fn classical_sessions(&self) -> JsValue {
        self.classical.to_js()
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

    /// Makes a signed prekey with `id`, stores it, and resolves with its
    /// public half to upload, once it is durable.
    ///
    /// Rejects with `NO_LOCAL_IDENTITY` or a store error.
    #[wasm_bindgen(
        js_name = generateSignedPrekey,
        unchecked_return_type = "Promise<SignedPreKeyPublic>"
    )]
    pub fn generate_signed_prekey(&self, id: u32) -> Promise {
        durably(|| Ok(signed_prekey_to_js(&self.core.generate_signed_prekey(id.into())?)))
    }

    /// Makes `count` one-time prekeys with ids `firstId`, `firstId + 1`, …
    /// (wrapping), stores them, and resolves with their public halves to
    /// upload, once they are durable.
    ///
    /// Rejects with a store error; the prekeys stored before it stay
    /// (upload none of them, and generate again with the same ids).
    #[wasm_bindgen(
        js_name = generateOneTimePrekeys,
        unchecked_return_type = "Promise<OneTimePreKeyPublic[]>"
    )]
    pub fn generate_one_time_prekeys(
        &self,
        #[wasm_bindgen(js_name = firstId)] first_id: u32,
        count: u32,
    ) -> Promise {
        durably(|| {
            let prekeys = self.core.generate_one_time_prekeys(first_id, count)?;
            Ok(prekeys.iter().map(one_time_prekey_to_js).collect::<js_sys::Array>())
        })
    }

    /// Makes `count` one-time KEM prekeys (ML-KEM-1024) with ids `firstId`,
    /// `firstId + 1`, … (wrapping), signs and stores them, and resolves with
    /// their public halves to upload, once they are durable. Each starts at
    /// most one session, and is removed by the commit of the first message
    /// that used it.
    ///
    /// Rejects with `NO_LOCAL_IDENTITY` or a store error; the prekeys stored
    /// before it stay (upload none of them, and generate again with the
    /// same ids).
    #[wasm_bindgen(
        js_name = generateKemPrekeys,
        unchecked_return_type = "Promise<KemPreKeyPublic[]>"
    )]
    pub fn generate_kem_prekeys(
        &self,
        #[wasm_bindgen(js_name = firstId)] first_id: u32,
        count: u32,
    ) -> Promise {
        durably(|| {
            let prekeys = self.core.generate_kem_prekeys(first_id, count)?;
            Ok(prekeys.iter().map(kem_prekey_to_js).collect::<js_sys::Array>())
        })
    }

    /// Makes the last-resort KEM prekey with `id`, signs and stores it, and
    /// resolves with its public half to upload, once it is durable: the
    /// server hands it out when no one-time KEM prekey is left. It serves
    /// many sessions, each first message once (the store records each use).
    /// Rotate it as the signed prekey is rotated: upload a new one, and
    /// after a grace period for messages in flight remove the old one from
    /// the store (`removeKemPrekey`), which forgets its uses too.
    ///
    /// Rejects with `NO_LOCAL_IDENTITY` or a store error.
    #[wasm_bindgen(
        js_name = generateLastResortKemPrekey,
        unchecked_return_type = "Promise<KemPreKeyPublic>"
    )]
    pub fn generate_last_resort_kem_prekey(&self, id: u32) -> Promise {
        durably(|| Ok(kem_prekey_to_js(&self.core.generate_last_resort_kem_prekey(id.into())?)))
    }

    /// Which key agreement made the current session with `address`:
    /// `"PQXDH"` or `"X3DH"`, `undefined` without a session. For the app to
    /// show whether a conversation is post-quantum (`isPostQuantum`).
    ///
    /// Throws `INVALID_ARGUMENT` for a bad address, `CORRUPT_RECORD` or
    /// another store error, `INTERNAL` for a key agreement this version has
    /// no name for.
    #[wasm_bindgen(js_name = sessionHandshake, unchecked_return_type = "Handshake | undefined")]
    pub fn session_handshake(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
    ) -> JsResult<JsValue> {
        match self.core.session_handshake(&self::address(&address)?)? {
            Some(handshake) => handshake_to_js(handshake),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Starts a session with `address` from its encoded prekey bundle (its
    /// signatures are verified first): a PQXDH session, or a classical one
    /// if the bundle has no KEM prekey and this manager allows them.
    /// Resolves once the session is durable. The next `encrypt` to
    /// `address` sends the first message.
    ///
    /// Rejects with `INVALID_BUNDLE`, `BAD_KEM_SIGNATURE` if the identity
    /// key did not sign the KEM prekey, `CLASSICAL_SESSION_REFUSED` for a
    /// bundle without a KEM prekey (unless classical sessions are allowed),
    /// `UNTRUSTED_IDENTITY` if `address` is known with another identity key,
    /// `PEER_IDENTITY_MISSING`, `KEY_AGREEMENT_FAILED`, `CONTENDED`, or a
    /// store error. On error nothing is stored.
    #[wasm_bindgen(js_name = processBundle, unchecked_return_type = "Promise<void>")]
    pub fn process_bundle(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        bundle: &[u8],
    ) -> Promise {
        durably(|| Ok(self.core.process_bundle(&self::address(&address)?, bundle)?))
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

    /// Encrypts `plaintext` to `address`, and resolves with the message to
    /// send once the session state that encrypted it is durable: a message
    /// key is never handed out before the state that used it is on disk,
    /// so no encryption after a reload can use it again.
    ///
    /// Rejects with `NO_SESSION`, `UNTRUSTED_IDENTITY` if the identity
    /// recorded for `address` is no longer the session's,
    /// `PEER_IDENTITY_MISSING`, `LIMIT_EXCEEDED` for a plaintext over the
    /// limit, `CONTENDED`, or a store error (`STORE` also when the write
    /// did not persist: stop, and reload the store).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn encrypt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        plaintext: &[u8],
    ) -> Promise {
        durably(|| Ok(js::bytes(&self.core.encrypt(&self::address(&address)?, plaintext)?)))
    }

    /// Decrypts a message from `address` without storing anything: handle
    /// `plaintext` (store it in the app's database), then `await commit()`
    /// on the result, then acknowledge the message to the server.
    ///
    /// Without `commit()` the store stays as it was, so a redelivered
    /// message decrypts again; a redelivery after `commit()` throws
    /// `DUPLICATE_MESSAGE`, which means "already handled". Handle the
    /// messages of one address one at a time (decrypt, handle, commit): a
    /// commit after another write to the session (an `encrypt` to the
    /// address, another commit, a trust decision) rejects with
    /// `STALE_DECRYPTION`; decrypt the message again.
    ///
    /// Throws `MALFORMED_MESSAGE`, `NO_SESSION`, `UNTRUSTED_IDENTITY` (a
    /// first message from a known address with a new identity key),
    /// `PEER_IDENTITY_MISSING`, `CLASSICAL_SESSION_REFUSED` (a first message
    /// without a KEM ciphertext, unless classical sessions are allowed),
    /// `UNKNOWN_PREKEY` (a one-time KEM prekey already used included),
    /// `DUPLICATE_MESSAGE` (a replayed first message included),
    /// `LIMIT_EXCEEDED`, `AUTHENTICATION_FAILED`, `KEY_AGREEMENT_FAILED`,
    /// or a store error. On error nothing changed.
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

    /// Decrypts a message from `address` and commits at once, resolving
    /// with the plaintext once the new state is durable: for apps that can
    /// afford to lose a message if they crash before handling it.
    ///
    /// Rejects as `decrypt` throws and `commit()` rejects.
    #[wasm_bindgen(js_name = decryptAndCommit, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn decrypt_and_commit(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        message: &[u8],
    ) -> Promise {
        durably(|| {
            let decrypted = self.core.decrypt(&self::address(&address)?, message)?;
            Ok(js::bytes(&decrypted.commit()?))
        })
    }

    /// A batch of decryptions committed together in one store transaction:
    /// for a device catching up with many queued messages (see
    /// `DecryptBatch`).
    pub fn batch(&self) -> DecryptBatch {
        DecryptBatch::new(Rc::clone(&self.core))
    }

    /// Records `identityKey` (32 bytes) as the identity of `address`,
    /// replacing any earlier one: after `UNTRUSTED_IDENTITY` or
    /// `PEER_IDENTITY_MISSING`, once the user accepted the key, or with
    /// `verified` after comparing safety numbers. Resolves once durable.
    ///
    /// The sessions of `address` with any other identity key are dropped,
    /// and every decryption of `address` not yet committed becomes stale
    /// (its `commit()` rejects with `STALE_DECRYPTION`).
    ///
    /// Rejects with `INVALID_ARGUMENT` for a bad key or address,
    /// `CONTENDED`, or a store error.
    #[wasm_bindgen(js_name = trustIdentity, unchecked_return_type = "Promise<void>")]
    pub fn trust_identity(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        #[wasm_bindgen(js_name = identityKey)] identity_key: &[u8],
        verified: bool,
    ) -> Promise {
        durably(|| {
            let key = crate::types::identity_key(identity_key)?;
            Ok(self.core.trust_identity(&self::address(&address)?, key, verified)?)
        })
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

    /// Starts 1:1 call `callId` (1 to 255 bytes, chosen by the app's
    /// signalling) with `address` in cipher suite `suite`: returns the
    /// call, waiting for its answer, and the offer to send to `address` as
    /// the plaintext of `encrypt` (framed as the app frames its messages).
    /// A side that restarted mid-call offers again: every offer has new
    /// keys. Stores nothing.
    ///
    /// Throws `NO_SESSION`, `PEER_IDENTITY_MISSING`, `INVALID_ARGUMENT` for
    /// a bad call id or suite, or a store error.
    #[wasm_bindgen(js_name = offerCall, unchecked_return_type = "OfferedCall")]
    pub fn offer_call(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        #[wasm_bindgen(js_name = callId)] call_id: &[u8],
        #[wasm_bindgen(unchecked_param_type = "CipherSuite")] suite: u32,
    ) -> JsResult<JsValue> {
        let (call_id, suite) = (self::call_id(call_id)?, self::suite(suite)?);
        let (call, offer) = self.core.offer_call(&self::address(&address)?, call_id, suite)?;
        Ok(js::object(&[("call", OutgoingCall::from(call).into()), ("offer", js::bytes(&offer))]))
    }

    /// Parses a call offer that arrived from `address` (the plaintext of a
    /// DM message), checking that it names this device's identity key and
    /// the one recorded for `address`: what the app shows while the call
    /// rings.
    ///
    /// Throws `MALFORMED_MESSAGE` for bytes that are no offer (or of
    /// another version), `CALL_SIGNAL_REJECTED` for an offer made for other
    /// identity keys, `NO_SESSION`, `PEER_IDENTITY_MISSING`, or a store
    /// error.
    #[wasm_bindgen(js_name = parseCallOffer)]
    pub fn parse_call_offer(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        offer: &[u8],
    ) -> JsResult<CallOffer> {
        Ok(self.core.parse_call_offer(&self::address(&address)?, offer)?.into())
    }

    /// Accepts a call offer from `address`: returns the agreed call and the
    /// answer to send to `address` as the plaintext of `encrypt`. Each
    /// offer is accepted once (the manager remembers the last 256 it
    /// accepted). Stores nothing.
    ///
    /// Throws `CALL_SIGNAL_REJECTED` for an offer this manager accepted
    /// before (a replay) or one parsed for other identities than the
    /// session's now, `KEY_AGREEMENT_FAILED` for a small-order ephemeral
    /// key, `NO_SESSION`, `PEER_IDENTITY_MISSING`, or a store error.
    #[wasm_bindgen(js_name = acceptCall, unchecked_return_type = "AcceptedCall")]
    pub fn accept_call(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        offer: &CallOffer,
    ) -> JsResult<JsValue> {
        // A copy: accepting the same offer again is refused as a replay.
        let (call, answer) = self.core.accept_call(&self::address(&address)?, offer.0.clone())?;
        Ok(js::object(&[("call", OneToOneCall::from(call).into()), ("answer", js::bytes(&answer))]))
    }
}

/// A decrypted message whose session state is not yet stored.
///
/// Read `plaintext`, handle it, then `await commit()`. Without a commit the
/// store stays as it was, and the same message decrypts again when it is
/// delivered again.
#[wasm_bindgen]
pub struct DecryptedMessage {
    manager: Rc<CoreManager>,
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

    /// Stores the session state that results from this message (and, for a
    /// first message, removes the one-time prekey and one-time KEM prekey it
    /// used, or records its use of the last-resort KEM prekey), if the
    /// session is still the one the message was decrypted from; resolves
    /// once it is durable.
    /// If the store throws, the commit may be tried again.
    ///
    /// Rejects with `STALE_DECRYPTION` if the session was written since the
    /// decryption (nothing is stored: decrypt the message again),
    /// `ALREADY_COMMITTED` after a successful commit, or a store error
    /// (`STORE` also when the write did not persist: stop, and reload the
    /// store).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn commit(&self) -> Promise {
        durably(|| {
            // Taken out of the cell before the store runs: a JS store may
            // call back into Sotto.
            let pending = self.pending.borrow_mut().take().ok_or_else(|| {
                SottoError::new(ErrorCode::AlreadyCommitted, "this message was already committed")
            })?;
            let result = self.manager.commit(&pending);
            if result.is_err() {
                *self.pending.borrow_mut() = Some(pending);
            }
            Ok(result?)
        })
    }
}
