//! End to end: `--co-client` and `es-clients-inline` through `sim`, and
//! `check`'s gates on what a co-client injects.

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

#[test]
fn check_gates_the_injected_count_and_fails_a_loop_that_runs_away() {
    let dir = tempfile::tempdir().unwrap();
    let trace = steady(dir.path());
    let check = |strategy: &str, flags: &[&str]| {
        esreplay()
            .arg("check")
            .arg(&trace)
            .args(["--strategy", strategy, "--miss-mode", "allow"])
            .args(["--co-client", "react=AUTH_OPEN,opens=1,delay=1ms,io=1"])
            .args(flags)
            .output()
            .unwrap()
    };
    let broken = check("es-clients-inline:pool:4", &["--json"]);
    assert_eq!(broken.status.code(), Some(0), "{broken:?}");
    let result: serde_json::Value = serde_json::from_slice(&broken.stdout).unwrap();
    let injected = result["injected"].as_u64().unwrap();
    assert!(injected > 0, "{result}");
    let gates = result["gates"].as_array().unwrap();
    let runaway = gates.iter().find(|g| g["gate"] == "runaway");
    assert_eq!(runaway.map(|g| &g["pass"]), Some(&true.into()), "{result}");
    let at = injected.to_string();
    let under = (injected - 1).to_string();
    let strategy = "es-clients-inline:pool:4";
    assert_eq!(
        check(strategy, &["--max-injected", &at]).status.code(),
        Some(0)
    );
    let over = check(strategy, &["--max-injected", &under]);
    assert_eq!(over.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&over.stderr).contains("co-client's opens added"));

    // pool:4 misses nothing while its loop runs away: the runaway gate fails.
    let looped = check("pool:4", &["--max-misses", "0"]);
    assert_eq!(looped.status.code(), Some(1), "{looped:?}");
    let stderr = String::from_utf8_lossy(&looped.stderr);
    assert!(
        stderr.contains("ran away") && !stderr.contains("misses"),
        "{stderr}"
    );

    let alone = esreplay()
        .arg("check")
        .arg(&trace)
        .args(["--strategy", "pool:4", "--max-injected", "0"])
        .output()
        .unwrap();
    assert_eq!(alone.status.code(), Some(2), "needs a co-client");
}
