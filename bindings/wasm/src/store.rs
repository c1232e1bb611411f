//! Stores: the `ProtocolStore` interface an app implements in JavaScript
//! (over IndexedDB, say), and the SDK's own [`InMemoryStore`].
//!
//! A JS store keeps opaque byte records, one per key: Sotto encodes and
//! decodes them (`storage.proto`), checks their versions, and refuses a
//! corrupt one with `CORRUPT_RECORD`. Its methods are synchronous (the core
//! calls them in the middle of an operation); an app over IndexedDB keeps
//! its records in memory, answers from there, and writes through to
//! IndexedDB in the background (the README shows the pattern).
//!
//! # Why the adapter holds an id, not the JS object
//!
//! The core's store traits are `Send + Sync`, and JS values are neither.
//! [`JsStore`] therefore holds only a number: the JS object lives in a
//! thread-local registry, looked up by that number for each call. On wasm32
//! there is one thread, so the lookup always finds it; were the adapter ever
//! used from another thread, it would find nothing and fail with a store
//! error, never touch a JS value off its thread. No `unsafe` is involved.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use sotto::keys::{IdentityKeyPair, OneTimePreKey, OneTimePreKeyId, SignedPreKey, SignedPreKeyId};
use sotto::record::RecordError;
use sotto::session::{Address, SessionRecord};
use sotto::store::{self as core, PeerIdentity, StoreCommit, StoreError};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::error::{JsResult, SottoError};
use crate::types::address_to_js;
use crate::{IdentityKeyPair as JsIdentityKeyPair, js};

#[wasm_bindgen]
extern "C" {
    /// A store implemented in JavaScript: see `ProtocolStore` in the
    /// TypeScript declarations.
    #[wasm_bindgen(typescript_type = "ProtocolStore")]
    #[derive(Clone)]
    pub type JsProtocolStore;

    #[wasm_bindgen(method, catch, js_name = localIdentity)]
    fn local_identity(this: &JsProtocolStore) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = peerIdentity)]
    fn peer_identity(this: &JsProtocolStore, address: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = savePeerIdentity)]
    fn save_peer_identity(
        this: &JsProtocolStore,
        address: &JsValue,
        record: &Uint8Array,
    ) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = signedPrekey)]
    fn signed_prekey(this: &JsProtocolStore, id: u32) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = saveSignedPrekey)]
    fn save_signed_prekey(
        this: &JsProtocolStore,
        id: u32,
        record: &Uint8Array,
    ) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = removeSignedPrekey)]
    fn remove_signed_prekey(this: &JsProtocolStore, id: u32) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = oneTimePrekey)]
    fn one_time_prekey(this: &JsProtocolStore, id: u32) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = saveOneTimePrekey)]
    fn save_one_time_prekey(
        this: &JsProtocolStore,
        id: u32,
        record: &Uint8Array,
    ) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = removeOneTimePrekey)]
    fn remove_one_time_prekey(this: &JsProtocolStore, id: u32) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = loadSession)]
    fn load_session(this: &JsProtocolStore, address: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = storeSession)]
    fn store_session(
        this: &JsProtocolStore,
        address: &JsValue,
        record: &Uint8Array,
    ) -> Result<(), JsValue>;
}

/// The methods a JS store must have; `commit` is optional.
const REQUIRED_METHODS: [&str; 11] = [
    "localIdentity",
    "peerIdentity",
    "savePeerIdentity",
    "signedPrekey",
    "saveSignedPrekey",
    "removeSignedPrekey",
    "oneTimePrekey",
    "saveOneTimePrekey",
    "removeOneTimePrekey",
    "loadSession",
    "storeSession",
];

#[derive(Default)]
struct Registry {
    /// Numbers the stores and the failure tokens (one sequence for both).
    counter: u64,
    stores: HashMap<u64, JsProtocolStore>,
    /// What a JS store threw last, with its token, until the `SottoError`
    /// it caused takes it as its `cause`.
    exception: Option<(u64, JsValue)>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Takes what a JS store threw for failure `token`, if it is still the last.
pub(crate) fn take_exception(token: u64) -> Option<JsValue> {
    REGISTRY
        .try_with(|registry| {
            let mut registry = registry.try_borrow_mut().ok()?;
            match registry.exception.take() {
                Some((last, value)) if last == token => Some(value),
                other => {
                    registry.exception = other;
                    None
                }
            }
        })
        .ok()
        .flatten()
}

/// A failure of a JS store: what it threw (as text), and a token to find
/// the thrown value again for the JS error's `cause`.
#[derive(Debug)]
pub(crate) struct JsStoreFailure {
    pub(crate) message: String,
    pub(crate) token: Option<u64>,
}

impl std::fmt::Display for JsStoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JsStoreFailure {}

fn failure(message: String) -> StoreError {
    StoreError::backend(JsStoreFailure { message, token: None })
}

/// The core's error for an exception thrown by store method `method`.
fn thrown(method: &str, exception: JsValue) -> StoreError {
    let text = match exception.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => exception.as_string().unwrap_or_else(|| format!("{exception:?}")),
    };
    let token = REGISTRY
        .try_with(|registry| {
            let mut registry = registry.try_borrow_mut().ok()?;
            registry.counter = registry.counter.wrapping_add(1);
            let token = registry.counter;
            registry.exception = Some((token, exception));
            Some(token)
        })
        .ok()
        .flatten();
    StoreError::backend(JsStoreFailure { message: format!("{method} threw: {text}"), token })
}

/// A record a JS getter returned: `Uint8Array`, or `null`/`undefined` for
/// none.
fn record(method: &str, value: JsValue) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    if let Some(array) = value.dyn_ref::<Uint8Array>() {
        return Ok(Some(Zeroizing::new(array.to_vec())));
    }
    if value.is_instance_of::<Promise>() {
        return Err(failure(format!(
            "{method} returned a Promise: store methods must be synchronous \
             (answer from an in-memory cache and persist in the background)"
        )));
    }
    Err(failure(format!("{method} returned neither a Uint8Array nor null")))
}

fn parse<T>(
    record: Option<Zeroizing<Vec<u8>>>,
    parse: impl FnOnce(&[u8]) -> Result<T, RecordError>,
) -> Result<Option<T>, StoreError> {
    Ok(record.map(|bytes| parse(&bytes)).transpose()?)
}

/// A JS [`JsProtocolStore`] seen as the core's store traits. `Send + Sync`
/// because it holds only the object's id in the registry.
pub(crate) struct JsStore {
    id: u64,
}

impl JsStore {
    /// Registers `store` after checking that it has every required method.
    pub(crate) fn register(store: JsProtocolStore) -> JsResult<Self> {
        let missing: Vec<&str> = REQUIRED_METHODS
            .into_iter()
            .filter(|name| {
                !Reflect::get(&store, &JsValue::from_str(name))
                    .is_ok_and(|method| method.is_instance_of::<Function>())
            })
            .collect();
        if !missing.is_empty() {
            return Err(SottoError::invalid_argument(format!(
                "the store has no method {}",
                missing.join(", ")
            )));
        }
        REGISTRY
            .try_with(|registry| {
                let mut registry = registry.try_borrow_mut().ok()?;
                registry.counter = registry.counter.wrapping_add(1);
                let id = registry.counter;
                registry.stores.insert(id, store);
                Some(Self { id })
            })
            .ok()
            .flatten()
            .ok_or_else(|| {
                SottoError::new(crate::error::ErrorCode::Internal, "store registry busy")
            })
    }

    /// The JS object, cloned out of the registry so that no borrow of it is
    /// held while JS code runs (which may call back into Sotto).
    fn object(&self) -> Result<JsProtocolStore, StoreError> {
        REGISTRY
            .try_with(|registry| {
                registry
                    .try_borrow()
                    .ok()
                    .and_then(|registry| registry.stores.get(&self.id).cloned())
            })
            .ok()
            .flatten()
            .ok_or_else(|| failure("the JS store is not reachable from this thread".into()))
    }

    fn get(
        &self,
        method: &str,
        call: impl FnOnce(&JsProtocolStore) -> Result<JsValue, JsValue>,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let value = call(&self.object()?).map_err(|exception| thrown(method, exception))?;
        record(method, value)
    }

    fn put(
        &self,
        method: &str,
        call: impl FnOnce(&JsProtocolStore) -> Result<(), JsValue>,
    ) -> Result<(), StoreError> {
        call(&self.object()?).map_err(|exception| thrown(method, exception))
    }

    /// The store's `commit` method, if it has one.
    fn commit_method(&self) -> Result<Option<(JsProtocolStore, Function)>, StoreError> {
        let object = self.object()?;
        let method = Reflect::get(&object, &JsValue::from_str("commit"))
            .map_err(|exception| thrown("commit", exception))?;
        Ok(method.dyn_into::<Function>().ok().map(|method| (object, method)))
    }
}

impl Drop for JsStore {
    fn drop(&mut self) {
        // Fails only while the registry is borrowed, which no drop happens
        // inside of; the entry would then stay until the page unloads.
        let _ = REGISTRY.try_with(|registry| {
            if let Ok(mut registry) = registry.try_borrow_mut() {
                registry.stores.remove(&self.id);
            }
        });
    }
}

fn bytes(record: &[u8]) -> Uint8Array {
    Uint8Array::from(record)
}

impl core::IdentityStore for JsStore {
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError> {
        let record = self.get("localIdentity", |store| store.local_identity())?;
        parse(record, IdentityKeyPair::from_record_bytes)
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        let address = address_to_js(address);
        let record = self.get("peerIdentity", |store| store.peer_identity(&address))?;
        parse(record, PeerIdentity::from_record_bytes)
    }

    fn save_peer_identity(
        &self,
        address: &Address,
        identity: &PeerIdentity,
    ) -> Result<(), StoreError> {
        let (address, record) = (address_to_js(address), bytes(&identity.to_record_bytes()));
        self.put("savePeerIdentity", |store| store.save_peer_identity(&address, &record))
    }
}

impl core::SignedPreKeyStore for JsStore {
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, StoreError> {
        let record = self.get("signedPrekey", |store| store.signed_prekey(id.into()))?;
        parse(record, SignedPreKey::from_record_bytes)
    }

    fn save_signed_prekey(&self, prekey: &SignedPreKey) -> Result<(), StoreError> {
        let record = bytes(&prekey.to_record_bytes());
        self.put("saveSignedPrekey", |store| store.save_signed_prekey(prekey.id().into(), &record))
    }

    fn remove_signed_prekey(&self, id: SignedPreKeyId) -> Result<(), StoreError> {
        self.put("removeSignedPrekey", |store| store.remove_signed_prekey(id.into()))
    }
}

impl core::OneTimePreKeyStore for JsStore {
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, StoreError> {
        let record = self.get("oneTimePrekey", |store| store.one_time_prekey(id.into()))?;
        parse(record, OneTimePreKey::from_record_bytes)
    }

    fn save_one_time_prekey(&self, prekey: &OneTimePreKey) -> Result<(), StoreError> {
        let record = bytes(&prekey.to_record_bytes());
        self.put("saveOneTimePrekey", |store| {
            store.save_one_time_prekey(prekey.id().into(), &record)
        })
    }

    fn remove_one_time_prekey(&self, id: OneTimePreKeyId) -> Result<(), StoreError> {
        self.put("removeOneTimePrekey", |store| store.remove_one_time_prekey(id.into()))
    }
}

impl core::SessionStore for JsStore {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        let address = address_to_js(address);
        let record = self.get("loadSession", |store| store.load_session(&address))?;
        parse(record, SessionRecord::from_bytes)
    }

    fn store_session(&self, address: &Address, record: &SessionRecord) -> Result<(), StoreError> {
        let (address, record) = (address_to_js(address), bytes(&record.to_bytes()));
        self.put("storeSession", |store| store.store_session(&address, &record))
    }
}

impl core::ProtocolStore for JsStore {
    /// The store's own `commit(writes)` if it has one (one IndexedDB
    /// transaction, say); otherwise the writes one by one in the core's
    /// interruption-safe order.
    fn commit(&self, commit: &StoreCommit) -> Result<(), StoreError> {
        use core::{IdentityStore as _, OneTimePreKeyStore as _, SessionStore as _};

        let Some((object, method)) = self.commit_method()? else {
            if let Some(identity) = &commit.new_peer_identity {
                self.save_peer_identity(&commit.address, identity)?;
            }
            self.store_session(&commit.address, &commit.session)?;
            if let Some(id) = commit.consumed_one_time_prekey {
                self.remove_one_time_prekey(id)?;
            }
            return Ok(());
        };
        let writes = js::object(&[
            ("address", address_to_js(&commit.address)),
            ("session", bytes(&commit.session.to_bytes()).into()),
            (
                "newPeerIdentity",
                commit
                    .new_peer_identity
                    .map_or(JsValue::NULL, |peer| bytes(&peer.to_record_bytes()).into()),
            ),
            (
                "consumedOneTimePrekey",
                commit.consumed_one_time_prekey.map_or(JsValue::NULL, |id| u32::from(id).into()),
            ),
        ]);
        method.call1(&object, &writes).map(drop).map_err(|exception| thrown("commit", exception))
    }
}

/// The SDK's store in memory: for tests, and for apps that persist nothing.
#[wasm_bindgen]
pub struct InMemoryStore(pub(crate) Arc<core::InMemoryStore>);

#[wasm_bindgen]
impl InMemoryStore {
    /// An empty store for the device with `identity`.
    #[wasm_bindgen(constructor)]
    pub fn new(identity: &JsIdentityKeyPair) -> InMemoryStore {
        Self(Arc::new(core::InMemoryStore::new(identity.0.clone())))
    }

    /// How many one-time prekeys are left.
    #[wasm_bindgen(js_name = oneTimePrekeyCount)]
    pub fn one_time_prekey_count(&self) -> usize {
        self.0.one_time_prekey_count()
    }
}

/// Whichever store a manager was made with: the SDK's in-memory store or a
/// [`JsStore`].
#[derive(Clone)]
pub(crate) struct SharedStore(pub(crate) Arc<dyn core::ProtocolStore>);

impl core::IdentityStore for SharedStore {
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError> {
        self.0.local_identity()
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        self.0.peer_identity(address)
    }

    fn save_peer_identity(
        &self,
        address: &Address,
        identity: &PeerIdentity,
    ) -> Result<(), StoreError> {
        self.0.save_peer_identity(address, identity)
    }
}

impl core::SignedPreKeyStore for SharedStore {
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, StoreError> {
        self.0.signed_prekey(id)
    }

    fn save_signed_prekey(&self, prekey: &SignedPreKey) -> Result<(), StoreError> {
        self.0.save_signed_prekey(prekey)
    }

    fn remove_signed_prekey(&self, id: SignedPreKeyId) -> Result<(), StoreError> {
        self.0.remove_signed_prekey(id)
    }
}

impl core::OneTimePreKeyStore for SharedStore {
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, StoreError> {
        self.0.one_time_prekey(id)
    }

    fn save_one_time_prekey(&self, prekey: &OneTimePreKey) -> Result<(), StoreError> {
        self.0.save_one_time_prekey(prekey)
    }

    fn remove_one_time_prekey(&self, id: OneTimePreKeyId) -> Result<(), StoreError> {
        self.0.remove_one_time_prekey(id)
    }
}

impl core::SessionStore for SharedStore {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        self.0.load_session(address)
    }

    fn store_session(&self, address: &Address, record: &SessionRecord) -> Result<(), StoreError> {
        self.0.store_session(address, record)
    }
}

impl core::ProtocolStore for SharedStore {
    fn commit(&self, commit: &StoreCommit) -> Result<(), StoreError> {
        // The store's own commit (a JS store's `commit`, if it has one).
        self.0.commit(commit)
    }
}
