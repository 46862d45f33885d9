//! End-to-end tests of the replay commands: sim, compare, check, sweep,
//! their exit codes (0 ok, 1 gate failed, 2 bad input) and output formats.

use std::path::{Path, PathBuf};

use esreplay_tests::{data, esreplay, json_stdout, stdout_of, succeeded};
use esreplay_traces::{Action, EventType, Header, Message, TraceWriter};
use serde_json::Value;

/// (arrival, service, deadline) AUTH_OPENs with recorded service times.
fn write_trace(dir: &Path, name: &str, rows: &[(u64, Option<u64>, u64)]) -> PathBuf {
    let path = dir.join(name);
    let mut writer = TraceWriter::create(&path, &Header::default()).unwrap();
    for (index, &(arrival, service, deadline)) in rows.iter().enumerate() {
        let mut message = Message::new(index as u64, EventType::AUTH_OPEN, Action::Auth, arrival);
        message.deadline_ns = Some(deadline);
        message.service_ns = service;
        writer.write(&message).unwrap();
    }
    writer.finish().unwrap();
    path
}

/// Ten messages 100 us apart, 1 ms budget, 300 us of work each.
fn periodic(dir: &Path) -> PathBuf {
    let rows: Vec<_> = (0..10u64)
        .map(|i| (i * 100_000, Some(300_000), i * 100_000 + 1_000_000))
        .collect();
    write_trace(dir, "periodic.estrace", &rows)
}

fn json_of(args: &[&str], trace: &Path) -> Value {
    let output = esreplay()
        .args(args)
        .arg(trace)
        .arg("--json")
        .output()
        .unwrap();
    json_stdout(&output)
}

#[test]
fn sim_json_has_the_design_fields_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let trace = periodic(dir.path());
    let text = stdout_of(
        esreplay()
            .args(["sim", "--strategy", "inline", "--json"])
            .arg(&trace),
    );
    let result: Value = serde_json::from_str(&text).unwrap();
    let keys = [
        "strategy",
        "messages",
        "auth",
        "notify",
        "misses",
        "defaulted",
        "killed_at_ns",
        "first_miss",
        "latency_ns",
        "min_slack_ns",
        "max_backlog",
        "handler_utilization",
        "worker_utilization",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|key| text.find(&format!("\"{key}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    assert_eq!(result.as_object().unwrap().len(), keys.len());
    // Inline answers message i at 300 us · (i + 1); deadline 100 us · i + 1 ms.
    // Misses from i = 4 (1.5 ms > 1.4 ms): six of them, killed at 1.4 ms.
    assert_eq!(result["misses"], 6);
    assert_eq!(result["killed_at_ns"], 1_400_000);
    assert_eq!(result["first_miss"]["global_seq"], 4);
    assert_eq!(result["latency_ns"]["max"], 3_000_000 - 900_000);
    assert_eq!(result["worker_utilization"], Value::Null);
}

#[test]
fn compare_runs_in_parallel_and_matches_sim_in_the_order_asked() {
    let dir = tempfile::tempdir().unwrap();
    let trace = periodic(dir.path());
    let strategies = [
        "edf:2",
        "inline",
        "guard:200us:pool:2",
        "pool:4",
        "guard:20%:100us:500us:inline",
    ];
    let all = json_of(&["compare", "--strategies", &strategies.join(",")], &trace);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), strategies.len());
    for (result, strategy) in all.iter().zip(strategies) {
        assert_eq!(result["strategy"], strategy);
        assert_eq!(*result, json_of(&["sim", "--strategy", strategy], &trace));
    }
    let one = json_of(&["compare", "--strategies", "inline"], &trace);
    assert_eq!(
        one.as_array().map(Vec::len),
        Some(1),
        "compare --json is always an array"
    );
    let text = stdout_of(
        esreplay()
            .args(["compare", "--strategies", "inline,pool:4"])
            .arg(&trace),
    );
    assert!(
        text.starts_with("strategy") && text.lines().count() == 3,
        "{text}"
    );
}

#[test]
fn check_is_a_ci_gate() {
    let dir = tempfile::tempdir().unwrap();
    let trace = periodic(dir.path());
    esreplay()
        .args(["check", "--strategy", "pool:4", "--max-misses", "0"])
        .arg(&trace)
        .assert()
        .code(0);
    let killed = esreplay()
        .args(["check", "--strategy", "inline", "--max-misses", "10"])
        .arg(&trace)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&killed.get_output().stderr).into_owned();
    assert!(
        stderr.contains("killed at 1.40ms") && stderr.contains("global_seq 4"),
        "{stderr}"
    );
    let allow = [
        "check",
        "--strategy",
        "inline",
        "--miss-mode",
        "allow",
        "--max-misses",
    ];
    esreplay().args(allow).arg("6").arg(&trace).assert().code(0);
    esreplay().args(allow).arg("5").arg(&trace).assert().code(1);
}

#[test]
fn bad_input_exits_2_with_a_message_naming_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let trace = periodic(dir.path());
    let no_service = write_trace(
        dir.path(),
        "bare.estrace",
        &[(0, Some(5), 10), (1, None, 10)],
    );
    let cases: [(&[&str], &Path, &str); 5] = [
        (&["sim", "--strategy", "pool:0"], &trace, "--strategy"),
        (
            &["sim", "--strategy", "inline", "--cost", "gauss:1ms"],
            &trace,
            "--cost",
        ),
        (
            &["sim", "--strategy", "inline", "--handoff", "5"],
            &trace,
            "--handoff",
        ),
        (
            &["sim", "--strategy", "inline"],
            &no_service,
            "global_seq 1",
        ),
        (
            &["compare", "--strategies", "inline"],
            Path::new("-"),
            "give a file",
        ),
    ];
    for (args, path, needle) in cases {
        let assert = esreplay().args(args).arg(path).assert().code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    esreplay()
        .args(["sim", "--strategy", "inline"])
        .arg(dir.path().join("missing"))
        .assert()
        .code(2);
}

#[test]
fn sweep_reports_load_and_cost_headroom() {
    let dir = tempfile::tempdir().unwrap();
    let trace = periodic(dir.path());
    // pool:4 keeps up with 300 us jobs arriving 100 us apart... until the
    // gaps shrink; its cost headroom is above 1, inline's below.
    let pool = json_of(&["sweep", "--strategy", "pool:4"], &trace);
    assert_eq!(pool["strategy"], "pool:4");
    assert!(pool["load_factor"].as_f64().unwrap() > 1.0);
    assert!(pool["cost_factor"].as_f64().unwrap() > 1.0);
    let inline = json_of(&["sweep", "--strategy", "inline"], &trace);
    let load = inline["load_factor"].as_f64().unwrap();
    assert!(load < 1.0, "{inline}");
}

/// `sweep` keeps a trace read from a pipe in memory for its probes: it
/// must not read the pipe ahead for the trace's footer (a pipe is read
/// once), and gives what it gives for the file.
#[cfg(unix)]
#[test]
fn sweep_reads_a_trace_from_a_pipe_once() {
    let dir = tempfile::tempdir().unwrap();
    let trace = periodic(dir.path());
    let fifo = dir.path().join("trace.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success(), "mkfifo");
    let bytes = std::fs::read(&trace).unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, bytes))
    };
    // A sweep waiting for a second writer (it read the pipe twice) is
    // killed, and a writer still waiting for a reader (sweep never opened
    // the pipe) let go: the test fails instead of hanging.
    let output = esreplay()
        .args(["sweep", "--strategy", "pool:4", "--json"])
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    use std::os::unix::fs::OpenOptionsExt;
    let mut reader = std::fs::OpenOptions::new();
    let _reader = reader.read(true).custom_flags(libc::O_NONBLOCK).open(&fifo);
    writer.join().unwrap().unwrap();
    let piped: Value = json_stdout(&output);
    let file = json_of(&["sweep", "--strategy", "pool:4"], &trace);
    assert_eq!(piped, file);
    assert_eq!(piped["complete"], true, "{piped}");
}

#[test]
fn the_golden_trace_replays_deterministically() {
    let args = [
        "sim",
        "--strategy",
        "guard:1s:edf:2",
        "--cost",
        "exp:10us",
        "--seed",
        "3",
        "--json",
    ];
    let first = esreplay()
        .args(args)
        .arg(data("golden-v1.estrace"))
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let again = esreplay()
        .args(args)
        .arg(data("golden-v1.estrace"))
        .output()
        .unwrap();
    assert_eq!(first.stdout, again.stdout);
}

#[test]
fn a_margin_that_swallows_a_process_budget_is_warned_about() {
    // A critical binary with a 2 s budget under a fixed 5 s guard: Santa's
    // bug (google/santa #1094). The warning counts exactly the defaulted.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("critical.estrace");
    let critical = "/Applications/App3.app/Contents/MacOS/App";
    esreplay()
        .args(["gen", "steady", "--duration", "2s", "-o"])
        .arg(&trace)
        .arg("--budget-process")
        .arg(format!("{critical}=2s"))
        .assert()
        .success();
    let output = esreplay()
        .args(["sim", "--strategy", "guard:5s:pool:4", "--json"])
        .arg(&trace)
        .output()
        .unwrap();
    let result: Value = json_stdout(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warned: u64 = stderr
        .lines()
        .filter(|line| line.contains("guard margin 5.00s is not below the budget of"))
        .map(|line| {
            let count = line.split("budget of ").nth(1).unwrap();
            count.split(' ').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert!(warned > 0, "{stderr}");
    assert_eq!(result["defaulted"].as_u64(), Some(warned), "{stderr}");
    assert!(stderr.contains("(smallest 2.00s)"), "{stderr}");
    let quiet = esreplay()
        .args(["sim", "--strategy", "guard:1s:pool:4"])
        .arg(&trace)
        .output()
        .unwrap();
    succeeded(&quiet);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("guard margin"));
}

#[test]
fn sweep_says_when_no_factor_tried_misses() {
    let dir = tempfile::tempdir().unwrap();
    // One message, ample budget: no load or cost factor up to 2^20 misses.
    let trace = write_trace(
        dir.path(),
        "one.estrace",
        &[(0, Some(10), 1_000_000_000_000)],
    );
    let text = stdout_of(
        esreplay()
            .args(["sweep", "--strategy", "inline"])
            .arg(&trace),
    );
    assert!(
        text.contains("load headroom  no miss up to 2^20x"),
        "{text}"
    );
}
