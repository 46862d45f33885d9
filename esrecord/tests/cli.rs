//! `esrecord`'s command line: validation and the non-macOS error.

use assert_cmd::Command;

fn esrecord() -> Command {
    Command::cargo_bin("esrecord").unwrap()
}

#[test]
fn unknown_event_is_a_clear_error() {
    let out = esrecord()
        .args(["--events", "AUTH_BOGUS", "-o", "/dev/null"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("AUTH_BOGUS"), "{stderr}");
}

#[test]
fn bad_duration_is_a_clear_error() {
    let out = esrecord()
        .args([
            "--events",
            "AUTH_OPEN",
            "-o",
            "/dev/null",
            "--duration",
            "soon",
        ])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("--duration"), "{stderr}");
}

#[test]
fn a_cpu_period_outside_10_to_100ms_is_refused() {
    for period in ["5ms", "101ms", "often"] {
        let out = esrecord()
            .args(["--events", "AUTH_OPEN", "-o", "/dev/null", "--cpu-period"])
            .arg(period)
            .assert()
            .failure();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains("--cpu-period"), "{period}: {stderr}");
    }
    let out = esrecord()
        .args(["--events", "AUTH_OPEN", "-o", "/dev/null"])
        .args(["--cpu-period", "20ms", "--no-cpu-track"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[cfg(not(target_os = "macos"))]
#[test]
fn linux_says_es_is_macos_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.esr");
    let out = esrecord()
        .args(["--events", "AUTH_OPEN,AUTH_EXEC", "-o"])
        .arg(&path)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("only on macOS"), "{stderr}");
    assert!(!path.exists());
}

/// `esrecord ARGS` with `RUST_BACKTRACE` unset: (exit code, stderr).
fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let output = esrecord()
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[cfg(target_os = "linux")]
#[test]
fn a_regular_file_as_path_is_refused_in_one_line_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let output = dir.path().join("t.estrace");
    let (code, stderr) = run(&[
        "--path".as_ref(),
        file.as_ref(),
        "-o".as_ref(),
        output.as_ref(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a directory"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one message, once: {stderr}");
    assert!(!output.exists());
}

#[cfg(target_os = "linux")]
#[test]
fn an_existing_output_is_refused_and_kept_unless_force() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("t.estrace");
    std::fs::write(&output, b"an earlier recording").unwrap();
    // A missing --path fails after the output check: the file must survive both.
    for path in [dir.path().to_path_buf(), dir.path().join("nonexistent")] {
        let (code, stderr) = run(&[
            "--path".as_ref(),
            path.as_ref(),
            "-o".as_ref(),
            output.as_ref(),
        ]);
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(std::fs::read(&output).unwrap(), b"an earlier recording");
    }
    let (_, stderr) = run(&[
        "--path".as_ref(),
        dir.path().as_ref(),
        "-o".as_ref(),
        output.as_ref(),
    ]);
    assert!(stderr.contains("--force"), "{stderr}");
}

/// Records 200 ms of a directory; `None` where fanotify is not permitted.
#[cfg(target_os = "linux")]
fn record_briefly(dir: &std::path::Path, output: &std::path::Path, extra: &[&str]) -> Option<()> {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--path".as_ref(), dir.as_ref(), "-o".as_ref()];
    args.extend([output.as_os_str(), "--duration".as_ref(), "200ms".as_ref()]);
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let (code, stderr) = run(&args);
    if stderr.contains("needs root") {
        eprintln!("skipped: fanotify not permitted here");
        return None;
    }
    assert_eq!(code, Some(0), "{stderr}");
    Some(())
}

#[cfg(target_os = "linux")]
#[test]
fn a_trace_is_readable_by_its_owner_only_and_force_replaces_a_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("t.estrace");
    std::fs::write(&output, b"old").unwrap();
    std::fs::set_permissions(&output, std::fs::Permissions::from_mode(0o644)).unwrap();
    if record_briefly(dir.path(), &output, &["--force"]).is_none() {
        return;
    }
    let mode = std::fs::metadata(&output).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    assert!(esreplay_traces::TraceReader::open(&output).is_ok());
}

#[cfg(target_os = "linux")]
#[test]
fn without_privileges_the_error_says_needs_root_once() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let output = dir.path().join("t.estrace");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_esrecord"));
    command
        .arg("--path")
        .arg(dir.path())
        .arg("-o")
        .arg(&output)
        .args(["--duration", "200ms"])
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        command.uid(65534).gid(65534);
    }
    let result = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    if result.status.success() {
        return; // a user allowed to use fanotify: nothing to check
    }
    assert!(stderr.contains("needs root (CAP_SYS_ADMIN"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!output.exists(), "no empty file left");
}
