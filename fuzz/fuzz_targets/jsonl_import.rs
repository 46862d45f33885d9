//! Fuzz target `jsonl_import`: see `esreplay_fuzz::jsonl_import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| esreplay_fuzz::jsonl_import(data));
