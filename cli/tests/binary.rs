//! The `esreplay` binary itself: every subcommand answers `--help`, and a
//! usage error exits 2 with one line on standard error.
//!
//! Being an integration test of this package, this file also makes
//! `cargo test --workspace` build `target/debug/esreplay`, which the
//! end-to-end tests of the repository root (`tests/`) run.

use std::process::Command;

fn esreplay(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_esreplay"))
        .args(args)
        .output()
        .expect("the esreplay binary runs")
}

#[test]
fn every_subcommand_has_help() {
    let subcommands: &[&[&str]] = &[
        &["gen"],
        &["import", "eslogger"],
        &["import", "jsonl"],
        &["export", "jsonl"],
        &["export", "perfetto"],
        &["inspect"],
        &["sim"],
        &["compare"],
        &["check"],
        &["sweep"],
        &["report"],
        &["lab"],
        &["completions"],
        &["man"],
    ];
    for words in subcommands {
        let mut args = words.to_vec();
        args.push("--help");
        let output = esreplay(&args);
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{words:?}: {output:?}");
        assert!(help.contains("Usage: esreplay"), "{words:?}: {help}");
    }
}

#[test]
fn a_usage_error_exits_2() {
    let output = esreplay(&["sim", "--no-such-flag"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--no-such-flag"));
}
