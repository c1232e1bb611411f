//! Sotto: end-to-end encryption for direct messages and calls.
//!
//! A messaging app embeds Sotto so that the service carrying its messages
//! and calls cannot read them. Direct messages use X3DH and the Double
//! Ratchet (Signal's specifications); calls use SFrame (RFC 9605). The exact
//! protocol is in `docs/PROTOCOL.md`.
//!
//! The modules follow the data:
//!
//! - [`keys`]: identity keys, signed and one-time prekeys, prekey bundles;
//! - [`x3dh`]: session setup from a verified bundle;
//! - [`ratchet`]: the Double Ratchet's errors (its state lives in sessions);
//! - [`session`]: [`SessionManager`](session::SessionManager), the
//!   address-based API apps use, and [`SessionRecord`](session::SessionRecord);
//! - [`store`]: the store traits the app implements, and an in-memory store;
//! - [`verify`]: safety numbers;
//! - [`media`]: SFrame frame encryption for calls;
//! - [`call`]: call keys for 1:1 and group calls, agreed over DM sessions;
//! - [`protocol`]: every constant; [`record`]: stored-record errors;
//!   [`rng`]: randomness.
//!
//! Start with the [`session`] module's example.

pub mod call;
pub mod keys;
pub mod media;
pub mod protocol;
pub mod ratchet;
pub mod record;
pub mod rng;
pub mod session;
pub mod store;
pub mod verify;
pub mod x3dh;

mod kdf;
mod locks;
mod proto;

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
