//! [`Parked`]: queued jobs kept as compact records while a long queue
//! waits for the workers or the handler (sustained overload), instead of
//! in 88-byte slots.
//!
//! A job parked here is waiting in the strategy's queue, or in the
//! kernel queue or the handler's line. It leaves when its ticket comes
//! back and a worker takes it ([`Parked::claim`]), when it moves up
//! behind the front of its queue or line ([`Parked::take_back`]), or
//! when its watchdog drops it
//! ([`Parked::drop_job`]); the one change while it
//! waits is the kernel unblocking it at its deadline under a fail mode
//! ([`Parked::unblock`], a flag set in place). A record keeps every field
//! of its [`Slot`] exactly, as varints ([`crate::varint`]) of differences
//! from its page's first record or between fields that lie close
//! together (a job's wait in the kernel queue, its budget, `global_seq`
//! against the stream position, ...), fields that rarely differ from
//! the first record's two to a byte ([`Writer::put_pair`]), or not at
//! all when all of them are the first record's (a header bit says so);
//! its stream position and h, which grow through a page, in 6 bytes read
//! with one load while they are near the first record's ([`NEAR`]):
//! about 9 bytes for a whole-nanosecond job of open replay.
//!
//! Records are appended to 64 KiB pages, one lane of pages per event
//! type (jobs of one type leave in about the order they came), and are
//! addressed by a byte offset that is never reused ([`JobRef`]): a ticket
//! returned twice, or after its page went, is recognised. A record stays
//! until its ticket comes back (a dropped job's ticket is still in the
//! strategy's queue), and a page goes when its last record has.

use std::collections::VecDeque;

use esreplay_traces::EventType;

use super::{ANSWERED, At, HAS_DEADLINE, Slot, Stage, UNBLOCKED, VACANT};
use crate::engine::Watch;
use crate::engine::time::Time;
use crate::varint::{Buffer, Reader, Writer};

/// Bytes per page (a power of two).
const PAGE_BITS: u32 = 16;
const PAGE: usize = 1 << PAGE_BITS;
/// A record's raw head: its header and the slot's flags (and [`NEAR`]).
const HEAD: usize = 2;
/// No record is longer (its head and at most 23 varints of ≤ 9: 14
/// fields and three pairs of up to three).
const MAX_RECORD: usize = HEAD + 23 * 9;

/// In the slot's flags byte (which uses the low six bits): the record's
/// stream position and h follow its page's first record's by less than
/// 2¹⁶ and 2³² and are written as those differences in 2 and 4 bytes as
/// they are, read with one load (as varints they take about as many).
const NEAR: u8 = 128;
/// Bytes of a [`NEAR`] record's stream position and h.
const NEAR_INDEX: usize = 2;
const NEAR_BYTES: usize = NEAR_INDEX + 4;

/// Record header, byte 0: its state (the low two bits) and what follows.
const QUEUED: u8 = 1;
const DROPPED: u8 = 2;
const STATE: u8 = 3;
/// The job came through the closed loop (thread, σ, recorded arrival).
const CLOSED: u8 = 4;
/// Its times have fractions of a nanosecond.
const FRACTIONS: u8 = 8;
/// Its watchdog's time follows (it is re-armed when the job leaves).
const WATCHDOG: u8 = 16;
/// Its watchdog's time has a fraction of a nanosecond.
const WATCH_FRACTION: u8 = 32;
/// Without [`WATCHDOG`]: it has a watchdog, whole, whose lead is the
/// page's first record's (a guard's margin): only its place in the order
/// of arming follows.
const WATCH_LIKE: u8 = WATCH_FRACTION;
/// Its kernel deadline timer is pending (fail modes; its place in the
/// order of arming follows). When the timer fires, the kernel unblocks
/// the job at its deadline d': the slot's flags in the record say so,
/// set in place ([`Parked::unblock`]), and the time is d'.
const PENDING: u8 = 64;
/// Its event type, `global_seq` gap, work and budget are its page's
/// first record's and it waited for the handler not at all: the fields
/// of [`Alike`] are not written (most jobs of a lane in overload).
const LIKE: u8 = 128;

/// Where a job is: a slot, or a record in [`Parked`]. Tickets and timers
/// hold one, so a job can move from its slot into a record while queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JobRef(u64);

const PARKED_BIT: u64 = 1 << 63;

impl JobRef {
    /// The job in slot `id`.
    #[inline(always)]
    pub(crate) const fn slot(id: u32) -> JobRef {
        JobRef(id as u64)
    }

    /// Its slot, if it is not parked.
    #[inline(always)]
    pub(crate) const fn as_slot(self) -> Option<u32> {
        if self.0 & PARKED_BIT == 0 {
            Some(self.0 as u32)
        } else {
            None
        }
    }

    /// All of it, as one number (for packing).
    #[inline(always)]
    pub(crate) const fn bits(self) -> u64 {
        self.0
    }

    /// What [`bits`](JobRef::bits) gave.
    #[inline(always)]
    pub(crate) const fn from_bits(bits: u64) -> JobRef {
        JobRef(bits)
    }

    const fn parked(lane: usize, offset: u64) -> JobRef {
        JobRef(PARKED_BIT | (lane as u64) << LANE_SHIFT | offset)
    }

    /// Its lane, if parked.
    const fn lane(self) -> usize {
        ((self.0 & !PARKED_BIT) >> LANE_SHIFT) as usize
    }

    /// Its offset in its lane, if parked.
    const fn offset(self) -> u64 {
        self.0 & ((1 << LANE_SHIFT) - 1)
    }
}

/// Lanes of pages: records of one event type share a lane, so that a
/// page is not held by a few jobs of a type that waits far longer (an
/// EXEC's budget against an OPEN's) after the rest of its jobs left.
const LANES: usize = 8;
const LANE_SHIFT: u32 = 60;

/// What a parked job's record gives back besides its slot: the
/// fractions of its times, its watchdog, and the place in the order of
/// arming of its kernel deadline timer if that is still pending.
pub(crate) type Unparked = ([u64; 4], Option<Watch>, Option<u64>);

/// What came back with a ticket ([`Parked::claim`]).
pub(crate) enum Claim {
    /// The job was queued: its slot's fields, to run it.
    Queued(Unparked),
    /// Its watchdog had dropped it.
    Dropped,
}

/// What a record says of its job.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParkedState {
    /// Waiting for a worker.
    Queued,
    /// Its watchdog dropped it; its ticket has not come back yet.
    Dropped,
}

/// One page of records.
#[derive(Debug)]
struct Page {
    bytes: Buffer,
    /// Records whose ticket has not come back.
    held: u32,
    /// What its records are written against: its first record's fields.
    base: Base,
}

impl Page {
    /// The header byte of the record at `offset`.
    fn header(&self, offset: usize) -> u8 {
        self.bytes.bytes()[offset]
    }

    /// The slot's flags in the record at `offset`.
    fn flags(&self, offset: usize) -> u8 {
        self.bytes.bytes()[offset + 1]
    }

    /// Sets the state of the record at `offset` (0: gone).
    fn set_state(&mut self, offset: usize, state: u8) {
        let header = &mut self.bytes.bytes_mut()[offset];
        *header = (*header & !STATE) | state;
    }
}

/// A page's first record's stream position, event type, h, work, budget
/// d' − a', watchdog lead (see [`watch_lead`]) and the watchdog's place
/// in the order of arming less the stream position. Records are differences from
/// these, one byte for a field where a page's jobs are alike (one event
/// type per lane, so one budget; one cost).
#[derive(Clone, Copy, Debug)]
struct Base {
    index: u64,
    event: u64,
    seq_gap: u64,
    taken_ns: u64,
    work_ns: u64,
    budget_ns: u64,
    lead_ns: u64,
    armed_lead: u64,
    deadline_lead: u64,
}

impl Base {
    fn of(slot: &Slot, watchdog: Option<Watch>, pending: Option<u64>) -> Base {
        let arrival = slot.ns[At::Arrival as usize];
        Base {
            index: slot.index,
            event: u64::from(slot.event.0),
            seq_gap: seq_gap(slot),
            taken_ns: slot.taken_ns,
            work_ns: slot.work_ns,
            budget_ns: slot.ns[At::Deadline as usize].wrapping_sub(arrival),
            lead_ns: watchdog.map_or(0, |(at, _)| watch_lead(slot, at.parts().0)),
            armed_lead: watchdog.map_or(0, |(_, armed)| armed.wrapping_sub(slot.index)),
            deadline_lead: pending.map_or(0, |armed| armed.wrapping_sub(slot.index)),
        }
    }
}

/// `global_seq` less the stream position: the same for every job until
/// a message is dropped or reordered.
fn seq_gap(slot: &Slot) -> u64 {
    slot.global_seq.wrapping_sub(slot.index)
}

/// A watchdog's time less the job's deadline (its h without one): the
/// guard's margin, the same for every job of a guard.
fn watch_lead(slot: &Slot, at_ns: u64) -> u64 {
    at_ns.wrapping_sub(watch_reference(slot))
}

fn watch_reference(slot: &Slot) -> u64 {
    if slot.has(HAS_DEADLINE) {
        slot.ns[At::Deadline as usize]
    } else {
        slot.taken_ns
    }
}

/// The parked jobs.
#[derive(Debug, Default)]
pub(crate) struct Parked {
    lanes: [Lane; LANES],
    /// Records of jobs still queued (not dropped, not claimed).
    queued: usize,
}

/// One lane's pages of records.
#[derive(Debug, Default)]
struct Lane {
    /// Pages by number from `first`; `None` once all their records went.
    pages: VecDeque<Option<Page>>,
    first: u64,
    /// A page's buffer kept for the next page.
    spare: Option<Buffer>,
}

impl Parked {
    /// Jobs parked and still queued.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Parks `slot` (queued, times whole but for `fractions`, the
    /// watchdog armed for it if any); returns where it is.
    pub(crate) fn park(
        &mut self,
        slot: &Slot,
        fractions: &[u64; 4],
        watchdog: Option<Watch>,
        pending: Option<u64>,
    ) -> JobRef {
        let lane_number = usize::from(slot.event.0) % LANES;
        let lane = &mut self.lanes[lane_number];
        let number = lane.first + lane.pages.len() as u64 - u64::from(lane.has_room());
        let page = lane.page_with_room(slot, watchdog, pending);
        // The record goes where the padding of the one before begins.
        let offset = encode(slot, fractions, watchdog, pending, page);
        page.held += 1;
        self.queued += 1;
        JobRef::parked(lane_number, (number << PAGE_BITS) | offset as u64)
    }

    /// The state of the record at `job` if it holds stream position
    /// `index` and its ticket has not come back.
    #[cfg(test)]
    pub(crate) fn state(&self, job: JobRef, index: u64) -> Option<ParkedState> {
        let (page, offset) = self.lanes[job.lane()].find(job)?;
        let state = match page.header(offset) & STATE {
            QUEUED => ParkedState::Queued,
            DROPPED => ParkedState::Dropped,
            _ => return None,
        };
        (decode_index(page, offset) == index).then_some(state)
    }

    /// The ticket of `job`, for stream position `index`, came back from
    /// the strategy: a queued job leaves for a worker (its slot's fields
    /// are returned), a dropped one's record goes; `None` for a ticket
    /// that came back before (or whose record holds another position).
    pub(crate) fn claim(&mut self, job: JobRef, index: u64, slot: &mut Slot) -> Option<Claim> {
        self.claim_if(job, slot, |position| position == index)
    }

    /// [`claim`](Self::claim) of a record whose stream position passes
    /// `expected`.
    #[inline(always)]
    fn claim_if(
        &mut self,
        job: JobRef,
        slot: &mut Slot,
        expected: impl Fn(u64) -> bool,
    ) -> Option<Claim> {
        let lane = &mut self.lanes[job.lane()];
        let (number, offset) = lane.locate(job)?;
        let page = lane.pages[number].as_ref()?;
        let claim = match page.header(offset) & STATE {
            QUEUED => {
                let rest = decode(page, offset, slot);
                if !expected(slot.index) {
                    return None;
                }
                self.queued -= 1;
                Claim::Queued(rest)
            }
            DROPPED if expected(decode_index(page, offset)) => Claim::Dropped,
            _ => return None,
        };
        lane.release(number, offset);
        Some(claim)
    }

    /// The job at `job`, parked while it waits in the kernel queue or
    /// the handler's line, moves up behind its front: its slot's fields,
    /// its record gone. The queue holds its only reference, so no stream
    /// position is checked (none came with it).
    pub(crate) fn take_back(&mut self, job: JobRef, slot: &mut Slot) -> Unparked {
        match self.claim_if(job, slot, |_| true) {
            Some(Claim::Queued(rest)) => rest,
            _ => unreachable!("a job in the kernel queue has no watchdog to drop it"),
        }
    }

    /// Whether the record at `job` is queued and its slot's flags lack
    /// `flag`. The engine asks only for a timer of the job, which names
    /// its stream position `index` (a debug build checks it): a record's
    /// place is never reused and its state says when it went, so the
    /// position need not be read.
    pub(crate) fn live(&self, job: JobRef, index: u64, flag: u8) -> bool {
        self.lanes[job.lane()]
            .find(job)
            .is_some_and(|(page, offset)| {
                let live = page.header(offset) & STATE == QUEUED && page.flags(offset) & flag == 0;
                debug_assert!(!live || decode_index(page, offset) == index, "{index}");
                live
            })
    }

    /// The queued job at `job`, for stream position `index`, whose kernel
    /// deadline timer is pending, is unblocked at its deadline d': its
    /// record says so, in place. `None` if it is not such a job; else,
    /// for a job of the closed loop (a thread may wait on it), its slot as
    /// it is now and the fractions of its times.
    pub(crate) fn unblock(&mut self, job: JobRef, index: u64) -> Option<Option<(Slot, [u64; 4])>> {
        let (page, offset) = self.lanes[job.lane()].find_mut(job)?;
        let header = page.header(offset);
        let pending = header & STATE == QUEUED && header & PENDING != 0;
        if !pending || page.flags(offset) & UNBLOCKED != 0 || decode_index(page, offset) != index {
            return None;
        }
        page.bytes.bytes_mut()[offset + 1] |= UNBLOCKED;
        if header & CLOSED == 0 {
            return Some(None);
        }
        let mut slot = VACANT;
        let (fractions, _, _) = decode(page, offset, &mut slot);
        Some(Some((slot, fractions)))
    }

    /// The queued job at `job` is dropped by its watchdog: its slot's
    /// fields; the record stays (as dropped) until its ticket comes back.
    pub(crate) fn drop_job(&mut self, job: JobRef, slot: &mut Slot) -> Unparked {
        let (page, offset) = self.lanes[job.lane()]
            .find_mut(job)
            .expect("a parked job's record exists");
        let parts = decode(page, offset, slot);
        page.set_state(offset, DROPPED);
        self.queued -= 1;
        parts
    }
}

impl Lane {
    /// Whether the last page is there and has room for a record.
    fn has_room(&self) -> bool {
        self.pages
            .back()
            .and_then(Option::as_ref)
            .is_some_and(|page| page.bytes.has_room(MAX_RECORD))
    }

    /// The last page, or a new one when it has no room for a record.
    fn page_with_room(
        &mut self,
        slot: &Slot,
        watchdog: Option<Watch>,
        pending: Option<u64>,
    ) -> &mut Page {
        if !self.has_room() {
            let mut bytes = self.spare.take().unwrap_or_else(|| Buffer::new(PAGE));
            bytes.truncate(0);
            self.pages.push_back(Some(Page {
                bytes,
                held: 0,
                base: Base::of(slot, watchdog, pending),
            }));
        }
        self.pages
            .back_mut()
            .and_then(Option::as_mut)
            .expect("the last page has room")
    }

    /// The record at `offset` of page `number` (by position in `pages`)
    /// goes, and its page when it was the page's last.
    fn release(&mut self, number: usize, offset: usize) {
        let Some(page) = self.pages[number].as_mut() else {
            return;
        };
        page.set_state(offset, 0);
        page.held -= 1;
        if page.held > 0 {
            return;
        }
        // Its last record went (the next record starts a new page).
        if let Some(page) = self.pages[number].take() {
            self.spare = Some(page.bytes);
        }
        while self.pages.front().is_some_and(Option::is_none) {
            self.pages.pop_front();
            self.first += 1;
        }
    }

    /// The page of `job` (by position in `pages`) and where in it its
    /// record is.
    fn locate(&self, job: JobRef) -> Option<(usize, usize)> {
        let number = (job.offset() >> PAGE_BITS).checked_sub(self.first)? as usize;
        let page = self.pages.get(number)?.as_ref()?;
        let offset = (job.offset() & (PAGE as u64 - 1)) as usize;
        (offset < page.bytes.used()).then_some((number, offset))
    }

    fn find(&self, job: JobRef) -> Option<(&Page, usize)> {
        let (number, offset) = self.locate(job)?;
        Some((self.pages[number].as_ref()?, offset))
    }

    fn find_mut(&mut self, job: JobRef) -> Option<(&mut Page, usize)> {
        let (number, offset) = self.locate(job)?;
        Some((self.pages[number].as_mut()?, offset))
    }
}

/// Appends the record of `slot` (with the fractions of its times) to
/// `page`; returns where it begins.
fn encode(
    slot: &Slot,
    fractions: &[u64; 4],
    watchdog: Option<Watch>,
    pending: Option<u64>,
    page: &mut Page,
) -> usize {
    let head = Head {
        watchdog,
        pending,
        has_fractions: fractions.iter().any(|&f| f != 0),
    };
    let Page { bytes, base, .. } = page;
    bytes.append(|record| write(record, slot, fractions, &head, base))
}

/// What a record's header says beyond its slot's flags.
struct Head {
    watchdog: Option<Watch>,
    pending: Option<u64>,
    has_fractions: bool,
}

/// Writes the record of `slot` against `base`.
fn write(record: &mut Writer<'_>, slot: &Slot, fractions: &[u64; 4], head: &Head, base: &Base) {
    let ns = &slot.ns;
    let closed = slot.thread != super::super::NO_THREAD
        || slot.sigma_ns != 0
        || slot.recorded_arrival_ns != ns[At::Arrival as usize];
    let (watchdog, has_fractions) = (head.watchdog, head.has_fractions);
    let alike = Alike::of(slot, base);
    let like = alike.is(base, slot.taken_ns);
    let header = QUEUED
        | if closed { CLOSED } else { 0 }
        | if like { LIKE } else { 0 }
        | if has_fractions { FRACTIONS } else { 0 }
        | if head.pending.is_some() { PENDING } else { 0 }
        | watchdog.map_or(0, |(at, _)| watch_form(slot, at, base));
    let arrival = ns[At::Arrival as usize];
    record.byte(header);
    debug_assert_eq!(slot.flags & NEAR, 0, "not a slot's flag");
    let (index, taken) = (
        slot.index.wrapping_sub(base.index),
        slot.taken_ns.wrapping_sub(base.taken_ns),
    );
    if index < 1 << (8 * NEAR_INDEX) && taken < 1 << 32 {
        record.byte(slot.flags | NEAR);
        record.fixed(index | taken << (8 * NEAR_INDEX), NEAR_BYTES);
    } else {
        record.byte(slot.flags);
        record.put_delta(slot.index, base.index);
        record.put_delta(slot.taken_ns, base.taken_ns);
    }
    if !like {
        alike.write(record, base, slot.taken_ns);
    }
    for (at, flag) in [(At::Answer, ANSWERED), (At::Unblocked, UNBLOCKED)] {
        if slot.has(flag) {
            record.put_delta(ns[at as usize], arrival);
        }
    }
    if closed {
        record.put_delta(slot.recorded_arrival_ns, arrival);
        record.put(slot.sigma_ns);
        record.put(u64::from(slot.thread.wrapping_add(1)));
    }
    if has_fractions {
        for &fraction in fractions {
            record.put(fraction);
        }
    }
    if let Some((at, armed)) = watchdog {
        let (at_ns, fraction) = at.parts();
        let armed_lead = (armed.wrapping_sub(slot.index), base.armed_lead);
        if header & WATCHDOG == 0 {
            record.put_delta(armed_lead.0, armed_lead.1);
        } else {
            record.put_pair((watch_lead(slot, at_ns), base.lead_ns), armed_lead, false);
        }
        if fraction != 0 {
            record.put(fraction);
        }
    }
    if let Some(armed) = head.pending {
        record.put_delta(armed.wrapping_sub(slot.index), base.deadline_lead);
    }
}

/// The header bits of a record's watchdog at `at`.
fn watch_form(slot: &Slot, at: Time, base: &Base) -> u8 {
    match at.parts() {
        (at_ns, 0) if watch_lead(slot, at_ns) == base.lead_ns => WATCH_LIKE,
        (_, 0) => WATCHDOG,
        _ => WATCHDOG | WATCH_FRACTION,
    }
}

/// The watchdog of a record whose header is `header`, for `slot`.
#[inline(always)]
fn read_watchdog(reader: &mut Reader<'_>, header: u8, base: &Base, slot: &Slot) -> Option<Watch> {
    let form = header & (WATCHDOG | WATCH_FRACTION);
    let (lead, armed_lead) = match form {
        0 => return None,
        WATCH_LIKE => (base.lead_ns, reader.delta(base.armed_lead)),
        _ => {
            let (lead, armed_lead, _) = reader.pair(base.lead_ns, base.armed_lead);
            (lead, armed_lead)
        }
    };
    let at_ns = lead.wrapping_add(watch_reference(slot));
    let armed = armed_lead.wrapping_add(slot.index);
    let fraction = match form {
        WATCHDOG | WATCH_LIKE => 0,
        _ => reader.get(),
    };
    Some((Time::from_parts(at_ns, fraction), armed))
}

/// The fields of a record that are nearly always its page's first
/// record's: skipped when all are ([`LIKE`]).
#[derive(PartialEq, Eq)]
struct Alike {
    event: u64,
    seq_gap: u64,
    /// a', against h (equal unless the job waited in the kernel queue).
    arrival: u64,
    work_ns: u64,
    /// d' − a'; without a deadline, the base's.
    budget_ns: u64,
}

impl Alike {
    fn of(slot: &Slot, base: &Base) -> Alike {
        let arrival = slot.ns[At::Arrival as usize];
        let budget_ns = match slot.has(HAS_DEADLINE) {
            true => slot.ns[At::Deadline as usize].wrapping_sub(arrival),
            false => base.budget_ns,
        };
        Alike {
            event: u64::from(slot.event.0),
            seq_gap: seq_gap(slot),
            arrival,
            work_ns: slot.work_ns,
            budget_ns,
        }
    }

    /// The base's, for a job taken at `taken_ns`.
    #[inline(always)]
    fn base(base: &Base, taken_ns: u64) -> Alike {
        Alike {
            event: base.event,
            seq_gap: base.seq_gap,
            arrival: taken_ns,
            work_ns: base.work_ns,
            budget_ns: base.budget_ns,
        }
    }

    /// Whether these are the base's for a job taken at `taken_ns`.
    #[inline(always)]
    fn is(&self, base: &Base, taken_ns: u64) -> bool {
        *self == Alike::base(base, taken_ns)
    }

    #[inline(always)]
    fn write(&self, record: &mut Writer<'_>, base: &Base, taken_ns: u64) {
        record.put_pair(
            (self.event, base.event),
            (self.seq_gap, base.seq_gap),
            false,
        );
        record.put_delta(self.arrival, taken_ns);
        let work = (self.work_ns, base.work_ns);
        record.put_pair(work, (self.budget_ns, base.budget_ns), false);
    }

    #[inline(always)]
    fn read(reader: &mut Reader<'_>, base: &Base, taken_ns: u64) -> Alike {
        let (event, seq_gap, _) = reader.pair(base.event, base.seq_gap);
        let arrival = reader.delta(taken_ns);
        let (work_ns, budget_ns, _) = reader.pair(base.work_ns, base.budget_ns);
        Alike {
            event,
            seq_gap,
            arrival,
            work_ns,
            budget_ns,
        }
    }
}

/// The stream position of the record at `offset`.
fn decode_index(page: &Page, offset: usize) -> u64 {
    let mut reader = page.bytes.reader(offset + HEAD);
    read_place(&mut reader, page.flags(offset), &page.base).0
}

/// The stream position and h of a record whose flags byte is `flags`.
#[inline(always)]
fn read_place(reader: &mut Reader<'_>, flags: u8, base: &Base) -> (u64, u64) {
    if flags & NEAR != 0 {
        let near = reader.fixed(NEAR_BYTES);
        let index = near & ((1 << (8 * NEAR_INDEX)) - 1);
        let taken = near >> (8 * NEAR_INDEX);
        return (
            base.index.wrapping_add(index),
            base.taken_ns.wrapping_add(taken),
        );
    }
    (reader.delta(base.index), reader.delta(base.taken_ns))
}

/// Writes the slot of the record at `offset` into `slot`; returns the
/// fractions of its times and its watchdog.
fn decode(page: &Page, offset: usize, slot: &mut Slot) -> Unparked {
    let (header, flags) = (page.header(offset), page.flags(offset));
    let mut reader = page.bytes.reader(offset + HEAD);
    let base = &page.base;
    let (index, taken_ns) = read_place(&mut reader, flags, base);
    let flags = flags & !NEAR;
    let alike = match header & LIKE {
        0 => Alike::read(&mut reader, base, taken_ns),
        _ => Alike::base(base, taken_ns),
    };
    let (event, global_seq) = (
        EventType(alike.event as u16),
        alike.seq_gap.wrapping_add(index),
    );
    let arrival = alike.arrival;
    let mut ns = [arrival, 0, 0, 0];
    if flags & HAS_DEADLINE != 0 {
        ns[At::Deadline as usize] = arrival.wrapping_add(alike.budget_ns);
    }
    for (at, flag) in [(At::Answer, ANSWERED), (At::Unblocked, UNBLOCKED)] {
        if flags & flag != 0 && !(at == At::Unblocked && header & PENDING != 0) {
            ns[at as usize] = reader.delta(arrival);
        }
    }
    let unblocked_at_deadline = header & PENDING != 0 && flags & UNBLOCKED != 0;
    if unblocked_at_deadline {
        // Unblocked by the kernel while parked: at d'.
        ns[At::Unblocked as usize] = ns[At::Deadline as usize];
    }
    let (recorded_arrival_ns, sigma_ns, thread) = if header & CLOSED != 0 {
        let recorded = reader.delta(arrival);
        let sigma = reader.get();
        (recorded, sigma, (reader.get() as u32).wrapping_sub(1))
    } else {
        (arrival, 0, super::super::NO_THREAD)
    };
    let mut fractions = [0; 4];
    if header & FRACTIONS != 0 {
        for fraction in &mut fractions {
            *fraction = reader.get();
        }
    }
    if unblocked_at_deadline {
        fractions[At::Unblocked as usize] = fractions[At::Deadline as usize];
    }
    *slot = Slot {
        index,
        global_seq,
        recorded_arrival_ns,
        sigma_ns,
        work_ns: alike.work_ns,
        taken_ns,
        ns,
        thread,
        event,
        stage: Stage::Queued,
        flags,
    };
    let watchdog = read_watchdog(&mut reader, header, base, slot);
    let deadline_armed = (header & PENDING != 0)
        .then(|| reader.delta(base.deadline_lead).wrapping_add(slot.index))
        .filter(|_| flags & UNBLOCKED == 0);
    (fractions, watchdog, deadline_armed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A queued slot from arbitrary fields (times whole; fractions aside).
    fn slot(fields: (u64, u64, u64, u64, u64, u64, [u64; 4], u32, u16, u8)) -> Slot {
        let (index, global_seq, recorded, sigma, work, taken, ns, thread, event, flags) = fields;
        Slot {
            index,
            global_seq,
            recorded_arrival_ns: recorded,
            sigma_ns: sigma,
            work_ns: work,
            taken_ns: taken,
            ns,
            thread,
            event: EventType(event),
            stage: Stage::Queued,
            flags,
        }
    }

    fn fields() -> impl Strategy<Value = (u64, u64, u64, u64, u64, u64, [u64; 4], u32, u16, u8)> {
        // Near values (the common case) and any values.
        let near = || prop_oneof![0u64..1_000, any::<u64>()];
        (
            near(),
            near(),
            near(),
            near(),
            near(),
            near(),
            [near(), near(), near(), near()],
            prop_oneof![Just(u32::MAX), any::<u32>()],
            any::<u16>(),
            0u8..64,
        )
    }

    /// Compares what a record gives back, field by field (a slot's
    /// unused times are not kept: only those its flags say are set).
    fn assert_same(back: &Slot, want: &Slot) {
        let mut want = *want;
        for (at, flag) in [
            (At::Deadline, HAS_DEADLINE),
            (At::Answer, ANSWERED),
            (At::Unblocked, UNBLOCKED),
        ] {
            if !want.has(flag) {
                want.ns[at as usize] = 0;
            }
        }
        assert_eq!(format!("{back:?}"), format!("{want:?}"));
    }

    proptest! {
        #[test]
        fn a_record_gives_back_every_field_exactly(
            jobs in prop::collection::vec(
                (fields(), prop::array::uniform4(prop_oneof![Just(0u64), any::<u64>()]), prop::option::of((any::<u64>(), any::<u64>(), any::<u64>()))),
                1..50,
            ),
        ) {
            let mut parked = Parked::default();
            let refs: Vec<JobRef> = jobs
                .iter()
                .map(|(f, fractions, watchdog)| {
                    let watchdog = watchdog.map(|(ns, frac, armed)| (Time::from_parts(ns, frac % 1000), armed));
                    parked.park(&slot(*f), fractions, watchdog, None)
                })
                .collect();
            prop_assert_eq!(parked.queued(), jobs.len());
            for (job, (f, fractions, watchdog)) in refs.iter().zip(&jobs) {
                let want = slot(*f);
                prop_assert_eq!(parked.state(*job, want.index), Some(ParkedState::Queued));
                let mut back = queued(0);
                let Some(Claim::Queued((back_fractions, back_watchdog, _))) = parked.claim(*job, want.index, &mut back) else {
                    panic!("a queued job");
                };
                assert_same(&back, &want);
                prop_assert_eq!(&back_fractions, fractions);
                let watchdog = watchdog.map(|(ns, frac, armed)| (Time::from_parts(ns, frac % 1000), armed));
                prop_assert_eq!(back_watchdog, watchdog);
                prop_assert_eq!(parked.state(*job, want.index), None, "taken once");
            }
            prop_assert_eq!(parked.queued(), 0);
        }
    }

    proptest! {
        #[test]
        fn a_record_like_its_page_s_first_is_shorter_and_gives_back_every_field(
            changes in prop::collection::vec((0usize..7, 1u64..1_000, any::<bool>()), 1..40),
        ) {
            // Jobs like the first (taken later, further on in the stream),
            // some with one field changed: only those write it. Some are
            // watched, at the first's margin (only their place in the
            // order of arming is written) or not (field 6).
            let mut first = queued(0);
            first.flags |= HAS_DEADLINE;
            first.ns = [10, 60, 0, 0];
            first.recorded_arrival_ns = 10;
            let mut parked = Parked::default();
            let watch = |at: u64, index: u64| (Time::from_ns(at), index + 3);
            let watchdog = Some(watch(50, 0));
            let mut jobs = vec![(parked.park(&first, &[0; 4], watchdog, None), first, watchdog)];
            for (n, &(field, by, watched)) in changes.iter().enumerate() {
                let mut job = first;
                (job.index, job.global_seq, job.taken_ns) = (n as u64 + 1, n as u64 + 1, 10);
                job.ns[At::Arrival as usize] = 10;
                match field {
                    0 => job.event = EventType(1 + by as u16 * 8),
                    1 => job.global_seq += by,
                    2 => job.ns[At::Arrival as usize] -= 1 + by % 10,
                    3 => job.work_ns += by,
                    4 => job.ns[At::Deadline as usize] += by,
                    _ => {}
                }
                // Another margin, by 4 ns or more: not two to a byte.
                let at = if field == 6 { 54 + by } else { 50 };
                let watchdog = watched.then(|| watch(at, job.index));
                jobs.push((parked.park(&job, &[0; 4], watchdog, None), job, watchdog));
            }
            // Each record's length, from where the next one begins.
            let used = parked.lanes[1].pages.back().and_then(Option::as_ref).map(|page| page.bytes.used());
            let mut ends: Vec<u64> = jobs[1..].iter().map(|(job, ..)| job.offset()).collect();
            ends.push(used.expect("one page") as u64);
            for ((&end, (job, ..)), &(field, _, watched)) in ends.iter().skip(1).zip(&jobs[1..]).zip(&changes) {
                let length = end - job.offset();
                // Its head, its position and h (near the first's: in 6
                // bytes), and the watchdog's place in the order of arming;
                // the rest only when a field differs.
                let like = field == 5 || (field == 6 && !watched);
                let short = 8 + u64::from(watched);
                prop_assert_eq!(length == short, like, "field {}: {} bytes", field, length);
            }
            for (job, want, watchdog) in &jobs {
                let mut back = queued(0);
                let claimed = parked.claim(*job, want.index, &mut back);
                let Some(Claim::Queued((_, back_watchdog, _))) = claimed else {
                    panic!("a queued job");
                };
                assert_same(&back, want);
                prop_assert_eq!(back_watchdog, *watchdog);
            }
        }
    }

    fn queued(index: u64) -> Slot {
        slot((index, index, 0, 0, 5, 10, [0; 4], u32::MAX, 1, 0))
    }

    #[test]
    fn a_dropped_job_keeps_its_record_until_its_ticket_comes_back() {
        let mut parked = Parked::default();
        let mut scratch = queued(0);
        let job = parked.park(&queued(7), &[0; 4], None, None);
        assert_eq!(parked.state(job, 8), None, "another stream position");
        let mut slot = queued(0);
        parked.drop_job(job, &mut slot);
        assert_eq!(slot.index, 7);
        assert_eq!(parked.queued(), 0);
        assert_eq!(parked.state(job, 7), Some(ParkedState::Dropped));
        assert!(
            parked.claim(job, 8, &mut scratch).is_none(),
            "another stream position"
        );
        assert!(matches!(
            parked.claim(job, 7, &mut scratch),
            Some(Claim::Dropped)
        ));
        assert_eq!(parked.state(job, 7), None);
        assert!(
            parked.claim(job, 7, &mut scratch).is_none(),
            "a ticket back twice"
        );
    }

    #[test]
    fn pages_go_when_their_records_have_and_offsets_are_never_reused() {
        let mut parked = Parked::default();
        let mut scratch = queued(0);
        let first: Vec<JobRef> = (0..20_000)
            .map(|i| parked.park(&queued(i), &[0; 4], None, None))
            .collect();
        let pages = parked.lanes[1].pages.len();
        assert!(pages > 2, "{pages} pages");
        for (index, &job) in first.iter().enumerate() {
            assert!(parked.claim(job, index as u64, &mut scratch).is_some());
        }
        assert!(parked.lanes[1].pages.is_empty(), "every page went");
        let later = parked.park(&queued(20_000), &[0; 4], None, None);
        assert!(later.offset() > first.last().unwrap().offset());
        assert_eq!(
            parked.state(first[0], 0),
            None,
            "an old ticket is recognised"
        );
        // A page whose records are not all gone stays, with its neighbours'
        // pages after it.
        let kept = parked.park(&queued(20_001), &[0; 4], None, None);
        let more: Vec<JobRef> = (0..10_000)
            .map(|i| parked.park(&queued(30_000 + i), &[0; 4], None, None))
            .collect();
        for (index, &job) in more.iter().enumerate() {
            assert!(
                parked
                    .claim(job, 30_000 + index as u64, &mut scratch)
                    .is_some()
            );
        }
        assert_eq!(parked.state(kept, 20_001), Some(ParkedState::Queued));
        assert!(
            matches!(
                parked.claim(kept, 20_001, &mut scratch),
                Some(Claim::Queued(_))
            ) && scratch.index == 20_001
        );
    }

    #[test]
    fn a_type_that_waits_longer_holds_only_its_own_pages() {
        let mut parked = Parked::default();
        let mut scratch = queued(0);
        let mut open = Vec::new();
        let mut exec = Vec::new();
        for index in 0..40_000u64 {
            let mut slot = queued(index);
            slot.event = EventType(index.is_multiple_of(10).into());
            let job = parked.park(&slot, &[0; 4], None, None);
            if index.is_multiple_of(10) {
                exec.push((job, index))
            } else {
                open.push((job, index))
            };
        }
        for &(job, index) in &open {
            assert!(parked.claim(job, index, &mut scratch).is_some());
        }
        let pages = |lane: usize| parked.lanes[lane].pages.iter().flatten().count();
        assert_eq!(pages(0), 0, "the OPENs' pages went");
        assert!(pages(1) > 0, "the EXECs' pages stay");
        assert_eq!(parked.queued(), exec.len());
    }

    #[test]
    fn a_kernel_deadline_pending_while_parked_comes_back_as_it_went() {
        let mut parked = Parked::default();
        let mut scratch = queued(0);
        let mut slot = queued(3);
        slot.flags |= HAS_DEADLINE;
        slot.ns[At::Deadline as usize] = 500;
        let fractions = [0, 7, 0, 0];
        let waiting = parked.park(&slot, &fractions, None, Some(42));
        let unblocked = parked.park(&queued(4), &[0; 4], None, None);
        let parked_at_deadline = parked.park(&slot, &fractions, None, Some(43));
        // Still pending: it comes back with the timer to arm again.
        let back = parked.claim(waiting, 3, &mut scratch);
        assert!(matches!(back, Some(Claim::Queued((_, None, Some(42))))));
        assert!(!scratch.has(UNBLOCKED));
        // Not pending: nothing to unblock.
        assert!(parked.unblock(unblocked, 4).is_none());
        // Unblocked while parked: at its deadline, with its fraction.
        assert!(
            parked.unblock(parked_at_deadline, 4).is_none(),
            "another position"
        );
        assert!(parked.live(parked_at_deadline, 3, UNBLOCKED));
        let open = parked.unblock(parked_at_deadline, 3).expect("pending");
        assert!(open.is_none(), "no thread waits on a job of open replay");
        assert!(parked.unblock(parked_at_deadline, 3).is_none(), "once");
        assert!(!parked.live(parked_at_deadline, 3, UNBLOCKED));
        assert!(parked.live(parked_at_deadline, 3, ANSWERED));
        let back = parked.claim(parked_at_deadline, 3, &mut scratch);
        let Some(Claim::Queued((back_fractions, None, None))) = back else {
            panic!("queued, its timer fired");
        };
        assert!(scratch.has(UNBLOCKED));
        assert_eq!(scratch.ns[At::Unblocked as usize], 500);
        assert_eq!(back_fractions, [0, 7, 0, 7]);
    }
}
