//! A store in memory, for tests, examples and apps that persist nothing.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{
    IdentityStore, KemPreKeyStore, LastResortUse, OneTimePreKeyStore, PeerIdentity,
    PeerIdentityWrite, ProtocolStore, SessionStore, SignedPreKeyStore, StoreCommit, StoreError,
    WriteTransaction,
};
use crate::keys::{
    DhPublicKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    SignedPreKey, SignedPreKeyId,
};
use crate::locks::{AddressGuard, AddressLocks, Reentrant};
use crate::session::{Address, SessionRecord};

/// Every store trait, in memory, under one lock: a commit is a
/// compare-and-swap under that lock. Each load returns a fresh copy of the
/// stored record, as a database would. Its
/// [write transactions](ProtocolStore::begin_write) make the writers of one
/// address take turns, so that one store shared by several managers (an
/// `Arc<InMemoryStore>`) serves them all, not only the busiest.
///
/// ```
/// use sotto::keys::IdentityKeyPair;
/// use sotto::store::{IdentityStore, InMemoryStore};
///
/// let identity = IdentityKeyPair::generate(&mut sotto::rng::os_rng());
/// let store = InMemoryStore::new(identity.clone());
/// assert_eq!(store.local_identity()?.map(|pair| pair.public()), Some(identity.public()));
/// # Ok::<(), sotto::store::StoreError>(())
/// ```
pub struct InMemoryStore {
    identity: IdentityKeyPair,
    state: Mutex<State>,
    /// The addresses a write transaction holds.
    writers: AddressLocks,
}

#[derive(Default)]
struct State {
    peers: HashMap<Address, PeerIdentity>,
    signed_prekeys: HashMap<SignedPreKeyId, SignedPreKey>,
    one_time_prekeys: HashMap<OneTimePreKeyId, OneTimePreKey>,
    kem_prekeys: HashMap<KemPreKeyId, KemPreKey>,
    last_resort_uses: HashSet<LastResortUse>,
    sessions: HashMap<Address, SessionRecord>,
}

impl InMemoryStore {
    /// An empty store for the device with `identity`.
    pub fn new(identity: IdentityKeyPair) -> Self {
        Self { identity, state: Mutex::new(State::default()), writers: AddressLocks::default() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No method panics while holding the lock, so poisoning would come
        // only from an allocation failure; the maps stay consistent anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many one-time prekeys are left.
    pub fn one_time_prekey_count(&self) -> usize {
        self.state().one_time_prekeys.len()
    }

    /// How many KEM prekeys (one-time and last-resort) are stored.
    pub fn kem_prekey_count(&self) -> usize {
        self.state().kem_prekeys.len()
    }
}

impl State {
    /// Whether `commit` may apply to the current state.
    fn admits(&self, commit: &StoreCommit) -> bool {
        let stored = self.sessions.get(&commit.address).map(SessionRecord::generation);
        let identity_ok = match commit.peer_identity {
            Some(PeerIdentityWrite::FirstUse(identity)) => {
                self.peers.get(&commit.address).is_none_or(|recorded| recorded.key == identity.key)
            }
            _ => true,
        };
        let prekeys_ok = commit
            .consumed_one_time_prekeys
            .iter()
            .all(|id| self.one_time_prekeys.contains_key(id));
        let kem_prekeys_ok =
            commit.consumed_kem_prekeys.iter().all(|id| self.kem_prekeys.contains_key(id));
        let uses_ok = commit.last_resort_uses.iter().all(|used| {
            self.kem_prekeys.contains_key(&used.kem_prekey) && !self.last_resort_uses.contains(used)
        });
        stored == commit.expected_generation
            && identity_ok
            && prekeys_ok
            && kem_prekeys_ok
            && uses_ok
    }

    fn apply(&mut self, commit: &StoreCommit) {
        match commit.peer_identity {
            Some(PeerIdentityWrite::FirstUse(identity)) => {
                if let Entry::Vacant(entry) = self.peers.entry(commit.address.clone()) {
                    entry.insert(identity);
                }
            }
            Some(PeerIdentityWrite::Replace(identity)) => {
                self.peers.insert(commit.address.clone(), identity);
            }
            None => {}
        }
        // Over the stored record when there is one: no new key to allocate.
        match self.sessions.get_mut(&commit.address) {
            Some(stored) => *stored = commit.session.stored_copy(),
            None => {
                self.sessions.insert(commit.address.clone(), commit.session.stored_copy());
            }
        }
        for id in &commit.consumed_one_time_prekeys {
            self.one_time_prekeys.remove(id);
        }
        for id in &commit.consumed_kem_prekeys {
            self.kem_prekeys.remove(id);
        }
        self.last_resort_uses.extend(commit.last_resort_uses.iter().copied());
    }
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: the records hold secrets.
        let state = self.state();
        f.debug_struct("InMemoryStore")
            .field("identity", &self.identity.public())
            .field("peers", &state.peers.len())
            .field("signed_prekeys", &state.signed_prekeys.len())
            .field("one_time_prekeys", &state.one_time_prekeys.len())
            .field("kem_prekeys", &state.kem_prekeys.len())
            .field("sessions", &state.sessions.len())
            .finish()
    }
}

impl IdentityStore for InMemoryStore {
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError> {
        Ok(Some(self.identity.clone()))
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        Ok(self.state().peers.get(address).copied())
    }
}

impl SignedPreKeyStore for InMemoryStore {
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, StoreError> {
        Ok(self.state().signed_prekeys.get(&id).cloned())
    }

    fn save_signed_prekey(&self, prekey: &SignedPreKey) -> Result<(), StoreError> {
        self.state().signed_prekeys.insert(prekey.id(), prekey.clone());
        Ok(())
    }

    fn remove_signed_prekey(&self, id: SignedPreKeyId) -> Result<(), StoreError> {
        self.state().signed_prekeys.remove(&id);
        Ok(())
    }
}

impl OneTimePreKeyStore for InMemoryStore {
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, StoreError> {
        Ok(self.state().one_time_prekeys.get(&id).cloned())
    }

    fn save_one_time_prekey(&self, prekey: &OneTimePreKey) -> Result<(), StoreError> {
        self.state().one_time_prekeys.insert(prekey.id(), prekey.clone());
        Ok(())
    }

    fn remove_one_time_prekey(&self, id: OneTimePreKeyId) -> Result<(), StoreError> {
        self.state().one_time_prekeys.remove(&id);
        Ok(())
    }
}

impl KemPreKeyStore for InMemoryStore {
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, StoreError> {
        Ok(self.state().kem_prekeys.get(&id).cloned())
    }

    fn save_kem_prekey(&self, prekey: &KemPreKey) -> Result<(), StoreError> {
        self.state().kem_prekeys.insert(prekey.id(), prekey.clone());
        Ok(())
    }

    fn remove_kem_prekey(&self, id: KemPreKeyId) -> Result<(), StoreError> {
        let mut state = self.state();
        state.kem_prekeys.remove(&id);
        state.last_resort_uses.retain(|used| used.kem_prekey != id);
        Ok(())
    }

    fn last_resort_use_recorded(
        &self,
        id: KemPreKeyId,
        base_key: &DhPublicKey,
    ) -> Result<bool, StoreError> {
        let used = LastResortUse { kem_prekey: id, base_key: *base_key };
        Ok(self.state().last_resort_uses.contains(&used))
    }
}

impl SessionStore for InMemoryStore {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.state().sessions.get(address).map(SessionRecord::stored_copy))
    }
}

impl ProtocolStore for InMemoryStore {
    /// Checks every commit, then applies them all, under the store's lock.
    /// Two commits of one batch that consume the same prekey, or record the
    /// same last-resort use, conflict as they would one after the other.
    fn commit(&self, commits: &[StoreCommit]) -> Result<(), StoreError> {
        let mut state = self.state();
        if let Some(refused) = commits.iter().find(|commit| !state.admits(commit)) {
            return Err(StoreError::Conflict { address: refused.address.clone() });
        }
        let (mut one_time, mut kem, mut uses) = (HashSet::new(), HashSet::new(), HashSet::new());
        for commit in commits {
            let twice = !commit.consumed_one_time_prekeys.iter().all(|id| one_time.insert(*id))
                || !commit.consumed_kem_prekeys.iter().all(|id| kem.insert(*id))
                || !commit.last_resort_uses.iter().all(|used| uses.insert(*used));
            if twice {
                return Err(StoreError::Conflict { address: commit.address.clone() });
            }
        }
        for commit in commits {
            state.apply(commit);
        }
        Ok(())
    }

    /// A transaction that holds the first address it reads until it ends:
    /// another transaction reading that address waits for it.
    fn begin_write(&self) -> Result<Option<Box<dyn WriteTransaction + '_>>, StoreError> {
        Ok(Some(Box::new(Transaction { store: self, held: None })))
    }
}

/// A write transaction of [`InMemoryStore`]. Its commit is the store's
/// compare-and-swap as ever; holding the address only makes other writers
/// of it wait their turn rather than race the commit and retry.
struct Transaction<'a> {
    store: &'a InMemoryStore,
    held: Option<AddressGuard<'a>>,
}

impl Transaction<'_> {
    fn hold(&mut self, address: &Address) -> Result<(), StoreError> {
        if self.held.is_none() {
            let guard = self.store.writers.lock(address).map_err(|Reentrant| {
                StoreError::backend("this thread has a write transaction on the address already")
            })?;
            self.held = Some(guard);
        }
        Ok(())
    }
}

impl WriteTransaction for Transaction<'_> {
    fn load_session(&mut self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        self.hold(address)?;
        self.store.load_session(address)
    }

    fn peer_identity(&mut self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        self.hold(address)?;
        self.store.peer_identity(address)
    }

    fn commit(self: Box<Self>, commits: &[StoreCommit]) -> Result<(), StoreError> {
        self.store.commit(commits)
    }
}
