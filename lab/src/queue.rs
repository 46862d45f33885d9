//! The client's shared structures: the job [`Queue`] its workers take from
//! (FIFO, or earliest deadline first) and the guards' [`Watchdog`], which
//! answers each guarded event at its guard time unless it was answered.
//! Both are a mutex and a condition variable; closing them lets their
//! threads finish.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::record::{Answerer, Clock};
use crate::ticket::Ticket;

/// A ticket ordered by a key, smallest first in a [`BinaryHeap`].
#[derive(Debug)]
struct Keyed {
    key: (u64, usize),
    ticket: Arc<Ticket>,
}

impl Keyed {
    fn new(first: u64, ticket: Arc<Ticket>) -> Keyed {
        Keyed {
            key: (first, ticket.index),
            ticket,
        }
    }
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Keyed {}

impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> Ordering {
        Reverse(self.key).cmp(&Reverse(other.key))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
enum Order {
    Fifo(VecDeque<Arc<Ticket>>),
    /// Keyed by (d_i, index); no deadline sorts last.
    Edf(BinaryHeap<Keyed>),
}

#[derive(Debug)]
struct Jobs {
    order: Order,
    closed: bool,
    aborted: bool,
}

/// Jobs waiting for a worker.
#[derive(Debug)]
pub(crate) struct Queue {
    jobs: Mutex<Jobs>,
    ready: Condvar,
}

impl Queue {
    /// An empty queue, FIFO or by deadline.
    pub fn new(edf: bool) -> Queue {
        let order = if edf {
            Order::Edf(BinaryHeap::new())
        } else {
            Order::Fifo(VecDeque::new())
        };
        Queue {
            jobs: Mutex::new(Jobs {
                order,
                closed: false,
                aborted: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// Queues a job and wakes a worker.
    pub fn push(&self, ticket: Arc<Ticket>) {
        match &mut lock(&self.jobs).order {
            Order::Fifo(queue) => queue.push_back(ticket),
            Order::Edf(heap) => {
                heap.push(Keyed::new(ticket.deadline_ns.unwrap_or(u64::MAX), ticket))
            }
        }
        self.ready.notify_one();
    }

    /// The next job; `None` once closed and empty, or aborted.
    pub fn pop(&self) -> Option<Arc<Ticket>> {
        let mut jobs = lock(&self.jobs);
        loop {
            if jobs.aborted {
                return None;
            }
            let next = match &mut jobs.order {
                Order::Fifo(queue) => queue.pop_front(),
                Order::Edf(heap) => heap.pop().map(|keyed| keyed.ticket),
            };
            if next.is_some() || jobs.closed {
                return next;
            }
            jobs = self
                .ready
                .wait(jobs)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// No more jobs will come: workers finish the queue and stop; with
    /// `abort`, they stop after their current job (queued events are then
    /// allowed when dropped).
    pub fn close(&self, abort: bool) {
        let mut jobs = lock(&self.jobs);
        jobs.closed = true;
        jobs.aborted |= abort;
        self.ready.notify_all();
    }
}

/// Worker `k`: runs jobs until the queue closes.
pub(crate) fn work_loop(queue: &Queue, clock: &Clock, k: u32) {
    while let Some(ticket) = queue.pop() {
        ticket.work(clock, Answerer::Worker(k));
    }
}

#[derive(Debug, Default)]
struct Armed {
    heap: BinaryHeap<Keyed>,
    closed: bool,
}

/// The guards' watchdog: answers each armed ticket at its guard time.
#[derive(Debug, Default)]
pub(crate) struct Watchdog {
    armed: Mutex<Armed>,
    wake: Condvar,
}

impl Watchdog {
    /// Arms the watchdog for a ticket with a guard time.
    pub fn arm(&self, ticket: Arc<Ticket>) {
        let Some(guard_ns) = ticket.guard_ns else {
            return;
        };
        lock(&self.armed).heap.push(Keyed::new(guard_ns, ticket));
        self.wake.notify_one();
    }

    /// Stops the watchdog thread.
    pub fn close(&self) {
        lock(&self.armed).closed = true;
        self.wake.notify_all();
    }

    /// The watchdog thread: fires each guard when its time comes.
    pub fn run(&self, clock: &Clock) {
        let mut armed = lock(&self.armed);
        while !armed.closed {
            let now = clock.now_ns();
            let wait = match armed.heap.peek() {
                Some(next) if next.key.0 <= now => {
                    let next = armed.heap.pop().expect("peeked");
                    drop(armed);
                    next.ticket.answer(clock, Answerer::Guard);
                    armed = lock(&self.armed);
                    continue;
                }
                Some(next) => Duration::from_nanos(next.key.0 - now),
                None => Duration::from_secs(3600),
            };
            armed = self
                .wake
                .wait_timeout(armed, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}
