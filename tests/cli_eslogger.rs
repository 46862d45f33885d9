//! End-to-end tests of `esreplay import eslogger`.

use std::fs;
use std::path::PathBuf;

use esreplay_tests::{esreplay, export_jsonl, json_stdout, reimport_jsonl, root};

fn fixture(name: &str) -> PathBuf {
    root().join("eslogger/tests/fixtures").join(name)
}

#[test]
fn file_and_stdin_give_the_same_trace_and_it_round_trips_through_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("file.estrace");
    let from_stdin = dir.path().join("stdin.estrace");
    let input = fixture("v10_mixed.jsonl");
    let assert = esreplay()
        .args(["import", "eslogger"])
        .arg(&input)
        .arg("-o")
        .arg(&from_file)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("12 messages") && stderr.contains("timebase 125/3"),
        "{stderr}"
    );
    esreplay()
        .args(["import", "eslogger", "-", "-o"])
        .arg(&from_stdin)
        .write_stdin(fs::read(&input).unwrap())
        .assert()
        .success();
    let lines = export_jsonl(&from_file);
    assert_eq!(
        lines,
        export_jsonl(&from_stdin),
        "same messages from a file and from stdin"
    );
    assert_eq!(String::from_utf8_lossy(&lines).lines().count(), 12);
    assert_eq!(
        reimport_jsonl(&lines, &dir.path().join("back.estrace")),
        lines
    );
}

#[test]
fn as_auth_gives_a_trace_the_simulator_can_judge() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("whatif.estrace");
    esreplay()
        .args(["import", "eslogger"])
        .arg(fixture("v9_intel.jsonl"))
        .args(["--as-auth", "OPEN", "--budget", "AUTH_OPEN=1ms", "-o"])
        .arg(&trace)
        .assert()
        .success();
    // 20 opens 2 ms apart, 1 ms budgets: 1.5 ms of work each misses every one inline.
    let output = esreplay()
        .arg("sim")
        .arg(&trace)
        .args(["--strategy", "inline", "--cost", "const:1500us", "--json"])
        .output()
        .unwrap();
    let result: serde_json::Value = json_stdout(&output);
    assert_eq!(result["auth"], 20);
    assert_eq!(result["misses"], 20);
}

#[test]
fn strict_fails_at_the_first_bad_line_and_bad_options_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.estrace");
    let assert = esreplay()
        .args(["import", "eslogger", "--strict"])
        .arg(fixture("malformed.jsonl"))
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("line 2"), "{stderr}");

    let assert = esreplay()
        .args(["import", "eslogger"])
        .arg(fixture("malformed.jsonl"))
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("skipped, malformed: 6 (lines 2, 5, 7, 8, 9, 10)"),
        "{stderr}"
    );

    for (flag, value) in [
        ("--timebase", "fast"),
        ("--as-auth", "FORK"),
        ("--budget", "AUTH_OPEN"),
    ] {
        esreplay()
            .args(["import", "eslogger"])
            .arg(fixture("v9_intel.jsonl"))
            .args([flag, value, "-o"])
            .arg(&out)
            .assert()
            .code(2);
    }
}
