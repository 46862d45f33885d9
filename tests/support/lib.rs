//! Helpers shared by the end-to-end tests in `tests/` and the benchmarks in
//! `benches/`: running the `esreplay` binary and finding test data.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The `esreplay` binary of this build.
pub fn esreplay() -> Command {
    Command::cargo_bin("esreplay").unwrap()
}

/// `esreplay export jsonl TRACE`: the JSON lines, after checking that the
/// export succeeded.
pub fn export_jsonl(trace: &Path) -> Vec<u8> {
    let output = esreplay()
        .args(["export", "jsonl"])
        .arg(trace)
        .output()
        .unwrap();
    succeeded(&output);
    output.stdout
}

/// `esreplay import jsonl - -o OUT` from `lines`, then exported again.
pub fn reimport_jsonl(lines: &[u8], out: &Path) -> Vec<u8> {
    esreplay()
        .args(["import", "jsonl", "-", "-o"])
        .arg(out)
        .write_stdin(lines.to_vec())
        .assert()
        .success();
    export_jsonl(out)
}

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
    succeeded(output);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs `command` and returns its standard output as text, after checking
/// that it succeeded.
pub fn stdout_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    succeeded(&output);
    String::from_utf8(output.stdout).unwrap()
}

/// Panics, with the command's standard error, unless it exited with 0.
pub fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "exit status {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Validates `file` with xmllint against the JUnit schema when xmllint is
/// installed (CI sets ESREPLAY_REQUIRE_XMLLINT=1 and installs it).
pub fn validate_junit(file: &Path) {
    let schema = root().join("tests/data/junit.xsd");
    match std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(file)
        .output()
    {
        Ok(output) => assert!(output.status.success(), "{output:?}"),
        Err(_) if std::env::var_os("ESREPLAY_REQUIRE_XMLLINT").is_none() => {
            eprintln!("xmllint not installed: JUnit schema validation skipped");
        }
        Err(error) => panic!("ESREPLAY_REQUIRE_XMLLINT is set but xmllint fails: {error}"),
    }
}
