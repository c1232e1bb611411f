//! Fuzz target `sframe_header`: see `sotto_fuzz::bodies::sframe_header`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::sframe_header(data));
