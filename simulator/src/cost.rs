//! Cost models: the service time s_i of each message.
//!
//! `--cost` takes `trace` (the recorded service times), `const:D` (or a bare
//! duration `D`), `exp:MEAN`, `lognormal:MEDIAN:P99` or `table:FILE` (a
//! per-event-type TOML table, see [`table`]); `--cost-scale K` multiplies
//! any of them. A library user plugs in a model of their own by
//! implementing [`CostFn`] and wrapping it in [`CostModel::custom`]
//! (`simulator/examples/custom_cost.rs`).
//!
//! Fairness invariant (docs/simulator.md, "Cost models"): a message gets
//! the same s_i under every strategy. A random s_i is a pure function of
//! (seed, global_seq): draws come from [`esreplay_traces::dist`]'s keyed
//! hash (SplitMix64 of seed, stream and global_seq; Box–Muller for the
//! normal), never from a generator whose state depends on call order.

pub mod table;

use std::fmt;
use std::sync::Arc;

use esreplay_traces::dist::{self, Distribution};
use esreplay_traces::{EventType, Message, parse_duration_ns};

pub use table::EventTable;

/// A cost model that could not be built or applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CostError {
    /// The `--cost` text is malformed.
    #[error(
        "invalid cost model {text:?}: {reason} (expected trace, const:D, exp:MEAN, lognormal:MEDIAN:P99 or table:FILE)"
    )]
    Spec {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `trace` was asked of a message without a recorded service time.
    #[error(
        "the cost model `trace` needs recorded service times, but message global_seq {global_seq} (event {event}) has none; choose another --cost (const:D, exp:MEAN, lognormal:MEDIAN:P99, table:FILE)"
    )]
    MissingService {
        /// The first message without one.
        global_seq: u64,
        /// Its event type.
        event: EventType,
    },
    /// A `table:FILE` that could not be read or parsed.
    #[error("cost table {file}: {reason}")]
    Table {
        /// The table file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A [`CostFn`] of the user's could not price a message.
    #[error("cost model {model}: message global_seq {global_seq}: {reason}")]
    Custom {
        /// The model's [`CostFn::name`].
        model: String,
        /// The message.
        global_seq: u64,
        /// Why.
        reason: String,
    },
    /// A table without an entry (and no default) for a message's event.
    #[error(
        "the cost table {file} has no entry for {event} (message global_seq {global_seq}) and no `default`"
    )]
    NoTableEntry {
        /// The table file.
        file: String,
        /// The event type.
        event: EventType,
        /// The message.
        global_seq: u64,
    },
}

/// The [`dist`] stream that service-time draws use.
pub const SERVICE_STREAM: u64 = 0x5E_5713;

/// Where one message's service time comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServiceTime {
    /// The message's recorded `service_ns`.
    Trace,
    /// A keyed draw from a distribution.
    Drawn(Distribution),
}

impl ServiceTime {
    /// Parses `trace`, `const:D`, a bare duration `D`, `exp:MEAN` or
    /// `lognormal:MEDIAN:P99`.
    pub fn parse(text: &str) -> Result<ServiceTime, CostError> {
        ServiceTime::parse_reason(text).map_err(|reason| CostError::Spec {
            text: text.to_owned(),
            reason,
        })
    }

    /// [`parse`](Self::parse) with the reason alone, for callers that name
    /// the text their own way.
    fn parse_reason(text: &str) -> Result<ServiceTime, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("trace") {
            return Ok(ServiceTime::Trace);
        }
        if let Ok(ns) = parse_duration_ns(text) {
            return Ok(ServiceTime::Drawn(Distribution::Const(ns)));
        }
        let parsed: Result<Distribution, dist::DistributionError> = text.parse();
        parsed.map(ServiceTime::Drawn).map_err(|e| e.reason)
    }

    /// s_i for `message` under `seed`: a pure function of both.
    #[inline(always)]
    pub fn sample(self, seed: u64, message: &Message) -> Result<u64, CostError> {
        match self {
            // The error is built only when missing: built and dropped for
            // each message (`ok_or`), it cost 16 instructions a message.
            ServiceTime::Trace => match message.service_ns {
                Some(ns) => Ok(ns),
                None => Err(CostError::MissingService {
                    global_seq: message.global_seq,
                    event: message.event,
                }),
            },
            ServiceTime::Drawn(distribution) => {
                Ok(distribution.sample(seed, SERVICE_STREAM, message.global_seq))
            }
        }
    }
}

impl fmt::Display for ServiceTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceTime::Trace => f.write_str("trace"),
            ServiceTime::Drawn(distribution) => distribution.fmt(f),
        }
    }
}

/// A service-time model of your own, the way [`Strategy`] is a strategy
/// of your own: wrap it in [`CostModel::custom`] and it gets the seed,
/// `--cost-scale` and every place a [`CostModel`] goes (the engine,
/// [`sweep`](crate::sweep)).
///
/// Keep the fairness invariant: s_i must be a pure function of `seed` and
/// the message (the same under every strategy, in any call order), so draw
/// randomness from [`esreplay_traces::dist`]'s keyed hash, not from a
/// generator with state. Any `Fn(u64, &Message) -> Result<u64, CostError>`
/// that is `Send + Sync` is a `CostFn`.
///
/// [`Strategy`]: crate::Strategy
///
/// ```
/// use esreplay_simulator::{CostError, CostModel};
/// use esreplay_traces::{Action, EventType, Message};
///
/// // 1 us per byte of the target path.
/// let by_path = CostModel::custom(|_seed: u64, message: &Message| {
///     Ok::<_, CostError>(message.target_path.as_ref().map_or(0, |p| p.len() as u64) * 1_000)
/// });
/// let mut open = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 0);
/// open.target_path = Some("/etc/hosts".into());
/// assert_eq!(by_path.service_ns(&open), Ok(10_000));
/// ```
pub trait CostFn: Send + Sync {
    /// s_i of `message` under `seed`, before any `--cost-scale`.
    fn service_ns(&self, seed: u64, message: &Message) -> Result<u64, CostError>;

    /// How the model is named in errors.
    fn name(&self) -> String {
        "custom".into()
    }
}

impl<F> CostFn for F
where
    F: Fn(u64, &Message) -> Result<u64, CostError> + Send + Sync,
{
    fn service_ns(&self, seed: u64, message: &Message) -> Result<u64, CostError> {
        self(seed, message)
    }
}

impl CostFn for ServiceTime {
    fn service_ns(&self, seed: u64, message: &Message) -> Result<u64, CostError> {
        self.sample(seed, message)
    }

    fn name(&self) -> String {
        self.to_string()
    }
}

impl CostFn for EventTable {
    fn service_ns(&self, seed: u64, message: &Message) -> Result<u64, CostError> {
        self.sample(seed, message)
    }

    fn name(&self) -> String {
        "table".into()
    }
}

/// A complete cost model: a distribution (or table, or [`CostFn`] of your
/// own), a seed and a scale.
#[derive(Clone, Debug, PartialEq)]
pub struct CostModel {
    base: Base,
    seed: u64,
    scale: f64,
    /// Every message's s_i when it is one number (`const:D`, scaled):
    /// known once, so the engine reads a field instead of matching the
    /// model and scaling for every message.
    fixed: Option<u64>,
}

#[derive(Clone)]
enum Base {
    One(ServiceTime),
    Table(EventTable),
    Custom(Arc<dyn CostFn>),
}

impl fmt::Debug for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base::One(one) => f.debug_tuple("One").field(one).finish(),
            Base::Table(table) => f.debug_tuple("Table").field(table).finish(),
            Base::Custom(custom) => write!(f, "Custom({})", custom.name()),
        }
    }
}

/// Custom models are equal only to themselves (the same allocation).
impl PartialEq for Base {
    fn eq(&self, other: &Base) -> bool {
        match (self, other) {
            (Base::One(a), Base::One(b)) => a == b,
            (Base::Table(a), Base::Table(b)) => a == b,
            (Base::Custom(a), Base::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl CostModel {
    /// `base` with seed 0 and scale 1.
    fn new(base: Base) -> CostModel {
        CostModel {
            base,
            seed: 0,
            scale: 1.0,
            fixed: None,
        }
        .fix()
    }

    /// Sets [`fixed`](Self::fixed) from the base and the scale.
    fn fix(mut self) -> CostModel {
        self.fixed = match self.base {
            Base::One(ServiceTime::Drawn(Distribution::Const(ns))) => Some(scale(ns, self.scale)),
            _ => None,
        };
        self
    }

    /// Parses `--cost`; `table:FILE` reads FILE.
    pub fn parse(text: &str) -> Result<CostModel, CostError> {
        let base = match text.trim().strip_prefix("table:") {
            Some(path) => Base::Table(EventTable::load(path)?),
            None => Base::One(ServiceTime::parse(text)?),
        };
        Ok(CostModel::new(base))
    }

    /// A model of your own (seed 0, scale 1; change them with
    /// [`with_seed`](Self::with_seed) and [`with_scale`](Self::with_scale)).
    pub fn custom(model: impl CostFn + 'static) -> CostModel {
        CostModel::from_custom(Box::new(model))
    }

    /// [`custom`](Self::custom) for a model already boxed.
    pub fn from_custom(model: Box<dyn CostFn>) -> CostModel {
        CostModel::new(Base::Custom(Arc::from(model)))
    }

    /// Every message costs `ns`.
    pub fn constant(ns: u64) -> CostModel {
        CostModel::from(ServiceTime::Drawn(Distribution::Const(ns)))
    }

    /// The recorded service times.
    pub fn trace() -> CostModel {
        CostModel::from(ServiceTime::Trace)
    }

    /// The same model with another seed for its random draws.
    pub fn with_seed(mut self, seed: u64) -> CostModel {
        self.seed = seed;
        self
    }

    /// The same model with every service time multiplied by `scale`
    /// (`--cost-scale`; finite and non-negative).
    pub fn with_scale(mut self, scale: f64) -> Result<CostModel, CostError> {
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(CostError::Spec {
                text: scale.to_string(),
                reason: "--cost-scale must be a finite number >= 0".into(),
            });
        }
        self.scale = scale;
        Ok(self.fix())
    }

    /// The scale set by [`with_scale`](Self::with_scale).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// s_i for `message`: a pure function of the model, seed and message.
    #[inline(always)]
    pub fn service_ns(&self, message: &Message) -> Result<u64, CostError> {
        if let Some(ns) = self.fixed {
            return Ok(ns);
        }
        let raw = match &self.base {
            Base::One(distribution) => distribution.sample(self.seed, message)?,
            Base::Table(table) => table.sample(self.seed, message)?,
            Base::Custom(custom) => custom.service_ns(self.seed, message)?,
        };
        Ok(scale(raw, self.scale))
    }
}

impl From<ServiceTime> for CostModel {
    fn from(distribution: ServiceTime) -> CostModel {
        CostModel::new(Base::One(distribution))
    }
}

/// `ns · k`, rounded to nearest and saturating; exact for k = 1.
pub fn scale(ns: u64, k: f64) -> u64 {
    if k == 1.0 {
        ns
    } else {
        (ns as f64 * k).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esreplay_traces::Action;

    fn message(global_seq: u64) -> Message {
        Message::new(global_seq, EventType::AUTH_OPEN, Action::Auth, 0)
    }

    #[test]
    fn random_draws_depend_only_on_seed_and_global_seq() {
        let model = CostModel::parse("lognormal:40us:2ms").unwrap().with_seed(7);
        let forward: Vec<u64> = (0..100)
            .map(|g| model.service_ns(&message(g)).unwrap())
            .collect();
        let backward: Vec<u64> = (0..100)
            .rev()
            .map(|g| model.service_ns(&message(g)).unwrap())
            .collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        let other = model.clone().with_seed(8);
        assert_ne!(
            forward[0..10],
            *(0..10)
                .map(|g| other.service_ns(&message(g)).unwrap())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn distributions_have_their_stated_shape() {
        let n = 20_000u64;
        let mean = |model: &CostModel| {
            (0..n)
                .map(|g| model.service_ns(&message(g)).unwrap() as f64)
                .sum::<f64>()
                / n as f64
        };
        let exp = CostModel::parse("exp:1ms").unwrap();
        assert!(
            (mean(&exp) / 1e6 - 1.0).abs() < 0.05,
            "exp mean {}",
            mean(&exp)
        );
        let log = CostModel::parse("lognormal:100us:1ms").unwrap();
        let mut samples: Vec<u64> = (0..n)
            .map(|g| log.service_ns(&message(g)).unwrap())
            .collect();
        samples.sort_unstable();
        let median = samples[n as usize / 2] as f64;
        let p99 = samples[n as usize * 99 / 100] as f64;
        assert!((median / 100e3 - 1.0).abs() < 0.05, "median {median}");
        assert!((p99 / 1e6 - 1.0).abs() < 0.15, "p99 {p99}");
    }

    #[test]
    fn trace_costs_name_the_first_message_without_one() {
        let mut with = message(3);
        with.service_ns = Some(42);
        assert_eq!(CostModel::trace().service_ns(&with), Ok(42));
        let error = CostModel::trace().service_ns(&message(4)).unwrap_err();
        assert!(error.to_string().contains("global_seq 4"), "{error}");
    }

    #[test]
    fn scale_multiplies_and_saturates() {
        let model = CostModel::parse("const:10us")
            .unwrap()
            .with_scale(2.5)
            .unwrap();
        assert_eq!(model.service_ns(&message(0)), Ok(25_000));
        assert_eq!(scale(u64::MAX, 2.0), u64::MAX);
        assert_eq!(scale(u64::MAX - 1, 1.0), u64::MAX - 1);
        assert!(CostModel::constant(1).with_scale(f64::NAN).is_err());
        assert!(CostModel::constant(1).with_scale(-1.0).is_err());
    }

    #[test]
    fn a_custom_model_gets_the_seed_and_the_scale() {
        let model = CostModel::custom(|seed: u64, message: &Message| {
            if message.global_seq == 13 {
                return Err(CostError::Custom {
                    model: "by-seq".into(),
                    global_seq: 13,
                    reason: "unlucky".into(),
                });
            }
            Ok(seed + message.global_seq)
        })
        .with_seed(100)
        .with_scale(2.0)
        .unwrap();
        assert_eq!(model.service_ns(&message(1)), Ok(202));
        let error = model.service_ns(&message(13)).unwrap_err();
        assert!(error.to_string().contains("unlucky"), "{error}");
        assert_eq!(model, model.clone(), "a clone shares the model");
        let other = CostModel::custom(|_: u64, _: &Message| Ok::<_, CostError>(0));
        assert_ne!(model, other);
    }

    #[test]
    fn parses_models() {
        assert_eq!(ServiceTime::parse("TRACE"), Ok(ServiceTime::Trace));
        let error = ServiceTime::parse("gauss:1ms").unwrap_err();
        assert!(
            matches!(&error, CostError::Spec { text, .. } if text == "gauss:1ms"),
            "{error}"
        );
        let exp = ServiceTime::parse("exp:2ms").unwrap();
        assert_eq!(
            exp,
            ServiceTime::Drawn(Distribution::Exp { mean_ns: 2_000_000 })
        );
        let bare = ServiceTime::parse("250ns");
        assert_eq!(bare, Ok(ServiceTime::Drawn(Distribution::Const(250))));
        for bad in [
            "",
            "gauss:1ms",
            "exp",
            "lognormal:2ms:1ms",
            "lognormal:0ns:1ms",
            "trace:1",
        ] {
            assert!(CostModel::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
