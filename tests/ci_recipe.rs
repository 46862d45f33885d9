//! The CI recipe of docs/guide.md, docs/ci/esreplay.yml: its "Gate" steps
//! run as written (through `sh`, with the workflow's `env:`) against the
//! esreplay of this build. A capture the design handles passes both gates
//! and leaves JUnit files valid against tests/data/junit.xsd; a design
//! that is killed fails with workflow annotations.

use std::path::Path;
use std::process::Command;

use esreplay_tests::{esreplay, root, validate_junit};

/// The workflow's top-level `env:` and the `run:` lines of its steps
/// named "Gate ...".
fn recipe() -> (Vec<(String, String)>, Vec<String>) {
    let text = std::fs::read_to_string(root().join("docs/ci/esreplay.yml")).unwrap();
    let mut env = Vec::new();
    let mut commands = Vec::new();
    let (mut in_env, mut in_gate, mut in_run) = (false, false, false);
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_env = line == "env:";
            continue;
        }
        if in_env && let Some((key, value)) = line.trim().split_once(": ") {
            env.push((key.to_owned(), value.to_owned()));
        }
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("- name: ") {
            in_gate = name.starts_with("Gate");
            in_run = false;
        } else if in_gate && trimmed == "run: |" {
            in_run = true;
        } else if in_run && trimmed.starts_with("esreplay ") {
            commands.push(trimmed.to_owned());
        }
    }
    (env, commands)
}

fn run_recipe(dir: &Path, strategy: &str) -> Vec<std::process::Output> {
    let (env, commands) = recipe();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(
        commands
            .iter()
            .all(|c| c.contains("p99=100ms") && c.contains("--max-misses 0"))
    );
    let binary = assert_cmd::cargo::cargo_bin("esreplay");
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    commands
        .iter()
        .map(|command| {
            Command::new("sh")
                .args(["-c", command])
                .current_dir(dir)
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("ESREPLAY_STRATEGY", strategy)
                .env("PATH", &path)
                .output()
                .unwrap()
        })
        .collect()
}

fn capture(dir: &Path, scenario: &str, rate: &str) {
    std::fs::create_dir_all(dir.join("captures")).unwrap();
    esreplay()
        .args(["gen", scenario, "--duration", "2s", "--rate", rate])
        .arg("-o")
        .arg(dir.join("captures/app.estrace"))
        .assert()
        .success();
}

#[test]
fn the_workflow_passes_a_design_that_keeps_up() {
    let dir = tempfile::tempdir().unwrap();
    capture(dir.path(), "steady", "500");
    // The workflow's own strategy.
    let (env, _) = recipe();
    let strategy = &env
        .iter()
        .find(|(k, _)| k == "ESREPLAY_STRATEGY")
        .unwrap()
        .1;
    for output in run_recipe(dir.path(), strategy) {
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("::notice title="), "{stdout}");
    }
    for junit in ["esreplay-junit.xml", "esreplay-co-client-junit.xml"] {
        validate_junit(&dir.path().join(junit));
    }
}

#[test]
fn the_workflow_fails_a_design_that_is_killed_with_annotations() {
    let dir = tempfile::tempdir().unwrap();
    // inline falls behind the flood: p99 far above 100 ms.
    capture(dir.path(), "flood", "2000");
    for output in run_recipe(dir.path(), "inline") {
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("::error title=esreplay check "), "{stdout}");
    }
    let junit = dir.path().join("esreplay-junit.xml");
    validate_junit(&junit);
    let text = std::fs::read_to_string(junit).unwrap();
    assert!(text.contains("<failure "), "{text}");
}
