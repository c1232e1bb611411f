//! Helpers shared by the integration tests: deterministic managers, bundles,
//! a mirror of `wire.proto` to inspect and tamper with envelopes, store
//! snapshots, and a store whose session bytes a test can corrupt.

#![allow(dead_code, unreachable_pub, reason = "each test crate uses a subset of the helpers")]

pub mod vectors;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use chacha20::ChaCha20Rng;
use prost::Message as _;
use rand_core::SeedableRng as _;
use sotto::keys::{
    DhPublicKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PreKeyBundle, SignedPreKey, SignedPreKeyId,
};
use sotto::session::{Address, SessionError, SessionManager, SessionRecord};
use sotto::store::{
    IdentityStore, InMemoryStore, KemPreKeyStore, LastResortUse, OneTimePreKeyStore, PeerIdentity,
    PeerIdentityWrite, ProtocolStore, SessionStore, SignedPreKeyStore, StoreCommit, StoreError,
};

/// A manager over an in-memory store with a deterministic generator.
pub type Manager = SessionManager<InMemoryStore, ChaCha20Rng>;

/// A deterministic generator.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Device 1 of `account`.
pub fn address(account: &str) -> Address {
    Address::new(account, 1).unwrap()
}

/// A fresh identity key pair drawn from `seed`.
pub fn identity(seed: u64) -> IdentityKeyPair {
    IdentityKeyPair::generate(&mut rng(seed))
}

/// A manager for `account` (device 1) with an identity and a generator
/// drawn from `seed`.
pub fn manager(account: &str, seed: u64) -> Manager {
    manager_with_identity(account, identity(seed), seed)
}

/// A manager for `account` (device 1) with the given identity.
pub fn manager_with_identity(account: &str, identity: IdentityKeyPair, seed: u64) -> Manager {
    SessionManager::with_rng(address(account), InMemoryStore::new(identity), rng(seed ^ 0x5eed))
}

/// Makes signed prekey `signed_id`, last-resort KEM prekey `signed_id` and,
/// if asked, one-time prekey `one_time_id` on `manager`, and returns the
/// encoded (post-quantum) bundle. The KEM prekey is last-resort so that the
/// bundle can start any number of sessions, as tests reuse it.
pub fn bundle<S: ProtocolStore>(
    manager: &SessionManager<S, ChaCha20Rng>,
    signed_id: u32,
    one_time_id: Option<u32>,
) -> Vec<u8> {
    let signed = manager.generate_signed_prekey(SignedPreKeyId::from(signed_id)).unwrap();
    let one_time = one_time_id.map(|id| {
        let keys = manager.generate_one_time_prekeys(id, 1).unwrap();
        assert_eq!(keys.len(), 1);
        keys[0]
    });
    let kem = manager.generate_last_resort_kem_prekey(signed_id.into()).unwrap();
    PreKeyBundle::new(manager.identity_key().unwrap(), signed, kem, one_time).to_bytes()
}

/// Decrypts `message` at `to`, checks the plaintext, and commits.
pub fn deliver<S: ProtocolStore>(
    to: &SessionManager<S, ChaCha20Rng>,
    from: &Address,
    message: &[u8],
    expected: &[u8],
) {
    let decrypted = to.decrypt(from, message).unwrap();
    assert_eq!(decrypted.plaintext(), expected);
    assert_eq!(decrypted.commit().unwrap(), expected);
}

/// Encrypts `plaintext` from `from` to `to` and delivers it.
pub fn send<S: ProtocolStore, T: ProtocolStore>(
    from: &SessionManager<S, ChaCha20Rng>,
    to: &SessionManager<T, ChaCha20Rng>,
    plaintext: &[u8],
) {
    let message = from.encrypt(to.address(), plaintext).unwrap();
    deliver(to, from.address(), &message, plaintext);
}

/// Alice starts a session from Bob's bundle (with a one-time prekey), sends
/// a first message and gets a reply: both sides then have an established
/// session.
pub fn establish<S: ProtocolStore, T: ProtocolStore>(
    alice: &SessionManager<S, ChaCha20Rng>,
    bob: &SessionManager<T, ChaCha20Rng>,
) {
    let bundle = bundle(bob, 1, Some(100));
    alice.process_bundle(bob.address(), &bundle).unwrap();
    send(alice, bob, b"hello Bob");
    send(bob, alice, b"hello Alice");
}

/// What a failed operation must leave unchanged in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The encoded session record with the peer, if any.
    pub session: Option<Vec<u8>>,
    /// The peer identity recorded for the peer, if any.
    pub peer: Option<PeerIdentity>,
    /// How many one-time prekeys are left.
    pub one_time_prekeys: usize,
    /// How many KEM prekeys are left.
    pub kem_prekeys: usize,
}

/// Stores whose one-time and KEM prekeys a test can count.
pub trait CountPreKeys {
    /// How many one-time prekeys are left.
    fn count_one_time_prekeys(&self) -> usize;
    /// How many KEM prekeys are left.
    fn count_kem_prekeys(&self) -> usize;
}

impl CountPreKeys for InMemoryStore {
    fn count_one_time_prekeys(&self) -> usize {
        self.one_time_prekey_count()
    }

    fn count_kem_prekeys(&self) -> usize {
        self.kem_prekey_count()
    }
}

impl CountPreKeys for ByteStore {
    fn count_one_time_prekeys(&self) -> usize {
        self.inner.one_time_prekey_count()
    }

    fn count_kem_prekeys(&self) -> usize {
        self.inner.kem_prekey_count()
    }
}

/// The state of `manager`'s store concerning `peer`.
pub fn snapshot<S: ProtocolStore + CountPreKeys, R: rand_core::CryptoRng>(
    manager: &SessionManager<S, R>,
    peer: &Address,
) -> Snapshot {
    let store = manager.store();
    Snapshot {
        session: store.load_session(peer).unwrap().map(|record| record.to_bytes().to_vec()),
        peer: store.peer_identity(peer).unwrap(),
        one_time_prekeys: store.count_one_time_prekeys(),
        kem_prekeys: store.count_kem_prekeys(),
    }
}

// ---------------------------------------------------------------------------
// A mirror of wire.proto, to look inside envelopes and tamper with them.

/// `sotto.wire.v1.Envelope`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireEnvelope {
    /// Field 1.
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// Fields 2 and 3.
    #[prost(oneof = "WireContent", tags = "2, 3")]
    pub content: Option<WireContent>,
}

/// `sotto.wire.v1.Envelope.content`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum WireContent {
    /// Field 2: a message that starts a session.
    #[prost(message, tag = "2")]
    PreKey(WirePreKeyMessage),
    /// Field 3: a message of an established session.
    #[prost(message, tag = "3")]
    Ratchet(WireRatchetMessage),
}

/// `sotto.wire.v1.RatchetHeader`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireHeader {
    /// Field 1.
    #[prost(bytes = "vec", tag = "1")]
    pub ratchet_key: Vec<u8>,
    /// Field 2.
    #[prost(uint32, tag = "2")]
    pub previous_counter: u32,
    /// Field 3.
    #[prost(uint32, tag = "3")]
    pub counter: u32,
}

/// `sotto.wire.v1.RatchetMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireRatchetMessage {
    /// Field 1: an encoded [`WireHeader`].
    #[prost(bytes = "vec", tag = "1")]
    pub header: Vec<u8>,
    /// Field 2.
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext: Vec<u8>,
}

/// `sotto.wire.v1.PreKeyMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WirePreKeyMessage {
    /// Field 1.
    #[prost(bytes = "vec", tag = "1")]
    pub identity_key: Vec<u8>,
    /// Field 2.
    #[prost(bytes = "vec", tag = "2")]
    pub base_key: Vec<u8>,
    /// Field 3.
    #[prost(uint32, tag = "3")]
    pub signed_prekey_id: u32,
    /// Field 4.
    #[prost(uint32, optional, tag = "4")]
    pub one_time_prekey_id: Option<u32>,
    /// Field 5.
    #[prost(message, optional, tag = "5")]
    pub message: Option<WireRatchetMessage>,
    /// Field 6 (PQXDH).
    #[prost(uint32, optional, tag = "6")]
    pub kem_prekey_id: Option<u32>,
    /// Field 7 (PQXDH).
    #[prost(bytes = "vec", tag = "7")]
    pub kem_ciphertext: Vec<u8>,
}

/// `sotto.wire.v1.PreKeyBundle`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireBundle {
    /// Field 1.
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// Field 2.
    #[prost(bytes = "vec", tag = "2")]
    pub identity_key: Vec<u8>,
    /// Field 3.
    #[prost(uint32, tag = "3")]
    pub signed_prekey_id: u32,
    /// Field 4.
    #[prost(bytes = "vec", tag = "4")]
    pub signed_prekey: Vec<u8>,
    /// Field 5.
    #[prost(bytes = "vec", tag = "5")]
    pub signed_prekey_signature: Vec<u8>,
    /// Field 6.
    #[prost(message, optional, tag = "6")]
    pub one_time_prekey: Option<WireOneTimePreKey>,
    /// Field 7 (PQXDH).
    #[prost(message, optional, tag = "7")]
    pub kem_prekey: Option<WireKemPreKey>,
}

/// `sotto.wire.v1.KemPreKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireKemPreKey {
    /// Field 1.
    #[prost(uint32, tag = "1")]
    pub id: u32,
    /// Field 2: `EncodeKEM(key)`.
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// Field 3.
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

/// `sotto.wire.v1.OneTimePreKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireOneTimePreKey {
    /// Field 1.
    #[prost(uint32, tag = "1")]
    pub id: u32,
    /// Field 2.
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
}

/// Decodes an envelope Sotto produced.
pub fn envelope(bytes: &[u8]) -> WireEnvelope {
    WireEnvelope::decode(bytes).unwrap()
}

/// Which kind of message an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Field 2: `prekey_message`.
    PreKey,
    /// Field 3: `ratchet_message`.
    Ratchet,
}

/// The kind of message in an envelope Sotto produced.
pub fn kind(bytes: &[u8]) -> Kind {
    match envelope(bytes).content {
        Some(WireContent::PreKey(_)) => Kind::PreKey,
        Some(WireContent::Ratchet(_)) => Kind::Ratchet,
        None => panic!("an envelope without content"),
    }
}

/// The prekey message inside an envelope Sotto produced.
pub fn prekey_message(bytes: &[u8]) -> WirePreKeyMessage {
    match envelope(bytes).content {
        Some(WireContent::PreKey(prekey)) => prekey,
        other => panic!("not a prekey message: {other:?}"),
    }
}

/// The ratchet header of any message Sotto produced.
pub fn header(bytes: &[u8]) -> WireHeader {
    let message = match envelope(bytes).content {
        Some(WireContent::PreKey(prekey)) => prekey.message.unwrap(),
        Some(WireContent::Ratchet(message)) => message,
        None => panic!("an envelope without content"),
    };
    WireHeader::decode(message.header.as_slice()).unwrap()
}

/// Re-encodes an envelope with its prekey message changed by `change`.
pub fn with_prekey_message(bytes: &[u8], change: impl FnOnce(&mut WirePreKeyMessage)) -> Vec<u8> {
    let mut prekey = prekey_message(bytes);
    change(&mut prekey);
    WireEnvelope { version: 1, content: Some(WireContent::PreKey(prekey)) }.encode_to_vec()
}

// ---------------------------------------------------------------------------
// A store that keeps session records as bytes the test can reach.

/// An [`InMemoryStore`] whose session records sit in a map of bytes that a
/// test may read and overwrite (to corrupt them). Its commit is a
/// compare-and-swap under one lock, as the contract asks.
#[derive(Debug)]
pub struct ByteStore {
    inner: InMemoryStore,
    state: Mutex<ByteState>,
}

#[derive(Debug, Default)]
struct ByteState {
    peers: HashMap<Address, PeerIdentity>,
    sessions: HashMap<Address, Vec<u8>>,
    last_resort_uses: HashSet<LastResortUse>,
}

impl ByteStore {
    /// An empty store for the device with `identity`.
    pub fn new(identity: IdentityKeyPair) -> Self {
        Self { inner: InMemoryStore::new(identity), state: Mutex::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ByteState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored bytes of the session with `address`.
    pub fn session_bytes(&self, address: &Address) -> Option<Vec<u8>> {
        self.state().sessions.get(address).cloned()
    }

    /// Overwrites the stored bytes of the session with `address`.
    pub fn set_session_bytes(&self, address: &Address, bytes: Vec<u8>) {
        self.state().sessions.insert(address.clone(), bytes);
    }

    /// Removes the identity recorded for `address` (as a damaged store would).
    pub fn forget_peer_identity(&self, address: &Address) {
        self.state().peers.remove(address);
    }
}

impl IdentityStore for ByteStore {
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError> {
        self.inner.local_identity()
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<PeerIdentity>, StoreError> {
        Ok(self.state().peers.get(address).copied())
    }
}

impl SignedPreKeyStore for ByteStore {
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

impl OneTimePreKeyStore for ByteStore {
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

impl KemPreKeyStore for ByteStore {
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, StoreError> {
        self.inner.kem_prekey(id)
    }

    fn save_kem_prekey(&self, prekey: &KemPreKey) -> Result<(), StoreError> {
        self.inner.save_kem_prekey(prekey)
    }

    fn remove_kem_prekey(&self, id: KemPreKeyId) -> Result<(), StoreError> {
        let mut state = self.state();
        state.last_resort_uses.retain(|used| used.kem_prekey != id);
        self.inner.remove_kem_prekey(id)
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

impl SessionStore for ByteStore {
    fn load_session(&self, address: &Address) -> Result<Option<SessionRecord>, StoreError> {
        self.session_bytes(address)
            .map(|bytes| SessionRecord::from_bytes(&bytes))
            .transpose()
            .map_err(StoreError::from)
    }
}

impl ProtocolStore for ByteStore {
    fn commit(&self, commits: &[StoreCommit]) -> Result<(), StoreError> {
        let mut state = self.state();
        // What the batch's earlier commits consume or record: a later one
        // using it again conflicts, as it would after them.
        let mut batch_uses = HashSet::new();
        let mut batch_kem = HashSet::new();
        for commit in commits {
            let conflict = || StoreError::Conflict { address: commit.address.clone() };
            if !commit.last_resort_uses.iter().all(|used| batch_uses.insert(*used))
                || !commit.consumed_kem_prekeys.iter().all(|id| batch_kem.insert(*id))
            {
                return Err(conflict());
            }
            let stored = state
                .sessions
                .get(&commit.address)
                .map(|bytes| SessionRecord::from_bytes(bytes).map(|record| record.generation()))
                .transpose()?;
            if stored != commit.expected_generation {
                return Err(conflict());
            }
            if let Some(PeerIdentityWrite::FirstUse(identity)) = commit.peer_identity
                && state.peers.get(&commit.address).is_some_and(|known| known.key != identity.key)
            {
                return Err(conflict());
            }
            for id in &commit.consumed_one_time_prekeys {
                if self.inner.one_time_prekey(*id)?.is_none() {
                    return Err(conflict());
                }
            }
            for id in &commit.consumed_kem_prekeys {
                if self.inner.kem_prekey(*id)?.is_none() {
                    return Err(conflict());
                }
            }
            for used in &commit.last_resort_uses {
                if self.inner.kem_prekey(used.kem_prekey)?.is_none()
                    || state.last_resort_uses.contains(used)
                {
                    return Err(conflict());
                }
            }
        }
        for commit in commits {
            match commit.peer_identity {
                Some(PeerIdentityWrite::FirstUse(identity)) => {
                    state.peers.entry(commit.address.clone()).or_insert(identity);
                }
                Some(PeerIdentityWrite::Replace(identity)) => {
                    state.peers.insert(commit.address.clone(), identity);
                }
                _ => {}
            }
            state.sessions.insert(commit.address.clone(), commit.session.to_bytes().to_vec());
            for id in &commit.consumed_one_time_prekeys {
                self.inner.remove_one_time_prekey(*id)?;
            }
            for id in &commit.consumed_kem_prekeys {
                self.inner.remove_kem_prekey(*id)?;
            }
            state.last_resort_uses.extend(commit.last_resort_uses.iter().copied());
        }
        Ok(())
    }
}

/// Whether `error` is a duplicate-message refusal.
pub fn is_duplicate(error: &SessionError) -> bool {
    matches!(error, SessionError::Ratchet(sotto::ratchet::RatchetError::DuplicateMessage { .. }))
}

/// Decodes a hex string (test fixtures).
pub fn unhex(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0, "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
        .collect()
}
