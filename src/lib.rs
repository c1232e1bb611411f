//! Sotto: end-to-end encryption for direct messages and calls.

pub mod keys;
mod proto;
pub mod protocol;
pub mod record;
pub mod rng;
mod kdf;
pub mod x3dh;
