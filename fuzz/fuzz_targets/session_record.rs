//! Fuzz target `session_record`: see `sotto_fuzz::bodies::session_record`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::session_record(data));
