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

/// Sorted runs kept before falling back to the heap.
pub const MAX_RUNS: usize = 4;

struct Entry<K, V>(K, V);

impl<K: Ord, V> PartialEq for Entry<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<K: Ord, V> Eq for Entry<K, V> {}
impl<K: Ord, V> PartialOrd for Entry<K, V> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K: Ord, V> Ord for Entry<K, V> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// A min-queue of values by key.
pub struct RunQueue<K, V> {
    runs: Vec<VecDeque<(K, V)>>,
    heap: BinaryHeap<Reverse<Entry<K, V>>>,
    len: usize,
}

impl<K: Ord + Copy, V> Default for RunQueue<K, V> {
    fn default() -> Self {
        RunQueue {
            runs: Vec::new(),
            heap: BinaryHeap::new(),
            len: 0,
        }
    }
}

impl<K: Ord + Copy, V> RunQueue<K, V> {
    /// Items queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `value` under `key`.
    #[inline]
    pub fn push(&mut self, key: K, value: V) {
        self.len += 1;
        for run in &mut self.runs {
            if run.back().is_none_or(|(last, _)| *last <= key) {
                run.push_back((key, value));
                return;
            }
        }
        if self.runs.len() < MAX_RUNS {
            self.runs.push(VecDeque::from([(key, value)]));
        } else {
            self.heap.push(Reverse(Entry(key, value)));
        }
    }

    /// Removes the item with the smallest key.
    #[inline]
    pub fn pop(&mut self) -> Option<(K, V)> {
        let mut best: Option<(K, usize)> = None;
        for (index, run) in self.runs.iter().enumerate() {
            if let Some((key, _)) = run.front()
                && best.is_none_or(|(best_key, _)| *key < best_key)
            {
                best = Some((*key, index));
            }
        }
        let from_heap = match (self.heap.peek(), best) {
            (Some(Reverse(top)), Some((key, _))) => top.0 < key,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let item = if from_heap {
            self.heap
                .pop()
                .map(|Reverse(Entry(key, value))| (key, value))
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

    proptest! {
        #[test]
        fn pops_in_key_order_like_a_sort(keys in prop::collection::vec(0u32..50, 0..200), pops in 0usize..100) {
            let mut queue = RunQueue::default();
            let mut model: Vec<(u32, usize)> = Vec::new();
            for (position, &key) in keys.iter().enumerate() {
                queue.push((key, position), position);
                model.push((key, position));
                if position % 3 == 0 && pops > position {
                    model.sort_unstable();
                    let want = model.remove(0);
                    prop_assert_eq!(queue.pop(), Some((want, want.1)));
                }
            }
            model.sort_unstable();
            prop_assert_eq!(queue.len(), model.len());
            for want in model {
                prop_assert_eq!(queue.pop(), Some((want, want.1)));
            }
            prop_assert!(queue.is_empty() && queue.pop().is_none());
        }
    }
}
