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

/// A simulated instant or duration: nanoseconds × [`SCALE`], saturating at
/// `u64::MAX` ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u128);

impl Time {
    /// 0 ns.
    pub const ZERO: Time = Time(0);
    /// `u64::MAX` ns, where all arithmetic saturates.
    pub const MAX: Time = Time(u64::MAX as u128 * SCALE);

    /// Whole nanoseconds.
    #[inline]
    pub const fn from_ns(ns: u64) -> Time {
        Time(ns as u128 * SCALE)
    }

    /// The raw fixed-point value.
    #[inline]
    pub const fn raw(self) -> u128 {
        self.0
    }

    /// From a raw fixed-point value (saturating at [`Time::MAX`]).
    #[inline]
    pub fn from_raw(raw: u128) -> Time {
        Time(raw.min(Time::MAX.0))
    }

    /// Rounded up to whole nanoseconds (what results report).
    #[inline]
    pub fn ceil_ns(self) -> u64 {
        self.0.div_ceil(SCALE) as u64
    }

    /// Rounded down to whole nanoseconds.
    #[inline]
    pub fn floor_ns(self) -> u64 {
        (self.0 / SCALE) as u64
    }

    /// `self + ns`, saturating.
    #[inline]
    pub fn plus_ns(self, ns: u64) -> Time {
        self + Time::from_ns(ns)
    }

    /// `self − other`, 0 if negative.
    #[inline]
    pub fn saturating_sub(self, other: Time) -> Time {
        Time(self.0.saturating_sub(other.0))
    }

    /// As f64 nanoseconds (for ratios only, never for simulated time).
    pub fn as_f64_ns(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

impl Add for Time {
    type Output = Time;
    #[inline]
    fn add(self, other: Time) -> Time {
        Time(self.0.saturating_add(other.0).min(Time::MAX.0))
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
