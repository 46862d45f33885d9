//! The lab's fanotify permission client: the reading thread takes each
//! event (maps it back to its scheduled open by the file's name), computes
//! its deadline and guard time, and runs the strategy ([`split`] into its
//! base and guards): inline on itself, or queued for workers (FIFO or
//! EDF), with a watchdog thread for guards.
//!
//! The reading thread never opens a file in the watched directory (that
//! would wait for its own answer): it only reads the group and
//! `readlink`s `/proc/self/fd`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use esreplay_fanotify::{Event, Fanotify};
use esreplay_simulator::StrategySpec;
use esreplay_simulator::strategy::Margin;

use crate::LabError;
use crate::plan::{Base, Work, split};
use crate::queue::{Queue, Watchdog, work_loop};
use crate::record::{Answerer, Clock, Planned};
use crate::ticket::{Taken, Ticket};

/// How long one read waits before the stop flag is checked again.
const POLL: Duration = Duration::from_millis(20);

/// What the reading thread needs to know.
pub(crate) struct Listen<'a> {
    pub planned: &'a [Planned],
    /// Call times the openers publish (ns since the epoch; 0: not yet).
    pub calls: &'a [AtomicU64],
    pub clock: Clock,
    /// Set when every open has returned.
    pub stop: &'a AtomicBool,
    /// Give up (and allow everything) after this time (ns since the epoch).
    pub give_up_ns: u64,
    /// How service time is spent.
    pub work: Work,
    /// Read one event at a time (the rest stay in the kernel's queue).
    pub one_at_a_time: bool,
}

/// What the client heard.
pub(crate) struct Heard {
    /// Every event it took, in the order it took them.
    pub tickets: Vec<Arc<Ticket>>,
    /// `FAN_Q_OVERFLOW` records (no file) it read.
    pub overflow_records: usize,
}

/// The threads behind the reading thread.
struct Crew {
    guards: Vec<Margin>,
    queue: Option<Arc<Queue>>,
    watchdog: Option<Arc<Watchdog>>,
    threads: Vec<JoinHandle<()>>,
}

impl Crew {
    fn start(strategy: &StrategySpec, clock: Clock) -> Result<Crew, LabError> {
        let (base, guards) = split(strategy);
        let mut crew = Crew {
            guards,
            queue: None,
            watchdog: None,
            threads: Vec::new(),
        };
        if let Base::Fifo(n) | Base::Edf(n) = base {
            let queue = Arc::new(Queue::new(matches!(base, Base::Edf(_))));
            for k in 0..n {
                let queue = Arc::clone(&queue);
                let worker = move || work_loop(&queue, &clock, k as u32);
                crew.threads.push(spawn(format!("lab-worker-{k}"), worker)?);
            }
            crew.queue = Some(queue);
        }
        if !crew.guards.is_empty() {
            let watchdog = Arc::new(Watchdog::default());
            let thread = Arc::clone(&watchdog);
            crew.threads
                .push(spawn("lab-watchdog".into(), move || thread.run(&clock))?);
            crew.watchdog = Some(watchdog);
        }
        Ok(crew)
    }

    fn take(&self, ticket: Arc<Ticket>, clock: &Clock) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.arm(Arc::clone(&ticket));
        }
        match &self.queue {
            Some(queue) => queue.push(ticket),
            None => ticket.work(clock, Answerer::Handler),
        }
    }

    /// Lets the workers finish (or, with `abort`, stop) and joins them.
    fn stop(mut self, abort: bool) -> Result<(), LabError> {
        if let Some(queue) = &self.queue {
            queue.close(abort);
        }
        let workers = self.threads.len() - usize::from(self.watchdog.is_some());
        let watchdog = self.threads.split_off(workers);
        let mut panicked = join_all(self.threads);
        if let Some(dog) = &self.watchdog {
            dog.close();
        }
        panicked |= join_all(watchdog);
        if panicked {
            return Err(LabError::Panicked("a client thread"));
        }
        Ok(())
    }
}

fn join_all(threads: Vec<JoinHandle<()>>) -> bool {
    threads
        .into_iter()
        .fold(false, |p, t| t.join().is_err() | p)
}

/// Spawns a named thread.
pub(crate) fn spawn(
    name: String,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, LabError> {
    thread::Builder::new()
        .name(name)
        .spawn(body)
        .map_err(|source| LabError::Io {
            what: "spawn a lab thread".into(),
            source,
        })
}

/// Runs the client on this thread until `stop` (or `give_up_ns`), then
/// returns what it heard. The group is dropped by the caller, after this.
pub(crate) fn listen(
    group: &Fanotify,
    strategy: &StrategySpec,
    how: &Listen,
) -> Result<Heard, LabError> {
    let crew = Crew::start(strategy, how.clock)?;
    let mut heard = Heard {
        tickets: Vec::with_capacity(how.planned.len()),
        overflow_records: 0,
    };
    let outcome = read_loop(group, &crew, how, &mut heard);
    let stopped = crew.stop(outcome.is_err());
    outcome.and(stopped).map(|()| heard)
}

fn read_loop(
    group: &Fanotify,
    crew: &Crew,
    how: &Listen,
    heard: &mut Heard,
) -> Result<(), LabError> {
    while !how.stop.load(Ordering::Acquire) {
        if how.clock.now_ns() > how.give_up_ns {
            return Err(LabError::TimedOut);
        }
        let waiting_since = how.clock.now_ns();
        let batch = if how.one_at_a_time {
            group.read_one(Some(POLL))?
        } else {
            group.read(Some(POLL))?
        };
        let read_ns = how.clock.ns(batch.read_at);
        for event in batch.events {
            if event.file().is_none() {
                heard.overflow_records += 1;
                continue;
            }
            let Some(taken) = take(&event, how, read_ns, waiting_since, &crew.guards) else {
                continue; // not ours: allowed when dropped
            };
            let ticket = Arc::new(Ticket::new(taken, event));
            heard.tickets.push(Arc::clone(&ticket));
            crew.take(ticket, &how.clock);
        }
    }
    Ok(())
}

/// The schedule index of the file an event opens (files are named by it).
fn index_of(event: &Event, opens: usize) -> Option<usize> {
    let path = event.path().ok()?;
    let index: usize = path.file_name()?.to_str()?.parse().ok()?;
    (index < opens).then_some(index)
}

/// Deadline and guard time of an event taken now.
fn take(
    event: &Event,
    how: &Listen,
    read_ns: u64,
    waiting_since: u64,
    guards: &[Margin],
) -> Option<Taken> {
    let index = index_of(event, how.planned.len())?;
    let call_ns = match how.calls[index].load(Ordering::Acquire) {
        0 => read_ns,
        call => call,
    };
    let taken_ns = how.clock.now_ns();
    let planned = how.planned[index];
    let deadline_ns = planned.budget_ns.map(|b| call_ns.saturating_add(b));
    let guard_ns = deadline_ns.and_then(|d| guards.iter().map(|g| g.guard_ns(d, taken_ns)).min());
    Some(Taken {
        index,
        read_ns,
        idle_read: call_ns >= waiting_since,
        taken_ns,
        deadline_ns,
        guard_ns,
        service_ns: planned.service_ns,
        work: how.work,
    })
}
