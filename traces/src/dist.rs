//! Deterministic randomness and the service-time distributions.
//!
//! Every draw is a pure function of a seed and of what it describes (a
//! message's `global_seq`, a stream and a step), never of the order of
//! calls: [`unit()`] hashes `(seed, stream, key)` with SplitMix64's
//! finaliser. So the same message gets the same service time under every
//! strategy, and `gen` gives the same trace for the same seed.

use std::fmt;
use std::str::FromStr;

use crate::duration::{format_ns, parse_duration_ns};

/// SplitMix64's output function: a bijective 64-bit mix.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in the open interval (0, 1), keyed by `(seed, stream, key)`.
pub fn unit(seed: u64, stream: u64, key: u64) -> f64 {
    let bits = mix64(mix64(seed ^ mix64(stream)) ^ key);
    // 53 random bits, shifted off zero so that ln() is finite.
    ((bits >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal draw (Box–Muller over two keyed uniforms).
pub fn normal(seed: u64, stream: u64, key: u64) -> f64 {
    let u1 = unit(seed, stream, key);
    let u2 = unit(seed, stream ^ 0x5851_F42D_4C95_7F2D, key);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// z of the 99th percentile of the standard normal.
const Z_P99: f64 = 2.326_347_874_040_841;

/// A distribution of durations in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Always the same.
    Const(u64),
    /// Exponential with this mean.
    Exp {
        /// Mean, ns.
        mean_ns: u64,
    },
    /// Log-normal given by its median and 99th percentile.
    LogNormal {
        /// Median, ns.
        median_ns: u64,
        /// 99th percentile, ns (≥ median).
        p99_ns: u64,
    },
}

/// A distribution that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid distribution {text:?}: {reason} (write const:40us, exp:40us or lognormal:40us:2ms)"
)]
pub struct DistributionError {
    /// The text as given.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl Distribution {
    /// The draw for `key` (e.g. a `global_seq`) under `(seed, stream)`.
    pub fn sample(&self, seed: u64, stream: u64, key: u64) -> u64 {
        match *self {
            Distribution::Const(ns) => ns,
            Distribution::Exp { mean_ns } => {
                to_ns(-(mean_ns as f64) * unit(seed, stream, key).ln())
            }
            Distribution::LogNormal { median_ns, p99_ns } => {
                let sigma = (p99_ns as f64 / median_ns.max(1) as f64).ln() / Z_P99;
                to_ns(median_ns as f64 * (sigma * normal(seed, stream, key)).exp())
            }
        }
    }

    /// The mean of the distribution, ns.
    pub fn mean_ns(&self) -> f64 {
        match *self {
            Distribution::Const(ns) => ns as f64,
            Distribution::Exp { mean_ns } => mean_ns as f64,
            Distribution::LogNormal { median_ns, p99_ns } => {
                let sigma = (p99_ns as f64 / median_ns.max(1) as f64).ln() / Z_P99;
                median_ns as f64 * (sigma * sigma / 2.0).exp()
            }
        }
    }
}

/// Rounds a float of nanoseconds: negative and NaN give 0, anything too
/// large (or infinite) saturates at `u64::MAX`.
fn to_ns(value: f64) -> u64 {
    if value > 0.0 {
        // `as` saturates: +inf and values past u64::MAX become u64::MAX.
        value.round() as u64
    } else {
        0
    }
}

impl FromStr for Distribution {
    type Err = DistributionError;

    /// `const:D`, `exp:MEAN` or `lognormal:MEDIAN:P99`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| DistributionError {
            text: text.to_owned(),
            reason,
        };
        let parts: Vec<&str> = text.trim().split(':').collect();
        let duration = |part: &str| parse_duration_ns(part).map_err(|e| error(e.to_string()));
        match parts.as_slice() {
            ["const", d] => Ok(Distribution::Const(duration(d)?)),
            ["exp", mean] => Ok(Distribution::Exp {
                mean_ns: duration(mean)?,
            }),
            ["lognormal", median, p99] => {
                let (median_ns, p99_ns) = (duration(median)?, duration(p99)?);
                if p99_ns < median_ns || median_ns == 0 {
                    return Err(error("need 0 < median <= p99".into()));
                }
                Ok(Distribution::LogNormal { median_ns, p99_ns })
            }
            _ => Err(error("unknown form".into())),
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Distribution::Const(ns) => write!(f, "const:{}", format_ns(ns)),
            Distribution::Exp { mean_ns } => write!(f, "exp:{}", format_ns(mean_ns)),
            Distribution::LogNormal { median_ns, p99_ns } => {
                write!(
                    f,
                    "lognormal:{}:{}",
                    format_ns(median_ns),
                    format_ns(p99_ns)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_depend_only_on_their_key() {
        let dist: Distribution = "lognormal:40us:2ms".parse().unwrap();
        let forward: Vec<u64> = (0..100).map(|k| dist.sample(7, 1, k)).collect();
        let backward: Vec<u64> = (0..100).rev().map(|k| dist.sample(7, 1, k)).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        assert_ne!(dist.sample(7, 1, 5), dist.sample(8, 1, 5));
    }

    #[test]
    fn lognormal_matches_its_median_and_p99() {
        let dist: Distribution = "lognormal:40us:2ms".parse().unwrap();
        let mut draws: Vec<u64> = (0..200_000).map(|k| dist.sample(1, 2, k)).collect();
        draws.sort_unstable();
        let median = draws[draws.len() / 2] as f64;
        let p99 = draws[draws.len() * 99 / 100] as f64;
        assert!((median / 40_000.0 - 1.0).abs() < 0.03, "median {median}");
        assert!((p99 / 2_000_000.0 - 1.0).abs() < 0.06, "p99 {p99}");
    }

    #[test]
    fn exp_matches_its_mean() {
        let dist: Distribution = "exp:1ms".parse().unwrap();
        let mean = (0..200_000)
            .map(|k| dist.sample(3, 4, k) as f64)
            .sum::<f64>()
            / 200_000.0;
        assert!((mean / 1e6 - 1.0).abs() < 0.02, "mean {mean}");
    }

    #[test]
    fn huge_draws_saturate_instead_of_wrapping_to_zero() {
        assert_eq!(to_ns(f64::INFINITY), u64::MAX);
        assert_eq!(to_ns(1e30), u64::MAX);
        assert_eq!(to_ns(f64::NAN), 0);
        assert_eq!(to_ns(-3.0), 0);
        assert_eq!(to_ns(2.4), 2);
        let wild = Distribution::LogNormal {
            median_ns: u64::MAX / 2,
            p99_ns: u64::MAX,
        };
        assert!((0..1000).any(|key| wild.sample(1, 1, key) == u64::MAX));
    }

    #[test]
    fn parse_errors_and_display() {
        for bad in [
            "",
            "const",
            "exp:fast",
            "lognormal:2ms:40us",
            "uniform:1s:2s",
        ] {
            assert!(bad.parse::<Distribution>().is_err(), "{bad}");
        }
        assert_eq!(
            "const:1.5ms".parse::<Distribution>().unwrap().to_string(),
            "const:1.50ms"
        );
    }
}
