//! End-to-end tests of the ES cache and mute flags (`--mute`,
//! `--mute-invert`, `--es-cache`, `--es-cache-size`), the cache sweep and
//! the cache scenarios of `gen`.

use std::path::{Path, PathBuf};

use esreplay_tests::{esreplay, json_stdout, sample};
use serde_json::Value;

fn flood() -> PathBuf {
    sample("flood.estrace")
}

fn sim_json(trace: &Path, extra: &[&str]) -> Value {
    sim_json_of(trace, "inline", extra)
}

fn sim_json_of(trace: &Path, strategy: &str, extra: &[&str]) -> Value {
    let output = esreplay()
        .args(["sim", "--strategy", strategy, "--json"])
        .args(extra)
        .arg(trace)
        .output()
        .unwrap();
    json_stdout(&output)
}

#[test]
fn without_the_flags_results_have_no_cached_or_muted_keys() {
    let plain = sim_json(&flood(), &[]);
    let object = plain.as_object().unwrap();
    assert!(!object.contains_key("cached") && !object.contains_key("muted"));
    let keys: Vec<&String> = object.keys().collect();
    assert_eq!(keys.last().unwrap().as_str(), "worker_utilization");
    // A cache of size 0 is off: the same bytes as without it.
    let off = esreplay()
        .args([
            "sim",
            "--strategy",
            "inline",
            "--json",
            "--es-cache",
            "AUTH_OPEN",
        ])
        .args(["--es-cache-size", "0"])
        .arg(flood())
        .output()
        .unwrap();
    let plain_bytes = esreplay()
        .args(["sim", "--strategy", "inline", "--json"])
        .arg(flood())
        .output()
        .unwrap();
    assert_eq!(off.stdout, plain_bytes.stdout);
}

#[test]
fn the_cache_absorbs_the_flood_and_a_mute_removes_the_flooder() {
    let plain = sim_json(&flood(), &[]);
    let cached = sim_json(&flood(), &["--es-cache", "AUTH_OPEN"]);
    assert!(plain["misses"].as_u64().unwrap() > 0);
    assert_eq!(cached["misses"], 0);
    assert_eq!(
        cached["messages"], plain["messages"],
        "cached stay in messages"
    );
    assert!(cached["cached"].as_u64().unwrap() > 150_000);
    assert_eq!(cached["muted"], 0);
    assert_eq!(cached["latency_ns"]["p50"], 0);
    let muted = sim_json(
        &flood(),
        &["--mute", "process-literal:/private/tmp/flooder"],
    );
    let total = plain["messages"].as_u64().unwrap();
    let gone = muted["muted"].as_u64().unwrap();
    assert!(gone > 150_000);
    assert_eq!(muted["messages"].as_u64().unwrap() + gone, total);
    assert_eq!(muted["cached"], 0);
}

#[test]
fn the_table_shows_cached_and_muted_columns_only_with_the_flags() {
    let table = |extra: &[&str]| {
        let output = esreplay()
            .args(["compare", "--strategies", "inline,pool:4"])
            .args(extra)
            .arg(flood())
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(!table(&[]).contains("cached"));
    let with = table(&["--es-cache", "AUTH_OPEN,AUTH_EXEC"]);
    assert!(
        with.lines().next().unwrap().ends_with("cached  muted"),
        "{with}"
    );
}

#[test]
fn the_cache_sweep_prints_misses_cached_and_hit_rate_per_size() {
    let output = esreplay()
        .args(["sweep", "--strategy", "inline", "--es-cache", "AUTH_OPEN"])
        .args(["--es-cache-sizes", "1,4096", "--json"])
        .arg(flood())
        .output()
        .unwrap();
    let sweep: Value = json_stdout(&output);
    let sizes = sweep["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2);
    assert_eq!(
        (sizes[0]["size"].as_u64(), sizes[1]["size"].as_u64()),
        (Some(1), Some(4096))
    );
    let cached = |i: usize| sizes[i]["cached"].as_u64().unwrap();
    assert!(cached(0) < cached(1));
    let rate = sizes[1]["hit_rate"].as_f64().unwrap();
    let lookups = sizes[1]["lookups"].as_f64().unwrap();
    assert!((rate - cached(1) as f64 / lookups).abs() < 1e-12);
    let table = esreplay()
        .args(["sweep", "--strategy", "inline", "--es-cache", "AUTH_OPEN"])
        .args(["--es-cache-sizes", "64"])
        .arg(flood())
        .output()
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("hit rate") && text.contains("89.9%"),
        "{text}"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["--mute", "path:/x"][..],
        &["--mute", "process-prefix:"],
        &["--es-cache", "AUTH_NOPE"],
        &["--mute-invert", "both"],
    ] {
        let output = esreplay()
            .args(["sim", "--strategy", "inline"])
            .args(args)
            .arg(flood())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn notify_events_in_the_cache_list_are_ignored_with_a_warning() {
    let output = esreplay()
        .args(["sim", "--strategy", "inline", "--json"])
        .args(["--es-cache", "NOTIFY_WRITE,AUTH_OPEN,NOTIFY_OPEN"])
        .arg(flood())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("NOTIFY_WRITE,NOTIFY_OPEN ignored"),
        "{stderr}"
    );
    let result: Value = json_stdout(&output);
    assert_eq!(result, sim_json(&flood(), &["--es-cache", "AUTH_OPEN"]));
}

#[test]
fn the_cache_scenarios_are_listed_and_a_trace_without_paths_warns() {
    let help = esreplay().args(["gen", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for name in ["repeat-open", "cache-thrash", "write-between"] {
        assert!(help.contains(name), "{help}");
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("bare.estrace");
    let generated = esreplay()
        .args([
            "gen",
            "repeat-open",
            "--duration",
            "200ms",
            "--no-paths",
            "-o",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let output = esreplay()
        .args(["sim", "--strategy", "inline", "--es-cache", "AUTH_OPEN"])
        .arg(&trace)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("nothing can be cached"), "{stderr}");
}

#[test]
fn write_between_defeats_the_cache_that_repeat_open_fills() {
    let dir = tempfile::tempdir().unwrap();
    let run = |scenario: &str| {
        let trace = dir.path().join(format!("{scenario}.estrace"));
        let generated = esreplay()
            .args(["gen", scenario, "--duration", "1s", "-o"])
            .arg(&trace)
            .output()
            .unwrap();
        assert!(generated.status.success());
        sim_json_of(&trace, "pool:4", &["--es-cache", "AUTH_OPEN"])
    };
    // 16 000 attacker opens each, from 0.2 s.
    let repeat = run("repeat-open");
    let write = run("write-between");
    assert!(repeat["cached"].as_u64().unwrap() > 15_000, "{repeat}");
    assert!(write["cached"].as_u64().unwrap() < 2_000, "{write}");
}
