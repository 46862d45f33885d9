//! `pool:N`: the handler retains each message and queues it (cost c_h);
//! N workers take jobs in FIFO (kernel) order.
//!
//! Because jobs are served in the order they become ready and every job's
//! ready time q_i = h_i + c_h is non-decreasing, job i starts at
//! max(q_i, earliest free worker) the moment it is queued: the pool reports
//! every completion immediately and keeps only the N worker free times.
//! Invariant: `free` holds exactly one entry per worker, (the time it is
//! next free, its id); equal free times go to the lowest id.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use esreplay_traces::Message;

use super::{Completion, Context, Job, Strategy};

/// N workers served in FIFO order.
#[derive(Clone, Debug)]
pub struct FifoPool {
    workers: u32,
    free: BinaryHeap<Reverse<(u64, u32)>>,
}

impl FifoPool {
    /// A pool of `workers` idle workers (at least 1).
    pub fn new(workers: u32) -> FifoPool {
        let workers = workers.max(1);
        FifoPool {
            workers,
            free: (0..workers).map(|id| Reverse((0, id))).collect(),
        }
    }

    /// Queues `job`, ready at `ready_ns`, and reports it at once.
    pub fn submit(&mut self, job: Job, ready_ns: u64, done: &mut Vec<Completion>) {
        let mut earliest = self
            .free
            .peek_mut()
            .expect("a pool has at least one worker");
        let Reverse((free_ns, worker)) = *earliest;
        let start = ready_ns.max(free_ns);
        let completion = Completion::start_or_drop(job, start, true).with_worker(worker);
        if let Some(finish) = completion.finish_ns {
            *earliest = Reverse((finish, worker));
        }
        done.push(completion);
    }
}

impl Strategy for FifoPool {
    fn name(&self) -> String {
        format!("pool:{}", self.workers)
    }

    fn workers(&self) -> u32 {
        self.workers
    }

    fn take(
        &mut self,
        job: Job,
        _: &Message,
        context: &Context,
        done: &mut Vec<Completion>,
    ) -> u64 {
        self.submit(job, job.taken_ns.saturating_add(context.handoff_ns), done);
        context.handoff_ns
    }

    fn advance(&mut self, _until: u64, _done: &mut Vec<Completion>) {}

    fn finish(&mut self, _done: &mut Vec<Completion>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::{job, message};

    fn starts(pool: &mut FifoPool, jobs: &[(u64, u64)], handoff: u64) -> Vec<Option<u64>> {
        let mut done = Vec::new();
        let context = Context::new(handoff);
        for (index, &(taken, service)) in jobs.iter().enumerate() {
            let busy = pool.take(
                job(index as u64, taken, service),
                &message(),
                &context,
                &mut done,
            );
            assert_eq!(busy, handoff);
        }
        done.iter().map(|c| c.start_ns).collect()
    }

    #[test]
    fn jobs_wait_for_the_earliest_free_worker_in_order() {
        let mut pool = FifoPool::new(2);
        let got = starts(&mut pool, &[(0, 10), (0, 4), (1, 1), (2, 1)], 0);
        assert_eq!(got, vec![Some(0), Some(0), Some(4), Some(5)]);
    }

    #[test]
    fn each_job_names_the_worker_that_ran_it() {
        let mut pool = FifoPool::new(2);
        let mut done = Vec::new();
        for (index, (taken, service)) in [(0, 10), (0, 4), (1, 1), (2, 1), (20, 1)]
            .into_iter()
            .enumerate()
        {
            let job = job(index as u64, taken, service);
            pool.take(job, &message(), &Context::default(), &mut done);
        }
        let workers: Vec<Option<u32>> = done.iter().map(|c| c.worker).collect();
        // Both idle at 0: the lowest id first; worker 1 frees at 4, then 5,
        // then 6; at 20 the worker free the longest (1, since 6) takes it.
        assert_eq!(workers, vec![Some(0), Some(1), Some(1), Some(1), Some(1)]);
    }

    #[test]
    fn handoff_delays_the_ready_time() {
        let mut pool = FifoPool::new(1);
        assert_eq!(
            starts(&mut pool, &[(0, 1), (0, 1)], 3),
            vec![Some(3), Some(4)]
        );
    }

    #[test]
    fn a_dropped_job_leaves_its_worker_free() {
        let mut pool = FifoPool::new(1);
        let mut done = Vec::new();
        let context = Context::default();
        pool.take(job(0, 0, 10), &message(), &context, &mut done);
        let mut late = job(1, 0, 10);
        late.latest_start_ns = Some(9);
        pool.take(late, &message(), &context, &mut done);
        pool.take(job(2, 0, 10), &message(), &context, &mut done);
        assert_eq!(done[1].start_ns, None);
        assert_eq!(done[1].answered_ns, 9);
        assert_eq!(done[2].start_ns, Some(10));
    }
}
