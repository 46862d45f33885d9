//! `edf:N`: like `pool:N`, but a free worker takes the ready job with the
//! smallest key (d_i, then global_seq; NOTIFY last). Non-preemptive.
//!
//! A small discrete-event simulation: `events` holds (time, worker) for
//! every busy worker (the time it frees) and for idle workers woken by a
//! new job; `queue` holds waiting jobs keyed by [`Job::edf_key`] in a
//! [`RunQueue`], O(1) when keys mostly ascend (per event type they do) and
//! O(log n) otherwise, so sustained overload with millions of waiting jobs
//! stays fast. Jobs with a latest start (guarded) are also listed in
//! `guarded` and ordered by it in `expiry`, so a drop is reported when its
//! time passes even if no worker frees; a queue entry whose guarded job is
//! gone from `guarded` was dropped and is skipped.
//!
//! Invariants:
//! - every worker is either in `events` or in `idle`, never both;
//! - a worker is idle only when no live job is queued;
//! - all events before the last `advance(until)` have been processed, and
//!   a job queued at ready time t is queued before any event at t is
//!   processed: a job ready at t is visible to a worker that frees at t.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use esreplay_traces::Message;

use super::runs::RunQueue;
use super::{Completion, Context, Job, Strategy};

/// N workers that always take the ready job with the earliest deadline.
pub struct EdfPool {
    workers: u32,
    events: BinaryHeap<Reverse<(u64, u32)>>,
    idle: Vec<u32>,
    queue: RunQueue<Job>,
    guarded: HashMap<u64, Job>,
    expiry: BinaryHeap<Reverse<(u64, u64)>>,
}

impl EdfPool {
    /// A pool of `workers` idle workers (at least 1).
    pub fn new(workers: u32) -> EdfPool {
        let workers = workers.max(1);
        EdfPool {
            workers,
            events: BinaryHeap::new(),
            idle: (0..workers).rev().collect(),
            queue: RunQueue::default(),
            guarded: HashMap::new(),
            expiry: BinaryHeap::new(),
        }
    }

    /// Jobs waiting for a worker (including dropped ones not yet skipped).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Queues `job`, ready at `ready_ns` (non-decreasing between calls).
    pub fn submit(&mut self, job: Job, ready_ns: u64, done: &mut Vec<Completion>) {
        self.run_until(Some(ready_ns), done);
        self.queue.push(job);
        if let Some(latest) = job.latest_start_ns {
            self.guarded.insert(job.index, job);
            self.expiry.push(Reverse((latest, job.index)));
        }
        if let Some(worker) = self.idle.pop() {
            self.events.push(Reverse((ready_ns, worker)));
        }
    }

    /// Processes worker events before `until` (all of them for `None`),
    /// then drops every queued job whose latest start is before `until`.
    fn run_until(&mut self, until: Option<u64>, done: &mut Vec<Completion>) {
        let before = |time: u64| until.is_none_or(|until| time < until);
        while let Some(&Reverse((time, worker))) = self.events.peek() {
            if !before(time) {
                break;
            }
            self.events.pop();
            self.dispatch(time, worker, done);
        }
        while let Some(&Reverse((latest, index))) = self.expiry.peek() {
            if !before(latest) {
                break;
            }
            self.expiry.pop();
            if let Some(job) = self.guarded.remove(&index) {
                done.push(Completion::dropped(job));
            }
        }
    }

    /// Worker `worker` is free at `now`: it takes the live job with the
    /// smallest key, dropping those whose latest start has passed.
    fn dispatch(&mut self, now: u64, worker: u32, done: &mut Vec<Completion>) {
        while let Some(job) = self.queue.pop() {
            if job.latest_start_ns.is_some() && self.guarded.remove(&job.index).is_none() {
                continue; // already dropped by `run_until`
            }
            if job.expired_at(now) {
                done.push(Completion::dropped(job));
                continue;
            }
            let completion = Completion::ran(job, now, true).with_worker(worker);
            let finish = completion.finish_ns.unwrap_or(now);
            self.events.push(Reverse((finish, worker)));
            done.push(completion);
            return;
        }
        self.idle.push(worker);
    }
}

impl Strategy for EdfPool {
    fn name(&self) -> String {
        format!("edf:{}", self.workers)
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

    fn advance(&mut self, until: u64, done: &mut Vec<Completion>) {
        self.run_until(Some(until), done);
    }

    fn finish(&mut self, done: &mut Vec<Completion>) {
        self.run_until(None, done);
        debug_assert!(self.queue.is_empty(), "a job was never reported");
        debug_assert!(self.guarded.is_empty(), "a guarded job was never reported");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::{job, message};

    fn run(workers: u32, jobs: &[(u64, u64, u64)]) -> Vec<Option<u64>> {
        let mut pool = EdfPool::new(workers);
        let mut done = Vec::new();
        for (index, &(taken, service, deadline)) in jobs.iter().enumerate() {
            let mut job = job(index as u64, taken, service);
            job.deadline_ns = Some(deadline);
            pool.advance(taken, &mut done);
            pool.take(job, &message(), &Context::default(), &mut done);
        }
        pool.finish(&mut done);
        done.sort_by_key(|c| c.job.index);
        done.iter().map(|c| c.start_ns).collect()
    }

    #[test]
    fn a_free_worker_takes_the_earliest_deadline() {
        // Job 0 occupies the worker until 10; at 10 jobs 1..3 all wait.
        let got = run(1, &[(0, 10, 100), (1, 1, 50), (2, 1, 30), (3, 1, 40)]);
        assert_eq!(got, vec![Some(0), Some(12), Some(10), Some(11)]);
    }

    #[test]
    fn each_job_names_the_worker_that_ran_it() {
        let mut pool = EdfPool::new(2);
        let mut done = Vec::new();
        for (index, (taken, service)) in [(0, 10), (0, 4), (1, 1)].into_iter().enumerate() {
            pool.advance(taken, &mut done);
            let job = job(index as u64, taken, service);
            pool.take(job, &message(), &Context::default(), &mut done);
        }
        pool.finish(&mut done);
        done.sort_by_key(|c| c.job.index);
        let workers: Vec<Option<u32>> = done.iter().map(|c| c.worker).collect();
        // Job 2 waits for the worker that frees first (job 1's, at 4).
        assert_eq!(workers[2], workers[1]);
        assert_ne!(workers[0], workers[1]);
        assert!(workers.iter().all(|w| w.is_some_and(|w| w < 2)));
    }

    #[test]
    fn a_job_ready_when_a_worker_frees_is_seen_by_it() {
        // The worker frees at 5 exactly when job 2 (earlier deadline) arrives.
        let got = run(1, &[(0, 5, 100), (1, 1, 50), (5, 1, 10)]);
        assert_eq!(got, vec![Some(0), Some(6), Some(5)]);
    }

    #[test]
    fn simultaneous_arrivals_at_an_idle_pool_are_ordered_by_deadline() {
        let got = run(1, &[(0, 3, 9), (0, 3, 4)]);
        assert_eq!(got, vec![Some(3), Some(0)]);
    }

    #[test]
    fn expired_jobs_are_reported_by_advance_without_a_worker() {
        let mut pool = EdfPool::new(1);
        let mut done = Vec::new();
        pool.take(job(0, 0, 100), &message(), &Context::default(), &mut done);
        let mut late = job(1, 0, 5);
        late.latest_start_ns = Some(20);
        pool.take(late, &message(), &Context::default(), &mut done);
        pool.advance(20, &mut done);
        assert_eq!(done.len(), 1, "latest start 20 is not before 20");
        pool.advance(21, &mut done);
        assert_eq!(done.len(), 2);
        assert_eq!((done[1].start_ns, done[1].answered_ns), (None, 20));
        pool.finish(&mut done);
        assert_eq!(done.len(), 2);
    }
}
