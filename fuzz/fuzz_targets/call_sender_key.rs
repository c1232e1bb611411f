//! Fuzz target `call_sender_key`: see `sotto_fuzz::bodies::call_sender_key`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::call_sender_key(data));
