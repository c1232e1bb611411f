//! Fuzz target `two_parties`: see `sotto_fuzz::bodies::two_parties`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::two_parties(data));
