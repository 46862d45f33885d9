//! End to end: `--co-client` and `es-clients-inline` through `sim`.

use std::path::{Path, PathBuf};

use esreplay_tests::esreplay;

fn steady(dir: &Path) -> PathBuf {
    let path = dir.join("steady.estrace");
    esreplay()
        .args(["gen", "steady", "--duration", "1s", "--rate", "300", "-o"])
        .arg(&path)
        .assert()
        .success();
    path
}

fn sim(trace: &Path, flags: &[&str]) -> String {
    let output = esreplay()
        .arg("sim")
        .arg(trace)
        .args(["--json", "--strategy"])
        .args(flags)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn without_the_flag_nothing_changes_and_a_loop_runs_away_to_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let trace = steady(dir.path());
    let plain = sim(&trace, &["pool:4"]);
    assert!(!plain.contains("injected"), "{plain}");
    let idle = sim(
        &trace,
        &[
            "pool:4",
            "--co-client",
            "react=AUTH_OPEN,opens=0,delay=1ms,io=2",
        ],
    );
    assert_eq!(
        idle.replace(r#","injected":0,"runaway":false"#, ""),
        plain,
        "K = 0 changes nothing but the two keys"
    );
    let messages = serde_json::from_str::<serde_json::Value>(&plain).unwrap()["messages"]
        .as_u64()
        .unwrap();
    let loop_ = "react=AUTH_OPEN,opens=1,delay=1ms,io=1";
    let runaway: serde_json::Value =
        serde_json::from_str(&sim(&trace, &["pool:4", "--co-client", loop_])).unwrap();
    assert_eq!(runaway["runaway"], true);
    assert_eq!(runaway["injected"], 10 * messages);
    let capped: serde_json::Value = serde_json::from_str(&sim(
        &trace,
        &["pool:4", "--co-client", loop_, "--co-client-cap", "7"],
    ))
    .unwrap();
    assert_eq!(capped["injected"], 7);
    let broken: serde_json::Value = serde_json::from_str(&sim(
        &trace,
        &["es-clients-inline:pool:4", "--co-client", loop_],
    ))
    .unwrap();
    assert_eq!(broken["runaway"], false);
    assert!(broken["injected"].as_u64().unwrap() <= 2 * messages);
}

#[test]
fn a_co_client_needs_a_file_and_a_valid_spec() {
    let dir = tempfile::tempdir().unwrap();
    let trace = steady(dir.path());
    let spec = ["--co-client", "react=AUTH_OPEN,opens=1,delay=1ms"];
    let stdin = esreplay()
        .args(["sim", "-", "--strategy", "inline"])
        .args(spec)
        .pipe_stdin(&trace)
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(stdin.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&stdin.stderr).contains("give a file"));
    let bad = esreplay()
        .arg("sim")
        .arg(&trace)
        .args([
            "--strategy",
            "inline",
            "--co-client",
            "react=AUTH_OPEN,opens=1",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("delay= is missing"));
}
