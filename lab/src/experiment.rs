//! One real experiment ([`run`], [`observe`]): a fresh temporary
//! directory with one file per scheduled open, a fanotify group watching
//! it (with the system's queue limit, or a lowered one for this group
//! only), the client on its own thread, the load generator on this one
//! (open loop: a pool of openers following the schedule; closed loop: one
//! opener per schedule thread, each open after the previous returned), and
//! optionally a thread sampling the background track; then the opener's
//! and the client's views merged into [`Record`]s.
//!
//! Never hanging: the group is owned by the client thread and dropped as
//! soon as it stops, on success, error or panic, which allows every event
//! still pending, so every blocked opener returns; the client gives up
//! after [`Experiment::timeout`]. The directory is removed only after the
//! group is closed (removing a watched directory would wait for us).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use esreplay_fanotify::{EventMask, Fanotify, Mark};
use esreplay_simulator::StrategySpec;

use crate::LabError;
use crate::client::{Heard, Listen, listen};
use crate::cpu::Sampler;
use crate::generator::{Load, Opened, file_of, generate, generate_closed};
use crate::kernel_queue::QueueLimit;
use crate::plan::Work;
use crate::record::{Clock, Observation, Planned, Record};
use crate::ticket::Ticket;

/// What to run.
#[derive(Clone, Debug)]
pub struct Experiment<'a> {
    /// The opens, in schedule order.
    pub planned: &'a [Planned],
    /// The client's design: a simulator strategy, run with real threads
    /// (see [`split`](crate::plan::split)).
    pub strategy: &'a StrategySpec,
    /// Opener threads: at least the most opens ever stalled at once, or the
    /// schedule slips.
    pub openers: usize,
    /// Time given to start the threads before the schedule's zero.
    pub lead_in: Duration,
    /// The client gives up (allowing everything) this long after the
    /// schedule's last open is due.
    pub timeout: Duration,
    /// How service time is spent (default: [`Work::Spin`]).
    pub work: Work,
    /// Closed loop: the schedule thread of each open. Each thread gets an
    /// opener of its own that replays its opens in order: the first at
    /// its scheduled time, each next one the schedule's gap after the
    /// previous one *returned* (think time; the recorded stall σ is 0 for
    /// a schedule). `openers` is then ignored. `None`: open loop.
    pub threads: Option<&'a [u32]>,
    /// fanotify's queue limit for this run's group (lowered for the
    /// group's creation only, then restored); the reader then takes one
    /// event at a time, so every event it has not taken counts against
    /// the limit, as the simulator's `--kernel-queue` does. `None`: the
    /// system's limit and batched reads.
    pub kernel_queue: Option<u32>,
    /// Sample the background track this often (`None`: not at all). The
    /// sampler reads one file per thread of this process each time.
    pub sample_every: Option<Duration>,
    /// The process ids of CPU hogs running during the run (counted whole
    /// in the track).
    pub hogs: Vec<u32>,
    /// The CPUs the lab is pinned to: the track counts only the threads
    /// waiting on them (`None`: every CPU).
    pub background_cpus: Option<Vec<usize>>,
}

impl<'a> Experiment<'a> {
    /// Defaults: 64 openers, 100 ms lead-in, 30 s timeout, strict spinning.
    pub fn new(planned: &'a [Planned], strategy: &'a StrategySpec) -> Experiment<'a> {
        Experiment {
            planned,
            strategy,
            openers: 64,
            lead_in: Duration::from_millis(100),
            timeout: Duration::from_secs(30),
            work: Work::Spin,
            threads: None,
            kernel_queue: None,
            sample_every: None,
            hogs: Vec::new(),
            background_cpus: None,
        }
    }
}

/// Runs the experiment; records come in schedule order. Needs root
/// (CAP_SYS_ADMIN): see [`LabError::is_not_permitted`].
pub fn run(experiment: &Experiment) -> Result<Vec<Record>, LabError> {
    observe(experiment).map(|observation| observation.records)
}

/// Runs the experiment and returns everything it saw.
pub fn observe(experiment: &Experiment) -> Result<Observation, LabError> {
    let group = match experiment.kernel_queue {
        Some(limit) => {
            let _lowered = QueueLimit::lower(limit)?; // restored right after
            Fanotify::new()?
        }
        None => Fanotify::new()?,
    };
    let dir = tempfile::Builder::new()
        .prefix("esreplay-lab-")
        .tempdir()
        .map_err(|source| LabError::Io {
            what: "create a temporary directory".into(),
            source,
        })?;
    for index in 0..experiment.planned.len() {
        let path = file_of(dir.path(), index);
        std::fs::write(&path, b"").map_err(|source| LabError::Io {
            what: format!("create {}", path.display()),
            source,
        })?;
    }
    // From here on, opening a file in `dir` waits for the client.
    group.mark(&Mark::Directory(dir.path().into()), EventMask::OPEN_PERM)?;
    let result = run_marked(experiment, group, dir.path());
    drop(dir); // after the group: `run_marked` consumed and closed it
    result
}

fn run_marked(
    experiment: &Experiment,
    group: Fanotify,
    dir: &std::path::Path,
) -> Result<Observation, LabError> {
    let clock = Clock::start();
    let calls: Vec<AtomicU64> = experiment
        .planned
        .iter()
        .map(|_| AtomicU64::new(0))
        .collect();
    let stop = AtomicBool::new(false);
    let start_ns = duration_ns(experiment.lead_in);
    let last = experiment
        .planned
        .iter()
        .map(|p| p.offset_ns)
        .max()
        .unwrap_or(0);
    let how = Listen {
        planned: experiment.planned,
        calls: &calls,
        clock,
        stop: &stop,
        give_up_ns: start_ns
            .saturating_add(last)
            .saturating_add(duration_ns(experiment.timeout)),
        work: experiment.work,
        one_at_a_time: experiment.kernel_queue.is_some(),
    };
    let load = Load {
        dir,
        planned: experiment.planned,
        start_ns,
        clock,
        calls: &calls,
    };
    let sampled = AtomicBool::new(false);
    let (heard, opened, background) = thread::scope(|scope| {
        let client = scope.spawn(|| {
            let group = group; // dropped when the client stops, whatever happens
            listen(&group, experiment.strategy, &how)
        });
        let sampler = experiment.sample_every.map(|every| {
            let sampler = Sampler {
                every,
                hogs: experiment.hogs.clone(),
                cpus: experiment.background_cpus.clone(),
            };
            let sampled = &sampled;
            scope.spawn(move || sampler.run(&clock, sampled))
        });
        let opened = match experiment.threads {
            Some(threads) => generate_closed(&load, threads),
            None => generate(&load, experiment.openers),
        };
        stop.store(true, Ordering::Release);
        sampled.store(true, Ordering::Release);
        let heard = client
            .join()
            .unwrap_or(Err(LabError::Panicked("the client")));
        let background = sampler.map(|s| s.join().unwrap_or_default());
        (heard, opened, background.unwrap_or_default())
    });
    let heard: Heard = heard?;
    Ok(Observation {
        records: merge(opened?, &heard.tickets, experiment.planned)?,
        background,
        overflow_records: heard.overflow_records,
    })
}

fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Joins the openers' and the client's views by index.
fn merge(
    opened: Vec<Opened>,
    tickets: &[Arc<Ticket>],
    planned: &[Planned],
) -> Result<Vec<Record>, LabError> {
    let mut records: Vec<Record> = opened
        .into_iter()
        .map(|o| Record {
            index: o.index,
            due_ns: o.due_ns,
            call_ns: o.call_ns,
            return_ns: o.return_ns,
            deadline_ns: planned[o.index]
                .budget_ns
                .map(|b| o.call_ns.saturating_add(b)),
            served: None,
        })
        .collect();
    for ticket in tickets {
        let served = ticket.served()?;
        if let Some(record) = records.get_mut(ticket.index) {
            record.served = record.served.or(served);
        }
    }
    Ok(records)
}
