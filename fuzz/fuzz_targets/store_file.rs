//! Fuzz target `store_file`: see `sotto_fuzz::bodies::store_file`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::store_file(data));
