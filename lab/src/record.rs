//! The lab's inputs and outputs as plain data: the [`Planned`] opens, the
//! per-event [`Record`]s (what the opener and the client saw), a run's
//! [`Observation`] (records, background track), the shared [`Clock`], and the measurements taken from records: the backlog at a
//! time and the fanotify delivery and response costs ([`Costs`]).
//!
//! All times are nanoseconds since the experiment's epoch, on
//! `CLOCK_MONOTONIC` (`std::time::Instant` on Linux).

use std::time::{Duration, Instant};

/// One scheduled open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// When to call `open`, ns after the schedule starts.
    pub offset_ns: u64,
    /// How much CPU work the client spends on it.
    pub service_ns: u64,
    /// Deadline budget: d_i = call time + budget (none: no deadline).
    pub budget_ns: Option<u64>,
}

/// Who answered an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answerer {
    /// The reading thread (inline).
    Handler,
    /// Worker k (0-based).
    Worker(u32),
    /// A guard's watchdog, with the default verdict (ALLOW).
    Guard,
}

/// One open as the opener and the client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The open's position in the schedule (its file is named by it).
    pub index: usize,
    /// When the schedule wanted `open` called.
    pub due_ns: u64,
    /// When the opener called `open` (after `due_ns` when every opener
    /// was stalled, or late from the scheduler).
    pub call_ns: u64,
    /// When `open` returned: `return − call` is the stall the syscall saw.
    pub return_ns: u64,
    /// d_i = call + budget.
    pub deadline_ns: Option<u64>,
    /// What the client did; `None` if it never saw the event.
    pub served: Option<Served>,
}

/// The client's side of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// When the read that returned the event returned.
    pub read_ns: u64,
    /// Whether the reader was already waiting when the open was called:
    /// then `read − call` is the pure delivery cost.
    pub idle_read: bool,
    /// When the reading thread took it (h_i).
    pub taken_ns: u64,
    /// When the work started (`None`: dropped by a guard).
    pub start_ns: Option<u64>,
    /// When the work finished.
    pub finish_ns: Option<u64>,
    /// Just before the answer was written to the group.
    pub answer_ns: u64,
    /// Who answered.
    pub answered_by: Answerer,
    /// Who ran the work (the handler or a worker; `None`: dropped).
    pub ran_on: Option<Answerer>,
}

/// One sample of the background track.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When it was taken, ns since the experiment's epoch.
    pub at_ns: u64,
    /// Other runnable threads competing for the lab's CPUs.
    pub background: f64,
}

/// The mean of a track (its samples are evenly spaced); `None` when empty.
pub fn mean_background(track: &[Sample]) -> Option<f64> {
    (!track.is_empty())
        .then(|| track.iter().map(|s| s.background).sum::<f64>() / track.len() as f64)
}

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// Every open, in schedule order.
    pub records: Vec<Record>,
    /// The background track, if sampled.
    pub background: Vec<Sample>,
    /// `FAN_Q_OVERFLOW` records the client read (the queue was full at
    /// least once since the previous one).
    pub overflow_records: usize,
}

/// The experiment's time origin.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// `instant` in ns since the epoch (0 before it).
    pub fn ns(&self, instant: Instant) -> u64 {
        let since = instant.saturating_duration_since(self.epoch);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Now, in ns since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.ns(Instant::now())
    }

    /// The instant `ns` after the epoch.
    pub fn at(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }
}

/// How late the openers called `open`, at worst (`call − due`).
pub fn max_lateness_ns(records: &[Record]) -> u64 {
    records
        .iter()
        .map(|r| r.call_ns.saturating_sub(r.due_ns))
        .max()
        .unwrap_or(0)
}

/// #{i : call_i ≤ t < return_i}: opens stalled at `t`.
pub fn backlog_at(records: &[Record], t: u64) -> usize {
    records
        .iter()
        .filter(|r| r.call_ns <= t && t < r.return_ns)
        .count()
}

/// The costs the simulator's model leaves out by default, measured from
/// records: the kernel's share of the stall (τ, ρ) and the client's own
/// per-message overhead on the reading thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Costs {
    /// τ: median `read − call` over events the reader was idle for.
    pub delivery_ns: Option<u64>,
    /// ρ: median `return − answer` over every answered event.
    pub response_ns: Option<u64>,
    /// The reading thread's time per message beyond the work: mean (the
    /// slowest 1 % left out) of `taken(next) − done(this)` over back-to-back events (the next was
    /// called before this one was done), where done is the end of the
    /// work for an inline plan and the take itself otherwise. It covers
    /// answering, reading the group and resolving the path.
    pub handler_ns: Option<u64>,
    /// A worker's time per job beyond the work: mean (the slowest 1 % left
    /// out) of
    /// `start(next) − finish(this)` over back-to-back jobs of one worker
    /// (the next was taken before this one finished). It covers answering
    /// (the opener it wakes may take the core at once) and the queue.
    pub worker_ns: Option<u64>,
    /// How many idle reads τ comes from.
    pub delivery_samples: usize,
    /// How many back-to-back pairs the handler overhead comes from.
    pub handler_samples: usize,
}

impl Costs {
    /// Measures the costs; `inline`: the plan works on the reading thread.
    pub fn measure(records: &[Record], inline: bool) -> Costs {
        let mut served: Vec<(&Record, Served)> = records
            .iter()
            .filter_map(|r| Some((r, r.served?)))
            .collect();
        let delivery: Vec<u64> = served
            .iter()
            .filter(|(_, s)| s.idle_read)
            .map(|(r, s)| s.read_ns.saturating_sub(r.call_ns))
            .collect();
        let response: Vec<u64> = served
            .iter()
            .map(|(r, s)| r.return_ns.saturating_sub(s.answer_ns))
            .collect();
        served.sort_by_key(|(_, s)| s.taken_ns);
        let done = |s: &Served| match (inline, s.finish_ns) {
            (true, Some(finish)) => finish,
            _ => s.taken_ns,
        };
        let handler: Vec<u64> = served
            .windows(2)
            .filter(|pair| pair[1].0.call_ns < done(&pair[0].1))
            .map(|pair| pair[1].1.taken_ns.saturating_sub(done(&pair[0].1)))
            .collect();
        Costs {
            delivery_samples: delivery.len(),
            delivery_ns: median(delivery),
            response_ns: median(response),
            handler_samples: handler.len(),
            handler_ns: trimmed_mean(handler),
            worker_ns: trimmed_mean(worker_gaps(&served)),
        }
    }
}

/// `start(next) − finish(this)` for back-to-back jobs of each worker.
fn worker_gaps(served: &[(&Record, Served)]) -> Vec<u64> {
    let mut runs: Vec<(u32, u64, u64, u64)> = served
        .iter()
        .filter_map(|(_, s)| match (s.ran_on, s.start_ns, s.finish_ns) {
            (Some(Answerer::Worker(k)), Some(start), Some(finish)) => {
                Some((k, start, finish, s.taken_ns))
            }
            _ => None,
        })
        .collect();
    runs.sort_unstable();
    runs.windows(2)
        .filter(|pair| pair[0].0 == pair[1].0 && pair[1].3 < pair[0].2)
        .map(|pair| pair[1].1.saturating_sub(pair[0].2))
        .collect()
}

/// The mean of the values but the largest 1 % (⌊n/100⌋ of them), rounded
/// down; `None` when empty. Overheads accumulate over a busy period, so
/// their mean is what a queue feels; the rare gap where the thread was
/// descheduled for milliseconds is noise, not a cost of the design.
pub fn trimmed_mean(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    values.truncate(values.len() - values.len() / 100);
    let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
    let n = u128::try_from(values.len()).ok().filter(|&n| n > 0)?;
    u64::try_from(sum / n).ok()
}

/// The lower median (nearest rank ⌈n/2⌉), `None` when empty.
pub fn median(mut values: Vec<u64>) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let rank = values.len().div_ceil(2) - 1;
    Some(*values.select_nth_unstable(rank).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: usize, call_ns: u64, return_ns: u64, served: Option<Served>) -> Record {
        Record {
            index,
            due_ns: call_ns,
            call_ns,
            return_ns,
            deadline_ns: None,
            served,
        }
    }

    fn served(read_ns: u64, idle_read: bool, answer_ns: u64) -> Served {
        Served {
            read_ns,
            idle_read,
            taken_ns: read_ns,
            start_ns: Some(read_ns),
            finish_ns: Some(answer_ns),
            answer_ns,
            answered_by: Answerer::Handler,
            ran_on: Some(Answerer::Handler),
        }
    }

    #[test]
    fn backlog_counts_opens_stalled_at_an_instant() {
        let records = [record(0, 0, 10, None), record(1, 5, 20, None)];
        let at: Vec<usize> = [0, 5, 10, 19, 20].map(|t| backlog_at(&records, t)).into();
        assert_eq!(at, vec![1, 2, 1, 1, 0]);
        let mut late = records;
        late[1].due_ns = 2;
        assert_eq!(max_lateness_ns(&late), 3);
        let sample = |background| Sample {
            at_ns: 0,
            background,
        };
        assert_eq!(mean_background(&[sample(1.0), sample(2.0)]), Some(1.5));
        assert_eq!(mean_background(&[]), None);
    }

    #[test]
    fn costs_use_idle_reads_for_delivery_and_every_answer_for_response() {
        let records = [
            record(0, 100, 190, Some(served(110, true, 180))),
            record(1, 100, 260, Some(served(110, false, 250))),
            record(2, 300, 420, Some(served(330, true, 400))),
            record(3, 500, 600, None),
        ];
        let costs = Costs::measure(&records, true);
        assert_eq!(costs.delivery_samples, 2);
        assert_eq!(costs.delivery_ns, Some(10));
        assert_eq!(costs.response_ns, Some(10));
        assert_eq!(median(vec![5, 1, 9, 3]), Some(3));
        let mut gaps = vec![10; 99];
        gaps.extend([20, 1_000_000]); // 101 values: the largest is left out
        assert_eq!(trimmed_mean(gaps), Some(10));
        assert_eq!(trimmed_mean(vec![1, 2]), Some(1));
        assert_eq!(trimmed_mean(Vec::new()), None);
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn handler_overhead_is_the_gap_between_back_to_back_events() {
        let taken = |call_ns, taken_ns, finish_ns| {
            let mut s = served(taken_ns, false, finish_ns);
            s.taken_ns = taken_ns;
            s.start_ns = Some(taken_ns);
            record(0, call_ns, finish_ns + 5, Some(s))
        };
        // Open 1 (called at 5) waits for open 0 (done at 100, taken at 10)
        // and is taken at 120; open 2
        // comes after open 1 is done: no sample.
        let records = [taken(0, 10, 100), taken(5, 120, 200), taken(500, 510, 600)];
        let inline = Costs::measure(&records, true);
        assert_eq!((inline.handler_samples, inline.handler_ns), (1, Some(20)));
        // On workers the handler is done when it takes: 10 → 120.
        let pool = Costs::measure(&records, false);
        assert_eq!((pool.handler_samples, pool.handler_ns), (1, Some(110)));
        assert_eq!(pool.worker_ns, None); // answered by the handler
    }

    #[test]
    fn worker_overhead_is_the_gap_between_back_to_back_jobs_of_one_worker() {
        let job = |k, taken_ns, start_ns, finish_ns| {
            let mut s = served(taken_ns, false, finish_ns);
            (s.taken_ns, s.start_ns) = (taken_ns, Some(start_ns));
            (s.answered_by, s.ran_on) = (Answerer::Worker(k), Some(Answerer::Worker(k)));
            record(0, taken_ns, finish_ns + 5, Some(s))
        };
        let records = [
            job(0, 0, 1, 100),
            job(0, 50, 130, 200),  // waited: 30 after the last finish
            job(1, 60, 61, 150),   // another worker
            job(0, 300, 301, 400), // taken after worker 0 was free
        ];
        let costs = Costs::measure(&records, false);
        assert_eq!(costs.worker_ns, Some(30));
    }

    #[test]
    fn the_clock_counts_from_its_epoch() {
        let clock = Clock::start();
        let later = clock.at(1_500);
        assert_eq!(clock.ns(later), 1_500);
        assert!(clock.now_ns() < 60_000_000_000);
    }
}
