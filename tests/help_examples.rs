//! Every example in `esreplay --help` and each subcommand's `--help` is
//! run, and must succeed: the examples are read out of the help text
//! itself (so a new one is tested the day it is written), in a fresh
//! directory per help page holding the inputs they name (`flood.estrace`,
//! `capture.estrace`, `messages.jsonl`, an eslogger `capture.jsonl`), with
//! this build's `esreplay` first on `PATH` and `HOME` in the directory.
//! A page's examples run in order in its directory, as a reader would type
//! them: `gen ... -o flood.estrace` then `compare flood.estrace` must work.
//!
//! Examples that need `sudo` (the lab on a real kernel, eslogger on a Mac)
//! are not run; the test lists them and fails if any other is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use esreplay_tests::{esreplay, root, succeeded};

/// The help text of `esreplay PATH... --help`.
fn help(path: &[String]) -> String {
    let output = esreplay().args(path).arg("--help").output().unwrap();
    succeeded(&output);
    String::from_utf8(output.stdout).unwrap()
}

/// The subcommands a help text lists (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    section(help, "Commands:")
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The example command lines of a help text (lines where a stage of the
/// pipeline runs `esreplay` or `sudo`; not the prose between them).
fn examples(help: &str) -> Vec<String> {
    let mut lines = section(help, "Examples:");
    lines.extend(section(help, "Example:"));
    lines.retain(|line| {
        line.split('|')
            .filter_map(|stage| stage.split_whitespace().next())
            .any(|program| program == "esreplay" || program == "sudo")
    });
    lines
}

/// The indented lines after `title` up to the first blank line.
fn section(help: &str, title: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim_end() != title)
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .map(|line| line.trim().to_owned())
        .collect()
}

/// Every help page's path and examples, depth first.
fn pages(path: Vec<String>, out: &mut Vec<(Vec<String>, Vec<String>)>) {
    let text = help(&path);
    out.push((path.clone(), examples(&text)));
    for sub in subcommands(&text) {
        let mut deeper = path.clone();
        deeper.push(sub);
        pages(deeper, out);
    }
}

/// Writes the inputs the examples name into `dir`.
fn inputs(dir: &Path) {
    let gen_trace = |scenario: &str, name: &str| {
        esreplay()
            .current_dir(dir)
            .args(["gen", scenario, "--duration", "3s", "-o", name])
            .assert()
            .success();
    };
    gen_trace("flood", "flood.estrace");
    gen_trace("mixed", "capture.estrace");
    esreplay()
        .current_dir(dir)
        .args(["export", "jsonl", "capture.estrace", "-o", "messages.jsonl"])
        .assert()
        .success();
    let eslogger = root().join("eslogger/tests/fixtures/v10_mixed.jsonl");
    std::fs::copy(eslogger, dir.join("capture.jsonl")).unwrap();
    for home in [".local/share/bash-completion/completions", ".zfunc"] {
        std::fs::create_dir_all(dir.join(home)).unwrap();
    }
}

/// `PATH` with this build's `esreplay` first.
fn path_with_esreplay() -> std::ffi::OsString {
    let binary: PathBuf = esreplay().get_program().into();
    let mut dirs = vec![binary.parent().unwrap().to_owned()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// Whether every program a pipeline uses besides `esreplay` is installed.
fn tools_present(example: &str) -> bool {
    example
        .split('|')
        .filter_map(|stage| stage.split_whitespace().next())
        .filter(|program| *program != "esreplay")
        .all(|program| {
            Command::new("sh")
                .args(["-c", &format!("command -v {program}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn every_help_example_runs_and_succeeds() {
    let mut all = Vec::new();
    pages(Vec::new(), &mut all);
    assert!(all.len() >= 15, "help pages found: {}", all.len());
    let path = path_with_esreplay();
    let (mut ran, mut skipped) = (0, Vec::new());
    for (page, examples) in &all {
        assert!(
            !examples.is_empty(),
            "`esreplay {}` has no example",
            page.join(" ")
        );
        let dir = tempfile::tempdir().unwrap();
        inputs(dir.path());
        for example in examples {
            if example.contains("sudo ") {
                skipped.push(example.clone());
                continue;
            }
            if !tools_present(example) {
                eprintln!("SKIPPED (a tool it pipes through is not installed): {example}");
                continue;
            }
            let output = Command::new("bash")
                .args(["-o", "pipefail", "-c", example])
                .current_dir(dir.path())
                .env("PATH", &path)
                .env("HOME", dir.path())
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "`{example}` (from `esreplay {} --help`) failed with {}: {}",
                page.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            ran += 1;
        }
    }
    eprintln!("ran {ran} help examples");
    let not_run: Vec<&str> = skipped.iter().map(String::as_str).collect();
    let needs_root =
        |e: &&str| e.starts_with("sudo esreplay lab ") || e.starts_with("sudo eslogger ");
    assert!(not_run.iter().all(needs_root), "skipped: {not_run:?}");
    assert!(ran >= 25, "only {ran} examples ran");
}
