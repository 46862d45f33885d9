//! [`Slots`]: the messages in the kernel queue or in the client, one
//! [`Slot`] each, reused once settled.
//!
//! A slot keeps what its message's outcome needs once it is settled, and
//! nothing a running job's thread keeps (start, finish and the worker
//! travel with the handler's phase and the worker). Its four exact times
//! (arrival, deadline, answer, unblocked) are kept as whole nanoseconds in
//! the slot and their fractions aside, in a vector that exists only once
//! a fraction has appeared (processor sharing with `--cores`, dispatch
//! watchdog leeway): without them every time is whole and a slot costs
//! 88 bytes. In sustained overload, jobs queued (in the strategy's queue
//! or the kernel queue) are parked as compact records instead (`parked`),
//! a few bytes each.

mod parked;

use std::ops::{Index, IndexMut};

use esreplay_traces::{Action, EventType};

pub(crate) use parked::JobRef;
use parked::{Claim, Parked};

use super::Time;
use super::{Arriving, Watch};

/// Where a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// In the kernel queue.
    Waiting,
    /// On the handler, being handed off (c_h).
    HandOff,
    /// In the strategy's queue.
    Queued,
    /// Its work runs (handler or worker).
    Running,
    /// Dropped by its watchdog before it started.
    Dropped,
    /// Settled; the slot is free.
    Free,
}

/// A slot's exact times, by position in [`Slot`]'s whole-ns array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum At {
    /// a'_i.
    Arrival = 0,
    /// d'_i (AUTH with a deadline).
    Deadline = 1,
    /// When the client answered, before ρ.
    Answer = 2,
    /// r'_i.
    Unblocked = 3,
}

/// Slot flags: which optional times are set, and two facts.
pub(super) const HAS_DEADLINE: u8 = 1;
pub(super) const ANSWERED: u8 = 2;
pub(super) const UNBLOCKED: u8 = 4;
pub(super) const DEFAULTED: u8 = 8;
const AUTH: u8 = 16;
/// A watchdog was armed for it.
pub(super) const WATCHED: u8 = 32;

/// One message in the kernel queue or in the client.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    /// Stream position.
    pub(super) index: u64,
    pub(super) global_seq: u64,
    pub(super) recorded_arrival_ns: u64,
    pub(super) sigma_ns: u64,
    /// s_i until the handler takes it, then the planned work.
    pub(super) work_ns: u64,
    /// h_i rounded up (0 until taken).
    pub(super) taken_ns: u64,
    /// The whole nanoseconds of the times, by [`At`]; until the message
    /// is unblocked, `ns[At::Unblocked]` keeps its kernel deadline
    /// timer's place in the order of arming instead (fail modes).
    ns: [u64; 4],
    pub(super) thread: u32,
    pub(super) event: EventType,
    pub(super) stage: Stage,
    /// [`HAS_DEADLINE`], [`ANSWERED`], [`UNBLOCKED`], [`DEFAULTED`],
    /// [`WATCHED`], and whether the message is AUTH.
    pub(super) flags: u8,
}

impl Slot {
    /// `released`, waiting in the kernel queue with `work_ns` of work
    /// (its times are set by [`Slots::alloc`]).
    pub(super) fn waiting(released: &Arriving<'_>, work_ns: u64) -> Slot {
        let message = released.message;
        Slot {
            index: released.index,
            global_seq: message.global_seq,
            recorded_arrival_ns: message.arrival_ns,
            sigma_ns: released.sigma_ns,
            work_ns,
            taken_ns: 0,
            ns: [0; 4],
            thread: released.thread,
            event: message.event,
            stage: Stage::Waiting,
            flags: if message.action == Action::Auth {
                AUTH
            } else {
                0
            },
        }
    }

    #[inline(always)]
    pub(super) fn is_auth(&self) -> bool {
        self.flags & AUTH != 0
    }

    #[inline(always)]
    pub(super) fn action(&self) -> Action {
        if self.is_auth() {
            Action::Auth
        } else {
            Action::Notify
        }
    }

    #[inline(always)]
    pub(super) fn defaulted(&self) -> bool {
        self.flags & DEFAULTED != 0
    }

    /// Whether the optional time behind `flag` is set.
    #[inline(always)]
    pub(super) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

impl Slot {
    /// A message waiting in the kernel queue (or the handler's line),
    /// as its record keeps it: its h, not set yet, is its arrival, the
    /// form of a job taken on arrival, which a record writes in the
    /// fewest bytes ([`waiting_again`](Slot::waiting_again) undoes it).
    fn parked_as_taken(&mut self) {
        debug_assert!(self.stage == Stage::Waiting && self.taken_ns == 0);
        self.taken_ns = self.ns[At::Arrival as usize];
    }

    /// A waiting message back from its record.
    fn waiting_again(&mut self) {
        self.stage = Stage::Waiting;
        self.taken_ns = 0;
    }
}

/// `slot` with its arrival and deadline set, as [`Slots::alloc`] keeps
/// it, and the fractions of its times.
#[inline(always)]
fn placed(mut slot: Slot, arrival: Time, deadline: Option<Time>) -> (Slot, [u64; 4]) {
    let (arrival_ns, arrival_fraction) = arrival.parts();
    let (deadline_ns, deadline_fraction) = deadline.map_or((0, 0), Time::parts);
    slot.ns[At::Arrival as usize] = arrival_ns;
    slot.ns[At::Deadline as usize] = deadline_ns;
    slot.flags |= if deadline.is_some() { HAS_DEADLINE } else { 0 };
    (slot, [arrival_fraction, deadline_fraction, 0, 0])
}

/// What a parked job's ticket brought back ([`Slots::claim`]).
pub(super) enum Returned {
    /// The job, back in this slot, runs; its watchdog and its pending
    /// kernel deadline timer (its place in the order of arming) are armed
    /// again.
    Run(u32, Option<Watch>, Option<u64>),
    /// Its watchdog had dropped it.
    Dropped,
}

/// A free slot that has never held a message.
pub(super) const VACANT: Slot = Slot {
    index: 0,
    global_seq: 0,
    recorded_arrival_ns: 0,
    sigma_ns: 0,
    work_ns: 0,
    taken_ns: 0,
    ns: [0; 4],
    thread: 0,
    event: EventType(0),
    stage: Stage::Free,
    flags: 0,
};

/// The slots, the free ones to reuse, the fractions of their times, and
/// the parked jobs.
#[derive(Debug, Default)]
pub(super) struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// By slot, the fractions of its times by [`At`]; empty until a time
    /// with a fraction is set, then as long as needed (older slots' times
    /// were whole).
    fractions: Vec<[u64; 4]>,
    /// Queued jobs moved out of their slots.
    parked: Parked,
}

impl Slots {
    /// Takes a free slot for `slot`, arriving at `arrival`, with deadline
    /// `deadline`; returns its id.
    #[inline(always)]
    pub(super) fn alloc(&mut self, slot: Slot, arrival: Time, deadline: Option<Time>) -> u32 {
        let (slot, fractions) = placed(slot, arrival, deadline);
        let id = self.vacant();
        self.slots[id as usize] = slot;
        self.set_fractions(id, fractions);
        id
    }

    /// Parks `slot`, waiting in the kernel queue behind the handler's
    /// line (arriving at `arrival`, with deadline `deadline`), without
    /// ever taking a slot for it: see [`park_waiting`](Slots::park_waiting)
    /// (it comes back with [`unpark_waiting`](Slots::unpark_waiting) if it
    /// enters the kernel queue, else with [`unpark_line`](Slots::unpark_line)).
    pub(super) fn park_line(
        &mut self,
        slot: Slot,
        arrival: Time,
        deadline: Option<Time>,
    ) -> JobRef {
        let (mut slot, fractions) = placed(slot, arrival, deadline);
        slot.parked_as_taken();
        self.parked.park(&slot, &fractions, None, None)
    }

    /// The message of the handler's line parked as `job`, back: its slot
    /// as it was given to [`park_line`](Slots::park_line), its arrival and
    /// its deadline.
    pub(super) fn unpark_line(&mut self, job: JobRef) -> (Slot, Time, Option<Time>) {
        let mut slot = VACANT;
        let (fractions, _, _) = self.parked.take_back(job, &mut slot);
        let time = |at: At| Time::from_parts(slot.ns[at as usize], fractions[at as usize]);
        let (arrival, deadline) = (time(At::Arrival), time(At::Deadline));
        let deadline = slot.has(HAS_DEADLINE).then_some(deadline);
        slot.waiting_again();
        (slot, arrival, deadline)
    }

    /// Moves the queued job of slot `id` (with its watchdog, if armed,
    /// and room for its unblocking if its kernel deadline timer is
    /// `pending`) into a compact record and frees the slot; returns where
    /// the job is now.
    pub(super) fn park(
        &mut self,
        id: u32,
        watchdog: Option<Watch>,
        pending: Option<u64>,
    ) -> JobRef {
        let fractions = self.fractions.get(id as usize).copied().unwrap_or([0; 4]);
        let slot = &self.slots[id as usize];
        let job = self.parked.park(slot, &fractions, watchdog, pending);
        self.free(id);
        job
    }

    /// Moves slot `id`, waiting in the kernel queue, into a compact
    /// record like [`park`](Slots::park) (see [`Slot::parked_as_taken`]).
    pub(super) fn park_waiting(&mut self, id: u32, pending: Option<u64>) -> JobRef {
        self.slots[id as usize].parked_as_taken();
        self.park(id, None, pending)
    }

    /// Parked `job`, at the kernel queue's front, back into a slot: its
    /// id, and the place in the order of arming of its kernel deadline
    /// timer if that is still pending (to arm again for the slot).
    pub(super) fn unpark_waiting(&mut self, job: JobRef) -> (u32, Option<u64>) {
        let id = self.vacant();
        let slot = &mut self.slots[id as usize];
        let (fractions, _, deadline_armed) = self.parked.take_back(job, slot);
        slot.waiting_again();
        self.unparked(id, fractions, deadline_armed);
        (id, deadline_armed)
    }

    /// Parked `job`, at stream position `index`, is unblocked by the
    /// kernel at `at`, its deadline d', if it is queued there with its
    /// deadline timer pending; for a job of the closed loop, its slot as
    /// it is now and its arrival (`Some(None)` for another job).
    pub(super) fn unblock_parked(
        &mut self,
        job: JobRef,
        index: u64,
        at: Time,
    ) -> Option<Option<(Slot, Time)>> {
        let Some((slot, fractions)) = self.parked.unblock(job, index)? else {
            return Some(None);
        };
        let time = |at: At| Time::from_parts(slot.ns[at as usize], fractions[at as usize]);
        debug_assert_eq!(
            at,
            time(At::Deadline),
            "a kernel deadline timer fires at d'"
        );
        Some(Some((slot, time(At::Arrival))))
    }

    /// Keeps the place in the order of arming of slot `id`'s kernel
    /// deadline timer (fail modes) until it is unblocked, in the unused
    /// whole ns of its unblocking (see [`Slot`]).
    pub(super) fn set_deadline_armed(&mut self, id: u32, armed: u64) {
        self.slots[id as usize].ns[At::Unblocked as usize] = armed;
    }

    /// What [`set_deadline_armed`](Slots::set_deadline_armed) kept.
    pub(super) fn deadline_armed(&self, id: u32) -> u64 {
        self.slots[id as usize].ns[At::Unblocked as usize]
    }

    /// The ticket of parked `job`, for stream position `index`, came
    /// back: a queued job leaves for a worker (back into a slot: its id,
    /// and the watchdog to arm again for it); `None` for a ticket that
    /// came back before. See [`Parked::claim`].
    pub(super) fn claim(&mut self, job: JobRef, index: u64) -> Option<Returned> {
        let id = self.vacant();
        match self.parked.claim(job, index, &mut self.slots[id as usize]) {
            Some(Claim::Queued((fractions, watchdog, deadline_armed))) => {
                self.unparked(id, fractions, deadline_armed);
                Some(Returned::Run(id, watchdog, deadline_armed))
            }
            other => {
                self.free(id);
                other.map(|_| Returned::Dropped)
            }
        }
    }

    /// What a record gave back besides slot `id`'s fields, set: the
    /// fractions of its times and its pending kernel deadline timer's
    /// place in the order of arming.
    fn unparked(&mut self, id: u32, fractions: [u64; 4], deadline_armed: Option<u64>) {
        self.set_fractions(id, fractions);
        if let Some(armed) = deadline_armed {
            self.set_deadline_armed(id, armed);
        }
    }

    /// Parked `job` (queued) is dropped by its watchdog: back into a slot
    /// (id returned) until it is settled; its record stays until its
    /// ticket comes back ([`Slots::claim`]).
    pub(super) fn unpark_dropped(&mut self, job: JobRef) -> u32 {
        let id = self.vacant();
        let (fractions, _, _) = self.parked.drop_job(job, &mut self.slots[id as usize]);
        self.set_fractions(id, fractions);
        id
    }

    /// The id the next [`alloc`](Slots::alloc) will take.
    #[inline(always)]
    pub(super) fn next_vacant(&self) -> u32 {
        self.free.last().copied().unwrap_or(self.slots.len() as u32)
    }

    /// A free slot's id (a new one if none is free).
    #[inline(always)]
    fn vacant(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.slots.push(VACANT);
            (self.slots.len() - 1) as u32
        })
    }

    /// Sets the fractions of slot `id`'s times, by [`At`], if it has any
    /// or others have.
    #[inline(always)]
    fn set_fractions(&mut self, id: u32, fractions: [u64; 4]) {
        if fractions != [0; 4] || !self.fractions.is_empty() {
            for at in [At::Arrival, At::Deadline, At::Answer, At::Unblocked] {
                self.set_fraction(id, at, fractions[at as usize]);
            }
        }
    }

    /// Frees slot `id` (its message is settled).
    #[inline(always)]
    pub(super) fn free(&mut self, id: u32) {
        self.slots[id as usize].stage = Stage::Free;
        self.free.push(id);
    }

    /// Messages held (in slots or parked).
    pub(super) fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len() + self.parked.queued()
    }

    /// Slot `id`, if it exists.
    pub(super) fn get(&self, id: u32) -> Option<&Slot> {
        self.slots.get(id as usize)
    }

    /// Whether slot `id` still holds the message at stream position `index`.
    #[inline(always)]
    pub(super) fn holds(&self, id: u32, index: u64) -> bool {
        let slot = &self.slots[id as usize];
        slot.stage != Stage::Free && slot.index == index
    }

    /// Whether `job` is the message at stream position `index`, not
    /// settled, and without `flag`.
    pub(super) fn live(&self, job: JobRef, index: u64, flag: u8) -> bool {
        match job.as_slot() {
            Some(id) => self.holds(id, index) && !self.slots[id as usize].has(flag),
            None => self.parked.live(job, index, flag),
        }
    }

    /// Time `at` of slot `id` (set before).
    #[inline(always)]
    pub(super) fn time(&self, id: u32, at: At) -> Time {
        let ns = self.slots[id as usize].ns[at as usize];
        let fraction = self
            .fractions
            .get(id as usize)
            .map_or(0, |f| f[at as usize]);
        Time::from_parts(ns, fraction)
    }

    /// Sets time `at` of slot `id`.
    #[inline(always)]
    pub(super) fn set(&mut self, id: u32, at: At, time: Time) {
        let (ns, fraction) = time.parts();
        self.slots[id as usize].ns[at as usize] = ns;
        if fraction != 0 || !self.fractions.is_empty() {
            self.set_fraction(id, at, fraction);
        }
    }

    fn set_fraction(&mut self, id: u32, at: At, fraction: u64) {
        if self.fractions.len() <= id as usize {
            self.fractions
                .resize(self.slots.len().max(id as usize + 1), [0; 4]);
        }
        self.fractions[id as usize][at as usize] = fraction;
    }

    /// Time `at` of slot `id` if its `flag` says it is set.
    #[inline(always)]
    pub(super) fn optional(&self, id: u32, at: At, flag: u8) -> Option<Time> {
        self.slots[id as usize].has(flag).then(|| self.time(id, at))
    }

    /// d'_i of slot `id` (AUTH with a deadline).
    #[inline(always)]
    pub(super) fn deadline(&self, id: u32) -> Option<Time> {
        self.optional(id, At::Deadline, HAS_DEADLINE)
    }
}

impl Index<u32> for Slots {
    type Output = Slot;
    #[inline]
    fn index(&self, id: u32) -> &Slot {
        &self.slots[id as usize]
    }
}

impl IndexMut<u32> for Slots {
    #[inline]
    fn index_mut(&mut self, id: u32) -> &mut Slot {
        &mut self.slots[id as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_job_costs_88_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 88);
    }

    #[test]
    fn fractions_appear_when_needed_and_reused_slots_forget_them() {
        let mut slots = Slots::default();
        let message = esreplay_traces::Message::new(0, EventType(0), Action::Auth, 0);
        let released = Arriving {
            message: &message,
            index: 0,
            arrival: Time::ZERO,
            thread: 0,
            sigma_ns: 0,
        };
        let slot = || Slot::waiting(&released, 1);
        let a = slots.alloc(slot(), Time::from_ns(5), None);
        assert!(slots.fractions.is_empty(), "whole times need no fractions");
        let half = Time::from_ns(7) + Time::from_raw(crate::engine::time::SCALE / 2);
        let b = slots.alloc(slot(), half, Some(Time::from_ns(9)));
        assert_eq!(slots.time(a, At::Arrival), Time::from_ns(5));
        assert_eq!(slots.time(b, At::Arrival), half);
        assert_eq!(slots.deadline(b), Some(Time::from_ns(9)));
        assert_eq!(slots.deadline(a), None);
        slots.free(b);
        let c = slots.alloc(slot(), Time::from_ns(3), None);
        assert_eq!(c, b);
        assert_eq!(slots.time(c, At::Arrival), Time::from_ns(3));
        assert!(!slots.holds(a, 1) && slots.holds(a, 0));
    }
}
