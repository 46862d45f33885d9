//! End-to-end tests of what `esreplay` guarantees about its outputs and
//! gates (docs/reliability.md, "Outputs and gates"): outputs written
//! whole or not at all, an output that is an input refused, a cut trace
//! failing the gates, and broken pipes ending quietly.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use esreplay_tests::{esreplay, root};
use serde_json::Value;

fn gen_trace(dir: &Path, name: &str, duration: &str) -> PathBuf {
    let path = dir.join(name);
    esreplay()
        .args([
            "gen",
            "steady",
            "--service",
            "exp:100us",
            "--duration",
            duration,
        ])
        .arg("-o")
        .arg(&path)
        .assert()
        .success();
    path
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `esreplay ARGS` expecting the same-file refusal, and checks that
/// `file` was not touched.
fn assert_refused(args: &[&std::ffi::OsStr], file: &Path) {
    let before = fs::read(file).unwrap();
    let output = esreplay().args(args).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains("is the input"), "{args:?}: {stderr}");
    assert_eq!(fs::read(file).unwrap(), before, "{args:?} changed the file");
}

#[test]
fn an_output_that_is_an_input_is_refused_by_every_name() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), "t.estrace", "1s");
    let link = dir.path().join("link.estrace");
    std::os::unix::fs::symlink("t.estrace", &link).unwrap();
    let hard = dir.path().join("hard.estrace");
    fs::hard_link(&trace, &hard).unwrap();
    let relative = dir.path().join("sub/../t.estrace");
    fs::create_dir(dir.path().join("sub")).unwrap();
    let jsonl = dir.path().join("m.jsonl");
    fs::write(&jsonl, esreplay_tests::export_jsonl(&trace)).unwrap();
    let capture = dir.path().join("c.json");
    fs::copy(
        root().join("eslogger/tests/fixtures/v10_mixed.jsonl"),
        &capture,
    )
    .unwrap();

    let o = |s: &'static str| std::ffi::OsStr::new(s);
    for output in [&trace, &link, &hard, &relative] {
        let args = [o("export"), o("jsonl"), trace.as_os_str(), o("-o")];
        assert_refused(&[&args[..], &[output.as_os_str()]].concat(), &trace);
    }
    let perfetto = [o("export"), o("perfetto"), trace.as_os_str()];
    let perfetto = [&perfetto[..], &[o("--strategy"), o("inline"), o("-o")]].concat();
    assert_refused(&[&perfetto[..], &[link.as_os_str()]].concat(), &trace);
    let report = [
        o("report"),
        hard.as_os_str(),
        o("--strategies"),
        o("inline"),
    ];
    assert_refused(
        &[&report[..], &[o("-o"), trace.as_os_str()]].concat(),
        &trace,
    );
    let import = [o("import"), o("jsonl"), jsonl.as_os_str(), o("-o")];
    assert_refused(&[&import[..], &[jsonl.as_os_str()]].concat(), &jsonl);
    let import = [o("import"), o("eslogger"), capture.as_os_str(), o("-o")];
    assert_refused(&[&import[..], &[capture.as_os_str()]].concat(), &capture);
    // A file redirected into standard input is an input too.
    let output = Command::new(esreplay().get_program())
        .args(["import", "jsonl", "-", "-o"])
        .arg(&jsonl)
        .stdin(fs::File::open(&jsonl).unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("is the input"));
    let lab = [o("lab"), o("--trace"), trace.as_os_str(), o("--strategies")];
    let lab = [&lab[..], &[o("inline"), o("--records"), hard.as_os_str()]].concat();
    assert_refused(&lab, &trace);
}

#[test]
fn a_failing_import_leaves_an_existing_trace_byte_identical_and_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), "t.estrace", "3s");
    let good = fs::read(&trace).unwrap();
    let mut lines = esreplay_tests::export_jsonl(&trace);
    lines.extend_from_slice(b"{\"not\": \"a message\"}\n");
    let jsonl = dir.path().join("m.jsonl");
    fs::write(&jsonl, &lines).unwrap();
    let before = listing(dir.path());

    let output = esreplay()
        .args(["import", "jsonl"])
        .arg(&jsonl)
        .arg("-o")
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
    assert!(fs::read(&trace).unwrap() == good, "the old trace changed");
    assert_eq!(listing(dir.path()), before, "a file was left behind");

    // The same for an export of a corrupt trace over an existing file.
    let mut corrupt = good.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x10;
    let bad = dir.path().join("bad.estrace");
    fs::write(&bad, &corrupt).unwrap();
    let output = esreplay()
        .args(["export", "jsonl"])
        .arg(&bad)
        .arg("-o")
        .arg(&jsonl)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
    assert_eq!(fs::read(&jsonl).unwrap(), lines, "the old JSONL changed");
}

/// A tmpfs of `size` at a new directory, unmounted on drop; `None` when
/// this process may not mount (not root).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_leaves_the_old_file_intact_and_no_partial_file() {
    let Some(disk) = SmallDisk::mount("256k") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let small = gen_trace(scratch.path(), "small.estrace", "1s");
    let target = disk.0.path().join("out.estrace");
    fs::copy(&small, &target).unwrap();
    let old = fs::read(&target).unwrap();
    // 20 s of steady traffic is several MiB: it cannot fit.
    for args in [
        &["gen", "steady", "--duration", "20s", "-o"][..],
        &["export", "jsonl", small.to_str().unwrap(), "-o"][..],
    ] {
        let output = esreplay().args(args).arg(&target).output().unwrap();
        if args[0] == "export" && output.status.success() {
            continue; // the JSONL of the small trace fits: nothing to see
        }
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("No space left"), "{stderr}");
        assert_eq!(fs::read(&target).unwrap(), old, "{args:?}");
        assert_eq!(listing(disk.0.path()), ["out.estrace"], "{args:?}");
    }
}

#[test]
fn check_and_sweep_refuse_a_cut_trace_unless_allow_partial() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), "t.estrace", "10s");
    let bytes = fs::read(&trace).unwrap();
    let cut = dir.path().join("cut.estrace");
    fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let gate = ["--strategy", "pool:4", "--max-misses", "1000000", "--json"];

    let whole = esreplay()
        .arg("check")
        .arg(&trace)
        .args(gate)
        .output()
        .unwrap();
    let result: Value = serde_json::from_slice(&whole.stdout).unwrap();
    assert!(whole.status.success(), "{}", stderr_of(&whole));
    assert_eq!(result["complete"], true);
    assert_eq!(result["messages_lost"], 0);

    let refused = esreplay()
        .arg("check")
        .arg(&cut)
        .args(gate)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr_of(&refused));
    assert!(stderr_of(&refused).contains("--allow-partial"));
    let result: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(result["complete"], false);
    assert_eq!(
        result["messages_lost_exact"], false,
        "a lower bound: no footer"
    );
    assert!(result["damage"][0].as_str().unwrap().contains("cut short"));

    let allowed = esreplay()
        .arg("check")
        .arg(&cut)
        .args(gate)
        .arg("--allow-partial")
        .output()
        .unwrap();
    assert!(allowed.status.success(), "{}", stderr_of(&allowed));
    assert!(stderr_of(&allowed).contains("INCOMPLETE"));

    let sweep = ["--strategy", "pool:4", "--precision", "0.2", "--json"];
    let refused = esreplay()
        .arg("sweep")
        .arg(&cut)
        .args(sweep)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr_of(&refused));
    let allowed = esreplay()
        .arg("sweep")
        .arg(&cut)
        .args(sweep)
        .arg("--allow-partial")
        .output()
        .unwrap();
    let result: Value = serde_json::from_slice(&allowed.stdout).unwrap();
    assert_eq!(result["complete"], false, "{}", stderr_of(&allowed));
}

/// `trace` with one bit flipped in its middle chunk, as `bad.estrace`.
fn damaged(dir: &Path, trace: &Path) -> PathBuf {
    let mut bytes = fs::read(trace).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    let bad = dir.join("bad.estrace");
    fs::write(&bad, &bytes).unwrap();
    bad
}

#[test]
fn salvaged_chunks_are_counted_as_lost_messages() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), "t.estrace", "5s");
    let bad = damaged(dir.path(), &trace);
    let gate = ["--strategy", "inline", "--max-misses", "1000000", "--json"];
    let output = esreplay()
        .arg("check")
        .arg(&bad)
        .args(gate)
        .args(["--salvage", "--allow-partial"])
        .output()
        .unwrap();
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["complete"], false);
    assert_eq!(result["messages_lost"], 4096, "one chunk of 4096");
    let output = esreplay()
        .arg("check")
        .arg(&bad)
        .args(gate)
        .arg("--salvage")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// `check` of several strategies decodes the trace once and tells what
/// a `check` of each alone would, in the order asked: each strategy's
/// guard margin warnings, the trace's losses once (after the first), the
/// verdicts; and each result the same as alone.
#[test]
fn check_of_several_strategies_says_what_each_alone_says_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), "t.estrace", "5s");
    let bad = damaged(dir.path(), &trace);
    let flags = ["--salvage", "--allow-partial", "--max-misses", "1000000"];
    let strategies = ["guard:30s:pool:2", "inline", "guard:59s:edf:1"];
    let check = |strategies: &[&str]| {
        let mut command = esreplay();
        command.arg("check").arg(&bad).args(flags).arg("--json");
        for strategy in strategies {
            command.args(["--strategy", strategy]);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        let lines = |bytes: &[u8]| -> Vec<String> {
            let text = String::from_utf8_lossy(bytes);
            text.lines().map(str::to_owned).collect()
        };
        (lines(&output.stdout), lines(&output.stderr))
    };
    let (results, told) = check(&strategies);
    let alone: Vec<_> = strategies.iter().map(|s| check(&[s])).collect();
    for (result, (own, _)) in results.iter().zip(&alone) {
        assert_eq!(std::slice::from_ref(result), &own[..]);
    }
    // Alone: [margin warning], the losses, the verdict.
    let warning = |i: usize| alone[i].1[0].clone();
    let verdict = |i: usize| alone[i].1.last().unwrap().clone();
    let losses = alone[1].1[0].clone();
    assert!(warning(0).contains("guard margin 30.0s is not below"));
    assert!(losses.contains("INCOMPLETE TRACE"), "{losses}");
    let expected = [
        warning(0),
        losses,
        warning(2),
        verdict(0),
        verdict(1),
        verdict(2),
    ];
    assert_eq!(told, expected);
}

/// Standard output as a pipe whose reading end is already closed: the
/// first write fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// Runs `esreplay ARGS` writing into a closed pipe.
fn into_closed_pipe(args: &[&str], stdin: Option<&Path>) -> std::process::Output {
    let mut command = Command::new(esreplay().get_program());
    command.args(args).stdout(closed_pipe());
    if let Some(path) = stdin {
        command.stdin(fs::File::open(path).unwrap());
    }
    command.output().unwrap()
}

#[test]
fn a_broken_pipe_ends_every_command_quietly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), "t.estrace", "2s");
    let t = trace.to_str().unwrap();
    let jsonl = dir.path().join("m.jsonl");
    fs::write(&jsonl, esreplay_tests::export_jsonl(&trace)).unwrap();
    let capture = root().join("eslogger/tests/fixtures/v10_mixed.jsonl");
    let with_stdin: [(&[&str], &Path); 2] = [
        (&["import", "jsonl", "-", "-o", "-"], &jsonl),
        (&["import", "eslogger", "-", "-o", "-"], &capture),
    ];
    let plain: [&[&str]; 15] = [
        &["gen", "steady", "--duration", "20s", "-o", "-"],
        &["export", "jsonl", t],
        &["export", "perfetto", t, "--strategy", "pool:2"],
        &["inspect", t],
        &["inspect", "--json", t],
        &["sim", t, "--strategy", "pool:2"],
        &["sim", t, "--strategy", "pool:2", "--json"],
        &["compare", t, "--strategies", "inline,pool:2"],
        &[
            "check",
            t,
            "--strategy",
            "pool:2",
            "--max-misses",
            "1000000",
        ],
        &["sweep", t, "--strategy", "pool:2", "--precision", "0.2"],
        &["report", t, "--strategies", "inline", "-o", "-"],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["man"],
        &["--help"],
    ];
    let runs = plain
        .iter()
        .map(|args| (*args, None))
        .chain(with_stdin.iter().map(|(args, input)| (*args, Some(*input))));
    for (args, stdin) in runs {
        let output = into_closed_pipe(args, stdin);
        let stderr = stderr_of(&output);
        // Only a gate's verdict may be said (on stderr, still open).
        let quiet = stderr.lines().all(|line| line.starts_with("esreplay: ok "));
        assert!(
            output.status.code() == Some(0) && quiet,
            "esreplay {}: {:?} {stderr}",
            args.join(" "),
            output.status
        );
    }
}

#[test]
fn a_failing_gate_still_fails_when_its_reader_went_away() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("flood.estrace");
    esreplay()
        .args(["gen", "flood", "--duration", "2s", "--service", "const:5ms"])
        .arg("-o")
        .arg(&trace)
        .assert()
        .success();
    let args = ["check", trace.to_str().unwrap(), "--strategy", "inline"];
    let output = into_closed_pipe(&[&args[..], &["--max-misses", "0"]].concat(), None);
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
}

#[test]
fn import_jsonl_warns_of_anomalies_and_says_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let line = |seq: u64, arrival: &str, extra: &str| {
        format!(
            "{{\"global_seq\":{seq},\"seq\":0,\"event\":\"AUTH_OPEN\",\"action\":\"auth\",\"arrival_ns\":{arrival}{extra}}}\n"
        )
    };
    let odd = [line(0, "100", ",\"deadline_ns\":50"), line(0, "90", "")].concat();
    let output = esreplay()
        .args(["import", "jsonl", "-", "-o"])
        .arg(dir.path().join("t.estrace"))
        .write_stdin(odd)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = stderr_of(&output);
    for said in [
        "1 deadlines before their arrival: line 1",
        "1 duplicate global_seq: line 2",
        "1 arrivals out of order",
    ] {
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
    let output = esreplay()
        .args(["import", "jsonl", "-", "-o"])
        .arg(dir.path().join("u.estrace"))
        .write_stdin(line(0, "18446744073709551616", ""))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("number out of range"));
}

#[test]
fn a_trace_command_on_jsonl_or_eslogger_json_names_the_import_command() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), "t.estrace", "1s");
    let jsonl = dir.path().join("m.jsonl");
    fs::write(&jsonl, esreplay_tests::export_jsonl(&trace)).unwrap();
    let capture = root().join("eslogger/tests/fixtures/v10_mixed.jsonl");
    for (file, command) in [(&jsonl, "import jsonl"), (&capture, "import eslogger")] {
        let output = esreplay().arg("inspect").arg(file).output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains(&format!("`esreplay {command} ")),
            "{stderr}"
        );
    }
}

#[test]
fn a_cost_table_is_read_with_a_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let trace = gen_trace(dir.path(), "t.estrace", "1s");
    let output = esreplay()
        .arg("sim")
        .arg(&trace)
        .args(["--strategy", "inline", "--cost", "table:/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("not a cost table"));
}

#[test]
fn a_broken_pipe_ends_the_lab_quietly_too() {
    let args = [
        "lab",
        "--scenario",
        "steady",
        "--rate",
        "50",
        "--duration",
        "300ms",
    ];
    let output = into_closed_pipe(&[&args[..], &["--strategies", "inline"]].concat(), None);
    let stderr = stderr_of(&output);
    if stderr.contains("needs root") || stderr.contains("needs Linux") {
        eprintln!("skipped: {stderr}");
        return;
    }
    // The lab says on stderr what it runs; nothing about the pipe.
    let quiet = stderr
        .lines()
        .all(|line| line.starts_with("esreplay: lab: "));
    assert!(
        output.status.success() && quiet,
        "{:?} {stderr}",
        output.status
    );
}
