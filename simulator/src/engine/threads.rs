//! The closed loop: blocked threads and the replayed kernel order.
//!
//! A message with a thread id belongs to the thread (pid, thread id); one
//! without is a thread of its own (open loop). Each thread keeps an offset
//! δ (0 at its first message): its message j arrives at a'_j = a_j + δ,
//! and when the kernel has the answer to an AUTH message j at r'_j,
//! δ += (r'_j − a'_j) − σ_j (σ_j: the stall the recording saw). Until then
//! the thread is blocked: its later messages wait in its read-ahead. On
//! release a'_(j+1) = max(a_(j+1) + δ, r'_j) (the clamp raises δ).
//!
//! Every message read stays in one entry of `messages` until it arrives,
//! the few facts the loop reads about it in the same entry of `held`: a
//! blocked thread's read-ahead is a list through those entries, and a
//! released message waits in `arrivals` in the replayed kernel order (a',
//! global_seq, stream position): a heap of one number per message, a'
//! above the entry's number, with full keys only where a' ties. Only
//! entry numbers move; the message is moved in once, and out only if it
//! waits in the kernel queue for a take that reads it: at its arrival the closed loop lends every
//! message to the event loop ([`Released`]), which borrows the one
//! arriving and gives them back ([`Threads::give_back`]). A
//! thread's state is found by its dense id, given at its first message
//! (the one hash lookup per message, at intake: [`ids`]). The input is read in
//! recorded order; since a' ≥ a + δ_floor (δ_floor: the least δ any
//! thread has had, ≤ 0), every event before a_next + δ_floor can be
//! simulated before the next message is read ([`Threads::horizon`], kept
//! up to date at each read and each answer that lowers δ_floor).
//! Memory: the released-but-not-arrived messages plus the blocked
//! threads' read-ahead, at most [`MAX_READ_AHEAD`] messages (a clear error
//! beyond), and a few words per thread seen.

mod arrivals;
mod ids;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use esreplay_traces::Message;

use super::time::{Offset, Time};
use super::{Class, PushedMessage};
use crate::prefetch::prefetch;
use arrivals::{Arrivals, Order};
use ids::ThreadIds;

/// Messages the closed loop may hold read ahead (≈ 200 B each: the
/// message, what the loop reads of it, a free-list slot).
pub const MAX_READ_AHEAD: usize = 1 << 21;

/// No thread: the message is a thread of its own.
pub(crate) const NO_THREAD: u32 = u32::MAX;

/// A multiplicative hash for the (pid, thread id) map: one multiply per
/// word instead of SipHash's rounds; the keys are not adversarial.
#[derive(Default)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }
    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// No message: the end of a thread's read-ahead list.
const NONE: u32 = u32::MAX;

/// The event key of an arrival at a' (the event loop's key for its class,
/// ordered as a' is), or [`NextArrival::NONE`] when nothing is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NextArrival(u128);

impl NextArrival {
    /// No message released: above every key.
    const NONE: NextArrival = NextArrival(u128::MAX);
}

impl Default for NextArrival {
    fn default() -> Self {
        NextArrival::NONE
    }
}

/// The key of an arrival at `arrival`.
#[inline]
fn arrival_key(arrival: Time) -> u128 {
    arrival.key(Class::Arrival as u8)
}

/// One thread's closed-loop state (indexed by its dense id, given at its
/// first message).
#[derive(Debug, Default)]
struct Thread {
    /// δ (may be negative: the replay answers faster than the recording).
    delta: Offset,
    /// r' of its last answered AUTH message.
    last_answer: Time,
    /// a of its last message released (for δ at the answer: see
    /// [`delta_after`]).
    recorded_ns: u64,
    /// An AUTH message of this thread was released and is not answered.
    blocked: bool,
    /// Its read-ahead: the first and last of its messages in `held` not
    /// yet released, linked by [`Held::next`] ([`NONE`]: none).
    first: u32,
    last: u32,
}

/// What the closed loop reads of a message it holds, read ahead or
/// released (the message itself is in the same entry of `messages`).
struct Held {
    /// Stream position.
    index: u64,
    /// a: its recorded arrival.
    recorded_ns: u64,
    global_seq: u64,
    thread: u32,
    /// The thread's next message read ahead ([`NONE`]: none).
    next: u32,
    /// An AUTH message.
    auth: bool,
}

/// A message released by its thread: it arrives at `arrival`. It holds
/// every message of the closed loop, lent until
/// [`Threads::give_back`]; the one arriving stays in its entry unless it
/// is taken ([`Released::take`]).
pub(crate) struct Released {
    pub(crate) index: u64,
    pub(crate) arrival: Time,
    pub(crate) thread: u32,
    pub(crate) sigma_ns: u64,
    entry: u32,
    messages: Vec<Option<Message>>,
}

impl Released {
    /// The message arriving.
    #[inline(always)]
    pub(crate) fn message(&self) -> &Message {
        self.messages[self.entry as usize]
            .as_ref()
            .expect("a released entry holds its message")
    }

    /// Moves the message arriving out (it waits in the kernel queue, and
    /// its take reads it).
    #[inline(always)]
    pub(crate) fn take(&mut self) -> Message {
        self.messages[self.entry as usize]
            .take()
            .expect("a released entry holds its message")
    }
}

/// The closed loop's state.
#[derive(Default)]
pub(crate) struct Threads {
    ids: ThreadIds,
    threads: Vec<Thread>,
    /// What the loop reads of every message held (read ahead or
    /// released), by entry.
    held: Vec<Held>,
    /// The messages held, by entry (`None` while the entry is free; empty
    /// while lent: see [`Released`]).
    messages: Vec<Option<Message>>,
    /// Free entries of `held`.
    free: Vec<u32>,
    arrivals: Arrivals,
    /// The key of the earliest a' in `arrivals` (the event loop asks at
    /// every event).
    next: NextArrival,
    delta_floor: Offset,
    /// The recorded arrival of the last message read, and
    /// [`Threads::horizon`] (kept: the event loop reads it at every event).
    read_ns: u64,
    horizon: Time,
    /// Where the last run up to the horizon stopped, if nothing ran since.
    stopped: Option<Time>,
    /// Messages whose a' was clamped to their thread's last answer.
    pub(crate) clamped: u64,
}

/// The kernel order of the held message in `entry` after a':
/// (global_seq, stream position).
fn kernel_order(held: &[Held], entry: u32) -> Order {
    let held = &held[entry as usize];
    (held.global_seq, held.index)
}

/// Times below this many ns add and subtract without saturating.
const EXACT_NS: u64 = 1 << 62;

/// δ after `state`'s blocking AUTH message (arrived at `arrival`,
/// recorded stall `sigma_ns`) is answered at `unblocked`:
/// δ + (r' − a') − σ. Released at a' = a + δ exactly (a clamp sets δ to
/// a' − a), so where nothing saturates this is r' − (a + σ), one
/// subtraction; otherwise (r' < a' under a fail mode's past deadline,
/// times near `u64::MAX`) the three saturating steps.
#[inline]
fn delta_after(state: &Thread, arrival: Time, unblocked: Time, sigma_ns: u64) -> Offset {
    let recorded_answer_ns = state.recorded_ns.saturating_add(sigma_ns);
    if unblocked >= arrival && unblocked.floor_ns() < EXACT_NS && recorded_answer_ns < EXACT_NS {
        return Offset::between(Time::from_ns(recorded_answer_ns), unblocked);
    }
    state
        .delta
        .plus(unblocked - arrival)
        .minus(Time::from_ns(sigma_ns))
}

/// Whether δ is below `floor` (what `Offset::min` decides, without its
/// subtractions: a negative δ of a larger magnitude).
#[inline]
fn lowers(delta: Offset, floor: Offset) -> bool {
    delta.negative && (!floor.negative || delta.magnitude > floor.magnitude)
}

/// The closed loop holds too much in memory.
#[derive(Debug, thiserror::Error)]
#[error(
    "the closed loop would hold more than {MAX_READ_AHEAD} messages read ahead for blocked threads (a thread blocked for very long, or a trace not in arrival order): replay it with --replay open"
)]
pub struct ReadAheadError;

/// The stall σ the recording saw: its answer time minus the arrival.
pub(crate) fn sigma_ns(message: &Message) -> u64 {
    message
        .response_ns
        .map_or(0, |r| r.saturating_sub(message.arrival_ns))
}

/// The message's thread key, if it has a thread id.
pub(crate) fn thread_key(message: &Message) -> Option<(u32, u64)> {
    let tid = message.thread_id?;
    Some((message.pid.unwrap_or(u32::MAX), tid))
}

/// Counts the messages of a recording that arrive before their thread's
/// previous AUTH message was answered there (a_(j+1) < a_j + σ_j): closed
/// replay clamps them (a' = the answer, δ raised) even when every answer
/// comes exactly as recorded. `esreplay inspect` reports the count; the
/// keys and σ are the closed loop's own (`thread_key`, `sigma_ns`).
#[derive(Debug, Default)]
pub struct RecordedClamps {
    last_answer_ns: HashMap<(u32, u64), u64, BuildHasherDefault<FastHasher>>,
    threaded: u64,
    clamped: u64,
}

impl RecordedClamps {
    /// Reads the next message, in recorded order.
    pub fn add(&mut self, message: &Message) {
        let Some(key) = thread_key(message) else {
            return;
        };
        self.threaded += 1;
        let last_answer_ns = self.last_answer_ns.entry(key).or_insert(0);
        if message.arrival_ns < *last_answer_ns {
            self.clamped += 1;
        }
        if message.is_auth() {
            let answer_ns = message.arrival_ns.saturating_add(sigma_ns(message));
            *last_answer_ns = answer_ns.max(*last_answer_ns);
        }
    }

    /// Threads seen (distinct process and thread ids).
    pub fn threads(&self) -> u64 {
        self.last_answer_ns.len() as u64
    }

    /// Messages with a thread id.
    pub fn threaded(&self) -> u64 {
        self.threaded
    }

    /// Messages that arrived before their thread's last recorded answer.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }
}

impl Threads {
    /// Threads seen so far.
    pub(crate) fn count(&self) -> usize {
        self.threads.len()
    }

    /// Whether the loop holds no message (read ahead, or released and
    /// not yet arrived): once the input has ended, none can arrive.
    pub(crate) fn drained(&self) -> bool {
        self.held.len() == self.free.len()
    }

    /// Reads the next input message (in recorded order; owned, or
    /// borrowed and cloned where it is kept). Returns whether
    /// an event may now come before the horizon: false when the last run
    /// up to the horizon stopped at an event ([`Threads::stopped_at`]) that
    /// is still at or after the new horizon, as is every arrival released
    /// since (a' ≥ a + δ_floor): the event loop would stop at once.
    #[inline(always)]
    pub(crate) fn intake(
        &mut self,
        message: impl PushedMessage,
        index: u64,
    ) -> Result<bool, ReadAheadError> {
        if self.held.len() - self.free.len() >= MAX_READ_AHEAD {
            return Err(ReadAheadError);
        }
        self.read_ns = message.message().arrival_ns;
        self.horizon = self.horizon_at(self.read_ns);
        self.place(message, index);
        // No arrival before the horizon either: a key at or above the
        // horizon's key of rank 0 is an a' at or after it.
        let quiet = self.stopped.is_some_and(|stop| stop >= self.horizon)
            && self.next.0 >= self.horizon.key(0);
        if !quiet {
            // The run asked for records its stop again.
            self.stopped = None;
        }
        Ok(!quiet)
    }

    /// The last run up to the horizon stopped at an event at `at` (≥ the
    /// horizon): until the next run, nothing changes but what is read.
    #[inline]
    pub(crate) fn stopped_at(&mut self, at: Time) {
        self.stopped = Some(at);
    }

    /// Holds a message read: released at once, or read ahead behind its
    /// blocked thread.
    #[inline(always)]
    fn place(&mut self, message: impl PushedMessage, index: u64) {
        let Some(key) = thread_key(message.message()) else {
            let arrival = Time::from_ns(message.message().arrival_ns);
            let entry = self.hold(message, index, NO_THREAD);
            self.arrive_at(entry, arrival);
            return;
        };
        let id = self.thread_id(key);
        let entry = self.hold(message, index, id);
        let thread = &mut self.threads[id as usize];
        if thread.blocked || thread.first != NONE {
            self.read_ahead(id, entry);
        } else {
            self.release(id, entry);
        }
    }

    /// The dense id of the thread `key`, given at its first message.
    #[inline]
    fn thread_id(&mut self, key: (u32, u64)) -> u32 {
        let id = self.ids.id(key);
        if id as usize == self.threads.len() {
            self.threads.push(Thread {
                first: NONE,
                last: NONE,
                ..Thread::default()
            });
        }
        id
    }

    /// Keeps the message pushed in a free entry until it arrives (a
    /// borrowed one is cloned straight into the entry).
    #[inline(always)]
    fn hold(&mut self, pushed: impl PushedMessage, index: u64, thread: u32) -> u32 {
        let message = pushed.message();
        debug_assert_eq!(self.messages.len(), self.held.len(), "not lent");
        let held = Held {
            index,
            recorded_ns: message.arrival_ns,
            global_seq: message.global_seq,
            thread,
            next: NONE,
            auth: message.is_auth(),
        };
        let Some(entry) = self.free.pop() else {
            self.held.push(held);
            self.messages.push(Some(pushed.into_owned()));
            return (self.held.len() - 1) as u32;
        };
        self.held[entry as usize] = held;
        // A free entry holds no message (given back emptied): with nothing
        // to drop first, the owned copy is made in place.
        let slot = &mut self.messages[entry as usize];
        let None = slot else {
            unreachable!("a free entry holds no message");
        };
        *slot = Some(pushed.into_owned());
        entry
    }

    /// Appends `entry` to thread `id`'s read-ahead.
    fn read_ahead(&mut self, id: u32, entry: u32) {
        let thread = &mut self.threads[id as usize];
        match thread.last {
            NONE => thread.first = entry,
            last => self.held[last as usize].next = entry,
        }
        thread.last = entry;
    }

    /// Every event strictly before this time may be simulated once the
    /// message arriving (recorded) at `arrival_ns`, the last one read, has
    /// been read: no message read later arrives before a + δ_floor (kept,
    /// not recomputed: the event loop asks at every event).
    #[inline]
    pub(crate) fn horizon(&self, arrival_ns: u64) -> Time {
        debug_assert_eq!(arrival_ns, self.read_ns, "the last message read");
        self.horizon
    }

    /// a + δ_floor for a message read at `arrival_ns` (δ_floor ≤ 0).
    #[inline]
    fn horizon_at(&self, arrival_ns: u64) -> Time {
        let read = Time::from_ns(arrival_ns);
        if self.delta_floor.negative {
            self.delta_floor.apply(read)
        } else {
            read
        }
    }

    /// Thread `id` releases its message in `entry`: a' = a + δ, or its
    /// last answer if that is later (the clamp raises δ).
    #[inline(always)]
    fn release(&mut self, id: u32, entry: u32) {
        let held = &self.held[entry as usize];
        let thread = &mut self.threads[id as usize];
        let recorded = Time::from_ns(held.recorded_ns);
        let mut arrival = thread.delta.apply(recorded);
        // a + δ below 0 is below any answer too (apply floors it at 0).
        let negative = thread.delta.negative && thread.delta.magnitude > recorded;
        if negative || arrival < thread.last_answer {
            self.clamped += 1;
            thread.delta = Offset::between(recorded, thread.last_answer);
            arrival = thread.last_answer;
        }
        thread.blocked = held.auth;
        thread.recorded_ns = held.recorded_ns;
        self.arrive_at(entry, arrival);
    }

    /// The message in `entry`, released, arrives at `arrival`.
    #[inline(always)]
    fn arrive_at(&mut self, entry: u32, arrival: Time) {
        let held = &self.held;
        self.arrivals
            .push(arrival, entry, |e| kernel_order(held, e));
        self.next.0 = self.next.0.min(arrival_key(arrival));
    }

    /// The event key of the next replayed arrival (its class's key at a'),
    /// `u128::MAX` if no message is released.
    #[inline]
    pub(crate) fn next_arrival(&self) -> u128 {
        self.next.0
    }

    /// Removes the next replayed arrival; every message is lent with it
    /// until [`Threads::give_back`].
    #[inline(always)]
    pub(crate) fn pop_arrival(&mut self) -> Option<Released> {
        let held = &self.held;
        let (entry, arrival) = self.arrivals.pop(|e| kernel_order(held, e))?;
        self.next = self
            .arrivals
            .first_time()
            .map_or(NextArrival::NONE, |first| NextArrival(arrival_key(first)));
        self.free.push(entry);
        let held = &self.held[entry as usize];
        let thread = held.thread;
        let sigma_ns = match (&self.messages[entry as usize], thread) {
            (Some(message), id) if id != NO_THREAD => sigma_ns(message),
            _ => 0,
        };
        Some(Released {
            index: held.index,
            arrival,
            thread,
            sigma_ns,
            entry,
            messages: std::mem::take(&mut self.messages),
        })
    }

    /// The messages lent with `released` come back; its message, if not
    /// taken, is dropped (its entry is free).
    #[inline(always)]
    pub(crate) fn give_back(&mut self, released: Released) {
        let lent = std::mem::replace(&mut self.messages, released.messages);
        // The empty vector left at the loan owns no memory: forgotten,
        // not dropped (a call per message).
        debug_assert_eq!(lent.capacity(), 0);
        std::mem::forget(lent);
        self.messages[released.entry as usize] = None;
    }

    /// The kernel has the answer to `thread`'s blocking AUTH message
    /// (arrived at `arrival`, recorded stall `sigma_ns`) at `unblocked`:
    /// δ moves and the thread's next messages are released.
    pub(crate) fn answered(&mut self, thread: u32, arrival: Time, unblocked: Time, sigma_ns: u64) {
        let Some(state) = self.threads.get_mut(thread as usize) else {
            return;
        };
        state.delta = delta_after(state, arrival, unblocked, sigma_ns);
        state.last_answer = state.last_answer.max(unblocked);
        state.blocked = false;
        // δ_floor ≤ 0: only a negative δ can lower it.
        if lowers(state.delta, self.delta_floor) {
            let delta = state.delta;
            self.delta_floor = delta;
            self.horizon = self.horizon_at(self.read_ns);
        }
        self.release_read_ahead(thread);
    }

    /// Thread `id`, unblocked, releases its read-ahead up to and
    /// including its next AUTH message, and prefetches the message after
    /// it, read long ago, for when this one is answered.
    fn release_read_ahead(&mut self, id: u32) {
        let mut entry = self.threads[id as usize].first;
        while entry != NONE {
            let held = &self.held[entry as usize];
            let (auth, next) = (held.auth, held.next);
            let thread = &mut self.threads[id as usize];
            thread.first = next;
            if next == NONE {
                thread.last = NONE;
            } else {
                prefetch(&self.held[next as usize]);
                // `messages` is empty while lent to a `Released` (a
                // thread released during another message's arrival: a
                // drop at a full kernel queue, an open the ES cache
                // answers).
                if let Some(message) = self.messages.get(next as usize) {
                    prefetch(message);
                }
            }
            self.release(id, entry);
            if auth {
                return;
            }
            entry = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esreplay_traces::{Action, EventType};

    /// What the event loop learns of a released message.
    struct Arrived {
        index: u64,
        arrival: Time,
        thread: u32,
        sigma_ns: u64,
        auth: bool,
    }

    /// The next arrival, its message read and the lent messages given
    /// back.
    fn pop(threads: &mut Threads) -> Option<Arrived> {
        let released = threads.pop_arrival()?;
        let arrived = Arrived {
            index: released.index,
            arrival: released.arrival,
            thread: released.thread,
            sigma_ns: released.sigma_ns,
            auth: released.message().is_auth(),
        };
        threads.give_back(released);
        Some(arrived)
    }

    fn on_thread(global_seq: u64, arrival: u64, tid: u64, response: Option<u64>) -> Message {
        let mut m = Message::new(global_seq, EventType::AUTH_OPEN, Action::Auth, arrival);
        m.pid = Some(1);
        m.thread_id = Some(tid);
        m.response_ns = response;
        m
    }

    #[test]
    fn a_blocked_thread_holds_its_next_message_until_the_answer() {
        let mut threads = Threads::default();
        threads.intake(on_thread(0, 0, 7, Some(4)), 0).unwrap();
        threads.intake(on_thread(1, 10, 7, None), 1).unwrap();
        threads.intake(on_thread(2, 3, 8, None), 2).unwrap();
        let first = pop(&mut threads).unwrap();
        assert_eq!((first.index, first.sigma_ns), (0, 4));
        assert_eq!(pop(&mut threads).unwrap().index, 2, "another thread");
        assert_eq!(threads.next, NextArrival::NONE, "thread 7 is blocked");
        // Answered at 20 after a recorded stall of 4: δ = 16.
        threads.answered(first.thread, first.arrival, Time::from_ns(20), 4);
        let second = pop(&mut threads).unwrap();
        assert_eq!(second.arrival, Time::from_ns(26));
        assert_eq!(threads.count(), 2);
    }

    #[test]
    fn an_answer_releases_the_read_ahead_in_order_up_to_the_next_auth_message() {
        let notify = |global_seq, arrival| {
            let mut m = on_thread(global_seq, arrival, 7, None);
            m.action = Action::Notify;
            m
        };
        let mut threads = Threads::default();
        threads.intake(on_thread(0, 0, 7, None), 0).unwrap();
        let first = pop(&mut threads).unwrap();
        // Read ahead while thread 7 is blocked: two NOTIFY, AUTH, NOTIFY.
        let read_ahead = [notify(1, 1), notify(2, 2), on_thread(3, 3, 7, None)];
        for (index, message) in (1..).zip(read_ahead) {
            threads.intake(message, index).unwrap();
        }
        threads.intake(notify(4, 4), 4).unwrap();
        assert_eq!(threads.next, NextArrival::NONE);
        threads.answered(first.thread, first.arrival, Time::from_ns(10), 0);
        let mut released = Vec::new();
        while let Some(r) = pop(&mut threads) {
            released.push((r.index, r.arrival.ceil_ns()));
        }
        // δ = 10: up to the AUTH message, the NOTIFY after it waits.
        assert_eq!(released, [(1, 11), (2, 12), (3, 13)]);
        threads.answered(first.thread, Time::from_ns(13), Time::from_ns(13), 0);
        let last = pop(&mut threads).unwrap();
        assert_eq!((last.index, last.arrival), (4, Time::from_ns(14)));
        // Four entries served five messages: freed entries are reused.
        assert_eq!(threads.held.len(), 4);
    }

    #[test]
    fn a_released_message_is_lent_in_place_and_taken_only_if_it_waits() {
        let mut threads = Threads::default();
        threads.intake(on_thread(5, 0, 1, None), 0).unwrap();
        threads.intake(on_thread(6, 0, 2, None), 1).unwrap();
        let mut first = threads.pop_arrival().unwrap();
        assert_eq!(first.message().global_seq, 5);
        // It waits in the kernel queue: moved out, its entry free.
        assert_eq!(first.take().global_seq, 5);
        threads.give_back(first);
        let second = threads.pop_arrival().unwrap();
        assert_eq!(second.message().global_seq, 6);
        // Not taken: dropped when given back, its entry free as well.
        threads.give_back(second);
        assert!(threads.messages.iter().all(Option::is_none));
        threads.intake(on_thread(7, 1, 3, None), 2).unwrap();
        threads.intake(on_thread(8, 1, 4, None), 3).unwrap();
        assert_eq!(threads.messages.len(), 2, "both entries reused");
        assert_eq!(pop(&mut threads).unwrap().index, 2);
    }

    #[test]
    fn a_lent_message_is_held_as_an_equal_copy() {
        use crate::engine::PushedMessage;
        let mut message = on_thread(3, 10, 7, Some(20));
        message.deadline_ns = Some(30);
        message.process_path = Some("/bin/a".into());
        message.target_path = Some("/tmp/b".into());
        let details = esreplay_traces::Details {
            euid: Some(501),
            ..Default::default()
        };
        message.details = Some(Box::new(details));
        let mut threads = Threads::default();
        threads.intake((&message).into_owned(), 0).unwrap();
        let released = threads.pop_arrival().unwrap();
        assert_eq!(released.message(), &message);
    }

    #[test]
    fn a_faster_replay_moves_arrivals_earlier_but_never_before_the_answer() {
        let mut threads = Threads::default();
        threads.intake(on_thread(0, 0, 1, Some(50)), 0).unwrap();
        threads.intake(on_thread(1, 40, 1, None), 1).unwrap();
        threads.intake(on_thread(2, 100, 2, None), 2).unwrap();
        assert_eq!(threads.horizon(100), Time::from_ns(100), "δ_floor = 0");
        let first = pop(&mut threads).unwrap();
        threads.answered(first.thread, first.arrival, Time::from_ns(5), 50);
        assert_eq!(threads.horizon(100), Time::from_ns(55), "δ_floor = -45");
        // 40 − 45 < 5: clamped to the answer.
        assert_eq!(pop(&mut threads).unwrap().arrival, Time::from_ns(5));
        assert_eq!(threads.clamped, 1);
    }

    #[test]
    fn a_read_asks_for_a_run_only_when_an_event_may_come_before_the_horizon() {
        let mut threads = Threads::default();
        assert!(
            threads.intake(on_thread(0, 10, 1, None), 0).unwrap(),
            "no stop known"
        );
        // The run stopped at the arrival at 10 (the horizon, 10).
        threads.stopped_at(Time::from_ns(10));
        // Thread 1 is blocked: 20 is read ahead; the horizon passes 10.
        assert!(threads.intake(on_thread(1, 20, 1, None), 1).unwrap());
        // The run takes the arrival at 10 and stops at an event at 30.
        assert_eq!(pop(&mut threads).unwrap().index, 0);
        threads.stopped_at(Time::from_ns(30));
        // Horizon 25: the stop is after it, the arrivals released at 25
        // are not before it.
        assert!(!threads.intake(on_thread(2, 25, 2, None), 2).unwrap());
        assert!(!threads.intake(on_thread(3, 25, 3, None), 3).unwrap());
        // 26: the arrivals at 25 are before it.
        assert!(threads.intake(on_thread(4, 26, 4, None), 4).unwrap());
        // Once a run is asked for, the stop is forgotten until recorded.
        assert!(threads.intake(on_thread(5, 26, 5, None), 5).unwrap());
        let mut quiet = Threads::default();
        quiet.intake(on_thread(0, 10, 1, None), 0).unwrap();
        pop(&mut quiet).unwrap();
        quiet.stopped_at(Time::from_ns(30));
        assert!(
            !quiet.intake(on_thread(1, 30, 1, None), 1).unwrap(),
            "read ahead"
        );
        assert!(
            quiet.intake(on_thread(2, 31, 1, None), 2).unwrap(),
            "past the stop"
        );
    }

    /// Offsets and times with fractions, zero, and near `u64::MAX`.
    fn samples() -> Vec<Time> {
        let third = Time::from_raw(crate::engine::time::SCALE / 3);
        let ns = [
            0,
            1,
            7,
            1_000,
            123_456_789,
            EXACT_NS - 1,
            EXACT_NS,
            u64::MAX - 1,
        ];
        let whole = ns.map(Time::from_ns);
        let mut times = whole.to_vec();
        times.extend(whole[..6].iter().map(|&t| t + third));
        times.push(Time::MAX);
        times
    }

    #[test]
    fn delta_at_an_answer_is_the_three_steps_whatever_saturates() {
        let times = samples();
        for &magnitude in &times {
            for negative in [false, true] {
                let delta = Offset {
                    negative,
                    magnitude,
                };
                for &recorded in times.iter().filter(|t| t.is_whole()) {
                    // Released as `release` does (a + δ below 0 is clamped,
                    // and δ then set to a' − a: not a state to test).
                    if negative && magnitude > recorded {
                        continue;
                    }
                    let arrival = delta.apply(recorded);
                    let state = Thread {
                        delta,
                        recorded_ns: recorded.floor_ns(),
                        ..Thread::default()
                    };
                    for &unblocked in &times {
                        for sigma_ns in [0, 3, 1 << 40, u64::MAX] {
                            let sigma_ns = sigma_ns.min(u64::MAX - recorded.floor_ns());
                            let three = delta
                                .plus(unblocked - arrival)
                                .minus(Time::from_ns(sigma_ns));
                            let fast = delta_after(&state, arrival, unblocked, sigma_ns);
                            let at = (delta, recorded, unblocked, sigma_ns);
                            assert_eq!(fast, three, "{at:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_delta_lowers_the_floor_exactly_when_offset_min_picks_it() {
        let times = samples();
        let offsets: Vec<Offset> = times
            .iter()
            .flat_map(|&magnitude| {
                let negative = Offset {
                    negative: true,
                    magnitude,
                };
                let zero_is_positive = magnitude != Time::ZERO;
                let positive = Offset {
                    negative: false,
                    magnitude,
                };
                [positive]
                    .into_iter()
                    .chain(zero_is_positive.then_some(negative))
            })
            .collect();
        for &delta in &offsets {
            for &floor in offsets
                .iter()
                .filter(|o| o.negative || o.magnitude == Time::ZERO)
            {
                let picked = floor.min(delta) != floor;
                assert_eq!(lowers(delta, floor), picked, "{delta:?} against {floor:?}");
            }
        }
    }

    #[test]
    fn a_recording_counts_messages_arriving_before_their_threads_answer() {
        let mut counter = RecordedClamps::default();
        // Thread 7: answered at 50; its next message at 40 breaks the
        // inequality, the one at 50 does not (it lands at the answer).
        counter.add(&on_thread(1, 10, 7, Some(50)));
        counter.add(&on_thread(2, 40, 7, None));
        counter.add(&on_thread(3, 50, 7, None));
        // Thread 8 is another thread: 45 is not before *its* answer.
        counter.add(&on_thread(4, 45, 8, Some(46)));
        let mut no_thread = Message::new(5, EventType::AUTH_OPEN, Action::Auth, 0);
        no_thread.pid = Some(1);
        counter.add(&no_thread);
        assert_eq!(
            (counter.threads(), counter.threaded(), counter.clamped()),
            (2, 4, 1)
        );
    }

    #[test]
    fn notify_messages_never_block_their_thread() {
        let mut counter = RecordedClamps::default();
        let mut notify = on_thread(1, 10, 7, Some(500));
        notify.action = Action::Notify;
        counter.add(&notify);
        counter.add(&on_thread(2, 20, 7, None));
        assert_eq!(counter.clamped(), 0);
    }

    #[test]
    fn the_closed_loop_clamps_what_the_counter_counts_when_answers_replay_as_recorded() {
        let messages = [
            on_thread(0, 10, 7, Some(50)),
            on_thread(1, 40, 7, Some(45)),
            on_thread(2, 60, 7, None),
            on_thread(3, 45, 8, Some(46)),
        ];
        let mut counter = RecordedClamps::default();
        messages.iter().for_each(|m| counter.add(m));
        let mut threads = Threads::default();
        for (index, message) in messages.iter().cloned().enumerate() {
            threads.intake(message, index as u64).unwrap();
        }
        // Every AUTH message answered σ after its replayed arrival.
        while let Some(released) = pop(&mut threads) {
            if released.auth && released.thread != NO_THREAD {
                let answer = released.arrival + Time::from_ns(released.sigma_ns);
                threads.answered(released.thread, released.arrival, answer, released.sigma_ns);
            }
        }
        assert_eq!(counter.clamped(), 1);
        assert_eq!(threads.clamped, counter.clamped());
    }
}
