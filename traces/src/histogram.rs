//! The one histogram of esreplay (latencies in the simulator, budgets and
//! service times in `inspect`): log-linear (HDR-style), with nearest-rank
//! percentiles within 0.1 % of the exact value, never below the exact
//! minimum nor above the exact maximum.
//!
//! Values below 2048 have a bucket each (exact). Above, each power of two
//! [2^e, 2^(e+1)) is split into 1024 equal buckets of width 2^(e−10); a
//! percentile reports its bucket's lower bound L, and the exact value v
//! satisfies L ≤ v < L + 2^(e−10) ≤ L + v/1024: under 0.098 % low. The
//! whole u64 range fits in 56 320 counters, allocated as values need them.

const SUB_BITS: u32 = 10;
const SUB_BUCKETS: u64 = 1 << SUB_BITS;
const LINEAR: u64 = 2 * SUB_BUCKETS;
/// The exponent of the first logarithmic row (LINEAR = 2^FIRST_EXP).
const FIRST_EXP: u32 = SUB_BITS + 1;

/// Counts of u64 values, for percentiles.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    /// The smallest value counted; `u64::MAX` while empty, so that
    /// recording needs no test for the first value.
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: Vec::new(),
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

/// The bucket of `value`, without a branch: with e the exponent of
/// `value` but at least SUB_BITS, a value below LINEAR (e = SUB_BITS, no
/// shift) is its own bucket, and one in [2^e, 2^(e+1)) above it falls in
/// row e − FIRST_EXP after the linear part, at sub-bucket
/// `(value >> (e − SUB_BITS)) − SUB_BUCKETS`: the same index as
/// `LINEAR + (e − FIRST_EXP) · SUB_BUCKETS + sub`.
fn bucket(value: u64) -> usize {
    let exp = 63 - (value | SUB_BUCKETS).leading_zeros();
    let shift = exp - SUB_BITS;
    ((u64::from(shift) << SUB_BITS) + (value >> shift)) as usize
}

fn lower_bound(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < LINEAR {
        return bucket;
    }
    let row = bucket - LINEAR;
    let exp = (row / SUB_BUCKETS) as u32 + FIRST_EXP;
    (1u64 << exp) | ((row % SUB_BUCKETS) << (exp - SUB_BITS))
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// Counts one value.
    #[inline]
    pub fn record(&mut self, value: u64) {
        match self.counts.get_mut(bucket(value)) {
            Some(count) => *count += 1,
            None => self.grow(value),
        }
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.total += 1;
    }

    /// Counts a value whose bucket is past the counters so far.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, value: u64) {
        let index = bucket(value);
        self.counts.resize(index + 1, 0);
        self.counts[index] += 1;
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The exact smallest value (0 when empty).
    pub fn min(&self) -> u64 {
        if self.total == 0 { 0 } else { self.min }
    }

    /// The exact largest value (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The nearest-rank percentile `per_mille`/1000 (e.g. 999 for p99.9):
    /// the value v of rank ⌈n · q⌉ (at least rank 1), reported as r with
    /// v − v/1024 ≤ r ≤ v and min ≤ r ≤ max; `None` when empty.
    pub fn per_mille(&self, per_mille: u64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let total = u128::from(self.total);
        let rank = (total * u128::from(per_mille)).div_ceil(1000).max(1);
        let mut seen = 0u128;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += u128::from(count);
            if seen >= rank {
                return Some(lower_bound(index).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The bucket as first written: the linear part, then rows of
    /// SUB_BUCKETS per power of two.
    fn bucket_by_rows(value: u64) -> usize {
        if value < LINEAR {
            return value as usize;
        }
        let exp = 63 - value.leading_zeros();
        let sub = (value >> (exp - SUB_BITS)) & (SUB_BUCKETS - 1);
        (LINEAR + u64::from(exp - FIRST_EXP) * SUB_BUCKETS + sub) as usize
    }

    /// Values near every power of two and near the linear part's end.
    fn edges() -> Vec<u64> {
        let mut values = vec![0, 1, 1023, 1024, 1025, LINEAR - 1, LINEAR, LINEAR + 1];
        for exp in 1..64 {
            let power = 1u64 << exp;
            values.extend([power - 1, power, power + 1, power | (power - 1)]);
        }
        values
    }

    fn exact(sorted: &[u64], per_mille: u64) -> u64 {
        let rank = (sorted.len() as u64 * per_mille).div_ceil(1000).max(1);
        sorted[rank as usize - 1]
    }

    #[test]
    fn buckets_invert_and_cover_the_range() {
        for value in [
            0,
            1,
            2047,
            2048,
            2049,
            4095,
            4096,
            1 << 40,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let low = lower_bound(bucket(value));
            assert!(
                low <= value && value - low <= value / 1024,
                "{value} -> {low}"
            );
        }
        assert_eq!(bucket(u64::MAX), 56_319);
    }

    #[test]
    fn the_branch_free_bucket_is_the_bucket_by_rows_at_every_edge() {
        for value in edges() {
            assert_eq!(bucket(value), bucket_by_rows(value), "{value}");
        }
    }

    #[test]
    fn an_empty_histogram_reads_zero_and_a_first_value_is_min_and_max() {
        let mut histogram = Histogram::default();
        assert_eq!(
            (histogram.min(), histogram.max(), histogram.len()),
            (0, 0, 0)
        );
        assert!(histogram.is_empty());
        histogram.record(u64::MAX);
        assert_eq!((histogram.min(), histogram.max()), (u64::MAX, u64::MAX));
        assert_eq!(histogram.per_mille(0), Some(u64::MAX));
        histogram.record(0);
        assert_eq!(
            (histogram.min(), histogram.max(), histogram.len()),
            (0, u64::MAX, 2)
        );
    }

    #[test]
    fn small_values_are_exact_and_empty_has_no_percentiles() {
        let mut histogram = Histogram::new();
        assert_eq!(histogram.per_mille(500), None);
        for value in [5, 1, 3, 2, 4] {
            histogram.record(value);
        }
        assert_eq!(histogram.per_mille(500), Some(3));
        assert_eq!(histogram.per_mille(900), Some(5));
        assert_eq!(histogram.per_mille(0), Some(1));
        assert_eq!(histogram.max(), 5);
    }

    #[test]
    fn percentiles_of_equal_values_are_that_value() {
        // `inspect` once printed a p50 budget of 60 028 878 847 ns for
        // budgets that were all 60 s: a bucket's upper end, above the max.
        let mut histogram = Histogram::new();
        for _ in 0..3 {
            histogram.record(60_000_000_000);
        }
        for per_mille in [0, 500, 990, 1000] {
            assert_eq!(histogram.per_mille(per_mille), Some(60_000_000_000));
        }
    }

    proptest! {
        #[test]
        fn the_branch_free_bucket_is_the_bucket_by_rows(
            value in any::<u64>().prop_map(|v| v >> (v % 64)),
        ) {
            prop_assert_eq!(bucket(value), bucket_by_rows(value));
        }

        /// Against the obvious model, the values themselves: the counts,
        /// the exact extremes (0 when empty) and every percentile as the
        /// lower bound of the nearest-rank value's bucket, within the
        /// extremes.
        #[test]
        fn a_histogram_reads_as_its_values_do(
            values in prop::collection::vec(any::<u64>().prop_map(|v| v >> (v % 64)), 0..200),
            per_mille in prop::sample::select(vec![0u64, 1, 500, 900, 990, 999, 1000]),
        ) {
            let mut histogram = Histogram::new();
            values.iter().for_each(|&v| histogram.record(v));
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let min = sorted.first().copied().unwrap_or(0);
            let max = sorted.last().copied().unwrap_or(0);
            prop_assert_eq!(histogram.len(), values.len() as u64);
            prop_assert_eq!(histogram.is_empty(), values.is_empty());
            prop_assert_eq!((histogram.min(), histogram.max()), (min, max));
            let want = (!sorted.is_empty()).then(|| {
                lower_bound(bucket_by_rows(exact(&sorted, per_mille))).clamp(min, max)
            });
            prop_assert_eq!(histogram.per_mille(per_mille), want);
        }

        #[test]
        fn percentiles_are_within_a_tenth_of_a_percent_of_nearest_rank(
            mut values in prop::collection::vec(any::<u64>().prop_map(|v| v >> (v % 64)), 1..300),
            per_mille in prop::sample::select(vec![0u64, 500, 900, 990, 999, 1000]),
        ) {
            let mut histogram = Histogram::new();
            values.iter().for_each(|&v| histogram.record(v));
            values.sort_unstable();
            let want = exact(&values, per_mille);
            let got = histogram.per_mille(per_mille).unwrap();
            prop_assert!(got <= want && want - got <= want / 1000, "{got} vs {want}");
            prop_assert!(got >= values[0], "{got} below the minimum {}", values[0]);
            prop_assert_eq!(histogram.max(), *values.last().unwrap());
            prop_assert_eq!(histogram.min(), values[0]);
        }
    }
}
