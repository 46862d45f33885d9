//! Wall-clock parsing and the mach timebase, inferred from a capture.
//!
//! eslogger writes `mach_time` in ticks and `time` as RFC 3339 wall clock.
//! The capture is cut into segments of at least 10 ms of wall clock, and
//! the median of their slopes (wall ns per tick) is the fit: robust to the
//! wall clock jumping while the tick counter does not (the Mac slept:
//! `mach_absolute_time` stops during sleep) or to NTP steps, which would
//! drag a least-squares line far off. Segments are merged pairwise when
//! there are too many, so memory stays bounded. A capture shorter than
//! three segments falls back to a least-squares fit. When the fit is within
//! 2 % of a known timebase (125/3 on Apple Silicon, 1/1 on Intel) it is
//! snapped to it, since the exact ratio matters over long captures and the
//! wall clock is noisy. Too little data (fewer than two lines, or under
//! 1 ms between the first and the last) gives Apple Silicon's, said as an
//! assumption.

use std::fmt;

use esreplay_traces::Timebase;

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
        /// Segments of the median fit (0: too short, least squares used).
        segments: u64,
        /// Share of the segments whose slope is within 2 % of the
        /// timebase used: how well one timebase explains the capture (0
        /// when least squares was used).
        agreeing: f64,
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
    segments: Segments,
}

/// Consecutive stretches of the capture with their tick and wall-clock
/// lengths, at most [`MAX_SEGMENTS`] of them.
#[derive(Default, Clone, Debug)]
struct Segments {
    /// Where the open segment began: (ticks, wall ns).
    open: Option<(u64, u64)>,
    /// Closed segments: (ticks, wall ns) spanned.
    closed: Vec<(u64, u64)>,
    /// Times the segments were merged pairwise (each doubles their length).
    merges: u32,
}

/// Wall-clock length of a segment before any merge.
const SEGMENT_WALL_NS: u64 = 10_000_000;
/// Segments kept before merging them pairwise.
const MAX_SEGMENTS: usize = 4096;
/// Fewest segments for a median fit.
const MIN_SEGMENTS: usize = 3;

impl Segments {
    fn add(&mut self, ticks: u64, wall_ns: u64) {
        let Some((start_ticks, start_wall)) = self.open else {
            self.open = Some((ticks, wall_ns));
            return;
        };
        if ticks <= start_ticks || wall_ns < start_wall {
            // Lines out of order, or the wall clock stepped back: start afresh.
            self.open = Some((ticks, wall_ns));
            return;
        }
        let wall = wall_ns - start_wall;
        if wall < SEGMENT_WALL_NS.saturating_mul(1 << self.merges.min(32)) {
            return;
        }
        self.closed.push((ticks - start_ticks, wall));
        self.open = Some((ticks, wall_ns));
        if self.closed.len() >= MAX_SEGMENTS {
            self.closed = self
                .closed
                .chunks(2)
                .map(|pair| {
                    pair.iter().fold((0u64, 0u64), |(t, w), &(dt, dw)| {
                        (t.saturating_add(dt), w.saturating_add(dw))
                    })
                })
                .collect();
            self.merges += 1;
        }
    }

    /// Slopes (wall ns per tick), sorted.
    fn slopes(&self) -> Vec<f64> {
        let mut slopes: Vec<f64> = self
            .closed
            .iter()
            .map(|&(ticks, wall)| wall as f64 / ticks as f64)
            .collect();
        slopes.sort_by(f64::total_cmp);
        slopes
    }
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
        self.segments.add(ticks, wall_ns);
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
        let mut slopes = self.segments.slopes();
        if slopes.len() < MIN_SEGMENTS {
            slopes.clear(); // Too few for a median: least squares.
        }
        let fitted = match slopes.get(slopes.len() / 2) {
            Some(&median) => Some(median),
            None => self.line().map(|(slope, _)| slope),
        };
        let Some(slope) = fitted else {
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
        let timebase = snap.unwrap_or_else(|| rational(slope));
        let used = f64::from(timebase.numer) / f64::from(timebase.denom);
        let agree = slopes
            .iter()
            .filter(|&&s| (s / used - 1.0).abs() < 0.02)
            .count();
        let source = TimebaseSource::Inferred {
            ns_per_tick: slope,
            points: self.points,
            snapped: snap.is_some(),
            segments: slopes.len() as u64,
            agreeing: agree as f64 / slopes.len().max(1) as f64,
        };
        (timebase, source)
    }

    /// Wall clock (ns since the epoch) at `ticks`: from the first line and
    /// `timebase`, shifted by the least-squares intercept on short captures.
    pub fn wall_at(&self, ticks: u64, timebase: Timebase) -> Option<u64> {
        let (origin_ticks, origin_wall) = self.origin?;
        let offset_ticks = ticks as f64 - origin_ticks as f64;
        let per_tick = f64::from(timebase.numer) / f64::from(timebase.denom.max(1));
        // The least-squares intercept averages out jitter, but a jump in the
        // wall clock drags it: with a median fit, anchor at the first line.
        let intercept = match self.line() {
            Some((_, intercept)) if self.segments.closed.len() < MIN_SEGMENTS => intercept,
            _ => 0.0,
        };
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
                segments,
                agreeing,
            } => {
                let how = match segments {
                    0 => "least squares".to_owned(),
                    n => format!(
                        "median of {n} segments, {:.0} % of them within 2 % of the timebase",
                        agreeing * 100.0
                    ),
                };
                let snap = if *snapped {
                    "snapped to the known timebase"
                } else {
                    "no known timebase within 2 %"
                };
                write!(
                    f,
                    "inferred from {points} lines: {ns_per_tick:.4} ns/tick ({how}), {snap}"
                )
            }
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

    /// A laptop that slept an hour mid-capture: the tick counter stopped,
    /// the wall clock did not. Least squares would be dragged far off.
    #[test]
    fn a_sleep_in_the_capture_does_not_spoil_the_fit() {
        let mut fit = ClockFit::default();
        let hour = 3_600_000_000_000u64;
        for i in 0..2_000u64 {
            let ticks = 1_000_000 + i * 240_000; // 10 ms apart at 125/3
            let slept = if i >= 1_000 { hour } else { 0 };
            fit.add(ticks, 1_782_942_633_000_000_000 + i * 10_000_000 + slept);
        }
        assert!(
            fit.line().unwrap().0 > 125.0 / 3.0 * 1.5,
            "least squares alone would miss"
        );
        let (timebase, source) = fit.timebase();
        assert_eq!(timebase, Timebase::APPLE_SILICON);
        let TimebaseSource::Inferred {
            segments, agreeing, ..
        } = source
        else {
            panic!("not inferred: {source}");
        };
        assert!(segments > 1_000, "{segments}");
        assert!(agreeing > 0.99 && agreeing < 1.0, "{agreeing}");
    }

    #[test]
    fn a_capture_of_few_segments_is_fitted_by_least_squares() {
        let mut fit = ClockFit::default();
        for i in 0..20u64 {
            fit.add(i * 24_000, i * 1_000_000); // 1 ms apart at 125/3: 19 ms
        }
        let (timebase, source) = fit.timebase();
        assert_eq!(timebase, Timebase::APPLE_SILICON);
        assert!(matches!(
            source,
            TimebaseSource::Inferred { segments: 0, .. }
        ));
        assert!(source.to_string().contains("least squares"), "{source}");
    }

    #[test]
    fn segments_stay_bounded_on_long_captures() {
        let mut fit = ClockFit::default();
        for i in 0..(3 * MAX_SEGMENTS as u64) {
            fit.add(i * 10_000_000, i * 10_000_000);
        }
        assert!(fit.segments.closed.len() < MAX_SEGMENTS);
        assert!(fit.segments.merges >= 1);
        assert_eq!(fit.timebase().0, Timebase::NANOS);
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        let mut fit = ClockFit::default();
        for i in 0..(3 * MAX_SEGMENTS as u64) {
            let ticks = if i % 2 == 0 { 0 } else { u64::MAX };
            fit.add(ticks, u64::MAX / 2 + i * 10_000_000);
        }
        assert!(fit.segments.merges >= 1);
        let (timebase, _) = fit.timebase();
        assert!(timebase.numer > 0 && timebase.denom > 0);
        assert!(fit.wall_at(u64::MAX, timebase).is_some());
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
