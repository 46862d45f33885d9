//! The bundled sample trace: it is what its documented command generates,
//! and the README's main command shows what the README says it shows.

use assert_cmd::Command;
use esreplay_tests::{json_stdout, sample};
use esreplay_traces::{Message, TraceReader};
use serde_json::Value;

/// Regenerates `traces/samples/NAME` with `gen ARGS` and checks it holds
/// the same header and messages (the sample may be in an older minor
/// version of the format than `gen` writes today).
fn assert_sample_is_generated_by(name: &str, gen_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let regenerated = dir.path().join(name);
    Command::cargo_bin("esreplay")
        .unwrap()
        .arg("gen")
        .args(gen_args)
        .arg("-o")
        .arg(&regenerated)
        .assert()
        .success();
    let read = |path: &std::path::Path| {
        let mut reader = TraceReader::open(path).unwrap();
        let messages: Vec<Message> = reader.by_ref().map(Result::unwrap).collect();
        assert!(reader.summary().is_intact(), "{}", path.display());
        (reader.header().clone(), messages)
    };
    assert!(
        read(&regenerated) == read(&sample(name)),
        "traces/samples/{name} is stale: regenerate it with the README's command"
    );
}

#[test]
fn the_samples_are_what_their_commands_generate() {
    assert_sample_is_generated_by(
        "flood.estrace",
        &["flood", "--service", "lognormal:40us:2ms"],
    );
    assert_sample_is_generated_by(
        "thread-flood.estrace",
        &["thread-flood", "--threads", "4096"],
    );
}

/// `compare` on a sample with `--json`, one result per strategy.
fn compare(name: &str, strategies: &str, extra: &[&str]) -> Vec<Value> {
    let output = Command::cargo_bin("esreplay")
        .unwrap()
        .arg("compare")
        .arg(sample(name))
        .args(["--strategies", strategies, "--json"])
        .args(extra)
        .output()
        .unwrap();
    json_stdout(&output)
}

#[test]
fn a_threaded_flood_slows_its_threads_down_or_bypasses_a_full_queue_but_kills_only_open_loop() {
    let closed = compare("thread-flood.estrace", "inline,pool:4", &[]);
    for result in &closed {
        assert_eq!(result["replay"], "closed", "{result}");
        assert_eq!(result["misses"], 0, "{result}");
    }
    let stall = |r: &Value| r["stall_ns"].as_u64().unwrap();
    assert!(stall(&closed[0]) > 10 * stall(&closed[1]));

    let queued = compare(
        "thread-flood.estrace",
        "inline,pool:4",
        &["--kernel-queue", "1024"],
    );
    assert!(queued[0]["dropped_allowed"].as_u64().unwrap() > 0);
    assert_eq!(queued[0]["dropped"], queued[0]["dropped_allowed"]);
    assert_eq!(queued[1]["dropped"], 0);

    let open = compare(
        "thread-flood.estrace",
        "inline,pool:4",
        &["--replay", "open"],
    );
    assert!(open[0]["killed_at_ns"].as_u64().is_some());
    assert_eq!(open[1]["misses"], 0);
}

#[test]
fn on_the_sample_inline_is_killed_and_a_pool_of_four_survives() {
    let output = Command::cargo_bin("esreplay")
        .unwrap()
        .arg("compare")
        .arg(sample("flood.estrace"))
        .args([
            "--strategies",
            "inline,pool:4,edf:2,guard:500ms:pool:4",
            "--json",
        ])
        .output()
        .unwrap();
    let results: Vec<Value> = json_stdout(&output);
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["inline", "pool:4", "edf:2", "guard:500ms:pool:4"]);
    assert!(results[0]["killed_at_ns"].as_u64().is_some());
    assert!(results[0]["misses"].as_u64().unwrap() > 0);
    for survivor in &results[1..] {
        assert_eq!(survivor["misses"], 0, "{survivor}");
        assert!(survivor["killed_at_ns"].is_null());
    }
}

/// The README's "Cores" line: sharing two cores with two busy threads
/// slows inline down, more when its thread shares a core with one of
/// them (per core, the default) than under fair sharing (per core is
/// never faster than fluid).
#[test]
fn on_the_sample_the_cpu_model_slows_inline_most_per_core() {
    let p50 = |extra: &[&str]| -> u64 {
        let results = compare("thread-flood.estrace", "inline", extra);
        results[0]["latency_ns"]["p50"].as_u64().unwrap()
    };
    let cpu = ["--cores", "2", "--background", "2"];
    let alone = p50(&[]);
    let fluid = p50(&[&cpu[..], &["--cpu-sharing", "fluid"]].concat());
    let per_core = p50(&cpu);
    assert!(alone < fluid, "{alone} < {fluid}");
    assert!(fluid < per_core, "{fluid} < {per_core}");
}
