//! Fuzz target `call_answer`: see `sotto_fuzz::bodies::call_answer`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::bodies::call_answer(data));
