//! The released messages in replayed kernel order: by a', then
//! global_seq, then stream position.
//!
//! a' nearly always decides, so the main heap orders one number per
//! message: a' as its whole nanoseconds (64 bits) and fraction (below
//! 2⁴³) above the number of the message's held entry (below 2²¹), 16
//! bytes moved and one comparison per level, built with shifts only (no
//! multiplication, unlike [`Time::raw`]), and a' read back from it.
//! Messages sharing an a' are ordered among themselves by the entry number there, which is not the kernel order:
//! when the earliest a' of the heap is shared, its whole group moves to
//! `ties`, a heap of full keys (global_seq and stream position read
//! through the caller's `order`), and so does any message released later
//! with that a'. Each message moves at most once, so the order is exact
//! at the cost of a full key only where a' ties.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::MAX_READ_AHEAD;
use crate::engine::time::{SCALE, Time};

/// Low bits of a main heap key holding the held entry's number.
const ENTRY_BITS: u32 = 21;

/// Bits of a' 's fraction of a nanosecond in a key, between its whole
/// nanoseconds and the entry's number.
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
    /// a' as [`code`] gives it.
    code: u128,
    order: Order,
    entry: u32,
}

/// The released messages.
#[derive(Default)]
pub(super) struct Arrivals {
    /// ns(a') << 64 | fraction(a') << [`ENTRY_BITS`] | entry.
    heap: BinaryHeap<Reverse<u128>>,
    /// Whole groups of messages sharing an a', by full key.
    ties: BinaryHeap<Reverse<Tied>>,
}

/// The main heap key of `entry` arriving at `arrival`.
#[inline]
fn key(arrival: Time, entry: u32) -> u128 {
    let (ns, fraction) = arrival.parts();
    (u128::from(ns) << 64) | (u128::from(fraction) << ENTRY_BITS) | u128::from(entry)
}

/// The a' of a time code ([`code`] of a key: ns above the fraction).
#[inline]
fn time_of(code: u128) -> Time {
    let fraction = (code as u64) & ((1 << FRACTION_BITS) - 1);
    Time::from_parts((code >> FRACTION_BITS) as u64, fraction)
}

/// The held entry of a main heap key.
#[inline]
fn entry(key: u128) -> u32 {
    (key & ((1 << ENTRY_BITS) - 1)) as u32
}

/// The time code of a main heap key: a' 's whole ns above its
/// fraction, ordered as a' is.
#[inline]
fn code(key: u128) -> u128 {
    key >> ENTRY_BITS
}

impl Arrivals {
    /// The earliest a', if any message is held.
    #[inline]
    pub(super) fn first_time(&self) -> Option<Time> {
        let first = self.heap.peek().map(|&Reverse(key)| code(key));
        let tied = self.ties.peek().map(|&Reverse(tied)| tied.code);
        match (first, tied) {
            (Some(first), Some(tied)) => Some(time_of(first.min(tied))),
            (first, tied) => first.or(tied).map(time_of),
        }
    }

    /// The message in held entry `entry` arrives at `arrival`.
    #[inline]
    pub(super) fn push(&mut self, arrival: Time, entry: u32, order: impl Fn(u32) -> Order) {
        let key = key(arrival, entry);
        // A group in `ties` stays whole (checked at its earliest a': a
        // later one is checked when it comes first).
        match self.ties.peek() {
            Some(Reverse(tied)) if tied.code == code(key) => self.tie(key, &order),
            _ => self.heap.push(Reverse(key)),
        }
    }

    /// Removes a message with the earliest a' (the first of them in
    /// kernel order): its held entry.
    pub(super) fn pop(&mut self, order: impl Fn(u32) -> Order) -> Option<u32> {
        if self.ties.is_empty() {
            // No group: the loop's first turn, without asking `ties`.
            let Reverse(key) = self.heap.pop()?;
            if !self.shares(key) {
                return Some(entry(key));
            }
            self.tie(key, &order);
        }
        loop {
            let first = self.heap.peek().map(|&Reverse(key)| key);
            let tied = self.ties.peek().map(|&Reverse(tied)| tied.code);
            match (first, tied) {
                (Some(key), Some(tied)) if code(key) == tied => {
                    // Pushed before its group moved: it joins it.
                    self.heap.pop();
                    self.tie(key, &order);
                }
                (Some(key), tied) if tied.is_none_or(|tied| code(key) < tied) => {
                    self.heap.pop();
                    if !self.shares(key) {
                        return Some(entry(key));
                    }
                    self.tie(key, &order);
                }
                _ => return self.ties.pop().map(|Reverse(tied)| tied.entry),
            }
        }
    }

    /// Whether the main heap's first key has the a' of `key`, just popped.
    #[inline]
    fn shares(&self, key: u128) -> bool {
        self.heap
            .peek()
            .is_some_and(|&Reverse(next)| code(next) == code(key))
    }

    /// The message of main heap key `key` joins `ties`.
    fn tie(&mut self, key: u128, order: &impl Fn(u32) -> Order) {
        self.ties.push(Reverse(Tied {
            code: code(key),
            order: order(entry(key)),
            entry: entry(key),
        }));
    }
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
                reference.push(full.pop().map(|Reverse((.., e))| e));
            }
        }
        while let Some(Reverse((.., e))) = full.pop() {
            ours.push(arrivals_heap.pop(order));
            reference.push(Some(e));
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
    fn the_last_entry_number_stays_below_the_latest_arrival() {
        let order = |entry: u32| (0, u64::from(entry));
        let mut arrivals = Arrivals::default();
        let last = (1 << ENTRY_BITS) - 1;
        arrivals.push(Time::MAX, 0, order);
        arrivals.push(Time::from_raw(Time::MAX.raw() - 1), last, order);
        assert_eq!(arrivals.pop(order), Some(last));
        assert_eq!(arrivals.pop(order), Some(0));
    }
}
