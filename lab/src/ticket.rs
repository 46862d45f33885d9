//! One event in the client ([`Ticket`]): the fanotify event waiting for
//! its answer, and what happened to it. Whoever answers first (the inner
//! path or a guard's watchdog) takes the event out, so there is exactly one
//! answer per event; a job that would start after its guard time is
//! dropped without running (see [`Ticket::work`] for the tie rule).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use esreplay_fanotify::{Event, Verdict};

use crate::plan::Work;
use crate::record::{Answerer, Clock, Served};

/// One event taken by the reading thread.
#[derive(Debug)]
pub(crate) struct Ticket {
    /// The open's index in the schedule.
    pub index: usize,
    /// d_i, for EDF and the guards.
    pub deadline_ns: Option<u64>,
    /// g_i: the earliest guard time, if guarded.
    pub guard_ns: Option<u64>,
    service_ns: u64,
    work: Work,
    read_ns: u64,
    idle_read: bool,
    taken_ns: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    event: Option<Event>,
    start_ns: Option<u64>,
    finish_ns: Option<u64>,
    ran_on: Option<Answerer>,
    answer: Option<(u64, Answerer)>,
    error: Option<esreplay_fanotify::Error>,
}

/// When and how the reading thread took an event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Taken {
    pub index: usize,
    pub read_ns: u64,
    pub idle_read: bool,
    pub taken_ns: u64,
    pub deadline_ns: Option<u64>,
    pub guard_ns: Option<u64>,
    pub service_ns: u64,
    pub work: Work,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic elsewhere leaves the state as valid as before it.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Spends the thread's CPU from `start` for `service_ns` (real work, not a
/// sleep): until `start + service_ns` on the monotonic clock, or, for
/// [`Work::Cpu`], until the thread has used `service_ns` of CPU time.
pub(crate) fn spin_for(start: Instant, service_ns: u64, work: Work) {
    let until = start + std::time::Duration::from_nanos(service_ns);
    match work {
        Work::Spin => spin_until(until, std::hint::spin_loop),
        Work::Yield => spin_until(until, std::thread::yield_now),
        Work::Cpu => {
            let used = thread_cpu_ns().saturating_add(service_ns);
            while thread_cpu_ns() < used {
                std::hint::spin_loop();
            }
        }
    }
}

fn spin_until(until: Instant, each_turn: fn()) {
    while Instant::now() < until {
        each_turn();
    }
}

/// CPU time this thread has used, ns (`CLOCK_THREAD_CPUTIME_ID`).
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // Safety: `now` is a live timespec the call writes.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

impl Ticket {
    /// A ticket holding `event` until it is answered.
    pub fn new(taken: Taken, event: Event) -> Ticket {
        Ticket {
            index: taken.index,
            deadline_ns: taken.deadline_ns,
            guard_ns: taken.guard_ns,
            service_ns: taken.service_ns,
            work: taken.work,
            read_ns: taken.read_ns,
            idle_read: taken.idle_read,
            taken_ns: taken.taken_ns,
            state: Mutex::new(State {
                event: Some(event),
                ..State::default()
            }),
        }
    }

    /// Answers ALLOW unless someone already did; returns whether this call
    /// answered.
    pub fn answer(&self, clock: &Clock, by: Answerer) -> bool {
        let event = {
            let mut state = lock(&self.state);
            let Some(event) = state.event.take() else {
                return false;
            };
            state.answer = Some((clock.now_ns(), by));
            event
        };
        if let Err(error) = event.respond(Verdict::Allow) {
            lock(&self.state).error = Some(error);
        }
        true
    }

    /// Runs the job (service time of busy CPU) and answers unless a guard
    /// did, as the simulator does: a job is dropped only if it starts
    /// after its guard time, and a started job runs to the end. A guard
    /// already due when the message was taken (g_i = h_i) counts as due at
    /// the take, so the job, started right then, runs.
    pub fn work(&self, clock: &Clock, by: Answerer) {
        let start = clock.now_ns();
        if self
            .guard_ns
            .is_some_and(|g| start > g && g > self.taken_ns)
        {
            return;
        }
        {
            let mut state = lock(&self.state);
            state.start_ns = Some(start);
            state.ran_on = Some(by);
        }
        spin_for(clock.at(start), self.service_ns, self.work);
        lock(&self.state).finish_ns = Some(clock.now_ns());
        self.answer(clock, by);
    }

    /// What happened, once every answer is in; `Err` if answering failed.
    pub fn served(&self) -> Result<Option<Served>, esreplay_fanotify::Error> {
        let mut state = lock(&self.state);
        if let Some(error) = state.error.take() {
            return Err(error);
        }
        Ok(state.answer.map(|(answer_ns, answered_by)| Served {
            read_ns: self.read_ns,
            idle_read: self.idle_read,
            taken_ns: self.taken_ns,
            start_ns: state.start_ns,
            finish_ns: state.finish_ns,
            answer_ns,
            answered_by,
            ran_on: state.ran_on,
        }))
    }
}
