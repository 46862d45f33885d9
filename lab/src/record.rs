//! The lab's inputs and outputs as plain data: the [`Planned`] opens, the
//! per-event [`Record`]s (what the opener and the client saw), the shared
//! [`Clock`], and the measurements taken from records: the backlog at a
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
    /// When the opener called `open`.
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

/// #{i : call_i ≤ t < return_i}: opens stalled at `t`.
pub fn backlog_at(records: &[Record], t: u64) -> usize {
    records
        .iter()
        .filter(|r| r.call_ns <= t && t < r.return_ns)
        .count()
}

/// The kernel's share of the stall, measured from records: what the
/// simulator calls τ and ρ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Costs {
    /// τ: median `read − call` over events the reader was idle for.
    pub delivery_ns: Option<u64>,
    /// ρ: median `return − answer` over every answered event.
    pub response_ns: Option<u64>,
    /// How many idle reads τ comes from.
    pub delivery_samples: usize,
}

impl Costs {
    /// Measures τ and ρ.
    pub fn measure(records: &[Record]) -> Costs {
        let served = || records.iter().filter_map(|r| Some((r, r.served?)));
        let delivery: Vec<u64> = served()
            .filter(|(_, s)| s.idle_read)
            .map(|(r, s)| s.read_ns.saturating_sub(r.call_ns))
            .collect();
        let response: Vec<u64> = served()
            .map(|(r, s)| r.return_ns.saturating_sub(s.answer_ns))
            .collect();
        Costs {
            delivery_samples: delivery.len(),
            delivery_ns: median(delivery),
            response_ns: median(response),
        }
    }
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
        }
    }

    #[test]
    fn backlog_counts_opens_stalled_at_an_instant() {
        let records = [record(0, 0, 10, None), record(1, 5, 20, None)];
        let at: Vec<usize> = [0, 5, 10, 19, 20].map(|t| backlog_at(&records, t)).into();
        assert_eq!(at, vec![1, 2, 1, 1, 0]);
    }

    #[test]
    fn costs_use_idle_reads_for_delivery_and_every_answer_for_response() {
        let records = [
            record(0, 100, 190, Some(served(110, true, 180))),
            record(1, 100, 260, Some(served(110, false, 250))),
            record(2, 300, 420, Some(served(330, true, 400))),
            record(3, 500, 600, None),
        ];
        let costs = Costs::measure(&records);
        assert_eq!(costs.delivery_samples, 2);
        assert_eq!(costs.delivery_ns, Some(10));
        assert_eq!(costs.response_ns, Some(10));
        assert_eq!(median(vec![5, 1, 9, 3]), Some(3));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn the_clock_counts_from_its_epoch() {
        let clock = Clock::start();
        let later = clock.at(1_500);
        assert_eq!(clock.ns(later), 1_500);
        assert!(clock.now_ns() < 60_000_000_000);
    }
}
