//! [`Parked`]: queued jobs kept as compact records while a long queue
//! waits for the workers (sustained overload), instead of in 88-byte
//! slots.
//!
//! A job parked here is waiting in the strategy's queue and nothing
//! changes it until it leaves: its worker takes it ([`Parked::take`]) or
//! its watchdog drops it ([`Parked::drop_job`]). A record keeps every
//! field of its [`Slot`] exactly, as LEB128 varints of differences
//! between fields that lie close together (a job's wait in the kernel
//! queue, its budget, `global_seq` against the stream position, ...),
//! 12–20 bytes for a whole-nanosecond job of open replay.
//!
//! Records are appended to 64 KiB pages in the order jobs park and are
//! addressed by a byte offset that is never reused ([`JobRef`]): a ticket
//! returned twice, or after its page went, is recognised. A record stays
//! until its ticket comes back (a dropped job's ticket is still in the
//! strategy's queue), and a page goes when its last record has.

use std::collections::VecDeque;

use esreplay_traces::EventType;

use super::{ANSWERED, At, HAS_DEADLINE, Slot, Stage, UNBLOCKED};
use crate::engine::time::Time;

/// Bytes per page (a power of two).
const PAGE_BITS: u32 = 16;
const PAGE: usize = 1 << PAGE_BITS;
/// No record is longer (2 header bytes and at most 17 varints of ≤ 10).
const MAX_RECORD: usize = 2 + 17 * 10;

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

    const fn parked(offset: u64) -> JobRef {
        JobRef(offset | PARKED_BIT)
    }

    const fn offset(self) -> u64 {
        self.0 & !PARKED_BIT
    }
}

/// A parked job's slot, the fractions of its times and its watchdog.
pub(crate) type Unparked = (Slot, [u64; 4], Option<Time>);

/// What a record says of its job.
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
    bytes: Vec<u8>,
    /// Records whose ticket has not come back.
    held: u32,
    /// The first record's stream position and h (records are relative).
    base_index: u64,
    base_taken_ns: u64,
}

/// The parked jobs.
#[derive(Debug, Default)]
pub(crate) struct Parked {
    /// Pages by number from `first`; `None` once all their records went.
    pages: VecDeque<Option<Page>>,
    first: u64,
    /// Records in state [`ParkedState::Queued`].
    queued: usize,
    /// A page's buffer kept for the next page.
    spare: Option<Vec<u8>>,
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
        watchdog: Option<Time>,
    ) -> JobRef {
        let number = self.first + self.pages.len() as u64 - u64::from(self.has_room());
        let page = self.page_with_room(slot);
        let offset = page.bytes.len();
        encode(slot, fractions, watchdog, page);
        page.held += 1;
        self.queued += 1;
        JobRef::parked((number << PAGE_BITS) | offset as u64)
    }

    /// Whether the last page is there and has room for a record.
    fn has_room(&self) -> bool {
        self.pages
            .back()
            .and_then(Option::as_ref)
            .is_some_and(|page| PAGE - page.bytes.len() >= MAX_RECORD)
    }

    /// The last page, or a new one when it has no room for a record.
    fn page_with_room(&mut self, slot: &Slot) -> &mut Page {
        if !self.has_room() {
            let mut bytes = self.spare.take().unwrap_or_default();
            bytes.clear();
            bytes.reserve_exact(PAGE);
            self.pages.push_back(Some(Page {
                bytes,
                held: 0,
                base_index: slot.index,
                base_taken_ns: slot.taken_ns,
            }));
        }
        self.pages
            .back_mut()
            .and_then(Option::as_mut)
            .expect("the last page has room")
    }

    /// The state of the record at `job` if it holds stream position
    /// `index` and its ticket has not come back.
    pub(crate) fn state(&self, job: JobRef, index: u64) -> Option<ParkedState> {
        let (page, offset) = self.find(job)?;
        let state = match page.bytes[offset] & STATE {
            QUEUED => ParkedState::Queued,
            DROPPED => ParkedState::Dropped,
            _ => return None,
        };
        (decode_index(page, offset) == index).then_some(state)
    }

    /// The queued job at `job` leaves for a worker: its slot's fields,
    /// and the record goes.
    pub(crate) fn take(&mut self, job: JobRef) -> Unparked {
        let parts = self.decode(job);
        self.queued -= 1;
        self.release(job);
        parts
    }

    /// The queued job at `job` is dropped by its watchdog: its slot's
    /// fields; the record stays (as dropped) until its ticket comes back.
    pub(crate) fn drop_job(&mut self, job: JobRef) -> Unparked {
        let parts = self.decode(job);
        self.queued -= 1;
        if let Some((page, offset)) = self.find_mut(job) {
            page.bytes[offset] = (page.bytes[offset] & !STATE) | DROPPED;
        }
        parts
    }

    /// The ticket of the record at `job` came back: the record goes, and
    /// its page when it was the page's last.
    pub(crate) fn release(&mut self, job: JobRef) {
        let Some((page, offset)) = self.find_mut(job) else {
            return;
        };
        page.bytes[offset] &= !STATE;
        page.held -= 1;
        if page.held > 0 {
            return;
        }
        // Its last record went (the next record starts a new page).
        let number = ((job.offset() >> PAGE_BITS) - self.first) as usize;
        if let Some(page) = self.pages[number].take() {
            self.spare = Some(page.bytes);
        }
        while self.pages.front().is_some_and(Option::is_none) {
            self.pages.pop_front();
            self.first += 1;
        }
    }

    fn decode(&self, job: JobRef) -> Unparked {
        let (page, offset) = self.find(job).expect("a parked job's record exists");
        decode(page, offset)
    }

    fn find(&self, job: JobRef) -> Option<(&Page, usize)> {
        let number = (job.offset() >> PAGE_BITS).checked_sub(self.first)?;
        let page = self.pages.get(number as usize)?.as_ref()?;
        let offset = (job.offset() & (PAGE as u64 - 1)) as usize;
        (offset < page.bytes.len()).then_some((page, offset))
    }

    fn find_mut(&mut self, job: JobRef) -> Option<(&mut Page, usize)> {
        let number = (job.offset() >> PAGE_BITS).checked_sub(self.first)?;
        let page = self.pages.get_mut(number as usize)?.as_mut()?;
        let offset = (job.offset() & (PAGE as u64 - 1)) as usize;
        (offset < page.bytes.len()).then_some((page, offset))
    }
}

/// `value` as a LEB128 varint.
#[inline(always)]
fn put(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push(value as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// `value − base` (wrapping) as a zigzag varint: small when they are close.
#[inline(always)]
fn put_delta(bytes: &mut Vec<u8>, value: u64, base: u64) {
    let delta = value.wrapping_sub(base) as i64;
    put(bytes, ((delta << 1) ^ (delta >> 63)) as u64);
}

/// Reads what [`put`] and [`put_delta`] wrote (records are only ever
/// read where they were written).
struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Reader<'_> {
    #[inline(always)]
    fn get(&mut self) -> u64 {
        let mut value = 0;
        let mut shift = 0;
        loop {
            let byte = self.bytes[self.at];
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return value;
            }
            shift += 7;
        }
    }

    #[inline(always)]
    fn delta(&mut self, base: u64) -> u64 {
        let zigzag = self.get();
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        base.wrapping_add(delta as u64)
    }
}

/// Appends the record of `slot` (with the fractions of its times) to
/// `page`.
fn encode(slot: &Slot, fractions: &[u64; 4], watchdog: Option<Time>, page: &mut Page) {
    let ns = &slot.ns;
    let closed = slot.thread != super::super::NO_THREAD
        || slot.sigma_ns != 0
        || slot.recorded_arrival_ns != ns[At::Arrival as usize];
    let has_fractions = fractions.iter().any(|&f| f != 0);
    let header = QUEUED
        | if closed { CLOSED } else { 0 }
        | if has_fractions { FRACTIONS } else { 0 }
        | if watchdog.is_some() { WATCHDOG } else { 0 };
    let arrival = ns[At::Arrival as usize];
    let bytes = &mut page.bytes;
    bytes.push(header);
    bytes.push(slot.flags);
    put_delta(bytes, slot.index, page.base_index);
    put_delta(bytes, slot.global_seq, slot.index);
    put_delta(bytes, slot.taken_ns, page.base_taken_ns);
    put_delta(bytes, arrival, slot.taken_ns);
    put(bytes, slot.work_ns);
    put(bytes, u64::from(slot.event.0));
    for (at, flag) in [
        (At::Deadline, HAS_DEADLINE),
        (At::Answer, ANSWERED),
        (At::Unblocked, UNBLOCKED),
    ] {
        if slot.has(flag) {
            put_delta(bytes, ns[at as usize], arrival);
        }
    }
    if closed {
        put_delta(bytes, slot.recorded_arrival_ns, arrival);
        put(bytes, slot.sigma_ns);
        put(bytes, u64::from(slot.thread.wrapping_add(1)));
    }
    if has_fractions {
        for &fraction in fractions {
            put(bytes, fraction);
        }
    }
    if let Some(at) = watchdog {
        let (at_ns, fraction) = at.parts();
        put_delta(bytes, at_ns, slot.taken_ns);
        put(bytes, fraction);
    }
}

/// The stream position of the record at `offset`.
fn decode_index(page: &Page, offset: usize) -> u64 {
    let mut reader = Reader {
        bytes: &page.bytes,
        at: offset + 2,
    };
    reader.delta(page.base_index)
}

/// The slot and the fractions of its times of the record at `offset`.
fn decode(page: &Page, offset: usize) -> Unparked {
    let header = page.bytes[offset];
    let flags = page.bytes[offset + 1];
    let mut reader = Reader {
        bytes: &page.bytes,
        at: offset + 2,
    };
    let index = reader.delta(page.base_index);
    let global_seq = reader.delta(index);
    let taken_ns = reader.delta(page.base_taken_ns);
    let arrival = reader.delta(taken_ns);
    let work_ns = reader.get();
    let event = EventType(reader.get() as u16);
    let mut ns = [arrival, 0, 0, 0];
    for (at, flag) in [
        (At::Deadline, HAS_DEADLINE),
        (At::Answer, ANSWERED),
        (At::Unblocked, UNBLOCKED),
    ] {
        if flags & flag != 0 {
            ns[at as usize] = reader.delta(arrival);
        }
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
    let watchdog = (header & WATCHDOG != 0).then(|| {
        let at_ns = reader.delta(taken_ns);
        Time::from_parts(at_ns, reader.get())
    });
    let slot = Slot {
        index,
        global_seq,
        recorded_arrival_ns,
        sigma_ns,
        work_ns,
        taken_ns,
        ns,
        thread,
        event,
        stage: Stage::Queued,
        flags,
    };
    (slot, fractions, watchdog)
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
            any::<u8>(),
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
                (fields(), prop::array::uniform4(prop_oneof![Just(0u64), any::<u64>()]), prop::option::of((any::<u64>(), any::<u64>()))),
                1..50,
            ),
        ) {
            let mut parked = Parked::default();
            let refs: Vec<JobRef> = jobs
                .iter()
                .map(|(f, fractions, watchdog)| {
                    let watchdog = watchdog.map(|(ns, frac)| Time::from_parts(ns, frac % 1000));
                    parked.park(&slot(*f), fractions, watchdog)
                })
                .collect();
            prop_assert_eq!(parked.queued(), jobs.len());
            for (job, (f, fractions, watchdog)) in refs.iter().zip(&jobs) {
                let want = slot(*f);
                prop_assert_eq!(parked.state(*job, want.index), Some(ParkedState::Queued));
                let (back, back_fractions, back_watchdog) = parked.take(*job);
                assert_same(&back, &want);
                prop_assert_eq!(&back_fractions, fractions);
                let watchdog = watchdog.map(|(ns, frac)| Time::from_parts(ns, frac % 1000));
                prop_assert_eq!(back_watchdog, watchdog);
                prop_assert_eq!(parked.state(*job, want.index), None, "taken once");
            }
            prop_assert_eq!(parked.queued(), 0);
        }
    }

    fn queued(index: u64) -> Slot {
        slot((index, index, 0, 0, 5, 10, [0; 4], u32::MAX, 1, 0))
    }

    #[test]
    fn a_dropped_job_keeps_its_record_until_its_ticket_comes_back() {
        let mut parked = Parked::default();
        let job = parked.park(&queued(7), &[0; 4], None);
        assert_eq!(parked.state(job, 8), None, "another stream position");
        let (slot, _, _) = parked.drop_job(job);
        assert_eq!(slot.index, 7);
        assert_eq!(parked.queued(), 0);
        assert_eq!(parked.state(job, 7), Some(ParkedState::Dropped));
        parked.release(job);
        assert_eq!(parked.state(job, 7), None);
    }

    #[test]
    fn pages_go_when_their_records_have_and_offsets_are_never_reused() {
        let mut parked = Parked::default();
        let first: Vec<JobRef> = (0..20_000)
            .map(|i| parked.park(&queued(i), &[0; 4], None))
            .collect();
        let pages = parked.pages.len();
        assert!(pages > 2, "{pages} pages");
        for &job in &first {
            parked.take(job);
        }
        assert!(parked.pages.is_empty(), "every page went");
        let later = parked.park(&queued(20_000), &[0; 4], None);
        assert!(later.offset() > first.last().unwrap().offset());
        assert_eq!(
            parked.state(first[0], 0),
            None,
            "an old ticket is recognised"
        );
        // A page whose records are not all gone stays, with its neighbours'
        // pages after it.
        let kept = parked.park(&queued(20_001), &[0; 4], None);
        let more: Vec<JobRef> = (0..10_000)
            .map(|i| parked.park(&queued(30_000 + i), &[0; 4], None))
            .collect();
        for &job in &more {
            parked.take(job);
        }
        assert_eq!(parked.state(kept, 20_001), Some(ParkedState::Queued));
        assert_eq!(parked.take(kept).0.index, 20_001);
    }
}
