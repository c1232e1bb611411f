//! Sotto: end-to-end encryption for direct messages and calls.

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
mod proto;
