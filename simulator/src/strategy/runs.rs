//! [`RunQueue`]: a min-priority queue that is O(1) when keys mostly come
//! in ascending order, as EDF keys and the engine's timers do (a deadline
//! is the arrival plus a budget that is fixed per event type, so each
//! event type's keys ascend, and so do its watchdogs).
//!
//! Items go to the first of up to [`MAX_RUNS`] sorted runs whose last key
//! is ≤ the new key, else to a binary heap. The minimum is the smallest of
//! the run fronts and the heap top. Invariant: every run is sorted
//! ascending by key; equal keys leave in insertion order within a run
//! (EDF keys are unique anyway: they end with the stream position).
//!
//! A run keeps its items [`Packed`]: each as differences from the one
//! before it (varints; a ticket's deadline step in 3 bytes as they are
//! when it is below 2²⁴ ns), a few bytes where consecutive items lie
//! close together (the next deadline, stream position and record of a
//! job), so millions of waiting jobs in sustained overload cost a few
//! bytes each instead of a 32-byte [`Ticket`] or timer.
//!
//! [`Apart`] stands in front of either queue ([`Run`] for a FIFO,
//! [`RunQueue`] by key): an item queued into an empty queue waits apart
//! until taken or joined, so a queue that is nearly always empty (a pool
//! keeping up) costs no queue at all.

use std::cell::Cell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use super::Ticket;
use crate::engine::JobRef;
use crate::varint::{Buffer, Reader, Writer, short_step};

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

/// The most bytes a [`Packed`] value's fields may take (six varints).
pub const PACKED_MAX: usize = 6 * 9;

/// A value a run keeps as its difference from the value before it.
pub trait Packed: Keyed + Copy {
    /// Writes `self` as its difference from `before` (at most
    /// [`PACKED_MAX`] bytes).
    fn pack(&self, before: &Self, writer: &mut Writer<'_>);
    /// Reads what [`pack`](Packed::pack) wrote against `before`.
    fn unpack(before: &Self, reader: &mut Reader<'_>) -> Self;
}

impl Packed for Ticket {
    #[inline(always)]
    fn pack(&self, before: &Self, writer: &mut Writer<'_>) {
        // global_seq less the stream position moves only at a drop.
        let seq_gap = |ticket: &Ticket| ticket.global_seq.wrapping_sub(ticket.index);
        let (index, gap) = ((self.index, before.index), (seq_gap(self), seq_gap(before)));
        // The pair's flag: the deadline's step follows as is, not as a
        // varint (a step a varint would write in as many bytes or more).
        let short = short_step(self.deadline_ns, before.deadline_ns);
        writer.put_pair(index, gap, short);
        writer.put_step(self.deadline_ns, before.deadline_ns, short);
        writer.put_delta(self.job.bits(), before.job.bits());
    }

    #[inline(always)]
    fn unpack(before: &Self, reader: &mut Reader<'_>) -> Self {
        let before_gap = before.global_seq.wrapping_sub(before.index);
        let (index, seq_gap, short) = reader.pair(before.index, before_gap);
        let deadline_ns = reader.step(before.deadline_ns, short);
        Ticket {
            deadline_ns,
            global_seq: seq_gap.wrapping_add(index),
            index,
            job: JobRef::from_bits(reader.delta(before.job.bits())),
        }
    }
}

/// Appends `value`, packed against `before`, to `block`; returns where
/// it begins.
#[inline(always)]
fn pack_onto<V: Packed>(block: &mut Buffer, value: &V, before: &V) -> usize {
    block.append(|writer| value.pack(before, writer))
}

/// Items a [`Run`] holds as they are before it packs them.
pub const PACK_AFTER: usize = 4096;

/// A FIFO queue of [`Packed`] values: as they are while it is short,
/// packed once it holds [`PACK_AFTER`] (until it is empty again), so a
/// short queue costs no packing and a long one a few bytes per item. A
/// [`RunQueue`]'s sorted runs are these, and so is `pool:N`'s queue.
#[derive(Clone, Debug)]
pub struct Run<V> {
    plain: VecDeque<V>,
    packed: PackedRun<V>,
}

impl<V> Default for Run<V> {
    fn default() -> Self {
        Run {
            plain: VecDeque::new(),
            packed: PackedRun::default(),
        }
    }
}

impl<V: Packed> Run<V> {
    /// Items queued.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.plain.len() + self.packed.len
    }

    /// The first item.
    #[inline(always)]
    pub fn front(&self) -> Option<&V> {
        self.plain.front().or(self.packed.front())
    }

    /// The last item.
    #[inline(always)]
    pub fn back(&self) -> Option<&V> {
        self.plain.back().or(self.packed.back())
    }

    /// Queues `value` last.
    #[inline(always)]
    pub fn push_back(&mut self, value: V) {
        if self.packed.len > 0 {
            self.packed.push_back(value);
        } else if self.plain.len() < PACK_AFTER {
            self.plain.push_back(value);
        } else {
            self.pack_plain();
            self.packed.push_back(value);
        }
    }

    /// The run grew long: what is plain is packed.
    #[cold]
    #[inline(never)]
    fn pack_plain(&mut self) {
        for item in self.plain.drain(..) {
            self.packed.push_back(item);
        }
    }

    /// Takes the first item.
    #[inline(always)]
    pub fn pop_front(&mut self) -> Option<V> {
        if self.packed.len == 0 {
            return self.plain.pop_front();
        }
        self.plain.pop_front().or_else(|| self.packed.pop_front())
    }

    /// Changes the last item (not its key).
    fn modify_back(&mut self, change: impl FnOnce(&mut V)) {
        match self.plain.back_mut() {
            Some(back) => change(back),
            None => self.packed.modify_back(change),
        }
    }

    /// Keeps only the items for which `keep` is true (order unchanged).
    fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.plain.retain(&mut keep);
        self.packed.retain(keep);
    }
}

/// A FIFO queue of [`Packed`] values: its front item as is, the later
/// ones packed, each against the one before it, in blocks of
/// [`BLOCK`] bytes (an item never straddles two), so that what was read
/// goes a block at a time without moving what is left.
#[derive(Clone, Debug)]
struct PackedRun<V> {
    front: Option<V>,
    /// The items after the front, packed, read from `head` in the first
    /// block.
    blocks: VecDeque<Buffer>,
    head: usize,
    len: usize,
    /// The last item and the one before it (the last itself when it is
    /// the only one), to pack it again when it changes; where its bytes
    /// start in the last block.
    back: Option<(V, V)>,
    back_at: usize,
    /// A block read to its end, kept for the next one.
    spare: Option<Buffer>,
}

/// Bytes per block of a [`PackedRun`].
const BLOCK: usize = 16 * 1024;

impl<V> Default for PackedRun<V> {
    fn default() -> Self {
        PackedRun {
            front: None,
            blocks: VecDeque::new(),
            head: 0,
            len: 0,
            back: None,
            back_at: 0,
            spare: None,
        }
    }
}

impl<V: Packed> PackedRun<V> {
    #[inline(always)]
    fn front(&self) -> Option<&V> {
        self.front.as_ref()
    }

    #[inline(always)]
    fn back(&self) -> Option<&V> {
        self.back.as_ref().map(|(back, _)| back)
    }

    // Out of line: a short run's plain path stays small where it is
    // inlined (a strategy's `queue`, the timers' push).
    #[inline(never)]
    fn push_back(&mut self, value: V) {
        match self.back {
            Some((back, _)) if self.len > 0 => {
                self.back_at = pack_onto(self.block_with_room(), &value, &back);
                self.back = Some((value, back));
            }
            _ => {
                self.front = Some(value);
                self.back = Some((value, value));
            }
        }
        self.len += 1;
    }

    /// The last block, or a new one if it has no room for an item.
    #[inline(always)]
    fn block_with_room(&mut self) -> &mut Buffer {
        let full = |block: &Buffer| !block.has_room(PACKED_MAX);
        if self.blocks.back().is_none_or(full) {
            let mut block = self.spare.take().unwrap_or_else(|| Buffer::new(BLOCK));
            block.truncate(0);
            self.blocks.push_back(block);
        }
        self.blocks.back_mut().expect("a block")
    }

    #[inline(never)]
    fn pop_front(&mut self) -> Option<V> {
        let item = self.front.take()?;
        self.len -= 1;
        if self.len == 0 {
            self.spare = self.blocks.pop_front().or(self.spare.take());
            self.blocks.clear();
            self.head = 0;
            self.back = None;
            return Some(item);
        }
        if self.head >= self.blocks[0].used() {
            // The first block was read to its end: the next item is in
            // the next one.
            self.spare = self.blocks.pop_front();
            self.head = 0;
        }
        let mut reader = self.blocks[0].reader(self.head);
        self.front = Some(V::unpack(&item, &mut reader));
        self.head = reader.at;
        Some(item)
    }

    /// Changes the last item (not its key).
    fn modify_back(&mut self, change: impl FnOnce(&mut V)) {
        let Some((back, before_back)) = self.back.as_mut() else {
            return;
        };
        change(back);
        match self.blocks.back_mut() {
            Some(block) if self.len > 1 => {
                block.truncate(self.back_at);
                pack_onto(block, back, before_back);
            }
            _ => self.front = Some(*back),
        }
    }

    /// Keeps only the items for which `keep` is true (order unchanged),
    /// packed again into a new run as they are read (the blocks read
    /// go): at most both runs' bytes at once, never the items unpacked.
    fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        let mut kept = PackedRun {
            spare: self.spare.take(),
            ..PackedRun::default()
        };
        while let Some(item) = self.pop_front() {
            if keep(&item) {
                kept.push_back(item);
            }
        }
        *self = kept;
    }
}

/// A queue a [`Apart`] can stand in front of: [`Run`] (FIFO) or
/// [`RunQueue`] (by key).
pub trait Queue {
    /// What it holds.
    type Item;
    /// Whether items leave in the order queued: then a lone item, which
    /// leaves before any queued after it, may stay apart when joined.
    const FIFO: bool;
    /// Items queued.
    fn len(&self) -> usize;
    /// Queues `item`.
    fn push(&mut self, item: Self::Item);
    /// Takes the item that leaves next.
    fn pop(&mut self) -> Option<Self::Item>;
}

impl<V: Packed> Queue for Run<V> {
    type Item = V;
    const FIFO: bool = true;
    #[inline(always)]
    fn len(&self) -> usize {
        Run::len(self)
    }
    #[inline(always)]
    fn push(&mut self, item: V) {
        self.push_back(item)
    }
    #[inline(always)]
    fn pop(&mut self) -> Option<V> {
        self.pop_front()
    }
}

impl<V: Packed> Queue for RunQueue<V> {
    type Item = V;
    const FIFO: bool = false;
    #[inline(always)]
    fn len(&self) -> usize {
        RunQueue::len(self)
    }
    #[inline(always)]
    fn push(&mut self, item: V) {
        RunQueue::push(self, item)
    }
    #[inline(always)]
    fn pop(&mut self) -> Option<V> {
        RunQueue::pop(self)
    }
}

/// A [`Queue`] whose item queued when it is empty waits apart, until it
/// is taken or another is queued (then, by key, both go into the queue;
/// in a FIFO it stays apart, first to leave): a pool that keeps up
/// queues nearly every ticket into an empty queue, and this way it costs
/// no queue.
#[derive(Clone, Debug)]
pub struct Apart<Q: Queue> {
    lone: Option<Q::Item>,
    queue: Q,
}

impl<Q: Queue + Default> Default for Apart<Q> {
    fn default() -> Self {
        Apart {
            lone: None,
            queue: Q::default(),
        }
    }
}

impl<Q: Queue> Apart<Q> {
    /// Items queued (the lone one too).
    #[inline(always)]
    pub fn len(&self) -> usize {
        usize::from(self.lone.is_some()) + self.queue.len()
    }

    /// Queues `item`.
    #[inline(always)]
    pub fn push(&mut self, item: Q::Item) {
        if self.queue.len() == 0 {
            match self.lone.take() {
                None => return self.lone = Some(item),
                // Joined: by key, both go into the queue.
                Some(lone) if !Q::FIFO => self.queue.push(lone),
                lone => self.lone = lone,
            }
        }
        self.queue.push(item);
    }

    /// Takes the item that leaves next: the lone one if there is one.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Q::Item> {
        self.lone.take().or_else(|| self.queue.pop())
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
    runs: Vec<Run<V>>,
    heap: BinaryHeap<Reverse<ByKey<V>>>,
    len: usize,
    /// Where the smallest item is, if known since the last change.
    first: Cell<Option<Option<Place>>>,
    /// The run the last item went to, if it went to a run (it is that
    /// run's back while it is there).
    last: Option<usize>,
}

impl<V: Packed> Default for RunQueue<V> {
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

impl<V: Packed> RunQueue<V> {
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
            let mut run = Run::default();
            run.push_back(value);
            self.runs.push(run);
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

    /// Changes the item [`last_pushed`](RunQueue::last_pushed) with
    /// `change`, which keeps its key (a changed key would break the
    /// order); false if there is no such item.
    pub fn modify_last_pushed(&mut self, change: impl FnOnce(&mut V)) -> bool {
        match self.last.and_then(|run| self.runs.get_mut(run)) {
            Some(run) if run.len() > 0 => {
                run.modify_back(change);
                true
            }
            _ => false,
        }
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
        self.len = self.runs.iter().map(Run::len).sum::<usize>() + self.heap.len();
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

    impl Packed for (u32, usize) {
        fn pack(&self, before: &Self, writer: &mut Writer<'_>) {
            writer.put_delta(u64::from(self.0), u64::from(before.0));
            writer.put_delta(self.1 as u64, before.1 as u64);
        }
        fn unpack(before: &Self, reader: &mut Reader<'_>) -> Self {
            let key = reader.delta(u64::from(before.0)) as u32;
            (key, reader.delta(before.1 as u64) as usize)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn long_mostly_ascending_runs_pack_and_pop_in_key_order(
            steps in prop::collection::vec((0u32..40, prop::bool::weighted(0.002), prop::bool::weighted(0.2)), 0..6 * PACK_AFTER),
        ) {
            // Keys climb by small steps and now and then fall back: a few
            // long runs, packed past PACK_AFTER items, and a heap.
            let mut queue = RunQueue::default();
            let mut model = std::collections::BTreeSet::new();
            let mut key = 1_000u32;
            for (position, &(step, fall, pop)) in steps.iter().enumerate() {
                key = if fall { key.saturating_sub(step * 50) } else { key + step };
                queue.push((key, position));
                model.insert((key, position));
                if pop {
                    prop_assert_eq!(queue.pop(), model.pop_first());
                }
            }
            prop_assert_eq!(queue.len(), model.len());
            while let Some(want) = model.pop_first() {
                prop_assert_eq!(queue.pop(), Some(want));
            }
            prop_assert_eq!(queue.pop(), None);
        }
    }

    proptest! {
        #[test]
        fn pops_in_key_order_like_a_sort(keys in prop::collection::vec(0u32..50, 0..700), pops in 0usize..400) {
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

    proptest! {
        #[test]
        fn apart_keeps_the_order_of_the_queue_behind_it(
            steps in prop::collection::vec(prop::option::of(0u32..20), 0..200),
        ) {
            // Some(key) queues (key, position); None takes one. A FIFO
            // gives them back in the order queued, a run queue by key.
            let mut fifo: Apart<Run<(u32, usize)>> = Apart::default();
            let mut sorted: Apart<RunQueue<(u32, usize)>> = Apart::default();
            let mut in_order = std::collections::VecDeque::new();
            let mut by_key = std::collections::BTreeSet::new();
            for (position, step) in steps.into_iter().enumerate() {
                match step {
                    Some(key) => {
                        fifo.push((key, position));
                        sorted.push((key, position));
                        in_order.push_back((key, position));
                        by_key.insert((key, position));
                    }
                    None => {
                        prop_assert_eq!(fifo.pop(), in_order.pop_front());
                        prop_assert_eq!(sorted.pop(), by_key.pop_first());
                    }
                }
                prop_assert_eq!((fifo.len(), sorted.len()), (in_order.len(), by_key.len()));
            }
        }
    }

    proptest! {
        #[test]
        fn tickets_come_back_from_a_packed_run_exactly(
            tickets in prop::collection::vec(
                (prop_oneof![0u64..1 << 25, any::<u64>()], 0u64..3, prop_oneof![0u64..3, any::<u64>()], any::<u64>()),
                1..300,
            ),
        ) {
            // Deadlines step up by less or more than 2^24 ns, or anywhere
            // (a FIFO pool's run does not ascend); positions and gaps
            // step a little or anywhere; any job.
            let mut run = PackedRun::default();
            let mut model = std::collections::VecDeque::new();
            let mut last = Ticket { deadline_ns: 0, global_seq: 0, index: 0, job: JobRef::from_bits(0) };
            for (step, index_step, seq_step, job) in tickets {
                let index = last.index.wrapping_add(index_step);
                let ticket = Ticket {
                    deadline_ns: last.deadline_ns.wrapping_add(step),
                    global_seq: last.global_seq.wrapping_add(index_step).wrapping_add(seq_step),
                    index,
                    job: JobRef::from_bits(job),
                };
                run.push_back(ticket);
                model.push_back(ticket);
                last = ticket;
            }
            while let Some(want) = model.pop_front() {
                let back = run.pop_front().expect("a ticket");
                prop_assert_eq!(back.edf_key(), want.edf_key());
                prop_assert_eq!((back.global_seq, back.job), (want.global_seq, want.job));
            }
            prop_assert!(run.pop_front().is_none());
        }
    }

    /// A key and a payload that is not part of it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Item(u32, u64);

    impl Keyed for Item {
        type Key = u32;
        fn key(&self) -> u32 {
            self.0
        }
    }

    impl Packed for Item {
        fn pack(&self, before: &Self, writer: &mut Writer<'_>) {
            writer.put_delta(u64::from(self.0), u64::from(before.0));
            writer.put_delta(self.1, before.1);
        }
        fn unpack(before: &Self, reader: &mut Reader<'_>) -> Self {
            let key = reader.delta(u64::from(before.0)) as u32;
            Item(key, reader.delta(before.1))
        }
    }

    #[test]
    fn long_runs_drop_what_they_read_and_the_last_item_can_change() {
        let mut queue = RunQueue::default();
        let mut model = std::collections::VecDeque::new();
        for key in 0..100_000u32 {
            let item = Item(key, u64::from(key) * 1_000_003);
            queue.push(item);
            model.push_back(item);
            if key % 7 == 0 {
                // The payload changes, then its record is packed again.
                let changed = Item(key, u64::MAX - u64::from(key));
                assert!(queue.modify_last_pushed(|last| *last = changed));
                *model.back_mut().unwrap() = changed;
            }
            if key % 3 != 0 {
                assert_eq!(queue.pop(), model.pop_front());
            }
        }
        assert_eq!(queue.last_pushed(), model.back());
        // What the waiting items take packed, and what the run holds: it
        // dropped what it read, but for at most a block's worth, and each
        // block's unused end.
        let mut live = Buffer::new(64 * model.len() + 64);
        for pair in model.make_contiguous().windows(2) {
            pack_onto(&mut live, &pair[1], &pair[0]);
        }
        assert_eq!(queue.runs.len(), 1);
        let blocks = &queue.runs[0].packed.blocks;
        let held: usize = blocks.iter().map(Buffer::used).sum();
        let slack = BLOCK + blocks.len() * (PACKED_MAX + 8);
        assert!(held <= live.used() + slack, "{held} for {}", live.used());
        assert!(held >= live.used());
        while let Some(want) = model.pop_front() {
            assert_eq!(queue.pop(), Some(want));
        }
        assert_eq!(queue.pop(), None);
        assert!(!queue.modify_last_pushed(|_| {}), "nothing left to change");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn a_packed_run_is_a_fifo_across_its_blocks(
            steps in prop::collection::vec((0usize..3_000, 0usize..3_000, any::<u64>(), 0u32..4), 1..8),
        ) {
            // Wide payloads fill a block in about a thousand items; runs
            // of pushes and pops end anywhere in a block, at its end too;
            // some steps keep only some items (none, every other, all).
            let mut run = PackedRun::default();
            let mut model = std::collections::VecDeque::new();
            let mut key = 0u32;
            for (pushes, pops, seed, every) in steps {
                for n in 0..pushes as u64 {
                    key += 1;
                    let item = Item(key, seed.wrapping_mul(n + 1).rotate_left(n as u32));
                    run.push_back(item);
                    model.push_back(item);
                }
                for _ in 0..pops {
                    prop_assert_eq!(run.pop_front(), model.pop_front());
                }
                if every > 0 {
                    let keep = |item: &Item| !item.0.wrapping_add(seed as u32).is_multiple_of(every);
                    run.retain(keep);
                    model.retain(keep);
                }
                prop_assert_eq!(run.len, model.len());
                prop_assert_eq!(run.back(), model.back());
            }
            while let Some(want) = model.pop_front() {
                prop_assert_eq!(run.pop_front(), Some(want));
            }
            prop_assert_eq!(run.pop_front(), None);
        }
    }
}
