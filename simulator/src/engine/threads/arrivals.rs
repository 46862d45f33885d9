//! The released messages in replayed kernel order: by a', then
//! global_seq, then stream position.
//!
//! a' nearly always decides, so the main heap orders one number per
//! message: a' above the number of the message's held entry (below 2²¹),
//! one comparison per level, built with shifts only (no multiplication,
//! unlike [`Time::raw`]), and a' read back from it. While every a' is
//! whole nanoseconds below 2⁴³ (about 2.4 hours) the number is a `u64`
//! (8 bytes moved per level); the first a' that is not (a fraction of a
//! nanosecond, or later) moves the heap to `u128` numbers for good: whole
//! nanoseconds (64 bits) and fraction (below 2⁴³) above the entry.
//! Messages sharing an a' are ordered among themselves by the entry number there, which is not the kernel order:
//! when the earliest a' of the heap is shared, its whole group moves to
//! `ties`, a heap of full keys (global_seq and stream position read
//! through the caller's `order`), and so does any message released later
//! with that a'. Each message moves to `ties` at most once, so the order
//! is exact at the cost of a full key only where a' ties.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::MAX_READ_AHEAD;
use crate::engine::time::{SCALE, Time};

/// Low bits of a main heap key holding the held entry's number.
const ENTRY_BITS: u32 = 21;

/// Bits of a' 's fraction of a nanosecond in a wide key, between its
/// whole nanoseconds and the entry's number.
const FRACTION_BITS: u32 = 128 - 64 - ENTRY_BITS;

/// Every fraction of a nanosecond fits in its bits.
const _: () = assert!(SCALE <= 1 << FRACTION_BITS);

/// Every held entry's number fits below a' (there are never more than
/// [`MAX_READ_AHEAD`] held entries).
const _: () = assert!(MAX_READ_AHEAD <= 1 << ENTRY_BITS);

/// The rest of the order of a held entry: (global_seq, stream position).
pub(super) type Order = (u64, u64);

/// A message of a tied group, by its full key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tied {
    /// a' as [`Key::code`] gives it.
    code: u128,
    order: Order,
    entry: u32,
}

/// A main heap key: a' above a held entry's number, ordered as a' is.
trait Key: Copy + Ord {
    /// The key of `entry` arriving at `arrival`, if a' fits.
    fn of(arrival: Time, entry: u32) -> Option<Self>;
    /// The held entry.
    fn entry(self) -> u32;
    /// a' 's whole ns above its fraction ([`FRACTION_BITS`]), ordered as
    /// a' is, whatever the key's width.
    fn code(self) -> u128;
    /// a'.
    fn time(self) -> Time;
}

/// A wide key: ns(a') << 64 | fraction(a') << [`ENTRY_BITS`] | entry.
impl Key for u128 {
    #[inline]
    fn of(arrival: Time, entry: u32) -> Option<u128> {
        let (ns, fraction) = arrival.parts();
        Some((u128::from(ns) << 64) | (u128::from(fraction) << ENTRY_BITS) | u128::from(entry))
    }
    #[inline]
    fn entry(self) -> u32 {
        (self & ((1 << ENTRY_BITS) - 1)) as u32
    }
    #[inline]
    fn code(self) -> u128 {
        self >> ENTRY_BITS
    }
    #[inline]
    fn time(self) -> Time {
        time_of(self.code())
    }
}

/// A narrow key: ns(a') << [`ENTRY_BITS`] | entry, for a whole a' below
/// 2^(64 − [`ENTRY_BITS`]) ns.
impl Key for u64 {
    #[inline]
    fn of(arrival: Time, entry: u32) -> Option<u64> {
        let (ns, fraction) = arrival.parts();
        let fits = fraction == 0 && ns < 1 << (64 - ENTRY_BITS);
        fits.then_some((ns << ENTRY_BITS) | u64::from(entry))
    }
    #[inline]
    fn entry(self) -> u32 {
        (self & ((1 << ENTRY_BITS) - 1)) as u32
    }
    #[inline]
    fn code(self) -> u128 {
        u128::from(self >> ENTRY_BITS) << FRACTION_BITS
    }
    #[inline]
    fn time(self) -> Time {
        Time::from_ns(self >> ENTRY_BITS)
    }
}

/// The a' of a time code ([`Key::code`]).
#[inline]
fn time_of(code: u128) -> Time {
    let fraction = (code as u64) & ((1 << FRACTION_BITS) - 1);
    Time::from_parts((code >> FRACTION_BITS) as u64, fraction)
}

/// The released messages.
#[derive(Default)]
pub(super) struct Arrivals {
    /// The main heap while every a' fits in a narrow key.
    narrow: BinaryHeap<Reverse<u64>>,
    /// The main heap once one did not (`narrow` is then empty for good).
    wide: Option<BinaryHeap<Reverse<u128>>>,
    /// Whole groups of messages sharing an a', by full key.
    ties: BinaryHeap<Reverse<Tied>>,
}

impl Arrivals {
    /// The earliest a', if any message is held.
    #[inline]
    pub(super) fn first_time(&self) -> Option<Time> {
        match &self.wide {
            None => first(&self.narrow, &self.ties),
            Some(wide) => first(wide, &self.ties),
        }
    }

    /// The message in held entry `entry` arrives at `arrival`.
    #[inline]
    pub(super) fn push(&mut self, arrival: Time, entry: u32, order: impl Fn(u32) -> Order) {
        if self.wide.is_none() {
            if let Some(key) = u64::of(arrival, entry) {
                return push(&mut self.narrow, &mut self.ties, key, &order);
            }
            self.widen();
        }
        if let (Some(wide), Some(key)) = (&mut self.wide, u128::of(arrival, entry)) {
            push(wide, &mut self.ties, key, &order);
        }
    }

    /// Moves the narrow keys to a wide heap, used from now on.
    #[cold]
    fn widen(&mut self) {
        let narrow = std::mem::take(&mut self.narrow).into_iter();
        let wide = narrow
            .map(|Reverse(key)| Reverse((key.code() << ENTRY_BITS) | u128::from(key.entry())));
        self.wide = Some(wide.collect());
    }

    /// Removes a message with the earliest a' (the first of them in
    /// kernel order): its held entry and a'.
    pub(super) fn pop(&mut self, order: impl Fn(u32) -> Order) -> Option<(u32, Time)> {
        match &mut self.wide {
            None => pop(&mut self.narrow, &mut self.ties, &order),
            Some(wide) => pop(wide, &mut self.ties, &order),
        }
    }
}

/// The earliest a' of `heap` and `ties`.
#[inline]
fn first<K: Key>(heap: &BinaryHeap<Reverse<K>>, ties: &BinaryHeap<Reverse<Tied>>) -> Option<Time> {
    let first = heap.peek().map(|&Reverse(key)| key.code());
    let tied = ties.peek().map(|&Reverse(tied)| tied.code);
    match (first, tied) {
        (Some(first), Some(tied)) => Some(time_of(first.min(tied))),
        (first, tied) => first.or(tied).map(time_of),
    }
}

/// Pushes `key` into `heap`, or into its group in `ties`.
#[inline]
fn push<K: Key>(
    heap: &mut BinaryHeap<Reverse<K>>,
    ties: &mut BinaryHeap<Reverse<Tied>>,
    key: K,
    order: &impl Fn(u32) -> Order,
) {
    // A group in `ties` stays whole (checked at its earliest a': a
    // later one is checked when it comes first).
    match ties.peek() {
        Some(Reverse(tied)) if tied.code == key.code() => tie(ties, key, order),
        _ => heap.push(Reverse(key)),
    }
}

/// Removes the first message of `heap` and `ties` in kernel order.
fn pop<K: Key>(
    heap: &mut BinaryHeap<Reverse<K>>,
    ties: &mut BinaryHeap<Reverse<Tied>>,
    order: &impl Fn(u32) -> Order,
) -> Option<(u32, Time)> {
    if ties.is_empty() {
        // No group: the loop's first turn, without asking `ties`.
        let Reverse(key) = heap.pop()?;
        if !shares(heap, key) {
            return Some((key.entry(), key.time()));
        }
        tie(ties, key, order);
    }
    loop {
        let first = heap.peek().map(|&Reverse(key)| key);
        let tied = ties.peek().map(|&Reverse(tied)| tied.code);
        match (first, tied) {
            (Some(key), Some(tied)) if key.code() == tied => {
                // Pushed before its group moved: it joins it.
                heap.pop();
                tie(ties, key, order);
            }
            (Some(key), tied) if tied.is_none_or(|tied| key.code() < tied) => {
                heap.pop();
                if !shares(heap, key) {
                    return Some((key.entry(), key.time()));
                }
                tie(ties, key, order);
            }
            _ => {
                return ties
                    .pop()
                    .map(|Reverse(tied)| (tied.entry, time_of(tied.code)));
            }
        }
    }
}

/// Whether the first key of `heap` has the a' of `key`, just popped.
#[inline]
fn shares<K: Key>(heap: &BinaryHeap<Reverse<K>>, key: K) -> bool {
    heap.peek()
        .is_some_and(|&Reverse(next)| next.code() == key.code())
}

/// The message of main heap key `key` joins `ties`.
fn tie<K: Key>(ties: &mut BinaryHeap<Reverse<Tied>>, key: K, order: &impl Fn(u32) -> Order) {
    ties.push(Reverse(Tied {
        code: key.code(),
        order: order(key.entry()),
        entry: key.entry(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Message e arrives at a'[e] with (global_seq, stream position)
    /// orders[e]; each step pushes one (popping one after the steps
    /// marked), then the rest are popped: the order must be a binary
    /// heap's of full keys.
    fn agrees_with_a_heap_of_full_keys(arrivals: &[Time], orders: &[Order], pops: &[bool]) {
        let order = |entry: u32| orders[entry as usize];
        let mut arrivals_heap = Arrivals::default();
        let mut full = BinaryHeap::new();
        let (mut ours, mut reference) = (Vec::new(), Vec::new());
        for (entry, (&arrival, &pop)) in arrivals.iter().zip(pops).enumerate() {
            let entry = entry as u32;
            arrivals_heap.push(arrival, entry, order);
            full.push(Reverse((arrival, order(entry), entry)));
            let first = full.peek().map(|Reverse((a, ..))| *a);
            assert_eq!(arrivals_heap.first_time(), first);
            if pop {
                ours.push(arrivals_heap.pop(order));
                reference.push(full.pop().map(|Reverse((a, .., e))| (e, a)));
            }
        }
        while let Some(Reverse((a, .., e))) = full.pop() {
            ours.push(arrivals_heap.pop(order));
            reference.push(Some((e, a)));
        }
        assert_eq!(arrivals_heap.pop(order), None);
        assert_eq!(ours, reference);
    }

    #[test]
    fn ties_on_arrival_go_by_global_seq_then_stream_position() {
        let ns = Time::from_ns;
        // Entries 1, 2, 4 and 6 tie at 30 (6 pushed after the group
        // formed); 0 and 8 at 50; entry numbers run against the order.
        let arrivals = [50, 30, 30, 70, 30, 1 << 40, 30, u64::MAX, 50].map(ns);
        let orders = [
            (9, 0),
            (2, 1),
            (1, 2),
            (0, 3),
            (1, 0),
            (5, 5),
            (0, 6),
            (0, 7),
            (3, 8),
        ];
        let pops = [false, false, false, false, true, false, false, true, false];
        agrees_with_a_heap_of_full_keys(&arrivals, &orders, &pops);
    }

    #[test]
    fn a_message_released_before_the_last_arrival_taken_comes_first() {
        // Read out of recorded order: a' below the last taken, fractions,
        // a group formed in `ties` while an earlier a' is pushed.
        let fraction = Time::from_raw(Time::from_ns(20).raw() + 1);
        let arrivals = [100, 200, 150, 0, 10, 150, 150, 10].map(Time::from_ns);
        let arrivals = [&arrivals[..3], &[fraction], &arrivals[4..]].concat();
        let orders: Vec<Order> = (0..8).map(|e| (7 - e, e)).collect();
        let pops = [false, true, false, true, false, true, false, false];
        agrees_with_a_heap_of_full_keys(&arrivals, &orders, &pops);
    }

    #[test]
    fn the_heap_widens_mid_run_keeping_its_groups_and_narrow_keys() {
        let ns = Time::from_ns;
        let fraction = Time::from_raw(ns(30).raw() + 1);
        let late = ns(1 << (64 - ENTRY_BITS));
        // Entries 0, 1, 3 tie at 30 and move to `ties` at the first pop;
        // the fraction widens the heap; 5 joins the group at 30.
        let arrivals = [
            ns(30),
            ns(30),
            ns(40),
            ns(30),
            fraction,
            ns(30),
            late,
            ns(40),
        ];
        let orders: Vec<Order> = (0..8).map(|e| (9 - e, e)).collect();
        let pops = [false, false, false, true, false, false, false, true];
        agrees_with_a_heap_of_full_keys(&arrivals, &orders, &pops);
        let last_narrow = ns((1 << (64 - ENTRY_BITS)) - 1);
        assert_eq!(u64::of(last_narrow, 7).map(Key::entry), Some(7));
        assert_eq!(u64::of(late, 7), None);
        assert_eq!(u64::of(fraction, 7), None);
        let wide = |t| u128::of(t, 7).map(Key::code).map(time_of);
        assert_eq!(wide(fraction), Some(fraction));
        assert_eq!(wide(late), Some(late));
    }

    #[test]
    fn the_last_entry_number_stays_below_the_latest_arrival() {
        let order = |entry: u32| (0, u64::from(entry));
        let mut arrivals = Arrivals::default();
        let last = (1 << ENTRY_BITS) - 1;
        arrivals.push(Time::MAX, 0, order);
        arrivals.push(Time::from_raw(Time::MAX.raw() - 1), last, order);
        let almost = Time::from_raw(Time::MAX.raw() - 1);
        assert_eq!(arrivals.pop(order), Some((last, almost)));
        assert_eq!(arrivals.pop(order), Some((0, Time::MAX)));
    }
}
