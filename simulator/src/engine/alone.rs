//! A message that runs alone: taken at once by the idle handler of an
//! inline strategy ([`Runner::Handler`] for every job), with nothing else
//! in the machine, no timer that could fire, no closed loop and no CPU
//! contention (no `--cores`). Its every event is known when it arrives:
//! its work ends at h + s and nothing can happen before that but another
//! arrival. So it is kept aside, without a slot, a CPU task or an event,
//! until the next message arrives (or the input ends):
//!
//! - if its work ended by then, it is settled then, in the order and with
//!   the figures the event loop would have given at its completion;
//! - else it enters the machine as it was taken (a slot, the handler's
//!   phase, a CPU task started at h) and the loop goes on from there.
//!
//! Most messages of a trace at a modest load run alone, and so cost no
//! scan of the event sources, no slot and no CPU bookkeeping. One of the
//! loop's shortcuts: off with them in the test that compares every
//! outcome and backlog sample both ways.

use super::run::{Answered, Waiter, outcome};
use super::slots::Slot;
use super::{MissMode, Observer, Phase, SimConfig, SimError, Simulator, Time};
use crate::strategy::{Runner, Strategy};

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
}

/// Whether messages may run alone under `config` with a strategy whose
/// runner is `runner` (the settings that never change during a run).
pub(super) fn may_run_alone(config: &SimConfig, runner: Option<Runner>) -> bool {
    runner == Some(Runner::Handler)
        && config.cpu.cores_milli.is_none()
        && config.handler_overhead_ns == 0
        && config.miss_mode == MissMode::Kill
        && config.co_client.is_none()
}

impl<S: Strategy + ?Sized, O: Observer> Simulator<'_, S, O> {
    /// Whether the message arriving now runs alone: the settings let it
    /// (see [`may_run_alone`]), it is taken at once, and no timer or
    /// closed loop exists.
    #[inline(always)]
    pub(super) fn runs_alone(&self) -> bool {
        debug_assert!(self.alone.is_none(), "the last one ended at this arrival");
        self.may_run_alone && !self.rare && self.threads.is_none() && self.taken_at_once()
    }

    /// The message of `slot` (not allocated), arrived at `arrival` with
    /// deadline `deadline`, is taken now and runs alone.
    #[inline(always)]
    pub(super) fn run_alone(&mut self, slot: Slot, arrival: Time, deadline: Option<Time>) {
        let taken = self.now;
        self.alone = Some(Alone {
            slot,
            arrival,
            deadline,
            taken,
            finish: taken.plus_ns(slot.work_ns),
        });
    }

    /// Ends the message running alone, if any, before anything else
    /// happens: settled if its work ends at or before `next` (an arrival
    /// then: a completion at that instant comes first), else (or with no
    /// `next`) in the machine as it was taken.
    #[inline(always)]
    pub(super) fn end_alone(&mut self, next: Option<Time>) -> Result<(), SimError> {
        match self.alone.is_some() {
            true => self.end_alone_now(next),
            false => Ok(()),
        }
    }

    /// [`end_alone`](Self::end_alone) when a message runs alone (out of
    /// line: the loop that pushes messages stays small for the others).
    #[inline(never)]
    fn end_alone_now(&mut self, next: Option<Time>) -> Result<(), SimError> {
        let Some(alone) = self.alone.take() else {
            return Ok(());
        };
        match next {
            Some(at) if alone.finish <= at => {
                self.settle_alone(alone);
                Ok(())
            }
            _ => self.enter_alone(alone),
        }
    }

    /// What the loop does at its completion: the handler's busy time,
    /// the answer (r = f + ρ, unblocked then: no fail mode), the outcome.
    #[inline(always)]
    fn settle_alone(&mut self, alone: Alone) {
        let Alone {
            mut slot,
            arrival,
            deadline,
            taken,
            finish,
        } = alone;
        self.move_to(finish);
        self.phase_since = taken;
        self.handler_busy.add(taken, finish);
        let response = finish.plus_ns(self.config.response_latency_ns);
        self.unblocked(Waiter::of(&slot), Some(arrival), response);
        self.client_answered(slot.index, response, true);
        slot.taken_ns = taken.ceil_ns();
        let answered = Answered {
            response,
            unblocked: response,
        };
        let ran = Some((taken, finish));
        self.report(&outcome(&slot, arrival, deadline, answered, ran, None));
    }

    /// The message's work outlasts the next arrival (a busy moment): it
    /// enters the machine as the handler took it.
    fn enter_alone(&mut self, alone: Alone) -> Result<(), SimError> {
        debug_assert_eq!(self.now, alone.taken, "nothing happened since");
        debug_assert!(matches!(self.phase, Phase::Idle));
        let slot = self.slots.alloc(alone.slot, alone.arrival, alone.deadline);
        self.take_message(slot, None)
    }
}
