//! `sotto-ffi`: Sotto for Swift, Kotlin and Python, through uniffi.
//!
//! A thin layer: each exported object wraps a core type and each method
//! converts its arguments and forwards to the core. New sessions are
//! post-quantum (PQXDH with ML-KEM-1024): a device publishes KEM prekeys
//! beside its signed and one-time prekeys, and a classical bundle is refused
//! unless the app opts in ([`ClassicalSessions`]). Byte strings cross as
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
    InMemoryStore, LastResortUse, PendingWrites, ProtocolStore, SqliteStore,
    check_store_conformance, generate_storage_key,
};
pub use types::{
    Address, ClassicalSessions, Handshake, IdentityKeyPair, KemPreKeyPublic, OneTimePreKeyPublic,
    PreKeyBundle, SignedPreKeyPublic,
};
pub use verify::SafetyNumber;

uniffi::setup_scaffolding!("sotto");
