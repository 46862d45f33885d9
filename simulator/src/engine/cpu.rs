//! The CPU: the client's runnable threads sharing C cores with the
//! background load.
//!
//! With n client threads runnable and background B(t), every runnable
//! client thread progresses at the same rate φ(n, B) ≤ 1 ([`Sharing`]):
//! per core (the default) φ = 1 / D, D the number of threads on the core
//! a client thread shares (`⌈m/C⌉` for m = n + w·B threads, interpolated
//! between whole m), or fluid φ = min(1, C / (n + w·B)). Because all of
//! them progress at the same rate, the engine keeps one *virtual work
//! clock* V (∫φ dt, in ns of work): a task started at V₀ with work s
//! finishes when V reaches its tag V₀ + s, whatever the rates in between,
//! so tasks sit in one min-queue by tag (the earliest aside, the others in
//! a heap) and never need updating when the rate changes. Only the
//! earliest tag's wall time is computed, when asked.
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

/// How the runnable threads share the cores (`--cpu-sharing`).
///
/// Both give every runnable client thread the same rate φ; with
/// m = n + w·B runnable threads on C cores and m ≤ C, φ = 1 in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sharing {
    /// Run queues, one per core (Linux's scheduler, measured by the lab):
    /// the kernel spreads the runnable threads over the cores by count and
    /// does not move them for fairness while the imbalance is one thread,
    /// and a client thread, the one that comes and goes, lands on a core
    /// that already holds the most: with m > C it shares that core with
    /// ⌈m/C⌉ − 1 others, φ = 1 / ⌈m/C⌉. Between whole m the divisor is
    /// interpolated (a fraction f of a thread counts f where it would add
    /// one to that core, else nothing): D = ⌈M/C⌉ + f·[C divides M],
    /// M = ⌊m⌋, f = m − M. Never faster than `Fluid`; the same on one core
    /// and when m is a multiple of C. Needs whole cores: with a fractional
    /// C the sharing is `Fluid`.
    #[default]
    PerCore,
    /// Fair processor sharing (the fluid limit, every thread migrating
    /// freely): φ = min(1, C / m).
    Fluid,
}

impl std::str::FromStr for Sharing {
    type Err = String;

    fn from_str(text: &str) -> Result<Sharing, String> {
        match text.trim() {
            "per-core" => Ok(Sharing::PerCore),
            "fluid" => Ok(Sharing::Fluid),
            other => Err(format!(
                "CPU sharing {other:?}: expected `per-core` or `fluid`"
            )),
        }
    }
}

impl std::fmt::Display for Sharing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sharing::PerCore => "per-core",
            Sharing::Fluid => "fluid",
        })
    }
}

/// `--cores`, `--background`, `--background-weight`, `--cpu-sharing`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuConfig {
    /// C in thousandths; `None`: unlimited (every thread owns a core).
    pub cores_milli: Option<u64>,
    /// B.
    pub background: Background,
    /// w in thousandths (1000 = a background thread weighs as a client one).
    pub weight_milli: u64,
    /// How the threads share the cores.
    pub sharing: Sharing,
}

impl Default for CpuConfig {
    fn default() -> Self {
        CpuConfig {
            cores_milli: None,
            background: Background::default(),
            weight_milli: MILLI,
            sharing: Sharing::default(),
        }
    }
}

/// One runnable thread, in millionths (`MILLI²`): a count n and a
/// weighted background w·B (both in thousandths) add up in these units.
const MICRO: u128 = (MILLI * MILLI) as u128;

/// The rate of each of n client threads with the weighted background
/// `background_micro` (w·B in millionths) on `cores_milli` cores.
fn share(sharing: Sharing, cores_milli: u64, n: u32, background_micro: u128) -> Rate {
    let demand = u128::from(n) * MICRO + background_micro;
    let supply = u128::from(cores_milli) * u128::from(MILLI);
    if supply >= demand || n == 0 {
        return FULL;
    }
    let whole_cores = cores_milli >= MILLI && cores_milli.is_multiple_of(MILLI);
    let (num, den) = match sharing {
        Sharing::PerCore if whole_cores => {
            let cores = u128::from(cores_milli / MILLI);
            let (whole, fraction) = (demand / MICRO, demand % MICRO);
            let crowded = whole.div_ceil(cores) * MICRO;
            let divisor = if whole.is_multiple_of(cores) {
                crowded + fraction
            } else {
                crowded
            };
            (MICRO, divisor)
        }
        _ => (supply, demand),
    };
    let g = gcd(num, den);
    Rate {
        num: num / g,
        den: den / g,
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

/// The runnable threads' tasks (tag, thread id), smallest first: the
/// earliest kept aside, the others in a min-heap, so that while one task
/// runs (the handler of `inline`) the heap is never touched, and the next
/// completion is a field, not a peek.
#[derive(Debug, Default)]
struct Tasks {
    first: Option<(Time, u32)>,
    rest: BinaryHeap<Reverse<(Time, u32)>>,
}

impl Tasks {
    #[inline(always)]
    fn push(&mut self, task: (Time, u32)) {
        match self.first {
            None => self.first = Some(task),
            Some(first) if task < first => {
                self.rest.push(Reverse(first));
                self.first = Some(task);
            }
            Some(_) => self.rest.push(Reverse(task)),
        }
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<(Time, u32)> {
        let first = self.first.take()?;
        if !self.rest.is_empty() {
            self.first = self.pop_rest();
        }
        Some(first)
    }

    /// The earliest task of the heap (out of line: one running thread
    /// never needs it).
    #[inline(never)]
    fn pop_rest(&mut self) -> Option<(Time, u32)> {
        self.rest.pop().map(|Reverse(task)| task)
    }
}

/// The processor-sharing state.
#[derive(Debug)]
pub(crate) struct Cpu {
    config: CpuConfig,
    /// Without `--cores`: every thread runs at rate 1, V is the wall
    /// clock and a task's tag is its wall completion time (nothing to
    /// convert, no rate to keep). `config.cores_milli.is_none()`, kept as
    /// a flag: reading it through the config cost 5–12 instructions per
    /// message more (benches/instructions.sh).
    unlimited: bool,
    /// Current background, thousandths, and the index of the next change.
    background_milli: u64,
    next_point: usize,
    /// Virtual work clock V at wall time `at` (without `--cores` V is
    /// the wall clock, and `at` stays 0).
    v: Time,
    at: Time,
    /// Client threads runnable (kept under `--cores` only).
    runnable: u32,
    rate: Rate,
    /// Rates by number of runnable threads, for the current background.
    rates: Vec<Option<Rate>>,
    tasks: Tasks,
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
            unlimited: config.cores_milli.is_none(),
            config,
            background_milli,
            next_point: 0,
            v: Time::ZERO,
            at: Time::ZERO,
            runnable: 0,
            rate: FULL,
            rates: Vec::new(),
            tasks: Tasks::default(),
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
        let background = u128::from(self.config.weight_milli) * u128::from(self.background_milli);
        let rate = share(self.config.sharing, cores, n, background);
        if self.rates.len() <= index {
            self.rates.resize(index + 1, None);
        }
        self.rates[index] = Some(rate);
        rate
    }

    #[inline(always)]
    fn update_rate(&mut self) {
        if !self.unlimited {
            self.rate = self.rate_for(self.runnable);
        }
    }

    /// Moves the clocks to wall time `to` (≥ the last).
    #[inline(always)]
    pub(crate) fn advance(&mut self, to: Time) {
        if self.unlimited {
            // Without --cores V is the wall clock itself (tags are absolute
            // times) and `at` is never read: nothing else to advance.
            debug_assert!(to >= self.v);
            self.v = to;
            return;
        }
        self.advance_shared(to);
    }

    /// [`advance`](Self::advance) under `--cores`.
    fn advance_shared(&mut self, to: Time) {
        if to <= self.at {
            return;
        }
        if self.runnable == 0 {
            self.at = to;
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
        let n = u128::from(self.runnable);
        self.work = self.work.saturating_add(dv.raw().saturating_mul(n));
        self.runnable_time = self
            .runnable_time
            .saturating_add(dt.raw().saturating_mul(n));
    }

    /// Thread `id` becomes runnable with `work_ns` of CPU work, now.
    #[inline(always)]
    pub(crate) fn start(&mut self, id: u32, work_ns: u64) {
        self.tasks.push((self.v.plus_ns(work_ns), id));
        if !self.unlimited {
            self.runnable += 1;
            self.rate = self.rate_for(self.runnable);
        }
    }

    /// When the next task finishes, if any is running.
    #[inline(always)]
    pub(crate) fn next_completion(&self) -> Option<Time> {
        let (tag, _) = self.tasks.first?;
        if self.unlimited {
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

    /// Whether no task runs.
    #[inline(always)]
    pub(crate) fn is_idle(&self) -> bool {
        self.tasks.first.is_none()
    }

    /// Removes the task that finishes first (the caller has advanced to its
    /// completion time) and returns its id.
    #[inline(always)]
    pub(crate) fn complete(&mut self) -> Option<u32> {
        let (tag, id) = self.tasks.pop()?;
        if !self.unlimited {
            // Rounding of the wall time may leave V a step short: snap.
            self.v = self.v.max(tag);
            self.runnable -= 1;
            self.rate = self.rate_for(self.runnable);
        }
        debug_assert!(self.v >= tag);
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
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn tasks_pop_in_the_order_of_a_heap(
            steps in prop::collection::vec((0u64..20, any::<bool>()), 0..80),
        ) {
            let (mut tasks, mut heap) = (Tasks::default(), BinaryHeap::new());
            for (id, (tag, pop)) in (0u32..).zip(steps) {
                if pop {
                    prop_assert_eq!(tasks.pop(), heap.pop().map(|Reverse(task)| task));
                } else {
                    tasks.push((Time::from_ns(tag), id));
                    heap.push(Reverse((Time::from_ns(tag), id)));
                }
                prop_assert_eq!(tasks.first, heap.peek().map(|&Reverse(task)| task));
            }
        }
    }

    fn cpu(cores: f64, background: f64) -> Cpu {
        Cpu::new(CpuConfig {
            cores_milli: Some(milli(cores)),
            background: Background::Constant(milli(background)),
            ..CpuConfig::default()
        })
    }

    /// φ as a fraction, for n client threads and background `b` (w = 1).
    fn phi(sharing: Sharing, cores: f64, n: u32, b: f64) -> (u128, u128) {
        let rate = share(
            sharing,
            milli(cores),
            n,
            u128::from(milli(b)) * u128::from(MILLI),
        );
        (rate.num, rate.den)
    }

    #[test]
    fn per_core_a_client_thread_shares_the_crowded_core() {
        use Sharing::{Fluid, PerCore};
        // One client thread and two hogs on two cores: it shares a core
        // with one hog (1/2), where fluid sharing gives it 2/3.
        assert_eq!(phi(PerCore, 2.0, 1, 2.0), (1, 2));
        assert_eq!(phi(Fluid, 2.0, 1, 2.0), (2, 3));
        // One hog on two cores leaves the client a core of its own.
        assert_eq!(phi(PerCore, 2.0, 1, 1.0), (1, 1));
        // Four threads on two cores: two per core either way.
        assert_eq!(phi(PerCore, 2.0, 2, 2.0), phi(Fluid, 2.0, 2, 2.0));
        // Three workers on two cores, no background: 1/2 per core.
        assert_eq!(phi(PerCore, 2.0, 3, 0.0), (1, 2));
        // A fraction of a thread counts where it would crowd a core:
        // 2.5 threads on 2 cores → divisor 1.5; 3.5 → 2 (as 3 and 4).
        assert_eq!(phi(PerCore, 2.0, 1, 1.5), (2, 3));
        assert_eq!(phi(PerCore, 2.0, 1, 2.5), (1, 2));
        // Fractional cores: fluid.
        assert_eq!(phi(PerCore, 1.5, 1, 1.0), phi(Fluid, 1.5, 1, 1.0));
    }

    #[test]
    fn per_core_is_fluid_on_one_core_never_faster_and_monotone() {
        use Sharing::{Fluid, PerCore};
        let value = |(num, den): (u128, u128)| num as f64 / den as f64;
        for n in 1..7 {
            let mut last = f64::INFINITY;
            for b in (0..=6_000).step_by(250) {
                let b = f64::from(b) / 1000.0;
                assert_eq!(
                    phi(PerCore, 1.0, n, b),
                    phi(Fluid, 1.0, n, b),
                    "n {n} b {b}"
                );
                for cores in [2.0, 3.0, 4.0] {
                    let (q, f) = (phi(PerCore, cores, n, b), phi(Fluid, cores, n, b));
                    assert!(value(q) <= value(f), "n {n} b {b} C {cores}: {q:?} {f:?}");
                    if f64::from(n) + b <= cores {
                        assert_eq!(q, (1, 1));
                    }
                }
                let q = value(phi(PerCore, 2.0, n, b));
                assert!(q <= last, "not monotone in b: n {n} b {b}");
                last = q;
            }
        }
    }

    #[test]
    fn per_core_is_continuous_in_the_background() {
        // One thousandth more background never moves φ by more than the
        // thousandth of a thread would under fluid sharing on one core.
        let value = |(num, den): (u128, u128)| num as f64 / den as f64;
        for n in 1..5 {
            for b in 0..5_000 {
                let (lo, hi) = (f64::from(b) / 1000.0, f64::from(b + 1) / 1000.0);
                let step = value(phi(Sharing::PerCore, 2.0, n, lo))
                    - value(phi(Sharing::PerCore, 2.0, n, hi));
                assert!((0.0..=0.001).contains(&step), "n {n} b {lo}: {step}");
            }
        }
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
            ..CpuConfig::default()
        });
        cpu.start(0, 20); // 10 ns at full speed, then half speed
        assert_eq!(cpu.next_change(), Some(Time::from_ns(10)));
        cpu.advance(Time::from_ns(10));
        cpu.skip_points(Time::from_ns(10));
        assert_eq!(cpu.next_completion(), Some(Time::from_ns(30)));
    }
}
