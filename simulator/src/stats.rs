//! Streaming accumulators behind [`SimResult`]: counts, misses, latency,
//! slack, busy time and the backlog, each updated once per message in
//! O(1) or O(log backlog), so memory follows the backlog, not the trace.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use esreplay_traces::Action;

use crate::engine::{Outcome, Time};
use crate::histogram::Histogram;
use crate::report::{FirstMiss, Latency, SimResult};

/// How far from the back of the sorted deque a response may be inserted.
const NEAR: usize = 16;

/// The backlog #{i : a_i ≤ t < r_i}, maximised over t.
///
/// The maximum is reached at an arrival instant, so it is evaluated once
/// per distinct arrival time t (or, when nothing but the maximum is
/// wanted, at those where it may be a new one), after every response ≤ t
/// is known (the engine guarantees that by advancing the strategy first). Known future
/// responses wait in a sorted queue (the common, nearly sorted case: O(1))
/// or a min-heap. A message answered at t is no longer counted at t.
///
/// The sorted queue is a vector read from `head` on (cheaper per step
/// than a `VecDeque`'s ring): emptied when all of it is passed, and its
/// passed front dropped when that is most of it, O(1) amortised.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    sorted: Vec<u64>,
    /// The first response of `sorted` still to come.
    head: usize,
    heap: BinaryHeap<Reverse<u64>>,
    arrived: u64,
    answered: u64,
    max: u64,
    /// The last instant is closed: later responses are not kept.
    sealed: bool,
}

impl Backlog {
    pub(crate) fn arrive(&mut self) {
        self.arrived += 1;
    }

    #[inline(always)]
    pub(crate) fn respond(&mut self, response_ns: u64) {
        if self.sealed {
            return;
        }
        // Responses come nearly sorted (pools finish a little out of
        // order): insert near the back of the sorted deque when the place
        // is close, else fall back to the heap.
        if self.sorted.last().is_none_or(|&last| response_ns >= last) {
            self.sorted.push(response_ns);
            return;
        }
        self.respond_out_of_order(response_ns);
    }

    /// [`respond`](Self::respond) for a response before the last one.
    fn respond_out_of_order(&mut self, response_ns: u64) {
        let len = self.sorted.len() - self.head;
        let later = self.sorted[self.head..]
            .iter()
            .rev()
            .take(NEAR)
            .take_while(|&&r| r > response_ns)
            .count();
        if later < NEAR || later == len {
            self.sorted.insert(self.sorted.len() - later, response_ns);
        } else {
            self.heap.push(Reverse(response_ns));
        }
    }

    /// Every arrival at or before `t` has been counted and every response at
    /// or before `t` is known: records the backlog at `t` and returns it.
    #[inline(always)]
    pub(crate) fn close_instant(&mut self, t: u64) -> u64 {
        let (start, len) = (self.head, self.sorted.len());
        let mut head = start;
        while head < len && self.sorted[head] <= t {
            head += 1;
        }
        self.answered += (head - start) as u64;
        if head == len {
            self.sorted.clear();
            self.head = 0;
        } else {
            self.head = head;
            if head > 1024 && 2 * head > len {
                self.drop_passed();
            }
        }
        if !self.heap.is_empty() {
            self.close_heap(t);
        }
        let in_flight = self.arrived - self.answered;
        self.max = self.max.max(in_flight);
        in_flight
    }

    /// [`close_instant`](Self::close_instant) where only the maximum is
    /// wanted: skipped when the backlog at `t` cannot be above it (it is
    /// at most the arrivals less the responses passed so far, all before
    /// `t`); the responses at or before `t` are then passed at a later
    /// instant.
    #[inline(always)]
    pub(crate) fn close_for_max(&mut self, t: u64) {
        if self.arrived - self.answered > self.max {
            self.close_for_new_max(t);
        }
    }

    /// [`close_for_max`](Self::close_for_max) when it may be a new
    /// maximum (out of line: the check stays small).
    #[inline(never)]
    fn close_for_new_max(&mut self, t: u64) {
        self.close_instant(t);
    }

    /// Drops the passed front of `sorted` (when that is most of it).
    #[cold]
    fn drop_passed(&mut self) {
        self.sorted.drain(..self.head);
        self.head = 0;
    }

    /// [`close_instant`](Self::close_instant) for the responses in the heap.
    fn close_heap(&mut self, t: u64) {
        while self.heap.peek().is_some_and(|&Reverse(r)| r <= t) {
            self.heap.pop();
            self.answered += 1;
        }
    }

    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// No instant will be closed any more (the last one is): responses
    /// from now on are not kept, and what was kept goes.
    pub(crate) fn seal(&mut self) {
        self.sealed = true;
        self.sorted = Vec::new();
        self.head = 0;
        self.heap = BinaryHeap::new();
    }

    /// Whether [`seal`](Self::seal) was called.
    pub(crate) fn sealed(&self) -> bool {
        self.sealed
    }

    /// Responses kept for instants still to close.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.sorted.len() - self.head + self.heap.len()
    }
}

/// Totals over all messages answered so far.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) messages: u64,
    pub(crate) auth: u64,
    pub(crate) misses: u64,
    pub(crate) defaulted: u64,
    pub(crate) first_miss: Option<FirstMiss>,
    pub(crate) latency: Histogram,
    pub(crate) min_slack: Option<i64>,
    pub(crate) backlog: Backlog,
    pub(crate) first_arrival: Option<u64>,
    pub(crate) end: u64,
    /// Σ r' − a' over AUTH messages.
    pub(crate) stall: u64,
    /// Σ max(0, a' − a) over messages.
    pub(crate) throttled: u64,
    pub(crate) dropped: u64,
    pub(crate) dropped_allowed: u64,
    pub(crate) dropped_denied: u64,
}

/// Busy time as f64 ns: exact for whole nanoseconds (the integer model's
/// figures, bit for bit).
fn busy_ns(busy: Time) -> f64 {
    let whole = busy.floor_ns();
    if Time::from_ns(whole) == busy {
        whole as f64
    } else {
        busy.as_f64_ns()
    }
}

/// d − r as an i64, saturating.
#[inline]
pub(crate) fn slack(deadline_ns: u64, response_ns: u64) -> i64 {
    if deadline_ns >= response_ns {
        (deadline_ns - response_ns).min(i64::MAX as u64) as i64
    } else {
        // −2⁶³ is the last representable: saturate there.
        0i64.saturating_sub_unsigned(response_ns - deadline_ns)
    }
}

impl Stats {
    /// Counts a message arriving at `arrival_ns`.
    #[inline]
    pub(crate) fn count(&mut self, auth: bool, arrival_ns: u64) {
        self.messages += 1;
        self.auth += u64::from(auth);
        let first = self.first_arrival.get_or_insert(arrival_ns);
        *first = (*first).min(arrival_ns);
    }

    /// A message dropped at a full kernel queue at `at_ns` (counted already).
    pub(crate) fn drop(&mut self, auth: bool, denied: bool, at_ns: u64) {
        self.dropped += 1;
        self.dropped_allowed += u64::from(auth && !denied);
        self.dropped_denied += u64::from(auth && denied);
        self.end = self.end.max(at_ns);
    }

    /// Folds in a message that reached the client.
    #[inline(always)]
    pub(crate) fn record(&mut self, outcome: &Outcome) {
        let response = outcome.response_ns;
        self.end = self.end.max(response).max(outcome.finish_ns.unwrap_or(0));
        self.defaulted += u64::from(outcome.defaulted);
        if outcome.action != Action::Auth {
            return;
        }
        let latency = outcome.latency_ns();
        self.latency.record(latency);
        self.stall = self.stall.saturating_add(latency);
        if let Some(deadline) = outcome.deadline_ns {
            self.slack(slack(deadline, response));
            if outcome.missed {
                self.miss(FirstMiss {
                    global_seq: outcome.global_seq,
                    arrival_ns: outcome.arrival_ns,
                    deadline_ns: deadline,
                    response_ns: response,
                });
            }
        }
    }

    /// Records a miss, keeping the earliest-deadline one (ties: global_seq).
    pub(crate) fn miss(&mut self, miss: FirstMiss) {
        self.misses += 1;
        let earlier = |old: &FirstMiss| {
            (miss.deadline_ns, miss.global_seq) < (old.deadline_ns, old.global_seq)
        };
        if self.first_miss.as_ref().is_none_or(earlier) {
            self.first_miss = Some(miss);
        }
    }

    /// Records the slack of an AUTH message with a deadline.
    pub(crate) fn slack(&mut self, slack: i64) {
        self.min_slack = Some(self.min_slack.map_or(slack, |old| old.min(slack)));
    }

    /// The result; `kill` says whether a miss kills the client.
    pub(crate) fn result(
        &self,
        strategy: String,
        workers: u32,
        kill: bool,
        (handler_busy, worker_busy): (Time, Time),
    ) -> SimResult {
        let span = self
            .first_arrival
            .map_or(0, |first| self.end.saturating_sub(first));
        let share = |busy: Time, capacity: u64| {
            (span > 0 && capacity > 0).then(|| busy_ns(busy) / (span as f64 * capacity as f64))
        };
        let per_mille = |q| self.latency.per_mille(q).unwrap_or(0);
        let latency = (!self.latency.is_empty()).then(|| Latency {
            p50: per_mille(500),
            p90: per_mille(900),
            p99: per_mille(990),
            p999: per_mille(999),
            max: self.latency.max(),
        });
        SimResult {
            strategy,
            messages: self.messages,
            auth: self.auth,
            notify: self.messages - self.auth,
            misses: self.misses,
            defaulted: self.defaulted,
            killed_at_ns: if kill {
                self.first_miss.map(|m| m.deadline_ns)
            } else {
                None
            },
            first_miss: self.first_miss,
            latency_ns: latency,
            min_slack_ns: self.min_slack,
            max_backlog: self.backlog.max(),
            handler_utilization: share(handler_busy, 1),
            worker_utilization: share(worker_busy, u64::from(workers)),
            ..SimResult::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_excludes_messages_answered_at_the_instant() {
        let mut backlog = Backlog::default();
        // a = 0, 0 answered at 5, 10; a = 5 answered at 7; a = 10.
        backlog.arrive();
        backlog.arrive();
        backlog.respond(10);
        backlog.respond(5);
        backlog.close_instant(0);
        assert_eq!(backlog.max(), 2);
        backlog.arrive();
        backlog.respond(7);
        backlog.close_instant(5);
        assert_eq!(backlog.max(), 2, "the one answered at 5 no longer counts");
        backlog.arrive();
        backlog.close_instant(10);
        assert_eq!(backlog.max(), 2);
        assert_eq!(backlog.answered, 3);
    }

    #[test]
    fn a_sealed_backlog_keeps_no_response_and_its_maximum() {
        let mut backlog = Backlog::default();
        for _ in 0..3 {
            backlog.arrive();
        }
        backlog.respond(9);
        backlog.respond(4);
        assert_eq!(backlog.close_instant(2), 3);
        assert_eq!(backlog.kept(), 2);
        backlog.seal();
        assert!(backlog.sealed());
        assert_eq!(backlog.kept(), 0, "what was kept goes");
        backlog.respond(12);
        backlog.respond(11);
        assert_eq!(backlog.kept(), 0, "later responses are not kept");
        assert_eq!(backlog.max(), 3);
    }

    #[test]
    fn slack_saturates_and_the_first_miss_is_the_earliest_deadline() {
        assert_eq!(slack(u64::MAX, 0), i64::MAX);
        assert_eq!(slack(0, u64::MAX), i64::MIN);
        let edges = [
            0,
            1,
            7,
            1 << 62,
            (1 << 63) - 1,
            1 << 63,
            (1 << 63) + 1,
            u64::MAX,
        ];
        for (d, r) in edges
            .iter()
            .flat_map(|&d| edges.iter().map(move |&r| (d, r)))
        {
            let wide = (i128::from(d) - i128::from(r)).clamp(i64::MIN.into(), i64::MAX.into());
            assert_eq!(i128::from(slack(d, r)), wide, "d {d} r {r}");
        }
        let mut stats = Stats::default();
        let miss = |global_seq, deadline_ns| FirstMiss {
            global_seq,
            arrival_ns: 0,
            deadline_ns,
            response_ns: 99,
        };
        stats.miss(miss(1, 50));
        stats.miss(miss(0, 40));
        stats.miss(miss(2, 40));
        assert_eq!(stats.misses, 3);
        assert_eq!(stats.first_miss, Some(miss(0, 40)));
        let busy = (Time::ZERO, Time::ZERO);
        assert_eq!(
            stats.result("x".into(), 0, true, busy).killed_at_ns,
            Some(40)
        );
        assert_eq!(stats.result("x".into(), 0, false, busy).killed_at_ns, None);
    }
}
