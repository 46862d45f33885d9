//! Fuzz target `trace_reader`: see `esreplay_fuzz::trace_reader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| esreplay_fuzz::trace_reader(data));
