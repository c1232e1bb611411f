//! Stores: the `ProtocolStore` interface an app implements in JavaScript
//! (over IndexedDB, say), the SDK's own [`InMemoryStore`], and
//! [`check_store_conformance`], which tests a JS store against the commit
//! contract.
//!
//! A JS store keeps opaque byte records, one per key: Sotto encodes and
//! decodes them (`storage.proto`), checks their versions, and refuses a
//! corrupt one with `CORRUPT_RECORD`. Sessions and peer identities are
//! written only by the store's `commit(writes)`, the core's
//! [`ProtocolStore::commit`](core::ProtocolStore::commit): a batch applied
//! all or nothing as a compare-and-swap on each session's generation
//! (docs/PROTOCOL.md §6), which signals a lost race by throwing an object
//! with `code: "CONFLICT"`. The same commit removes the one-time prekeys and
//! one-time KEM prekeys a first message used, and records the uses of the
//! last-resort KEM prekey (its id and the first message's base key), which
//! the store keeps until that prekey is removed: a replayed first message
//! then finds its use recorded (`lastResortUseRecorded`) and is refused. Reads are synchronous (the core calls them in
//! the middle of an operation): an app over IndexedDB answers them from
//! memory. Writes apply to memory at once and may return a `Promise` that
//! resolves once they are on disk; `crate::durable` makes the exported
//! method wait for it.
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

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use sotto::keys::{
    DhPublicKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    SignedPreKey, SignedPreKeyId,
};
use sotto::record::RecordError;
use sotto::session::{Address, SessionRecord};
use sotto::store::{
    self as core, PeerIdentity, PeerIdentityWrite, StoreCommit, StoreError, WriteTransaction,
};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::error::{JsResult, SottoError};
use crate::types::{address, address_to_js};
use crate::{IdentityKeyPair as JsIdentityKeyPair, durable, js};

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

    #[wasm_bindgen(method, catch, js_name = signedPrekey)]
    fn signed_prekey(this: &JsProtocolStore, id: u32) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = saveSignedPrekey)]
    fn save_signed_prekey(
        this: &JsProtocolStore,
        id: u32,
        record: &Uint8Array,
    ) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = removeSignedPrekey)]
    fn remove_signed_prekey(this: &JsProtocolStore, id: u32) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = oneTimePrekey)]
    fn one_time_prekey(this: &JsProtocolStore, id: u32) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = saveOneTimePrekey)]
    fn save_one_time_prekey(
        this: &JsProtocolStore,
        id: u32,
        record: &Uint8Array,
    ) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = removeOneTimePrekey)]
    fn remove_one_time_prekey(this: &JsProtocolStore, id: u32) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = kemPrekey)]
    fn kem_prekey(this: &JsProtocolStore, id: u32) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = saveKemPrekey)]
    fn save_kem_prekey(
        this: &JsProtocolStore,
        id: u32,
        record: &Uint8Array,
    ) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = removeKemPrekey)]
    fn remove_kem_prekey(this: &JsProtocolStore, id: u32) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = lastResortUseRecorded)]
    fn last_resort_use_recorded(
        this: &JsProtocolStore,
        id: u32,
        base_key: &Uint8Array,
    ) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = loadSession)]
    fn load_session(this: &JsProtocolStore, address: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn commit(this: &JsProtocolStore, writes: &Array) -> Result<JsValue, JsValue>;
}

/// The methods a JS store must have.
const REQUIRED_METHODS: [&str; 14] = [
    "localIdentity",
    "peerIdentity",
    "signedPrekey",
    "saveSignedPrekey",
    "removeSignedPrekey",
    "oneTimePrekey",
    "saveOneTimePrekey",
    "removeOneTimePrekey",
    "kemPrekey",
    "saveKemPrekey",
    "removeKemPrekey",
    "lastResortUseRecorded",
    "loadSession",
    "commit",
];

/// The methods this version added for KEM prekeys (PQXDH), named in the
/// error for a store written for the earlier interface.
const KEM_METHODS: [&str; 4] =
    ["kemPrekey", "saveKemPrekey", "removeKemPrekey", "lastResortUseRecorded"];

/// The `code` a JS store's `commit` throws with when a compare-and-swap is
/// lost.
const CONFLICT: &str = "CONFLICT";

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
            "{method} returned a Promise: store reads must be synchronous \
             (answer from memory; only writes may return a Promise)"
        )));
    }
    Err(failure(format!("{method} returned neither a Uint8Array nor null")))
}

/// What a JS store's `lastResortUseRecorded` returned: `true` or `false`.
fn recorded(value: &JsValue) -> Result<bool, StoreError> {
    if let Some(answer) = value.as_bool() {
        return Ok(answer);
    }
    if value.is_instance_of::<Promise>() {
        return Err(failure(
            "lastResortUseRecorded returned a Promise: store reads must be synchronous \
             (answer from memory; only writes may return a Promise)"
                .into(),
        ));
    }
    Err(failure("lastResortUseRecorded returned neither true nor false".into()))
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
            let has = |name: &str| Reflect::has(&store, &JsValue::from_str(name)).unwrap_or(false);
            let hint = if has("storeSession") || has("savePeerIdentity") {
                " (storeSession and savePeerIdentity are gone: sessions and identities are \
                 written by commit(writes) only, see ProtocolStore)"
            } else if missing.iter().all(|name| KEM_METHODS.contains(name)) {
                " (the store predates post-quantum sessions: it must keep KEM prekeys and the \
                 uses of the last-resort one, and commit(writes) must check and apply \
                 consumedKemPrekeys and lastResortUses, see ProtocolStore)"
            } else {
                ""
            };
            return Err(SottoError::invalid_argument(format!(
                "the store has no method {}{hint}",
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

    /// Calls a write method; what it returned (a `Promise`, or nothing)
    /// goes to the current call's durability check.
    fn put(
        &self,
        method: &str,
        call: impl FnOnce(&JsProtocolStore) -> Result<JsValue, JsValue>,
    ) -> Result<(), StoreError> {
        let returned = call(&self.object()?).map_err(|exception| thrown(method, exception))?;
        durable::record(returned);
        Ok(())
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

/// One commit as the JS store's `commit` sees it (a `StoreWrite`).
fn write_to_js(commit: &StoreCommit) -> Result<JsValue, StoreError> {
    let (identity, first_use) = match &commit.peer_identity {
        None => (JsValue::NULL, false),
        Some(write @ (PeerIdentityWrite::FirstUse(_) | PeerIdentityWrite::Replace(_))) => (
            bytes(&write.identity().to_record_bytes()).into(),
            matches!(write, PeerIdentityWrite::FirstUse(_)),
        ),
        Some(_) => return Err(failure("an identity write this version cannot pass on".into())),
    };
    let consumed: Array =
        commit.consumed_one_time_prekeys.iter().map(|id| JsValue::from(u32::from(*id))).collect();
    let consumed_kem: Array =
        commit.consumed_kem_prekeys.iter().map(|id| JsValue::from(u32::from(*id))).collect();
    let last_resort_uses: Array = commit
        .last_resort_uses
        .iter()
        .map(|used| {
            js::object(&[
                ("kemPrekey", u32::from(used.kem_prekey).into()),
                ("baseKey", js::bytes(&used.base_key.to_bytes())),
            ])
        })
        .collect();
    Ok(js::object(&[
        ("address", address_to_js(&commit.address)),
        ("expectedGeneration", commit.expected_generation.map_or(JsValue::NULL, JsValue::from)),
        ("generation", JsValue::from(commit.session.generation())),
        ("session", bytes(&commit.session.to_bytes()).into()),
        ("peerIdentity", identity),
        ("peerIdentityFirstUse", first_use.into()),
        ("consumedOneTimePrekeys", consumed.into()),
        ("consumedKemPrekeys", consumed_kem.into()),
        ("lastResortUses", last_resort_uses.into()),
    ]))
}

/// The core's error for what a JS store's `commit` threw: a conflict if it
/// has `code: "CONFLICT"` (for the address it names, or the first one),
/// otherwise a store failure.
fn commit_failure(exception: JsValue, commits: &[StoreCommit]) -> StoreError {
    let conflict = exception.is_object()
        && Reflect::get(&exception, &JsValue::from_str("code"))
            .is_ok_and(|code| code.as_string().as_deref() == Some(CONFLICT));
    if !conflict {
        return thrown("commit", exception);
    }
    let named = Reflect::get(&exception, &JsValue::from_str("address"))
        .ok()
        .and_then(|value| address(&value).ok())
        .filter(|named| commits.iter().any(|commit| commit.address == *named));
    match named.or_else(|| commits.first().map(|commit| commit.address.clone())) {
        Some(address) => StoreError::Conflict { address },
        None => thrown("commit", exception),
    }
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

impl core::KemPreKeyStore for JsStore {
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, StoreError> {
        let record = self.get("kemPrekey", |store| store.kem_prekey(id.into()))?;
        parse(record, KemPreKey::from_record_bytes)
    }

    fn save_kem_prekey(&self, prekey: &KemPreKey) -> Result<(), StoreError> {
        let record = bytes(&prekey.to_record_bytes());
        self.put("saveKemPrekey", |store| store.save_kem_prekey(prekey.id().into(), &record))
    }

    fn remove_kem_prekey(&self, id: KemPreKeyId) -> Result<(), StoreError> {
        self.put("removeKemPrekey", |store| store.remove_kem_prekey(id.into()))
    }

    fn last_resort_use_recorded(
        &self,
        id: KemPreKeyId,
        base_key: &DhPublicKey,
    ) -> Result<bool, StoreError> {
        let base_key = bytes(&base_key.to_bytes());
        let answer = self
            .object()?
            .last_resort_use_recorded(id.into(), &base_key)
            .map_err(|exception| thrown("lastResortUseRecorded", exception))?;
        recorded(&answer)
    }
}

impl core::SessionStore for JsStore {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        let address = address_to_js(address);
        let record = self.get("loadSession", |store| store.load_session(&address))?;
        parse(record, SessionRecord::from_bytes)
    }
}

impl core::ProtocolStore for JsStore {
    /// The store's `commit(writes)`, with every commit of the batch as a
    /// `StoreWrite`.
    fn commit(&self, commits: &[StoreCommit]) -> Result<(), StoreError> {
        let writes = commits.iter().map(write_to_js).collect::<Result<Array, _>>()?;
        let returned = self
            .object()?
            .commit(&writes)
            .map_err(|exception| commit_failure(exception, commits))?;
        durable::record(returned);
        Ok(())
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

    /// How many KEM prekeys (one-time and last-resort) are stored.
    #[wasm_bindgen(js_name = kemPrekeyCount)]
    pub fn kem_prekey_count(&self) -> usize {
        self.0.kem_prekey_count()
    }

    /// Removes the KEM prekey with `id`, if stored, and forgets the uses
    /// recorded for it: when rotating the last-resort KEM prekey, once the
    /// new one is uploaded and the grace period for messages in flight is
    /// over (first messages that name it are then `UNKNOWN_PREKEY`).
    ///
    /// Throws a store error (the in-memory store has none).
    #[wasm_bindgen(js_name = removeKemPrekey)]
    pub fn remove_kem_prekey(&self, id: u32) -> JsResult<()> {
        Ok(core::KemPreKeyStore::remove_kem_prekey(&*self.0, id.into())?)
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

impl core::KemPreKeyStore for SharedStore {
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, StoreError> {
        self.0.kem_prekey(id)
    }

    fn save_kem_prekey(&self, prekey: &KemPreKey) -> Result<(), StoreError> {
        self.0.save_kem_prekey(prekey)
    }

    fn remove_kem_prekey(&self, id: KemPreKeyId) -> Result<(), StoreError> {
        self.0.remove_kem_prekey(id)
    }

    fn last_resort_use_recorded(
        &self,
        id: KemPreKeyId,
        base_key: &DhPublicKey,
    ) -> Result<bool, StoreError> {
        self.0.last_resort_use_recorded(id, base_key)
    }
}

impl core::SessionStore for SharedStore {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        self.0.load_session(address)
    }
}

impl core::ProtocolStore for SharedStore {
    fn commit(&self, commits: &[StoreCommit]) -> Result<(), StoreError> {
        self.0.commit(commits)
    }

    fn begin_write(&self) -> Result<Option<Box<dyn WriteTransaction + '_>>, StoreError> {
        self.0.begin_write()
    }
}

/// Checks a JS store against the commit contract (`ProtocolStore.commit`
/// in the TypeScript declarations, docs/PROTOCOL.md §6): compare-and-swap
/// on the generation (`null` for no session), first-use identities,
/// consumed one-time prekeys and one-time KEM prekeys that must exist,
/// last-resort KEM prekey uses recorded once and forgotten with their
/// prekey, all-or-nothing batches. Resolves once the check passed and its
/// writes are durable.
///
/// Run it on an empty test instance of the store, never on a user's: it
/// writes sessions and identities for account `"sotto-conformance-check"`
/// (devices 0 to 7), one-time prekeys 4294967294 and 4294967295, and KEM
/// prekeys 4294967293 to 4294967295.
///
/// Rejects with `CONFORMANCE_FAILED` (`error.check` names the rule the
/// store broke, `error.detail` what happened), `INVALID_ARGUMENT` for an
/// object that lacks a method of `ProtocolStore`.
#[wasm_bindgen(js_name = checkStoreConformance, unchecked_return_type = "Promise<void>")]
pub fn check_store_conformance(store: JsProtocolStore) -> Promise {
    durable::durably(|| {
        let store = JsStore::register(store)?;
        // One thread: wasm32 has no others, and the JS store is reachable
        // from this one only.
        core::conformance::check(&store, 1)?;
        Ok(())
    })
}

/// The generation of a stored session record: for a store that keeps
/// records written before it kept generations beside them (by an earlier
/// version of this package), to learn the generation it compares.
///
/// Throws `CORRUPT_RECORD` if the bytes are not a session record.
#[wasm_bindgen(js_name = sessionRecordGeneration)]
pub fn session_record_generation(record: &[u8]) -> JsResult<u64> {
    Ok(SessionRecord::from_bytes(record)?.generation())
}
