//! Cost models: the service time s_i of each message.
//!
//! `--cost` takes `trace` (the recorded service times), `const:D` (or a bare
//! duration `D`), `exp:MEAN`, `lognormal:MEDIAN:P99` or `table:FILE` (a
//! per-event-type TOML table, see [`table`]); `--cost-scale K` multiplies
//! any of them.
//!
//! Fairness invariant (DESIGN.md, "Cost models"): a message gets the same
//! s_i under every strategy. A random s_i is a pure function of
//! (seed, global_seq): draws come from [`esreplay_traces::dist`]'s keyed
//! hash (SplitMix64 of seed, stream and global_seq; Box–Muller for the
//! normal), never from a generator whose state depends on call order.

pub mod table;

use std::fmt;

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
    pub fn parse(text: &str) -> Result<ServiceTime, String> {
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
    #[inline]
    pub fn sample(self, seed: u64, message: &Message) -> Result<u64, CostError> {
        match self {
            ServiceTime::Trace => message.service_ns.ok_or(CostError::MissingService {
                global_seq: message.global_seq,
                event: message.event,
            }),
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

/// A complete cost model: a distribution (or table), a seed and a scale.
#[derive(Clone, Debug, PartialEq)]
pub struct CostModel {
    base: Base,
    seed: u64,
    scale: f64,
}

#[derive(Clone, Debug, PartialEq)]
enum Base {
    One(ServiceTime),
    Table(EventTable),
}

impl CostModel {
    /// Parses `--cost`; `table:FILE` reads FILE.
    pub fn parse(text: &str) -> Result<CostModel, CostError> {
        let spec_error = |reason: String| CostError::Spec {
            text: text.to_owned(),
            reason,
        };
        let base = match text.trim().strip_prefix("table:") {
            Some(path) => Base::Table(EventTable::load(path).map_err(spec_error)?),
            None => Base::One(ServiceTime::parse(text).map_err(spec_error)?),
        };
        Ok(CostModel {
            base,
            seed: 0,
            scale: 1.0,
        })
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
        Ok(self)
    }

    /// The scale set by [`with_scale`](Self::with_scale).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// s_i for `message`: a pure function of the model, seed and message.
    #[inline]
    pub fn service_ns(&self, message: &Message) -> Result<u64, CostError> {
        let raw = match &self.base {
            Base::One(distribution) => distribution.sample(self.seed, message)?,
            Base::Table(table) => table.sample(self.seed, message)?,
        };
        Ok(scale(raw, self.scale))
    }
}

impl From<ServiceTime> for CostModel {
    fn from(distribution: ServiceTime) -> CostModel {
        CostModel {
            base: Base::One(distribution),
            seed: 0,
            scale: 1.0,
        }
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
    fn parses_models() {
        assert_eq!(ServiceTime::parse("TRACE"), Ok(ServiceTime::Trace));
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
