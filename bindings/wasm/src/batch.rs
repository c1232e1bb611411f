//! Batches: many decryptions committed in one store transaction
//! (docs/PROTOCOL.md §6), for a device catching up with queued messages.
//!
//! The core's `DecryptBatch` borrows its manager, which a JS object cannot
//! hold; [`DecryptBatch`] here keeps the core's owned form, `PendingBatch`,
//! with the manager in an `Rc`, and goes through
//! `SessionManager::decrypt_in_batch` and `SessionManager::commit_batch`:
//! the same decryptions and the same one-transaction commit.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Promise;
use sotto::session::PendingBatch;
use wasm_bindgen::prelude::*;

use crate::durable::durably;
use crate::error::{ErrorCode, JsResult, SottoError};
use crate::session::CoreManager;
use crate::types::address;

/// Where a batch is in its life.
enum State {
    /// Taking messages.
    Open(PendingBatch),
    /// Inside a core call (a JS store that calls back into the batch finds
    /// it so).
    Busy,
    /// Committed.
    Committed,
    /// Its commit failed: nothing was stored, and the core's batch is gone
    /// (`commit_batch` consumes it whatever the outcome).
    Failed,
}

/// Decryptions from any number of addresses, committed together: decrypt
/// each queued message with `decrypt`, store its plaintext in the app's
/// database, then `await commit()` once and acknowledge them all to the
/// server. Messages from one address build on each other in the order
/// decrypted; a message that fails changes nothing. Nothing is stored
/// before `commit()`: a batch that is dropped leaves the store as it was,
/// and its messages decrypt again when redelivered.
#[wasm_bindgen]
pub struct DecryptBatch {
    manager: Rc<CoreManager>,
    state: RefCell<State>,
    length: Cell<usize>,
}

impl DecryptBatch {
    pub(crate) fn new(manager: Rc<CoreManager>) -> Self {
        Self {
            manager,
            state: RefCell::new(State::Open(PendingBatch::new())),
            length: Cell::new(0),
        }
    }

    /// The open batch, taken out of the cell while the core (and so a JS
    /// store) runs.
    fn take(&self) -> JsResult<PendingBatch> {
        let mut state = self.state.borrow_mut();
        match std::mem::replace(&mut *state, State::Busy) {
            State::Open(batch) => Ok(batch),
            other => {
                let error = match other {
                    State::Committed => SottoError::new(
                        ErrorCode::AlreadyCommitted,
                        "this batch was committed: decrypt further messages in a new batch",
                    ),
                    State::Failed => SottoError::new(
                        ErrorCode::AlreadyCommitted,
                        "this batch's commit failed and stored nothing: decrypt its messages \
                         again in a new batch",
                    ),
                    State::Busy | State::Open(_) => SottoError::new(
                        ErrorCode::ReentrantCall,
                        "the batch was used from inside one of its own store calls",
                    ),
                };
                *state = other;
                Err(error)
            }
        }
    }

    fn put(&self, state: State) {
        *self.state.borrow_mut() = state;
    }
}

#[wasm_bindgen]
impl DecryptBatch {
    /// Decrypts a message from `address`, on top of the batch's earlier
    /// messages from it, and returns the plaintext. Stores nothing.
    ///
    /// Throws as `SessionManager.decrypt` (the batch is then unchanged), or
    /// `ALREADY_COMMITTED` once the batch was committed. A first message is
    /// checked against the batch's earlier ones too: one that names a
    /// one-time prekey or one-time KEM prekey an earlier one used is
    /// `UNKNOWN_PREKEY`, one whose use of the last-resort KEM prekey an
    /// earlier one made is `DUPLICATE_MESSAGE`.
    pub fn decrypt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
        message: &[u8],
    ) -> JsResult<Vec<u8>> {
        let address = self::address(&address)?;
        let mut batch = self.take()?;
        let result = self.manager.decrypt_in_batch(&mut batch, &address, message);
        self.length.set(batch.len());
        self.put(State::Open(batch));
        Ok(result?)
    }

    /// How many messages the batch decrypted.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.length.get()
    }

    /// Stores the state every decrypted message leads to, in one store
    /// transaction (one compare-and-swap per address, all or nothing, with
    /// the removal of the one-time prekeys and one-time KEM prekeys its
    /// first messages used and the record of their last-resort KEM prekey
    /// uses), and resolves once it is durable. The batch is then used up,
    /// whatever the outcome.
    ///
    /// Rejects with `STALE_DECRYPTION` if any address of the batch was
    /// written since the batch first loaded it, or a store error (nothing
    /// is stored: decrypt the messages again, in a new batch; but `STORE`
    /// for a write that did not persist means: reload the store).
    /// `ALREADY_COMMITTED` the second time.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn commit(&self) -> Promise {
        durably(|| {
            let batch = self.take()?;
            let result = self.manager.commit_batch(batch);
            self.put(if result.is_ok() { State::Committed } else { State::Failed });
            Ok(result?)
        })
    }
}
