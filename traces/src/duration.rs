//! Durations as people write them on the command line: `50us`, `1.5ms`,
//! `15s`, `250ns`, `2m`. Parsed exactly into whole nanoseconds.

use std::fmt;

/// A duration that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason} (write e.g. 250ns, 50us, 1.5ms, 15s or 2m)")]
pub struct DurationError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses `NUMBER UNIT` (unit required) into nanoseconds, exactly for
/// decimal fractions down to 1 ns; finer fractions are rounded down.
pub fn parse_duration_ns(text: &str) -> Result<u64, DurationError> {
    let error = |reason| DurationError {
        text: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| error("missing unit"))?;
    let (number, unit) = trimmed.split_at(split);
    let scale = UNITS
        .iter()
        .find(|(name, _)| *name == unit.trim())
        .map(|&(_, scale)| scale)
        .ok_or_else(|| error("unknown unit"))?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(error("missing number"));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| error("bad number"))?
    };
    let mut total = whole.checked_mul(scale).ok_or_else(|| error("too large"))?;
    let mut place = scale;
    for digit in fraction.chars() {
        let digit = digit.to_digit(10).ok_or_else(|| error("bad number"))?;
        place /= 10;
        total = total
            .checked_add(u64::from(digit) * place)
            .ok_or_else(|| error("too large"))?;
    }
    Ok(total)
}

/// Formats nanoseconds for people with the largest unit that keeps three
/// significant digits: `1.50ms`, `15.0s`, `420ns`.
pub fn format_ns(ns: u64) -> String {
    HumanNs(ns).to_string()
}

/// A nanosecond count that displays as [`format_ns`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanNs(pub u64);

impl fmt::Display for HumanNs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        let (value, unit) = match ns {
            0..1_000 => return write!(f, "{ns}ns"),
            1_000..1_000_000 => (ns as f64 / 1e3, "us"),
            1_000_000..1_000_000_000 => (ns as f64 / 1e6, "ms"),
            _ => (ns as f64 / 1e9, "s"),
        };
        let decimals = if value < 10.0 {
            2
        } else if value < 100.0 {
            1
        } else {
            0
        };
        write!(f, "{value:.decimals$}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_exactly() {
        assert_eq!(parse_duration_ns("250ns"), Ok(250));
        assert_eq!(parse_duration_ns("50us"), Ok(50_000));
        assert_eq!(parse_duration_ns("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_duration_ns("15s"), Ok(15_000_000_000));
        assert_eq!(parse_duration_ns("0.1s"), Ok(100_000_000));
        assert_eq!(parse_duration_ns("2m"), Ok(120_000_000_000));
        assert_eq!(parse_duration_ns(".5us"), Ok(500));
        assert_eq!(parse_duration_ns(" 3 ms "), Ok(3_000_000));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "",
            "15",
            "ms",
            "1.2.3s",
            "5 parsecs",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration_ns(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_ns(420), "420ns");
        assert_eq!(format_ns(1_500_000), "1.50ms");
        assert_eq!(format_ns(15_000_000_000), "15.0s");
        assert_eq!(format_ns(123_456), "123us");
    }
}
