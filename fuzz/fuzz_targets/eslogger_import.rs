//! Fuzz target `eslogger_import`: see `esreplay_fuzz::eslogger_import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| esreplay_fuzz::eslogger_import(data));
