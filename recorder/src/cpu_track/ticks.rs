//! The arithmetic of the tick-counter sampler (macOS:
//! `host_processor_info(PROCESSOR_CPU_LOAD_INFO)`, `getrusage(RUSAGE_SELF)`
//! and `host_statistics(HOST_LOAD_INFO)`), apart from the system calls so
//! that it is tested on any OS.
//!
//! Over one period the machine's busy CPUs are
//! `Δ(user + system + nice) / Δ(user + system + nice + idle) × cpus`; the
//! recorder's own CPUs are `Δ(own CPU time) / Δ(wall time)`; the other
//! load is the difference, clamped to `0..=cpus`. Busy CPUs stop at the
//! CPU count however many threads wait, so over a period with no idle CPU
//! the kernel's recent mean of runnable threads, less the recorder's own
//! CPUs, is a floor. The kernel's counters are 32-bit and wrap: each delta
//! is taken modulo 2^32, and a delta too large for the wall time that
//! passed (a counter reset, not a wrap) gives no value.

/// One reading of the machine's tick counters (summed over its CPUs, as
/// the kernel keeps them: 32 bits, wrapping) and of the recorder's own CPU
/// time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// Ticks in user mode.
    pub user: u32,
    /// Ticks in the kernel.
    pub system: u32,
    /// Ticks idle.
    pub idle: u32,
    /// Ticks in user mode at a positive nice level.
    pub nice: u32,
    /// The recorder's own CPU time (user + system, every thread), ns.
    pub own_ns: u64,
    /// A monotonic clock, ns.
    pub wall_ns: u64,
}

/// The states of one CPU's counters in a `PROCESSOR_CPU_LOAD_INFO` array,
/// in order (`CPU_STATE_USER`, `_SYSTEM`, `_IDLE`, `_NICE`).
pub const CPU_STATES: usize = 4;

impl Reading {
    /// Sums per-CPU counters (`CPU_STATES` integers per CPU, as
    /// `host_processor_info` returns them) modulo 2^32, which keeps every
    /// difference of sums right; own time and wall time are left 0. Also
    /// the number of CPUs; `None` for no CPU or a ragged array.
    pub fn from_per_cpu(counters: &[i32]) -> Option<(Reading, u32)> {
        if counters.is_empty() || !counters.len().is_multiple_of(CPU_STATES) {
            return None;
        }
        let mut sums = [0u32; CPU_STATES];
        for cpu in counters.chunks_exact(CPU_STATES) {
            for (sum, &count) in sums.iter_mut().zip(cpu) {
                *sum = sum.wrapping_add(count.cast_unsigned());
            }
        }
        let [user, system, idle, nice] = sums;
        let cpus = u32::try_from(counters.len() / CPU_STATES).ok()?;
        let reading = Reading {
            user,
            system,
            idle,
            nice,
            ..Reading::default()
        };
        Some((reading, cpus))
    }

    /// Whether no tick counter moved between `self` and `other`.
    pub fn same_ticks(&self, other: &Reading) -> bool {
        (self.user, self.system, self.idle, self.nice)
            == (other.user, other.system, other.idle, other.nice)
    }
}

/// Ticks per second per CPU above which a delta is taken for a reset
/// rather than a wrap (the kernels count 100 a second: this is 100 times
/// that).
const MAX_TICK_RATE: u64 = 10_000;

/// A machine with less than this many idle CPUs over a period was full:
/// its busy CPUs no longer tell how many threads waited.
const FULL_BELOW_IDLE_CPUS: f64 = 0.5;

/// What the counters say about the time between two readings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The machine's CPUs.
    pub cpus: f64,
    /// CPUs busy (user, system, nice), on average.
    pub busy_cpus: f64,
    /// CPUs idle, on average.
    pub idle_cpus: f64,
    /// CPUs the recorder itself used, on average.
    pub own_cpus: f64,
}

impl Interval {
    /// The counters between two readings; `None` when no tick or no time
    /// passed, or the counters jumped further than the time allows.
    pub fn between(before: &Reading, after: &Reading, cpus: u32) -> Option<Interval> {
        let delta = |from: u32, to: u32| u64::from(to.wrapping_sub(from));
        let busy = delta(before.user, after.user)
            + delta(before.system, after.system)
            + delta(before.nice, after.nice);
        let idle = delta(before.idle, after.idle);
        let total = busy + idle;
        let wall_ns = after.wall_ns.checked_sub(before.wall_ns)?;
        let plausible =
            u64::from(cpus.max(1)) * (wall_ns.saturating_mul(MAX_TICK_RATE) / 1_000_000_000 + 2);
        if total == 0 || wall_ns == 0 || total > plausible {
            return None;
        }
        let cpus = f64::from(cpus);
        Some(Interval {
            cpus,
            busy_cpus: busy as f64 / total as f64 * cpus,
            idle_cpus: idle as f64 / total as f64 * cpus,
            own_cpus: after.own_ns.saturating_sub(before.own_ns) as f64 / wall_ns as f64,
        })
    }

    /// Whether the machine had (almost) no idle CPU.
    pub fn full(&self) -> bool {
        self.idle_cpus < FULL_BELOW_IDLE_CPUS
    }

    /// The other processes' load: busy CPUs less the recorder's own,
    /// within `0..=cpus`. On a [full](Self::full) machine, where busy CPUs
    /// stop at the CPU count however many threads wait, at least
    /// `runnable_mean` (the kernel's recent mean of runnable threads, when
    /// known) less the recorder's own CPUs.
    pub fn other_load(&self, runnable_mean: Option<f64>) -> f64 {
        let busy = (self.busy_cpus - self.own_cpus).clamp(0.0, self.cpus);
        match runnable_mean {
            Some(mean) if self.full() && mean.is_finite() => busy.max(mean - self.own_cpus),
            _ => busy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(user: u32, system: u32, idle: u32, own_ns: u64, wall_ns: u64) -> Reading {
        Reading {
            user,
            system,
            idle,
            nice: 0,
            own_ns,
            wall_ns,
        }
    }

    const MS: u64 = 1_000_000;

    /// The other load between two readings, without a runnable mean.
    fn other_busy_cpus(before: &Reading, after: &Reading, cpus: u32) -> Option<f64> {
        Interval::between(before, after, cpus).map(|interval| interval.other_load(None))
    }

    #[test]
    fn busy_ticks_become_busy_cpus() {
        // 4 CPUs, 100 ms at 100 ticks/s: 40 ticks, 10 busy = one CPU.
        let before = reading(100, 50, 1000, 0, 0);
        let after = Reading {
            nice: 2,
            ..reading(106, 52, 1030, 0, 100 * MS)
        };
        let busy = other_busy_cpus(&before, &after, 4).unwrap();
        assert!((busy - 1.0).abs() < 1e-12, "{busy}");
    }

    #[test]
    fn the_recorders_own_time_is_taken_off() {
        let before = reading(0, 0, 0, 5 * MS, 0);
        // 2 CPUs all busy for 100 ms; the recorder used 50 ms of CPU.
        let after = reading(15, 5, 0, 55 * MS, 100 * MS);
        let other = other_busy_cpus(&before, &after, 2).unwrap();
        assert!((other - 1.5).abs() < 1e-12, "{other}");
    }

    #[test]
    fn the_result_is_clamped_to_the_machine() {
        // The recorder's own time exceeds what the ticks saw busy
        // (tick sampling is coarse): 0, never negative.
        let before = reading(0, 0, 0, 0, 0);
        let after = reading(1, 0, 19, 30 * MS, 100 * MS);
        assert_eq!(other_busy_cpus(&before, &after, 2), Some(0.0));
        // A clock read late cannot make more than all the CPUs busy.
        let after = reading(20, 0, 0, 0, 100 * MS);
        assert_eq!(other_busy_cpus(&before, &after, 2), Some(2.0));
    }

    #[test]
    fn counters_that_wrap_are_read_modulo_2_32() {
        let before = reading(u32::MAX - 4, 10, u32::MAX - 9, 0, 0);
        // +10 user ticks (through the wrap), +10 idle (through the wrap).
        let after = reading(5, 10, 0, 0, 100 * MS);
        let busy = other_busy_cpus(&before, &after, 2).unwrap();
        assert!((busy - 1.0).abs() < 1e-12, "{busy}");
    }

    #[test]
    fn a_full_machine_takes_the_runnable_mean_as_a_floor() {
        // 2 CPUs, 100 ms, all busy; the recorder used 10 ms of CPU.
        let before = reading(0, 0, 0, 0, 0);
        let full = reading(18, 2, 0, 10 * MS, 100 * MS);
        let interval = Interval::between(&before, &full, 2).unwrap();
        assert!(interval.full());
        // Busy CPUs say 1.9 however many threads waited; a mean of 5.1
        // runnable threads says 5.0 besides the recorder's 0.1.
        assert!((interval.other_load(None) - 1.9).abs() < 1e-12);
        assert!((interval.other_load(Some(5.1)) - 5.0).abs() < 1e-12);
        // A mean below the busy CPUs (it lags a load that just rose) or
        // not finite never lowers them.
        assert!((interval.other_load(Some(0.5)) - 1.9).abs() < 1e-12);
        assert!((interval.other_load(Some(f64::NAN)) - 1.9).abs() < 1e-12);
        // With a CPU idle, busy CPUs are the count: the mean is not used.
        let half = reading(10, 0, 10, 0, 100 * MS);
        let interval = Interval::between(&before, &half, 2).unwrap();
        assert!(!interval.full());
        assert!((interval.other_load(Some(5.0)) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn per_cpu_counters_are_summed_modulo_2_32() {
        // Two CPUs: user, system, idle, nice each; CPU 1's user counter
        // is past 2^31 (negative as an integer_t).
        let (reading, cpus) = Reading::from_per_cpu(&[10, 1, 100, 0, -6, 2, 50, 3]).unwrap();
        assert_eq!(cpus, 2);
        assert_eq!((reading.user, reading.system), (4, 3));
        assert_eq!((reading.idle, reading.nice), (150, 3));
        // The sums wrap, and the difference of two sums is the sum of the
        // differences: CPU 1 busy for 10 ticks across its wrap.
        let (later, _) = Reading::from_per_cpu(&[10, 1, 110, 0, 4, 2, 50, 3]).unwrap();
        let later = Reading {
            wall_ns: 100 * MS,
            ..later
        };
        let busy = other_busy_cpus(&reading, &later, cpus).unwrap();
        assert!((busy - 1.0).abs() < 1e-12, "{busy}");
        for ragged in [&[][..], &[1, 2, 3][..], &[1, 2, 3, 4, 5][..]] {
            assert_eq!(Reading::from_per_cpu(ragged), None);
        }
    }

    #[test]
    fn no_tick_no_time_or_a_reset_gives_nothing() {
        let before = reading(100, 100, 100, 0, 0);
        assert_eq!(
            other_busy_cpus(&before, &reading(100, 100, 100, 0, MS), 2),
            None
        );
        assert_eq!(
            other_busy_cpus(&before, &reading(101, 100, 100, 0, 0), 2),
            None
        );
        // Counters that went back (reset): a delta of ~2^32 in 10 ms.
        assert_eq!(
            other_busy_cpus(&before, &reading(50, 100, 100, 0, 10 * MS), 2),
            None
        );
        // The clock going back.
        let later = reading(100, 100, 100, 0, 50);
        assert_eq!(other_busy_cpus(&later, &before, 2), None);
    }
}
