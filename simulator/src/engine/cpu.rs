//! The CPU: fair processor sharing among the client's runnable threads
//! and the background load.
//!
//! With n client threads runnable and background B(t), every runnable
//! client thread progresses at φ = min(1, C / (n + w·B)). Because all of
//! them progress at the same rate, the engine keeps one *virtual work
//! clock* V (∫φ dt, in ns of work): a task started at V₀ with work s
//! finishes when V reaches its tag V₀ + s, whatever the rates in between,
//! so tasks sit in one min-heap by tag and never need updating when the
//! rate changes. Only the earliest tag's wall time is computed, when asked.
//! Without `--cores` φ is 1 and V is the wall clock itself: no division is
//! ever made. Cost per event: O(log busy threads).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use super::time::{Time, mul_div_ceil, mul_div_floor};

/// Thousandths (cores, background, weights are read with 3 decimals).
pub const MILLI: u64 = 1000;

/// The machine's other load (`--background`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Background {
    /// A constant number of runnable threads, in thousandths.
    Constant(u64),
    /// A sampled track: from t_k to t_(k+1) the background is b_k.
    Track(Arc<BackgroundTrack>),
}

impl Default for Background {
    fn default() -> Self {
        Background::Constant(0)
    }
}

/// The CPU track: (t_ns, b_k in thousandths of a runnable thread), sorted by
/// time. Before the first sample the background is b_0, after the last the
/// last value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackgroundTrack {
    points: Vec<(u64, u64)>,
}

impl BackgroundTrack {
    /// A track from samples (t_ns, runnable threads); sorted by time, later
    /// duplicates of a time win. Negative or non-finite values count as 0.
    pub fn new(samples: impl IntoIterator<Item = (u64, f64)>) -> BackgroundTrack {
        let mut points: Vec<(u64, u64)> = samples.into_iter().map(|(t, b)| (t, milli(b))).collect();
        points.sort_by_key(|&(t, _)| t);
        points.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = later.1;
            }
            same
        });
        BackgroundTrack { points }
    }

    /// Whether the track has no sample.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The time-weighted mean background over [from, to] (for reports).
    pub fn mean(&self, from_ns: u64, to_ns: u64) -> f64 {
        let Some(&(_, first)) = self.points.first() else {
            return 0.0;
        };
        if to_ns <= from_ns {
            return first as f64 / MILLI as f64;
        }
        let (mut sum, mut level, mut at) = (0u128, first, from_ns);
        for &(t, b) in &self.points {
            if t > at {
                let end = t.min(to_ns);
                sum += u128::from(end.saturating_sub(at)) * u128::from(level);
                at = end.max(at);
            }
            level = b;
        }
        sum += u128::from(to_ns.saturating_sub(at)) * u128::from(level);
        sum as f64 / (to_ns - from_ns) as f64 / MILLI as f64
    }
}

/// `value` in thousandths, rounded to nearest; negative or NaN → 0.
pub fn milli(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        (value * MILLI as f64).round().min(u64::MAX as f64) as u64
    } else {
        0
    }
}

/// `--cores`, `--background`, `--background-weight`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuConfig {
    /// C in thousandths; `None`: unlimited (every thread owns a core).
    pub cores_milli: Option<u64>,
    /// B.
    pub background: Background,
    /// w in thousandths (1000 = a background thread weighs as a client one).
    pub weight_milli: u64,
}

impl Default for CpuConfig {
    fn default() -> Self {
        CpuConfig {
            cores_milli: None,
            background: Background::default(),
            weight_milli: MILLI,
        }
    }
}

/// A rate φ = num / den ≤ 1, reduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rate {
    num: u128,
    den: u128,
}

const FULL: Rate = Rate { num: 1, den: 1 };

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The processor-sharing state.
#[derive(Debug)]
pub(crate) struct Cpu {
    config: CpuConfig,
    /// Current background, thousandths, and the index of the next change.
    background_milli: u64,
    next_point: usize,
    /// Virtual work clock V at wall time `at`.
    v: Time,
    at: Time,
    runnable: u32,
    rate: Rate,
    /// Rates by number of runnable threads, for the current background.
    rates: Vec<Option<Rate>>,
    tasks: BinaryHeap<Reverse<(Time, u32)>>,
    /// Σ ΔV·n (work done) and Σ Δt·n (thread-time runnable), raw.
    work: u128,
    runnable_time: u128,
}

impl Cpu {
    pub(crate) fn new(config: CpuConfig) -> Cpu {
        let background_milli = match &config.background {
            Background::Constant(b) => *b,
            Background::Track(track) => track.points.first().map_or(0, |&(_, b)| b),
        };
        let mut cpu = Cpu {
            config,
            background_milli,
            next_point: 0,
            v: Time::ZERO,
            at: Time::ZERO,
            runnable: 0,
            rate: FULL,
            rates: Vec::new(),
            tasks: BinaryHeap::new(),
            work: 0,
            runnable_time: 0,
        };
        cpu.skip_points(Time::ZERO);
        cpu
    }

    fn rate_for(&mut self, n: u32) -> Rate {
        let Some(cores) = self.config.cores_milli else {
            return FULL;
        };
        let index = n as usize;
        if let Some(Some(rate)) = self.rates.get(index) {
            return *rate;
        }
        let supply = u128::from(cores) * u128::from(MILLI);
        let demand = u128::from(n) * u128::from(MILLI * MILLI)
            + u128::from(self.config.weight_milli) * u128::from(self.background_milli);
        let rate = if supply >= demand || n == 0 {
            FULL
        } else {
            let g = gcd(supply, demand);
            Rate {
                num: supply / g,
                den: demand / g,
            }
        };
        if self.rates.len() <= index {
            self.rates.resize(index + 1, None);
        }
        self.rates[index] = Some(rate);
        rate
    }

    #[inline]
    fn update_rate(&mut self) {
        if self.config.cores_milli.is_some() {
            self.rate = self.rate_for(self.runnable);
        }
    }

    /// Moves the clocks to wall time `to` (≥ the last).
    #[inline]
    pub(crate) fn advance(&mut self, to: Time) {
        if to <= self.at {
            return;
        }
        if self.runnable == 0 || self.config.cores_milli.is_none() {
            // Without --cores V is the wall clock itself (tags are absolute
            // times): nothing to advance.
            self.at = to;
            if self.config.cores_milli.is_none() {
                self.v = to;
            }
            return;
        }
        let dt = to - self.at;
        self.at = to;
        let dv = if self.rate == FULL {
            dt
        } else {
            Time::from_raw(mul_div_floor(dt.raw(), self.rate.num, self.rate.den))
        };
        self.v = self.v + dv;
        if self.config.cores_milli.is_some() {
            let n = u128::from(self.runnable);
            self.work = self.work.saturating_add(dv.raw().saturating_mul(n));
            self.runnable_time = self
                .runnable_time
                .saturating_add(dt.raw().saturating_mul(n));
        }
    }

    /// Thread `id` becomes runnable with `work_ns` of CPU work, now.
    #[inline]
    pub(crate) fn start(&mut self, id: u32, work_ns: u64) {
        self.tasks.push(Reverse((self.v.plus_ns(work_ns), id)));
        self.runnable += 1;
        self.update_rate();
    }

    /// When the next task finishes, if any is running.
    #[inline]
    pub(crate) fn next_completion(&self) -> Option<Time> {
        let &Reverse((tag, _)) = self.tasks.peek()?;
        if self.config.cores_milli.is_none() {
            return Some(tag);
        }
        let left = tag - self.v;
        let wall = if self.rate == FULL {
            left
        } else {
            Time::from_raw(mul_div_ceil(left.raw(), self.rate.den, self.rate.num))
        };
        Some(self.at + wall)
    }

    /// Removes the task that finishes first (the caller has advanced to its
    /// completion time) and returns its id.
    #[inline]
    pub(crate) fn complete(&mut self) -> Option<u32> {
        let Reverse((tag, id)) = self.tasks.pop()?;
        // Rounding of the wall time may leave V a step short: snap.
        self.v = self.v.max(tag);
        self.runnable -= 1;
        self.update_rate();
        Some(id)
    }

    /// The next background change, if the track has one to come.
    pub(crate) fn next_change(&self) -> Option<Time> {
        match &self.config.background {
            Background::Track(track) => track
                .points
                .get(self.next_point)
                .map(|&(t, _)| Time::from_ns(t)),
            Background::Constant(_) => None,
        }
    }

    /// Applies every background change at or before `now` (advanced to).
    pub(crate) fn skip_points(&mut self, now: Time) {
        let Background::Track(track) = &self.config.background else {
            return;
        };
        let mut changed = false;
        while let Some(&(t, b)) = track.points.get(self.next_point) {
            if Time::from_ns(t) > now {
                break;
            }
            self.background_milli = b;
            self.next_point += 1;
            changed = true;
        }
        if changed {
            self.rates.clear();
            self.update_rate();
        }
    }

    /// CPU work done ÷ thread-time runnable (1.0 without contention).
    pub(crate) fn cpu_rate(&self) -> Option<f64> {
        (self.runnable_time > 0).then(|| self.work as f64 / self.runnable_time as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(cores: f64, background: f64) -> Cpu {
        Cpu::new(CpuConfig {
            cores_milli: Some(milli(cores)),
            background: Background::Constant(milli(background)),
            weight_milli: MILLI,
        })
    }

    #[test]
    fn two_equal_tasks_on_one_core_finish_together_at_twice_their_work() {
        let mut cpu = cpu(1.0, 0.0);
        cpu.start(1, 10);
        cpu.start(2, 10);
        let done = cpu.next_completion().unwrap();
        assert_eq!(done, Time::from_ns(20));
        cpu.advance(done);
        assert_eq!(cpu.complete(), Some(1));
        assert_eq!(cpu.next_completion(), Some(Time::from_ns(20)));
        assert_eq!(cpu.cpu_rate(), Some(0.5));
    }

    #[test]
    fn a_third_of_a_core_is_exact_and_background_slows_work() {
        let mut cpu = cpu(1.0, 2.0);
        cpu.start(0, 7);
        assert_eq!(cpu.next_completion(), Some(Time::from_ns(21)));
        cpu.advance(Time::from_ns(1));
        let mut more = Cpu::new(CpuConfig::default());
        more.start(0, 7);
        assert_eq!(more.next_completion(), Some(Time::from_ns(7)), "unlimited");
    }

    #[test]
    fn a_track_changes_the_rate_at_its_samples() {
        let track = BackgroundTrack::new([(10, 1.0), (0, 0.0), (30, 0.0)]);
        assert_eq!(track.mean(0, 40), 0.5);
        let mut cpu = Cpu::new(CpuConfig {
            cores_milli: Some(MILLI),
            background: Background::Track(Arc::new(track)),
            weight_milli: MILLI,
        });
        cpu.start(0, 20); // 10 ns at full speed, then half speed
        assert_eq!(cpu.next_change(), Some(Time::from_ns(10)));
        cpu.advance(Time::from_ns(10));
        cpu.skip_points(Time::from_ns(10));
        assert_eq!(cpu.next_completion(), Some(Time::from_ns(30)));
    }
}
