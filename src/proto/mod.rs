//! Protobuf messages generated from `proto/*.proto` by prost.
//!
//! The generated files are checked in so that building Sotto needs no
//! `protoc`; `tests/proto_generated.rs` fails when they are stale. The
//! stored-record types derive `Zeroize` and `ZeroizeOnDrop`, and their
//! `Debug` (written here) prints no field.

#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)] // generated code

/// The wire format (`proto/wire.proto`).
pub(crate) mod wire {
    include!("sotto.wire.v1.rs");

    impl core::fmt::Debug for CallSenderKey {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("CallSenderKey { <redacted> }")
        }
    }
}

/// Stored records (`proto/storage.proto`).
#[cfg_attr(
    not(feature = "sqlite"),
    allow(dead_code, reason = "StoreStateRecord is the SQLite store's")
)]
pub(crate) mod storage {
    include!("sotto.storage.v1.rs");

    macro_rules! redacted_debug {
        ($($name:ident),* $(,)?) => {$(
            impl core::fmt::Debug for $name {
                fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    f.write_str(concat!(stringify!($name), " { <redacted> }"))
                }
            }
        )*};
    }

    redacted_debug!(
        SessionRecord,
        SessionState,
        ReceivingChain,
        SkippedKey,
        PendingPreKey,
        IdentityKeyPairRecord,
        SignedPreKeyRecord,
        OneTimePreKeyRecord,
        PeerIdentityRecord,
        StoreStateRecord,
    );
}
