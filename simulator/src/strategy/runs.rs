//! [`RunQueue`]: a min-priority queue that is O(1) when keys mostly come
//! in ascending order, as EDF keys and the engine's timers do (a deadline
//! is the arrival plus a budget that is fixed per event type, so each
//! event type's keys ascend, and so do its watchdogs).
//!
//! Items go to the first of up to [`MAX_RUNS`] sorted runs (deques) whose
//! last key is ≤ the new key, else to a binary heap. The minimum is the
//! smallest of the run fronts and the heap top. Invariant: every run is
//! sorted ascending by key; equal keys leave in insertion order within a
//! run (EDF keys are unique anyway: they end with the stream position).

use std::cell::Cell;
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
/// item costs only its own size. Where the smallest item is is found once
/// after each change, when first asked, so that repeated
/// [`peek`](RunQueue::peek)s cost O(1) (the engine peeks its timers after
/// every event).
pub struct RunQueue<V> {
    runs: Vec<VecDeque<V>>,
    heap: BinaryHeap<Reverse<ByKey<V>>>,
    len: usize,
    /// Where the smallest item is, if known since the last change.
    first: Cell<Option<Option<Place>>>,
    /// The run the last item went to, if it went to a run (it is that
    /// run's back while it is there).
    last: Option<usize>,
}

impl<V: Keyed> Default for RunQueue<V> {
    fn default() -> Self {
        RunQueue {
            runs: Vec::new(),
            heap: BinaryHeap::new(),
            len: 0,
            first: Cell::new(Some(None)),
            last: None,
        }
    }
}

impl<V: Keyed> RunQueue<V> {
    /// Items queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Queues `value` under its key. A known front stays known when the
    /// new key is larger (the common case of ascending keys); into a queue
    /// known to be empty, the new item is the front, in the first run.
    #[inline]
    pub fn push(&mut self, value: V) {
        let key = value.key();
        let stays = match self.first.get() {
            Some(Some(_)) => self.peek().is_some_and(|front| front.key() < key),
            Some(None) if !self.runs.is_empty() => {
                self.runs[0].push_back(value);
                self.last = Some(0);
                self.len = 1;
                self.first.set(Some(Some(Place::Run(0))));
                return;
            }
            _ => false,
        };
        if !stays {
            self.first.set(None);
        }
        self.len += 1;
        for (index, run) in self.runs.iter_mut().enumerate() {
            if run.back().is_none_or(|last| last.key() <= key) {
                run.push_back(value);
                self.last = Some(index);
                return;
            }
        }
        if self.runs.len() < MAX_RUNS {
            self.last = Some(self.runs.len());
            self.runs.push(VecDeque::from([value]));
        } else {
            self.last = None;
            self.heap.push(Reverse(ByKey(value)));
        }
    }

    /// The item pushed last, if it went to a run and is still queued
    /// (`None` after a [`retain`](RunQueue::retain)).
    pub fn last_pushed(&self) -> Option<&V> {
        self.runs.get(self.last?)?.back()
    }

    /// [`last_pushed`](RunQueue::last_pushed), to change what is not its
    /// key (a changed key would break the order).
    pub fn last_pushed_mut(&mut self) -> Option<&mut V> {
        self.runs.get_mut(self.last?)?.back_mut()
    }

    /// Removes the item with the smallest key.
    #[inline]
    pub fn pop(&mut self) -> Option<V> {
        let item = match self.first()? {
            Place::Heap => self.heap.pop().map(|Reverse(ByKey(value))| value),
            Place::Run(index) => self.runs[index].pop_front(),
        };
        self.len -= usize::from(item.is_some());
        // Known when empty: the next push needs no search.
        self.first
            .set(if self.len == 0 { Some(None) } else { None });
        item
    }

    /// The item with the smallest key.
    #[inline]
    pub fn peek(&self) -> Option<&V> {
        if self.len == 0 {
            // Empty (the engine's timers, most of the time): no search.
            return None;
        }
        match self.first()? {
            Place::Heap => self.heap.peek().map(|Reverse(ByKey(value))| value),
            Place::Run(index) => self.runs[index].front(),
        }
    }

    /// Keeps only the items for which `keep` is true (order unchanged).
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        for run in &mut self.runs {
            run.retain(&mut keep);
        }
        self.heap.retain(|Reverse(ByKey(value))| keep(value));
        self.last = None;
        self.len = self.runs.iter().map(VecDeque::len).sum::<usize>() + self.heap.len();
        self.first.set(None);
    }

    /// Where the smallest item is, found if not known.
    #[inline]
    fn first(&self) -> Option<Place> {
        if let Some(known) = self.first.get() {
            return known;
        }
        let found = self.find_first();
        self.first.set(Some(found));
        found
    }

    /// Where the item with the smallest key is (`None`: empty). Among
    /// equal keys a run's front wins over the heap, the first run over
    /// later ones.
    fn find_first(&self) -> Option<Place> {
        if self.len == 0 {
            return None;
        }
        let mut best: Option<(V::Key, usize)> = None;
        for (index, run) in self.runs.iter().enumerate() {
            if let Some(front) = run.front() {
                let key = front.key();
                if best.is_none_or(|(best_key, _)| key < best_key) {
                    best = Some((key, index));
                }
            }
        }
        match (self.heap.peek(), best) {
            (Some(Reverse(top)), Some((key, _))) if top.0.key() < key => Some(Place::Heap),
            (Some(_), None) => Some(Place::Heap),
            (_, best) => best.map(|(_, index)| Place::Run(index)),
        }
    }
}

/// Where a [`RunQueue`]'s smallest item is.
#[derive(Clone, Copy)]
enum Place {
    Heap,
    Run(usize),
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
                    prop_assert_eq!(queue.peek(), Some(&want));
                    prop_assert_eq!(queue.pop(), Some(want));
                }
                if position % 17 == 16 {
                    queue.retain(|&(key, _)| key % 5 != 0);
                    model.retain(|&(key, _)| key % 5 != 0);
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
