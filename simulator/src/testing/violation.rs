//! [`Rule`] and [`Violation`]: what [`super::check_strategy`] reports.

use std::fmt;

/// A rule of the [`crate::Strategy`] contract, or of the engine's
/// bookkeeping that a broken strategy could upset.
///
/// The first seven are the strategy's to keep; the others are the engine's
/// (it runs the work, fires the watchdogs and answers) and are checked on
/// every run so that a strategy that slips past the engine cannot go
/// unnoticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `next` returned a ticket that was never queued in this run (kept
    /// from another run, or an altered copy).
    UnknownTicket,
    /// `next` returned a ticket it had already returned: a job run twice.
    TicketTwice,
    /// A queued ticket was never returned from `next`: a job never
    /// answered, or one the engine dropped that it still counts as queued.
    NeverReturned,
    /// A job planned for workers by a strategy without workers, or
    /// `workers()` changed during a run (the engine reads it once).
    Workers,
    /// `runner()` says how every job is planned, and `plan` planned one
    /// otherwise (the engine asks `runner()` once and then never calls
    /// `plan`, so the run would not be the strategy's).
    Runner,
    /// Two fresh strategies on the same trace and settings decided
    /// differently or produced different outcomes.
    Determinism,
    /// The engine stopped the run with an error.
    EngineError,
    /// Every message has exactly one outcome.
    AnsweredOnce,
    /// Worker ids are below `workers()`; a worker runs one job at a time.
    WorkerExclusive,
    /// arrival ≤ take ≤ start ≤ finish; at full speed finish = start +
    /// work; an answer from the work comes at its finish.
    Causality,
    /// A default verdict comes only from a watchdog the plan armed, at its
    /// time; a job that never ran was answered by its watchdog.
    DefaultAnswer,
    /// The result's counts match the outcomes; busy time fits the workers.
    Accounting,
}

impl Rule {
    /// The rule's short name, as `docs/testing.md` lists it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::UnknownTicket => "unknown-ticket",
            Rule::TicketTwice => "ticket-twice",
            Rule::NeverReturned => "never-returned",
            Rule::Workers => "workers",
            Rule::Runner => "runner",
            Rule::Determinism => "determinism",
            Rule::EngineError => "engine-error",
            Rule::AnsweredOnce => "answered-once",
            Rule::WorkerExclusive => "worker-exclusive",
            Rule::Causality => "causality",
            Rule::DefaultAnswer => "default-answer",
            Rule::Accounting => "accounting",
        }
    }

    /// What the rule asks, in one sentence.
    pub fn meaning(self) -> &'static str {
        match self {
            Rule::UnknownTicket => "next may return only tickets queued in this run, unchanged",
            Rule::TicketTwice => "next returns each queued ticket once, so each job runs once",
            Rule::NeverReturned => {
                "every queued ticket must eventually come back from next, dropped ones included"
            }
            Rule::Workers => {
                "workers() is fixed for a run and only a strategy with workers plans Runner::Worker"
            }
            Rule::Runner => {
                "a strategy whose runner() is Some(r) plans every job as r's own work, unguarded"
            }
            Rule::Determinism => {
                "the same trace and settings give the same decisions and outcomes, run after run"
            }
            Rule::EngineError => "a run of a valid trace ends without an engine error",
            Rule::AnsweredOnce => "every message is settled exactly once",
            Rule::WorkerExclusive => {
                "worker ids are below workers() and a worker runs one job at a time"
            }
            Rule::Causality => "work starts after the take and ends after its work is done",
            Rule::DefaultAnswer => "a default verdict comes only from an armed watchdog",
            Rule::Accounting => "the result's counts and busy time agree with the outcomes",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken rule: which, where, and the two facts that conflict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// The strategy's name.
    pub strategy: String,
    /// The run: replay mode and cores.
    pub run: String,
    /// The stream position of the message concerned, if one is.
    pub message: Option<u64>,
    /// The first fact (what was established earlier, or expected).
    pub first: String,
    /// The fact that conflicts with it.
    pub second: String,
}

impl Violation {
    /// A violation of `rule` about `message`, without its run context.
    pub(crate) fn new(
        rule: Rule,
        message: Option<u64>,
        first: impl Into<String>,
        second: impl Into<String>,
    ) -> Violation {
        Violation {
            rule,
            strategy: String::new(),
            run: String::new(),
            message,
            first: first.into(),
            second: second.into(),
        }
    }

    /// The same violation, in the run of `strategy` described by `run`.
    pub(crate) fn within(mut self, strategy: &str, run: &str) -> Violation {
        strategy.clone_into(&mut self.strategy);
        run.clone_into(&mut self.run);
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "strategy {} breaks rule `{}` ({}) in {}",
            self.strategy,
            self.rule.name(),
            self.rule.meaning(),
            self.run
        )?;
        if let Some(index) = self.message {
            write!(f, ", at message #{index}")?;
        }
        write!(f, ": {}, but {}.", self.first, self.second)
    }
}

impl std::error::Error for Violation {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_reads_as_one_paragraph() {
        let violation = Violation::new(
            Rule::TicketTwice,
            Some(3),
            "next returned its ticket to worker 0 at 20 ns",
            "next returned it again to worker 1 at 30 ns",
        )
        .within("pool:2", "open replay, unlimited cores");
        let text = violation.to_string();
        assert_eq!(
            text,
            "strategy pool:2 breaks rule `ticket-twice` (next returns each queued ticket once, \
             so each job runs once) in open replay, unlimited cores, at message #3: next \
             returned its ticket to worker 0 at 20 ns, but next returned it again to worker 1 \
             at 30 ns."
        );
        assert!(!text.contains('\n'));
    }
}
