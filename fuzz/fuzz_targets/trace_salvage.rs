//! Fuzz target `trace_salvage`: see `esreplay_fuzz::trace_salvage`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| esreplay_fuzz::trace_salvage(data));
