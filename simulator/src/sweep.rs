//! Headroom: how much more load a strategy takes before its first miss.
//!
//! Two dimensions, each searched the same way ([`search_guided`]):
//! - **load**: the recorded timeline compressed by a factor k,
//!   a'_i = ⌊a_i / k⌋ (and the recorded answer times likewise), keeping
//!   each message's budget, d'_i = a'_i + (d_i − a_i); k > 1 is more load.
//!   In open replay that compresses arrivals; in closed replay it
//!   compresses the threads' think times (the demand: the gaps between an
//!   answer and the next message), while the answers still pace them;
//! - **cost**: every service time multiplied by K (on top of
//!   `--cost-scale`).
//!
//! The search finds the largest factor with no miss to a relative
//! precision (1 % by default). Misses need not be monotone in the factor
//! (EDF has anomalies), so the answer is a factor with no miss whose
//! neighbour at most 1 % larger misses, not a proof that every smaller
//! factor is safe. Each probe re-reads the messages, so memory stays
//! streaming, and stops at the first miss.
//!
//! # Guided by how near each probe came
//!
//! A probe reports more than miss or no miss ([`Probe::score`]): without
//! a miss, the largest share of its budget any response used (at most
//! 1); with one, 1/φ, φ how far into the timeline the first missed
//! message arrived (at least 1: a trace whose responses grow steadily
//! until the first miss would have ended near 1/φ of its budget). Both
//! cross 1 at the threshold, and in a steadily overloaded trace both grow
//! linearly in a cost factor. The search (module `guide`) keeps a bracket
//! (the largest factor known to pass, the smallest known to miss) and
//! places each round's probes from the scores: a pair {c, c·(1 +
//! precision)} around where a line through the two most telling scores
//! reaches 1, which ends the search in that round when the estimate is
//! right; a hedge (the estimate and the middle of the larger side) when
//! the scores are far from 1; bisection or a walk of growing strides
//! (×4, ×16, ×256...) when there is no estimate, and bisection-sized cuts
//! whenever an estimate once failed to cut as much. The bracket shrinks
//! every round, so the search ends; the scores only choose where to
//! probe, never the answer's contract, and the rounds depend on the
//! probes' results alone. The old doubling and bisection stays as
//! [`search`] (`check --min-headroom`, which has no scores).
//!
//! # Fewer probes, in parallel
//!
//! [`headroom`] first measures the trace ([`Bounds`]): n messages, total
//! work W = Σ s_i, the smallest budget B = min (d_i − a_i) over AUTH
//! messages with a deadline, and L = max_i (max_{j≤i} a_j − a_i), how far
//! an arrival falls behind an earlier one in stream order (0 in kernel
//! order). For every built-in strategy the handler and the workers are
//! work-conserving (never idle while a job they could run is waiting),
//! the handler spends at most c_h + s_i on a message, and a guard only
//! answers earlier, so each response satisfies
//! r_i − a_i ≤ L + τ + ρ + n·c_h + W: the handler takes message i within
//! L + τ plus the handler work of earlier messages, and a job waits only
//! while every worker runs other jobs. Compression by k ≥ 1 keeps every
//! budget and shrinks no work, and L only shrinks, so:
//!
//! - **load**: if L + τ + ρ + n·c_h + W ≤ B, no compression can cause a
//!   miss: the answer is [`MAX_FACTOR`] without a single probe. Once
//!   k > max a_i every compressed arrival is 0, so all larger factors give
//!   the same run: it is probed once.
//! - **cost**: with service times scaled by K, W becomes at most
//!   K·(W + n) + n (rounding to whole nanoseconds), so every K up to
//!   K₀ = (B − L − τ − ρ − n·c_h − n) / (W + n) is known safe unprobed.
//!
//! Both shortcuts are taken only under the settings the bound is proven
//! for (τ, ρ, c_h and the miss mode; any other engine setting at its
//! default), and never change the answer: they skip probes whose result
//! is known.
//!
//! The cost search starts from K₀ (known safe, not probed) instead of 1.
//!
//! The two searches run on two threads, one probe at a time each; when
//! the bound settles the load search, the cost search probes two factors
//! at a time. The widths are fixed (never the core count), so the result
//! depends only on the trace and the options.

use std::cell::Cell;
use std::sync::Mutex;

use esreplay_traces::{Action, Message};
use serde::Serialize;

use crate::cost::{CostError, CostModel};
use crate::engine::{Outcome, SimConfig, SimError, Simulator};
use crate::spec::StrategySpec;

mod copy;
mod guide;

pub use copy::MemoryCopy;
use guide::Guide;

/// Factors searched lie in [`MIN_FACTOR`, `MAX_FACTOR`].
pub const MIN_FACTOR: f64 = 1.0 / 1_048_576.0;
/// The largest factor tried: a result equal to it means "no miss at any".
pub const MAX_FACTOR: f64 = 1_048_576.0;

/// The headroom of one strategy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Headroom {
    /// The strategy, as asked.
    pub strategy: String,
    /// Largest arrival compression with no miss (null: misses even at
    /// [`MIN_FACTOR`]; [`MAX_FACTOR`]: none up to it).
    pub load_factor: Option<f64>,
    /// Largest service-time multiplier with no miss (same conventions).
    pub cost_factor: Option<f64>,
}

/// What one probe of a search found: whether it missed, and how near it
/// came to missing (its score, which only places later probes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Probe {
    /// Whether an AUTH message missed its deadline.
    pub missed: bool,
    /// Without a miss: the largest share of its budget a response used,
    /// max (r_i − a'_i) / (d'_i − a'_i) over AUTH messages with a
    /// deadline (at most 1). With a miss: 1/φ (at least 1), φ how far
    /// into the trace's timeline the first missed message arrived, so
    /// that a trace whose responses grow steadily scores about the share
    /// its last responses would have used. NaN: unknown (not simulated).
    pub score: f64,
}

impl Probe {
    /// A probe answered without a run: no miss, no score.
    pub const SAFE: Probe = Probe {
        missed: false,
        score: f64::NAN,
    };
}

/// The arrivals of the messages a probe reads, first and last: where in
/// the timeline a first miss fell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// min a'_i.
    pub first_ns: u64,
    /// max a'_i.
    pub last_ns: u64,
}

impl Span {
    /// The span of arrivals compressed by `factor`.
    fn compressed(self, factor: f64) -> Span {
        Span {
            first_ns: compress_ns(self.first_ns, factor),
            last_ns: compress_ns(self.last_ns, factor),
        }
    }

    /// 1/φ for a first miss arriving at `at_ns`.
    fn score_of_miss(self, at_ns: u64) -> f64 {
        let length = self.last_ns.saturating_sub(self.first_ns) as f64 + 1.0;
        let reached = at_ns.saturating_sub(self.first_ns) as f64 + 1.0;
        (length / reached).max(1.0)
    }
}

/// `message` with its timeline compressed by `factor`, budget kept: the
/// arrival and the recorded answer (so a thread's think times shrink by
/// `factor` in closed replay).
pub fn compress(mut message: Message, factor: f64) -> Message {
    let budget = signed_budget_ns(&message);
    message.arrival_ns = compress_ns(message.arrival_ns, factor);
    if let Some(budget) = budget {
        message.deadline_ns = Some(offset_ns(message.arrival_ns, budget));
    }
    if let Some(response) = message.response_ns.as_mut() {
        *response = compress_ns(*response, factor);
    }
    message
}

/// d_i − a_i, negative for a deadline before its arrival (kept so by
/// [`compress`]).
fn signed_budget_ns(message: &Message) -> Option<i128> {
    let arrival = i128::from(message.arrival_ns);
    message
        .deadline_ns
        .map(|deadline| i128::from(deadline) - arrival)
}

/// `time_ns` + `offset`, clamped to the representable range (a deadline
/// never before 0).
fn offset_ns(time_ns: u64, offset: i128) -> u64 {
    let sum = (i128::from(time_ns) + offset).clamp(0, i128::from(u64::MAX));
    u64::try_from(sum).unwrap_or(u64::MAX)
}

/// The denominator of the rational a compression factor is rounded to.
///
/// Compression is integer arithmetic: k is taken as the rational n / 2^40
/// nearest to it, and the budget d_i − a_i is signed (a deadline before
/// its arrival stays before it), so k = 1 leaves every message exactly as
/// it was, at any timestamp, and `sweep` never finds headroom on a trace
/// that `sim` says misses.
const FACTOR_ONE: u128 = 1 << 40;

/// ⌊`time_ns` / k⌋ with k the rational n / 2^40 nearest `factor` (n ≥ 1),
/// in integers: exact at k = 1 and for every power of two.
fn compress_ns(time_ns: u64, factor: f64) -> u64 {
    let numerator = (factor * FACTOR_ONE as f64).round().max(1.0) as u128;
    let compressed = u128::from(time_ns) * FACTOR_ONE / numerator;
    u64::try_from(compressed).unwrap_or(u64::MAX)
}

/// The largest factor in [MIN_FACTOR, MAX_FACTOR] at which `misses` says
/// false, to relative `precision`; `None` if it misses even at MIN_FACTOR.
/// Doubles (or halves) from 1 to a bracket, then bisects it geometrically.
pub fn search<E>(
    mut misses: impl FnMut(f64) -> Result<bool, E>,
    precision: f64,
) -> Result<Option<f64>, E> {
    let (mut low, mut high);
    if misses(1.0)? {
        high = 1.0;
        loop {
            let k = high * 0.5;
            if !misses(k)? {
                low = k;
                break;
            }
            if k <= MIN_FACTOR {
                return Ok(None);
            }
            high = k;
        }
    } else {
        low = 1.0;
        loop {
            let k = low * 2.0;
            if misses(k)? {
                high = k;
                break;
            }
            if k >= MAX_FACTOR {
                return Ok(Some(MAX_FACTOR));
            }
            low = k;
        }
    }
    while high / low > 1.0 + precision {
        let k = (low * high).sqrt();
        if k <= low || k >= high {
            break; // as fine as f64 goes
        }
        if misses(k)? {
            high = k;
        } else {
            low = k;
        }
    }
    Ok(Some(low))
}

/// Whether any AUTH message misses its deadline; stops at the first miss.
pub fn any_miss<I, E>(
    messages: I,
    spec: &StrategySpec,
    cost: &CostModel,
    config: &SimConfig,
) -> Result<bool, SimError>
where
    I: IntoIterator<Item = Result<Message, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let span = Span::default();
    Ok(probe(messages, spec, cost, config, span)?.missed)
}

/// One probe: whether any AUTH message misses its deadline (stopping at
/// the first miss), and its [`Probe::score`]; `span`: the arrivals of
/// `messages`.
pub fn probe<E: std::error::Error + Send + Sync + 'static>(
    messages: impl IntoIterator<Item = Result<Message, E>>,
    spec: &StrategySpec,
    cost: &CostModel,
    config: &SimConfig,
    span: Span,
) -> Result<Probe, SimError> {
    // The largest share as a fraction (used, budget): no division per
    // message.
    let worst = Cell::new((0_u64, 1_u64));
    let first_miss = Cell::new(u64::MAX);
    let observe = |outcome: &Outcome| {
        if outcome.action != Action::Auth || outcome.dropped {
            return;
        }
        let Some(deadline) = outcome.deadline_ns else {
            return;
        };
        if outcome.missed {
            first_miss.set(first_miss.get().min(outcome.arrival_ns));
            return;
        }
        let budget = deadline.saturating_sub(outcome.arrival_ns);
        let used = outcome.response_ns.saturating_sub(outcome.arrival_ns);
        let (most, of) = worst.get();
        if u128::from(used) * u128::from(of) > u128::from(most) * u128::from(budget) {
            worst.set((used, budget));
        }
    };
    let mut strategy = spec.build();
    let mut simulator = Simulator::new(&mut strategy, cost, config.clone(), observe);
    let mut missed = false;
    for message in messages {
        simulator.push(message.map_err(|e| SimError::Input(Box::new(e)))?)?;
        if simulator.misses() > 0 {
            missed = true;
            break;
        }
    }
    missed = missed || simulator.finish()?.misses > 0;
    let score = match missed {
        true => span.score_of_miss(first_miss.get()),
        false => worst.get().0 as f64 / worst.get().1 as f64,
    };
    Ok(Probe { missed, score })
}

/// [`search`] guided by the probes' scores, `width` probes a round, each
/// on its own thread; every factor up to `safe` is known to pass without
/// a probe. The module `guide` says where it probes.
pub fn search_guided<E: Send>(
    probe: impl Fn(f64) -> Result<Probe, E> + Sync,
    precision: f64,
    width: usize,
    safe: f64,
) -> Result<Option<f64>, E> {
    let mut guide = Guide::new(precision, width, safe);
    loop {
        let factors = guide.next();
        if factors.is_empty() {
            return Ok(guide.answer());
        }
        let found = in_parallel(&factors, &probe)?;
        guide.learn(&factors, &found);
    }
}

/// `probe` of every factor, the first on this thread and each other on
/// a thread of its own; results in order, the first error first.
fn in_parallel<E: Send>(
    factors: &[f64],
    probe: &(impl Fn(f64) -> Result<Probe, E> + Sync),
) -> Result<Vec<Probe>, E> {
    let Some((&first, others)) = factors.split_first() else {
        return Ok(Vec::new());
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = others
            .iter()
            .map(|&k| scope.spawn(move || probe(k)))
            .collect();
        let first = probe(first);
        std::iter::once(first)
            .chain(
                others
                    .into_iter()
                    .map(|other| other.join().expect("a probe panicked")),
            )
            .collect()
    })
}

/// What [`headroom`] knows of a trace before probing (see the module
/// documentation): enough to skip probes that cannot miss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    /// n.
    pub messages: u64,
    /// W = Σ s_i under the cost model as given (saturating).
    pub work_ns: u64,
    /// B = min (d_i − a_i) over AUTH messages with a deadline (negative
    /// for a deadline before its arrival: then nothing is proven).
    pub min_budget_ns: Option<i128>,
    /// L = max_i (max_{j≤i} a_j − a_i).
    pub behind_ns: u64,
    /// max a_i.
    pub last_arrival_ns: u64,
    /// min a_i.
    pub first_arrival_ns: u64,
}

impl Bounds {
    /// Counts the next message in stream order.
    pub fn add(&mut self, message: &Message, cost: &CostModel) -> Result<(), CostError> {
        self.work_ns = self.work_ns.saturating_add(cost.service_ns(message)?);
        if message.is_auth()
            && let Some(deadline) = message.deadline_ns
        {
            let budget = i128::from(deadline) - i128::from(message.arrival_ns);
            self.min_budget_ns = Some(self.min_budget_ns.map_or(budget, |b| b.min(budget)));
        }
        let arrival = message.arrival_ns;
        if self.messages > 0 {
            let behind = self.last_arrival_ns.saturating_sub(arrival);
            self.behind_ns = self.behind_ns.max(behind);
        }
        self.last_arrival_ns = self.last_arrival_ns.max(arrival);
        self.first_arrival_ns = match self.messages {
            0 => arrival,
            _ => self.first_arrival_ns.min(arrival),
        };
        self.messages += 1;
        Ok(())
    }

    /// The bounds of a whole stream.
    pub fn measure<I, E>(messages: I, cost: &CostModel) -> Result<Bounds, SimError>
    where
        I: IntoIterator<Item = Result<Message, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let mut bounds = Bounds::default();
        for message in messages {
            bounds.add(&message.map_err(|e| SimError::Input(Box::new(e)))?, cost)?;
        }
        Ok(bounds)
    }

    /// L + τ + ρ + n·c_h: the response-time bound without the work.
    fn fixed_ns(&self, config: &SimConfig) -> u64 {
        self.behind_ns
            .saturating_add(config.transport_ns)
            .saturating_add(config.response_latency_ns)
            .saturating_add(self.messages.saturating_mul(config.handoff_ns))
    }

    /// Whether no arrival compression k ≥ 1 can cause a miss.
    pub fn load_never_misses(&self, config: &SimConfig) -> bool {
        proven_for(config)
            && self.min_budget_ns.is_none_or(|budget| {
                i128::from(self.fixed_ns(config).saturating_add(self.work_ns)) <= budget
            })
    }

    /// K₀: no service-time multiplier up to it can cause a miss (0 when
    /// the bound proves nothing; infinite without deadlines).
    pub fn safe_cost_factor(&self, config: &SimConfig) -> f64 {
        if !proven_for(config) {
            return 0.0;
        }
        let Some(budget) = self.min_budget_ns else {
            return f64::INFINITY;
        };
        let fixed = self.fixed_ns(config).saturating_add(self.messages);
        let room = budget - i128::from(fixed);
        if room <= 0 {
            return 0.0;
        }
        room as f64 / (self.work_ns.saturating_add(self.messages)) as f64 * (1.0 - 1e-12)
    }

    /// The arrivals' span.
    pub fn span(&self) -> Span {
        Span {
            first_ns: self.first_arrival_ns,
            last_ns: self.last_arrival_ns,
        }
    }

    /// From this compression on every compressed arrival is 0.
    pub fn saturating_factor(&self) -> f64 {
        self.last_arrival_ns as f64 + 1.0
    }
}

/// Whether the response bound of the module documentation is proven for
/// `config`: every setting other than τ, ρ, c_h and the miss mode at its
/// default. A setting added to [`SimConfig`] later (CPU overheads, fewer
/// cores, background load, a kernel queue...) turns the shortcuts off
/// until the bound is extended to it.
#[allow(clippy::needless_update)] // on purpose: future fields count
fn proven_for(config: &SimConfig) -> bool {
    let known = SimConfig {
        transport_ns: config.transport_ns,
        response_latency_ns: config.response_latency_ns,
        handoff_ns: config.handoff_ns,
        miss_mode: config.miss_mode,
        ..SimConfig::default()
    };
    *config == known
}

/// Both headrooms of `spec`; `open` yields the messages afresh each call
/// (from several threads at once). One pass measures the [`Bounds`].
pub fn headroom<I, E>(
    open: impl Fn() -> I + Sync,
    spec: &StrategySpec,
    cost: &CostModel,
    config: &SimConfig,
    precision: f64,
) -> Result<Headroom, SimError>
where
    I: IntoIterator<Item = Result<Message, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let bounds = Bounds::measure(open(), cost)?;
    headroom_within(open, &bounds, spec, cost, config, precision)
}

/// [`headroom`] with the trace's [`Bounds`] already measured.
pub fn headroom_within<I, E>(
    open: impl Fn() -> I + Sync,
    bounds: &Bounds,
    spec: &StrategySpec,
    cost: &CostModel,
    config: &SimConfig,
    precision: f64,
) -> Result<Headroom, SimError>
where
    I: IntoIterator<Item = Result<Message, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let span = bounds.span();
    let saturated = Mutex::new(None);
    let load = |k: f64| -> Result<Probe, SimError> {
        let same = k >= bounds.saturating_factor();
        if let Some(known) = same.then(|| *lock(&saturated)).flatten() {
            return Ok(known);
        }
        let compressed = open().into_iter().map(|m| m.map(|m| compress(m, k)));
        let found = probe(compressed, spec, cost, config, span.compressed(k))?;
        if same {
            *lock(&saturated) = Some(found);
        }
        Ok(found)
    };
    let safe = bounds.safe_cost_factor(config);
    let scaled = |k: f64| -> Result<Probe, SimError> {
        if k <= safe {
            return Ok(Probe::SAFE);
        }
        let scaled = cost.clone().with_scale(cost.scale() * k)?;
        probe(open(), spec, &scaled, config, span)
    };
    let (load_factor, cost_factor) = if bounds.load_never_misses(config) {
        let cost_factor = search_guided(scaled, precision, 2, safe)?;
        (Some(MAX_FACTOR), cost_factor)
    } else {
        let (load_factor, cost_factor) = std::thread::scope(|scope| {
            let load_search = scope.spawn(|| search_guided(load, precision, 1, 0.0));
            let cost_factor = search_guided(scaled, precision, 1, safe);
            (
                load_search.join().expect("the load search panicked"),
                cost_factor,
            )
        });
        (load_factor?, cost_factor?)
    };
    Ok(Headroom {
        strategy: spec.to_string(),
        load_factor,
        cost_factor,
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use esreplay_traces::{Action, EventType};
    use std::convert::Infallible;

    #[test]
    fn search_finds_a_threshold_to_one_percent() {
        for threshold in [0.003, 0.7, 1.0, 1.5, 37.0] {
            let found = search(|k| Ok::<_, ()>(k > threshold), 0.01)
                .unwrap()
                .unwrap();
            assert!(
                found <= threshold && found * 1.01 >= threshold,
                "{found} vs {threshold}"
            );
        }
        assert_eq!(search(|_| Ok::<_, ()>(true), 0.01), Ok(None));
        assert_eq!(search(|_| Ok::<_, ()>(false), 0.01), Ok(Some(MAX_FACTOR)));
        let fine = search(|k| Ok::<_, ()>(k > 1.5), 0.0).unwrap().unwrap();
        assert!(
            fine <= 1.5 && fine > 1.499_999_999,
            "a zero precision still ends: {fine}"
        );
    }

    #[test]
    fn guided_searches_find_thresholds_on_threads() {
        for width in [1, 2, 3] {
            for threshold in [0.003, 0.7, 1.0, 1.5, 37.0, 900_000.0] {
                // Scores rising with the factor, crossing 1 at the threshold.
                let probe = |k: f64| {
                    let missed = k > threshold;
                    Ok::<_, ()>(Probe {
                        missed,
                        score: k / threshold,
                    })
                };
                let found = search_guided(probe, 0.01, width, 0.0).unwrap().unwrap();
                assert!(
                    found <= threshold && found * 1.01 >= threshold,
                    "width {width}: {found} vs {threshold}"
                );
            }
            let always = |_| {
                Ok::<_, ()>(Probe {
                    missed: true,
                    score: 2.0,
                })
            };
            assert_eq!(search_guided(always, 0.01, width, 0.0), Ok(None));
            let never = |_| Ok::<_, ()>(Probe::SAFE);
            let found = search_guided(never, 0.01, width, 0.0);
            assert_eq!(found, Ok(Some(MAX_FACTOR)));
            let failing = |k| if k > 3.0 { Err(k) } else { Ok(Probe::SAFE) };
            let failed = search_guided(failing, 0.01, width, 0.0);
            assert!(failed.is_err(), "width {width}: errors come back");
        }
    }

    /// One message every `gap` ns, 40 ns of work, `budget` ns to answer.
    fn periodic(gap: u64, budget: u64) -> Vec<Message> {
        (0..200)
            .map(|i| {
                let mut m = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * gap);
                m.deadline_ns = Some(i * gap + budget);
                m
            })
            .collect()
    }

    /// The bounds of `messages` under `const:40ns`.
    fn bounds_of(messages: &[Message]) -> Bounds {
        let messages = messages
            .iter()
            .cloned()
            .map(Ok::<_, std::convert::Infallible>);
        Bounds::measure(messages, &CostModel::constant(40)).unwrap()
    }

    /// Bounds that prove nothing: every probe runs.
    fn blind() -> Bounds {
        Bounds {
            work_ns: 1,
            min_budget_ns: Some(0),
            last_arrival_ns: u64::MAX,
            ..Bounds::default()
        }
    }

    /// `headroom_within` of `messages`, and how many times it read them.
    fn counted(messages: &[Message], bounds: &Bounds, spec: &str) -> (Headroom, usize) {
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let open = || {
            reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            messages
                .iter()
                .cloned()
                .map(Ok::<_, std::convert::Infallible>)
        };
        let spec: StrategySpec = spec.parse().unwrap();
        let cost = CostModel::constant(40);
        let config = SimConfig::default();
        let room = headroom_within(open, bounds, &spec, &cost, &config, 0.01).unwrap();
        (room, reads.into_inner())
    }

    #[test]
    fn budgets_above_all_the_work_settle_the_load_search_unprobed() {
        // 200 × 40 ns of work, 10 µs budgets: nothing can ever miss.
        let messages = periodic(100, 10_000);
        let bounds = bounds_of(&messages);
        assert_eq!(
            (bounds.work_ns, bounds.min_budget_ns),
            (8_000, Some(10_000))
        );
        assert!(bounds.load_never_misses(&SimConfig::default()));
        let (room, reads) = counted(&messages, &bounds, "pool:2");
        assert_eq!(room.load_factor, Some(MAX_FACTOR));
        let (blind, blind_reads) = counted(&messages, &blind(), "pool:2");
        assert!(reads < blind_reads, "{reads} reads vs {blind_reads}");
        let cost_factor = room.cost_factor.unwrap();
        // Two probes at a time bisect at other points: the same threshold
        // to the precision asked.
        let blind_factor = blind.cost_factor.unwrap();
        assert!(
            (blind_factor / cost_factor - 1.0).abs() <= 0.0101,
            "{blind:?} {room:?}"
        );
        assert!(
            cost_factor >= bounds.safe_cost_factor(&SimConfig::default()),
            "{room:?}"
        );
        // A transport delay eats into the same budgets.
        let slow = SimConfig {
            transport_ns: 2_001,
            ..SimConfig::default()
        };
        assert!(!bounds.load_never_misses(&slow));
    }

    #[test]
    fn the_bounds_change_the_answer_only_within_the_precision() {
        // Budgets below the total work: the bounds prove little, probes
        // decide. Without them the search starts elsewhere and scores
        // misses against another span, so it probes other factors: the
        // same thresholds to the precision asked.
        let messages = periodic(100, 2_000);
        let bounds = bounds_of(&messages);
        assert!(!bounds.load_never_misses(&SimConfig::default()));
        let close =
            |a: Option<f64>, b: Option<f64>| (a.unwrap() / b.unwrap() - 1.0).abs() <= 0.0101;
        for spec in ["inline", "pool:2", "edf:3"] {
            let (room, _) = counted(&messages, &bounds, spec);
            let (blind, _) = counted(&messages, &blind(), spec);
            assert!(
                close(room.load_factor, blind.load_factor),
                "{room:?} {blind:?}"
            );
            assert!(
                close(room.cost_factor, blind.cost_factor),
                "{room:?} {blind:?}"
            );
        }
    }

    #[test]
    fn a_deadline_before_its_arrival_proves_nothing() {
        let mut messages = periodic(100, 10_000);
        messages[3].deadline_ns = Some(messages[3].arrival_ns - 1);
        let bounds = bounds_of(&messages);
        assert_eq!(bounds.min_budget_ns, Some(-1));
        let config = SimConfig::default();
        assert!(!bounds.load_never_misses(&config));
        assert_eq!(bounds.safe_cost_factor(&config), 0.0);
    }

    #[test]
    fn out_of_order_arrivals_widen_the_bound() {
        let mut messages = periodic(100, 10_000);
        messages[5].arrival_ns = 50;
        messages[5].deadline_ns = Some(10_050);
        let bounds = bounds_of(&messages);
        assert_eq!(bounds.behind_ns, 350);
        assert_eq!(bounds.last_arrival_ns, 19_900);
    }

    #[test]
    fn compression_keeps_budgets_and_order() {
        let mut message = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 1000);
        message.deadline_ns = Some(1500);
        let fast = compress(message.clone(), 4.0);
        assert_eq!((fast.arrival_ns, fast.deadline_ns), (250, Some(750)));
        let slow = compress(message.clone(), 0.5);
        assert_eq!((slow.arrival_ns, slow.deadline_ns), (2000, Some(2500)));
        message.response_ns = Some(1300);
        let recorded = compress(message, 4.0).response_ns;
        assert_eq!(
            recorded,
            Some(325),
            "the recorded stall shrinks with the think times"
        );
    }

    fn auth(global_seq: u64, arrival_ns: u64, deadline_ns: u64) -> Message {
        let mut message = Message::new(global_seq, EventType::AUTH_OPEN, Action::Auth, arrival_ns);
        message.deadline_ns = Some(deadline_ns);
        message
    }

    fn inline_headroom(messages: &[Message], cost: &CostModel) -> Headroom {
        let open = || messages.iter().cloned().map(Ok::<_, Infallible>);
        let spec: StrategySpec = "inline".parse().unwrap();
        headroom(open, &spec, cost, &SimConfig::default(), 0.01).unwrap()
    }

    #[test]
    fn compression_by_one_changes_nothing() {
        let late = |arrival: u64, deadline: u64| auth(0, arrival, deadline);
        // A deadline before its arrival, timestamps above 2^53 (where f64
        // loses nanoseconds) and the extremes all survive k = 1.
        for message in [
            late(1000, 400),
            late((1 << 53) + 1, (1 << 53) + 3),
            late(u64::MAX - 7, u64::MAX),
            late(5, 0),
            late(0, u64::MAX),
        ] {
            assert_eq!(compress(message.clone(), 1.0), message);
        }
        let early = compress(late(1000, 400), 2.0);
        assert_eq!((early.arrival_ns, early.deadline_ns), (500, Some(0)));
    }

    #[test]
    fn sweep_agrees_with_sim_when_a_deadline_precedes_its_arrival() {
        // The second message is already late when it arrives: `sim` counts
        // a miss even with free service, so no load factor, not even 1, is
        // miss-free (a deadline clamped to the arrival would be met).
        let messages = [auth(0, 0, 1000), auth(1, 5000, 4000)];
        let cost = CostModel::constant(0);
        let open = || messages.iter().cloned().map(Ok::<_, Infallible>);
        let spec: StrategySpec = "inline".parse().unwrap();
        let config = SimConfig::default();
        assert!(
            any_miss(open(), &spec, &cost, &config).unwrap(),
            "sim misses"
        );
        let room = inline_headroom(&messages, &cost);
        assert_eq!(room.load_factor, None, "{room:?}");
        assert_eq!(room.cost_factor, None, "{room:?}");
    }

    #[test]
    fn a_probe_scores_how_near_it_came() {
        // One message every 100 ns, 40 ns of work: each response uses
        // 40 of its 50 ns.
        let messages: Vec<Message> = (0..200).map(|i| auth(i, i * 100, i * 100 + 50)).collect();
        let (spec, config) = ("inline".parse().unwrap(), SimConfig::default());
        let span = Span {
            first_ns: 0,
            last_ns: 19_900,
        };
        let run = |cost_ns| {
            let messages = messages.iter().cloned().map(Ok::<_, Infallible>);
            probe(
                messages,
                &spec,
                &CostModel::constant(cost_ns),
                &config,
                span,
            )
            .unwrap()
        };
        assert_eq!(
            run(40),
            Probe {
                missed: false,
                score: 0.8
            }
        );
        // 80 ns of work misses from the first message: the trace would
        // have ended far beyond its budgets.
        assert_eq!(
            run(80),
            Probe {
                missed: true,
                score: 19_901.0
            }
        );
        // Budgets of 10 µs for the first half: the first miss arrives
        // halfway through the timeline.
        let mut relaxed = messages.clone();
        for message in &mut relaxed[..100] {
            message.deadline_ns = Some(message.arrival_ns + 10_000);
        }
        let relaxed = relaxed.into_iter().map(Ok::<_, Infallible>);
        let found = probe(relaxed, &spec, &CostModel::constant(80), &config, span).unwrap();
        assert!(found.missed);
        assert_eq!(found.score, 19_901.0 / 10_001.0);
    }

    #[test]
    fn headroom_of_a_periodic_stream_is_the_utilisation_limit() {
        // One message every 100 ns, 40 ns of work, 50 ns budget: inline
        // keeps up until gaps shrink below 40 ns, i.e. k = 2.5 (misses
        // start once waiting pushes a response past 50 ns).
        let messages: Vec<Message> = (0..200).map(|i| auth(i, i * 100, i * 100 + 50)).collect();
        let room = inline_headroom(&messages, &CostModel::constant(40));
        let load = room.load_factor.unwrap();
        assert!((2.2..=2.6).contains(&load), "{load}");
        let scale = room.cost_factor.unwrap();
        assert!((1.24..=1.2625).contains(&scale), "{scale}");
    }
}
