//! Fuzz target `call_offer`: see `sotto_fuzz::bodies::call_offer`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::call_offer(data));
