//! What the unit tests of the exported objects share: two devices with a
//! session, and a foreign store written in Rust.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{
    Address, IdentityKeyPair, InMemoryStore, LastResortUse, PendingWrites, PreKeyBundle,
    ProtocolStore, SessionManager, StoreError,
};

pub(crate) fn address(account: &str) -> Address {
    Address { account: account.into(), device: 1 }
}

pub(crate) fn in_memory(account: &str) -> Arc<SessionManager> {
    let store = InMemoryStore::new(IdentityKeyPair::generate());
    SessionManager::with_in_memory_store(address(account), store).unwrap()
}

/// `bob`'s post-quantum bundle, as a server hands it out: signed prekey 1,
/// one-time KEM prekey `kem_id` (made now), and one-time prekey 100.
pub(crate) fn bundle(bob: &SessionManager, kem_id: u32) -> Vec<u8> {
    let signed = bob.generate_signed_prekey(1).unwrap();
    let kem = bob.generate_kem_prekeys(kem_id, 1).unwrap().remove(0);
    let one_time = bob.generate_one_time_prekeys(100, 1).unwrap().pop();
    PreKeyBundle::new(bob.identity_key().unwrap(), signed, kem, one_time).unwrap().to_bytes()
}

/// Alice starts a session from Bob's bundle, and Bob answers.
pub(crate) fn connect(alice: &SessionManager, bob: &SessionManager) {
    alice.process_bundle(bob.address(), bundle(bob, 200)).unwrap();
    let first = alice.encrypt(bob.address(), b"hello Bob".to_vec()).unwrap();
    assert_eq!(bob.decrypt_and_commit(alice.address(), first).unwrap(), b"hello Bob");
    let reply = bob.encrypt(alice.address(), b"hello Alice".to_vec()).unwrap();
    assert_eq!(alice.decrypt_and_commit(bob.address(), reply).unwrap(), b"hello Alice");
}

/// Sends `plaintext` from `from` to `to` through their session.
pub(crate) fn send(from: &SessionManager, to: &SessionManager, plaintext: Vec<u8>) -> Vec<u8> {
    let message = from.encrypt(to.address(), plaintext).unwrap();
    to.decrypt_and_commit(from.address(), message).unwrap()
}

/// How a [`MapStore`] breaks the commit contract, if it does.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// It keeps the contract.
    #[default]
    Nothing,
    /// It ignores `expected_generation`: a broken compare-and-swap.
    Generation,
    /// It records a last-resort use again, or for a prekey it lacks.
    LastResortUses,
}

/// A foreign store written in Rust: what an app writes in its language.
#[derive(Default)]
pub(crate) struct MapStore {
    identity: Vec<u8>,
    broken: Broken,
    state: Mutex<MapState>,
}

/// What a [`MapStore`] holds, as opaque records.
#[derive(Default)]
pub(crate) struct MapState {
    pub(crate) peers: HashMap<Address, Vec<u8>>,
    pub(crate) signed: HashMap<u32, Vec<u8>>,
    pub(crate) one_time: HashMap<u32, Vec<u8>>,
    pub(crate) kem: HashMap<u32, Vec<u8>>,
    pub(crate) last_resort_uses: HashSet<LastResortUse>,
    pub(crate) sessions: HashMap<Address, (u64, Vec<u8>)>,
    /// Every batch committed, in order.
    pub(crate) committed: Vec<Vec<PendingWrites>>,
}

impl MapStore {
    pub(crate) fn new(broken: Broken) -> Arc<Self> {
        let identity = sotto::keys::IdentityKeyPair::generate(&mut sotto::rng::os_rng());
        Arc::new(Self {
            identity: identity.to_record_bytes().to_vec(),
            broken,
            state: Mutex::default(),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, MapState> {
        self.state.lock().unwrap()
    }
}

impl MapState {
    /// Whether every write of the batch passes the checks of the commit
    /// contract, none consuming what another consumes.
    fn admits(&self, writes: &[PendingWrites], broken: Broken) -> bool {
        let (mut one_time, mut kem, mut uses) = (HashSet::new(), HashSet::new(), HashSet::new());
        writes.iter().all(|write| {
            let stored = self.sessions.get(&write.address).map(|(generation, _)| *generation);
            let generation_ok = broken == Broken::Generation || stored == write.expected_generation;
            let identity_ok = !write.peer_identity_first_use
                || self
                    .peers
                    .get(&write.address)
                    .is_none_or(|recorded| Some(recorded) == write.peer_identity.as_ref());
            let one_time_ok = write
                .consumed_one_time_prekeys
                .iter()
                .all(|id| self.one_time.contains_key(id) && one_time.insert(*id));
            let kem_ok = write
                .consumed_kem_prekeys
                .iter()
                .all(|id| self.kem.contains_key(id) && kem.insert(*id));
            let uses_ok = broken == Broken::LastResortUses
                || write.last_resort_uses.iter().all(|used| {
                    self.kem.contains_key(&used.kem_prekey)
                        && !self.last_resort_uses.contains(used)
                        && uses.insert(used.clone())
                });
            generation_ok && identity_ok && one_time_ok && kem_ok && uses_ok
        })
    }
}

impl ProtocolStore for MapStore {
    fn local_identity(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(Some(self.identity.clone()))
    }

    fn peer_identity(&self, address: Address) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().peers.get(&address).cloned())
    }

    fn signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().signed.get(&id).cloned())
    }

    fn save_signed_prekey(&self, id: u32, record: Vec<u8>) -> Result<(), StoreError> {
        self.state().signed.insert(id, record);
        Ok(())
    }

    fn remove_signed_prekey(&self, id: u32) -> Result<(), StoreError> {
        self.state().signed.remove(&id);
        Ok(())
    }

    fn one_time_prekey(&self, id: u32) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().one_time.get(&id).cloned())
    }

    fn save_one_time_prekey(&self, id: u32, record: Vec<u8>) -> Result<(), StoreError> {
        self.state().one_time.insert(id, record);
        Ok(())
    }

    fn remove_one_time_prekey(&self, id: u32) -> Result<(), StoreError> {
        self.state().one_time.remove(&id);
        Ok(())
    }

    fn kem_prekey(&self, id: u32) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().kem.get(&id).cloned())
    }

    fn save_kem_prekey(&self, id: u32, record: Vec<u8>) -> Result<(), StoreError> {
        self.state().kem.insert(id, record);
        Ok(())
    }

    fn remove_kem_prekey(&self, id: u32) -> Result<(), StoreError> {
        let mut state = self.state();
        state.kem.remove(&id);
        state.last_resort_uses.retain(|used| used.kem_prekey != id);
        Ok(())
    }

    fn last_resort_use_recorded(&self, id: u32, base_key: Vec<u8>) -> Result<bool, StoreError> {
        let used = LastResortUse { kem_prekey: id, base_key };
        Ok(self.state().last_resort_uses.contains(&used))
    }

    fn load_session(&self, address: Address) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().sessions.get(&address).map(|(_, record)| record.clone()))
    }

    fn commit(&self, writes: Vec<PendingWrites>) -> Result<(), StoreError> {
        let mut state = self.state();
        if !state.admits(&writes, self.broken) {
            return Err(StoreError::Conflict);
        }
        for write in writes.iter().cloned() {
            if let Some(identity) = write.peer_identity
                && (!write.peer_identity_first_use || !state.peers.contains_key(&write.address))
            {
                state.peers.insert(write.address.clone(), identity);
            }
            state.sessions.insert(write.address, (write.generation, write.session));
            for id in write.consumed_one_time_prekeys {
                state.one_time.remove(&id);
            }
            for id in write.consumed_kem_prekeys {
                state.kem.remove(&id);
            }
            state.last_resort_uses.extend(write.last_resort_uses);
        }
        state.committed.push(writes);
        Ok(())
    }
}
