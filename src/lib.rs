//! Sotto: end-to-end encryption for direct messages and calls.

mod kdf;
pub mod keys;
mod proto;
pub mod protocol;
pub mod ratchet;
pub mod record;
pub mod rng;
pub mod x3dh;
