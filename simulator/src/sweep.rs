//! Headroom: how much more load a strategy takes before its first miss.
//!
//! Two dimensions, each searched the same way ([`search`]):
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
//! precision (1 % by default), by doubling or halving from 1 and then
//! bisecting geometrically. Misses need not be monotone in the factor (EDF
//! has anomalies), so the answer is a factor with no miss whose 1 %-larger
//! neighbour misses, not a proof that every smaller factor is safe. Each
//! probe re-reads the messages, so memory stays streaming, and stops at the
//! first miss.
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
//! The two searches run on two threads; when the bound settles the load
//! search, the cost search probes two factors at a time. The widths are
//! fixed (never the core count), so the result depends only on the trace
//! and the options.

use std::sync::Mutex;

use esreplay_traces::Message;
use serde::Serialize;

use crate::cost::{CostError, CostModel};
use crate::engine::{SimConfig, SimError, Simulator};
use crate::spec::StrategySpec;

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
pub fn search<E>(
    mut misses: impl FnMut(f64) -> Result<bool, E>,
    precision: f64,
) -> Result<Option<f64>, E> {
    search_batched(
        |factors| factors.iter().map(|&k| misses(k)).collect(),
        precision,
        1,
    )
}

/// [`search`] probing `width` factors at once, each on its own thread.
/// The doubling (halving) walk tries the next `width` powers of two
/// together and keeps the first that misses (does not), exactly as one at
/// a time would; bisection splits the bracket geometrically into
/// `width + 1` parts. `width` 1 is [`search`].
pub fn search_parallel<E: Send>(
    misses: impl Fn(f64) -> Result<bool, E> + Sync,
    precision: f64,
    width: usize,
) -> Result<Option<f64>, E> {
    search_batched(
        |factors| {
            let misses = &misses;
            std::thread::scope(|scope| {
                let probes: Vec<_> = factors
                    .iter()
                    .map(|&k| scope.spawn(move || misses(k)))
                    .collect();
                probes
                    .into_iter()
                    .map(|probe| probe.join().expect("a probe panicked"))
                    .collect()
            })
        },
        precision,
        width,
    )
}

/// The search, asking `probe` about up to `width` factors at a time (in
/// increasing order of the walk: upwards when doubling, downwards when
/// halving, increasing when bisecting).
fn search_batched<E>(
    mut probe: impl FnMut(&[f64]) -> Result<Vec<bool>, E>,
    precision: f64,
    width: usize,
) -> Result<Option<f64>, E> {
    let width = width.max(1);
    let (mut low, mut high);
    if probe(&[1.0])?[0] {
        high = 1.0;
        loop {
            let steps = walk(high, 0.5, width, |k| k <= MIN_FACTOR);
            let found = probe(&steps)?;
            let deepest = steps[steps.len() - 1];
            match found.iter().position(|miss| !miss) {
                Some(at) => {
                    low = steps[at];
                    high = if at == 0 { high } else { steps[at - 1] };
                    break;
                }
                None if deepest <= MIN_FACTOR => return Ok(None),
                None => high = deepest,
            }
        }
    } else {
        low = 1.0;
        loop {
            let steps = walk(low, 2.0, width, |k| k >= MAX_FACTOR);
            let found = probe(&steps)?;
            let farthest = steps[steps.len() - 1];
            match found.iter().position(|&miss| miss) {
                Some(at) => {
                    high = steps[at];
                    low = if at == 0 { low } else { steps[at - 1] };
                    break;
                }
                None if farthest >= MAX_FACTOR => return Ok(Some(MAX_FACTOR)),
                None => low = farthest,
            }
        }
    }
    while high / low > 1.0 + precision {
        let points: Vec<f64> = between(low, high, width)
            .into_iter()
            .filter(|&k| k > low && k < high)
            .collect();
        if points.is_empty() {
            break; // as fine as f64 goes
        }
        let found = probe(&points)?;
        match found.iter().position(|&miss| miss) {
            Some(at) => {
                high = points[at];
                low = if at == 0 { low } else { points[at - 1] };
            }
            None => low = points[points.len() - 1],
        }
    }
    Ok(Some(low))
}

/// `width` factors splitting [low, high] into geometrically equal parts.
fn between(low: f64, high: f64, width: usize) -> Vec<f64> {
    if width == 1 {
        return vec![(low * high).sqrt()];
    }
    let parts = (width + 1) as f64;
    (1..=width)
        .map(|j| low * (high / low).powf(j as f64 / parts))
        .collect()
}

/// Up to `width` factors from `from`, each `step` times the one before,
/// ending early at the first one that is `last`.
fn walk(from: f64, step: f64, width: usize, last: impl Fn(f64) -> bool) -> Vec<f64> {
    let mut steps = Vec::with_capacity(width);
    let mut k = from;
    while steps.len() < width {
        k *= step;
        steps.push(k);
        if last(k) {
            break;
        }
    }
    steps
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
    let mut strategy = spec.build();
    let mut simulator = Simulator::new(&mut strategy, cost, config.clone(), ());
    for message in messages {
        simulator.push(message.map_err(|e| SimError::Input(Box::new(e)))?)?;
        if simulator.misses() > 0 {
            return Ok(true);
        }
    }
    Ok(simulator.finish()?.misses > 0)
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
    let saturated = Mutex::new(None);
    let load = |k: f64| -> Result<bool, SimError> {
        let same = k >= bounds.saturating_factor();
        if let Some(known) = same.then(|| *lock(&saturated)).flatten() {
            return Ok(known);
        }
        let compressed = open().into_iter().map(|m| m.map(|m| compress(m, k)));
        let missed = any_miss(compressed, spec, cost, config)?;
        if same {
            *lock(&saturated) = Some(missed);
        }
        Ok(missed)
    };
    let safe = bounds.safe_cost_factor(config);
    let scaled = |k: f64| -> Result<bool, SimError> {
        if k <= safe {
            return Ok(false);
        }
        let scaled = cost.clone().with_scale(cost.scale() * k)?;
        any_miss(open(), spec, &scaled, config)
    };
    let (load_factor, cost_factor) = if bounds.load_never_misses(config) {
        (Some(MAX_FACTOR), search_parallel(scaled, precision, 2)?)
    } else {
        let (load_factor, cost_factor) = std::thread::scope(|scope| {
            let load_search = scope.spawn(|| search(load, precision));
            let cost_factor = search(scaled, precision);
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
    fn parallel_searches_find_the_same_thresholds() {
        for width in [1, 2, 3] {
            for threshold in [0.003, 0.7, 1.0, 1.5, 37.0, 900_000.0] {
                let misses = |k: f64| Ok::<_, ()>(k > threshold);
                let found = search_parallel(misses, 0.01, width).unwrap().unwrap();
                assert!(
                    found <= threshold && found * 1.01 >= threshold,
                    "width {width}: {found} vs {threshold}"
                );
            }
            let always = search_parallel(|_| Ok::<_, ()>(true), 0.01, width);
            assert_eq!(always, Ok(None));
            let never = search_parallel(|_| Ok::<_, ()>(false), 0.01, width);
            assert_eq!(never, Ok(Some(MAX_FACTOR)));
            let failing =
                search_parallel(|k| if k > 3.0 { Err(k) } else { Ok(false) }, 0.01, width);
            assert!(failing.is_err(), "width {width}: errors come back");
        }
        let one = |k: f64| Ok::<_, ()>(k > 2.7);
        assert_eq!(search_parallel(one, 0.01, 1), search(one, 0.01));
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
    fn the_bounds_never_change_the_answer() {
        // Budgets below the total work: the bounds prove little, probes decide.
        let messages = periodic(100, 2_000);
        let bounds = bounds_of(&messages);
        assert!(!bounds.load_never_misses(&SimConfig::default()));
        for spec in ["inline", "pool:2", "edf:3"] {
            let (room, reads) = counted(&messages, &bounds, spec);
            let (blind, blind_reads) = counted(&messages, &blind(), spec);
            assert_eq!(room, blind, "{spec}");
            assert!(reads <= blind_reads, "{spec}: {reads} vs {blind_reads}");
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
