//! A hint to the CPU to bring a value into its caches before it is read.
//!
//! The one use: the closed loop's read-ahead (`engine/threads.rs`) holds
//! up to hundreds of thousands of messages, and a thread's next message
//! is read again only when its current AUTH message is answered, long
//! after it was written; read then, it is a cache miss on the engine's
//! critical path (a third of closed replay's time, measured with `perf
//! annotate`). Prefetched when the thread's previous message is released,
//! it is in the cache by the time the answer comes.
//!
//! A prefetch never faults and changes no value: only timing. On other
//! architectures it does nothing.

/// Asks the CPU to bring every cache line of `value` into its caches.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    let start = std::ptr::from_ref(value).cast::<u8>();
    let mut offset = 0;
    while offset < size_of::<T>() {
        line(start.wrapping_add(offset));
        offset += LINE;
    }
    // The last byte's line, when `value` straddles one more.
    line(start.wrapping_add(size_of::<T>().saturating_sub(1)));
}

/// A cache line's size on the machines we run on (x86-64; Apple's cores
/// have 128-byte lines: twice the hints, each still correct).
const LINE: usize = 64;

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn line(address: *const u8) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: PREFETCHT0 is part of SSE, which every x86-64 CPU has; it
    // reads no memory into the program and never faults, whatever the
    // address (here always inside a live value).
    unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast::<i8>()) }
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn line(address: *const u8) {
    // SAFETY: PRFM is a hint: it reads no memory into the program, writes
    // none, never faults and leaves the flags alone.
    unsafe {
        std::arch::asm!(
            "prfm pldl1keep, [{address}]",
            address = in(reg) address,
            options(nostack, readonly, preserves_flags)
        );
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
fn line(_: *const u8) {}
