//! `pool:N`: the handler retains each message and queues it (cost c_h);
//! N workers take jobs in FIFO (kernel) order.
//!
//! Because jobs are served in the order they become ready and every job's
//! ready time q_i = h_i + c_h is non-decreasing, job i starts at
//! max(q_i, earliest free worker) the moment it is queued: the pool reports
//! every completion immediately and keeps only the N worker free times.
//! Invariant: `free` holds exactly one entry per worker, the time it is
//! next free: a plain array scanned for its minimum when N is small (the
//! common case, and faster than a heap there), a min-heap of (time, worker
//! id) otherwise. Both take the lowest id among workers free at the same
//! time, so a job's worker ([`Completion::worker`]) does not depend on
//! which representation is used.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use esreplay_traces::Message;

use super::{Completion, Context, Job, Strategy};

/// N workers served in FIFO order.
#[derive(Clone, Debug)]
pub struct FifoPool {
    workers: u32,
    free: Free,
}

/// Worker free times.
#[derive(Clone, Debug)]
enum Free {
    Few(Vec<u64>),
    Many(BinaryHeap<Reverse<(u64, u32)>>),
}

/// Up to this many workers, a linear scan beats a heap.
const FEW: u32 = 32;

impl FifoPool {
    /// A pool of `workers` idle workers (at least 1).
    pub fn new(workers: u32) -> FifoPool {
        let workers = workers.max(1);
        let free = if workers <= FEW {
            Free::Few(vec![0; workers as usize])
        } else {
            Free::Many((0..workers).map(|id| Reverse((0, id))).collect())
        };
        FifoPool { workers, free }
    }

    /// The worker that frees first (lowest id among ties) and when.
    fn earliest(&self) -> (u32, u64) {
        match &self.free {
            Free::Few(free) => {
                // Branch-free minimum: which worker frees first is random.
                let (mut best, mut best_time) = (0, free[0]);
                for (index, &time) in free.iter().enumerate().skip(1) {
                    let earlier = time < best_time;
                    best = if earlier { index } else { best };
                    best_time = best_time.min(time);
                }
                (best as u32, best_time)
            }
            Free::Many(free) => {
                let Reverse((time, worker)) = *free.peek().expect("a pool has a worker");
                (worker, time)
            }
        }
    }

    /// `worker`, the one [`earliest`](Self::earliest) named, is busy until
    /// `finish_ns`.
    fn occupy(&mut self, worker: u32, finish_ns: u64) {
        match &mut self.free {
            Free::Few(free) => free[worker as usize] = finish_ns,
            Free::Many(free) => {
                *free.peek_mut().expect("a pool has a worker") = Reverse((finish_ns, worker));
            }
        }
    }

    /// Queues `job`, ready at `ready_ns`, and reports it at once.
    pub fn submit(&mut self, job: Job, ready_ns: u64, done: &mut Vec<Completion>) {
        let (worker, free_ns) = self.earliest();
        let completion =
            Completion::start_or_drop(job, ready_ns.max(free_ns), true).with_worker(worker);
        if let Some(finish) = completion.finish_ns {
            self.occupy(worker, finish);
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

    fn workers_of(pool: &mut FifoPool, jobs: &[(u64, u64)]) -> Vec<Option<u32>> {
        let mut done = Vec::new();
        for (index, &(taken, service)) in jobs.iter().enumerate() {
            let job = job(index as u64, taken, service);
            pool.take(job, &message(), &Context::default(), &mut done);
        }
        done.iter().map(|c| c.worker).collect()
    }

    #[test]
    fn each_job_names_the_worker_that_ran_it() {
        let mut pool = FifoPool::new(2);
        let jobs = [(0, 10), (0, 4), (1, 1), (2, 1), (20, 1)];
        // Both idle at 0: the lowest id first; worker 1 frees at 4, then 5,
        // then 6; at 20 the worker free the longest (1, since 6) takes it.
        let want = vec![Some(0), Some(1), Some(1), Some(1), Some(1)];
        assert_eq!(workers_of(&mut pool, &jobs), want);
    }

    #[test]
    fn jobs_wait_for_the_earliest_free_worker_in_order() {
        let mut pool = FifoPool::new(2);
        let got = starts(&mut pool, &[(0, 10), (0, 4), (1, 1), (2, 1)], 0);
        assert_eq!(got, vec![Some(0), Some(0), Some(4), Some(5)]);
    }

    #[test]
    fn the_heap_and_the_scan_give_the_same_starts() {
        let jobs: Vec<(u64, u64)> = (0..200).map(|i| (i / 3, (i * 7919) % 100)).collect();
        for workers in [1u32, 3, 8] {
            let mut heap = FifoPool {
                workers,
                free: Free::Many((0..workers).map(|id| Reverse((0, id))).collect()),
            };
            let mut scan = FifoPool::new(workers);
            assert!(matches!(scan.free, Free::Few(_)));
            assert_eq!(starts(&mut heap, &jobs, 1), starts(&mut scan, &jobs, 1));
            assert_eq!(workers_of(&mut heap, &jobs), workers_of(&mut scan, &jobs));
        }
        assert!(matches!(FifoPool::new(FEW + 1).free, Free::Many(_)));
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
