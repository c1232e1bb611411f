//! Fuzz target `sframe_frame`: see `sotto_fuzz::bodies::sframe_frame`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::sframe_frame(data));
