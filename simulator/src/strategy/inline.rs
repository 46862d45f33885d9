//! `inline`: the handler does the work itself (the reference strategy).
//!
//! r_i = h_i + s_i + ρ and the handler is busy for s_i, so the next message
//! waits behind this one: inline's waits follow Lindley's recursion.

use esreplay_traces::Message;

use super::{Job, Plan, Runner, Strategy, Ticket, Time};

/// The handler answers each message itself, one after the other.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inline;

impl Strategy for Inline {
    fn name(&self) -> String {
        "inline".into()
    }

    fn workers(&self) -> u32 {
        0
    }

    fn plan(&mut self, job: &Job, _: &Message) -> Plan {
        Plan::handler(job)
    }

    fn queue(&mut self, _: Ticket) {}

    fn next(&mut self, _: u32, _: Time) -> Option<Ticket> {
        None
    }

    fn runner(&self) -> Option<Runner> {
        Some(Runner::Handler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::{job, message};

    #[test]
    fn the_handler_does_the_work() {
        let plan = Inline.plan(&job(0, 100, 30), &message());
        assert_eq!(
            (plan.runner, plan.work_ns, plan.watchdog),
            (Runner::Handler, 30, None)
        );
    }
}
