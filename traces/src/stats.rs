//! What is in a trace (`esreplay inspect`): counts, duration, rates,
//! deadline budgets, sequence gaps and service times, gathered in one
//! streaming pass.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::event::{Action, EventType};
use crate::histogram::Histogram;
use crate::model::Message;

/// Windows over which peak rates are measured, ns.
const PEAK_WINDOWS_NS: [(u64, &str); 2] = [(1_000_000_000, "1s"), (100_000_000, "100ms")];

/// Summary of a set of durations.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DurationSummary {
    /// How many values.
    pub count: u64,
    /// Smallest, ns.
    pub min_ns: u64,
    /// Mean, ns.
    pub mean_ns: f64,
    /// Median, ns: the nearest-rank value v reported as r with
    /// v − v/1024 ≤ r ≤ v, never outside [`min_ns`](Self::min_ns),
    /// [`max_ns`](Self::max_ns) ([`Histogram::per_mille`]).
    pub p50_ns: u64,
    /// 99th percentile, ns (same precision as the median).
    pub p99_ns: u64,
    /// Largest, ns (exact).
    pub max_ns: u64,
}

/// Counts and budgets of one event type.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EventStats {
    /// Event name (or number).
    pub event: String,
    /// AUTH messages of this type.
    pub auth: u64,
    /// NOTIFY messages of this type.
    pub notify: u64,
    /// Deadline budgets (deadline − arrival) of the AUTH messages.
    pub budget: Option<DurationSummary>,
}

/// Everything `inspect` reports about the messages of a trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TraceStats {
    /// Messages.
    pub messages: u64,
    /// AUTH messages.
    pub auth: u64,
    /// NOTIFY messages.
    pub notify: u64,
    /// First arrival, ns.
    pub first_arrival_ns: Option<u64>,
    /// Last arrival, ns.
    pub last_arrival_ns: Option<u64>,
    /// Last arrival − first arrival, ns.
    pub duration_ns: u64,
    /// Messages per second over the duration.
    pub mean_rate_per_s: f64,
    /// Highest message count in any window of this length, as a rate per
    /// second, keyed by window (`1s`, `100ms`).
    pub peak_rate_per_s: BTreeMap<String, f64>,
    /// Per event type, by ES number.
    pub events: Vec<EventStats>,
    /// `global_seq` values skipped (drops before the recorder saw them).
    pub sequence_gaps: u64,
    /// Times `global_seq` went backwards (two sessions or reordering).
    pub sequence_regressions: u64,
    /// Times an arrival was earlier than the one before it.
    pub arrival_regressions: u64,
    /// Recorded service times, if any.
    pub service: Option<DurationSummary>,
}

/// Gathers [`TraceStats`] one message at a time.
pub struct StatsBuilder {
    stats: TraceStats,
    events: BTreeMap<EventType, (u64, u64, Durations)>,
    service: Durations,
    windows: Vec<(u64, VecDeque<u64>, u64)>,
    last_global_seq: Option<u64>,
    last_arrival_ns: u64,
}

/// Durations: percentiles from a [`Histogram`], exact min, max and mean.
struct Durations {
    histogram: Histogram,
    sum: u128,
}

impl Durations {
    fn new() -> Durations {
        Durations {
            // Memory follows the largest value recorded.
            histogram: Histogram::new(),
            sum: 0,
        }
    }

    fn record(&mut self, value: u64) {
        self.histogram.record(value);
        self.sum += u128::from(value);
    }

    fn summary(&self) -> Option<DurationSummary> {
        let histogram = &self.histogram;
        let count = histogram.len();
        Some(DurationSummary {
            count,
            min_ns: histogram.min(),
            mean_ns: self.sum as f64 / count as f64,
            p50_ns: histogram.per_mille(500)?,
            p99_ns: histogram.per_mille(990)?,
            max_ns: histogram.max(),
        })
    }
}

impl Default for StatsBuilder {
    fn default() -> Self {
        StatsBuilder {
            stats: TraceStats::default(),
            events: BTreeMap::new(),
            service: Durations::new(),
            windows: PEAK_WINDOWS_NS
                .iter()
                .map(|&(len, _)| (len, VecDeque::new(), 0))
                .collect(),
            last_global_seq: None,
            last_arrival_ns: 0,
        }
    }
}

impl StatsBuilder {
    /// Counts one message.
    pub fn add(&mut self, message: &Message) {
        let stats = &mut self.stats;
        stats.messages += 1;
        let (auth, notify, budgets) = self
            .events
            .entry(message.event)
            .or_insert_with(|| (0, 0, Durations::new()));
        match message.action {
            Action::Auth => {
                stats.auth += 1;
                *auth += 1;
            }
            Action::Notify => {
                stats.notify += 1;
                *notify += 1;
            }
        }
        if let Some(budget) = message.budget_ns() {
            budgets.record(budget);
        }
        if let Some(service) = message.service_ns {
            self.service.record(service);
        }
        self.track_sequence(message.global_seq);
        self.track_arrival(message.arrival_ns);
    }

    fn track_sequence(&mut self, global_seq: u64) {
        if let Some(last) = self.last_global_seq {
            if global_seq > last {
                self.stats.sequence_gaps += global_seq - last - 1;
            } else {
                self.stats.sequence_regressions += 1;
            }
        }
        self.last_global_seq = Some(global_seq);
    }

    fn track_arrival(&mut self, arrival_ns: u64) {
        let stats = &mut self.stats;
        stats.first_arrival_ns = Some(
            stats
                .first_arrival_ns
                .map_or(arrival_ns, |f| f.min(arrival_ns)),
        );
        stats.last_arrival_ns = Some(
            stats
                .last_arrival_ns
                .map_or(arrival_ns, |l| l.max(arrival_ns)),
        );
        if stats.messages > 1 && arrival_ns < self.last_arrival_ns {
            stats.arrival_regressions += 1;
        }
        // Out-of-order arrivals count at the latest time seen, so that the
        // windows stay sorted.
        let now = arrival_ns.max(self.last_arrival_ns);
        self.last_arrival_ns = now;
        for (len, window, peak) in &mut self.windows {
            window.push_back(now);
            while window.front().is_some_and(|&t| now - t >= *len) {
                window.pop_front();
            }
            *peak = (*peak).max(window.len() as u64);
        }
    }

    /// The statistics of every message added.
    pub fn finish(mut self) -> TraceStats {
        let stats = &mut self.stats;
        stats.duration_ns = match (stats.first_arrival_ns, stats.last_arrival_ns) {
            (Some(first), Some(last)) => last - first,
            _ => 0,
        };
        stats.mean_rate_per_s = if stats.duration_ns > 0 {
            stats.messages as f64 * 1e9 / stats.duration_ns as f64
        } else {
            0.0
        };
        for ((len, _, peak), (_, name)) in self.windows.iter().zip(PEAK_WINDOWS_NS) {
            let rate = *peak as f64 * 1e9 / *len as f64;
            stats.peak_rate_per_s.insert(name.to_owned(), rate);
        }
        stats.events = self
            .events
            .iter()
            .map(|(event, (auth, notify, budgets))| EventStats {
                event: event.to_string(),
                auth: *auth,
                notify: *notify,
                budget: budgets.summary(),
            })
            .collect();
        stats.service = self.service.summary();
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(global_seq: u64, arrival_ns: u64, budget_ns: u64) -> Message {
        let mut message = Message::new(global_seq, EventType::AUTH_OPEN, Action::Auth, arrival_ns);
        message.deadline_ns = Some(arrival_ns + budget_ns);
        message
    }

    #[test]
    fn counts_rates_gaps_and_budgets() {
        let mut builder = StatsBuilder::default();
        // 10 messages in the first 100 ms, then one at 2 s; seq 3..=5 missing.
        for i in 0..10 {
            builder.add(&auth(i, i * 10_000_000, 15_000_000_000));
        }
        builder.add(&auth(14, 2_000_000_000, 5_000_000_000));
        builder.add(&Message::new(
            15,
            EventType::NOTIFY_EXEC,
            Action::Notify,
            2_000_000_000,
        ));
        let stats = builder.finish();
        assert_eq!((stats.messages, stats.auth, stats.notify), (12, 11, 1));
        assert_eq!(stats.duration_ns, 2_000_000_000);
        assert_eq!(stats.mean_rate_per_s, 6.0);
        assert_eq!(stats.peak_rate_per_s["100ms"], 100.0);
        assert_eq!(stats.peak_rate_per_s["1s"], 10.0);
        assert_eq!(stats.sequence_gaps, 4);
        assert_eq!(stats.events.len(), 2);
        let open = &stats.events[0];
        assert_eq!((open.event.as_str(), open.auth), ("AUTH_OPEN", 11));
        let budget = open.budget.as_ref().unwrap();
        assert_eq!(
            (budget.min_ns, budget.max_ns),
            (5_000_000_000, 15_000_000_000)
        );
        // The nearest rank (15 s) to within 1/1024 below, never above the
        // max (hdrhistogram reported a bucket's top, 15.008 s here).
        for p in [budget.p50_ns, budget.p99_ns] {
            assert!(
                p <= budget.max_ns && p >= 15_000_000_000 - 15_000_000_000 / 1024,
                "{p}"
            );
        }
        assert!(stats.events[1].budget.is_none());
        assert!(stats.service.is_none());
    }

    #[test]
    fn regressions_are_counted_not_hidden() {
        let mut builder = StatsBuilder::default();
        for (seq, arrival) in [(188, 50), (189, 40), (1, 60), (2, 70)] {
            builder.add(&Message::new(
                seq,
                EventType::NOTIFY_EXEC,
                Action::Notify,
                arrival,
            ));
        }
        let stats = builder.finish();
        assert_eq!(stats.sequence_regressions, 1);
        assert_eq!(stats.arrival_regressions, 1);
        assert_eq!(stats.first_arrival_ns, Some(40));
        assert_eq!(stats.duration_ns, 30);
    }

    #[test]
    fn arrivals_at_the_top_of_the_range_do_not_overflow() {
        let mut builder = StatsBuilder::default();
        for (seq, arrival) in [(0, u64::MAX), (1, 3_000), (2, u64::MAX)] {
            builder.add(&Message::new(
                seq,
                EventType::NOTIFY_EXEC,
                Action::Notify,
                arrival,
            ));
        }
        let stats = builder.finish();
        assert_eq!(stats.arrival_regressions, 1);
        assert_eq!(stats.peak_rate_per_s["1s"], 3.0);
    }
}
