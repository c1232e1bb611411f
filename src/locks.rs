//! Per-address locks: one thread at a time holds an address, while other
//! addresses go on in parallel. A manager holds one while it changes the
//! session of an address; the in-memory store holds one for each write
//! transaction, so that writers of one address through several managers
//! take turns.
//!
//! The store's compare-and-swap ([`ProtocolStore::commit`]) is what makes
//! every write safe, across managers and processes too; these locks only
//! keep writers from racing one another, so that a busy address costs its
//! threads a wait rather than repeated work and retries (which a steady
//! stream of writers through one manager could make fail for another).
//!
//! [`ProtocolStore::commit`]: crate::store::ProtocolStore::commit

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

use crate::session::Address;

/// The addresses being changed, each with the thread changing it.
#[derive(Debug, Default)]
pub(crate) struct AddressLocks {
    held: Mutex<Held>,
    released: Condvar,
}

/// What the lock of [`AddressLocks`] guards.
#[derive(Debug, Default)]
struct Held {
    holders: HashMap<Address, ThreadId>,
    /// Threads waiting for an address: a release wakes them only if there
    /// are any (a wake-up is a system call).
    waiting: usize,
}

/// A thread asked for an address it holds already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reentrant;

/// Holds the lock of one address until dropped.
#[must_use = "the address is unlocked when the guard drops"]
pub(crate) struct AddressGuard<'a> {
    locks: &'a AddressLocks,
    address: Address,
}

impl AddressLocks {
    fn held(&self) -> MutexGuard<'_, Held> {
        // No code panics while holding it: the map stays consistent.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no other thread holds `address`, then holds it.
    ///
    /// # Errors
    /// [`Reentrant`] if this thread already holds it (a store that called
    /// back into the manager for the address it is changing, say), which
    /// would otherwise wait for itself forever.
    pub(crate) fn lock(&self, address: &Address) -> Result<AddressGuard<'_>, Reentrant> {
        let me = thread::current().id();
        let mut held = self.held();
        loop {
            match held.holders.get(address) {
                None => break,
                Some(holder) if *holder == me => return Err(Reentrant),
                Some(_) => {
                    held.waiting += 1;
                    held = self.released.wait(held).unwrap_or_else(PoisonError::into_inner);
                    held.waiting -= 1;
                }
            }
        }
        held.holders.insert(address.clone(), me);
        Ok(AddressGuard { locks: self, address: address.clone() })
    }
}

impl Drop for AddressGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held();
        held.holders.remove(&self.address);
        if held.waiting > 0 {
            // Waiters of other addresses wake too and wait again: a wait is
            // short, and few threads wait at once.
            self.locks.released.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    use super::*;

    fn address(account: &str) -> Address {
        Address::new(account, 1).unwrap()
    }

    #[test]
    fn one_thread_at_a_time_per_address() {
        let locks = AddressLocks::default();
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        let _guard = locks.lock(&address("bob")).unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert!(locks.held().holders.is_empty());
        assert_eq!(locks.held().waiting, 0);
    }

    #[test]
    fn other_addresses_do_not_wait() {
        let locks = Arc::new(AddressLocks::default());
        let guard = locks.lock(&address("bob")).unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let other = {
            let (locks, barrier) = (Arc::clone(&locks), Arc::clone(&barrier));
            thread::spawn(move || {
                // Would wait forever if "carol" waited for "bob".
                let _carol = locks.lock(&address("carol")).unwrap();
                barrier.wait();
            })
        };
        barrier.wait();
        other.join().unwrap();
        drop(guard);
    }

    #[test]
    fn a_thread_locking_its_own_address_again_is_refused() {
        let locks = AddressLocks::default();
        let _guard = locks.lock(&address("bob")).unwrap();
        assert!(matches!(locks.lock(&address("bob")), Err(Reentrant)));
        // Another address is fine.
        drop(locks.lock(&address("carol")).unwrap());
    }
}
