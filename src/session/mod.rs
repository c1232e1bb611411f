//! Sessions: PQXDH and the Double Ratchet behind an address-based API.
//!
//! A [`SessionManager`] wraps a [`ProtocolStore`](crate::store::ProtocolStore)
//! for one device. Alice
//! starts a session from Bob's prekey bundle and encrypts to his address;
//! Bob decrypts, handles the message, and only then commits the new session
//! state (see [`Decrypted`]).
//!
//! ```
//! use sotto::keys::{IdentityKeyPair, PreKeyBundle};
//! use sotto::session::{Address, Handshake, SessionManager};
//! use sotto::store::InMemoryStore;
//!
//! let mut rng = sotto::rng::os_rng();
//! let alice_address = Address::new("alice", 1)?;
//! let bob_address = Address::new("bob", 1)?;
//! let alice = SessionManager::new(alice_address.clone(), InMemoryStore::new(IdentityKeyPair::generate(&mut rng)));
//! let bob = SessionManager::new(bob_address.clone(), InMemoryStore::new(IdentityKeyPair::generate(&mut rng)));
//!
//! // Bob publishes a bundle; Alice starts a session from it.
//! let signed = bob.generate_signed_prekey(1.into())?;
//! let kem = bob.generate_kem_prekeys(100, 1)?.remove(0); // PQXDH: ML-KEM-1024
//! let one_time = bob.generate_one_time_prekeys(100, 1)?;
//! let bundle = PreKeyBundle::new(bob.identity_key()?, signed, kem, one_time.first().copied());
//! alice.process_bundle(&bob_address, &bundle.to_bytes())?;
//!
//! let message = alice.encrypt(&bob_address, b"hi Bob")?;
//! let received = bob.decrypt(&alice_address, &message)?;
//! assert_eq!(received.plaintext(), b"hi Bob");
//! received.commit()?; // after the app has stored the plaintext
//!
//! let reply = bob.encrypt(&alice_address, b"hi Alice")?;
//! assert_eq!(alice.decrypt(&bob_address, &reply)?.commit()?, b"hi Alice");
//! assert_eq!(alice.session_handshake(&bob_address)?, Some(Handshake::Pqxdh));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Post-quantum by default
//!
//! Every new session is PQXDH (revision 3, ML-KEM-1024): a bundle must
//! carry a KEM prekey, and a first message a KEM ciphertext. A bundle
//! without one is refused with [`SessionError::ClassicalSessionRefused`]
//! rather than quietly making a classical session that traffic recorded
//! today would not survive a quantum computer; an app that must reach such
//! devices opts in with [`ClassicalSessions::Allow`], and can show which
//! agreement each conversation has ([`SessionManager::session_handshake`]).
//! Sessions stored before PQXDH keep working. A device keeps a last-resort
//! KEM prekey ([`SessionManager::generate_last_resort_kem_prekey`]) and a
//! stock of one-time ones ([`SessionManager::generate_kem_prekeys`]).
//!
//! # Committing after handling a message
//!
//! [`SessionManager::decrypt`] changes no store: it returns the plaintext
//! with the session state that results from it, and
//! [`Decrypted::commit`] writes that state. An app that must not lose a
//! message does, in this order:
//!
//! 1. `decrypt` the message;
//! 2. store the plaintext in its own database (or otherwise handle it);
//! 3. `commit`;
//! 4. acknowledge the message to the server, which then deletes it.
//!
//! A crash before step 3 leaves the old session state: the server delivers
//! the message again and it decrypts again. A crash between 3 and 4 makes
//! the server deliver a message already handled: it is refused as
//! [`RatchetError::DuplicateMessage`](crate::ratchet::RatchetError::DuplicateMessage),
//! which the app treats as "already have it" and acknowledges.
//!
//! A commit checks that the session is still the one the message was
//! decrypted from: if anything wrote it in between (an `encrypt` to the
//! address, another commit, a trust decision, another process), the commit
//! is refused with [`SessionError::StaleDecryption`] rather than undo that
//! write, and the message is decrypted again. A device catching up with many
//! queued messages decrypts them into a [`DecryptBatch`] and commits them in
//! one store transaction.
//!
//! # Threads, processes and restarts
//!
//! Any thread may call any method at any time, and several managers (an app
//! and its notification extension, each its own process) may share one
//! store. No message key is ever used twice, because:
//!
//! - every write of a session (an encryption, a new session, a commit, a
//!   trust decision) is a compare-and-swap on the record's
//!   [generation](SessionRecord::generation), inside the store's
//!   transaction ([`ProtocolStore::commit`](crate::store::ProtocolStore::commit));
//! - [`encrypt`](SessionManager::encrypt) returns a message only after the
//!   state that produced it is durable, and when another process wrote the
//!   session first it loads the newer state and encrypts again (up to
//!   [`MAX_COMMIT_ATTEMPTS`](crate::protocol::MAX_COMMIT_ATTEMPTS) times);
//! - within one manager, writes to one address wait for each other (a lock
//!   per address; other addresses go on in parallel).

mod address;
mod commit;
mod envelope;
mod error;
mod manager;
mod record;

pub use address::{Address, AddressError, DeviceId};
pub use commit::{DecryptBatch, Decrypted, PendingBatch, PendingCommit};
pub use error::SessionError;
pub use manager::{ClassicalSessions, SessionManager};
pub use record::{Handshake, SessionRecord};
