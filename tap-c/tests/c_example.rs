//! The C example (`examples/c/tap_example.c`) compiled with the system C
//! compiler, linked against the static library, run, and its trace
//! replayed by `esreplay sim --strategy inline --cost trace`.
//!
//! Needs a C compiler (`$CC`, else `cc`) and the `esreplay` binary built in
//! the same target directory (`cargo test --workspace` builds it).

use esreplay_traces::{EventType, TraceReader};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>`: the test binary lives in its `deps/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_owned()
}

/// A built artifact of this target directory, or a panic saying how to
/// build it.
fn artifact(name: &str, build: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `{build}` first",
        path.display()
    );
    path
}

/// Builds the static library: `cargo test` builds only the rlib of this
/// crate (cargo has released its lock once tests run).
fn static_library() -> PathBuf {
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "-p", "esreplay-tap-c", "--lib"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build.status().expect("running cargo");
    assert!(
        status.success(),
        "cargo build -p esreplay-tap-c --lib failed"
    );
    artifact("libesreplay_tap.a", "cargo build -p esreplay-tap-c")
}

fn compile(dir: &Path) -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let library = static_library();
    let exe = dir.join("tap_example");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("examples/c/tap_example.c"))
        .arg(&library)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("running the C compiler {cc:?}: {e}"));
    assert!(
        output.status.success(),
        "{cc} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

#[test]
fn c_example_records_a_trace_that_replays_with_recorded_costs() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path());
    let trace = dir.path().join("c.esr");
    let output = Command::new(&exe).arg(&trace).arg("400").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("400 messages, 0 dropped"), "{stdout}");

    let mut reader = TraceReader::open(&trace).unwrap();
    assert_eq!(reader.header().tool, "esreplay-tap-c");
    let messages: Vec<_> = reader.by_ref().map(Result::unwrap).collect();
    let seqs: Vec<u64> = messages.iter().map(|m| m.global_seq).collect();
    assert_eq!(seqs, (0..400).collect::<Vec<_>>(), "kernel order");
    for m in &messages {
        assert_eq!(m.event, EventType::AUTH_OPEN);
        assert!(m.service_ns.is_some() && m.received_ns >= Some(m.arrival_ns));
        let details = m.details.as_deref().unwrap();
        assert_eq!(details.verdict, Some(0));
        assert!(m.response_ns >= m.received_ns);
        assert!(details.handler_exit_ns >= m.response_ns);
    }
    // Every fourth message went through the worker's 200 µs of work.
    assert!(messages[0].service_ns.unwrap() >= 200_000);
    assert!(reader.footer().is_some_and(|f| f.dropped == 0));

    let esreplay = artifact("esreplay", "cargo build --workspace --bins");
    let sim = Command::new(esreplay)
        .arg("sim")
        .arg(&trace)
        .args(["--strategy", "inline", "--cost", "trace", "--json"])
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let result = String::from_utf8_lossy(&sim.stdout);
    assert!(
        result.contains("\"messages\": 400") || result.contains("\"messages\":400"),
        "{result}"
    );
}
