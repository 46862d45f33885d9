//! [`Recorder`]: a strategy wrapper that logs every decision and checks
//! the ticket rules as the engine calls the strategy.

use std::collections::{BTreeMap, HashMap};

use esreplay_traces::Message;

use super::violation::{Rule, Violation};
use crate::strategy::{Job, Plan, Runner, Strategy, Ticket, Time};

/// One call into the strategy and its answer, for determinism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// `plan` for a message.
    Plan { index: u64, taken: Time, plan: Plan },
    /// `next(worker, now)` and the ticket's message, if any.
    Next {
        worker: u32,
        now: Time,
        ticket: Option<u64>,
    },
}

impl Decision {
    /// The decision in words.
    pub(crate) fn describe(&self) -> String {
        match *self {
            Decision::Plan { index, taken, plan } => {
                let runner = match plan.runner {
                    Runner::Handler => "the handler",
                    Runner::Worker => "the workers",
                    Runner::Answer => "an answer at once on the handler",
                };
                let watchdog = plan.watchdog.map_or("no watchdog".to_string(), |w| {
                    format!("a watchdog at {} ns", w.ceil_ns())
                });
                format!(
                    "message #{index} taken at {} ns was planned for {runner} with {} ns of work and {watchdog}",
                    taken.ceil_ns(),
                    plan.work_ns
                )
            }
            Decision::Next {
                worker,
                now,
                ticket,
            } => {
                let what = ticket.map_or("nothing".to_string(), |i| {
                    format!("the ticket of message #{i}")
                });
                format!(
                    "next(worker {worker}, {} ns) returned {what}",
                    now.ceil_ns()
                )
            }
        }
    }
}

/// The strategy under test, and what it did.
pub(crate) struct Recorder<S> {
    inner: S,
    workers: u32,
    /// What the strategy's `runner()` said at the start (the engine
    /// would then plan every job so, without calling `plan`; the kit
    /// calls `plan` and holds it to that).
    runner: Option<Runner>,
    /// Tickets queued and not yet returned, by stream position.
    outstanding: BTreeMap<u64, Ticket>,
    /// Where each returned ticket went: (worker, time).
    returned: HashMap<u64, (u32, Time)>,
    /// Each message's take and planned watchdog.
    pub(crate) plans: HashMap<u64, (Time, Option<Time>)>,
    pub(crate) log: Vec<Decision>,
    /// The first rule broken, as it happened.
    pub(crate) violation: Option<Violation>,
}

impl<S: Strategy> Recorder<S> {
    pub(crate) fn new(inner: S) -> Recorder<S> {
        Recorder {
            workers: inner.workers(),
            runner: inner.runner(),
            inner,
            outstanding: BTreeMap::new(),
            returned: HashMap::new(),
            plans: HashMap::new(),
            log: Vec::new(),
            violation: None,
        }
    }

    fn flag(&mut self, violation: Violation) {
        self.violation.get_or_insert(violation);
    }

    /// The end of the run: every queued ticket must have come back.
    /// `answered(index)` tells whether the engine settled the message.
    pub(crate) fn finish(&mut self, answered: impl Fn(u64) -> bool) {
        if let Some((&index, _)) = self.outstanding.iter().next() {
            let taken = self.plans.get(&index).map_or(0, |p| p.0.ceil_ns());
            let fate = if answered(index) {
                "next never returned it, though the engine had dropped the job at its watchdog (the engine still counts it as queued)"
            } else {
                "next never returned it, so the message was never answered"
            };
            let first =
                format!("the handler took it at {taken} ns and queued its ticket for the workers");
            self.flag(Violation::new(
                Rule::NeverReturned,
                Some(index),
                first,
                fate,
            ));
        }
        let now = self.inner.workers();
        if now != self.workers {
            self.flag(Violation::new(
                Rule::Workers,
                None,
                format!("workers() was {} when the run started", self.workers),
                format!("it was {now} when the run ended"),
            ));
        }
    }

    /// Checks `plan`, made for `job`, against what `runner()` declared.
    fn check_runner(&mut self, job: &Job, plan: Plan) {
        let Some(runner) = self.runner else {
            return;
        };
        let declared = Plan::on(runner, job.service_ns);
        if plan != declared {
            let taken = Decision::Plan {
                index: job.index,
                taken: job.taken,
                plan,
            };
            self.flag(Violation::new(
                Rule::Runner,
                Some(job.index),
                format!("runner() said every job runs as {declared:?}"),
                taken.describe(),
            ));
        }
    }

    /// Checks a ticket `next` returned to `worker` at `now`.
    fn check_returned(&mut self, ticket: Ticket, worker: u32, now: Time) {
        let index = ticket.index;
        let at = |(w, t): (u32, Time)| format!("worker {w} at {} ns", t.ceil_ns());
        match self.outstanding.remove(&index) {
            Some(queued) if queued == ticket => {
                self.returned.insert(index, (worker, now));
            }
            Some(queued) => {
                self.outstanding.insert(index, queued);
                self.flag(Violation::new(
                    Rule::UnknownTicket,
                    Some(index),
                    format!("its ticket was queued as {queued:?}"),
                    format!("next returned {ticket:?} to {}", at((worker, now))),
                ));
            }
            None => {
                let violation = match self.returned.get(&index) {
                    Some(&first) => Violation::new(
                        Rule::TicketTwice,
                        Some(index),
                        format!("next returned its ticket to {}", at(first)),
                        format!("next returned it again to {}", at((worker, now))),
                    ),
                    None => Violation::new(
                        Rule::UnknownTicket,
                        Some(index),
                        "no ticket of this message was queued in this run",
                        format!("next returned {ticket:?} to {}", at((worker, now))),
                    ),
                };
                self.flag(violation);
            }
        }
    }
}

impl<S: Strategy> Strategy for Recorder<S> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn workers(&self) -> u32 {
        self.workers
    }

    fn plan(&mut self, job: &Job, message: &Message) -> Plan {
        let plan = self.inner.plan(job, message);
        self.plans.insert(job.index, (job.taken, plan.watchdog));
        self.log.push(Decision::Plan {
            index: job.index,
            taken: job.taken,
            plan,
        });
        self.check_runner(job, plan);
        if plan.runner == Runner::Worker && self.workers == 0 {
            self.flag(Violation::new(
                Rule::Workers,
                Some(job.index),
                "workers() is 0",
                "plan sent the job to the workers",
            ));
        }
        plan
    }

    fn queue(&mut self, ticket: Ticket) {
        self.outstanding.insert(ticket.index, ticket);
        self.inner.queue(ticket);
    }

    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        if worker >= self.workers {
            self.flag(Violation::new(
                Rule::WorkerExclusive,
                None,
                format!("the strategy has {} workers", self.workers),
                format!("the engine asked for a job for worker {worker}"),
            ));
        }
        let ticket = self.inner.next(worker, now);
        self.log.push(Decision::Next {
            worker,
            now,
            ticket: ticket.map(|t| t.index),
        });
        if let Some(ticket) = ticket {
            self.check_returned(ticket, worker, now);
        }
        ticket
    }
}
