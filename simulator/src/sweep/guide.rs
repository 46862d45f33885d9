//! The guided search: where to probe next, from what earlier probes
//! scored.
//!
//! The search keeps a bracket: `lo`, the largest factor known to pass
//! (below `hi`), and `hi`, the smallest factor known to miss (above
//! `lo`); either may be unknown yet. Every round probes up to `width`
//! factors strictly inside the bracket (or beyond its known end while it
//! is open), in increasing order, and the first that misses becomes `hi`,
//! the probe below it (or the old `lo`) becomes `lo`: whatever the
//! results, `lo` passed, `hi` missed and the bracket shrinks. The search
//! ends when `hi ≤ lo·(1 + precision)`, when `lo` reaches
//! [`MAX_FACTOR`] or when `hi` reaches [`MIN_FACTOR`] with nothing
//! passing.
//!
//! Where a round probes:
//!
//! - **The estimate**: where a line through two scores (of [`Probe`])
//!   reaches 1, linear in the factor: between the best-scoring pass and
//!   miss (regula falsi, with the Illinois rule: an end kept for rounds
//!   in a row counts half as far from 1 each further round), or through
//!   the two misses scoring nearest 1 (a steadily overloaded trace's
//!   scores grow linearly in a cost factor, so two misses place the
//!   threshold), or through the two passes scoring nearest 1 while no
//!   miss is known. Scores further than [`TRUSTED`] from 1 make an
//!   untrusted estimate; misses at different factors that score alike
//!   (a burst) say nothing of the distance and are not used.
//! - **Tight**, at a trusted estimate inside the bracket: two probes go
//!   to the pair {c, c·(1 + precision)} around it, so that a right
//!   estimate ends the search in that round; one probe goes to the
//!   estimate itself (clamped a step inside the bracket, which ends the
//!   search next to an end).
//! - **Hedged**, at an untrusted estimate or once a tight round failed
//!   to cut the bracket as much as a bisection would (with two probes,
//!   for good; with one, for the next round, and for good after two
//!   failures): the estimate and the middle of the larger side it leaves
//!   (two probes); halfway from an estimate in the lower half to `hi`
//!   (an interpolation from a score far from 1 falls short where scores
//!   grow faster than linearly), else the middle (one probe). Every
//!   hedged round cuts at least a quarter of the bracket (log scale).
//! - **Blind** without an estimate: bisection into `width + 1` geometric
//!   parts when closed; while open, a walk of growing strides (×4 and
//!   ×16 first, then each walk squares the stride), unless two passes
//!   give a trusted estimate beyond the known end (followed once: if
//!   that round does not close the bracket, the next one walks).
//!
//! Scores only choose probe points: the answer is always a factor that
//! passed whose neighbour `precision` above missed, and every choice is a
//! function of the probes' results alone (never of timing or cores).

use super::{MAX_FACTOR, MIN_FACTOR, Probe};

/// The first blind walk's stride; each later one squares it.
const FIRST_STRIDE: f64 = 4.0;

/// Scores further than this factor from 1 (passes far below their
/// budgets, misses very early) do not extrapolate.
const TRUSTED: f64 = 64.0;

/// A probe's factor and what it found.
#[derive(Clone, Copy, Debug)]
struct Scored {
    factor: f64,
    score: f64,
    missed: bool,
}

impl Scored {
    /// The Illinois rule of regula falsi: an end of the bracket kept for
    /// `rounds` rounds in a row counts its distance from 1 halved for
    /// each after the first, so that the next estimate crosses over.
    fn illinois(self, rounds: u32) -> Scored {
        let halved = 0.5_f64.powi(rounds.saturating_sub(1).min(60) as i32);
        Scored {
            score: 1.0 + (self.score - 1.0) * halved,
            ..self
        }
    }

    /// Where the line through `self` and `other` (score against factor)
    /// reaches 1.
    fn through(&self, other: &Scored) -> Option<f64> {
        let slope = (other.score - self.score) / (other.factor - self.factor);
        let k = self.factor + (1.0 - self.score) / slope;
        (k.is_finite() && k > 0.0).then_some(k)
    }
}

/// How a round chose its probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Without an estimate: the first probe or a bisection.
    Blind,
    /// Without an estimate while the bracket is open: a walk.
    Walk,
    /// At an estimate: the estimate itself, or a pair {c, c·(1 +
    /// precision)} around it (while the bracket is open, or closed with
    /// a trusted estimate).
    Tight,
    /// At an untrusted estimate (or after a failed one) with a probe that
    /// cuts the bracket however the estimate fares (see `closed`).
    Hedged,
}

/// A guided search in progress.
#[derive(Debug)]
pub(super) struct Guide {
    /// 1 + precision.
    step: f64,
    width: usize,
    lo: Option<f64>,
    hi: Option<f64>,
    /// Every probe with a score.
    seen: Vec<Scored>,
    /// How the round in progress chose its probes.
    mode: Mode,
    /// Whether the next round may follow an estimate beyond the known
    /// end of an open bracket.
    trust: bool,
    /// Whether a round at a trusted estimate failed to cut the bracket
    /// as much as a bisection would (then estimates are only hedged).
    failed: bool,
    /// The stride of the next blind walk.
    stride: f64,
    /// Rounds in a row that moved only `hi` (`lo` only), for the
    /// Illinois rule.
    kept: (u32, u32),
    /// The bracket's width (log scale) before the last round.
    last_width: f64,
    /// How often an estimate failed (one probe a round).
    strikes: u32,
}

impl Guide {
    /// A search to relative `precision`, `width` probes a round; `safe`:
    /// every factor up to it is known to pass (0: none).
    pub(super) fn new(precision: f64, width: usize, safe: f64) -> Guide {
        let lo = (safe >= 1.0).then(|| safe.min(MAX_FACTOR));
        Guide {
            step: 1.0 + precision,
            width: width.max(1),
            lo,
            hi: None,
            seen: Vec::new(),
            mode: Mode::Blind,
            trust: true,
            failed: false,
            stride: FIRST_STRIDE,
            kept: (0, 0),
            last_width: f64::INFINITY,
            strikes: 0,
        }
    }

    /// The answer once [`next`](Self::next) has nothing more to probe.
    pub(super) fn answer(&self) -> Option<f64> {
        self.lo
    }

    /// The factors of the next round, increasing; empty when the search
    /// has ended.
    pub(super) fn next(&mut self) -> Vec<f64> {
        self.mode = Mode::Blind;
        let points = match (self.lo, self.hi) {
            (Some(lo), _) if lo >= MAX_FACTOR => return Vec::new(),
            (None, Some(hi)) if hi <= MIN_FACTOR => return Vec::new(),
            (Some(lo), Some(hi)) if hi <= lo * self.step => return Vec::new(),
            (None, None) => [1.0, 2.0].into_iter().take(self.width).collect(),
            (Some(lo), Some(hi)) => self.closed(lo, hi),
            (lo, hi) => self.open(lo, hi),
        };
        let mut points = self.inside(points);
        if let (true, Some(lo), Some(hi)) = (points.is_empty(), self.lo, self.hi) {
            // An estimate clamped onto an end (rounding can leave hi an
            // ulp above lo·(1 + precision)): bisect instead.
            self.mode = Mode::Blind;
            points = self.inside(between(lo, hi, self.width));
        }
        points
    }

    /// `points` within the factors searched and strictly inside the
    /// bracket, increasing, without repeats.
    fn inside(&self, points: Vec<f64>) -> Vec<f64> {
        let (lo, hi) = (self.lo.unwrap_or(0.0), self.hi.unwrap_or(f64::INFINITY));
        let mut points: Vec<f64> = points
            .into_iter()
            .map(|k| k.clamp(MIN_FACTOR, MAX_FACTOR))
            .filter(|&k| k > lo && k < hi)
            .collect();
        points.sort_by(f64::total_cmp);
        points.dedup();
        points
    }

    /// What a round probing `factors` (as from [`next`](Self::next))
    /// found.
    pub(super) fn learn(&mut self, factors: &[f64], found: &[Probe]) {
        let width = |lo: Option<f64>, hi: Option<f64>| match (lo, hi) {
            (Some(lo), Some(hi)) => (hi / lo).ln(),
            _ => f64::INFINITY,
        };
        let before = width(self.lo, self.hi);
        let was = (self.lo, self.hi);
        for (&factor, probe) in factors.iter().zip(found) {
            if probe.score.is_finite() && probe.score > 0.0 {
                let (score, missed) = (probe.score, probe.missed);
                self.seen.push(Scored {
                    factor,
                    score,
                    missed,
                });
            }
        }
        match found.iter().position(|probe| probe.missed) {
            Some(at) => {
                self.hi = Some(factors[at]);
                if at > 0 {
                    self.lo = Some(factors[at - 1]);
                }
            }
            None => self.lo = factors.last().copied().or(self.lo),
        }
        let after = width(self.lo, self.hi);
        self.kept = match (self.lo != was.0, self.hi != was.1) {
            (true, false) => (0, self.kept.1 + 1),
            (false, true) => (self.kept.0 + 1, 0),
            _ => (0, 0),
        };
        if self.mode == Mode::Walk {
            self.stride = (self.stride * self.stride).min(MAX_FACTOR);
        }
        self.judge(before, after);
    }

    /// Whether the round just learnt, which cut the bracket's width (log
    /// scale) from `before` to `after`, keeps estimates trusted: one
    /// beyond an open bracket that did not close it is not followed in
    /// the next round; one that did not cut a closed bracket as a
    /// bisection would is hedged from then on.
    fn judge(&mut self, before: f64, after: f64) {
        self.trust = self.mode != Mode::Tight || after.is_finite();
        let tight = self.mode == Mode::Tight && before.is_finite();
        if self.width == 1 {
            // One probe at a time: an estimate must halve the bracket
            // every two rounds, else the next round bisects; after two
            // such failures, every round does.
            let failed = tight && after > self.last_width / 2.0;
            self.strikes += u32::from(failed);
            self.failed = failed || self.strikes >= 2;
        } else {
            self.failed |= tight && after > before / (self.width + 1) as f64;
        }
        self.last_width = before;
    }

    /// A round in the closed bracket [`lo`, `hi`].
    fn closed(&mut self, lo: f64, hi: f64) -> Vec<f64> {
        let Some((estimate, good)) = self.estimate() else {
            return between(lo, hi, self.width);
        };
        // An estimate outside the bracket is contradicted by its ends;
        // one probe a round may follow one within a step of them (to
        // end there).
        let inner = match self.width {
            1 => lo / self.step < estimate && estimate < hi * self.step,
            _ => lo * self.step < estimate && estimate < hi / self.step,
        };
        let at = estimate.max(lo * self.step).min(hi / self.step);
        if good && inner && !self.failed {
            self.mode = Mode::Tight;
            return self.pair(at);
        }
        if self.width == 1 {
            // Interpolating from a score far from 1 falls short where
            // scores grow faster than linearly: halfway from an estimate
            // in the lower half to `hi` (a cut of at least a quarter),
            // else a bisection.
            self.mode = Mode::Hedged;
            let middle = (lo * hi).sqrt();
            let lower = inner && !self.failed && at < middle;
            return vec![if lower { (at * hi).sqrt() } else { middle }];
        }
        self.mode = Mode::Hedged;
        let middle = match (at / lo).ln() > (hi / at).ln() {
            true => (lo * at).sqrt(),
            false => (at * hi).sqrt(),
        };
        vec![at, middle]
    }

    /// A round with only `lo` or only `hi` known: a pair at a trusted
    /// estimate beyond the known end, or the walk.
    fn open(&mut self, lo: Option<f64>, hi: Option<f64>) -> Vec<f64> {
        let beyond = |k: f64| match (lo, hi) {
            (Some(lo), _) => k > lo * self.step,
            (_, Some(hi)) => k < hi / self.step,
            _ => false,
        };
        let trust = self.trust;
        let estimate = self
            .estimate()
            .filter(|&(k, good)| good && trust && beyond(k));
        if let Some((k, _)) = estimate {
            self.mode = Mode::Tight;
            return self.pair(k.clamp(MIN_FACTOR * self.step, MAX_FACTOR / self.step));
        }
        self.mode = Mode::Walk;
        match (lo, hi) {
            (Some(lo), _) => self.walk(lo, self.stride),
            (_, Some(hi)) => self.walk(hi, 1.0 / self.stride),
            _ => Vec::new(),
        }
    }

    /// Probes at `estimate`: {c, c·(1 + precision)} around it (the
    /// estimate itself with one probe a round).
    fn pair(&self, estimate: f64) -> Vec<f64> {
        if self.width == 1 {
            return vec![estimate];
        }
        let low = estimate / self.step.sqrt();
        vec![low, low * self.step]
    }

    /// Where the score is estimated to cross 1, and whether from scores
    /// near enough 1 to be trusted (see the module doc).
    fn estimate(&self) -> Option<(f64, bool)> {
        let near = |point: &&Scored| (point.score.ln().abs() * 1e9) as u64;
        let trusted = |point: &Scored| point.score.ln().abs() <= TRUSTED.ln();
        let mut misses: Vec<&Scored> = self.seen.iter().filter(|p| p.missed).collect();
        misses.sort_by_key(near);
        let mut passes: Vec<&Scored> = self.seen.iter().filter(|p| !p.missed).collect();
        passes.sort_by_key(near);
        let two =
            |points: &[&Scored]| points.len() >= 2 && trusted(points[0]) && trusted(points[1]);
        // Misses at different factors that score alike (a burst that
        // fails wherever it is overloaded) say nothing of the distance.
        let flat = misses.windows(2).any(|pair| {
            let (a, b) = (pair[0], pair[1]);
            (a.score / b.score).ln().abs() < 1e-3 && (a.factor / b.factor).ln().abs() > 1e-3
        });
        if flat {
            return two(&passes)
                .then(|| Some((passes[0].through(passes[1])?, true)))
                .flatten();
        }
        let bracketing = match (passes.first(), misses.first()) {
            (Some(&pass), Some(&miss)) if pass.factor < miss.factor => Some((pass, miss)),
            _ => None,
        };
        let trusted_bracket = bracketing.filter(|(pass, miss)| trusted(pass) && trusted(miss));
        let (a, b, good) = if let Some((pass, miss)) = trusted_bracket {
            (*pass, *miss, true)
        } else if two(&misses) {
            (*misses[0], *misses[1], true)
        } else if let Some((pass, miss)) = bracketing {
            (*pass, *miss, false)
        } else if two(&passes) {
            (*passes[0], *passes[1], true)
        } else {
            return None;
        };
        let (a, b) = match bracketing.is_some() && a.missed != b.missed {
            true => (a.illinois(self.kept.0), b.illinois(self.kept.1)),
            false => (a, b),
        };
        Some((a.through(&b)?, good))
    }

    /// Up to `width` factors from `from`, each `stride` times the one
    /// before, ending at the first beyond the factors searched.
    fn walk(&self, from: f64, stride: f64) -> Vec<f64> {
        let mut steps = Vec::with_capacity(self.width);
        let mut k = from;
        while steps.len() < self.width {
            k = (k * stride).clamp(MIN_FACTOR, MAX_FACTOR);
            steps.push(k);
            if k <= MIN_FACTOR || k >= MAX_FACTOR {
                break;
            }
        }
        steps
    }
}

/// `width` factors splitting [low, high] into geometrically equal parts.
fn between(low: f64, high: f64, width: usize) -> Vec<f64> {
    if width == 1 {
        return vec![(low * high).sqrt()];
    }
    let parts = (width + 1) as f64;
    (1..=width)
        .map(|j| low * (high / low).powf(j as f64 / parts))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every round of a search of `probe` (width, safe factor, 1 %): the
    /// answer and the rounds' factors and results.
    fn rounds(
        width: usize,
        safe: f64,
        probe: impl Fn(f64) -> Probe,
    ) -> (Option<f64>, Vec<Vec<(f64, Probe)>>) {
        let mut guide = Guide::new(0.01, width, safe);
        let mut rounds = Vec::new();
        loop {
            let factors = guide.next();
            if factors.is_empty() {
                return (guide.answer(), rounds);
            }
            assert!(factors.len() <= width.max(1), "{factors:?}");
            let found: Vec<Probe> = factors.iter().map(|&k| probe(k)).collect();
            guide.learn(&factors, &found);
            rounds.push(factors.into_iter().zip(found).collect());
            assert!(rounds.len() < 200, "the search ends");
        }
    }

    /// A steadily overloaded trace: scores grow linearly in the factor
    /// past a utilisation limit, and cross 1 at `threshold`.
    fn steady(threshold: f64) -> impl Fn(f64) -> Probe {
        let beta = 4.0;
        let limit = threshold / (1.0 + 1.0 / beta);
        move |k| {
            let score = (k * 1e-7).max(beta * (k / limit - 1.0));
            Probe {
                missed: k > threshold,
                score,
            }
        }
    }

    /// Misses at the factors `missed` says, scores saying nothing useful.
    fn erratic(missed: impl Fn(f64) -> bool) -> impl Fn(f64) -> Probe {
        move |k| Probe {
            missed: missed(k),
            score: if missed(k) { 2.0 } else { 0.5 },
        }
    }

    /// The contract: the answer passed and a factor at most 1 % above it
    /// missed (or the MIN/MAX conventions).
    fn meets_contract(answer: Option<f64>, rounds: &[Vec<(f64, Probe)>], safe: f64) {
        let probes: Vec<(f64, Probe)> = rounds.iter().flatten().copied().collect();
        let Some(answer) = answer else {
            let lowest = probes.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
            assert_eq!(lowest, MIN_FACTOR, "{probes:?}");
            assert!(probes.iter().all(|p| p.0 > MIN_FACTOR || p.1.missed));
            return;
        };
        let passed = answer <= safe || probes.iter().any(|p| p.0 == answer && !p.1.missed);
        assert!(passed, "{answer} was probed and passed: {probes:?}");
        if answer < MAX_FACTOR {
            let neighbour = probes
                .iter()
                .any(|p| p.1.missed && p.0 > answer && p.0 <= answer * 1.01);
            assert!(neighbour, "a miss within 1 % above {answer}: {probes:?}");
        }
    }

    #[test]
    fn monotone_thresholds_are_found_to_the_precision() {
        for width in [1, 2, 3] {
            for threshold in [0.003, 0.7, 1.0, 1.5, 37.0, 183.4, 900_000.0] {
                for safe in [0.0, 1.0, threshold / 2.0].map(|s: f64| s.min(threshold)) {
                    for scored in [true, false] {
                        let probe = steady(threshold);
                        let probe = |k| match scored {
                            true => probe(k),
                            false => Probe {
                                score: f64::NAN,
                                ..probe(k)
                            },
                        };
                        let (found, rounds) = rounds(width, safe, probe);
                        meets_contract(found, &rounds, safe);
                        let found = found.unwrap();
                        assert!(
                            found <= threshold && threshold < found * 1.01,
                            "width {width}, safe {safe}, scored {scored}: {found} vs {threshold}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_conventions_at_the_ends_hold() {
        for width in [1, 2] {
            let always = rounds(width, 0.0, erratic(|_| true));
            assert_eq!(always.0, None);
            meets_contract(always.0, &always.1, 0.0);
            let never = rounds(width, 0.0, erratic(|_| false));
            assert_eq!(never.0, Some(MAX_FACTOR));
            let proven = rounds(width, 2.0 * MAX_FACTOR, erratic(|_| true));
            assert_eq!(proven, (Some(MAX_FACTOR), Vec::new()), "nothing to probe");
        }
    }

    #[test]
    fn non_monotone_misses_still_meet_the_contract() {
        // Misses in (2, 3] and above 40; scores that mislead.
        let holes = |k: f64| (k > 2.0 && k <= 3.0) || k > 40.0;
        let bands = |k: f64| k.log2().floor() as i64 % 2 == 1;
        for width in [1, 2, 3] {
            for safe in [0.0, 1.5] {
                let (found, probed) = rounds(width, safe, erratic(holes));
                meets_contract(found, &probed, safe);
                let (found, probed) = rounds(width, safe, erratic(bands));
                meets_contract(found, &probed, safe);
                let (found, probed) = rounds(width, safe, steady(55.0));
                meets_contract(found, &probed, safe);
            }
        }
    }

    #[test]
    fn scores_place_the_probes_of_a_steady_trace() {
        // The 10 M-message trace of docs/performance.md: safe to 3 by the
        // bound, the threshold near 183.
        let probes = |width, scored: bool| {
            let probe = steady(183.4);
            let (found, rounds) = rounds(width, 3.0, |k| match scored {
                true => probe(k),
                false => Probe {
                    score: f64::NAN,
                    ..probe(k)
                },
            });
            assert!(found.is_some_and(|k| k <= 183.4 && 183.4 < k * 1.01));
            (rounds.len(), rounds.iter().map(Vec::len).sum::<usize>())
        };
        let (guided, guided_probes) = probes(2, true);
        let (blind, blind_probes) = probes(2, false);
        assert!(guided <= 4, "{guided} rounds");
        assert!(2 * guided <= blind, "{guided} rounds vs {blind} blind");
        assert!(guided_probes < blind_probes);
        let (one_by_one, _) = probes(1, true);
        let (one_blind, _) = probes(1, false);
        assert!(one_by_one < one_blind, "{one_by_one} vs {one_blind}");
    }

    #[test]
    fn a_round_depends_only_on_what_was_found() {
        let first = rounds(2, 3.0, steady(183.4));
        let again = rounds(2, 3.0, steady(183.4));
        assert_eq!(first, again);
    }

    /// Families of score curves crossing 1 at `threshold`: a steadily
    /// overloaded trace (linear in a cost factor), the same under arrival
    /// compression (linear in 1/k), a burst whose misses all score alike,
    /// and one whose misses score only a little higher with the factor.
    fn families(threshold: f64) -> [Box<dyn Fn(f64) -> Probe>; 4] {
        let t = threshold;
        let limit = t / 1.25;
        let probe = |missed: bool, score: f64| Probe { missed, score };
        [
            Box::new(move |k| probe(k > t, (k * 1e-7).max(4.0 * (k / limit - 1.0)))),
            Box::new(move |k| probe(k > t, (4.0 * t * (1.0 / t - 1.0 / k) + 1.0).max(0.01))),
            Box::new(move |k| probe(k > t, if k > t { 2.0 } else { (k / t).powi(3) })),
            Box::new(move |k| {
                let score = if k > t {
                    2.0 * (k / t).powf(0.2)
                } else {
                    (k / t).powi(3)
                };
                probe(k > t, score)
            }),
        ]
    }

    #[test]
    fn scores_cost_at_most_two_rounds_over_a_blind_search() {
        let mut steady = (0, 0);
        for threshold in [0.01, 0.11, 0.5, 0.9, 1.3, 3.0, 7.7, 55.0, 183.4, 1234.0] {
            for (family, probe) in families(threshold).iter().enumerate() {
                for width in [1, 2] {
                    let (found, guided) = rounds(width, 0.0, probe);
                    meets_contract(found, &guided, 0.0);
                    let unscored = |k| Probe {
                        score: f64::NAN,
                        ..probe(k)
                    };
                    let (_, blind) = rounds(width, 0.0, unscored);
                    let (guided, blind) = (guided.len(), blind.len());
                    assert!(
                        guided <= blind + 2,
                        "family {family}, width {width}, {threshold}: {guided} vs {blind}"
                    );
                    if family == 0 {
                        steady = (steady.0 + guided, steady.1 + blind);
                    }
                }
            }
        }
        assert!(3 * steady.0 <= 2 * steady.1, "steady: {steady:?}");
    }
}
