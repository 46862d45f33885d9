//! `edf:N`: like `pool:N`, but a free worker takes the ready job with the
//! smallest key (d_i, then global_seq; NOTIFY last). Non-preemptive.
//!
//! Waiting tickets sit in a [`RunQueue`] keyed by [`Ticket::edf_key`], O(1)
//! when keys mostly ascend (per event type they do) and O(log n)
//! otherwise, so sustained overload with millions of waiting jobs stays
//! fast; a long run keeps its tickets packed (about 5 bytes each), and a
//! guarded job costs no more here (the engine skips a ticket whose
//! watchdog dropped it). A ticket queued when none waits (a pool keeping
//! up: nearly every one) waits apart ([`Apart`]), so that it costs no
//! queue.

use esreplay_traces::Message;

use super::runs::{Apart, RunQueue};
use super::{Job, Plan, Runner, Strategy, Ticket, Time};

/// N workers that always take the ready job with the earliest deadline.
pub struct EdfPool {
    workers: u32,
    queue: Apart<RunQueue<Ticket>>,
}

impl EdfPool {
    /// A pool of `workers` idle workers (at least 1).
    pub fn new(workers: u32) -> EdfPool {
        EdfPool {
            workers: workers.max(1),
            queue: Apart::default(),
        }
    }

    /// Jobs waiting for a worker (including dropped ones not yet skipped).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

impl Strategy for EdfPool {
    fn name(&self) -> String {
        format!("edf:{}", self.workers)
    }

    fn workers(&self) -> u32 {
        self.workers
    }

    fn plan(&mut self, job: &Job, _: &Message) -> Plan {
        Plan::worker(job)
    }

    fn queue(&mut self, ticket: Ticket) {
        self.queue.push(ticket);
    }

    fn next(&mut self, _: u32, _: Time) -> Option<Ticket> {
        self.queue.pop()
    }

    fn runner(&self) -> Option<Runner> {
        Some(Runner::Worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::{take_order, ticket};

    #[test]
    fn a_free_worker_takes_the_earliest_deadline_notify_last() {
        let mut pool = EdfPool::new(1);
        for (index, deadline) in [(0, 50), (1, u64::MAX), (2, 30), (3, 40)] {
            pool.queue(ticket(index, deadline));
        }
        assert_eq!(pool.queued(), 4);
        let order: Vec<u64> = std::iter::from_fn(|| pool.next(0, Time::ZERO))
            .map(|t| t.index)
            .collect();
        assert_eq!(order, vec![2, 3, 0, 1]);
    }

    #[test]
    fn a_ticket_queued_into_an_empty_pool_is_still_taken_by_deadline() {
        let steps = [
            Some(50),
            None,
            Some(50),
            Some(40),
            Some(60),
            None,
            None,
            Some(10),
            None,
            None,
            None,
        ];
        let taken = take_order(&mut EdfPool::new(1), &steps);
        assert_eq!(taken, [Some(0), Some(2), Some(1), Some(4), Some(3), None]);
    }

    #[test]
    fn tickets_stay_small() {
        assert!(std::mem::size_of::<Ticket>() <= 32);
    }
}
