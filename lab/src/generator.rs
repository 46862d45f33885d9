//! The load generator: opens (`O_RDONLY`, then closes) the scheduled files
//! under the watched directory at their scheduled times, from a fixed set
//! of opener threads, and logs each open's call and return times. An
//! opener blocked in `open` cannot start the next one, so the schedule
//! holds only while fewer opens are stalled than there are openers; the
//! call times are logged as they really were, and the prediction uses
//! those, not the schedule.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;

use crate::LabError;
use crate::record::{Clock, Planned};

/// Opener thread stack: they only format a path and call `open`.
const STACK: usize = 128 * 1024;

/// The file of open `index` in `dir` (its name is the index).
pub fn file_of(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// One open as the opener saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The open's index in the schedule.
    pub index: usize,
    /// When it was due (ns since the epoch).
    pub due_ns: u64,
    /// When `open` was called.
    pub call_ns: u64,
    /// When it returned.
    pub return_ns: u64,
}

/// What the openers share.
pub(crate) struct Load<'a> {
    pub dir: &'a Path,
    pub planned: &'a [Planned],
    /// The schedule's zero, ns since the epoch.
    pub start_ns: u64,
    pub clock: Clock,
    /// Where each call time is published for the client.
    pub calls: &'a [AtomicU64],
}

/// Runs the whole schedule on `openers` threads; returns every open, in
/// index order, or the first failure.
pub(crate) fn generate(load: &Load, openers: usize) -> Result<Vec<Opened>, LabError> {
    let next = AtomicUsize::new(0);
    let results = thread::scope(|scope| {
        let threads: Vec<_> = (0..openers.max(1))
            .map(|k| {
                thread::Builder::new()
                    .name(format!("lab-opener-{k}"))
                    .stack_size(STACK)
                    .spawn_scoped(scope, || opener(load, &next))
            })
            .collect();
        threads
            .into_iter()
            .map(|spawned| match spawned {
                Ok(thread) => thread.join().map_err(|_| LabError::Panicked("an opener")),
                Err(source) => Err(LabError::Io {
                    what: "spawn an opener thread".into(),
                    source,
                }),
            })
            .collect::<Vec<_>>()
    });
    let mut opened = Vec::with_capacity(load.planned.len());
    for result in results {
        opened.extend(result??);
    }
    opened.sort_unstable_by_key(|o| o.index);
    Ok(opened)
}

/// One opener: takes the next scheduled open until none are left.
fn opener(load: &Load, next: &AtomicUsize) -> Result<Vec<Opened>, LabError> {
    fine_timer_slack();
    let mut opened = Vec::new();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(planned) = load.planned.get(index) else {
            return Ok(opened);
        };
        let path = file_of(load.dir, index);
        let due_ns = load.start_ns.saturating_add(planned.offset_ns);
        let at = load.clock.at(due_ns);
        thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
        let call_ns = load.clock.now_ns();
        load.calls[index].store(call_ns, Ordering::Release);
        let file = File::open(&path);
        let return_ns = load.clock.now_ns();
        drop(file.map_err(|source| LabError::Io {
            what: format!("open {}", path.display()),
            source,
        })?);
        opened.push(Opened {
            index,
            due_ns,
            call_ns,
            return_ns,
        });
    }
}

/// Asks for 1 µs timer slack (default 50 µs) so sleeps end on time.
fn fine_timer_slack() {
    // Safety: prctl(PR_SET_TIMERSLACK) takes an integer and changes only
    // this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong);
    }
}
