//! [`RunQueue`]: a min-priority queue that is O(1) when keys mostly come
//! in ascending order, as EDF keys do (a deadline is the arrival plus a
//! budget that is fixed per event type, so each event type's keys ascend).
//!
//! Items go to the first of up to [`MAX_RUNS`] sorted runs (deques) whose
//! last key is ≤ the new key, else to a binary heap. The minimum is the
//! smallest of the run fronts and the heap top. Invariant: every run is
//! sorted ascending by key; equal keys leave in insertion order within a
//! run (EDF keys are unique anyway: they end with the stream position).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use super::Ticket;

/// Sorted runs kept before falling back to the heap.
pub const MAX_RUNS: usize = 4;

/// A value that knows its queue key.
pub trait Keyed {
    /// The key type; smaller keys leave first.
    type Key: Ord + Copy;
    /// This value's key.
    fn key(&self) -> Self::Key;
}

impl Keyed for Ticket {
    type Key = (u64, u64, u64);
    #[inline]
    fn key(&self) -> Self::Key {
        self.edf_key()
    }
}

/// Orders values by their key alone (for the heap).
struct ByKey<V>(V);

impl<V: Keyed> PartialEq for ByKey<V> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}
impl<V: Keyed> Eq for ByKey<V> {}
impl<V: Keyed> PartialOrd for ByKey<V> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<V: Keyed> Ord for ByKey<V> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key().cmp(&other.0.key())
    }
}

/// A min-queue of values by key. Keys are recomputed, not stored, so an
/// item costs only its own size.
pub struct RunQueue<V> {
    runs: Vec<VecDeque<V>>,
    heap: BinaryHeap<Reverse<ByKey<V>>>,
    len: usize,
}

impl<V: Keyed> Default for RunQueue<V> {
    fn default() -> Self {
        RunQueue {
            runs: Vec::new(),
            heap: BinaryHeap::new(),
            len: 0,
        }
    }
}

impl<V: Keyed> RunQueue<V> {
    /// Items queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Queues `value` under its key.
    #[inline]
    pub fn push(&mut self, value: V) {
        self.len += 1;
        let key = value.key();
        for run in &mut self.runs {
            if run.back().is_none_or(|last| last.key() <= key) {
                run.push_back(value);
                return;
            }
        }
        if self.runs.len() < MAX_RUNS {
            self.runs.push(VecDeque::from([value]));
        } else {
            self.heap.push(Reverse(ByKey(value)));
        }
    }

    /// Removes the item with the smallest key.
    #[inline]
    pub fn pop(&mut self) -> Option<V> {
        let mut best: Option<(V::Key, usize)> = None;
        for (index, run) in self.runs.iter().enumerate() {
            if let Some(front) = run.front() {
                let key = front.key();
                if best.is_none_or(|(best_key, _)| key < best_key) {
                    best = Some((key, index));
                }
            }
        }
        let from_heap = match (self.heap.peek(), best) {
            (Some(Reverse(top)), Some((key, _))) => top.0.key() < key,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let item = if from_heap {
            self.heap.pop().map(|Reverse(ByKey(value))| value)
        } else {
            best.and_then(|(_, index)| self.runs[index].pop_front())
        };
        self.len -= usize::from(item.is_some());
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Keyed for (u32, usize) {
        type Key = (u32, usize);
        fn key(&self) -> Self::Key {
            *self
        }
    }

    proptest! {
        #[test]
        fn pops_in_key_order_like_a_sort(keys in prop::collection::vec(0u32..50, 0..200), pops in 0usize..100) {
            let mut queue = RunQueue::default();
            let mut model: Vec<(u32, usize)> = Vec::new();
            for (position, &key) in keys.iter().enumerate() {
                queue.push((key, position));
                model.push((key, position));
                if position % 3 == 0 && pops > position {
                    model.sort_unstable();
                    let want = model.remove(0);
                    prop_assert_eq!(queue.pop(), Some(want));
                }
            }
            model.sort_unstable();
            prop_assert_eq!(queue.len(), model.len());
            for want in model {
                prop_assert_eq!(queue.pop(), Some(want));
            }
            prop_assert!(queue.len() == 0 && queue.pop().is_none());
        }
    }
}
