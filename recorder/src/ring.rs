//! The bounded, allocation-free single-producer single-consumer ring between
//! an event handler (producer) and the background writer (consumer).
//!
//! Capacity is a power of two; head and tail are free-running `usize`
//! counters on separate cache lines. [`Producer::try_push`] never blocks and
//! never allocates: when the ring is full it returns `false` and counts the
//! drop in the ring's drop counter, which the writer copies into the trace.
//! Several producing threads each get their own ring (see `tap`).

use crate::sync::{Arc, AtomicU64, AtomicUsize, Ordering, UnsafeCell};
use std::mem::MaybeUninit;

/// Pads and aligns a value to 128 bytes so that head and tail never share a
/// cache line (128 covers the adjacent-line prefetcher and Apple M-series).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct CachePadded<T>(pub T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Shared<T> {
    /// Next slot to pop (written by the consumer only).
    head: CachePadded<AtomicUsize>,
    /// Next slot to push (written by the producer only).
    tail: CachePadded<AtomicUsize>,
    /// Records refused because the ring was full.
    dropped: CachePadded<AtomicU64>,
    mask: usize,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// Safety: a slot is written only by the single producer while it is outside
// [head, tail) and read only by the single consumer while it is inside; the
// Release store of tail / head and the Acquire loads order those accesses.
// `T: Copy + Send` has no drop glue and may move between threads.
unsafe impl<T: Copy + Send> Sync for Shared<T> {}
// Safety: see above; the slots own plain `Copy` data.
unsafe impl<T: Copy + Send> Send for Shared<T> {}

/// The producing end of a ring (not `Clone`: one producer).
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Last head seen: reloaded only when the ring looks full, so that a
    /// push usually touches no cache line the consumer writes.
    cached_head: usize,
}

/// The consuming end of a ring (not `Clone`: one consumer).
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Last tail seen: reloaded only when the ring looks empty.
    cached_tail: usize,
}

/// Creates a ring holding `capacity` records, rounded up to a power of two
/// (at least 2). All memory is allocated here, none later.
pub fn ring<T: Copy + Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let capacity = capacity.max(2).next_power_of_two();
    let slots = (0..capacity)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let shared = Arc::new(Shared {
        head: CachePadded(AtomicUsize::new(0)),
        tail: CachePadded(AtomicUsize::new(0)),
        dropped: CachePadded(AtomicU64::new(0)),
        mask: capacity - 1,
        slots,
    });
    (
        Producer {
            shared: Arc::clone(&shared),
            cached_head: 0,
        },
        Consumer {
            shared,
            cached_tail: 0,
        },
    )
}

impl<T: Copy + Send> Producer<T> {
    /// Appends `value`; returns `false` (and counts a drop) when full.
    /// Never blocks, never allocates.
    #[inline]
    pub fn try_push(&mut self, value: T) -> bool {
        let s = &*self.shared;
        let tail = s.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(self.cached_head) > s.mask {
            self.cached_head = s.head.load(Ordering::Acquire);
            if tail.wrapping_sub(self.cached_head) > s.mask {
                s.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        s.slots[tail & s.mask].with_mut(|slot| {
            // Safety: the slot is outside [head, tail) (a stale cached head
            // only under-estimates free space), so the consumer does
            // not read it until the Release store below publishes it.
            unsafe { slot.write(MaybeUninit::new(value)) }
        });
        s.tail.store(tail.wrapping_add(1), Ordering::Release);
        true
    }

    /// Records refused so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes zeros over every free slot, so that the pages behind the ring
    /// are mapped now rather than on the first pushes (a page fault in an ES
    /// handler is time taken from every message behind it). Call it at
    /// start, before the consumer runs.
    pub fn prefault(&mut self) {
        let s = &*self.shared;
        let tail = s.tail.load(Ordering::Relaxed);
        let head = s.head.load(Ordering::Acquire);
        let free = s.mask + 1 - tail.wrapping_sub(head);
        for offset in 0..free {
            s.slots[tail.wrapping_add(offset) & s.mask].with_mut(|slot| {
                // Safety: the slot is outside [head, tail), which only the
                // producer writes; zero bytes are a valid MaybeUninit<T>.
                unsafe { std::ptr::write_bytes(slot, 0, 1) }
            });
        }
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }
}

impl<T: Copy + Send> Consumer<T> {
    /// Takes the oldest record, if any.
    #[inline]
    pub fn try_pop(&mut self) -> Option<T> {
        let s = &*self.shared;
        let head = s.head.load(Ordering::Relaxed);
        if head == self.cached_tail {
            self.cached_tail = s.tail.load(Ordering::Acquire);
            if head == self.cached_tail {
                return None;
            }
        }
        let value = s.slots[head & s.mask].with(|slot| {
            // Safety: the slot is inside [head, tail): the producer wrote it
            // before its Release store of tail, which our Acquire load saw,
            // and does not touch it again until we advance head.
            unsafe { (*slot).assume_init() }
        });
        s.head.store(head.wrapping_add(1), Ordering::Release);
        Some(value)
    }

    /// Records refused so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// True once the producer handle has been dropped (the ring can then
    /// only shrink).
    pub fn producer_gone(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn capacity_rounds_up_to_power_of_two() {
        let (p, _c) = ring::<u32>(5);
        assert_eq!(p.capacity(), 8);
        let (p, _c) = ring::<u32>(0);
        assert_eq!(p.capacity(), 2);
    }

    #[test]
    fn fifo_and_overflow_counts_drops() {
        let (mut p, mut c) = ring::<u32>(4);
        for i in 0..4 {
            assert!(p.try_push(i));
        }
        assert!(!p.try_push(99));
        assert!(!p.try_push(100));
        assert_eq!(p.dropped(), 2);
        assert_eq!(c.dropped(), 2);
        assert_eq!(c.try_pop(), Some(0));
        assert!(p.try_push(4));
        let rest: Vec<u32> = std::iter::from_fn(|| c.try_pop()).collect();
        assert_eq!(rest, vec![1, 2, 3, 4]);
        assert_eq!(c.try_pop(), None);
    }

    #[test]
    fn prefault_keeps_queued_records() {
        let (mut p, mut c) = ring::<u64>(4);
        p.prefault();
        assert!(p.try_push(7));
        p.prefault();
        assert!(p.try_push(8));
        assert_eq!(
            (c.try_pop(), c.try_pop(), c.try_pop()),
            (Some(7), Some(8), None)
        );
    }

    #[test]
    fn wraps_many_times() {
        let (mut p, mut c) = ring::<u64>(2);
        for i in 0..1000u64 {
            assert!(p.try_push(i));
            assert_eq!(c.try_pop(), Some(i));
        }
        assert!(!c.producer_gone());
        drop(p);
        assert!(c.producer_gone());
    }

    /// Producer and consumer threads with randomized pauses: every accepted
    /// record is popped exactly once and in order; refused pushes are exactly
    /// the counted drops.
    #[test]
    fn stress_no_loss_without_count() {
        let n: u64 = if cfg!(miri) { 2_000 } else { 200_000 };
        let (mut p, mut c) = ring::<u64>(64);
        let producer = std::thread::spawn(move || {
            let mut accepted = Vec::new();
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for i in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x.is_multiple_of(97) {
                    std::thread::yield_now();
                }
                if p.try_push(i) {
                    accepted.push(i);
                }
            }
            (accepted, p.dropped())
        });
        let mut popped = Vec::new();
        let mut y = 12345u64;
        loop {
            match c.try_pop() {
                Some(v) => popped.push(v),
                None if c.producer_gone() => match c.try_pop() {
                    Some(v) => popped.push(v),
                    None => break,
                },
                None => std::thread::yield_now(),
            }
            y = y.wrapping_mul(6364136223846793005).wrapping_add(1);
            if y >> 60 == 0 {
                std::thread::yield_now();
            }
        }
        let (accepted, dropped) = producer.join().unwrap();
        assert_eq!(popped, accepted);
        assert_eq!(accepted.len() as u64 + dropped, n);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    #[test]
    fn loom_push_pop_in_order() {
        loom::model(|| {
            let (mut p, mut c) = ring::<u32>(2);
            let t = loom::thread::spawn(move || {
                let ok = [p.try_push(1), p.try_push(2), p.try_push(3)];
                (ok, p.dropped())
            });
            let mut got = Vec::new();
            for _ in 0..3 {
                if let Some(v) = c.try_pop() {
                    got.push(v);
                }
            }
            let (ok, dropped) = t.join().unwrap();
            while let Some(v) = c.try_pop() {
                got.push(v);
            }
            let accepted: Vec<u32> = [1, 2, 3]
                .into_iter()
                .zip(ok)
                .filter_map(|(v, ok)| ok.then_some(v))
                .collect();
            assert_eq!(got, accepted);
            assert_eq!(accepted.len() as u64 + dropped, 3);
        });
    }

    #[test]
    fn loom_overflow_counts() {
        loom::model(|| {
            let (mut p, mut c) = ring::<u32>(2);
            let t = loom::thread::spawn(move || {
                assert!(p.try_push(1));
                assert!(p.try_push(2));
                let third = p.try_push(3);
                (third, p.dropped())
            });
            let first = c.try_pop();
            let (third, dropped) = t.join().unwrap();
            assert_eq!(dropped, u64::from(!third));
            if first.is_none() {
                assert!(!third);
            }
        });
    }

    /// Three records through two slots: the indices wrap and the cached
    /// head/tail are refreshed; every record arrives once, in order.
    #[test]
    fn loom_wraps_with_retries() {
        loom::model(|| {
            let (mut p, mut c) = ring::<u32>(2);
            let t = loom::thread::spawn(move || {
                for v in 1..=3 {
                    while !p.try_push(v) {
                        loom::thread::yield_now();
                    }
                }
            });
            let mut got = Vec::new();
            while got.len() < 3 {
                match c.try_pop() {
                    Some(v) => got.push(v),
                    None => loom::thread::yield_now(),
                }
            }
            t.join().unwrap();
            assert_eq!(got, vec![1, 2, 3]);
            assert_eq!(c.try_pop(), None);
        });
    }
}
