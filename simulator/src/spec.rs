//! `--strategy` syntax: [`StrategySpec`] parses and prints it, and
//! [`StrategySpec::build`] is the one place that turns a name into a
//! behaviour (`Box<dyn Strategy>`).
//!
//! ```text
//! inline | pool:N | edf:N | guard:M:INNER | guard:P%:MIN:MAX:INNER
//! es-clients-inline:INNER
//! ```
//!
//! N is 1 to [`MAX_WORKERS`]; M, MIN and MAX are durations (`500ms`);
//! P is a percentage (`20%`, `12.5%`); INNER is any strategy.
//! `es-clients-inline:INNER` answers messages of ES-client processes at
//! once on the handler and gives the rest to INNER.

use std::fmt;
use std::str::FromStr;

use esreplay_traces::parse_duration_ns;

use crate::strategy::{EdfPool, EsClientsInline, FifoPool, Guard, Inline, Margin, Strategy};

/// The largest worker count accepted (keeps a typo from allocating GBs).
pub const MAX_WORKERS: u32 = 65_536;

/// A parsed `--strategy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrategySpec {
    /// `inline`.
    Inline,
    /// `pool:N`.
    Pool(u32),
    /// `edf:N`.
    Edf(u32),
    /// `guard:M:INNER` or `guard:P%:MIN:MAX:INNER`.
    Guard {
        /// The watchdog margin.
        margin: Margin,
        /// The strategy being guarded.
        inner: Box<StrategySpec>,
    },
    /// `es-clients-inline:INNER`.
    EsClientsInline(Box<StrategySpec>),
}

/// A `--strategy` that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid strategy {text:?}: {reason} (expected inline, pool:N, edf:N, guard:M:INNER, guard:P%:MIN:MAX:INNER or es-clients-inline:INNER)"
)]
pub struct SpecError {
    /// The strategy as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl StrategySpec {
    /// Builds the strategy this spec names.
    pub fn build(&self) -> Box<dyn Strategy> {
        match self {
            StrategySpec::Inline => Box::new(Inline),
            StrategySpec::Pool(workers) => Box::new(FifoPool::new(*workers)),
            StrategySpec::Edf(workers) => Box::new(EdfPool::new(*workers)),
            StrategySpec::Guard { margin, inner } => {
                Box::new(Guard::new(*margin, margin_label(margin), inner.build()))
            }
            StrategySpec::EsClientsInline(inner) => Box::new(EsClientsInline::new(inner.build())),
        }
    }
}

impl FromStr for StrategySpec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Self, SpecError> {
        parse(text.trim()).map_err(|reason| SpecError {
            text: text.to_owned(),
            reason,
        })
    }
}

fn parse(text: &str) -> Result<StrategySpec, String> {
    let (head, rest) = text.split_once(':').unwrap_or((text, ""));
    match head.to_ascii_lowercase().as_str() {
        "inline" if rest.is_empty() => Ok(StrategySpec::Inline),
        "inline" => Err("inline takes no arguments".into()),
        "pool" => Ok(StrategySpec::Pool(workers(rest)?)),
        "edf" => Ok(StrategySpec::Edf(workers(rest)?)),
        "guard" => parse_guard(rest),
        "es-clients-inline" if rest.is_empty() => {
            Err("es-clients-inline needs an inner strategy".into())
        }
        "es-clients-inline" => Ok(StrategySpec::EsClientsInline(Box::new(parse(rest)?))),
        _ => Err(format!("unknown strategy {head:?}")),
    }
}

fn workers(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(n),
        _ => Err(format!(
            "worker count {text:?} is not a number from 1 to {MAX_WORKERS}"
        )),
    }
}

fn parse_guard(rest: &str) -> Result<StrategySpec, String> {
    let (first, rest) = rest
        .split_once(':')
        .ok_or("guard needs a margin and an inner strategy")?;
    let duration = |text: &str| parse_duration_ns(text).map_err(|e| e.to_string());
    let (margin, inner) = if let Some(percent) = first.strip_suffix('%') {
        let mut parts = rest.splitn(3, ':');
        let (Some(min), Some(max), Some(inner)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("a relative guard is guard:P%:MIN:MAX:INNER".into());
        };
        let (min_ns, max_ns) = (duration(min)?, duration(max)?);
        if min_ns > max_ns {
            return Err(format!("guard minimum {min} is above its maximum {max}"));
        }
        let share_ppm = percent_ppm(percent)?;
        (
            Margin::Relative {
                share_ppm,
                min_ns,
                max_ns,
            },
            inner,
        )
    } else {
        (Margin::Fixed(duration(first)?), rest)
    };
    let inner = Box::new(parse(inner)?);
    Ok(StrategySpec::Guard { margin, inner })
}

/// `20` → 200 000 millionths; up to four decimals (`12.3456`).
fn percent_ppm(text: &str) -> Result<u64, String> {
    let bad =
        || format!("percentage {text:?}% is not a number from 0 to 100 with at most 4 decimals");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || fraction.len() > 4 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let fraction: u64 = format!("{fraction:0<4}").parse().map_err(|_| bad())?;
    let ppm = whole
        .checked_mul(10_000)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(bad)?;
    if ppm > 1_000_000 {
        return Err(bad());
    }
    Ok(ppm)
}

/// A duration in the largest unit that divides it exactly (`500ms`).
pub fn compact_duration(ns: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us")];
    UNITS
        .iter()
        .find(|(scale, _)| ns != 0 && ns.is_multiple_of(*scale))
        .map(|(scale, unit)| format!("{}{unit}", ns / scale))
        .unwrap_or_else(|| format!("{ns}ns"))
}

fn margin_label(margin: &Margin) -> String {
    match *margin {
        Margin::Fixed(ns) => compact_duration(ns),
        Margin::Relative {
            share_ppm,
            min_ns,
            max_ns,
        } => {
            let percent = format!("{}.{:04}", share_ppm / 10_000, share_ppm % 10_000);
            let percent = percent.trim_end_matches('0').trim_end_matches('.');
            format!(
                "{percent}%:{}:{}",
                compact_duration(min_ns),
                compact_duration(max_ns)
            )
        }
    }
}

impl fmt::Display for StrategySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrategySpec::Inline => f.write_str("inline"),
            StrategySpec::Pool(n) => write!(f, "pool:{n}"),
            StrategySpec::Edf(n) => write!(f, "edf:{n}"),
            StrategySpec::Guard { margin, inner } => {
                write!(f, "guard:{}:{inner}", margin_label(margin))
            }
            StrategySpec::EsClientsInline(inner) => write!(f, "es-clients-inline:{inner}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_round_trip_and_build_the_same_name() {
        for text in [
            "inline",
            "pool:4",
            "edf:2",
            "guard:500ms:pool:4",
            "guard:20%:1s:5s:edf:8",
            "guard:12.5%:0ns:1500us:guard:1s:inline",
            "es-clients-inline:edf:2",
            "es-clients-inline:guard:1s:pool:4",
        ] {
            let spec: StrategySpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
            assert_eq!(spec.build().name(), text);
        }
    }

    #[test]
    fn parses_margins_exactly() {
        let spec: StrategySpec = "guard:0.5s:inline".parse().unwrap();
        let StrategySpec::Guard { margin, .. } = spec else {
            panic!("not a guard")
        };
        assert_eq!(margin, Margin::Fixed(500_000_000));
        let spec: StrategySpec = "guard:20%:1s:5s:pool:4".parse().unwrap();
        let StrategySpec::Guard { margin, inner } = spec else {
            panic!("not a guard")
        };
        let expected = Margin::Relative {
            share_ppm: 200_000,
            min_ns: 1_000_000_000,
            max_ns: 5_000_000_000,
        };
        assert_eq!(margin, expected);
        assert_eq!(*inner, StrategySpec::Pool(4));
    }

    #[test]
    fn rejects_what_is_not_a_strategy() {
        for bad in [
            "",
            "fifo",
            "pool",
            "pool:0",
            "pool:-1",
            "pool:99999999",
            "edf:x",
            "inline:2",
            "guard:5s",
            "guard:5s:",
            "guard:5:pool:1",
            "guard:20%:1s:pool:1",
            "guard:101%:1s:5s:inline",
            "guard:20%:5s:1s:inline",
            "guard:1.23456%:1s:2s:inline",
            "es-clients-inline",
            "es-clients-inline:",
            "es-clients-inline:pool:0",
        ] {
            let error = bad.parse::<StrategySpec>().unwrap_err();
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
    }
}
