//! The kit's own tests: deliberately broken strategies, each caught with
//! the right rule, and a correct wrapper of `FifoPool` that passes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use esreplay_traces::{Action, EventType, Message};

use super::*;
use crate::strategy::{FifoPool, Job, Plan, Runner, Ticket, Time};

/// `n` AUTH messages at 0 (deadline 100), services 10, 20, 30, ...
fn burst(n: u64) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let mut m = Message::new(i, EventType::AUTH_OPEN, Action::Auth, 0);
            m.deadline_ns = Some(100);
            m.service_ns = Some(10 * (i + 1));
            m
        })
        .collect()
}

fn violation<S: Strategy>(make: impl Fn() -> S, messages: &[Message]) -> Violation {
    check_strategy(make, messages, &SimConfig::default()).expect_err("a broken strategy")
}

/// A FIFO pool whose `next` is replaced by `pick`.
struct Broken<F> {
    queue: VecDeque<Ticket>,
    given: Vec<Ticket>,
    pick: F,
}

type Pick = fn(&mut VecDeque<Ticket>, &[Ticket], Time) -> Option<Ticket>;

fn broken(pick: Pick) -> Broken<Pick> {
    Broken {
        queue: VecDeque::new(),
        given: Vec::new(),
        pick,
    }
}

impl Strategy for Broken<Pick> {
    fn name(&self) -> String {
        "broken:2".into()
    }
    fn workers(&self) -> u32 {
        2
    }
    fn plan(&mut self, job: &Job, _: &Message) -> Plan {
        Plan {
            watchdog: job.deadline.map(|d| d.saturating_sub(Time::from_ns(40))),
            ..Plan::worker(job)
        }
    }
    fn queue(&mut self, ticket: Ticket) {
        self.queue.push_back(ticket);
    }
    fn next(&mut self, _: u32, now: Time) -> Option<Ticket> {
        let ticket = (self.pick)(&mut self.queue, &self.given, now)?;
        self.given.push(ticket);
        Some(ticket)
    }
}

#[test]
fn a_job_run_twice_is_caught() {
    // Hands out the first ticket again once it has run.
    let again: Pick = |queue, given, _| match given.len() {
        1 => given.first().copied(),
        _ => queue.pop_front(),
    };
    let v = violation(|| broken(again), &burst(4));
    assert_eq!((v.rule, v.message), (Rule::TicketTwice, Some(0)), "{v}");
    assert!(v.first.contains("worker 0 at 0 ns"), "{v}");
}

#[test]
fn the_engine_refuses_a_ticket_returned_while_its_job_runs() {
    let again: Pick = |queue, given, _| given.last().copied().or_else(|| queue.pop_front());
    let mut strategy = broken(again);
    let error = crate::simulate(
        burst(3),
        &mut strategy,
        &CostModel::trace(),
        &SimConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, SimError::TicketTwice { index: 0, .. }),
        "{error}"
    );
}

#[test]
fn a_ticket_never_returned_is_caught_and_the_engine_says_so() {
    // Serves only even messages: the odd ones are never answered.
    let evens: Pick = |queue, _, _| {
        let at = queue.iter().position(|t| t.index % 2 == 0)?;
        queue.remove(at)
    };
    // Without deadlines, no watchdog answers them either.
    let mut messages = burst(4);
    messages.iter_mut().for_each(|m| m.deadline_ns = None);
    let v = violation(|| broken(evens), &messages);
    assert_eq!((v.rule, v.message), (Rule::NeverReturned, Some(1)), "{v}");
    assert!(v.second.contains("never answered"), "{v}");
    let mut strategy = broken(evens);
    let error = crate::simulate(
        messages,
        &mut strategy,
        &CostModel::trace(),
        &SimConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(error, SimError::Unfinished(_, 2)), "{error}");
}

#[test]
fn discarding_expired_jobs_instead_of_returning_them_is_caught() {
    // Takes the guard's drop into its own hands: tickets past their
    // watchdog (deadline − 40) are thrown away, not handed back. Right
    // answers, but the engine keeps counting them as queued.
    let discard: Pick = |queue, _, now| {
        queue.retain(|t| now.ceil_ns() < t.deadline_ns.saturating_sub(40));
        queue.pop_front()
    };
    let v = violation(|| broken(discard), &burst(6));
    assert_eq!(v.rule, Rule::NeverReturned, "{v}");
    assert!(v.second.contains("dropped the job at its watchdog"), "{v}");
}

#[test]
fn an_altered_or_foreign_ticket_is_caught() {
    let altered: Pick = |queue, _, _| {
        let mut ticket = queue.pop_front()?;
        ticket.deadline_ns = 7;
        Some(ticket)
    };
    let v = violation(|| broken(altered), &burst(2));
    assert_eq!((v.rule, v.message), (Rule::UnknownTicket, Some(0)), "{v}");
}

/// Claims workers it does not have, or changes their number mid-run.
struct BadWorkers {
    pool: FifoPool,
    count: AtomicU64,
    planned: bool,
}

impl Strategy for BadWorkers {
    fn name(&self) -> String {
        "bad-workers".into()
    }
    fn workers(&self) -> u32 {
        // 0, then 2: planning for workers it said it did not have.
        u32::from(self.count.fetch_add(1, Ordering::Relaxed) > 0) * 2
    }
    fn plan(&mut self, job: &Job, message: &Message) -> Plan {
        self.planned = true;
        self.pool.plan(job, message)
    }
    fn queue(&mut self, ticket: Ticket) {
        self.pool.queue(ticket)
    }
    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        self.pool.next(worker, now)
    }
}

#[test]
fn planning_for_missing_workers_is_caught() {
    let make = || BadWorkers {
        pool: FifoPool::new(2),
        count: AtomicU64::new(0),
        planned: false,
    };
    let v = violation(make, &burst(2));
    assert_eq!((v.rule, v.message), (Rule::Workers, Some(0)), "{v}");
    assert!(make().name() == "bad-workers" && !make().planned);
}

/// Picks from its queue by a counter shared by every instance: state kept
/// across runs, so two fresh strategies decide differently.
static SHARED: AtomicU64 = AtomicU64::new(0);

struct Shared(FifoPool, VecDeque<Ticket>);

impl Strategy for Shared {
    fn name(&self) -> String {
        "shared-state".into()
    }
    fn workers(&self) -> u32 {
        1
    }
    fn plan(&mut self, job: &Job, _: &Message) -> Plan {
        Plan::worker(job)
    }
    fn queue(&mut self, ticket: Ticket) {
        self.1.push_back(ticket);
    }
    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        let _ = self.0.next(worker, now);
        let at = SHARED.fetch_add(1, Ordering::Relaxed) as usize % self.1.len().max(1);
        self.1.remove(at)
    }
}

/// Says every job is the handler's own work, but sends long ones to its
/// worker: the engine, trusting `runner()`, would never see that plan.
struct Misdeclared(FifoPool);

impl Strategy for Misdeclared {
    fn name(&self) -> String {
        "misdeclared:1".into()
    }
    fn workers(&self) -> u32 {
        1
    }
    fn plan(&mut self, job: &Job, _: &Message) -> Plan {
        match job.service_ns > 20 {
            true => Plan::worker(job),
            false => Plan::handler(job),
        }
    }
    fn queue(&mut self, ticket: Ticket) {
        self.0.queue(ticket);
    }
    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        self.0.next(worker, now)
    }
    fn runner(&self) -> Option<Runner> {
        Some(Runner::Handler)
    }
}

#[test]
fn a_plan_that_runner_did_not_declare_is_caught() {
    let v = violation(|| Misdeclared(FifoPool::new(1)), &burst(4));
    assert_eq!((v.rule, v.message), (Rule::Runner, Some(2)), "{v}");
    assert!(v.second.contains("the workers"), "{v}");
}

#[test]
fn a_non_deterministic_strategy_is_caught() {
    let v = violation(|| Shared(FifoPool::new(1), VecDeque::new()), &burst(5));
    assert_eq!(v.rule, Rule::Determinism, "{v}");
    assert!(
        v.first.contains("first run") && v.second.contains("second run"),
        "{v}"
    );
}

/// A correct strategy written by a user: `FifoPool` behind a wrapper that
/// also answers NOTIFY messages inline.
struct Wrapped(FifoPool);

impl Strategy for Wrapped {
    fn name(&self) -> String {
        format!("wrapped-{}", self.0.name())
    }
    fn workers(&self) -> u32 {
        self.0.workers()
    }
    fn plan(&mut self, job: &Job, message: &Message) -> Plan {
        match job.action {
            Action::Notify => Plan::handler(job),
            Action::Auth => self.0.plan(job, message),
        }
    }
    fn queue(&mut self, ticket: Ticket) {
        self.0.queue(ticket)
    }
    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        self.0.next(worker, now)
    }
}

#[test]
fn a_correct_fifo_pool_wrapper_passes_1000_cases() {
    for (_, config) in sim_configs() {
        run_conformance(
            || Wrapped(FifoPool::new(2)),
            TraceConfig::default(),
            &config,
            1000 / 3 + 1,
        );
    }
}

#[test]
fn a_failing_conformance_run_panics_with_the_violation() {
    let evens: Pick = |queue, _, _| {
        let at = queue.iter().position(|t| t.index % 2 == 0)?;
        queue.remove(at)
    };
    let run = std::panic::catch_unwind(|| {
        run_conformance(
            || broken(evens),
            TraceConfig::default(),
            &SimConfig::default(),
            50,
        )
    });
    let panic = run.expect_err("the broken strategy fails");
    let text = panic.downcast_ref::<String>().expect("a message");
    assert!(text.contains("never-returned"), "{text}");
    assert!(text.contains("the smallest trace"), "{text}");
}

/// The first trace a deterministic runner draws from `config`.
fn first_trace(config: TraceConfig) -> Vec<Message> {
    use proptest::strategy::{Strategy as _, ValueTree};
    let mut runner = TestRunner::deterministic();
    arb_trace(config).new_tree(&mut runner).unwrap().current()
}

#[test]
fn runs_cover_open_and_closed_replay_with_and_without_cores() {
    let names = |trace: &[Message]| -> Vec<String> {
        let runs = variants(trace, &SimConfig::default());
        runs.into_iter().map(|(name, _)| name).collect()
    };
    assert_eq!(
        names(&first_trace(TraceConfig::default())),
        [
            "open replay, unlimited cores",
            "open replay, 1 core",
            "closed replay, unlimited cores",
            "closed replay, 1 core"
        ]
    );
    let open_only = first_trace(TraceConfig::default().without_threads());
    assert_eq!(names(&open_only).len(), 2);
}

conformance_tests!(inline_conforms, || crate::strategy::Inline);
conformance_tests!(pool_conforms, || FifoPool::new(3));
conformance_tests!(edf_conforms, || crate::strategy::EdfPool::new(2));
conformance_tests!(guard_conforms, || "guard:30ns:edf:2"
    .parse::<crate::StrategySpec>()
    .unwrap()
    .build());
conformance_tests!(relative_guard_conforms, || "guard:20%:5ns:40ns:pool:2"
    .parse::<crate::StrategySpec>()
    .unwrap()
    .build());
conformance_tests!(es_clients_inline_conforms, || "es-clients-inline:edf:2"
    .parse::<crate::StrategySpec>()
    .unwrap()
    .build());

/// Runs every job on worker 0 (worker 1 stays idle): legal under the
/// contract (`None` leaves a worker idle).
struct Pinned(FifoPool);

impl Strategy for Pinned {
    fn name(&self) -> String {
        "pinned".into()
    }
    fn workers(&self) -> u32 {
        2
    }
    fn plan(&mut self, job: &Job, message: &Message) -> Plan {
        self.0.plan(job, message)
    }
    fn queue(&mut self, ticket: Ticket) {
        self.0.queue(ticket)
    }
    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        if worker == 0 {
            self.0.next(worker, now)
        } else {
            None
        }
    }
}

// `None` leaves a worker idle "until the next queue or free worker": when
// worker 0 frees, worker 0 must be asked, although worker 1 has been idle
// longer (the engine once asked only the longest-idle worker, and the
// pinned jobs were stranded).
#[test]
fn a_strategy_that_pins_jobs_to_one_worker_passes() {
    let messages = burst(3);
    check_strategy(
        || Pinned(FifoPool::new(2)),
        &messages,
        &SimConfig::default(),
    )
    .unwrap();
}
