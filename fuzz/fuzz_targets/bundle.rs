//! Fuzz target `bundle`: see `sotto_fuzz::bodies::bundle`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::bundle(data));
