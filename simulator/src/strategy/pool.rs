//! `pool:N`: the handler retains each message and queues it (cost c_h);
//! N workers take jobs in FIFO (kernel) order.
//!
//! The queue holds [`Ticket`]s in the order the hand-offs end (q_i
//! non-decreasing), so a free worker takes the front; each is packed
//! against the one before it ([`Run`]), a few bytes in sustained overload.
//! A ticket queued when none waits (a pool keeping up: nearly every one)
//! waits apart ([`Apart`]), so that it costs no queue.

use esreplay_traces::Message;

use super::runs::{Apart, Run};
use super::{Job, Plan, Runner, Strategy, Ticket, Time};

/// N workers served in FIFO order.
#[derive(Clone, Debug)]
pub struct FifoPool {
    workers: u32,
    queue: Apart<Run<Ticket>>,
}

impl FifoPool {
    /// A pool of `workers` idle workers (at least 1).
    pub fn new(workers: u32) -> FifoPool {
        FifoPool {
            workers: workers.max(1),
            queue: Apart::default(),
        }
    }

    /// Jobs waiting for a worker (including dropped ones not yet skipped).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

impl Strategy for FifoPool {
    fn name(&self) -> String {
        format!("pool:{}", self.workers)
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
    fn workers_take_jobs_in_the_order_they_were_queued() {
        let mut pool = FifoPool::new(2);
        for (index, deadline) in [(0, 30), (1, 10), (2, 20)] {
            pool.queue(ticket(index, deadline));
        }
        let order: Vec<u64> = std::iter::from_fn(|| pool.next(0, Time::ZERO))
            .map(|t| t.index)
            .collect();
        assert_eq!(order, vec![0, 1, 2]);
        assert_eq!((pool.queued(), FifoPool::new(0).workers()), (0, 1));
    }

    #[test]
    fn a_ticket_queued_into_an_empty_pool_is_still_taken_in_order() {
        let steps = [
            Some(9),
            None,
            Some(9),
            Some(9),
            None,
            Some(9),
            None,
            None,
            None,
        ];
        let taken = take_order(&mut FifoPool::new(1), &steps);
        assert_eq!(taken, [Some(0), Some(1), Some(2), Some(3), None]);
        let mut apart = FifoPool::new(1);
        assert!(take_order(&mut apart, &[Some(9)]).is_empty());
        assert_eq!(apart.queued(), 1, "the ticket apart is queued");
    }
}
