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

use esreplay_traces::Message;
use serde::Serialize;

use crate::cost::CostModel;
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
    if let Some(response) = message
        .details
        .as_mut()
        .and_then(|d| d.response_ns.as_mut())
    {
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
    let (mut low, mut high);
    if misses(1.0)? {
        high = 1.0;
        low = 0.5;
        while misses(low)? {
            if low <= MIN_FACTOR {
                return Ok(None);
            }
            high = low;
            low /= 2.0;
        }
    } else {
        low = 1.0;
        high = 2.0;
        while !misses(high)? {
            if high >= MAX_FACTOR {
                return Ok(Some(MAX_FACTOR));
            }
            low = high;
            high *= 2.0;
        }
    }
    while high / low > 1.0 + precision {
        let middle = (low * high).sqrt();
        if middle <= low || middle >= high {
            break; // as fine as f64 goes
        }
        if misses(middle)? {
            high = middle;
        } else {
            low = middle;
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

/// Both headrooms of `spec`; `open` yields the messages afresh each call.
pub fn headroom<I, E>(
    mut open: impl FnMut() -> I,
    spec: &StrategySpec,
    cost: &CostModel,
    config: &SimConfig,
    precision: f64,
) -> Result<Headroom, SimError>
where
    I: IntoIterator<Item = Result<Message, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let load_factor = search(
        |k| {
            let compressed = open().into_iter().map(|m| m.map(|m| compress(m, k)));
            any_miss(compressed, spec, cost, config)
        },
        precision,
    )?;
    let cost_factor = search(
        |k| {
            let scaled = cost.clone().with_scale(cost.scale() * k)?;
            any_miss(open(), spec, &scaled, config)
        },
        precision,
    )?;
    Ok(Headroom {
        strategy: spec.to_string(),
        load_factor,
        cost_factor,
    })
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
    fn compression_keeps_budgets_and_order() {
        let mut message = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 1000);
        message.deadline_ns = Some(1500);
        let fast = compress(message.clone(), 4.0);
        assert_eq!((fast.arrival_ns, fast.deadline_ns), (250, Some(750)));
        let slow = compress(message.clone(), 0.5);
        assert_eq!((slow.arrival_ns, slow.deadline_ns), (2000, Some(2500)));
        message.details = Some(Box::new(esreplay_traces::Details {
            response_ns: Some(1300),
            ..Default::default()
        }));
        let recorded = compress(message, 4.0).details.and_then(|d| d.response_ns);
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
