//! Fuzz target `prekey_message`: see `sotto_fuzz::bodies::prekey_message`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::prekey_message(data));
