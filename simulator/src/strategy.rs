//! The [`Strategy`] trait: a client's threading design as a *scheduler*,
//! and the [`Job`], [`Plan`] and [`Ticket`] records that cross it.
//!
//! The engine ([`crate::engine`]) owns the machine: the kernel queue, the
//! single handler thread (DESIGN.md: "exactly one handler thread"), the
//! strategy's N worker threads, the CPU they share, the timers and the
//! clock. A strategy only decides:
//!
//! - [`plan`](Strategy::plan): when the handler takes a message, whether
//!   the handler does the work itself or hands it off to the workers, how
//!   much work it is, and whether a watchdog guards it;
//! - [`queue`](Strategy::queue) / [`next`](Strategy::next): which handed-off
//!   job a worker runs when it is free.
//!
//! The engine advances the work (under processor sharing with `--cores`),
//! fires the watchdogs, answers, and does all the bookkeeping. A job whose
//! watchdog fired before it started is dropped by the engine: the strategy
//! may still hand its [`Ticket`] back from `next`, and the engine skips it
//! (a stale ticket costs one check, no lookup table). Built-in strategies
//! live in the submodules; none of them is known to the engine by name.

mod edf;
mod es_clients;
mod guard;
mod inline;
mod pool;
pub(crate) mod runs;

pub use edf::EdfPool;
pub use es_clients::{EsClientsInline, from_es_client};
pub use guard::{Guard, Margin};
pub use inline::Inline;
pub use pool::FifoPool;

pub use crate::engine::time::Time;
use esreplay_traces::{Action, EventType, Message};

/// One message as a strategy sees it, taken by the handler at `taken`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// Position of the message in the input stream (0, 1, 2, ...), unique.
    pub index: u64,
    /// ES `global_seq_num`.
    pub global_seq: u64,
    /// Event type.
    pub event: EventType,
    /// AUTH or NOTIFY.
    pub action: Action,
    /// Replayed arrival a'_i (= a_i in open replay), rounded up to ns.
    pub arrival_ns: u64,
    /// Deadline d'_i (AUTH with a deadline only), rounded up to ns.
    pub deadline_ns: Option<u64>,
    /// Service time s_i from the cost model (already scaled).
    pub service_ns: u64,
    /// When the handler took the message, h_i (exact).
    pub taken: Time,
    /// The exact deadline d'_i.
    pub deadline: Option<Time>,
}

impl Job {
    /// h_i rounded up to whole ns.
    pub fn taken_ns(&self) -> u64 {
        self.taken.ceil_ns()
    }
}

/// Which thread runs a job's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    /// The handler does the work itself and answers (inline).
    Handler,
    /// The handler hands the job off (cost c_h) to the workers' queue.
    Worker,
    /// The handler answers at once, at the cost of a hand-off (c_h) and
    /// without the job's work: never queued, no file reads
    /// (`es-clients-inline`).
    Answer,
}

/// What the handler does with a message it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Who runs the work.
    pub runner: Runner,
    /// CPU work of the job, ns (normally the job's `service_ns`).
    pub work_ns: u64,
    /// A watchdog armed at the take: it answers with the default verdict
    /// at this time (never before h_i) unless the job finished by then,
    /// and drops the job if it has not started (see [`Margin`]).
    pub watchdog: Option<Time>,
}

impl Plan {
    /// `work_ns` of work on `runner`, unguarded (no watchdog). A strategy
    /// whose [`runner`](Strategy::runner) is `Some(runner)` plans every
    /// job as `Plan::on(runner, job.service_ns)`.
    pub fn on(runner: Runner, work_ns: u64) -> Plan {
        Plan {
            runner,
            work_ns,
            watchdog: None,
        }
    }

    /// The handler does the job's work itself.
    pub fn handler(job: &Job) -> Plan {
        Plan::on(Runner::Handler, job.service_ns)
    }

    /// The handler hands the job off to the workers.
    pub fn worker(job: &Job) -> Plan {
        Plan::on(Runner::Worker, job.service_ns)
    }
}

/// A handed-off job in a strategy's queue: what a scheduler needs to order
/// it (32 bytes), and an engine handle. Return it unchanged from
/// [`Strategy::next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// d'_i rounded up to ns, `u64::MAX` without a deadline (NOTIFY).
    pub deadline_ns: u64,
    /// ES `global_seq_num`.
    pub global_seq: u64,
    /// Position in the input stream (unique).
    pub index: u64,
    pub(crate) job: crate::engine::JobRef,
}

impl Ticket {
    /// The ticket of job `job`, the message at stream position `index`
    /// with ES `global_seq` and deadline d' (`None`: sorts last).
    #[inline(always)]
    pub(crate) fn new(
        deadline: Option<Time>,
        global_seq: u64,
        index: u64,
        job: crate::engine::JobRef,
    ) -> Ticket {
        Ticket {
            deadline_ns: deadline.map_or(u64::MAX, Time::ceil_ns),
            global_seq,
            index,
            job,
        }
    }

    /// The EDF key: (deadline, then global_seq, then stream position);
    /// a message without a deadline (NOTIFY) sorts last.
    #[inline]
    pub fn edf_key(&self) -> (u64, u64, u64) {
        (self.deadline_ns, self.global_seq, self.index)
    }
}

/// A threading design: what a client does with each message its handler
/// takes, and which queued job a free worker runs.
///
/// # Contract
///
/// - [`plan`](Strategy::plan) is called once per message the handler
///   takes, in the order it takes them (kernel order), at h_i (never if
///   [`runner`](Strategy::runner) answers for every message).
/// - A job planned for [`Runner::Worker`] reaches [`queue`](Strategy::queue)
///   when the hand-off ends (q_i = h_i + c_h under full speed); a job
///   queued at t is visible to a worker that frees at t.
/// - [`next`](Strategy::next) is called when worker `worker` is free at
///   `now` and the strategy holds queued tickets; it returns one of them
///   (or `None` to leave the worker idle until the next queue or free
///   worker; the engine then asks the next idle worker, longest idle
///   first). Every queued ticket must eventually be returned.
/// - A strategy with `workers() == 0` never plans [`Runner::Worker`].
///
/// # Example
///
/// The simplest strategy, [`Inline`]: the handler does the work itself.
///
/// ```
/// use esreplay_simulator::strategy::{Job, Plan, Strategy, Ticket, Time};
///
/// struct MyInline;
///
/// impl Strategy for MyInline {
///     fn name(&self) -> String {
///         "my-inline".into()
///     }
///     fn workers(&self) -> u32 {
///         0
///     }
///     fn plan(&mut self, job: &Job, _: &esreplay_traces::Message) -> Plan {
///         Plan::handler(job)
///     }
///     fn queue(&mut self, _: Ticket) {}
///     fn next(&mut self, _: u32, _: Time) -> Option<Ticket> {
///         None
///     }
/// }
///
/// # use esreplay_simulator::{simulate, SimConfig, CostModel};
/// # use esreplay_traces::{Action, EventType, Message};
/// let messages = (0..3).map(|i| {
///     let mut m = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * 10);
///     m.deadline_ns = Some(i * 10 + 25);
///     m
/// });
/// let cost = CostModel::constant(20);
/// let result = simulate(messages, &mut MyInline, &cost, &SimConfig::default()).unwrap();
/// assert_eq!(result.misses, 2); // answers at 20, 40, 60; deadlines 25, 35, 45
/// ```
pub trait Strategy: Send {
    /// The strategy in `--strategy` syntax, e.g. `pool:4`.
    fn name(&self) -> String;

    /// Worker threads besides the handler (0 for none).
    fn workers(&self) -> u32;

    /// The handler takes `job` at `job.taken`; `message` is the full record
    /// for strategies that look at paths or processes.
    fn plan(&mut self, job: &Job, message: &Message) -> Plan;

    /// A handed-off job is ready for the workers.
    fn queue(&mut self, ticket: Ticket);

    /// Worker `worker` is free at `now`: the job it runs next.
    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket>;

    /// `Some(runner)` if every [`plan`](Strategy::plan) of this strategy
    /// is the job's own work on `runner`, unguarded ([`Plan::handler`]
    /// or [`Plan::worker`] of the job, whatever the message): the engine
    /// then plans each job so, once asked at the start, without calling
    /// `plan`. `None` (the default): `plan` is called for every message.
    fn runner(&self) -> Option<Runner> {
        None
    }
}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn workers(&self) -> u32 {
        (**self).workers()
    }
    fn plan(&mut self, job: &Job, message: &Message) -> Plan {
        (**self).plan(job, message)
    }
    fn queue(&mut self, ticket: Ticket) {
        (**self).queue(ticket)
    }
    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        (**self).next(worker, now)
    }
    fn runner(&self) -> Option<Runner> {
        (**self).runner()
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Small builders for the strategies' unit tests.
    use super::{Job, Strategy, Ticket, Time};
    use esreplay_traces::{Action, EventType, Message};

    /// An AUTH_OPEN job without a deadline.
    pub fn job(index: u64, taken_ns: u64, service_ns: u64) -> Job {
        Job {
            index,
            global_seq: index,
            event: EventType::AUTH_OPEN,
            action: Action::Auth,
            arrival_ns: taken_ns,
            deadline_ns: None,
            service_ns,
            taken: Time::from_ns(taken_ns),
            deadline: None,
        }
    }

    /// A ticket with a deadline (`u64::MAX`: none).
    pub fn ticket(index: u64, deadline_ns: u64) -> Ticket {
        Ticket {
            deadline_ns,
            global_seq: index,
            index,
            job: crate::engine::JobRef::slot(index as u32),
        }
    }

    /// Runs `steps` through `strategy`'s queue: `Some(deadline)` queues
    /// the next ticket (indices 0, 1, ...), `None` frees worker 0; returns
    /// the index each free worker took.
    pub fn take_order(strategy: &mut impl Strategy, steps: &[Option<u64>]) -> Vec<Option<u64>> {
        let mut queued = 0..;
        let mut taken = Vec::new();
        for step in steps {
            match step {
                Some(deadline) => strategy.queue(ticket(queued.next().unwrap(), *deadline)),
                None => taken.push(strategy.next(0, Time::ZERO).map(|t| t.index)),
            }
        }
        taken
    }

    /// A placeholder record for `plan`.
    pub fn message() -> Message {
        Message::new(0, EventType::AUTH_OPEN, Action::Auth, 0)
    }
}
