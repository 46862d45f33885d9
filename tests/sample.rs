//! The bundled sample trace: it is what its documented command generates,
//! and the README's main command shows what the README says it shows.

use assert_cmd::Command;
use esreplay_tests::{json_stdout, sample};
use esreplay_traces::{Message, TraceReader};
use serde_json::Value;

#[test]
fn the_sample_is_what_its_command_generates() {
    let dir = tempfile::tempdir().unwrap();
    let regenerated = dir.path().join("flood.estrace");
    Command::cargo_bin("esreplay")
        .unwrap()
        .args(["gen", "flood", "--service", "lognormal:40us:2ms", "-o"])
        .arg(&regenerated)
        .assert()
        .success();
    // Same header and messages: the sample may be in an older minor
    // version of the format than `gen` writes today.
    let read = |path: &std::path::Path| {
        let mut reader = TraceReader::open(path).unwrap();
        let messages: Vec<Message> = reader.by_ref().map(Result::unwrap).collect();
        assert!(reader.summary().is_intact(), "{}", path.display());
        (reader.header().clone(), messages)
    };
    assert!(
        read(&regenerated) == read(&sample("flood.estrace")),
        "traces/samples/flood.estrace is stale: regenerate it with the README's command"
    );
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
