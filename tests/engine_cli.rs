//! End-to-end tests of the machine flags: closed replay, the kernel queue,
//! the CPU, the machine file, and check's bypass and stall gates.

use std::path::{Path, PathBuf};

use esreplay_tests::{esreplay, json_stdout};
use esreplay_traces::{Action, EventType, Header, Message, TraceWriter};
use serde_json::Value;

/// 20 AUTH_OPENs 1 µs apart from one thread, 10 µs of work, 50 µs budget.
fn flood(dir: &Path) -> PathBuf {
    let path = dir.join("flood.estrace");
    let mut writer = TraceWriter::create(&path, &Header::default()).unwrap();
    for i in 0..20u64 {
        let mut message = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * 1_000);
        message.deadline_ns = Some(i * 1_000 + 50_000);
        message.service_ns = Some(10_000);
        message.pid = Some(42);
        message.thread_id = Some(7);
        writer.write(&message).unwrap();
    }
    writer.finish().unwrap();
    path
}

fn sim(trace: &Path, flags: &[&str]) -> Value {
    let output = esreplay()
        .args(["sim", "--strategy", "inline", "--json"])
        .args(flags)
        .arg(trace)
        .output()
        .unwrap();
    json_stdout(&output)
}

#[test]
fn a_trace_with_threads_replays_closed_by_default_and_open_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let trace = flood(dir.path());
    let closed = sim(&trace, &[]);
    assert_eq!(closed["replay"], "closed");
    assert_eq!(
        (closed["misses"].as_u64(), closed["max_backlog"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(closed["stall_ns"].as_u64(), Some(20 * 10_000));
    let open = sim(&trace, &["--replay", "open"]);
    assert!(
        open.get("replay").is_none() && open.get("stall_ns").is_none(),
        "{open}"
    );
    assert!(open["misses"].as_u64().unwrap() > 0);
}

#[test]
fn the_machine_file_sets_the_costs_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let trace = flood(dir.path());
    let machine = dir.path().join("machine.toml");
    std::fs::write(&machine, "cores = 0.5\nresponse_latency = \"1us\"\n").unwrap();
    let path = machine.to_str().unwrap();
    let slow = sim(&trace, &["--machine", path]);
    assert_eq!(
        (slow["cores"].as_f64(), slow["cpu_rate"].as_f64()),
        (Some(0.5), Some(0.5))
    );
    // Half a core: 20 µs per message, plus ρ.
    assert_eq!(slow["stall_ns"].as_u64(), Some(20 * 21_000));
    let fast = sim(
        &trace,
        &[
            "--machine",
            path,
            "--cores",
            "1",
            "--response-latency",
            "0ns",
        ],
    );
    assert_eq!(fast["stall_ns"].as_u64(), Some(20 * 10_000));
    std::fs::write(&machine, "cores = 1\nhandof = \"1us\"\n").unwrap();
    let output = esreplay()
        .args(["sim", "--strategy", "inline", "--machine", path])
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("handof"));
}

#[test]
fn cpu_sharing_per_core_by_default_fluid_on_request_and_a_bad_value_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let trace = flood(dir.path());
    // Inline beside two background threads on two cores: per core, the
    // handler shares a core with one of them (1/2); fluid, 2/3.
    let flags = ["--cores", "2", "--background", "2", "--replay", "open"];
    let per_core = sim(&trace, &flags);
    let fluid = sim(&trace, &[&flags[..], &["--cpu-sharing", "fluid"]].concat());
    let rate = |result: &Value| result["cpu_rate"].as_f64().unwrap();
    assert!((rate(&per_core) - 0.5).abs() < 1e-9, "{per_core}");
    assert!((rate(&fluid) - 2.0 / 3.0).abs() < 1e-9, "{fluid}");
    let machine = dir.path().join("machine.toml");
    std::fs::write(
        &machine,
        "cores = 2\nbackground = 2\ncpu_sharing = \"fluid\"\n",
    )
    .unwrap();
    let path = machine.to_str().unwrap();
    let from_file = sim(&trace, &["--machine", path, "--replay", "open"]);
    assert_eq!(from_file["cpu_rate"], fluid["cpu_rate"]);
    let output = esreplay()
        .args([
            "sim",
            "--strategy",
            "inline",
            "--cores",
            "2",
            "--cpu-sharing",
            "fair",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--cpu-sharing"));
}

#[test]
fn check_gates_drops_and_stall() {
    let dir = tempfile::tempdir().unwrap();
    let trace = flood(dir.path());
    let check = |flags: &[&str]| {
        esreplay()
            .args(["check", "--strategy", "inline", "--max-misses", "0"])
            .args(flags)
            .arg(&trace)
            .output()
            .unwrap()
    };
    let bypass = check(&[
        "--replay",
        "open",
        "--kernel-queue",
        "2",
        "--max-dropped",
        "0",
    ]);
    assert_eq!(bypass.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bypass.stderr).contains("dropped"),
        "{bypass:?}"
    );
    assert_eq!(check(&["--max-stall", "1ms"]).status.code(), Some(0));
    let stalled = check(&["--max-stall", "100us"]);
    assert_eq!(stalled.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stalled.stderr).contains("stalled"));
    assert_eq!(
        check(&["--max-dropped", "0"]).status.code(),
        Some(2),
        "needs a queue"
    );
    assert_eq!(
        check(&["--replay", "open", "--max-stall", "1s"])
            .status
            .code(),
        Some(2)
    );
}
