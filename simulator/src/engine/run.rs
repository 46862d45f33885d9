//! The event loop of [`Simulator`]: arrivals and the kernel queue, the
//! handler, the workers, the timers, and settling each message.

use esreplay_traces::Message;

use super::admission::answered_at_arrival;
use super::alone::may_run_alone;
use super::{
    ANSWERED, Arriving, At, Background, Busy, Class, CoClient, DEFAULTED, GuardTimer, HAS_DEADLINE,
    IdleWorkers, JobRef, MissMode, NO_THREAD, Observer, Outcome, Phase, PushedMessage, Released,
    ReplayMode, Returned, SimConfig, SimError, Simulator, Slot, Stage, Threads, Time, Timer,
    UNBLOCKED, WATCHED, Watch, from_milli, thread_key,
};
use crate::cost::CostModel;
use crate::engine::cpu::Cpu;
use crate::engine::time::Offset;
use crate::kernel::{Admission, Kernel};
use crate::report::SimResult;
use crate::stats::Stats;
use crate::strategy::{Job, Plan, Runner, Strategy, Ticket};

/// The job of the message of `state`, arrived at a' = `arrival` with
/// deadline d' = `deadline`, as a strategy sees it, taken at `now`.
#[inline(always)]
pub(super) fn job_of(state: &Slot, arrival: Time, deadline: Option<Time>, now: Time) -> Job {
    Job {
        index: state.index,
        global_seq: state.global_seq,
        event: state.event,
        action: state.action(),
        arrival_ns: arrival.ceil_ns(),
        deadline_ns: deadline.map(Time::ceil_ns),
        service_ns: state.work_ns,
        taken: now,
        deadline,
    }
}

/// The thread an AUTH message blocks in closed replay and its recorded
/// stall σ, if any: what its unblocking releases.
#[derive(Clone, Copy)]
pub(super) struct Waiter(Option<(u32, u64)>);

impl Waiter {
    #[inline(always)]
    pub(super) fn of(state: &Slot) -> Waiter {
        Waiter(
            (state.is_auth() && state.thread != NO_THREAD)
                .then_some((state.thread, state.sigma_ns)),
        )
    }
}

/// r and r' of an answered message: when its answer reached the kernel
/// (the client's answer + ρ), and when the kernel had an answer.
#[derive(Clone, Copy)]
pub(super) struct Answered {
    pub(super) response: Time,
    pub(super) unblocked: Time,
}

/// How far [`Simulator::run`] may go.
#[derive(Clone, Copy, Debug)]
enum Limit {
    /// Up to this event key, exclusive.
    Before(Time, Class),
    /// Closed replay, the last message read arrived (recorded) at this ns:
    /// up to the threads' horizon.
    Horizon(u64),
    /// Everything.
    End,
}

/// Every class by rank (`Class as u8`).
const CLASSES: [Class; 8] = [
    Class::Background,
    Class::Completion,
    Class::Take,
    Class::Arrival,
    Class::Inject,
    Class::Dispatch,
    Class::Watchdog,
    Class::Deadline,
];

/// The ranks of the classes of per-message events.
const COMPLETION: u8 = Class::Completion as u8;
const TAKE: u8 = Class::Take as u8;
const ARRIVAL: u8 = Class::Arrival as u8;
const DISPATCH: u8 = Class::Dispatch as u8;

/// No event (above every event key).
const NO_EVENT: u128 = u128::MAX;

/// Jobs queued before the next one is parked (see `Simulator::park`): a
/// queue up to this long keeps its slots (about 2 MiB; a burst costs no
/// packing), a longer one is the sustained overload where memory counts.
const PARK_AFTER: usize = 16_384;

/// Keeps the earlier of `best` and the key of (max(at, now), class).
#[inline(always)]
fn earliest(best: &mut u128, now: Time, at: Option<Time>, class: Class) {
    if let Some(at) = at {
        *best = (*best).min(at.max(now).key(class as u8));
    }
}

/// d'_i = d_i + (a'_i − a_i) for an AUTH message with a deadline.
#[inline]
pub(super) fn shifted_deadline(message: &Message, arrival: Time) -> Option<Time> {
    let deadline = Time::from_ns(message.deadline_ns.filter(|_| message.is_auth())?);
    let recorded = Time::from_ns(message.arrival_ns);
    if arrival == recorded {
        return Some(deadline);
    }
    Some(Offset::between(recorded, arrival).apply(deadline))
}

impl<'a, S: Strategy + ?Sized, O: Observer> Simulator<'a, S, O> {
    /// A simulation of `strategy` (fresh: built for this run) under `cost`.
    pub fn new(strategy: &'a mut S, cost: &'a CostModel, config: SimConfig, observer: O) -> Self {
        let workers = strategy.workers();
        let runner = strategy.runner();
        let kernel = config
            .kernel
            .is_active()
            .then(|| Kernel::new(&config.kernel));
        let co = config.co_client.clone().map(CoClient::new);
        let has_co = co.is_some();
        let track = matches!(config.cpu.background, Background::Track(_));
        let may_run_alone = may_run_alone(&config, runner, workers);
        Simulator {
            strategy,
            cost,
            cpu: Cpu::new(config.cpu.clone()),
            config,
            observer,
            workers,
            now: Time::ZERO,
            slots: Default::default(),
            waiting: Default::default(),
            waiting_parked: Default::default(),
            waiting_messages: Default::default(),
            keep_messages: runner.is_none() || has_co,
            phase: Phase::Idle,
            phase_since: Time::ZERO,
            running: vec![None; workers as usize],
            idle: IdleWorkers::all(workers),
            queued: 0,
            dispatchable: false,
            watchdogs: Default::default(),
            deadlines: Default::default(),
            threads: None,
            next_index: 0,
            last_arrival: None,
            reported: 0,
            handler_busy: Busy::default(),
            worker_busy: Busy::default(),
            stats: Stats::default(),
            co,
            triggers: Vec::new(),
            triggers_kept: 0,
            kernel,
            shortcuts: true,
            // A co-resident client keeps messages by slot: nothing parks.
            park_after: if has_co { usize::MAX } else { PARK_AFTER },
            armed: 0,
            rare: has_co || track,
            may_run_alone,
            alone: None,
            lines: may_run_alone && runner == Some(Runner::Handler),
            line: Default::default(),
            line_parked: Default::default(),
            line_cap: usize::MAX,
            alone_plan: (Runner::Handler, None),
            runner,
        }
    }

    /// Reads the next message, in recorded kernel order, and simulates
    /// everything that can be known before it. A borrowed message is
    /// cloned only if the engine keeps it (it waits in the kernel queue
    /// for a take that reads it, or the closed loop holds it), so a
    /// caller that owns a batch of messages may lend them.
    #[inline(always)]
    pub fn push(&mut self, message: impl PushedMessage) -> Result<(), SimError> {
        let index = self.next_index;
        self.next_index += 1;
        if self.closed_from(message.message()) {
            self.end_alone(None)?;
            let threads = self.threads.get_or_insert_with(Threads::default);
            let recorded = message.message().arrival_ns;
            if !threads.intake(message, index)? {
                return Ok(());
            }
            return self.run_with::<true>(Limit::Horizon(recorded));
        }
        let arrival = Time::from_ns(message.message().arrival_ns);
        let at = arrival.max(self.now);
        self.end_alone(Some(at))?;
        // Not closed: the closed loop does not exist.
        if !self.loop_is_empty() {
            self.run_with::<false>(Limit::Before(at, Class::Arrival))?;
        }
        self.move_to(at);
        if let Some(slot) = self.enter(Arriving::unpaced(message.message(), index, arrival))? {
            self.wait(slot, || message.into_owned());
        }
        Ok(())
    }

    /// Whether the event loop, outside the closed loop, has no event to
    /// run: no CPU work, no message in the kernel queue, no dispatch due
    /// and no rarely used source (the sources [`next_event`] scans
    /// without them). Most messages that run alone find it so, and skip
    /// the scan.
    ///
    /// [`next_event`]: Self::next_event
    #[inline(always)]
    pub(super) fn loop_is_empty(&self) -> bool {
        !self.rare && !self.dispatchable && self.waiting.is_empty() && self.cpu.is_idle()
    }

    /// Whether `message` goes through the closed loop: until the first
    /// message of a thread, closed replay is open replay (and the closed
    /// loop does not exist: no event source to scan), after it every
    /// message goes through it.
    #[inline(always)]
    fn closed_from(&self, message: &Message) -> bool {
        self.threads.is_some()
            || (self.config.replay != ReplayMode::Open && thread_key(message).is_some())
    }

    /// Misses among the messages settled so far.
    pub fn misses(&self) -> u64 {
        self.stats.misses
    }

    /// Runs every remaining event and returns the result.
    pub fn finish(mut self) -> Result<SimResult, SimError> {
        self.drain_line()?;
        self.end_alone(None)?;
        self.close_last_instant()?;
        self.run(Limit::End)?;
        debug_assert!(self.waiting.is_empty(), "a message was never taken");
        if self.reported != self.next_index {
            let left = self.next_index - self.reported;
            return Err(SimError::Unfinished(self.strategy.name(), left));
        }
        if let Some(last) = self.last_arrival.filter(|_| !self.stats.backlog.sealed()) {
            self.close_instant(last);
        }
        let kill = self.config.miss_mode == MissMode::Kill;
        let mut result = self.stats.result(
            self.strategy.name(),
            self.workers,
            kill,
            (self.handler_busy.total(), self.worker_busy.total()),
        );
        self.extend(&mut result);
        Ok(result)
    }

    /// Closes the last arrival instant as soon as every event up to it
    /// has run and no message can arrive after it, and seals the backlog:
    /// the responses of the jobs still queued, all after the last instant,
    /// are then not kept (one per queued job until the end, 8 bytes each,
    /// after a long overload). In open replay without a co-resident
    /// client that is at once (every message pushed has arrived); else
    /// the events run one key at a time until it is so.
    pub(super) fn close_last_instant(&mut self) -> Result<(), SimError> {
        if !self.shortcuts || self.stats.backlog.sealed() {
            return Ok(());
        }
        while !self.arrivals_over() {
            let key = self.next_event::<true, true>();
            if key == NO_EVENT {
                return Ok(());
            }
            // The events of this key (the key after it is a valid one).
            let (at, rank) = Time::from_key(key + 1);
            self.run(Limit::Before(at, CLASSES[usize::from(rank)]))?;
        }
        let Some(last) = self.last_arrival else {
            return Ok(());
        };
        // Every response at or before `last` comes from an event at or
        // before it (an answer is never unblocked before it is sent).
        let after_last = Time::from_raw(Time::from_ns(last).raw() + 1);
        self.run(Limit::Before(after_last, Class::Background))?;
        self.close_instant(last);
        self.stats.backlog.seal();
        Ok(())
    }

    /// Whether no message can arrive any more, once the input has ended:
    /// the closed loop holds none (read ahead or released), and a
    /// co-resident client has no open pending and none to come from our
    /// client's opens (of a job still in the client, or of a message
    /// still in the kernel queue: it keeps its trigger when taken).
    fn arrivals_over(&self) -> bool {
        let closed = self.threads.as_ref().is_none_or(Threads::drained);
        let ours = self.triggers_kept > 0 || !self.waiting.is_empty();
        let co = self
            .co
            .as_ref()
            .is_none_or(|co| co.next_at().is_none() && !(ours && co.watches_our_opens()));
        closed && co
    }

    /// The result keys of the features in use.
    fn extend(&self, result: &mut SimResult) {
        let closed = match self.config.replay {
            ReplayMode::Closed => true,
            ReplayMode::Open => false,
            ReplayMode::Auto => self.threads.as_ref().is_some_and(|t| t.count() > 0),
        };
        if closed {
            result.replay = Some("closed".into());
            result.stall_ns = Some(self.stats.stall);
            result.throttled_ns = Some(self.stats.throttled);
        }
        if self.config.kernel_queue.is_some() {
            result.dropped = Some(self.stats.dropped);
            result.dropped_allowed = Some(self.stats.dropped_allowed);
            result.dropped_denied = Some(self.stats.dropped_denied);
        }
        if let Some(cores) = self.config.cpu.cores_milli {
            result.cores = Some(from_milli(cores));
            result.background = Some(match &self.config.cpu.background {
                Background::Constant(b) => from_milli(*b),
                Background::Track(track) => {
                    let first = self.stats.first_arrival.unwrap_or(0);
                    track.mean(first, self.stats.end.max(first))
                }
            });
            result.cpu_rate = Some(self.cpu.cpu_rate().unwrap_or(1.0));
        }
        if let Some(co) = &self.co {
            let (injected, runaway) = co.counts();
            result.injected = Some(injected);
            result.runaway = Some(runaway);
        }
        if let Some(counts) = self.kernel_counts() {
            result.cached = Some(counts.cached);
            result.muted = Some(counts.muted);
        }
    }

    /// Processes events in (time, class) order, up to `limit` (exclusive).
    fn run(&mut self, limit: Limit) -> Result<(), SimError> {
        match self.threads.is_some() {
            true => self.run_with::<true>(limit),
            false => self.run_with::<false>(limit),
        }
    }

    /// [`run`](Self::run) where whether the closed loop exists is known.
    #[inline(always)]
    fn run_with<const THREADS: bool>(&mut self, limit: Limit) -> Result<(), SimError> {
        match self.rare {
            true => self.run_events::<true, THREADS>(limit),
            false => self.run_events::<false, THREADS>(limit),
        }
    }

    /// [`run`](Self::run), looking at the rarely used event sources (see
    /// `rare`) if `RARE`; without, until an event makes them needed (a
    /// timer armed), then with them; and at the closed loop if `THREADS`
    /// (it exists: it is made only by `push`, never during a run). Four
    /// instantiations of the loop: the handlers of per-job events are
    /// `#[inline(always)]` so that all keep them inline, as the single
    /// loop did.
    fn run_events<const RARE: bool, const THREADS: bool>(
        &mut self,
        limit: Limit,
    ) -> Result<(), SimError> {
        debug_assert_eq!(THREADS, self.threads.is_some());
        let fixed = match limit {
            Limit::Before(at, class) => at.key(class as u8),
            Limit::Horizon(_) => Time::MAX.key(Class::Deadline as u8),
            Limit::End => NO_EVENT,
        };
        loop {
            let key = self.next_event::<RARE, THREADS>();
            if key == NO_EVENT || key >= fixed {
                break;
            }
            let (at, rank) = Time::from_key(key);
            // Recomputed after every event: an answer can lower δ_floor.
            if let (true, Limit::Horizon(read_ns), Some(threads)) =
                (THREADS, limit, &mut self.threads)
                && at >= threads.horizon(read_ns)
            {
                threads.stopped_at(at);
                break;
            }
            self.move_to(at);
            match rank {
                COMPLETION => self.complete(),
                TAKE => self.take()?,
                DISPATCH => self.dispatch()?,
                ARRIVAL if THREADS => {
                    if let Some(released) = self.threads.as_mut().and_then(Threads::pop_arrival) {
                        self.enter_released(released)?;
                    }
                }
                // Only the rare sources have events of the other classes.
                _ if RARE => self.rare_event(rank)?,
                _ => {}
            }
            if !RARE && self.rare {
                return self.run_events::<true, THREADS>(limit);
            }
        }
        Ok(())
    }

    /// Runs the event of class `rank` of a rarely used source.
    #[inline(always)]
    fn rare_event(&mut self, rank: u8) -> Result<(), SimError> {
        match CLASSES[usize::from(rank)] {
            Class::Background => self.cpu.skip_points(self.now),
            Class::Inject => self.inject()?,
            Class::Watchdog => self.fire_watchdog(),
            Class::Deadline => self.fire_deadline(),
            Class::Completion | Class::Take | Class::Arrival | Class::Dispatch => {}
        }
        Ok(())
    }

    /// The key of the next event ([`NO_EVENT`]: none), among the rarely
    /// used sources too if `RARE`, the closed loop's arrivals if
    /// `THREADS`.
    #[inline]
    fn next_event<const RARE: bool, const THREADS: bool>(&self) -> u128 {
        let now = self.now;
        // A task never finishes before now (its tag is at least V at its
        // start): the first candidate needs neither clamp nor comparison.
        let completion = self.cpu.next_completion();
        debug_assert!(completion.is_none_or(|at| at >= now));
        let mut best = completion.map_or(NO_EVENT, |at| at.key(Class::Completion as u8));
        // The kernel queue is empty more often than the handler is busy:
        // asked first.
        if let Some(&slot) = self.waiting.front()
            && matches!(self.phase, Phase::Idle)
        {
            let front = self.slots.time(slot, At::Arrival);
            let ready = front.plus_ns(self.config.transport_ns);
            earliest(&mut best, now, Some(ready), Class::Take);
        }
        if self.dispatchable {
            earliest(&mut best, now, Some(now), Class::Dispatch);
        }
        if let (true, Some(threads)) = (THREADS, &self.threads) {
            // An a' before now arrives now: the key of max(a', now).
            let arrival = threads.next_arrival().max(now.key(Class::Arrival as u8));
            best = best.min(arrival);
        }
        if !RARE {
            return best;
        }
        if let Some(co) = &self.co {
            earliest(&mut best, now, co.next_at(), Class::Inject);
        }
        let timer = |timers: &super::Timers| timers.peek().map(|timer| timer.at);
        earliest(&mut best, now, timer(&self.watchdogs), Class::Watchdog);
        earliest(&mut best, now, timer(&self.deadlines), Class::Deadline);
        earliest(&mut best, now, self.cpu.next_change(), Class::Background);
        best
    }

    #[inline]
    pub(super) fn move_to(&mut self, at: Time) {
        if at > self.now {
            self.cpu.advance(at);
            self.now = at;
        }
    }

    /// A message released by its thread in closed replay enters the
    /// kernel, borrowed from the closed loop; it moves into the kernel
    /// queue if it waits there and its take reads it. The closed loop
    /// gets its messages back.
    #[inline(always)]
    fn enter_released(&mut self, mut released: Released) -> Result<(), SimError> {
        let arriving = Arriving {
            message: released.message(),
            index: released.index,
            arrival: released.arrival,
            thread: released.thread,
            sigma_ns: released.sigma_ns,
        };
        let entered = self.enter(arriving);
        if let Ok(Some(slot)) = entered {
            self.wait(slot, || released.take());
        }
        if let Some(threads) = self.threads.as_mut() {
            threads.give_back(released);
        }
        entered.map(|_| ())
    }

    /// A message of the trace reaches the kernel: a co-resident client
    /// receives it first (before our mutes and cache: they are ours), then
    /// it arrives for our client. Returns the slot of a message that waits
    /// in the kernel queue: its owner moves it there if its take reads it,
    /// its only move on the way.
    #[inline(always)]
    fn enter(&mut self, arriving: Arriving<'_>) -> Result<Option<u32>, SimError> {
        if let Some(co) = self.co.as_mut() {
            co.receive(arriving.message, arriving.arrival);
        }
        self.arrive(arriving)
    }

    /// The kernel-side arrival path, the one place where a message enters
    /// the machine: it is counted, then dropped at a full kernel queue or
    /// admitted. ES mutes and the cache (a muted message stops before it
    /// is counted; a cached one is answered here at a') and a co-resident
    /// client's injected messages belong here too. Returns the slot of a
    /// message that waits in the kernel queue (see [`wait`](Self::wait));
    /// one taken at once may run alone (`alone`), without a slot.
    fn arrive(&mut self, released: Arriving<'_>) -> Result<Option<u32>, SimError> {
        match self.may_run_alone && self.threads.is_none() {
            true => self.arrive_with::<true>(released),
            false => self.arrive_with::<false>(released),
        }
    }

    /// [`arrive`](Self::arrive), where whether messages may run alone is
    /// known (never with the closed loop): without, the path has no check
    /// for it.
    #[inline(always)]
    fn arrive_with<const ALONE: bool>(
        &mut self,
        released: Arriving<'_>,
    ) -> Result<Option<u32>, SimError> {
        match self.admit(&released) {
            Admission::Muted => {
                self.mute(&released);
                return Ok(None);
            }
            Admission::Cached => {
                self.answer_from_cache(&released);
                return Ok(None);
            }
            Admission::Client => {}
        }
        let message = released.message;
        let arrival_ns = released.arrival.ceil_ns();
        self.stats.count(message.is_auth(), arrival_ns);
        let throttled = arrival_ns.saturating_sub(message.arrival_ns);
        self.stats.throttled = self.stats.throttled.saturating_add(throttled);
        let deadline = shifted_deadline(message, released.arrival);
        let full = self
            .config
            .kernel_queue
            .is_some_and(|n| self.kernel_queue_len() as u64 >= n);
        if full {
            self.drop_at_arrival(&released, deadline);
            return Ok(None);
        }
        let service_ns = self.cost.service_ns(message)?;
        if ALONE && self.alone.is_some() {
            self.open_instant(arrival_ns);
            self.join_line(&released, service_ns, deadline);
            return Ok(None);
        }
        if ALONE && self.runs_alone() {
            self.open_instant(arrival_ns);
            self.take_alone(&released, service_ns, deadline)?;
            return Ok(None);
        }
        let waiting = Slot::waiting(&released, service_ns);
        let slot = self.slots.alloc(waiting, released.arrival, deadline);
        self.open_instant(arrival_ns);
        if let (Some(d), true) = (deadline, self.config.miss_mode != MissMode::Kill) {
            let armed = self.arm();
            self.slots.set_deadline_armed(slot, armed);
            self.push_deadline((d, armed), JobRef::slot(slot), released.index);
        }
        if self.taken_at_once() {
            self.take_message(slot, Some(message))?;
            return Ok(None);
        }
        Ok(Some(slot))
    }

    /// Whether a message arriving now is taken at once: with τ = 0, one
    /// arriving at an idle handler with nothing in the kernel queue before
    /// it is available at this instant, and every event of the instant
    /// with a smaller key has run (arrivals and injections come after CPU
    /// completions and takes), so its take is the very next event; it
    /// runs now instead of after one more scan, without passing through
    /// the queue.
    pub(super) fn taken_at_once(&self) -> bool {
        let next = self.shortcuts
            && self.config.transport_ns == 0
            && matches!(self.phase, Phase::Idle)
            && self.waiting.is_empty();
        debug_assert!(
            !next || self.next_event::<true, true>() > self.now.key(Class::Take as u8),
            "nothing runs before the take"
        );
        next
    }

    /// The co-client's next open enters the kernel now.
    fn inject(&mut self) -> Result<(), SimError> {
        let Some((message, arrival)) = self.co.as_mut().and_then(CoClient::pop) else {
            return Ok(());
        };
        let index = self.next_index;
        self.next_index += 1;
        // Not `enter`: the co-client does not receive its own opens.
        if let Some(slot) = self.arrive(Arriving::unpaced(&message, index, arrival))? {
            self.wait(slot, || message);
        }
        Ok(())
    }

    /// A message that finds the kernel queue full: answered by the kernel
    /// at a' (allow, or deny under fail-closed), never seen by the client.
    fn drop_at_arrival(&mut self, released: &Arriving<'_>, deadline: Option<Time>) {
        self.not_answered_by_client(released.index);
        let message = released.message;
        let at = released.arrival.ceil_ns();
        self.stats.drop(
            message.is_auth(),
            self.config.miss_mode == MissMode::FailClosed,
            at,
        );
        let outcome = Outcome {
            dropped: true,
            ..answered_at_arrival(released, deadline)
        };
        self.observer.outcome(&outcome);
        self.reported += 1;
        self.release_thread(released);
    }

    /// A new arrival instant closes the previous one for the backlog.
    #[inline(always)]
    pub(super) fn open_instant(&mut self, arrival_ns: u64) {
        if self.last_arrival.is_none_or(|last| arrival_ns > last) {
            if let Some(previous) = self.last_arrival {
                self.close_instant(previous);
            }
            self.last_arrival = Some(arrival_ns);
        }
        self.stats.backlog.arrive();
    }

    fn close_instant(&mut self, at_ns: u64) {
        if O::BACKLOG {
            let in_flight = self.stats.backlog.close_instant(at_ns);
            self.observer.backlog(at_ns, in_flight);
        } else {
            self.stats.backlog.close_for_max(at_ns);
        }
    }

    /// The message in `slot` waits in the kernel queue; the message
    /// itself (moved in by `message`) only if its take reads it
    /// (`keep_messages`).
    #[inline(always)]
    fn wait(&mut self, slot: u32, message: impl FnOnce() -> Message) {
        // Once it parks, `waiting` keeps its length (`take`) while any
        // are parked: a later message parks too, behind them.
        match self.waiting.len() >= self.park_after.max(1) {
            true => self.park_waiting(slot),
            false => self.waiting.push_back(slot),
        }
        if self.keep_messages {
            self.waiting_messages.push_back(message());
        }
    }

    /// The idle handler takes the front of the kernel queue, now.
    fn take(&mut self) -> Result<(), SimError> {
        let Some(slot) = self.waiting.pop_front() else {
            return Ok(());
        };
        if !self.waiting_parked.is_empty() {
            self.move_up_waiting();
        }
        let message = self.waiting_messages.pop_front();
        self.take_message(slot, message.as_ref())
    }

    /// The handler takes `message` (in `slot`; `None` if not kept: see
    /// `keep_messages`) now.
    #[inline(always)]
    pub(super) fn take_message(
        &mut self,
        slot: u32,
        message: Option<&Message>,
    ) -> Result<(), SimError> {
        let plan = match (self.runner, message) {
            (Some(runner), _) => Plan::on(runner, self.slots[slot].work_ns),
            (None, Some(message)) => {
                let job = self.job(slot, self.now);
                self.strategy.plan(&job, message)
            }
            (None, None) => unreachable!("a strategy that plans has its messages kept"),
        };
        self.check_workers(plan.runner)?;
        self.keep_trigger(slot, message, plan.runner);
        let watchdog = self.watch(plan.watchdog);
        self.take_watched(slot, plan.runner, plan.work_ns, watchdog);
        Ok(())
    }

    /// An error for a job planned on a worker of a strategy without any.
    #[inline(always)]
    pub(super) fn check_workers(&self, runner: Runner) -> Result<(), SimError> {
        match runner == Runner::Worker && self.workers == 0 {
            true => Err(SimError::NoWorkers(self.strategy.name())),
            false => Ok(()),
        }
    }

    /// A watchdog due at `guard` for a job taken now: when it fires, and
    /// its place in the order of arming.
    #[inline(always)]
    pub(super) fn watch(&mut self, guard: Option<Time>) -> Option<Watch> {
        let now = self.now;
        guard.map(|guard| (self.fire_time(guard.max(now), now), self.arm()))
    }

    /// The take of `slot`, planned with `work_ns` of work on `runner` and
    /// `watchdog` armed.
    #[inline(always)]
    pub(super) fn take_watched(
        &mut self,
        slot: u32,
        runner: Runner,
        work_ns: u64,
        watchdog: Option<Watch>,
    ) {
        let state = &mut self.slots[slot];
        state.work_ns = work_ns;
        state.taken_ns = self.now.ceil_ns();
        match runner {
            Runner::Handler => {
                state.stage = Stage::Running;
                self.arm_watchdog(slot, watchdog);
                self.begin(Phase::Work(slot), work_ns);
            }
            Runner::Answer => {
                state.stage = Stage::Running;
                state.work_ns = self.config.handoff_ns;
                self.arm_watchdog(slot, watchdog);
                self.begin(Phase::Work(slot), self.config.handoff_ns);
            }
            Runner::Worker => {
                state.stage = Stage::HandOff;
                match self.config.handoff_ns {
                    // The job is queued now: its watchdog is armed where
                    // it will wait.
                    0 => self.handed_off(slot, watchdog),
                    handoff => {
                        self.arm_watchdog(slot, watchdog);
                        self.begin(Phase::HandOff(slot), handoff);
                    }
                }
            }
        }
    }

    /// Arms `watchdog`, if any, for the job in `slot`.
    #[inline(always)]
    pub(super) fn arm_watchdog(&mut self, slot: u32, watchdog: Option<Watch>) {
        if let Some(watch) = watchdog {
            self.slots[slot].flags |= WATCHED;
            let index = self.slots[slot].index;
            self.push_watchdog(watch, JobRef::slot(slot), index);
        }
    }

    fn push_watchdog(&mut self, watch: Watch, job: JobRef, index: u64) {
        self.watchdogs.push(Timer::new(watch, job, index));
        self.rare = true;
        self.compact_timers();
    }

    /// Arms a kernel deadline timer (fail modes) at d', in its place in
    /// the order of arming.
    fn push_deadline(&mut self, deadline: Watch, job: JobRef, index: u64) {
        self.deadlines.push(Timer::new(deadline, job, index));
        self.rare = true;
        self.compact_timers();
    }

    /// The next timer's place in the order of arming.
    fn arm(&mut self) -> u64 {
        self.armed += 1;
        self.armed
    }

    /// The job of `slot` as a strategy sees it, taken now.
    #[inline(always)]
    fn job(&self, slot: u32, now: Time) -> Job {
        let arrival = self.slots.time(slot, At::Arrival);
        job_of(&self.slots[slot], arrival, self.slots.deadline(slot), now)
    }

    /// Keeps `message` until its job ends if the co-client will see our
    /// client open its target then (not for a message answered at once).
    #[inline(always)]
    fn keep_trigger(&mut self, slot: u32, message: Option<&Message>, runner: Runner) {
        if let (Some(_), Some(message)) = (&self.co, message) {
            self.keep_trigger_for_co(slot, message, runner);
        }
    }

    /// [`keep_trigger`](Self::keep_trigger) with a co-client.
    fn keep_trigger_for_co(&mut self, slot: u32, message: &Message, runner: Runner) {
        let Some(co) = &self.co else {
            return;
        };
        let keep = co.watches_our_opens() && runner != Runner::Answer;
        if self.triggers.len() <= slot as usize {
            self.triggers.resize(slot as usize + 1, None);
        }
        let before = std::mem::replace(
            &mut self.triggers[slot as usize],
            keep.then(|| message.clone()),
        );
        debug_assert!(before.is_none(), "a slot's trigger goes at its settling");
        self.triggers_kept += usize::from(keep);
    }

    /// Timers of settled or answered messages wait in their heaps until
    /// due (a heap cannot remove them); when a heap holds twice as many
    /// timers as messages in flight, the dead ones go. So the timers follow
    /// the backlog, not the budget, at O(1) amortised per timer.
    fn compact_timers(&mut self) {
        let in_flight = self.slots.in_flight();
        let slots = &self.slots;
        let live = |timer: &Timer, flag: u8| slots.live(timer.job, timer.index, flag);
        if self.watchdogs.len() > 2 * in_flight + 64 {
            self.watchdogs.retain(|timer| live(timer, ANSWERED));
        }
        if self.deadlines.len() > 2 * in_flight + 64 {
            self.deadlines.retain(|timer| live(timer, UNBLOCKED));
        }
    }

    /// When a watchdog due at `guard` for a message taken at `taken` fires.
    fn fire_time(&self, guard: Time, taken: Time) -> Time {
        match self.config.guard_timer {
            GuardTimer::Exact => guard,
            GuardTimer::Dispatch => {
                let leeway = Time::from_raw((guard - taken).raw() / 10)
                    .clamp(Time::from_ns(1_000_000), Time::from_ns(60_000_000_000));
                guard + leeway
            }
        }
    }

    /// The handler runs `work_ns` of CPU work in `phase`, from now.
    pub(super) fn begin(&mut self, phase: Phase, work_ns: u64) {
        self.phase = phase;
        self.phase_since = self.now;
        self.cpu.start(0, work_ns);
    }

    /// After a message: the handler overhead, then idle.
    fn rest(&mut self) {
        match self.config.handler_overhead_ns {
            0 => self.phase = Phase::Idle,
            overhead => self.begin(Phase::Overhead, overhead),
        }
    }

    /// The hand-off of `slot` ends now: its job goes to the strategy,
    /// and `watchdog`, if one is to be armed now (not yet at the take), is
    /// armed where the job waits.
    #[inline(always)]
    fn handed_off(&mut self, slot: u32, watchdog: Option<Watch>) {
        let deadline = self.slots.deadline(slot);
        let state = &mut self.slots[slot];
        if state.stage == Stage::Dropped {
            // Its watchdog answered it.
            self.settle(slot, self.answered(slot), None, None);
        } else {
            state.stage = Stage::Queued;
            let (global_seq, index) = (state.global_seq, state.index);
            let job = self.park(slot, watchdog);
            self.strategy
                .queue(Ticket::new(deadline, global_seq, index, job));
            if let Some(watch) = watchdog {
                match job.as_slot() {
                    Some(slot) => self.arm_watchdog(slot, watchdog),
                    None => self.push_watchdog(watch, job, index),
                }
            }
            self.queued += 1;
            self.dispatchable = !self.idle.is_empty();
        }
        self.rest();
    }

    /// Where the job of `slot`, queued now, waits: in its slot, or parked
    /// as a compact record when the queue is long (sustained overload)
    /// and nothing but its ticket and its watchdog refers to its slot:
    /// `fresh`, to be armed now, or one armed at the take if it is the
    /// last timer armed (it then follows the job).
    #[inline(always)]
    fn park(&mut self, slot: u32, fresh: Option<Watch>) -> JobRef {
        if self.queued < self.park_after {
            return JobRef::slot(slot);
        }
        self.park_long(slot, fresh)
    }

    /// [`park`](Self::park) once the queue is long (out of line: the
    /// short queue's path stays small).
    #[inline(never)]
    fn park_long(&mut self, slot: u32, fresh: Option<Watch>) -> JobRef {
        let state = &self.slots[slot];
        let watched = state.has(WATCHED);
        let index = state.index;
        let last_timer = self.watchdogs.last_pushed().filter(|t| t.index == index);
        if watched && last_timer.is_none() {
            return JobRef::slot(slot);
        }
        let deadline = self.pending_deadline(slot);
        let armed = last_timer
            .filter(|_| watched)
            .map(|timer| (timer.at, timer.armed));
        let job = self
            .slots
            .park(slot, armed.or(fresh), deadline.map(|(_, armed)| armed));
        if armed.is_some() {
            self.watchdogs.modify_last_pushed(|timer| timer.job = job);
        }
        if let Some(deadline) = deadline {
            self.push_deadline(deadline, job, index);
        }
        job
    }

    /// [`park_long`](Self::park_long) for the message of `slot`, which
    /// joins a long kernel queue (out of line: see [`wait`](Self::wait)).
    #[cold]
    #[inline(never)]
    fn park_waiting(&mut self, slot: u32) {
        let index = self.slots[slot].index;
        let deadline = self.pending_deadline(slot);
        let job = self
            .slots
            .park_waiting(slot, deadline.map(|(_, armed)| armed));
        if let Some(deadline) = deadline {
            self.push_deadline(deadline, job, index);
        }
        self.waiting_parked.push_back(job);
    }

    /// The kernel queue's first parked message moves up into a slot, at
    /// the back of `waiting`, as its front left (out of line: only a long
    /// queue parks).
    #[cold]
    #[inline(never)]
    fn move_up_waiting(&mut self) {
        let Some(job) = self.waiting_parked.pop_front() else {
            return;
        };
        let (slot, deadline_armed) = self.slots.unpark_waiting(job);
        self.waiting.push_back(slot);
        self.rearm_deadline(slot, deadline_armed);
    }

    /// The kernel deadline timer of the message of `slot` that is still
    /// to fire (fail modes): when, and its place in the order of arming.
    /// A parked job's is armed again for its record, in that place (the
    /// one armed for the slot is dead with it).
    fn pending_deadline(&self, slot: u32) -> Option<Watch> {
        let state = &self.slots[slot];
        let pending = self.config.miss_mode != MissMode::Kill
            && state.has(HAS_DEADLINE)
            && !state.has(UNBLOCKED);
        pending
            .then(|| self.slots.deadline(slot))
            .flatten()
            .map(|at| (at, self.slots.deadline_armed(slot)))
    }

    /// A job back in `slot` from its record: its kernel deadline timer,
    /// if pending (its place in the order of arming `armed`), is armed
    /// again for the slot.
    fn rearm_deadline(&mut self, slot: u32, armed: Option<u64>) {
        if let (Some(armed), Some(at)) = (armed, self.slots.deadline(slot)) {
            let index = self.slots[slot].index;
            self.push_deadline((at, armed), JobRef::slot(slot), index);
        }
    }

    /// A thread's CPU work ends now.
    #[inline(always)]
    fn complete(&mut self) {
        match self.cpu.complete() {
            Some(0) => self.handler_done(),
            Some(id) => self.worker_done(id - 1),
            None => {}
        }
    }

    #[inline(always)]
    fn handler_done(&mut self) {
        let now = self.now;
        self.handler_busy.add(self.phase_since, now);
        let phase = std::mem::replace(&mut self.phase, Phase::Idle);
        if let Phase::Work(slot) = phase {
            // Settling counts the work's end (its finish) in the span.
            let answered = self.answer(slot, now, false, false);
            self.settle(slot, answered, Some((self.phase_since, now)), None);
            self.rest();
            return;
        }
        // The end of a hand-off or of the overhead is in the span.
        self.stats.end = self.stats.end.max(now.ceil_ns());
        if let Phase::HandOff(slot) = phase {
            self.handed_off(slot, None);
        }
    }

    #[inline(always)]
    fn worker_done(&mut self, worker: u32) {
        let Some((slot, start)) = self.running[worker as usize].take() else {
            return;
        };
        let now = self.now;
        self.worker_busy.add(start, now);
        let answered = self.answer(slot, now, false, false);
        self.settle(slot, answered, Some((start, now)), Some(worker));
        self.idle.push(now, worker);
        self.dispatchable = self.queued > 0;
    }

    /// The worker idle the longest (lowest id among ties) takes the job the
    /// strategy picks; when the strategy leaves that worker idle (`None`),
    /// the next idle worker is asked, and so on, so a strategy that keeps
    /// jobs for one worker is asked for that worker too. A ticket dropped
    /// by its watchdog is skipped; one of a job that already left the
    /// queue is an error.
    #[inline(always)]
    fn dispatch(&mut self) -> Result<(), SimError> {
        self.dispatch_from(0)
    }

    /// [`dispatch`](Self::dispatch), asking the idle workers from
    /// `position` on.
    #[inline(always)]
    pub(super) fn dispatch_from(&mut self, mut position: usize) -> Result<(), SimError> {
        while self.queued > 0
            && let Some(worker) = self.idle.get(position)
        {
            let answer = self.strategy.next(worker, self.now);
            match self.dispatch_answer(position, worker, answer)? {
                Some(next) => position = next,
                None => return Ok(()),
            }
        }
        self.dispatchable = false;
        Ok(())
    }

    /// What the dispatch does with the strategy's `answer` for `worker`,
    /// idle at `position`: the position to ask next, or `None` if the
    /// worker started a job.
    #[inline(always)]
    pub(super) fn dispatch_answer(
        &mut self,
        position: usize,
        worker: u32,
        answer: Option<Ticket>,
    ) -> Result<Option<usize>, SimError> {
        let Some(ticket) = answer else {
            return Ok(Some(position + 1));
        };
        self.queued -= 1;
        if let Some(slot) = self.queued_slot(&ticket)? {
            self.idle.take(position);
            self.start_on(worker, slot);
            return Ok(None);
        }
        Ok(Some(position))
    }

    /// The slot of `ticket`'s job if it is still queued (`None`: its
    /// watchdog dropped it); a ticket of a job that already left the queue
    /// is an error.
    #[inline(always)]
    fn queued_slot(&mut self, ticket: &Ticket) -> Result<Option<u32>, SimError> {
        let back = match ticket.job.as_slot() {
            Some(slot) => self.slot_back(slot, ticket.index),
            None => self.record_back(ticket),
        };
        back.ok_or_else(|| SimError::TicketTwice {
            strategy: self.strategy.name(),
            index: ticket.index,
        })
    }

    /// [`queued_slot`](Self::queued_slot) for a job in `slot` (`None`:
    /// the ticket came back before).
    fn slot_back(&self, slot: u32, index: u64) -> Option<Option<u32>> {
        let stage = self
            .slots
            .get(slot)
            .filter(|s| s.index == index)
            .map(|s| s.stage);
        match stage {
            Some(Stage::Running | Stage::HandOff | Stage::Waiting) => None,
            Some(Stage::Queued) => Some(Some(slot)),
            _ => Some(None),
        }
    }

    /// [`queued_slot`](Self::queued_slot) for a parked job: back into a
    /// slot, its timers armed again for it there, in their places in the
    /// order of arming (the record's are now dead).
    #[inline(always)]
    fn record_back(&mut self, ticket: &Ticket) -> Option<Option<u32>> {
        let (slot, watchdog, deadline_armed) = match self.slots.claim(ticket.job, ticket.index)? {
            Returned::Run(slot, watchdog, deadline_armed) => (slot, watchdog, deadline_armed),
            Returned::Dropped => return Some(None),
        };
        if let Some(watch) = watchdog {
            self.push_watchdog(watch, JobRef::slot(slot), ticket.index);
        }
        self.rearm_deadline(slot, deadline_armed);
        Some(Some(slot))
    }

    /// Worker `worker` starts the queued job in `slot`, now.
    #[inline(always)]
    fn start_on(&mut self, worker: u32, slot: u32) {
        let state = &mut self.slots[slot];
        state.stage = Stage::Running;
        let work = state.work_ns.saturating_add(self.config.worker_overhead_ns);
        self.running[worker as usize] = Some((slot, self.now));
        self.cpu.start(worker + 1, work);
        self.dispatchable = self.queued > 0 && !self.idle.is_empty();
    }

    #[inline(always)]
    fn fire_watchdog(&mut self) {
        let Some(Timer { at, job, index, .. }) = self.watchdogs.pop() else {
            return;
        };
        if !self.slots.live(job, index, ANSWERED) {
            return;
        }
        // A parked job comes back into a slot to be settled.
        let slot = job
            .as_slot()
            .unwrap_or_else(|| self.slots.unpark_dropped(job));
        // A queued job is settled now; one handed off or running later.
        let queued = self.slots[slot].stage == Stage::Queued;
        let answered = self.answer(slot, at, true, !queued);
        let state = &mut self.slots[slot];
        match state.stage {
            Stage::Queued => {
                state.stage = Stage::Dropped;
                self.settle(slot, answered, None, None);
            }
            Stage::HandOff => state.stage = Stage::Dropped,
            _ => {}
        }
    }

    fn fire_deadline(&mut self) {
        let Some(Timer { at, job, index, .. }) = self.deadlines.pop() else {
            return;
        };
        match job.as_slot() {
            Some(slot) if self.slots.live(job, index, UNBLOCKED) => self.unblock(slot, at, true),
            Some(_) => {}
            None => match self.slots.unblock_parked(job, index, at) {
                Some(Some((state, arrival))) => {
                    self.unblocked(Waiter::of(&state), Some(arrival), at);
                }
                Some(None) => self.unblocked(Waiter(None), None, at),
                None => {}
            },
        }
    }

    /// The client answers `slot` at `at` (before ρ), if not yet answered;
    /// returns r and r' of its answer (this one or the earlier). `keep`:
    /// the message is settled later, not at once, and its slot keeps
    /// them until then.
    #[inline(always)]
    fn answer(&mut self, slot: u32, at: Time, defaulted: bool, keep: bool) -> Answered {
        let state = &mut self.slots[slot];
        if state.has(ANSWERED) {
            return self.answered(slot);
        }
        state.flags |= ANSWERED | if defaulted { DEFAULTED } else { 0 };
        let (index, unblocked) = (state.index, state.has(UNBLOCKED));
        if keep {
            self.slots.set(slot, At::Answer, at);
        }
        let response = at.plus_ns(self.config.response_latency_ns);
        if unblocked {
            self.not_answered_by_client(index);
            let unblocked = self.slots.time(slot, At::Unblocked);
            return Answered {
                response,
                unblocked,
            };
        }
        // Under a fail mode the kernel answers at d' if the client is late.
        let unblocked = match self.config.miss_mode {
            MissMode::Kill => response,
            _ => self
                .slots
                .deadline(slot)
                .map_or(response, |d| response.min(d)),
        };
        self.unblock(slot, unblocked, keep);
        self.client_answered(index, response, !defaulted && unblocked == response);
        Answered {
            response,
            unblocked,
        }
    }

    /// r and r' of the message in `slot`, answered before.
    fn answered(&self, slot: u32) -> Answered {
        let answer = self.slots.time(slot, At::Answer);
        let response = answer.plus_ns(self.config.response_latency_ns);
        let unblocked = self.slots.optional(slot, At::Unblocked, UNBLOCKED);
        Answered {
            response,
            unblocked: unblocked.unwrap_or(response),
        }
    }

    /// The kernel has the answer to `slot` at `at`: the backlog and, for
    /// an AUTH message of a thread, the closed loop learn it. `keep`: the
    /// slot keeps `at` (its message is not settled at once).
    #[inline(always)]
    fn unblock(&mut self, slot: u32, at: Time, keep: bool) {
        if keep {
            self.slots.set(slot, At::Unblocked, at);
        }
        let state = &mut self.slots[slot];
        state.flags |= UNBLOCKED;
        let waiter = Waiter::of(state);
        let arrival = waiter.0.map(|_| self.slots.time(slot, At::Arrival));
        self.unblocked(waiter, arrival, at);
    }

    /// The backlog and the closed loop learn that the message `waiter`
    /// waited on (arrived at `arrival`, known if it has a waiter) was
    /// unblocked at `at`.
    #[inline(always)]
    pub(super) fn unblocked(&mut self, waiter: Waiter, arrival: Option<Time>, at: Time) {
        self.stats.backlog.respond(at.ceil_ns());
        if let (Some((thread, sigma_ns)), Some(arrival), Some(threads)) =
            (waiter.0, arrival, self.threads.as_mut())
        {
            threads.answered(thread, arrival, at, sigma_ns);
        }
    }

    /// Everything about `slot` is known: report it and free the slot.
    /// `answered`: r and r' (it has been answered); `ran`: when its work
    /// started and finished, if it ran; `worker`: the worker that ran it,
    /// if one did.
    #[inline(always)]
    fn settle(
        &mut self,
        slot: u32,
        answered: Answered,
        ran: Option<(Time, Time)>,
        worker: Option<u32>,
    ) {
        let slots = &self.slots;
        let state = &slots[slot];
        debug_assert!(state.has(ANSWERED));
        let deadline = slots.deadline(slot);
        let outcome = outcome(
            state,
            slots.time(slot, At::Arrival),
            deadline,
            answered,
            ran,
            worker,
        );
        self.slots.free(slot);
        self.report(&outcome);
        if let Some(co) = self.co.as_mut() {
            let trigger = self.triggers.get_mut(slot as usize).and_then(Option::take);
            self.triggers_kept -= usize::from(trigger.is_some());
            if let (Some(trigger), Some((_, finish))) = (trigger, ran) {
                co.our_opens(&trigger, finish);
            }
        }
    }

    /// `outcome` is known: counted and reported.
    #[inline(always)]
    pub(super) fn report(&mut self, outcome: &Outcome) {
        self.reported += 1;
        self.stats.record(outcome);
        self.observer.outcome(outcome);
    }
}

/// The outcome of the message in `state`, arrived at `arrival` with
/// deadline `deadline`: `answered`, r and r' (it has been answered);
/// `ran`, when its work started and finished, if it ran; `worker`, the
/// worker that ran it, if one did.
#[inline(always)]
pub(super) fn outcome(
    state: &Slot,
    arrival: Time,
    deadline: Option<Time>,
    answered: Answered,
    ran: Option<(Time, Time)>,
    worker: Option<u32>,
) -> Outcome {
    let Answered {
        response,
        unblocked,
    } = answered;
    Outcome {
        index: state.index,
        global_seq: state.global_seq,
        event: state.event,
        action: state.action(),
        arrival_ns: arrival.ceil_ns(),
        recorded_arrival_ns: state.recorded_arrival_ns,
        deadline_ns: deadline.map(Time::ceil_ns),
        service_ns: state.work_ns,
        handler_ns: state.taken_ns,
        start_ns: ran.map(|(start, _)| start.ceil_ns()),
        finish_ns: ran.map(|(_, finish)| finish.ceil_ns()),
        response_ns: response.ceil_ns(),
        unblocked_ns: unblocked.ceil_ns(),
        defaulted: state.defaulted(),
        missed: state.is_auth() && deadline.is_some_and(|d| response > d),
        worker,
        dropped: false,
        cached: false,
    }
}
