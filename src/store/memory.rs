//! A store in memory, for tests, examples and apps that persist nothing.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{
    IdentityStore, OneTimePreKeyStore, PeerIdentity, ProtocolStore, SessionStore,
    SignedPreKeyStore, StoreError,
};
use crate::keys::{IdentityKeyPair, OneTimePreKey, OneTimePreKeyId, SignedPreKey, SignedPreKeyId};
use crate::session::{Address, SessionRecord};

/// Every store trait, in memory. Sessions are kept encoded, as a database
/// would keep them, so that each load is a fresh copy.
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
#[derive(Debug)]
pub struct InMemoryStore {
    identity: IdentityKeyPair,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    peers: HashMap<Address, PeerIdentity>,
    signed_prekeys: HashMap<SignedPreKeyId, SignedPreKey>,
    one_time_prekeys: HashMap<OneTimePreKeyId, OneTimePreKey>,
    sessions: HashMap<Address, zeroize::Zeroizing<Vec<u8>>>,
}

impl InMemoryStore {
    /// An empty store for the device with `identity`.
    pub fn new(identity: IdentityKeyPair) -> Self {
        Self { identity, state: Mutex::new(State::default()) }
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
}

impl IdentityStore for InMemoryStore {
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError> {
        Ok(Some(self.identity.clone()))
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        Ok(self.state().peers.get(address).copied())
    }

    fn save_peer_identity(
        &self,
        address: &Address,
        identity: &PeerIdentity,
    ) -> Result<(), StoreError> {
        self.state().peers.insert(address.clone(), *identity);
        Ok(())
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

impl SessionStore for InMemoryStore {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        let encoded = self.state().sessions.get(address).cloned();
        Ok(encoded.map(|bytes| SessionRecord::from_bytes(&bytes)).transpose()?)
    }

    fn store_session(&self, address: &Address, record: &SessionRecord) -> Result<(), StoreError> {
        let encoded = record.to_bytes();
        self.state().sessions.insert(address.clone(), encoded);
        Ok(())
    }
}

impl ProtocolStore for InMemoryStore {}
