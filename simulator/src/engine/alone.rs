//! A message that runs alone: taken at once by the idle handler, with
//! nothing else in the machine (no job running or queued, so no timer
//! that could fire but dead ones), no closed loop and no CPU contention
//! (no `--cores`), and planned on the handler or a worker: by a strategy
//! that plans every job so ([`Strategy::runner`]), or by the plan asked
//! for it (a guard's), whose watchdog, if any, fires after the work ends.
//! Its every event is known when it arrives: its work starts at once, on
//! the handler or (the hand-off free) on the worker idle the longest, and
//! ends s (plus a worker's overhead) later; nothing can happen before that
//! but another arrival. So it is kept aside, without a slot, a CPU task,
//! an event or a watchdog timer, until the next message arrives (or the
//! input ends):
//!
//! - if its work ended by then, it is settled then, in the order and with
//!   the figures the event loop would have given at its completion; on a
//!   worker, the strategy is given its ticket and asked for the worker's
//!   next job then, as the loop would have at its arrival;
//! - else it enters the machine as the loop would have left it (a slot,
//!   the handler's phase or its place in the strategy's queue, a CPU task
//!   started when it was taken, its watchdog armed then) and the loop
//!   goes on from there.
//!
//! The handler's overhead after it (after the work inline, after the
//! hand-off in a pool) is the same: over by the next arrival, its busy
//! time is counted; else it begins then, as a phase the loop ends.
//!
//! **The handler's line.** Under a strategy that runs every job on the
//! handler, a message arriving while one runs alone waits in the kernel
//! queue, and nothing can take the handler before it: its take (after the
//! last of the line and the handler's overhead) and its finish are known
//! at its arrival. It joins the line behind the one running alone
//! ([`join_line`](Simulator::join_line)); the messages of the line whose
//! work ended by an arrival are settled then, in order, and those left
//! when the input ends ([`drain_line`](Simulator::drain_line)); the line
//! enters the machine as the loop would have it then when the loop takes
//! over (or, in tests, at `line_cap`). Past `park_after` messages, the
//! line's next ones are parked as compact records (a line is a kernel
//! queue: a long one is an overload), their takes and finishes worked
//! out as they move up.
//!
//! Most messages of an open replay at a modest load run alone or in the
//! handler's line, and so cost no scan of the event sources, no slot and
//! no CPU bookkeeping
//! (closed replay never: there an answer paces the next arrival). One of the
//! loop's shortcuts: off with them in the tests that compare every
//! outcome and backlog sample both ways.

use super::run::{Answered, Waiter, job_of, outcome};
use super::slots::Slot;
use super::{
    Arriving, Background, JobRef, MissMode, Observer, Outcome, Phase, SimConfig, SimError,
    Simulator, Stage, Time,
};
use crate::strategy::{Runner, Strategy, Ticket};

/// The message running alone (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(super) struct Alone {
    /// Its slot as it arrived, not yet allocated.
    slot: Slot,
    /// a'.
    arrival: Time,
    /// d'.
    deadline: Option<Time>,
    /// h: when the handler took it (its work started).
    taken: Time,
    /// When its work ends.
    finish: Time,
    /// When the handler's busy time for it starts: at h, or for one in
    /// the line at the end of the message before it (the handler's
    /// overhead after that one is counted with this one).
    busy_from: Time,
}

/// A message running alone, settled at its finish: read from its record
/// in place, so that settling moves no record.
struct Settled {
    outcome: Outcome,
    waiter: Waiter,
    arrival: Time,
    taken: Time,
    finish: Time,
    busy_from: Time,
    response: Time,
}

impl Settled {
    /// `alone` settled, on `worker` (`None`: the handler), its answer
    /// reaching the kernel `latency_ns` (ρ) after its finish.
    #[inline(always)]
    fn of(alone: &Alone, latency_ns: u64, worker: Option<u32>) -> Settled {
        let response = alone.finish.plus_ns(latency_ns);
        let answered = Answered {
            response,
            unblocked: response,
        };
        let ran = Some((alone.taken, alone.finish));
        let mut outcome = outcome(
            &alone.slot,
            alone.arrival,
            alone.deadline,
            answered,
            ran,
            worker,
        );
        outcome.handler_ns = alone.taken.ceil_ns();
        Settled {
            outcome,
            waiter: Waiter::of(&alone.slot),
            arrival: alone.arrival,
            taken: alone.taken,
            finish: alone.finish,
            busy_from: alone.busy_from,
            response,
        }
    }
}

/// Whether messages may run alone under `config` with a strategy of
/// `workers` workers whose runner is `runner` (the settings that never
/// change during a run).
pub(super) fn may_run_alone(config: &SimConfig, runner: Option<Runner>, workers: u32) -> bool {
    let runner_ok = match runner {
        Some(Runner::Handler) => true,
        Some(Runner::Worker) => workers > 0 && config.handoff_ns == 0,
        Some(Runner::Answer) => false,
        // Each plan says, message by message (`take_alone`).
        None => config.handoff_ns == 0,
    };
    runner_ok
        && config.cpu.cores_milli.is_none()
        && !matches!(config.cpu.background, Background::Track(_))
        && config.miss_mode == MissMode::Kill
        && config.co_client.is_none()
}

impl<S: Strategy + ?Sized, O: Observer> Simulator<'_, S, O> {
    /// Whether the message arriving now may run alone: the settings let
    /// it (see [`may_run_alone`]), it is taken at once, nothing runs or
    /// is queued (so every watchdog still queued is dead), and no closed
    /// loop exists; its plan has the last word (`take_alone`).
    #[inline(always)]
    pub(super) fn runs_alone(&self) -> bool {
        debug_assert!(self.alone.is_none(), "the last one ended at this arrival");
        self.may_run_alone
            && self.threads.is_none()
            && self.queued == 0
            && self.cpu.is_idle()
            && self.taken_at_once()
    }

    /// The message `released`, of `work_ns` of work and deadline
    /// `deadline`, is taken now and runs alone if its plan lets it; a
    /// strategy that declares its runner always does. (Its slot is made
    /// on each path: made before, it is copied on the way.)
    #[inline(always)]
    pub(super) fn take_alone(
        &mut self,
        released: &Arriving<'_>,
        work_ns: u64,
        deadline: Option<Time>,
    ) -> Result<(), SimError> {
        match self.runner {
            Some(runner) => {
                let slot = Slot::waiting(released, work_ns);
                self.run_alone(slot, released.arrival, deadline, runner);
                Ok(())
            }
            None => self.take_planned_alone(released, work_ns, deadline),
        }
    }

    /// The message of `slot` runs alone on `runner` from now.
    #[inline(always)]
    fn run_alone(&mut self, slot: Slot, arrival: Time, deadline: Option<Time>, runner: Runner) {
        let taken = self.now;
        let work_ns = match runner {
            Runner::Worker => slot.work_ns.saturating_add(self.config.worker_overhead_ns),
            _ => slot.work_ns,
        };
        self.alone = Some(Alone {
            slot,
            arrival,
            deadline,
            taken,
            finish: taken.plus_ns(work_ns),
            busy_from: taken,
        });
    }

    /// [`take_alone`](Self::take_alone) for a strategy that plans each
    /// job (a guard): it runs alone on the handler, or on a worker if
    /// there are any, with its watchdog (if any) due after its work ends;
    /// else it enters the machine as planned (out of line: the declared
    /// runners' path stays small).
    #[inline(never)]
    fn take_planned_alone(
        &mut self,
        released: &Arriving<'_>,
        work_ns: u64,
        deadline: Option<Time>,
    ) -> Result<(), SimError> {
        let (mut slot, arrival) = (Slot::waiting(released, work_ns), released.arrival);
        let job = job_of(&slot, arrival, deadline, self.now);
        let plan = self.strategy.plan(&job, released.message);
        slot.work_ns = plan.work_ns;
        let watch = self.watch(plan.watchdog);
        let runs = match plan.runner {
            Runner::Handler => true,
            Runner::Worker => self.workers > 0,
            Runner::Answer => false,
        };
        if runs {
            self.run_alone(slot, arrival, deadline, plan.runner);
            let fires_after = |alone: &Alone| watch.is_none_or(|(at, _)| at > alone.finish);
            if self.alone.as_ref().is_some_and(fires_after) {
                self.alone_plan = (plan.runner, watch);
                return Ok(());
            }
            // Its watchdog may fire first: the loop takes it.
            self.alone = None;
        }
        self.check_workers(plan.runner)?;
        let id = self.slots.alloc(slot, arrival, deadline);
        self.take_watched(id, plan.runner, plan.work_ns, watch);
        Ok(())
    }

    /// Ends the message running alone, if any, before anything else
    /// happens at `next` (an arrival then; `None`: the loop takes over).
    #[inline(always)]
    pub(super) fn end_alone(&mut self, next: Option<Time>) -> Result<(), SimError> {
        match self.alone.is_some() {
            true => self.end_alone_now(next),
            false => Ok(()),
        }
    }

    /// [`end_alone`](Self::end_alone) when a message runs alone (out of
    /// line: the loop that pushes messages stays small for the others).
    /// On the handler its work ended by `next` if it ended at or before
    /// (a completion comes before an arrival at one instant); a worker's
    /// job is dispatched after the arrivals of its instant, so only if
    /// `next` is later.
    #[inline(never)]
    fn end_alone_now(&mut self, next: Option<Time>) -> Result<(), SimError> {
        // Read in place: the record is moved only where it must be.
        let Some(alone) = self.alone.as_ref() else {
            return Ok(());
        };
        let (taken, finish) = (alone.taken, alone.finish);
        // A planned message's runner is in its plan.
        let runner = self.runner.unwrap_or(self.alone_plan.0);
        match (runner, next) {
            (Runner::Handler, Some(at)) if finish <= at => {
                let settled = self.settled(alone, None);
                self.alone = None;
                self.settle_alone(settled);
                match self.line.is_empty() {
                    true => self.rest_alone(finish, at),
                    false => return self.end_line(at),
                }
                Ok(())
            }
            (Runner::Handler, _) if self.lines => self.keep_line(next),
            (Runner::Worker, Some(at)) if at > taken => {
                let alone = self.alone.take().expect("read above");
                self.dispatch_alone(alone, at)
            }
            _ => {
                let alone = self.alone.take().expect("read above");
                self.enter_alone(alone, runner)
            }
        }
    }

    /// The messages of the handler's line whose work ends by `at`, the
    /// one before them settled, are settled in order (out of line: only
    /// a busy handler has a line); the first whose work outlasts `at`, if
    /// any, runs alone with the rest of the line behind it.
    #[inline(never)]
    fn end_line(&mut self, at: Time) -> Result<(), SimError> {
        let mut last_finish = None;
        while let Some(head) = self.line.pop_front() {
            self.move_up(head.finish);
            if head.finish > at {
                self.alone = Some(head);
                return self.keep_line(Some(at));
            }
            self.settle_alone(self.settled(&head, None));
            last_finish = Some(head.finish);
        }
        if let Some(finish) = last_finish {
            self.rest_alone(finish, at);
        }
        Ok(())
    }

    /// The message running alone on the handler outlasts `next`: the
    /// message arriving then joins the line behind it while the line is
    /// shorter than `line_cap`; else (or if the loop takes over, `next`
    /// `None`) the line enters the machine.
    fn keep_line(&mut self, next: Option<Time>) -> Result<(), SimError> {
        match next {
            Some(_) if self.line.len() + self.line_parked.len() < self.line_cap => Ok(()),
            _ => self.enter_line(),
        }
    }

    /// The front of the handler's line, which finished at `left`, left
    /// it: the first parked one, if any, moves up into `line`.
    #[inline(always)]
    fn move_up(&mut self, left: Time) {
        if !self.line_parked.is_empty() {
            self.move_up_parked(left);
        }
    }

    /// [`move_up`](Self::move_up): the first parked message moves up
    /// behind the last of `line`, or (`line` empty) behind the one that
    /// left, its take and finish worked out as [`join_line`] would have
    /// them (out of line: only a long line parks).
    ///
    /// [`join_line`]: Self::join_line
    #[cold]
    #[inline(never)]
    fn move_up_parked(&mut self, left: Time) {
        let Some(job) = self.line_parked.pop_front() else {
            return;
        };
        let before = self.line.back().map_or(left, |last| last.finish);
        let (slot, arrival, deadline) = self.slots.unpark_line(job);
        let entry = self.lined_up(slot, arrival, deadline, before);
        self.line.push_back(entry);
    }

    /// A message of `slot` in the handler's line behind one that
    /// finishes at `before`: taken after that one and the handler's
    /// overhead after it.
    #[inline(always)]
    fn lined_up(&self, slot: Slot, arrival: Time, deadline: Option<Time>, before: Time) -> Alone {
        let taken = before.plus_ns(self.config.handler_overhead_ns);
        Alone {
            finish: taken.plus_ns(slot.work_ns),
            slot,
            arrival,
            deadline,
            taken,
            busy_from: before,
        }
    }

    /// The message `released`, of `work_ns` of work and deadline
    /// `deadline`, arrives now while the handler's line has a message:
    /// it waits in the kernel queue until the handler takes it, right
    /// after the last one of the line and the handler's overhead after
    /// that one (a completion and a take come before an arrival at one
    /// instant, so that is later than now).
    #[inline(never)]
    pub(super) fn join_line(
        &mut self,
        released: &Arriving<'_>,
        work_ns: u64,
        deadline: Option<Time>,
    ) {
        debug_assert!(self.lines, "only the handler's line has a head now");
        let arrival = released.arrival;
        // Once it parks, `line` keeps its length (`move_up`) while any
        // are parked: a later message parks too, behind them.
        if self.line.len() >= self.park_after.max(1) {
            self.park_in_line(Slot::waiting(released, work_ns), arrival, deadline);
            return;
        }
        debug_assert!(self.line_parked.is_empty());
        let last = self.line.back().or(self.alone.as_ref());
        let before = last.expect("a line has a head").finish;
        let entry = self.lined_up(Slot::waiting(released, work_ns), arrival, deadline, before);
        debug_assert!(entry.taken > self.now, "its take is still to come");
        self.line.push_back(entry);
    }

    /// A message joins a long handler's line parked, its take and finish
    /// worked out when it moves up ([`move_up`](Self::move_up)); out of
    /// line: a long line is an overload.
    #[cold]
    #[inline(never)]
    fn park_in_line(&mut self, slot: Slot, arrival: Time, deadline: Option<Time>) {
        let job = self.slots.park_line(slot, arrival, deadline);
        self.line_parked.push_back(job);
    }

    /// At the end of the input, the message running alone on the
    /// handler and its line are settled in order, as the loop would
    /// settle them: nothing else can happen any more (no arrival, no
    /// other work). Those whose work ended by the last arrival instant
    /// are settled first, as at an arrival then; every later answer comes
    /// after that instant, which is closed before them (so the backlog
    /// keeps none of them: see `close_last_instant`). A line the loop
    /// would drain after a long overload costs it no slot and no event.
    pub(super) fn drain_line(&mut self) -> Result<(), SimError> {
        let Some(last) = self.last_arrival.filter(|_| self.lines) else {
            return Ok(());
        };
        self.end_alone(Some(Time::from_ns(last)))?;
        if self.alone.is_none() {
            return Ok(());
        }
        debug_assert!(self.loop_is_empty() && self.threads.is_none());
        self.close_last_instant()?;
        self.end_alone(Some(Time::MAX))
    }

    /// The messages in the kernel queue now, the handler's line's
    /// included.
    pub(super) fn kernel_queue_len(&self) -> usize {
        self.waiting.len() + self.waiting_parked.len() + self.line_waiting()
    }

    /// The messages of the handler's line still in the kernel queue now
    /// (all but the head, and the head too if the handler's overhead
    /// before it still runs). Only the handler's line has a head when a
    /// message arrives: a lone message of another runner has ended by
    /// then.
    fn line_waiting(&self) -> usize {
        let head = self.alone.as_ref();
        self.line.len()
            + self.line_parked.len()
            + usize::from(head.is_some_and(|head| head.taken > self.now))
    }

    /// The handler's line enters the machine as the loop would have it
    /// now: the head running since its take, or (not yet taken) the
    /// handler's overhead before it running since the end of the one
    /// before; the others, and a head not yet taken, in the kernel queue
    /// in their order.
    fn enter_line(&mut self) -> Result<(), SimError> {
        let Some(head) = self.alone.take() else {
            return Ok(());
        };
        debug_assert!(matches!(self.phase, Phase::Idle) && self.waiting.is_empty());
        debug_assert!(
            !self.keep_messages,
            "a declared runner's messages are not kept"
        );
        let ends = if head.taken <= self.now {
            // The overhead before it, if any, ended at its take.
            self.handler_busy.add(head.busy_from, head.taken);
            let slot = self.slots.alloc(head.slot, head.arrival, head.deadline);
            let state = &mut self.slots[slot];
            state.stage = Stage::Running;
            state.taken_ns = head.taken.ceil_ns();
            self.phase = Phase::Work(slot);
            self.phase_since = head.taken;
            head.finish
        } else {
            self.phase = Phase::Overhead;
            self.phase_since = head.busy_from;
            self.line.push_front(head);
            head.taken
        };
        self.cpu.start(0, (ends - self.now).ceil_ns());
        debug_assert_eq!(
            self.cpu.next_completion(),
            Some(ends),
            "whole ns without `--cores`: the phase ends exactly then"
        );
        while let Some(waiting) = self.line.pop_front() {
            let slot = self
                .slots
                .alloc(waiting.slot, waiting.arrival, waiting.deadline);
            self.waiting.push_back(slot);
        }
        // As long a queue would be parked from the same place (`wait`).
        self.waiting_parked.extend(self.line_parked.drain(..));
        Ok(())
    }

    /// The job of a message running alone goes to the strategy and, if
    /// the strategy gives it to the worker idle the longest and it ends
    /// by `next`, is settled; else the dispatch goes on in the machine.
    /// Its ticket names the slot it would have had: the one it takes if
    /// it enters the machine.
    fn dispatch_alone(&mut self, alone: Alone, next: Time) -> Result<(), SimError> {
        // The hand-off is free: the handler's overhead starts at the take.
        self.rest_alone(alone.taken, next);
        let job = JobRef::slot(self.slots.next_vacant());
        let index = alone.slot.index;
        let global_seq = alone.slot.global_seq;
        self.strategy
            .queue(Ticket::new(alone.deadline, global_seq, index, job));
        let worker = self.idle.get(0).expect("every worker is idle");
        let answer = self.strategy.next(worker, alone.taken);
        let ours = answer.is_some_and(|ticket| ticket.index == index && ticket.job == job);
        if ours && alone.finish <= next {
            self.idle.take(0);
            self.settle_alone(self.settled(&alone, Some(worker)));
            self.idle.push(alone.finish, worker);
            return Ok(());
        }
        // Queued, as the handler's hand-off left it; the dispatch goes on
        // with the strategy's answer.
        let mut slot = alone.slot;
        slot.stage = Stage::Queued;
        slot.taken_ns = alone.taken.ceil_ns();
        let id = self.slots.alloc(slot, alone.arrival, alone.deadline);
        debug_assert_eq!(JobRef::slot(id), job, "the slot its ticket names");
        let watch = self.alone_plan.1.take();
        self.arm_watchdog(id, watch);
        self.queued += 1;
        self.dispatchable = true;
        match self.dispatch_answer(0, worker, answer)? {
            Some(position) => self.dispatch_from(position),
            None => Ok(()),
        }
    }

    /// The handler's overhead after a message running alone, from `from`
    /// (now): over by `next`, its busy time and its end are counted as
    /// the loop would at its end (nothing else can see the handler
    /// before `next`); else it begins, for the loop to end.
    #[inline(always)]
    fn rest_alone(&mut self, from: Time, next: Time) {
        debug_assert_eq!(self.now, from);
        let overhead = self.config.handler_overhead_ns;
        if overhead == 0 {
            return;
        }
        let end = from.plus_ns(overhead);
        if end > next {
            self.begin(Phase::Overhead, overhead);
            return;
        }
        self.handler_busy.add(from, end);
        self.stats.end = self.stats.end.max(end.ceil_ns());
    }

    /// `alone` settled at its finish on `worker` (`None`: the handler).
    #[inline(always)]
    fn settled(&self, alone: &Alone, worker: Option<u32>) -> Settled {
        Settled::of(alone, self.config.response_latency_ns, worker)
    }

    /// What the loop does at a message's completion on the handler or a
    /// worker: the thread's busy time, the answer (r = f + ρ, unblocked
    /// then: no fail mode), the outcome.
    #[inline(always)]
    fn settle_alone(&mut self, settled: Settled) {
        let Settled {
            outcome,
            waiter,
            arrival,
            taken,
            finish,
            busy_from,
            response,
        } = settled;
        self.move_to(finish);
        match outcome.worker {
            None => {
                self.phase_since = taken;
                self.handler_busy.add(busy_from, finish);
            }
            Some(_) => self.worker_busy.add(taken, finish),
        }
        self.unblocked(waiter, Some(arrival), response);
        self.client_answered(outcome.index, response, true);
        self.report(&outcome);
    }

    /// The message's work outlasts the next arrival, or the loop takes
    /// over: it enters the machine as the handler took it, on `runner`.
    fn enter_alone(&mut self, alone: Alone, runner: Runner) -> Result<(), SimError> {
        debug_assert_eq!(self.now, alone.taken, "nothing happened since");
        debug_assert!(matches!(self.phase, Phase::Idle));
        let slot = self.slots.alloc(alone.slot, alone.arrival, alone.deadline);
        let watch = self.alone_plan.1.take();
        self.take_watched(slot, runner, alone.slot.work_ns, watch);
        Ok(())
    }
}
