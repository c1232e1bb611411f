//! A check that a store keeps the [commit contract](super::ProtocolStore#the-commit-contract):
//! run [`check`] on an empty instance of an app's own store (in its tests,
//! or through the bindings from Swift, Kotlin, Python or JavaScript) before
//! trusting it with sessions.
//!
//! ```
//! use sotto::keys::IdentityKeyPair;
//! use sotto::store::{InMemoryStore, conformance};
//!
//! let store = InMemoryStore::new(IdentityKeyPair::generate(&mut sotto::rng::os_rng()));
//! conformance::check(&store, 4)?;
//! # Ok::<(), conformance::ConformanceError>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    LastResortUse, PeerIdentity, PeerIdentityWrite, ProtocolStore, StoreCommit, StoreError,
};
use crate::keys::{
    DhKeyPair, IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, KemPreKeyKind, OneTimePreKey,
    OneTimePreKeyId,
};
use crate::rng::os_rng;
use crate::session::{Address, SessionRecord};

/// How many compare-and-swaps each thread of the concurrent check makes.
pub const CONCURRENT_ATTEMPTS: u64 = 50;

/// The account id of every address the check writes (with device ids from
/// 0 up): the store must hold nothing for them.
pub const CHECK_ACCOUNT: &str = "sotto-conformance-check";

/// The ids of the one-time prekeys the check writes (and removes).
pub const CHECK_PREKEY_IDS: [u32; 2] = [u32::MAX - 1, u32::MAX];

/// The ids of the KEM prekeys the check writes (and removes): a one-time
/// one, a last-resort one, and one it never stores.
pub const CHECK_KEM_PREKEY_IDS: [u32; 3] = [u32::MAX - 2, u32::MAX - 1, u32::MAX];

/// A way the store broke the contract.
#[derive(Debug, thiserror::Error)]
#[error("the store fails the commit contract: {check}: {detail}")]
pub struct ConformanceError {
    /// Which check failed.
    pub check: &'static str,
    /// What was expected and what happened.
    pub detail: String,
}

fn fail<T>(check: &'static str, detail: impl Into<String>) -> Result<T, ConformanceError> {
    Err(ConformanceError { check, detail: detail.into() })
}

fn store_error(check: &'static str) -> impl Fn(StoreError) -> ConformanceError {
    move |error| ConformanceError { check, detail: format!("the store failed: {error}") }
}

fn address(device: u32) -> Address {
    Address::known_valid(CHECK_ACCOUNT, device)
}

fn record(generation: u64) -> SessionRecord {
    SessionRecord::empty(generation)
}

fn commit(device: u32, expected: Option<u64>, new: u64) -> StoreCommit {
    StoreCommit::new(address(device), expected, record(new))
}

fn generation<S: ProtocolStore + ?Sized>(
    store: &S,
    device: u32,
    check: &'static str,
) -> Result<Option<u64>, ConformanceError> {
    Ok(store.load_session(&address(device)).map_err(store_error(check))?.map(|r| r.generation()))
}

/// Expects `result` to be a conflict.
fn expect_conflict(
    check: &'static str,
    result: Result<(), StoreError>,
) -> Result<(), ConformanceError> {
    match result {
        Err(StoreError::Conflict { .. }) => Ok(()),
        Ok(()) => fail(check, "the commit was applied; expected StoreError::Conflict"),
        Err(error) => fail(check, format!("expected StoreError::Conflict, got {error}")),
    }
}

/// Checks `store` against the commit contract of
/// [`ProtocolStore::commit`]: compare-and-swap on the generation (and
/// `None` for "no record"), conditional first-use identities, consumed
/// one-time prekeys and one-time KEM prekeys that must exist, last-resort
/// KEM prekey uses recorded once and forgotten with their prekey,
/// all-or-nothing batches, and, with
/// `threads` > 1, that concurrent compare-and-swaps from that many threads
/// never both succeed from one generation.
///
/// It writes sessions and identities for the addresses of account
/// [`CHECK_ACCOUNT`] (devices 0 to 7), the one-time prekeys
/// [`CHECK_PREKEY_IDS`] and the KEM prekeys [`CHECK_KEM_PREKEY_IDS`], which
/// must not exist: run it on an empty test instance of the store, never on
/// a user's.
///
/// # Errors
/// A [`ConformanceError`] naming the first check that failed.
pub fn check<S: ProtocolStore + ?Sized>(store: &S, threads: usize) -> Result<(), ConformanceError> {
    let mut rng = os_rng();
    let (first, second) = (
        IdentityKeyPair::generate(&mut rng).public(),
        IdentityKeyPair::generate(&mut rng).public(),
    );
    for device in 0..8 {
        if generation(store, device, "an empty store")?.is_some() {
            return fail("an empty store", format!("{} already has a session", address(device)));
        }
    }
    compare_and_swap(store)?;
    identities(store, first, second)?;
    prekeys(store)?;
    kem_prekeys(store)?;
    batches(store)?;
    if threads > 1 {
        concurrent(store, threads)?;
    }
    Ok(())
}

fn compare_and_swap<S: ProtocolStore + ?Sized>(store: &S) -> Result<(), ConformanceError> {
    const CHECK: &str = "compare-and-swap on the generation";
    store.commit(&[commit(0, None, 1)]).map_err(store_error(CHECK))?;
    if generation(store, 0, CHECK)? != Some(1) {
        return fail(CHECK, "a committed record does not load with its generation");
    }
    expect_conflict(CHECK, store.commit(&[commit(0, None, 7)]))?;
    expect_conflict(CHECK, store.commit(&[commit(0, Some(5), 6)]))?;
    if generation(store, 0, CHECK)? != Some(1) {
        return fail(CHECK, "a refused commit changed the record");
    }
    store.commit(&[commit(0, Some(1), 2)]).map_err(store_error(CHECK))?;
    expect_conflict(CHECK, store.commit(&[commit(0, Some(1), 3)]))?;
    match generation(store, 0, CHECK)? {
        Some(2) => Ok(()),
        other => fail(CHECK, format!("expected generation 2, found {other:?}")),
    }
}

fn identities<S: ProtocolStore + ?Sized>(
    store: &S,
    first: IdentityKey,
    second: IdentityKey,
) -> Result<(), ConformanceError> {
    const CHECK: &str = "first-use identities";
    let peer = |key| PeerIdentity { key, verified: false };
    let with = |expected, new, write| {
        let mut commit = commit(1, expected, new);
        commit.peer_identity = Some(write);
        commit
    };
    store
        .commit(&[with(None, 1, PeerIdentityWrite::FirstUse(peer(first)))])
        .map_err(store_error(CHECK))?;
    let recorded = store.peer_identity(&address(1)).map_err(store_error(CHECK))?;
    if recorded.map(|identity| identity.key) != Some(first) {
        return fail(CHECK, "a first-use identity was not recorded");
    }
    expect_conflict(
        CHECK,
        store.commit(&[with(Some(1), 2, PeerIdentityWrite::FirstUse(peer(second)))]),
    )?;
    if generation(store, 1, CHECK)? != Some(1) {
        return fail(CHECK, "a commit refused for its identity changed the session");
    }
    store
        .commit(&[with(Some(1), 2, PeerIdentityWrite::FirstUse(peer(first)))])
        .map_err(store_error(CHECK))?;
    let verified = PeerIdentity { key: second, verified: true };
    store
        .commit(&[with(Some(2), 3, PeerIdentityWrite::Replace(verified))])
        .map_err(store_error(CHECK))?;
    match store.peer_identity(&address(1)).map_err(store_error(CHECK))? {
        Some(recorded) if recorded == verified => Ok(()),
        other => fail(CHECK, format!("a replaced identity reads back as {other:?}")),
    }
}

fn prekeys<S: ProtocolStore + ?Sized>(store: &S) -> Result<(), ConformanceError> {
    const CHECK: &str = "consumed one-time prekeys";
    let [present, absent] = CHECK_PREKEY_IDS.map(OneTimePreKeyId::from);
    store
        .save_one_time_prekey(&OneTimePreKey::generate(present, &mut os_rng()))
        .map_err(store_error(CHECK))?;
    let consuming = |id| {
        let mut commit = commit(2, None, 1);
        commit.consumed_one_time_prekeys = vec![id];
        commit
    };
    expect_conflict(CHECK, store.commit(&[consuming(absent)]))?;
    if generation(store, 2, CHECK)?.is_some() {
        return fail(CHECK, "a commit refused for its prekey stored the session");
    }
    store.commit(&[consuming(present)]).map_err(store_error(CHECK))?;
    if store.one_time_prekey(present).map_err(store_error(CHECK))?.is_some() {
        return fail(CHECK, "a consumed one-time prekey was not removed");
    }
    expect_conflict(
        CHECK,
        store.commit(&[{
            let mut again = consuming(present);
            again.expected_generation = Some(1);
            again.session = record(2);
            again
        }]),
    )
}

fn kem_prekeys<S: ProtocolStore + ?Sized>(store: &S) -> Result<(), ConformanceError> {
    const CHECK: &str = "KEM prekeys";
    let [one_time, last_resort, absent] = CHECK_KEM_PREKEY_IDS.map(KemPreKeyId::from);
    let mut rng = os_rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    for (id, kind) in [(one_time, KemPreKeyKind::OneTime), (last_resort, KemPreKeyKind::LastResort)]
    {
        let prekey = KemPreKey::generate(id, kind, &identity, &mut rng);
        store.save_kem_prekey(&prekey).map_err(store_error(CHECK))?;
        match store.kem_prekey(id).map_err(store_error(CHECK))? {
            Some(loaded) if loaded.public() == prekey.public() && loaded.kind() == kind => {}
            _ => return fail(CHECK, format!("KEM prekey {id} does not load as saved")),
        }
    }

    // One-time: consumed once, by a commit that finds it.
    let consuming = |id, expected: Option<u64>| {
        let new = expected.map_or(1, |generation| generation + 1);
        commit(5, expected, new).consuming_kem(id)
    };
    expect_conflict(CHECK, store.commit(&[consuming(absent, None)]))?;
    if generation(store, 5, CHECK)?.is_some() {
        return fail(CHECK, "a commit refused for its KEM prekey stored the session");
    }
    store.commit(&[consuming(one_time, None)]).map_err(store_error(CHECK))?;
    if store.kem_prekey(one_time).map_err(store_error(CHECK))?.is_some() {
        return fail(CHECK, "a consumed one-time KEM prekey was not removed");
    }
    expect_conflict(CHECK, store.commit(&[consuming(one_time, Some(1))]))?;

    // Last-resort: each use recorded once, while the prekey is stored.
    let base_key = DhKeyPair::generate(&mut rng).public();
    let used = LastResortUse { kem_prekey: last_resort, base_key };
    let recording = |used, expected: Option<u64>, new| commit(6, expected, new).recording(used);
    let recorded = || store.last_resort_use_recorded(last_resort, &base_key);
    if recorded().map_err(store_error(CHECK))? {
        return fail(CHECK, "a use is recorded before any commit recorded it");
    }
    expect_conflict(
        CHECK,
        store.commit(&[recording(LastResortUse { kem_prekey: absent, base_key }, None, 1)]),
    )?;
    store.commit(&[recording(used, None, 1)]).map_err(store_error(CHECK))?;
    if !recorded().map_err(store_error(CHECK))? {
        return fail(CHECK, "a committed last-resort use is not recorded");
    }
    if store.kem_prekey(last_resort).map_err(store_error(CHECK))?.is_none() {
        return fail(CHECK, "a commit recording a last-resort use removed the prekey");
    }
    expect_conflict(CHECK, store.commit(&[recording(used, Some(1), 2)]))?;
    if generation(store, 6, CHECK)? != Some(1) {
        return fail(CHECK, "a commit refused for a recorded use stored the session");
    }
    // Two commits of one batch recording the same use conflict, as they
    // would one after the other.
    let other =
        LastResortUse { kem_prekey: last_resort, base_key: DhKeyPair::generate(&mut rng).public() };
    expect_conflict(
        CHECK,
        store.commit(&[recording(other, Some(1), 2), commit(7, None, 1).recording(other)]),
    )?;
    store.remove_kem_prekey(last_resort).map_err(store_error(CHECK))?;
    if recorded().map_err(store_error(CHECK))? {
        return fail(CHECK, "removing a KEM prekey did not forget its recorded uses");
    }
    // With the prekey gone, the use cannot be recorded again.
    expect_conflict(CHECK, store.commit(&[recording(used, Some(1), 2)]))
}

fn batches<S: ProtocolStore + ?Sized>(store: &S) -> Result<(), ConformanceError> {
    const CHECK: &str = "all-or-nothing batches";
    expect_conflict(CHECK, store.commit(&[commit(3, None, 1), commit(0, Some(1), 3)]))?;
    if generation(store, 3, CHECK)?.is_some() {
        return fail(CHECK, "a refused batch stored its first commit");
    }
    store.commit(&[commit(3, None, 1), commit(0, Some(2), 3)]).map_err(store_error(CHECK))?;
    if generation(store, 3, CHECK)? != Some(1) || generation(store, 0, CHECK)? != Some(3) {
        return fail(CHECK, "a batch was not applied whole");
    }
    Ok(())
}

/// `threads` threads each make [`CONCURRENT_ATTEMPTS`] load-then-commit
/// increments of one record: every success must come from a distinct
/// generation, so the final generation counts the successes.
fn concurrent<S: ProtocolStore + ?Sized>(
    store: &S,
    threads: usize,
) -> Result<(), ConformanceError> {
    const CHECK: &str = "concurrent compare-and-swaps";
    store.commit(&[commit(4, None, 1)]).map_err(store_error(CHECK))?;
    let successes = AtomicU64::new(0);
    let failure = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..CONCURRENT_ATTEMPTS {
                    let outcome = generation(store, 4, CHECK).and_then(|found| {
                        let found = found.ok_or(ConformanceError {
                            check: CHECK,
                            detail: "the record disappeared".into(),
                        })?;
                        match store.commit(&[commit(4, Some(found), found + 1)]) {
                            Ok(()) => {
                                successes.fetch_add(1, Ordering::SeqCst);
                                Ok(())
                            }
                            Err(StoreError::Conflict { .. }) => Ok(()),
                            Err(error) => Err(store_error(CHECK)(error)),
                        }
                    });
                    if let Err(error) = outcome {
                        *failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some(error);
                        return;
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        return Err(error);
    }
    let successes = successes.load(Ordering::SeqCst);
    match generation(store, 4, CHECK)? {
        Some(found) if found == 1 + successes => Ok(()),
        other => fail(
            CHECK,
            format!(
                "{successes} commits succeeded but the generation went from 1 to {other:?}: \
                 two of them were applied from the same generation"
            ),
        ),
    }
}
