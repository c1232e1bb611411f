//! `sotto-ffi`: Sotto for Swift, Kotlin and Python, through uniffi.
//!
//! A thin layer: each exported object wraps a core type and each method
//! converts its arguments and forwards to the core. Byte strings cross as
//! `Vec<u8>` (`ByteArray`, `Data`, `bytes`); every failure is a
//! [`SottoError`]. An app implements [`ProtocolStore`] to keep Sotto's state
//! in its own database (and tests it with [`check_store_conformance`]), or
//! takes the SDK's [`SqliteStore`] (persistent, sealed at rest) or
//! [`InMemoryStore`].
//!
//! The generated sources and their tests live beside this crate in
//! `bindings/`; `bindings/README.md` says how to build each one.

mod call;
mod error;
mod one_to_one;
mod session;
mod store;
#[cfg(test)]
mod testing;
mod types;
mod verify;

pub use call::{CipherSuite, GroupCall, GroupKeyId, SframeReceiver, SframeSender};
pub use error::{SottoError, StoreError};
pub use one_to_one::{
    AcceptedCall, CallOffer, OfferedCall, OneToOneCall, OneToOneCallKeys, OutgoingCall,
};
pub use session::{DecryptBatch, DecryptedMessage, SessionManager};
pub use store::{
    InMemoryStore, PendingWrites, ProtocolStore, SqliteStore, check_store_conformance,
    generate_storage_key,
};
pub use types::{Address, IdentityKeyPair, OneTimePreKeyPublic, PreKeyBundle, SignedPreKeyPublic};
pub use verify::SafetyNumber;

uniffi::setup_scaffolding!("sotto");
