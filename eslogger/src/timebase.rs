//! Wall-clock parsing and the mach timebase, inferred from a capture.
//!
//! eslogger writes `mach_time` in ticks and `time` as RFC 3339 wall clock.
//! A least-squares fit of wall clock against ticks over the whole capture
//! gives nanoseconds per tick; when the fit is within 2 % of a known
//! timebase (125/3 on Apple Silicon, 1/1 on Intel) it is snapped to it,
//! since the exact ratio matters over long captures and the wall clock is
//! noisy. Too little data (fewer than two lines, or under 1 ms between the
//! first and the last) gives Apple Silicon's, said as an assumption.

use std::fmt;

use esreplay_traces::Timebase;

/// Nanoseconds since the Unix epoch of an RFC 3339 UTC time such as
/// `2026-07-01T21:50:33.240504956Z` (fraction optional, `Z` or `+00:00`).
pub fn parse_rfc3339_ns(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0u64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (place, digit) in fraction[..digits].bytes().take(9).enumerate() {
            nanos += u64::from(digit - b'0') * 10u64.pow(8 - place as u32);
        }
        rest = &fraction[digits..];
    }
    if rest != "Z" && rest != "+00:00" {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    u64::try_from(seconds)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// How the timebase of an import was decided.
#[derive(Clone, Debug, PartialEq)]
pub enum TimebaseSource {
    /// Given with `--timebase`.
    Given,
    /// Fitted over the capture.
    Inferred {
        /// Fitted nanoseconds per tick.
        ns_per_tick: f64,
        /// Lines in the fit.
        points: u64,
        /// Whether the fit was snapped to a known timebase.
        snapped: bool,
    },
    /// Not enough data: Apple Silicon's assumed.
    Assumed {
        /// Lines with both clocks.
        points: u64,
    },
}

/// Streaming least squares of wall clock (ns) against mach ticks.
#[derive(Default, Clone, Debug)]
pub struct ClockFit {
    origin: Option<(u64, u64)>,
    points: u64,
    sum_x: f64,
    sum_y: f64,
    sum_xx: f64,
    sum_xy: f64,
    min_ticks: u64,
    max_ticks: u64,
}

const KNOWN: [Timebase; 2] = [Timebase::APPLE_SILICON, Timebase::NANOS];
/// Shortest span of ticks worth fitting (in ns at 1 ns/tick: 1 ms).
const MIN_SPAN_TICKS: u64 = 24_000;

impl ClockFit {
    /// Adds one line's clocks.
    pub fn add(&mut self, ticks: u64, wall_ns: u64) {
        let (origin_ticks, origin_wall) = *self.origin.get_or_insert((ticks, wall_ns));
        let x = ticks as f64 - origin_ticks as f64;
        let y = wall_ns as f64 - origin_wall as f64;
        if self.points == 0 {
            (self.min_ticks, self.max_ticks) = (ticks, ticks);
        }
        self.min_ticks = self.min_ticks.min(ticks);
        self.max_ticks = self.max_ticks.max(ticks);
        self.points += 1;
        self.sum_x += x;
        self.sum_y += y;
        self.sum_xx += x * x;
        self.sum_xy += x * y;
    }

    /// The fitted slope (ns per tick) and intercept, if the data allow.
    fn line(&self) -> Option<(f64, f64)> {
        let n = self.points as f64;
        let denominator = n * self.sum_xx - self.sum_x * self.sum_x;
        if self.points < 2 || self.max_ticks - self.min_ticks < MIN_SPAN_TICKS || denominator <= 0.0
        {
            return None;
        }
        let slope = (n * self.sum_xy - self.sum_x * self.sum_y) / denominator;
        let intercept = (self.sum_y - slope * self.sum_x) / n;
        (slope > 0.0).then_some((slope, intercept))
    }

    /// The timebase to use and how it was decided.
    pub fn timebase(&self) -> (Timebase, TimebaseSource) {
        let Some((slope, _)) = self.line() else {
            return (
                Timebase::APPLE_SILICON,
                TimebaseSource::Assumed {
                    points: self.points,
                },
            );
        };
        let snap = KNOWN.into_iter().find(|known| {
            let exact = f64::from(known.numer) / f64::from(known.denom);
            (slope / exact - 1.0).abs() < 0.02
        });
        let source = TimebaseSource::Inferred {
            ns_per_tick: slope,
            points: self.points,
            snapped: snap.is_some(),
        };
        let timebase = snap.unwrap_or_else(|| rational(slope));
        (timebase, source)
    }

    /// Wall clock (ns since the epoch) at `ticks` by the fitted line, or
    /// by the first line and `timebase` when there is no fit.
    pub fn wall_at(&self, ticks: u64, timebase: Timebase) -> Option<u64> {
        let (origin_ticks, origin_wall) = self.origin?;
        let offset_ticks = ticks as f64 - origin_ticks as f64;
        let per_tick = f64::from(timebase.numer) / f64::from(timebase.denom.max(1));
        let intercept = self.line().map_or(0.0, |(_, intercept)| intercept);
        let wall = origin_wall as f64 + intercept + offset_ticks * per_tick;
        (wall >= 0.0).then_some(wall as u64)
    }
}

/// A timebase close to `ns_per_tick`, as a fraction over 1000.
fn rational(ns_per_tick: f64) -> Timebase {
    let numer = (ns_per_tick * 1000.0)
        .round()
        .clamp(1.0, f64::from(u32::MAX)) as u32;
    Timebase { numer, denom: 1000 }
}

impl fmt::Display for TimebaseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimebaseSource::Given => write!(f, "given with --timebase"),
            TimebaseSource::Inferred {
                ns_per_tick,
                points,
                snapped,
            } => write!(
                f,
                "inferred from {points} lines: {ns_per_tick:.4} ns/tick{}",
                if *snapped {
                    ", snapped to the known timebase"
                } else {
                    " (no known timebase within 2 %)"
                }
            ),
            TimebaseSource::Assumed { points } => write!(
                f,
                "ASSUMED Apple Silicon's (125/3): {points} lines span too little time to infer it; pass --timebase N/D if this capture is from an Intel Mac (1/1)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_with_nanoseconds() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ns("1970-01-02T00:00:01.5Z"),
            Some(86_401_500_000_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2026-07-01T21:50:33.240504956Z"),
            Some(1_782_942_633_240_504_956)
        );
        assert_eq!(
            parse_rfc3339_ns("2000-03-01T00:00:00+00:00"),
            Some(951_868_800_000_000_000)
        );
        for bad in [
            "",
            "2026-07-01",
            "2026-13-01T00:00:00Z",
            "2026-07-01T21:50:33.Z",
            "2026-07-01T21:50:33+02:00",
            "2026-07-01T2a:50:33Z",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn infers_and_snaps_apple_silicon_and_intel() {
        for (numer, denom) in [(125u64, 3u64), (1, 1)] {
            let mut fit = ClockFit::default();
            for i in 0..1000u64 {
                let ticks = 59_541_127_359_995 + i * 300_000;
                // Wall clock with ±3 µs of jitter.
                let jitter = (i * 7919 % 6000) as i64 - 3000;
                let wall =
                    1_782_942_633_000_000_000 + (i * 300_000 * numer / denom) as i64 + jitter;
                fit.add(ticks, wall as u64);
            }
            let (timebase, source) = fit.timebase();
            assert_eq!(
                (u64::from(timebase.numer), u64::from(timebase.denom)),
                (numer, denom)
            );
            assert!(matches!(
                source,
                TimebaseSource::Inferred {
                    snapped: true,
                    points: 1000,
                    ..
                }
            ));
        }
    }

    #[test]
    fn too_little_data_is_an_assumption_said_out_loud() {
        let mut fit = ClockFit::default();
        fit.add(100, 1_000);
        fit.add(200, 5_000);
        let (timebase, source) = fit.timebase();
        assert_eq!(timebase, Timebase::APPLE_SILICON);
        assert!(source.to_string().contains("ASSUMED"));
    }

    #[test]
    fn an_unknown_ratio_is_kept_as_fitted() {
        let mut fit = ClockFit::default();
        for i in 0..100u64 {
            fit.add(i * 1_000_000, i * 10_000_000);
        }
        let (timebase, source) = fit.timebase();
        assert_eq!(
            timebase,
            Timebase {
                numer: 10_000,
                denom: 1000
            }
        );
        assert!(matches!(
            source,
            TimebaseSource::Inferred { snapped: false, .. }
        ));
    }
}
