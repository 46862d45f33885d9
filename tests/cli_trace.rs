//! End-to-end tests of the trace commands: gen, import/export jsonl,
//! inspect, and every error path of reading a trace.

use std::fs;
use std::path::{Path, PathBuf};

use esreplay_tests::{data, esreplay, export_jsonl, json_stdout, reimport_jsonl};
use serde_json::Value;

fn gen_trace(dir: &Path, args: &[&str]) -> PathBuf {
    let path = dir.join(format!(
        "{}.estrace",
        args.join("_").replace(['/', ':'], "-")
    ));
    esreplay()
        .arg("gen")
        .args(args)
        .arg("-o")
        .arg(&path)
        .assert()
        .success();
    path
}

fn inspect_json(path: &Path) -> Value {
    let output = esreplay()
        .args(["inspect", "--json"])
        .arg(path)
        .output()
        .unwrap();
    json_stdout(&output)
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

#[test]
fn gen_is_deterministic_and_inspect_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["mixed", "--duration", "2s", "--seed", "7"];
    let first = fs::read(gen_trace(dir.path(), &args)).unwrap();
    let again = dir.path().join("again.estrace");
    esreplay()
        .arg("gen")
        .args(args)
        .arg("-o")
        .arg(&again)
        .assert()
        .success();
    assert_eq!(first, fs::read(&again).unwrap(), "same seed, same bytes");

    let report = inspect_json(&again);
    let stats = &report["stats"];
    let messages = stats["messages"].as_u64().unwrap();
    assert!(messages > 3_000, "{messages}");
    assert_eq!(
        stats["auth"].as_u64().unwrap() + stats["notify"].as_u64().unwrap(),
        messages
    );
    assert_eq!(report["footer"]["messages"].as_u64(), Some(messages));
    assert_eq!(report["header"]["meta"]["seed"], "7");
    let by_event: u64 = stats["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["auth"].as_u64().unwrap() + e["notify"].as_u64().unwrap())
        .sum();
    assert_eq!(by_event, messages);
}

#[test]
fn the_version_1_0_golden_trace_still_decodes_to_its_jsonl() {
    // Written by format 1.0; this build writes 1.1 and must keep reading it.
    let expected = fs::read_to_string(data("golden-v1.jsonl")).unwrap();
    let exported = esreplay()
        .args(["export", "jsonl"])
        .arg(data("golden-v1.estrace"))
        .output()
        .unwrap();
    assert!(exported.status.success());
    assert_eq!(String::from_utf8(exported.stdout).unwrap(), expected);
}

#[test]
fn the_golden_trace_decodes_to_its_jsonl_and_reencodes_to_the_same_bytes() {
    // A format change that alters these bytes must bump FORMAT_MAJOR/MINOR
    // and add a new golden file, keeping this one readable.
    let expected = fs::read_to_string(data("golden-v1.1.jsonl")).unwrap();
    let exported = esreplay()
        .args(["export", "jsonl"])
        .arg(data("golden-v1.1.estrace"))
        .output()
        .unwrap();
    assert!(exported.status.success());
    assert_eq!(String::from_utf8(exported.stdout).unwrap(), expected);

    let dir = tempfile::tempdir().unwrap();
    let reencoded = dir.path().join("golden.estrace");
    esreplay()
        .args(["import", "jsonl"])
        .arg(data("golden-v1.1.jsonl"))
        .arg("-o")
        .arg(&reencoded)
        .assert()
        .success();
    assert_eq!(
        fs::read(reencoded).unwrap(),
        fs::read(data("golden-v1.1.estrace")).unwrap()
    );
}

#[test]
fn gen_threads_service_times_and_a_cpu_track_show_in_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "thread-flood",
        "--threads",
        "4",
        "--duration",
        "1s",
        "--background-load",
        "hog:3:100ms:100ms",
        "--cpus",
        "2",
    ];
    let trace = gen_trace(dir.path(), &args);
    let assert = esreplay()
        .args(["inspect", "--json"])
        .arg(&trace)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(report["read"]["complete"], true);
    assert_eq!(report["read"]["version"], "1.1");
    assert_eq!(report["header"]["cpu_count"], 2);
    let track = &report["cpu_track"];
    assert_eq!(
        (track["samples"].as_u64(), track["period_ns"].as_u64()),
        (Some(100), Some(10_000_000))
    );
    assert_eq!(
        (track["min"].as_u64(), track["max"].as_u64()),
        (Some(0), Some(3))
    );
    assert!(report["stats"]["service"]["count"].as_u64().unwrap() > 0);
    let lines = export_jsonl(&trace);
    let lines = String::from_utf8(lines).unwrap();
    assert!(lines.lines().all(|line| line.contains("\"thread_id\"")));
    let keys: std::collections::BTreeSet<(u64, u64)> = lines
        .lines()
        .map(|line| {
            let m: Value = serde_json::from_str(line).unwrap();
            let tid = m["details"]["thread_id"].as_u64().unwrap();
            (m["pid"].as_u64().unwrap(), tid)
        })
        .collect();
    let threads = &report["threads"];
    assert_eq!(threads["threads"], keys.len());
    assert_eq!(threads["messages"], report["stats"]["messages"]);
    assert_eq!(
        threads["clamped"], 0,
        "gen's threads never overlap an answer"
    );

    let bare = gen_trace(dir.path(), &["steady", "--duration", "1s", "--no-service"]);
    let assert = esreplay()
        .args(["inspect", "--json"])
        .arg(&bare)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert!(report["stats"]["service"].is_null());
    assert!(report["cpu_track"].is_null());
    esreplay()
        .args(["gen", "steady", "--threads", "8", "-o"])
        .arg(dir.path().join("x.estrace"))
        .assert()
        .code(2);
}

#[test]
fn inspect_counts_messages_arriving_before_their_threads_answer() {
    let dir = tempfile::tempdir().unwrap();
    // Thread 9 of pid 5: answered at 50 µs; its next message at 40 µs
    // breaks the closed loop's inequality, the one at 60 µs does not.
    let message = |seq: u64, arrival_us: u64, response: &str| {
        format!(
            r#"{{"global_seq":{seq},"seq":{seq},"event":"AUTH_OPEN","action":"auth","arrival_ns":{},"deadline_ns":{},"pid":5,"details":{{"thread_id":9{response}}}}}"#,
            arrival_us * 1000,
            arrival_us * 1000 + 15_000_000_000
        ) + "\n"
    };
    let lines = message(0, 10, r#","response_ns":50000"#)
        + &message(1, 40, r#","response_ns":45000"#)
        + &message(2, 60, "");
    let trace = dir.path().join("overlap.estrace");
    reimport_jsonl(lines.as_bytes(), &trace);
    let report = inspect_json(&trace);
    assert_eq!(report["threads"]["threads"], 1);
    assert_eq!(report["threads"]["messages"], 3);
    assert_eq!(report["threads"]["clamped"], 1);
    let text = esreplay().arg("inspect").arg(&trace).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("threads     1 (3 messages); 1 arrive before"),
        "{text}"
    );
}

#[test]
fn jsonl_round_trips_through_a_trace_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(
        dir.path(),
        &["burst", "--duration", "3s", "--service", "exp:50us"],
    );
    let lines = export_jsonl(&trace);
    assert_eq!(
        reimport_jsonl(&lines, &dir.path().join("back.estrace")),
        lines
    );
}

#[test]
fn a_truncated_trace_yields_its_complete_chunks_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), &["steady", "--duration", "5s"]);
    let bytes = fs::read(&trace).unwrap();
    let cut = dir.path().join("cut.estrace");
    fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let assert = esreplay()
        .args(["inspect", "--json"])
        .arg(&cut)
        .assert()
        .success();
    let stderr = stderr_of(&assert);
    assert!(
        stderr.contains("footer missing") && stderr.contains("bytes"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    let read = report["stats"]["messages"].as_u64().unwrap();
    assert!(
        read > 0 && read.is_multiple_of(4096),
        "whole chunks only: {read}"
    );
    assert!(report["footer"].is_null());
    assert!(report["read"]["truncated_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_corrupt_chunk_is_an_error_naming_it_and_salvage_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), &["steady", "--duration", "5s", "--no-paths"]);
    let mut bytes = fs::read(&trace).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    let bad = dir.path().join("bad.estrace");
    fs::write(&bad, &bytes).unwrap();

    let assert = esreplay().arg("inspect").arg(&bad).assert().code(2);
    let stderr = stderr_of(&assert);
    assert!(
        stderr.contains("corrupt chunk") && stderr.contains("byte offset"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let assert = esreplay()
        .args(["inspect", "--json", "--salvage"])
        .arg(&bad)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(report["read"]["skipped_chunks"], 1);
    assert!(stderr_of(&assert).contains("1 corrupt chunks skipped"));
}

/// `sim`, `check` and `sweep` decode ahead on a thread of their own: a
/// cut trace still yields every complete chunk and its loss, a damaged
/// one is still one line naming the file, the chunk and its offset.
#[test]
fn simulations_read_ahead_and_report_damage_and_losses_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), &["steady", "--duration", "5s", "--no-paths"]);
    let bytes = fs::read(&trace).unwrap();
    let cut = dir.path().join("cut.estrace");
    fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let read = inspect_json(&cut)["stats"]["messages"].clone();
    let run = |command: &str, trace: &Path| {
        esreplay()
            .args([command, "--strategy", "pool:2"])
            .arg(trace)
            .assert()
    };
    let sim = run("sim", &cut).success();
    assert!(
        stderr_of(&sim).contains("footer missing"),
        "{}",
        stderr_of(&sim)
    );
    let sim = esreplay()
        .args(["sim", "--json", "--strategy", "pool:2"])
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(
        json_stdout::<Value>(&sim)["messages"],
        read,
        "every complete chunk"
    );
    for refuses in ["check", "sweep"] {
        let assert = run(refuses, &cut).code(2);
        assert!(stderr_of(&assert).contains("incomplete"), "{refuses}");
    }
    let mut damaged = bytes;
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x10;
    let bad = dir.path().join("bad.estrace");
    fs::write(&bad, &damaged).unwrap();
    for command in ["sim", "check", "sweep"] {
        let assert = run(command, &bad).code(2);
        let stderr = stderr_of(&assert);
        assert!(
            stderr.contains("bad.estrace: corrupt chunk") && stderr.contains("byte offset"),
            "{command}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{command}: {stderr}");
        assert!(assert.get_output().stdout.is_empty(), "{command}");
    }
}

#[test]
fn bad_files_are_one_line_errors_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let golden = fs::read(data("golden-v1.estrace")).unwrap();
    let mut future = golden.clone();
    future[8] = 2;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("empty", Vec::new(), "empty file"),
        ("text", b"{\"not\": \"a trace\"}\n".to_vec(), "bad magic"),
        ("future", future, "unsupported trace format version 2.0"),
        ("stub", golden[..20].to_vec(), "ends inside its header"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        let assert = esreplay().arg("inspect").arg(&path).assert().code(2);
        let stderr = stderr_of(&assert);
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
    }
    esreplay()
        .arg("inspect")
        .arg(dir.path().join("missing"))
        .assert()
        .code(2);
}

#[test]
fn bad_arguments_and_bad_jsonl_exit_2_naming_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.estrace");
    for (args, expected) in [
        (vec!["gen", "steady", "--duration", "ten"], "--duration"),
        (
            vec!["gen", "steady", "--service", "uniform:1s"],
            "--service",
        ),
        (
            vec!["gen", "steady", "--budget", "AUTH_NOPE=1s"],
            "AUTH_NOPE",
        ),
        (vec!["gen", "steady", "--rate=-5"], "--rate"),
        (vec!["gen", "steady", "--rate", "0"], "--rate"),
    ] {
        let assert = esreplay().args(args).arg("-o").arg(&out).assert().code(2);
        assert!(
            stderr_of(&assert).contains(expected),
            "{expected}: {}",
            stderr_of(&assert)
        );
    }
    let jsonl = dir.path().join("bad.jsonl");
    fs::write(&jsonl, "{\"global_seq\":0,\"seq\":0,\"event\":\"AUTH_OPEN\",\"action\":\"auth\",\"arrival_ns\":1}\nnope\n").unwrap();
    let assert = esreplay()
        .args(["import", "jsonl"])
        .arg(&jsonl)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2);
    assert!(
        stderr_of(&assert).contains("line 2"),
        "{}",
        stderr_of(&assert)
    );
}

#[test]
fn inspect_percentiles_never_exceed_the_max() {
    // A critical binary's 2 s budgets among 15 s and 60 s ones: every
    // percentile is a nearest-rank value within 1/1024 below, never above
    // the max (hdrhistogram once printed a p50 of 60 028 878 847 ns for
    // budgets of 60 s at most).
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("critical.estrace");
    esreplay()
        .args(["gen", "steady", "--duration", "2s", "-o"])
        .arg(&trace)
        .args([
            "--budget-process",
            "/Applications/App3.app/Contents/MacOS/App=2s",
        ])
        .assert()
        .success();
    let stats = &inspect_json(&trace)["stats"];
    for event in stats["events"].as_array().unwrap() {
        let budget = &event["budget"];
        let field = |name: &str| budget[name].as_u64().unwrap();
        for percentile in [field("p50_ns"), field("p99_ns")] {
            assert!(
                field("min_ns") <= percentile && percentile <= field("max_ns"),
                "{event}"
            );
        }
        assert_eq!(field("min_ns"), 2_000_000_000, "{event}");
    }
    let exec = stats["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "AUTH_EXEC")
        .unwrap();
    // Most AUTH_EXECs have 60 s: the median is 60 s to within 1/1024 below.
    let p50 = exec["budget"]["p50_ns"].as_u64().unwrap();
    assert!(
        (60_000_000_000 - 60_000_000_000 / 1024..=60_000_000_000).contains(&p50),
        "{exec}"
    );
}
