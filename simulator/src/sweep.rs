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
    let budget = message.budget_ns();
    let scale = |ns: u64| (ns as f64 / factor).floor() as u64;
    message.arrival_ns = scale(message.arrival_ns);
    if let Some(budget) = budget {
        message.deadline_ns = Some(message.arrival_ns.saturating_add(budget));
    }
    if let Some(response) = message
        .details
        .as_mut()
        .and_then(|d| d.response_ns.as_mut())
    {
        *response = scale(*response);
    }
    message
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

    #[test]
    fn headroom_of_a_periodic_stream_is_the_utilisation_limit() {
        // One message every 100 ns, 40 ns of work, 50 ns budget: inline
        // keeps up until gaps shrink below 40 ns, i.e. k = 2.5 (misses
        // start once waiting pushes a response past 50 ns).
        let messages: Vec<Message> = (0..200)
            .map(|i| {
                let mut m = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * 100);
                m.deadline_ns = Some(i * 100 + 50);
                m
            })
            .collect();
        let open = || {
            messages
                .iter()
                .cloned()
                .map(Ok::<_, std::convert::Infallible>)
        };
        let spec: StrategySpec = "inline".parse().unwrap();
        let cost = CostModel::constant(40);
        let room = headroom(open, &spec, &cost, &SimConfig::default(), 0.01).unwrap();
        let load = room.load_factor.unwrap();
        assert!((2.2..=2.6).contains(&load), "{load}");
        let scale = room.cost_factor.unwrap();
        assert!((1.24..=1.2625).contains(&scale), "{scale}");
    }
}
