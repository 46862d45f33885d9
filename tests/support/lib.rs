//! Helpers shared by the end-to-end tests in `tests/` and the benchmarks in
//! `benches/`: running the `esreplay` binary and finding test data.

use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/data/`.
pub fn data(name: &str) -> PathBuf {
    root().join("tests").join("data").join(name)
}

/// A file under `traces/samples/`.
pub fn sample(name: &str) -> PathBuf {
    root().join("traces").join("samples").join(name)
}

/// The JSON a command printed, after checking that it succeeded (its
/// standard error is the failure message).
pub fn json_stdout<T: serde::de::DeserializeOwned>(output: &Output) -> T {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
