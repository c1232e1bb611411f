//! The commit contract's checker (`store::conformance`) passes the SDK's
//! stores and the tests' byte store, and fails stores that break the
//! contract in each of the ways it names.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "tests: a failure is the test failing"
)]

mod common;

use std::collections::HashSet;
use std::sync::Mutex;

use common::{ByteStore, identity};
use sotto::keys::{
    DhPublicKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    SignedPreKey, SignedPreKeyId,
};
use sotto::session::{Address, SessionRecord};
use sotto::store::conformance::{self, ConformanceError};
use sotto::store::{
    IdentityStore, InMemoryStore, KemPreKeyStore, LastResortUse, OneTimePreKeyStore, PeerIdentity,
    ProtocolStore, SessionStore, SignedPreKeyStore, SqliteStore, StorageKey, StoreCommit,
    StoreError,
};

#[test]
fn the_sdk_stores_keep_the_contract() {
    conformance::check(&InMemoryStore::new(identity(1)), 4).unwrap();
    conformance::check(&ByteStore::new(identity(2)), 1).unwrap();
    let path =
        std::env::temp_dir().join(format!("sotto-conformance-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let store =
        SqliteStore::create(&path, &StorageKey::from_bytes(&[3; 32]), &identity(3)).unwrap();
    conformance::check(&store, 4).unwrap();
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// How a broken store breaks the contract.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// Writes whatever generation was stored.
    IgnoresGenerations,
    /// Records a first-use identity over another one.
    OverwritesIdentities,
    /// Consumes one-time prekeys that are gone.
    IgnoresPrekeys,
    /// Consumes one-time KEM prekeys that are gone.
    IgnoresKemPreKeys,
    /// Records a last-resort use again (a replayed first message).
    RecordsUsesTwice,
    /// Applies the commits of a batch one by one, keeping those before a
    /// conflict.
    AppliesHalfBatches,
    /// Checks and writes without holding its lock in between.
    Races,
}

/// An in-memory store with one [`Flaw`].
struct Broken {
    inner: InMemoryStore,
    flaw: Flaw,
    sessions: Mutex<std::collections::HashMap<Address, u64>>,
    peers: Mutex<std::collections::HashMap<Address, PeerIdentity>>,
    uses: Mutex<HashSet<LastResortUse>>,
}

impl Broken {
    fn new(flaw: Flaw) -> Self {
        Self {
            inner: InMemoryStore::new(identity(9)),
            flaw,
            sessions: Mutex::default(),
            peers: Mutex::default(),
            uses: Mutex::default(),
        }
    }
}

impl IdentityStore for Broken {
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError> {
        self.inner.local_identity()
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        Ok(self.peers.lock().unwrap().get(address).copied())
    }
}

impl SignedPreKeyStore for Broken {
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, StoreError> {
        self.inner.signed_prekey(id)
    }

    fn save_signed_prekey(&self, prekey: &SignedPreKey) -> Result<(), StoreError> {
        self.inner.save_signed_prekey(prekey)
    }

    fn remove_signed_prekey(&self, id: SignedPreKeyId) -> Result<(), StoreError> {
        self.inner.remove_signed_prekey(id)
    }
}

impl OneTimePreKeyStore for Broken {
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, StoreError> {
        self.inner.one_time_prekey(id)
    }

    fn save_one_time_prekey(&self, prekey: &OneTimePreKey) -> Result<(), StoreError> {
        self.inner.save_one_time_prekey(prekey)
    }

    fn remove_one_time_prekey(&self, id: OneTimePreKeyId) -> Result<(), StoreError> {
        self.inner.remove_one_time_prekey(id)
    }
}

impl KemPreKeyStore for Broken {
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, StoreError> {
        self.inner.kem_prekey(id)
    }

    fn save_kem_prekey(&self, prekey: &KemPreKey) -> Result<(), StoreError> {
        self.inner.save_kem_prekey(prekey)
    }

    fn remove_kem_prekey(&self, id: KemPreKeyId) -> Result<(), StoreError> {
        self.uses.lock().unwrap().retain(|used| used.kem_prekey != id);
        self.inner.remove_kem_prekey(id)
    }

    fn last_resort_use_recorded(
        &self,
        id: KemPreKeyId,
        base_key: &DhPublicKey,
    ) -> Result<bool, StoreError> {
        let used = LastResortUse { kem_prekey: id, base_key: *base_key };
        Ok(self.uses.lock().unwrap().contains(&used))
    }
}

impl SessionStore for Broken {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        // The checker's records are empty: only their generation matters.
        // A record's generation can only be set through its bytes.
        let generation = self.sessions.lock().unwrap().get(address).copied();
        Ok(generation
            .map(|generation| SessionRecord::from_bytes(&encode_empty_record(generation)).unwrap()))
    }
}

/// `storage.proto` `SessionRecord { version: 1, generation }`.
fn encode_empty_record(generation: u64) -> Vec<u8> {
    let mut bytes = vec![0x08, 0x01, 0x20];
    let mut value = generation;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes
}

impl ProtocolStore for Broken {
    fn commit(&self, commits: &[StoreCommit]) -> Result<(), StoreError> {
        let check = |commit: &StoreCommit| -> Result<(), StoreError> {
            let conflict = || StoreError::Conflict { address: commit.address.clone() };
            let stored = self.sessions.lock().unwrap().get(&commit.address).copied();
            if self.flaw != Flaw::IgnoresGenerations && stored != commit.expected_generation {
                return Err(conflict());
            }
            if let Some(sotto::store::PeerIdentityWrite::FirstUse(identity)) = commit.peer_identity
                && self.flaw != Flaw::OverwritesIdentities
                && self
                    .peers
                    .lock()
                    .unwrap()
                    .get(&commit.address)
                    .is_some_and(|p| p.key != identity.key)
            {
                return Err(conflict());
            }
            for id in &commit.consumed_one_time_prekeys {
                if self.flaw != Flaw::IgnoresPrekeys && self.inner.one_time_prekey(*id)?.is_none() {
                    return Err(conflict());
                }
            }
            for id in &commit.consumed_kem_prekeys {
                if self.flaw != Flaw::IgnoresKemPreKeys && self.inner.kem_prekey(*id)?.is_none() {
                    return Err(conflict());
                }
            }
            for used in &commit.last_resort_uses {
                let recorded = self.uses.lock().unwrap().contains(used);
                if self.inner.kem_prekey(used.kem_prekey)?.is_none()
                    || (recorded && self.flaw != Flaw::RecordsUsesTwice)
                {
                    return Err(conflict());
                }
            }
            Ok(())
        };
        let apply = |commit: &StoreCommit| -> Result<(), StoreError> {
            if let Some(write) = commit.peer_identity {
                self.peers.lock().unwrap().insert(commit.address.clone(), *write.identity());
            }
            self.sessions
                .lock()
                .unwrap()
                .insert(commit.address.clone(), commit.session.generation());
            for id in &commit.consumed_one_time_prekeys {
                self.inner.remove_one_time_prekey(*id)?;
            }
            for id in &commit.consumed_kem_prekeys {
                self.inner.remove_kem_prekey(*id)?;
            }
            self.uses.lock().unwrap().extend(commit.last_resort_uses.iter().copied());
            Ok(())
        };
        if self.flaw == Flaw::AppliesHalfBatches {
            for commit in commits {
                check(commit)?;
                apply(commit)?;
            }
            return Ok(());
        }
        // Every other flaw checks everything first; `Races` lets other
        // threads in between the check and the write.
        let guard = (self.flaw != Flaw::Races).then(|| LOCK.lock().unwrap());
        let mut batch_uses = HashSet::new();
        for commit in commits {
            check(commit)?;
            let twice = !commit.last_resort_uses.iter().all(|used| batch_uses.insert(*used));
            if twice && self.flaw != Flaw::RecordsUsesTwice {
                return Err(StoreError::Conflict { address: commit.address.clone() });
            }
        }
        if self.flaw == Flaw::Races {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        commits.iter().try_for_each(apply)?;
        drop(guard);
        Ok(())
    }
}

static LOCK: Mutex<()> = Mutex::new(());

#[test]
fn stores_that_break_the_contract_fail_the_check() {
    for (flaw, check) in [
        (Flaw::IgnoresGenerations, "compare-and-swap on the generation"),
        (Flaw::OverwritesIdentities, "first-use identities"),
        (Flaw::IgnoresPrekeys, "consumed one-time prekeys"),
        (Flaw::IgnoresKemPreKeys, "KEM prekeys"),
        (Flaw::RecordsUsesTwice, "KEM prekeys"),
        (Flaw::AppliesHalfBatches, "all-or-nothing batches"),
        (Flaw::Races, "concurrent compare-and-swaps"),
    ] {
        let failure: ConformanceError = conformance::check(&Broken::new(flaw), 8).unwrap_err();
        assert_eq!(failure.check, check, "{}", failure.detail);
    }
}
