//! The load generator: opens (`O_RDONLY`, then closes) the scheduled files
//! under the watched directory at their scheduled times, from a fixed set
//! of opener threads, and logs each open's call and return times. An
//! opener blocked in `open` cannot start the next one, so the schedule
//! holds only while fewer opens are stalled than there are openers; the
//! call times are logged as they really were, and the prediction uses
//! those, not the schedule.
//!
//! Closed loop (`generate_closed`): one opener per schedule thread,
//! replaying that thread's opens in order. Its first open is called at its
//! scheduled time; each next one the schedule's gap (think time) after
//! the previous one returned: due'_j = return_(j−1) + (a_j − a_(j−1)) − σ,
//! with σ = 0 (a schedule's recorded stall), so a thread never has two
//! opens outstanding, and a slow client slows the thread down.

use std::collections::BTreeMap;
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
        join_openers(threads)
    });
    collect(results, load.planned.len())
}

type Spawned<'scope> =
    std::io::Result<thread::ScopedJoinHandle<'scope, Result<Vec<Opened>, LabError>>>;
type Joined = Result<Result<Vec<Opened>, LabError>, LabError>;

fn join_openers(threads: Vec<Spawned<'_>>) -> Vec<Joined> {
    threads
        .into_iter()
        .map(|spawned| match spawned {
            Ok(thread) => thread.join().map_err(|_| LabError::Panicked("an opener")),
            Err(source) => Err(LabError::Io {
                what: "spawn an opener thread".into(),
                source,
            }),
        })
        .collect()
}

/// Every opener's opens, in index order, or the first failure.
fn collect(results: Vec<Joined>, opens: usize) -> Result<Vec<Opened>, LabError> {
    let mut opened = Vec::with_capacity(opens);
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
        let due_ns = load.start_ns.saturating_add(planned.offset_ns);
        opened.push(open_at(load, index, due_ns)?);
    }
}

/// Closed loop: one opener per distinct value of `threads` (the schedule
/// thread of each open), each replaying its opens in order; returns every
/// open, in index order.
pub(crate) fn generate_closed(load: &Load, threads: &[u32]) -> Result<Vec<Opened>, LabError> {
    if threads.len() != load.planned.len() {
        return Err(LabError::Io {
            what: "replay a closed loop".into(),
            source: std::io::Error::other(format!(
                "{} thread ids for {} opens",
                threads.len(),
                load.planned.len()
            )),
        });
    }
    let mut sequences: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (index, &thread) in threads.iter().enumerate() {
        sequences.entry(thread).or_default().push(index);
    }
    let results = thread::scope(|scope| {
        let spawned: Vec<_> = sequences
            .values()
            .map(|sequence| {
                thread::Builder::new()
                    .name("lab-thread".into())
                    .stack_size(STACK)
                    .spawn_scoped(scope, move || thread_opener(load, sequence))
            })
            .collect();
        join_openers(spawned)
    });
    collect(results, load.planned.len())
}

/// One schedule thread: each open the schedule's gap after the previous
/// one returned.
fn thread_opener(load: &Load, sequence: &[usize]) -> Result<Vec<Opened>, LabError> {
    fine_timer_slack();
    let mut opened: Vec<Opened> = Vec::with_capacity(sequence.len());
    for &index in sequence {
        let offset = load.planned[index].offset_ns;
        let due_ns = match opened.last() {
            None => load.start_ns.saturating_add(offset),
            Some(previous) => {
                let think = offset.saturating_sub(load.planned[previous.index].offset_ns);
                previous.return_ns.saturating_add(think)
            }
        };
        opened.push(open_at(load, index, due_ns)?);
    }
    Ok(opened)
}

/// Sleeps until `due_ns`, then opens (and closes) file `index`.
fn open_at(load: &Load, index: usize, due_ns: u64) -> Result<Opened, LabError> {
    let path = file_of(load.dir, index);
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
    Ok(Opened {
        index,
        due_ns,
        call_ns,
        return_ns,
    })
}

/// Asks for 1 µs timer slack (default 50 µs) so sleeps end on time.
fn fine_timer_slack() {
    // Safety: prctl(PR_SET_TIMERSLACK) takes an integer and changes only
    // this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong);
    }
}
