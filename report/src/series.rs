//! [`Series`]: one simulation run downsampled to at most [`BUCKETS`] time
//! buckets, in bounded memory, whatever the length of the trace.
//!
//! Messages are bucketed by **arrival** time (outcomes reach the series
//! in completion order, not kernel order, so any bucket may be updated at
//! any time). The bucket width is a power of two nanoseconds, starting at
//! 1 ns and doubling (merging neighbouring buckets pairwise) whenever a
//! time falls past the last bucket. The final width therefore depends only
//! on the largest time seen, so runs of different strategies over the same
//! trace share their buckets; [`Series::coarsen_to`] aligns them anyway.
//! Each bucket keeps what a chart of the worst case needs: the maximum
//! latency, the minimum slack, the maximum backlog, counts of messages and
//! misses. Merging is associative, so the result does not depend on the
//! order in which outcomes arrive.

/// The most buckets a [`Series`] holds.
pub const BUCKETS: usize = 1000;

/// The worst of the messages that arrived within one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Messages that arrived in the bucket.
    pub messages: u64,
    /// Of those, AUTH messages answered after their deadline.
    pub misses: u64,
    /// Largest latency r − a among its AUTH messages.
    pub max_latency_ns: Option<u64>,
    /// Smallest slack d − r among its AUTH messages with a deadline.
    pub min_slack_ns: Option<i64>,
    /// Largest backlog sampled at an arrival instant in the bucket.
    pub max_backlog: Option<u64>,
}

fn max_of<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    a.into_iter().chain(b).max()
}

fn min_of<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    a.into_iter().chain(b).min()
}

impl Bucket {
    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: &Bucket) {
        self.messages += other.messages;
        self.misses += other.misses;
        self.max_latency_ns = max_of(self.max_latency_ns, other.max_latency_ns);
        self.min_slack_ns = min_of(self.min_slack_ns, other.min_slack_ns);
        self.max_backlog = max_of(self.max_backlog, other.max_backlog);
    }
}

/// A run downsampled to at most [`BUCKETS`] buckets of equal width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    width_ns: u64,
    buckets: Vec<Bucket>,
}

impl Default for Series {
    fn default() -> Self {
        Series::new()
    }
}

impl Series {
    /// An empty series (bucket width 1 ns).
    pub fn new() -> Series {
        Series {
            width_ns: 1,
            buckets: vec![Bucket::default(); BUCKETS],
        }
    }

    /// The bucket width, a power of two nanoseconds.
    pub fn width_ns(&self) -> u64 {
        self.width_ns
    }

    /// The buckets; bucket `i` covers [i · width, (i + 1) · width).
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// The end of the last bucket holding anything (0 when empty).
    pub fn end_ns(&self) -> u64 {
        let used = self
            .buckets
            .iter()
            .rposition(|b| *b != Bucket::default())
            .map_or(0, |i| i as u64 + 1);
        used.saturating_mul(self.width_ns)
    }

    /// Doubles the bucket width, merging buckets pairwise.
    fn coarsen(&mut self) {
        for i in 0..BUCKETS / 2 {
            let mut merged = self.buckets[2 * i];
            merged.merge(&self.buckets[2 * i + 1]);
            self.buckets[i] = merged;
        }
        self.buckets[BUCKETS / 2..].fill(Bucket::default());
        self.width_ns *= 2;
    }

    /// Coarsens to `width_ns` (a power of two, not smaller than the width
    /// now), so that series of several runs line up bucket for bucket.
    pub fn coarsen_to(&mut self, width_ns: u64) {
        while self.width_ns < width_ns {
            self.coarsen();
        }
    }

    fn bucket(&mut self, at_ns: u64) -> &mut Bucket {
        while at_ns / self.width_ns >= BUCKETS as u64 {
            self.coarsen();
        }
        &mut self.buckets[(at_ns / self.width_ns) as usize]
    }

    /// One message that arrived at `arrival_ns`: its latency and slack (for
    /// AUTH messages) and whether it missed its deadline.
    pub fn message(
        &mut self,
        arrival_ns: u64,
        latency_ns: Option<u64>,
        slack_ns: Option<i64>,
        missed: bool,
    ) {
        let bucket = self.bucket(arrival_ns);
        bucket.merge(&Bucket {
            messages: 1,
            misses: u64::from(missed),
            max_latency_ns: latency_ns,
            min_slack_ns: slack_ns,
            max_backlog: None,
        });
    }

    /// The backlog sampled at `at_ns` (an arrival instant).
    pub fn backlog(&mut self, at_ns: u64, in_flight: u64) {
        let bucket = self.bucket(at_ns);
        bucket.max_backlog = max_of(bucket.max_backlog, Some(in_flight));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_width_grows_by_doubling_until_the_last_time_fits() {
        let mut series = Series::new();
        series.message(999, Some(5), Some(1), false);
        assert_eq!(series.width_ns(), 1);
        series.message(10_000, Some(7), Some(-3), true);
        assert_eq!(
            series.width_ns(),
            16,
            "10000 / 16 = 625 < 1000 <= 10000 / 8"
        );
        let b = series.buckets();
        assert_eq!(b[999 / 16].max_latency_ns, Some(5));
        assert_eq!((b[625].misses, b[625].min_slack_ns), (1, Some(-3)));
        assert_eq!(series.end_ns(), 626 * 16);
    }

    #[test]
    fn the_result_does_not_depend_on_the_order_of_outcomes() {
        let samples: Vec<(u64, u64)> = (0..5000u64).map(|i| (i * 7919 % 100_003, i)).collect();
        let mut forward = Series::new();
        let mut backward = Series::new();
        for &(t, latency) in &samples {
            forward.message(t, Some(latency), None, false);
            forward.backlog(t, latency % 97);
        }
        for &(t, latency) in samples.iter().rev() {
            backward.message(t, Some(latency), None, false);
            backward.backlog(t, latency % 97);
        }
        assert_eq!(forward, backward);
        let total: u64 = forward.buckets().iter().map(|b| b.messages).sum();
        assert_eq!(total, 5000);
        let peak = forward.buckets().iter().filter_map(|b| b.max_backlog).max();
        assert_eq!(peak, Some(96));
    }

    #[test]
    fn coarsening_keeps_the_extremes_and_times_near_u64_max_fit() {
        let mut a = Series::new();
        a.message(3, Some(10), Some(4), false);
        a.message(2, Some(20), Some(-4), true);
        let before: Bucket = {
            let mut all = Bucket::default();
            a.buckets().iter().for_each(|b| all.merge(b));
            all
        };
        a.coarsen_to(1 << 20);
        assert_eq!(a.buckets()[0], before);
        a.message(u64::MAX, None, None, false);
        assert_eq!(a.buckets()[(u64::MAX / a.width_ns()) as usize].messages, 1);
    }
}
