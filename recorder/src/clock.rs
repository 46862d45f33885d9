//! The recorder's clock: mach ticks on macOS (`mach_absolute_time`), and a
//! monotonic nanosecond counter elsewhere, plus the anchors of a trace's
//! start and end.

use esreplay_traces::{ClockAnchor, Timebase};
use std::time::{SystemTime, UNIX_EPOCH};

/// Ticks of the monotonic clock that ES message times use.
#[cfg(target_os = "macos")]
#[inline]
pub fn now_ticks() -> u64 {
    // Safety: mach_absolute_time has no preconditions.
    unsafe { mach2::mach_time::mach_absolute_time() }
}

/// Ticks of the monotonic clock (ns since the first call in this process).
#[cfg(not(target_os = "macos"))]
#[inline]
pub fn now_ticks() -> u64 {
    ticks_at(std::time::Instant::now())
}

/// The ticks of a moment taken with `Instant` (`CLOCK_MONOTONIC`), e.g. the
/// moment a fanotify read returned; moments before the base give 0.
#[cfg(not(target_os = "macos"))]
pub fn ticks_at(moment: std::time::Instant) -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(std::time::Instant::now);
    u64::try_from(moment.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX)
}

/// The timebase of [`now_ticks`].
#[cfg(target_os = "macos")]
pub fn timebase() -> Timebase {
    let mut info = mach2::mach_time::mach_timebase_info { numer: 0, denom: 0 };
    // Safety: `info` is a valid, writable mach_timebase_info.
    let kr = unsafe { mach2::mach_time::mach_timebase_info(&mut info) };
    if kr != 0 || info.numer == 0 || info.denom == 0 {
        return Timebase::NANOS;
    }
    Timebase {
        numer: info.numer,
        denom: info.denom,
    }
}

/// The timebase of [`now_ticks`] (nanoseconds).
#[cfg(not(target_os = "macos"))]
pub fn timebase() -> Timebase {
    Timebase::NANOS
}

/// Reads the clocks together: absolute ticks, continuous ticks and wall time.
pub fn anchor() -> ClockAnchor {
    let wall_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    ClockAnchor {
        mach_absolute: now_ticks(),
        mach_continuous: continuous_ticks(),
        wall_ns,
    }
}

#[cfg(target_os = "macos")]
fn continuous_ticks() -> u64 {
    // Safety: mach_continuous_time has no preconditions.
    unsafe { mach2::mach_time::mach_continuous_time() }
}

#[cfg(not(target_os = "macos"))]
fn continuous_ticks() -> u64 {
    now_ticks()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_monotonic_and_anchor_is_filled() {
        let a = anchor();
        let b = now_ticks();
        assert!(b >= a.mach_absolute);
        assert!(a.wall_ns > 0);
        assert!(timebase().numer > 0);
    }
}
