//! The Rust code generated from `proto/*.proto` is checked in (so that users
//! need no `protoc`); this test regenerates it with a pure-Rust protobuf
//! compiler and fails if the checked-in copy is stale.
//!
//! To update the checked-in code after editing a `.proto` file:
//! `SOTTO_REGENERATE_PROTO=1 cargo test --test proto_generated`.

#![allow(clippy::expect_used, reason = "a failure here is the test failing")]

use std::path::{Path, PathBuf};

const PROTO_FILES: [&str; 2] = ["wire.proto", "storage.proto"];
const SECRET: &str = "#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]";
const GENERATED: [&str; 2] = ["sotto.wire.v1.rs", "sotto.storage.v1.rs"];

fn generate(out_dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let descriptors =
        protox::compile(PROTO_FILES, [root.join("proto")]).expect("the .proto files compile");
    prost_build::Config::new()
        .out_dir(out_dir)
        // Stored records hold secrets: wipe them when a decoded record drops.
        // (PendingPreKey and PeerIdentityRecord hold none.)
        .type_attribute(".sotto.storage.v1.PendingPreKey", "#[derive(zeroize::Zeroize)]")
        .type_attribute(".sotto.storage.v1.SessionRecord", SECRET)
        .type_attribute(".sotto.storage.v1.SessionState", SECRET)
        .type_attribute(".sotto.storage.v1.ReceivingChain", SECRET)
        .type_attribute(".sotto.storage.v1.SkippedKey", SECRET)
        .type_attribute(".sotto.storage.v1.IdentityKeyPairRecord", SECRET)
        .type_attribute(".sotto.storage.v1.SignedPreKeyRecord", SECRET)
        .type_attribute(".sotto.storage.v1.OneTimePreKeyRecord", SECRET)
        .type_attribute(".sotto.storage.v1.KemPreKeyRecord", SECRET)
        // ...and never print them: src/proto/mod.rs writes a redacted Debug.
        .skip_debug([".sotto.storage.v1", ".sotto.wire.v1.CallSenderKey"])
        // A group call's sender key message carries a secret too.
        .type_attribute(".sotto.wire.v1.CallSenderKey", SECRET)
        .compile_fds(descriptors)
        .expect("prost generates code");
}

#[test]
fn generated_code_is_current() {
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/proto");
    let fresh: PathBuf = std::env::temp_dir().join(format!("sotto-proto-{}", std::process::id()));
    std::fs::create_dir_all(&fresh).unwrap();
    generate(&fresh);
    let regenerate = std::env::var_os("SOTTO_REGENERATE_PROTO").is_some();
    for name in GENERATED {
        let new = std::fs::read_to_string(fresh.join(name)).unwrap();
        if regenerate {
            std::fs::write(checked_in.join(name), &new).unwrap();
            continue;
        }
        let old = std::fs::read_to_string(checked_in.join(name)).unwrap_or_default();
        assert!(
            old == new,
            "src/proto/{name} is stale: run `SOTTO_REGENERATE_PROTO=1 cargo test --test proto_generated`"
        );
    }
    std::fs::remove_dir_all(&fresh).unwrap();
}
