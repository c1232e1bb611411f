//! Fuzz target `group_frame`: see `sotto_fuzz::bodies::group_frame`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::group_frame(data));
