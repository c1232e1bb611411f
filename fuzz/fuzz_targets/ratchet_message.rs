//! Fuzz target `ratchet_message`: see `sotto_fuzz::bodies::ratchet_message`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::ratchet_message(data));
