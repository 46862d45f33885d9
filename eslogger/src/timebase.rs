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

/// One line's clocks, for [`OutlierFilter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// 1-based line number.
    pub line: u64,
    /// `mach_time`.
    pub ticks: u64,
    /// `time`, in ns since the epoch, when the line has one.
    pub wall_ns: Option<u64>,
}

/// Rejects lines whose `mach_time` disagrees with their neighbours (a line
/// with `mach_time` 0 among lines at 10⁶ ticks and more): one such line
/// would otherwise set the trace's start and drag the fit, compressing
/// every arrival. A line's `mach_time` is predicted from its wall clock
/// (`time`) by the tick rate between two neighbouring lines (the lines
/// before and after it; the next two for the first line, the last two for
/// the last); it is an outlier when it misses the prediction by more than
/// twice the ticks between those neighbours, a quarter of the distance
/// extrapolated and [`OUTLIER_SLACK_TICKS`]. A message delivered late
/// carries an early `time` too, and is kept; a sleep moves the wall clock
/// of every later line alike. Lines without a wall clock are judged
/// against the middle of their neighbours (the first and last not at all).
/// Only isolated lines are caught: two bad lines in a row vouch for each
/// other. Memory: three lines, and the numbers of the lines rejected.
#[derive(Clone, Debug, Default)]
pub struct OutlierFilter {
    /// Lines not yet judged (at most three).
    pending: Vec<Point>,
    /// The last two lines accepted, latest last.
    accepted: Vec<Point>,
    /// Line numbers rejected, ascending.
    rejected: Vec<u64>,
}

/// Misses below this are never outliers (1 ms at 125/3, 24 µs at 1/1).
pub const OUTLIER_SLACK_TICKS: f64 = 24_000.0;
/// Neighbours closer than this in wall clock give no rate to extrapolate.
const MIN_RATE_WALL_NS: u64 = 1_000_000;

/// The ticks expected at `p` from `q` and `r`, or `None` when they cannot
/// say (`between`: `p` lies between them in the file).
fn predicted(p: &Point, q: &Point, r: &Point, between: bool) -> Option<f64> {
    let middle = (q.ticks as f64 + r.ticks as f64) / 2.0;
    let (Some(pw), Some(qw), Some(rw)) = (p.wall_ns, q.wall_ns, r.wall_ns) else {
        return between.then_some(middle);
    };
    let dw = rw as f64 - qw as f64;
    if dw == 0.0 {
        return between.then_some(middle);
    }
    let outside = pw < qw.min(rw) || pw > qw.max(rw);
    if outside && qw.abs_diff(rw) < MIN_RATE_WALL_NS {
        return None;
    }
    let rate = (r.ticks as f64 - q.ticks as f64) / dw;
    Some(q.ticks as f64 + (pw as f64 - qw as f64) * rate)
}

/// Whether `p`'s `mach_time` is an outlier against `q` and `r`.
fn outlier(p: &Point, q: &Point, r: &Point, between: bool) -> bool {
    let Some(expected) = predicted(p, q, r, between) else {
        return false;
    };
    let (low, high) = (q.ticks.min(r.ticks) as f64, q.ticks.max(r.ticks) as f64);
    let reach = (low - expected).max(expected - high).max(0.0);
    let miss = (p.ticks as f64 - expected).abs();
    miss > 2.0 * (high - low) + reach / 4.0 + OUTLIER_SLACK_TICKS
}

impl OutlierFilter {
    /// Adds a line; `accept` gets every line judged sound, in order.
    pub fn push(&mut self, point: Point, mut accept: impl FnMut(Point)) {
        self.pending.push(point);
        while self.judge_next(&mut accept) {}
    }

    /// Judges the lines still pending at the end of the input.
    pub fn finish(&mut self, mut accept: impl FnMut(Point)) {
        let last_two = match self.accepted.as_slice() {
            [q, r] => Some((*q, *r)),
            _ => None,
        };
        for point in std::mem::take(&mut self.pending) {
            match last_two {
                Some((q, r)) if self.pending.is_empty() && outlier(&point, &r, &q, false) => {
                    self.rejected.push(point.line);
                }
                _ => self.accept(point, &mut accept),
            }
        }
    }

    /// Line numbers rejected, ascending.
    pub fn rejected(&self) -> &[u64] {
        &self.rejected
    }

    /// Judges the oldest pending line if its neighbours are known.
    fn judge_next(&mut self, accept: &mut impl FnMut(Point)) -> bool {
        let bad = match (self.accepted.last(), self.pending.as_slice()) {
            (None, [a, b, c, ..]) => outlier(a, b, c, false),
            (Some(q), [b, c, ..]) => outlier(b, q, c, true),
            _ => return false,
        };
        let point = self.pending.remove(0);
        if bad {
            self.rejected.push(point.line);
        } else {
            self.accept(point, accept);
        }
        true
    }

    fn accept(&mut self, point: Point, accept: &mut impl FnMut(Point)) {
        if self.accepted.len() == 2 {
            self.accepted.remove(0);
        }
        self.accepted.push(point);
        accept(point);
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

    /// Lines 10 ms apart at 125/3 from `ticks0`, with one line's
    /// `mach_time` replaced by `bad`.
    fn capture_with(lines: u64, bad_line: u64, bad: u64) -> (ClockFit, OutlierFilter) {
        let (mut fit, mut filter) = (ClockFit::default(), OutlierFilter::default());
        for i in 0..lines {
            let ticks = if i == bad_line {
                bad
            } else {
                59_541_127_359_995 + i * 240_000
            };
            let point = Point {
                line: i + 1,
                ticks,
                wall_ns: Some(1_782_942_633_000_000_000 + i * 10_000_000),
            };
            filter.push(point, |p| fit.add(p.ticks, p.wall_ns.unwrap()));
        }
        filter.finish(|p| fit.add(p.ticks, p.wall_ns.unwrap()));
        (fit, filter)
    }

    #[test]
    fn a_line_with_mach_time_0_is_rejected_wherever_it_is() {
        for bad_line in [0, 1, 12, 23] {
            let (fit, filter) = capture_with(24, bad_line, 0);
            assert_eq!(filter.rejected(), [bad_line + 1], "line {bad_line}");
            let (timebase, _) = fit.timebase();
            assert_eq!(timebase, Timebase::APPLE_SILICON, "line {bad_line}");
            assert!(fit.min_ticks > 0);
        }
        // Three lines: the filter still rejects the bad one...
        let (fit, filter) = capture_with(3, 0, 0);
        assert_eq!(
            (filter.rejected(), fit.timebase().0),
            (&[1][..], Timebase::APPLE_SILICON)
        );
        // ... which without it drags the least-squares fit far off.
        let mut fit = ClockFit::default();
        for i in 0..3u64 {
            let ticks = if i == 0 {
                0
            } else {
                59_541_127_359_995 + i * 240_000
            };
            fit.add(ticks, 1_782_942_633_000_000_000 + i * 10_000_000);
        }
        assert_ne!(fit.timebase().0, Timebase::APPLE_SILICON);
    }

    #[test]
    fn a_message_delivered_late_is_kept_and_a_quiet_start_too() {
        // Line 5's clocks are both 10 minutes early: a late delivery.
        let mut filter = OutlierFilter::default();
        let mut kept = 0;
        let minute = 60_000_000_000u64;
        for i in 0..20u64 {
            let early = if i == 5 { 10 * minute } else { 0 };
            // Line 0 is an hour before the rest: a quiet start.
            let quiet = if i == 0 { 0 } else { 60 * minute };
            let wall = 1_782_942_633_000_000_000 + quiet + i * 10_000_000 - early;
            let point = Point {
                line: i + 1,
                ticks: wall / 1000 * 24 / 1000,
                wall_ns: Some(wall),
            };
            filter.push(point, |_| kept += 1);
        }
        filter.finish(|_| kept += 1);
        assert_eq!((kept, filter.rejected()), (20, &[][..]));
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
