//! Committing decrypted messages: one at a time ([`Decrypted`],
//! [`PendingCommit`]) or many in one store transaction ([`DecryptBatch`]).

use std::collections::HashMap;

use rand_core::CryptoRng;

use super::manager::{Change, Consumed};
use super::{Address, SessionError, SessionManager, SessionRecord};
use crate::store::{ProtocolStore, StoreCommit, StoreError};

/// A decrypted message whose session state is not yet stored.
///
/// Handle the plaintext, then call [`commit`](Self::commit). Dropping it
/// without committing leaves the store as it was, so the same message
/// decrypts again when it is delivered again.
#[must_use = "the session is not advanced until you call commit()"]
pub struct Decrypted<'a, S: ProtocolStore> {
    store: &'a S,
    plaintext: Vec<u8>,
    pending: PendingCommit,
    started_session: bool,
}

/// The session changes of a decrypted message, not yet stored: the owned
/// form of [`Decrypted`], for callers that cannot keep its borrow of the
/// manager (bindings). Apply it with [`SessionManager::commit`].
#[must_use = "the session is not advanced until it is committed"]
#[derive(Debug)]
pub struct PendingCommit {
    commit: StoreCommit,
}

impl PendingCommit {
    pub(super) fn new(commit: StoreCommit) -> Self {
        Self { commit }
    }

    /// Stores the changes if the session is still the one the message was
    /// decrypted from: the check and the writes are one compare-and-swap in
    /// the store.
    pub(super) fn apply<S: ProtocolStore>(&self, store: &S) -> Result<(), SessionError> {
        commit_all(store, core::slice::from_ref(&self.commit))
    }
}

/// Commits `commits`, reporting a conflict as a stale decryption.
fn commit_all<S: ProtocolStore>(store: &S, commits: &[StoreCommit]) -> Result<(), SessionError> {
    match store.commit(commits) {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict { .. }) => Err(SessionError::StaleDecryption),
        Err(error) => Err(error.into()),
    }
}

impl<'a, S: ProtocolStore> Decrypted<'a, S> {
    pub(super) fn new(
        store: &'a S,
        plaintext: Vec<u8>,
        pending: PendingCommit,
        started_session: bool,
    ) -> Self {
        Self { store, plaintext, pending, started_session }
    }

    /// The plaintext.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// Whether this message started a new session.
    pub fn started_session(&self) -> bool {
        self.started_session
    }

    /// Stores the session state that results from this message (and removes
    /// the one-time prekey a first message used), returning the plaintext.
    ///
    /// # Errors
    /// [`SessionError::StaleDecryption`] if the state of the address was
    /// written since the message was decrypted (a message was encrypted to
    /// it, another decryption committed, the user changed its trust, another
    /// process did any of these, or another first message took the same
    /// one-time prekey): storing this state would undo that write, and could
    /// make a message key be used twice. Nothing is stored; decrypt the
    /// message again. A [`SessionError::Store`] error if the store failed.
    pub fn commit(self) -> Result<Vec<u8>, SessionError> {
        self.pending.apply(self.store)?;
        Ok(self.plaintext)
    }

    /// The plaintext and the owned changes, to commit later with
    /// [`SessionManager::commit`].
    pub fn into_parts(self) -> (Vec<u8>, PendingCommit) {
        (self.plaintext, self.pending)
    }
}

impl<S: ProtocolStore> core::fmt::Debug for Decrypted<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decrypted")
            .field("address", &self.pending.commit.address)
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

/// Many decryptions, committed in one store transaction: for a device that
/// comes online with hundreds or thousands of queued messages, where one
/// transaction (one `fsync`) per message would dominate.
///
/// Decrypt the queued messages one by one with [`decrypt`](Self::decrypt),
/// handle (store) each plaintext, then [`commit`](Self::commit) them all and
/// acknowledge them to the server. Messages from one address build on each
/// other in the batch, in the order decrypted; a message that fails changes
/// nothing. Nothing is stored before `commit`: dropping the batch leaves the
/// store as it was, and every message decrypts again when redelivered.
///
/// `commit` is one compare-and-swap per address in one transaction, all or
/// nothing: if any address was written meanwhile (an `encrypt` to it, a
/// commit from another thread or process), nothing is stored and the whole
/// batch is [`SessionError::StaleDecryption`]: decrypt its messages again.
///
/// ```
/// # use sotto::keys::{IdentityKeyPair, PreKeyBundle};
/// # use sotto::session::{Address, SessionManager};
/// # use sotto::store::InMemoryStore;
/// # let mut rng = sotto::rng::os_rng();
/// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
/// # let alice = SessionManager::new(a.clone(), InMemoryStore::new(IdentityKeyPair::generate(&mut rng)));
/// # let bob = SessionManager::new(b.clone(), InMemoryStore::new(IdentityKeyPair::generate(&mut rng)));
/// # let kem = bob.generate_last_resort_kem_prekey(1.into())?;
/// # let bundle = PreKeyBundle::new(bob.identity_key()?, bob.generate_signed_prekey(1.into())?, kem, None);
/// # alice.process_bundle(&b, &bundle.to_bytes())?;
/// let queued: Vec<Vec<u8>> =
///     (0..100).map(|n| alice.encrypt(&b, format!("message {n}").as_bytes())).collect::<Result<_, _>>()?;
///
/// let mut batch = bob.batch();
/// for message in &queued {
///     let plaintext = batch.decrypt(&a, message)?;
///     // ... store the plaintext in the app's database ...
/// }
/// batch.commit()?; // one transaction; then acknowledge the messages
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "nothing is stored until the batch is committed"]
pub struct DecryptBatch<'a, S: ProtocolStore, R: CryptoRng> {
    manager: &'a SessionManager<S, R>,
    pending: PendingBatch,
}

/// The decryptions of a batch so far, owned: the form of [`DecryptBatch`]
/// for callers that cannot keep its borrow of the manager (bindings).
/// [`SessionManager::decrypt_in_batch`] adds to it and
/// [`SessionManager::commit_batch`] commits it.
#[must_use = "nothing is stored until the batch is committed"]
#[derive(Default)]
pub struct PendingBatch {
    /// Per address: the generation loaded first, and the change so far.
    changes: HashMap<Address, (Option<u64>, Change)>,
    /// One-time prekeys the batch's first messages consume.
    consumed: Consumed,
    decrypted: usize,
}

impl PendingBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many messages the batch decrypted.
    pub fn len(&self) -> usize {
        self.decrypted
    }

    /// Whether the batch decrypted no message.
    pub fn is_empty(&self) -> bool {
        self.decrypted == 0
    }

    /// Decrypts a message from `address` through `manager`, on top of the
    /// batch's earlier messages from it.
    pub(super) fn decrypt<S: ProtocolStore, R: CryptoRng>(
        &mut self,
        manager: &SessionManager<S, R>,
        address: &Address,
        message: &[u8],
    ) -> Result<Vec<u8>, SessionError> {
        if !self.changes.contains_key(address) {
            let loaded = manager.store().load_session(address)?;
            let expected = loaded.as_ref().map(SessionRecord::generation);
            self.changes.insert(address.clone(), (expected, Change::new(loaded, None)));
        }
        let (_, change) = self.changes.get_mut(address).ok_or(SessionError::NoSession)?;
        let plaintext = manager.decrypt_into(address, change, message, Some(&self.consumed))?;
        self.consumed.extend(change);
        change.decrypted += 1;
        self.decrypted += 1;
        Ok(plaintext)
    }

    /// Commits the batch to `store` in one transaction.
    pub(super) fn commit<S: ProtocolStore>(self, store: &S) -> Result<(), SessionError> {
        let commits: Vec<StoreCommit> = self
            .changes
            .into_iter()
            .filter(|(_, (_, change))| change.decrypted > 0)
            .map(|(address, (expected, change))| change.into_commit(address, expected))
            .collect();
        if commits.is_empty() {
            return Ok(());
        }
        commit_all(store, &commits)
    }
}

impl core::fmt::Debug for PendingBatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingBatch")
            .field("addresses", &self.changes.len())
            .field("decrypted", &self.decrypted)
            .finish_non_exhaustive()
    }
}

impl<'a, S: ProtocolStore, R: CryptoRng> DecryptBatch<'a, S, R> {
    pub(super) fn new(manager: &'a SessionManager<S, R>) -> Self {
        Self { manager, pending: PendingBatch::new() }
    }

    /// Decrypts a message from `address`, on top of the batch's earlier
    /// messages from it.
    ///
    /// # Errors
    /// As [`SessionManager::decrypt`]; the batch is unchanged.
    pub fn decrypt(&mut self, address: &Address, message: &[u8]) -> Result<Vec<u8>, SessionError> {
        self.pending.decrypt(self.manager, address, message)
    }

    /// How many messages the batch decrypted.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether the batch decrypted no message.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Stores the state every decrypted message leads to, in one store
    /// transaction.
    ///
    /// # Errors
    /// [`SessionError::StaleDecryption`] if any address of the batch was
    /// written since the batch first loaded it (nothing is stored: decrypt
    /// the messages again), or a store error (nothing is stored; decrypt
    /// them again too).
    pub fn commit(self) -> Result<(), SessionError> {
        self.pending.commit(self.manager.store())
    }

    /// The owned decryptions, to continue with
    /// [`SessionManager::decrypt_in_batch`] and
    /// [`SessionManager::commit_batch`].
    pub fn into_pending(self) -> PendingBatch {
        self.pending
    }
}

impl<S: ProtocolStore, R: CryptoRng> core::fmt::Debug for DecryptBatch<'_, S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DecryptBatch").field("pending", &self.pending).finish_non_exhaustive()
    }
}
