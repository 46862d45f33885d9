//! [`Time`]: the engine's exact-enough clock.
//!
//! Under processor sharing a job's finish instant is usually a fraction of
//! a nanosecond (two jobs sharing one core finish at 2 s_i; three at
//! 3 s_i, but with a background thread of weight 0.5 at 2.5 s_i...). The
//! engine never rounds mid-run: times are fixed-point nanoseconds in a
//! `u128` with [`SCALE`] steps per ns. SCALE = 2^20 · 3^6 · 5^3 · 7^2
//! (≈ 4.7 · 10^12, finer than 2^-42 ns), so dividing by the small counts
//! of runnable threads that rates are made of is exact for many steps in
//! a row; what is not exact is rounded at that resolution (rates `φ`
//! are reduced fractions; a work-to-wall conversion rounds up, a
//! wall-to-work conversion down). Whole nanoseconds are exact, so without
//! `--cores` every time is the integer model's, bit for bit. Reported times
//! are rounded up to whole ns ([`Time::ceil_ns`]): "r > d" reads the same
//! on reported and internal values because every deadline is whole.

use std::ops::{Add, Sub};

/// Fixed-point steps per nanosecond.
pub const SCALE: u128 = (1 << 20) * 729 * 125 * 49;

/// [`SCALE`] as a u64 (it fits).
const STEPS: u64 = SCALE as u64;

/// A simulated instant or duration: whole nanoseconds and a fraction in
/// steps of 1/[`SCALE`] ns, saturating at `u64::MAX` ns. Kept as two words
/// so that whole-nanosecond arithmetic (the model without `--cores`) never
/// divides; only processor sharing converts to one fixed-point number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Time {
    ns: u64,
    /// Below [`SCALE`]; 0 at `u64::MAX` ns.
    frac: u64,
}

impl Time {
    /// 0 ns.
    pub const ZERO: Time = Time { ns: 0, frac: 0 };
    /// `u64::MAX` ns, where all arithmetic saturates.
    pub const MAX: Time = Time {
        ns: u64::MAX,
        frac: 0,
    };

    /// Whole nanoseconds.
    #[inline]
    pub const fn from_ns(ns: u64) -> Time {
        Time { ns, frac: 0 }
    }

    /// The fixed-point value: ns × [`SCALE`] + fraction.
    #[inline]
    pub const fn raw(self) -> u128 {
        self.ns as u128 * SCALE + self.frac as u128
    }

    /// From a fixed-point value (saturating at [`Time::MAX`]).
    #[inline]
    pub fn from_raw(raw: u128) -> Time {
        let ns = raw / SCALE;
        if ns >= u128::from(u64::MAX) {
            return Time::MAX;
        }
        Time {
            ns: ns as u64,
            frac: (raw % SCALE) as u64,
        }
    }

    /// The whole nanoseconds and the fraction (in steps below [`SCALE`]).
    #[inline]
    pub(crate) const fn parts(self) -> (u64, u64) {
        (self.ns, self.frac)
    }

    /// From [`parts`](Self::parts).
    #[inline]
    pub(crate) const fn from_parts(ns: u64, frac: u64) -> Time {
        debug_assert!(frac < STEPS && (ns < u64::MAX || frac == 0));
        Time { ns, frac }
    }

    /// Rounded up to whole nanoseconds (what results report).
    #[inline]
    pub fn ceil_ns(self) -> u64 {
        self.ns + u64::from(self.frac > 0)
    }

    /// Rounded down to whole nanoseconds.
    #[inline]
    pub fn floor_ns(self) -> u64 {
        self.ns
    }

    /// Whether this is a whole number of nanoseconds.
    #[inline]
    pub fn is_whole(self) -> bool {
        self.frac == 0
    }

    /// `self + ns`, saturating (`self + Time::from_ns(ns)` without the
    /// carry of fractions).
    #[inline]
    pub fn plus_ns(self, ns: u64) -> Time {
        // Branch-free: a saturated sum is u64::MAX ns, whose fraction is 0.
        let ns = self.ns.saturating_add(ns);
        let frac = if ns == u64::MAX { 0 } else { self.frac };
        Time { ns, frac }
    }

    /// `self − other`, 0 if negative.
    #[inline]
    pub fn saturating_sub(self, other: Time) -> Time {
        if self <= other {
            return Time::ZERO;
        }
        if self.frac >= other.frac {
            Time {
                ns: self.ns - other.ns,
                frac: self.frac - other.frac,
            }
        } else {
            Time {
                ns: self.ns - other.ns - 1,
                frac: self.frac + STEPS - other.frac,
            }
        }
    }

    /// An event key: this time, then `rank` (below 8), as one number
    /// that orders as the pair does (the fraction is below 2⁴³).
    #[inline]
    pub(crate) const fn key(self, rank: u8) -> u128 {
        ((self.ns as u128) << 64) | ((self.frac as u128) << 3) | (rank & 7) as u128
    }

    /// The time and rank of an event key.
    #[inline]
    pub(crate) const fn from_key(key: u128) -> (Time, u8) {
        let low = key as u64;
        let time = Time {
            ns: (key >> 64) as u64,
            frac: low >> 3,
        };
        (time, (low & 7) as u8)
    }

    /// As f64 nanoseconds (for ratios only, never for simulated time).
    pub fn as_f64_ns(self) -> f64 {
        self.ns as f64 + self.frac as f64 / STEPS as f64
    }
}

/// Ordered as (ns, fraction), compared as one 128-bit number (no branch).
impl Ord for Time {
    #[inline]
    fn cmp(&self, other: &Time) -> std::cmp::Ordering {
        let wide = |t: &Time| (u128::from(t.ns) << 64) | u128::from(t.frac);
        wide(self).cmp(&wide(other))
    }
}

impl PartialOrd for Time {
    #[inline]
    fn partial_cmp(&self, other: &Time) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Add for Time {
    type Output = Time;
    #[inline]
    fn add(self, other: Time) -> Time {
        let sum = self.frac + other.frac;
        let carry = sum >= STEPS;
        let frac = if carry { sum - STEPS } else { sum };
        let ns = self
            .ns
            .saturating_add(other.ns)
            .saturating_add(u64::from(carry));
        // A saturated sum is u64::MAX ns, whose fraction is 0.
        let frac = if ns == u64::MAX { 0 } else { frac };
        Time { ns, frac }
    }
}

impl Sub for Time {
    type Output = Time;
    /// Saturates at 0.
    #[inline]
    fn sub(self, other: Time) -> Time {
        self.saturating_sub(other)
    }
}

/// A sum of durations (a thread's busy time), exact: Σ (finish − start)
/// in fixed-point steps as one 128-bit number, which adds without
/// [`Time`]'s carries; read back as a [`Time`], saturating as adding
/// `Time`s would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Busy(u128);

impl Busy {
    /// Adds the span from `start` to `finish` (0 if `finish` is earlier).
    #[inline]
    pub(crate) fn add(&mut self, start: Time, finish: Time) {
        if finish <= start {
            return;
        }
        // finish.raw() − start.raw() with one multiplication: where the
        // fractions borrow, the whole ns differ by at least 1.
        let whole = u128::from(finish.ns - start.ns) * SCALE;
        let span = whole + u128::from(finish.frac) - u128::from(start.frac);
        self.0 = self.0.saturating_add(span);
    }

    /// The sum.
    pub(crate) fn total(self) -> Time {
        Time::from_raw(self.0)
    }
}

/// A signed duration (an offset such as a thread's δ).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offset {
    /// Below zero.
    pub negative: bool,
    /// |offset|.
    pub magnitude: Time,
}

impl Offset {
    /// `self + t`.
    pub fn plus(self, t: Time) -> Offset {
        if !self.negative {
            return Offset {
                negative: false,
                magnitude: self.magnitude + t,
            };
        }
        if t >= self.magnitude {
            Offset {
                negative: false,
                magnitude: t - self.magnitude,
            }
        } else {
            Offset {
                negative: true,
                magnitude: self.magnitude - t,
            }
        }
    }

    /// `self − t`.
    pub fn minus(self, t: Time) -> Offset {
        let flipped = Offset {
            negative: !self.negative,
            magnitude: self.magnitude,
        }
        .plus(t);
        Offset {
            negative: !flipped.negative && flipped.magnitude != Time::ZERO,
            magnitude: flipped.magnitude,
        }
    }

    /// `t + self`, 0 if that is negative.
    pub fn apply(self, t: Time) -> Time {
        if self.negative {
            t - self.magnitude
        } else {
            t + self.magnitude
        }
    }

    /// The offset from `from` to `to` (`to − from`).
    pub fn between(from: Time, to: Time) -> Offset {
        if to >= from {
            Offset {
                negative: false,
                magnitude: to - from,
            }
        } else {
            Offset {
                negative: true,
                magnitude: from - to,
            }
        }
    }

    /// The smaller of two offsets.
    pub fn min(self, other: Offset) -> Offset {
        let key = |o: Offset| {
            if o.negative {
                (0, Time::MAX - o.magnitude)
            } else {
                (1, o.magnitude)
            }
        };
        if key(other) < key(self) { other } else { self }
    }
}

/// ⌊a · b / c⌋ without overflow for the engine's ranges (saturating).
#[inline]
pub(crate) fn mul_div_floor(a: u128, b: u128, c: u128) -> u128 {
    match a.checked_mul(b) {
        Some(product) => product / c,
        None => (a / c).saturating_mul(b).saturating_add((a % c) * b / c),
    }
}

/// ⌈a · b / c⌉ without overflow for the engine's ranges (saturating).
#[inline]
pub(crate) fn mul_div_ceil(a: u128, b: u128, c: u128) -> u128 {
    match a.checked_mul(b) {
        Some(product) => product.div_ceil(c),
        None => (a / c)
            .saturating_mul(b)
            .saturating_add(((a % c) * b).div_ceil(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_nanoseconds_round_trip_and_fractions_round_up() {
        for ns in [0, 1, 7, 1_000_000_007, u64::MAX] {
            assert_eq!(Time::from_ns(ns).ceil_ns(), ns);
            assert_eq!(Time::from_ns(ns).floor_ns(), ns);
        }
        let third = Time::from_raw(SCALE / 3);
        assert_eq!((third.ceil_ns(), third.floor_ns()), (1, 0));
        assert_eq!((third + third + third).ceil_ns(), 1, "1/3 is exact");
        assert_eq!(Time::MAX.plus_ns(5), Time::MAX);
        assert_eq!(Time::from_ns(3) - Time::from_ns(5), Time::ZERO);
        let two_thirds = third + third;
        assert_eq!(Time::from_ns(1) - two_thirds, third, "a borrow");
        assert_eq!(Time::from_raw(Time::MAX.raw() + 7), Time::MAX);
    }

    #[test]
    fn plus_ns_is_adding_whole_nanoseconds() {
        let third = Time::from_raw(SCALE / 3);
        let max_less = Time::from_ns(u64::MAX - 1) + third;
        for t in [
            Time::ZERO,
            third,
            Time::from_ns(9) + third,
            max_less,
            Time::MAX,
        ] {
            for ns in [0, 1, 5, u64::MAX - 1, u64::MAX] {
                assert_eq!(t.plus_ns(ns), t + Time::from_ns(ns), "{t:?} + {ns}");
            }
        }
    }

    #[test]
    fn event_keys_order_as_time_then_rank_and_round_trip() {
        let times = [
            Time::ZERO,
            Time::from_raw(1),
            Time::from_raw(SCALE - 1),
            Time::from_ns(1),
            Time::from_raw(SCALE * 7 + SCALE / 3),
            Time::MAX,
        ];
        for (a, b) in times
            .iter()
            .flat_map(|a| times.iter().map(move |b| (*a, *b)))
        {
            for (x, y) in [(0, 0), (0, 7), (7, 0), (3, 5)] {
                assert_eq!(a.key(x).cmp(&b.key(y)), (a, x).cmp(&(b, y)));
                assert_eq!(Time::from_key(a.key(x)), (a, x));
            }
        }
        assert!(
            Time::MAX.key(7) < u128::MAX,
            "u128::MAX stays free for none"
        );
    }

    #[test]
    fn busy_time_sums_as_adding_times_does() {
        let third = Time::from_raw(SCALE / 3);
        let spans = [
            (Time::ZERO, Time::from_ns(5)),
            (Time::from_ns(5), Time::from_ns(7) + third),
            (third, third + third + third),
            (Time::from_ns(9), Time::from_ns(9)),
            (Time::from_ns(2) + third + third, Time::from_ns(4) + third),
            (Time::from_ns(8), Time::from_ns(3)),
        ];
        let (mut busy, mut sum) = (Busy::default(), Time::ZERO);
        for (start, finish) in spans {
            busy.add(start, finish);
            sum = sum + (finish - start);
            assert_eq!(busy.total(), sum);
        }
        busy.add(Time::ZERO, Time::MAX);
        busy.add(Time::ZERO, Time::MAX);
        assert_eq!(busy.total(), Time::MAX, "saturates");
    }

    #[test]
    fn offsets_add_subtract_and_compare_across_zero() {
        let five = Time::from_ns(5);
        let back = Offset::default().minus(Time::from_ns(8));
        assert!(back.negative);
        assert_eq!(back.apply(Time::from_ns(10)), Time::from_ns(2));
        assert_eq!(back.apply(Time::from_ns(3)), Time::ZERO, "floored at 0");
        let forth = back.plus(Time::from_ns(13));
        assert_eq!((forth.negative, forth.magnitude), (false, five));
        assert_eq!(back.min(forth), back);
        assert_eq!(
            Offset::between(Time::from_ns(9), Time::from_ns(4)),
            back.plus(Time::from_ns(3))
        );
        assert_eq!(
            Offset::default().minus(Time::ZERO),
            Offset::default(),
            "no negative zero"
        );
    }

    #[test]
    fn mul_div_is_exact_where_it_divides_and_survives_overflow() {
        assert_eq!(mul_div_floor(10, 3, 4), 7);
        assert_eq!(mul_div_ceil(10, 3, 4), 8);
        let big = Time::MAX.raw();
        assert_eq!(mul_div_floor(big, 6, 6), big);
        assert_eq!(mul_div_ceil(big, 6, 6), big);
        assert_eq!(mul_div_floor(big, 2, 3), big / 3 * 2);
    }
}
