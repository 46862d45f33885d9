//! Helpers shared by the end-to-end tests in `tests/` and the benchmarks in
//! `benches/`: running the `esreplay` binary and finding test data.

use std::path::{Path, PathBuf};

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
