//! End-to-end tests against the real kernel (root only): they print a
//! message and pass where fanotify permission events are not permitted,
//! unless `ESREPLAY_REQUIRE_ROOT=1` (as CI sets): then they fail.
#![cfg(target_os = "linux")]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use esreplay_fanotify::{Event, EventMask, Fanotify, Mark, Verdict};

const NAMES: &[&str] = &[
    "allowed",
    "denied",
    "dropped",
    "unread0",
    "unread1",
    "unread2",
    "elsewhere",
];
const PATIENCE: Duration = Duration::from_secs(10);

/// A fresh directory and a group watching it, or `None` (with a message)
/// where fanotify is not permitted. The directory comes first so that a
/// test's bindings `let Some((dir, group))` drop the group before the
/// directory: removing a watched directory while the group still listens
/// would wait for an answer from the thread that is removing it.
/// `names` are created first (creating them later would itself block).
fn watched(names: &[&str]) -> Option<(tempfile::TempDir, Fanotify)> {
    let group = match Fanotify::new() {
        Ok(group) => group,
        Err(error) if error.is_not_permitted() => {
            assert!(
                std::env::var("ESREPLAY_REQUIRE_ROOT").as_deref() != Ok("1"),
                "ESREPLAY_REQUIRE_ROOT=1 but fanotify is not permitted ({error}): run as root"
            );
            eprintln!("skipped: fanotify permission events are not permitted here ({error})");
            return None;
        }
        Err(error) => panic!("{error}"),
    };
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    group
        .mark(&Mark::Directory(dir.path().into()), EventMask::OPEN_PERM)
        .unwrap();
    Some((dir, group))
}

/// Opens `path` on another thread; the receiver gets the open's outcome.
fn open_in_background(path: &Path) -> Receiver<std::io::Result<File>> {
    let path = path.to_owned();
    let (done, outcome) = mpsc::channel();
    thread::spawn(move || done.send(File::open(path)));
    outcome
}

fn file_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn next_event(group: &Fanotify) -> Event {
    let batch = group.read(Some(PATIENCE)).unwrap();
    assert_eq!(batch.events.len(), 1, "one open, one event");
    batch.events.into_iter().next().unwrap()
}

#[test]
fn an_opener_waits_for_the_answer_and_gets_it() {
    let Some((dir, group)) = watched(NAMES) else {
        return;
    };
    let path = file_in(&dir, "allowed");
    let outcome = open_in_background(&path);
    let event = next_event(&group);
    assert_eq!(event.pid(), std::process::id() as i32);
    assert!(event.mask().contains(EventMask::OPEN_PERM));
    assert_eq!(event.path().unwrap(), path.canonicalize().unwrap());
    assert!(event.is_pending());
    // Unanswered, the open cannot have returned.
    assert!(outcome.recv_timeout(Duration::from_millis(50)).is_err());
    event.respond(Verdict::Allow).unwrap();
    assert!(outcome.recv_timeout(PATIENCE).unwrap().is_ok());
}

#[test]
fn a_denied_open_fails_with_eperm() {
    let Some((dir, group)) = watched(NAMES) else {
        return;
    };
    let outcome = open_in_background(&file_in(&dir, "denied"));
    next_event(&group).respond(Verdict::Deny).unwrap();
    let error = outcome.recv_timeout(PATIENCE).unwrap().unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EPERM));
}

#[test]
fn a_dropped_event_is_allowed() {
    let Some((dir, group)) = watched(NAMES) else {
        return;
    };
    let outcome = open_in_background(&file_in(&dir, "dropped"));
    drop(next_event(&group));
    assert!(outcome.recv_timeout(PATIENCE).unwrap().is_ok());
}

#[test]
fn closing_the_group_releases_unread_events() {
    let Some((dir, group)) = watched(NAMES) else {
        return;
    };
    let outcomes: Vec<_> = (0..3)
        .map(|i| open_in_background(&file_in(&dir, &format!("unread{i}"))))
        .collect();
    // Wait until the kernel has queued something, read nothing, close.
    let mut poll = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&group)),
        events: libc::POLLIN,
        revents: 0,
    };
    // Safety: one live pollfd.
    assert_eq!(unsafe { libc::poll(&mut poll, 1, 10_000) }, 1);
    drop(group);
    for outcome in outcomes {
        assert!(outcome.recv_timeout(PATIENCE).unwrap().is_ok());
    }
}

#[test]
fn a_read_times_out_empty_and_answers_come_from_any_thread() {
    let Some((dir, group)) = watched(NAMES) else {
        return;
    };
    assert!(
        group
            .read(Some(Duration::from_millis(10)))
            .unwrap()
            .events
            .is_empty()
    );
    let outcome = open_in_background(&file_in(&dir, "elsewhere"));
    let event = next_event(&group);
    thread::spawn(move || event.respond(Verdict::Allow))
        .join()
        .unwrap()
        .unwrap();
    assert!(outcome.recv_timeout(PATIENCE).unwrap().is_ok());
}
