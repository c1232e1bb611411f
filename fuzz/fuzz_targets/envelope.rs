//! Fuzz target `envelope`: see `sotto_fuzz::bodies::envelope`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::envelope(data));
