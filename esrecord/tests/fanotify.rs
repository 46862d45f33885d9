//! `esrecord --path` against the real kernel (Linux, root): opens under the
//! watched directory become AUTH_OPEN messages, SIGTERM and `--duration`
//! end with a footer, and a killed recorder leaves no opener blocked. Every
//! wait has a timeout; where fanotify is not permitted the tests say so and
//! pass, unless `ESREPLAY_REQUIRE_ROOT=1` (as CI sets): then they fail.
#![cfg(target_os = "linux")]

use esreplay_traces::{EventType, Message, Source, TraceReader};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

/// Files written before the recorder starts (creating them later would be
/// recorded too).
struct Watched {
    dir: tempfile::TempDir,
    output: PathBuf,
}

fn watched(files: usize) -> Watched {
    let dir = tempfile::tempdir().unwrap();
    for index in 0..files {
        std::fs::write(dir.path().join(format!("f{index}")), b"x").unwrap();
    }
    let output = dir.path().join("out.estrace");
    Watched { dir, output }
}

/// Starts `esrecord --path DIR` and waits for its ready line, or `None`
/// (with a message) where fanotify is not permitted.
fn start(watched: &Watched, extra: &[&str]) -> Option<Child> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_esrecord"))
        .arg("--path")
        .arg(watched.dir.path())
        .arg("-o")
        .arg(&watched.output)
        .args(extra)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Up to the ready line, or everything (an error) if it never comes.
        let mut said = String::new();
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        for line in lines.by_ref() {
            said.push_str(&line);
            if line.contains("recording fanotify") {
                break;
            }
        }
        let _ = line_tx.send(said);
        lines.for_each(drop); // keep the pipe drained
    });
    let said = line_rx
        .recv_timeout(PATIENCE)
        .expect("esrecord said nothing");
    if said.contains("not permitted") {
        let _ = child.wait();
        assert!(
            std::env::var("ESREPLAY_REQUIRE_ROOT").as_deref() != Ok("1"),
            "ESREPLAY_REQUIRE_ROOT=1 but fanotify is not permitted ({said}): run as root"
        );
        eprintln!("skipped: fanotify is not permitted here ({said})");
        return None;
    }
    assert!(said.contains("recording fanotify"), "{said}");
    Some(child)
}

/// `f(…)` on another thread, or a panic after `PATIENCE`.
fn within_patience<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || done.send(f()));
    outcome
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("{what} did not finish in {PATIENCE:?}"))
}

fn open_all(dir: &Path, files: usize) {
    let dir = dir.to_owned();
    within_patience("opening the watched files", move || {
        for index in 0..files {
            std::fs::read(dir.join(format!("f{index}"))).unwrap();
        }
    });
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // Safety: kill has no memory preconditions; the child is ours and alive.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

fn wait(mut child: Child) -> std::process::ExitStatus {
    within_patience("esrecord's exit", move || child.wait().unwrap())
}

fn messages(output: &Path) -> (Vec<Message>, TraceReader<std::io::BufReader<std::fs::File>>) {
    let mut reader = TraceReader::open(output).unwrap();
    assert_eq!(reader.header().source, Some(Source::Fanotify));
    let messages = reader.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
    (messages, reader)
}

#[test]
fn opens_are_recorded_and_sigterm_writes_the_footer() {
    let watched = watched(20);
    let Some(child) = start(&watched, &["--budget", "AUTH_OPEN=50ms"]) else {
        return;
    };
    open_all(watched.dir.path(), 20);
    signal(&child, libc::SIGTERM);
    assert!(wait(child).success());
    let (messages, reader) = messages(&watched.output);
    let opens: Vec<&Message> = messages
        .iter()
        .filter(|m| m.target_path.as_deref().is_some_and(|p| p.contains("/f")))
        .collect();
    assert_eq!(opens.len(), 20, "{messages:?}");
    for (index, message) in opens.iter().enumerate() {
        assert_eq!(message.event, EventType::AUTH_OPEN);
        assert!(message.is_auth());
        assert_eq!(message.budget_ns(), Some(50_000_000));
        assert_eq!(message.pid, Some(std::process::id()));
        // One thread opened them all, one after the other: the recorder
        // names it (the thread that blocked on each answer).
        let thread = |m: &Message| m.thread_id;
        assert!(thread(message).is_some());
        assert_eq!(thread(message), thread(opens[0]));
        assert!(
            message
                .target_path
                .as_deref()
                .unwrap()
                .ends_with(&format!("/f{index}"))
        );
    }
    assert!(
        messages
            .windows(2)
            .all(|w| w[0].global_seq < w[1].global_seq)
    );
    assert!(
        reader
            .footer()
            .is_some_and(|f| f.end.is_some() && f.dropped == 0)
    );
}

#[test]
fn duration_ends_the_recording_by_itself() {
    let watched = watched(3);
    let args = ["--duration", "1s", "--no-paths", "--no-cpu-track"];
    let Some(child) = start(&watched, &args) else {
        return;
    };
    open_all(watched.dir.path(), 3);
    assert!(wait(child).success());
    let (messages, reader) = messages(&watched.output);
    assert_eq!(messages.len(), 3);
    assert!(messages.iter().all(|m| m.target_path.is_none()));
    assert!(reader.footer().is_some());
    assert!(reader.cpu_track().is_empty());
    assert_eq!(reader.header().meta["cpu_track"], "off");
}

/// A CPU-bound process (`sh` spinning), killed and reaped when dropped.
struct Hog(Child);

impl Hog {
    fn start() -> Hog {
        let child = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Hog(child)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The recorder's CPU track sees another process's CPU hog. The hog is
/// runnable throughout, so every sample counts it (other load only adds
/// to a sample), except when one of the recorder's own threads became
/// runnable between the two reads of a sample and was taken off once too
/// often: the mean stays above 1/2 whatever the machine's load.
#[test]
fn the_cpu_track_sees_a_cpu_hog() {
    let watched = watched(1);
    let hog = Hog::start();
    let Some(child) = start(&watched, &["--duration", "1s"]) else {
        return;
    };
    open_all(watched.dir.path(), 1);
    assert!(wait(child).success());
    drop(hog);
    let (messages, reader) = messages(&watched.output);
    assert!(!messages.is_empty());
    let track = reader.cpu_track();
    let summary = track.summary().expect("a CPU track");
    assert!(summary.mean >= 0.5, "{summary:?}");
    assert_eq!(summary.period_ns, 10_000_000);
    assert!(track.samples.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
    let footer = reader.footer().unwrap();
    assert_eq!(
        footer.meta["cpu_track.samples"],
        track.samples.len().to_string()
    );
    let header = reader.header();
    assert!(header.meta["cpu_track"].starts_with("runnable threads"));
    // Safety: sysconf reads a system constant.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    assert_eq!(header.cpu_count, u32::try_from(online).ok());
}

#[test]
fn a_killed_recorder_leaves_no_opener_blocked() {
    let watched = watched(1);
    let Some(child) = start(&watched, &[]) else {
        return;
    };
    signal(&child, libc::SIGKILL);
    let status = wait(child);
    assert!(!status.success());
    // The kernel closed the group with the process: opens go through.
    open_all(watched.dir.path(), 1);
}

#[test]
fn hashed_paths_are_keyed_hashes_of_the_whole_path() {
    let watched = watched(2);
    let Some(child) = start(&watched, &["--hash-paths"]) else {
        return;
    };
    open_all(watched.dir.path(), 2);
    signal(&child, libc::SIGHUP); // stops like SIGTERM
    assert!(wait(child).success());
    let (messages, reader) = messages(&watched.output);
    assert_eq!(
        reader.header().meta.get("paths").map(String::as_str),
        Some("hashed")
    );
    let targets: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.target_path.as_deref())
        .collect();
    assert!(targets.len() >= 2, "{messages:?}");
    for target in &targets {
        assert!(
            target.starts_with("hash:") && target.len() == 5 + 32,
            "{target}"
        );
    }
    // Two different files, two different hashes.
    let mut distinct = targets.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 2, "{targets:?}");
}
