//! The streaming discrete-event engine: the machine a client runs on.
//!
//! The engine owns everything that is not a scheduling decision: the
//! kernel's per-client queue, the single handler thread, the strategy's N
//! worker threads, the CPU they share ([`cpu`]), the watchdog and kernel
//! deadline timers, and the closed loop of blocked threads (`engine::threads`).
//! The [`Strategy`] only plans each message the handler takes and picks
//! the next job for a free worker.
//!
//! One event loop, keyed by (time, class): at one instant the classes run
//! in the order CPU completions, handler takes, arrivals, worker
//! dispatches, watchdogs, kernel deadlines (see the private `Class`), which gives
//! DESIGN.md's tie rules: a message taken at an instant has left the
//! kernel queue when another arrives then; a job ready at t is visible to
//! a worker that frees at t, as is every job arriving at t; a watchdog at g
//! drops only a job that would start strictly after g and answers first
//! only when g < f; a client answer at d' beats the kernel's fail-mode
//! answer. Times are exact [`Time`] (fixed point); without `--cores` every
//! one is a whole nanosecond and the results are the integer model's.
//!
//! Memory follows the backlog (one slot per message in the kernel queue or
//! in the client), the busy workers, and in closed replay the blocked
//! threads' read-ahead ([`MAX_READ_AHEAD`]).

mod admission;
mod alone;
pub mod coclient;
pub mod cpu;
pub mod machine;
mod slots;
mod threads;
pub mod time;

use std::collections::VecDeque;
use std::error::Error;

use esreplay_traces::{Action, EventType, Message};

use coclient::CoClient;
pub use coclient::{CoClientConfig, CoClientSpec, TraceFacts};
pub use cpu::{Background, BackgroundTrack, CpuConfig};
use cpu::{Cpu, MILLI};
pub(crate) use slots::JobRef;
use slots::{
    ANSWERED, At, DEFAULTED, HAS_DEADLINE, Returned, Slot, Slots, Stage, UNBLOCKED, WATCHED,
};
pub use threads::{MAX_READ_AHEAD, ReadAheadError, RecordedClamps};
use threads::{NO_THREAD, Released, Threads, thread_key};
use time::Busy;
pub use time::Time;

use crate::cost::{CostError, CostModel};
use crate::kernel::{Kernel, KernelOptions};
use crate::report::SimResult;
use crate::stats::{Stats, slack};
use crate::strategy::runs::{Keyed, Packed, RunQueue};
use crate::strategy::{Runner, Strategy};
use crate::varint::{Reader, Writer, short_step};

/// What ES does when a deadline passes (`--miss-mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MissMode {
    /// The client is killed at the first miss (ES's default).
    #[default]
    Kill,
    /// `FAIL_OPEN`: the kernel allows a late message itself at d'.
    FailOpen,
    /// `FAIL_CLOSED`: the kernel denies a late message itself at d', and
    /// denies messages dropped at a full kernel queue.
    FailClosed,
}

/// `--replay`: whether answers pace the threads that cause the messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReplayMode {
    /// Closed for messages with a thread id, open for the others.
    #[default]
    Auto,
    /// Recorded arrivals, whatever the answers.
    Open,
    /// Closed loop, reported as such even without thread ids.
    Closed,
}

/// `--guard-timer`: when a guard's watchdog fires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GuardTimer {
    /// At g_i.
    #[default]
    Exact,
    /// As late as GCD's `dispatch_after` may: g_i + clamp((g_i − h_i)/10, 1 ms, 60 s).
    Dispatch,
}

/// Engine settings: the flags of the client and kernel model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimConfig {
    /// τ: dispatch to handler.
    pub transport_ns: u64,
    /// ρ: answer to kernel.
    pub response_latency_ns: u64,
    /// c_h: handler CPU work of retaining and queueing a message.
    pub handoff_ns: u64,
    /// What a miss does.
    pub miss_mode: MissMode,
    /// Handler CPU work after each message (after the answer inline,
    /// after the hand-off in a pool).
    pub handler_overhead_ns: u64,
    /// CPU work added to each job on a worker.
    pub worker_overhead_ns: u64,
    /// Open or closed replay.
    pub replay: ReplayMode,
    /// The kernel queue's capacity N (`None`: unlimited).
    pub kernel_queue: Option<u64>,
    /// When watchdogs fire.
    pub guard_timer: GuardTimer,
    /// Cores and background load.
    pub cpu: CpuConfig,
    /// A co-resident ES client (`--co-client`).
    pub co_client: Option<CoClientConfig>,
    /// Mutes and the ES cache (`--mute`, `--es-cache`): the kernel-side
    /// admission stage at arrival.
    pub kernel: KernelOptions,
}

/// What the simulation predicts for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Position in the input stream.
    pub index: u64,
    /// ES global_seq.
    pub global_seq: u64,
    /// Event type.
    pub event: EventType,
    /// AUTH or NOTIFY.
    pub action: Action,
    /// a'_i: the replayed arrival (a_i in open replay).
    pub arrival_ns: u64,
    /// a_i: the recorded arrival.
    pub recorded_arrival_ns: u64,
    /// d'_i.
    pub deadline_ns: Option<u64>,
    /// The CPU work of the job (s_i unless the strategy planned other).
    pub service_ns: u64,
    /// h_i: when the handler took it (a'_i if it was dropped at arrival).
    pub handler_ns: u64,
    /// When its work started (`None`: dropped by a guard or the queue).
    pub start_ns: Option<u64>,
    /// When its work finished.
    pub finish_ns: Option<u64>,
    /// r_i = the client's answer + ρ.
    pub response_ns: u64,
    /// r'_i: when the kernel had an answer and the thread went on: r_i, or
    /// d'_i if later under a fail mode, a'_i if dropped at arrival.
    pub unblocked_ns: u64,
    /// Answered by a guard's default verdict.
    pub defaulted: bool,
    /// An AUTH message answered by the client after its deadline.
    pub missed: bool,
    /// The worker that ran it (0-based), if it ran on one.
    pub worker: Option<u32>,
    /// Dropped at arrival: the kernel queue was full.
    pub dropped: bool,
    /// Answered by the kernel from its ES cache at arrival (`--es-cache`):
    /// never reached the client, latency 0.
    pub cached: bool,
}

impl Outcome {
    /// r'_i − a'_i: what the blocked syscall saw.
    pub fn latency_ns(&self) -> u64 {
        self.unblocked_ns.saturating_sub(self.arrival_ns)
    }

    /// d_i − r_i for an AUTH message with a deadline that reached the
    /// client (negative: missed).
    pub fn slack_ns(&self) -> Option<i64> {
        let deadline = self
            .deadline_ns
            .filter(|_| self.action == Action::Auth && !self.dropped)?;
        Some(slack(deadline, self.response_ns))
    }
}

/// Receives every [`Outcome`], in the order they are settled (not kernel
/// order: sort by `index` if needed). `()` observes nothing and costs
/// nothing; any `FnMut(&Outcome)` is an observer.
pub trait Observer {
    /// One message's outcome.
    fn outcome(&mut self, outcome: &Outcome);

    /// The backlog #{i : a'_i ≤ t < r'_i} at arrival instant `at_ns`, once
    /// it is known: called once per distinct arrival time, in increasing
    /// order (the backlog only grows at arrivals, so these samples hold
    /// every local maximum). Does nothing unless overridden.
    fn backlog(&mut self, at_ns: u64, in_flight: u64) {
        let _ = (at_ns, in_flight);
    }

    /// Whether [`backlog`](Observer::backlog) does something (true unless
    /// said otherwise): if not, the engine works out the backlog at an
    /// arrival instant only when it may be a new maximum.
    const BACKLOG: bool = true;
}

impl Observer for () {
    #[inline(always)]
    fn outcome(&mut self, _: &Outcome) {}

    const BACKLOG: bool = false;
}

impl<F: FnMut(&Outcome)> Observer for F {
    fn outcome(&mut self, outcome: &Outcome) {
        self(outcome)
    }

    const BACKLOG: bool = false;
}

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The cost model failed (e.g. `trace` without service times).
    #[error(transparent)]
    Cost(#[from] CostError),
    /// The message source failed.
    #[error("reading messages")]
    Input(#[source] Box<dyn Error + Send + Sync>),
    /// The closed loop's read-ahead bound was reached.
    #[error(transparent)]
    ReadAhead(#[from] ReadAheadError),
    /// A strategy broke the [`Strategy`] contract.
    #[error("strategy {0}: planned a job for workers but has none")]
    NoWorkers(String),
    /// A strategy handed back from `next` the ticket of a job that is not
    /// in its queue: already running (it would run twice) or never queued.
    #[error(
        "strategy {strategy}: next returned the ticket of message #{index}, which is not queued (returned twice, or kept from another run)"
    )]
    TicketTwice {
        /// The strategy's name.
        strategy: String,
        /// The message's stream position.
        index: u64,
    },
    /// A strategy kept queued jobs that it never handed to a worker.
    #[error("strategy {0}: {1} messages were never answered (queued jobs never returned by next)")]
    Unfinished(String, u64),
}

/// Event classes, in the order they run at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Class {
    /// The CPU track changes.
    Background,
    /// A thread's CPU work ends (handler phase or worker job).
    Completion,
    /// The idle handler takes the next message of the kernel queue.
    Take,
    /// A message arrives (closed replay; open replay arrives by `push`).
    Arrival,
    /// A co-resident client's open enters the kernel (after the trace's
    /// messages of the instant: its global_seq values are larger).
    Inject,
    /// An idle worker takes a queued job.
    Dispatch,
    /// A guard's watchdog fires.
    Watchdog,
    /// The kernel answers a late message itself (fail modes).
    Deadline,
}

/// What the handler thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Work(u32),
    HandOff(u32),
    Overhead,
}

/// The idle workers in the order they take jobs: idle the longest first,
/// the lowest id among ties. Workers go idle at non-decreasing times (the
/// clock never goes back), so this is a queue in which a worker freed at
/// t only passes those freed at the same t with a larger id: O(1) per
/// worker in the usual case where at most a few free at one instant,
/// where a heap paid O(log N) and a sift for every job. A ring of a
/// power of two ≥ N entries (never more than N workers are idle; it
/// grows if asked to hold more), whose indices wrap by a mask.
#[derive(Debug)]
struct IdleWorkers {
    ring: Box<[(Time, u32)]>,
    /// The ring's length − 1.
    mask: usize,
    /// Where the first idle worker is.
    head: usize,
    len: usize,
    /// When the last worker pushed went idle: the time of the last
    /// entry, or a later one after a take from the middle (a push at that
    /// time then only takes the insert's path, which compares times).
    back: Time,
}

impl IdleWorkers {
    /// Workers `0..n`, all idle since 0.
    fn all(n: u32) -> IdleWorkers {
        let size = (n as usize).max(1).next_power_of_two();
        let mut ring = vec![(Time::ZERO, 0); size].into_boxed_slice();
        for id in 0..n {
            ring[id as usize] = (Time::ZERO, id);
        }
        IdleWorkers {
            ring,
            mask: size - 1,
            head: 0,
            len: n as usize,
            back: Time::ZERO,
        }
    }

    /// The entry at `position` (below `len`).
    #[inline(always)]
    fn slot(&mut self, position: usize) -> &mut (Time, u32) {
        &mut self.ring[(self.head + position) & self.mask]
    }

    /// Worker `id` goes idle at `at` (no earlier than any idle worker).
    #[inline(always)]
    fn push(&mut self, at: Time, id: u32) {
        if self.len == self.ring.len() {
            self.grow();
        }
        debug_assert!(self.len == 0 || self.back <= at);
        if self.len > 0 && self.back == at && self.slot(self.len - 1).1 > id {
            self.insert(at, id);
            return;
        }
        let end = self.len;
        *self.slot(end) = (at, id);
        self.len += 1;
        self.back = at;
    }

    /// Doubles the ring, keeping the order.
    #[cold]
    fn grow(&mut self) {
        let size = self.ring.len() * 2;
        let mut ring = vec![(Time::ZERO, 0); size].into_boxed_slice();
        for (position, entry) in ring.iter_mut().enumerate().take(self.len) {
            *entry = self.ring[(self.head + position) & self.mask];
        }
        (self.ring, self.mask, self.head) = (ring, size - 1, 0);
    }

    /// [`push`](Self::push) among workers freed at the same instant.
    #[inline(never)]
    fn insert(&mut self, at: Time, id: u32) {
        let mut position = self.len;
        while position > 0 {
            let (t, other) = *self.slot(position - 1);
            if t != at || other <= id {
                break;
            }
            *self.slot(position) = (t, other);
            position -= 1;
        }
        *self.slot(position) = (at, id);
        self.len += 1;
    }

    /// The worker at `position` in the order they take jobs.
    #[inline]
    fn get(&self, position: usize) -> Option<u32> {
        (position < self.len).then(|| self.ring[(self.head + position) & self.mask].1)
    }

    /// The worker at `position` takes a job.
    #[inline]
    fn take(&mut self, position: usize) {
        if position >= self.len {
            return;
        }
        if position == 0 {
            self.head = (self.head + 1) & self.mask;
        } else {
            for later in position..self.len - 1 {
                let next = *self.slot(later + 1);
                *self.slot(later) = next;
            }
        }
        self.len -= 1;
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A timer: when it fires, the order it was armed in (timers of one
/// instant fire in that order, which a replay of the same history
/// repeats), and the message it is for (where it is and its stream
/// position, so that a timer of a settled message is recognised).
#[derive(Clone, Copy, Debug)]
struct Timer {
    at: Time,
    armed: u64,
    job: JobRef,
    index: u64,
}

impl Keyed for Timer {
    type Key = (Time, u64);
    #[inline]
    fn key(&self) -> Self::Key {
        (self.at, self.armed)
    }
}

/// A watchdog's time and the order it was armed in (see [`Timer`]).
pub(crate) type Watch = (Time, u64);

impl Timer {
    /// A timer at `at`, `armed` in the order of arming, for `job`.
    fn new((at, armed): Watch, job: JobRef, index: u64) -> Timer {
        Timer {
            at,
            armed,
            job,
            index,
        }
    }
}

impl Packed for Timer {
    #[inline(always)]
    fn pack(&self, before: &Self, writer: &mut Writer<'_>) {
        let ((ns, fraction), (before_ns, _)) = (self.at.parts(), before.at.parts());
        // The pair's flag: a whole-ns time a short step after the one
        // before it, whose step follows as is; else a varint step and
        // the fraction.
        let short = fraction == 0 && short_step(ns, before_ns);
        writer.put_pair(
            (self.armed, before.armed),
            (self.index, before.index),
            short,
        );
        writer.put_step(ns, before_ns, short);
        if !short {
            writer.put(fraction);
        }
        writer.put_delta(self.job.bits(), before.job.bits());
    }

    #[inline(always)]
    fn unpack(before: &Self, reader: &mut Reader<'_>) -> Self {
        let (armed, index, short) = reader.pair(before.armed, before.index);
        let ns = reader.step(before.at.parts().0, short);
        let fraction = if short { 0 } else { reader.get() };
        Timer {
            at: Time::from_parts(ns, fraction),
            armed,
            index,
            job: JobRef::from_bits(reader.delta(before.job.bits())),
        }
    }
}

/// A message arriving at the kernel, borrowed from its owner (the
/// caller of `push`, the closed loop, the co-client): its slot and outcome
/// are built from it, and the message itself moves only if it has to wait
/// in the kernel queue and its take reads it (a strategy's `plan`, a
/// co-resident client): a `Message` is larger than an inline move, so
/// every move is a `memcpy` call.
#[derive(Clone, Copy)]
struct Arriving<'m> {
    message: &'m Message,
    /// Stream position.
    index: u64,
    /// a'.
    arrival: Time,
    /// The thread waiting on it ([`NO_THREAD`]: none).
    thread: u32,
    /// Its recorded stall σ (closed replay).
    sigma_ns: u64,
}

impl<'m> Arriving<'m> {
    /// `message`, at stream position `index`, arriving at `arrival`; no
    /// thread waits on it (open replay, or a co-client's open).
    #[inline(always)]
    fn unpaced(message: &'m Message, index: u64, arrival: Time) -> Arriving<'m> {
        Arriving {
            message,
            index,
            arrival,
            thread: NO_THREAD,
            sigma_ns: 0,
        }
    }
}

/// Timers, earliest first: a [`RunQueue`], O(1) per timer when they are
/// set nearly in the order they fire, as deadlines and watchdogs are
/// (each event type's budget is fixed), where a heap paid O(log n) with
/// millions waiting in overload.
type Timers = RunQueue<Timer>;

/// A simulation in progress: feed it messages in recorded kernel order
/// with [`push`](Self::push), then call [`finish`](Self::finish).
pub struct Simulator<'a, S: Strategy + ?Sized, O: Observer = ()> {
    strategy: &'a mut S,
    cost: &'a CostModel,
    config: SimConfig,
    observer: O,
    workers: u32,
    now: Time,
    cpu: Cpu,
    slots: Slots,
    /// The kernel queue: the slots of the messages in it, in order.
    waiting: VecDeque<u32>,
    /// The kernel queue's messages after `waiting`'s, parked once it is
    /// `park_after` long; each moves up into a slot as the front leaves.
    waiting_parked: VecDeque<JobRef>,
    /// Their messages, in the same order, if `keep_messages`.
    waiting_messages: VecDeque<Message>,
    /// Whether a message taken from the kernel queue is read: by the
    /// strategy's `plan` (no [`Strategy::runner`]), or for a co-resident
    /// client (the opens of our job). Else only its slot waits.
    keep_messages: bool,
    phase: Phase,
    phase_since: Time,
    /// By worker: its job's slot and start.
    running: Vec<Option<(u32, Time)>>,
    idle: IdleWorkers,
    queued: usize,
    dispatchable: bool,
    watchdogs: Timers,
    deadlines: Timers,
    /// The closed loop, from the first message of a thread on (never in
    /// open replay).
    threads: Option<Threads>,
    next_index: u64,
    last_arrival: Option<u64>,
    reported: u64,
    handler_busy: Busy,
    worker_busy: Busy,
    stats: Stats,
    co: Option<CoClient>,
    /// By slot: the message whose target our client opens at f_i (the
    /// co-client sees those opens).
    triggers: Vec<Option<Message>>,
    /// The messages in `triggers`.
    triggers_kept: usize,
    /// Mutes and the ES cache (`None`: none asked, the stage is skipped).
    kernel: Option<Kernel>,
    /// Whether an event proven to be the loop's next one runs at once,
    /// and the last arrival instant closes before the final drain (off
    /// only in the test that compares both ways).
    shortcuts: bool,
    /// Timers armed so far (each timer's place in the order of arming).
    armed: u64,
    /// Jobs queued (in the strategy's queue, the kernel queue or the
    /// handler's line) before the next one is parked (never with a co-resident client;
    /// changed only in the tests that compare parking with none).
    park_after: usize,
    /// Whether a rarely used event source may have an event: a
    /// co-resident client or a background track (from the start), the
    /// watchdogs or kernel deadline timers (from the first one armed).
    /// Until then the event loop does not look at them.
    rare: bool,
    /// The strategy's [`Strategy::runner`]: every job planned on it
    /// without asking (`None`: `plan` is called for each).
    runner: Option<Runner>,
    /// Whether the settings let a message run alone (`alone`).
    may_run_alone: bool,
    /// The message running alone, kept aside until the next arrival.
    alone: Option<alone::Alone>,
    /// Whether messages that arrive while one runs alone on the handler
    /// line up behind it (a strategy that runs every job on the handler).
    lines: bool,
    /// The messages lined up behind the one running alone on the
    /// handler, each with its take and finish known.
    line: VecDeque<alone::Alone>,
    /// The line's messages after `line`'s, parked once the line is
    /// `park_after` long (their takes and finishes follow from the one
    /// before and are worked out as each moves up into `line`).
    line_parked: VecDeque<JobRef>,
    /// How long the line may grow before it enters the machine: no
    /// limit (a long line is parked), but in the tests that compare both
    /// ways.
    line_cap: usize,
    /// Where it runs and its watchdog, if any (due after its work ends),
    /// when the strategy planned it (a guard): the watchdog is pushed
    /// only if it enters the machine.
    alone_plan: (Runner, Option<Watch>),
}

mod run;

/// Simulates `messages` through `strategy` (a fresh one) and returns the
/// result.
pub fn simulate<S: Strategy + ?Sized>(
    messages: impl IntoIterator<Item = Message>,
    strategy: &mut S,
    cost: &CostModel,
    config: &SimConfig,
) -> Result<SimResult, SimError> {
    simulate_observed(
        messages.into_iter().map(Ok::<_, std::convert::Infallible>),
        strategy,
        cost,
        config,
        (),
    )
}

/// Like [`simulate`], over a fallible source (such as a trace reader),
/// reporting every message's [`Outcome`] to `observer`.
pub fn simulate_observed<S, O, E>(
    messages: impl IntoIterator<Item = Result<Message, E>>,
    strategy: &mut S,
    cost: &CostModel,
    config: &SimConfig,
    observer: O,
) -> Result<SimResult, SimError>
where
    S: Strategy + ?Sized,
    O: Observer,
    E: Error + Send + Sync + 'static,
{
    let mut simulator = Simulator::new(strategy, cost, config.clone(), observer);
    for message in messages {
        simulator.push(message.map_err(|e| SimError::Input(Box::new(e)))?)?;
    }
    simulator.finish()
}

/// A message given to [`Simulator::push`]: owned (moved in where the
/// engine keeps it) or borrowed (cloned only where the engine keeps it:
/// in the closed loop, or waiting in the kernel queue for a take that
/// reads it).
pub trait PushedMessage {
    /// The message.
    fn message(&self) -> &Message;
    /// The message, owned.
    fn into_owned(self) -> Message;
}

impl PushedMessage for Message {
    #[inline(always)]
    fn message(&self) -> &Message {
        self
    }
    #[inline(always)]
    fn into_owned(self) -> Message {
        self
    }
}

impl PushedMessage for &Message {
    #[inline(always)]
    fn message(&self) -> &Message {
        self
    }
    /// A clone: the shared parts cloned, the other fields (all `Copy`)
    /// copied as one block (the derived `clone` goes field by field).
    #[inline(always)]
    fn into_owned(self) -> Message {
        Message {
            process_path: self.process_path.clone(),
            target_path: self.target_path.clone(),
            details: self.details.clone(),
            ..*self
        }
    }
}

/// `thread_key` for callers that want to know whether a trace has threads.
pub fn has_thread(message: &Message) -> bool {
    thread_key(message).is_some()
}

/// Reports C or B (thousandths) as a number.
fn from_milli(value: u64) -> f64 {
    value as f64 / MILLI as f64
}

/// The result of outcomes produced elsewhere (a real run's observed
/// answers), through the same bookkeeping as a simulation: handler busy
/// time is the work of outcomes without a worker, worker busy time that of
/// the others. Outcomes may come in any order.
pub fn tally(
    outcomes: impl IntoIterator<Item = Outcome>,
    strategy: String,
    workers: u32,
    miss_mode: MissMode,
) -> SimResult {
    let mut stats = Stats::default();
    let (mut handler, mut worker) = (Time::ZERO, Time::ZERO);
    let mut arrivals = Vec::new();
    for outcome in outcomes {
        stats.count(outcome.action == Action::Auth, outcome.arrival_ns);
        if let (Some(start), Some(finish)) = (outcome.start_ns, outcome.finish_ns) {
            let busy = Time::from_ns(finish.saturating_sub(start));
            match outcome.worker {
                Some(_) => worker = worker + busy,
                None => handler = handler + busy,
            }
        }
        stats.backlog.respond(outcome.unblocked_ns);
        arrivals.push(outcome.arrival_ns);
        stats.record(&outcome);
    }
    arrivals.sort_unstable();
    for (position, &arrival) in arrivals.iter().enumerate() {
        stats.backlog.arrive();
        if arrivals.get(position + 1) != Some(&arrival) {
            stats.backlog.close_instant(arrival);
        }
    }
    stats.result(
        strategy,
        workers,
        miss_mode == MissMode::Kill,
        (handler, worker),
    )
}

#[cfg(test)]
mod tests;
