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
