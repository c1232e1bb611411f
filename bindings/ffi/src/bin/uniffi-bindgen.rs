//! The uniffi generator, built from the same uniffi version as the library:
//! `cargo run -p sotto-ffi --bin uniffi-bindgen -- generate --library <cdylib> ...`
//! (`bindings/generate.sh` runs it for every language).

fn main() {
    uniffi::uniffi_bindgen_main()
}
