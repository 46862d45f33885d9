//! The conformance kit used from outside the crate, exactly as
//! docs/testing.md shows a user doing it: a strategy of one's own (here a
//! LIFO pool: the newest job first) and one line of tests.

use esreplay_simulator::strategy::{Job, Plan, Strategy, Ticket, Time};
use esreplay_traces::Message;

/// N workers that take the most recently queued job first.
pub struct Lifo {
    workers: u32,
    stack: Vec<Ticket>,
}

impl Lifo {
    pub fn new(workers: u32) -> Lifo {
        Lifo {
            workers,
            stack: Vec::new(),
        }
    }
}

impl Strategy for Lifo {
    fn name(&self) -> String {
        format!("lifo:{}", self.workers)
    }
    fn workers(&self) -> u32 {
        self.workers
    }
    fn plan(&mut self, job: &Job, _: &Message) -> Plan {
        Plan::worker(job)
    }
    fn queue(&mut self, ticket: Ticket) {
        self.stack.push(ticket);
    }
    fn next(&mut self, _worker: u32, _now: Time) -> Option<Ticket> {
        self.stack.pop()
    }
}

esreplay_simulator::conformance_tests!(lifo, || Lifo::new(2));
