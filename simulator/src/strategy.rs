//! The [`Strategy`] trait: how a client's threading design turns messages
//! taken by its ES handler into answers, and the [`Job`] and [`Completion`]
//! records that cross it.
//!
//! The engine ([`crate::engine`]) owns the single handler thread (DESIGN.md:
//! "exactly one handler thread"): it computes when the handler takes each
//! message (h_i) and hands the message to the strategy as a [`Job`]. The
//! strategy says how long the handler stays busy and, now or later, reports
//! each job exactly once as a [`Completion`]: when its work started and
//! finished (if it ran) and when its answer was sent. The engine adds the
//! response latency ρ and does all the bookkeeping (misses, latency,
//! backlog, utilisation). Built-in strategies live in the submodules; none
//! of them is known to the engine by name.

mod edf;
mod guard;
mod inline;
mod pool;
mod runs;

pub use edf::EdfPool;
pub use guard::{Guard, Margin};
pub use inline::Inline;
pub use pool::FifoPool;

use esreplay_traces::{Action, EventType, Message};

/// One message as a strategy sees it, taken by the handler at `taken_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// Position of the message in the stream (0, 1, 2, ...), unique.
    pub index: u64,
    /// ES `global_seq_num`.
    pub global_seq: u64,
    /// Event type.
    pub event: EventType,
    /// AUTH or NOTIFY.
    pub action: Action,
    /// Kernel dispatch time a_i.
    pub arrival_ns: u64,
    /// Deadline d_i (AUTH with a deadline only).
    pub deadline_ns: Option<u64>,
    /// Service time s_i from the cost model (already scaled).
    pub service_ns: u64,
    /// When the handler took the message: h_i = max(a_i + τ, H).
    pub taken_ns: u64,
    /// If set, a job that would start strictly after this time is not run:
    /// it is reported with `start_ns: None` (see [`Completion::dropped`]).
    /// Set by [`Guard`]; honoured by every built-in strategy.
    pub latest_start_ns: Option<u64>,
}

impl Job {
    /// Whether a job starting at `start_ns` must be dropped instead
    /// (the tie rule: a start exactly at the latest start still runs).
    pub fn expired_at(&self, start_ns: u64) -> bool {
        self.latest_start_ns.is_some_and(|latest| start_ns > latest)
    }

    /// The EDF key: (deadline, then global_seq, then stream position);
    /// a message without a deadline (NOTIFY) sorts last.
    pub fn edf_key(&self) -> (u64, u64, u64) {
        (
            self.deadline_ns.unwrap_or(u64::MAX),
            self.global_seq,
            self.index,
        )
    }
}

/// What happened to one job, reported exactly once by the strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The job as it was taken.
    pub job: Job,
    /// When its work started, or `None` if it never ran (dropped).
    pub start_ns: Option<u64>,
    /// When its work finished (`start + service`), `None` if it never ran.
    pub finish_ns: Option<u64>,
    /// When the answer was sent (before the response latency ρ).
    pub answered_ns: u64,
    /// The answer was the default verdict sent by a watchdog.
    pub defaulted: bool,
    /// The work ran on a worker thread (counts towards worker utilisation)
    /// rather than on the handler thread.
    pub on_worker: bool,
    /// Which worker ran it (0-based), when the strategy says
    /// ([`with_worker`](Self::with_worker)); for timelines only.
    pub worker: Option<u32>,
}

impl Completion {
    /// A job that ran from `start_ns` to `start_ns + service` and answered
    /// when it finished.
    pub fn ran(job: Job, start_ns: u64, on_worker: bool) -> Completion {
        let finish = start_ns.saturating_add(job.service_ns);
        Completion {
            job,
            start_ns: Some(start_ns),
            finish_ns: Some(finish),
            answered_ns: finish,
            defaulted: false,
            on_worker,
            worker: None,
        }
    }

    /// A job that was dropped because it could not start by its
    /// `latest_start_ns`: answered with the default verdict at that time.
    pub fn dropped(job: Job) -> Completion {
        Completion {
            job,
            start_ns: None,
            finish_ns: None,
            answered_ns: job.latest_start_ns.unwrap_or(job.taken_ns),
            defaulted: true,
            on_worker: false,
            worker: None,
        }
    }

    /// Names the worker that ran the job (left `None` if it never ran).
    pub fn with_worker(mut self, worker: u32) -> Completion {
        if self.start_ns.is_some() {
            self.worker = Some(worker);
        }
        self
    }

    /// Starts `job` at `start_ns` unless its latest start has passed.
    pub fn start_or_drop(job: Job, start_ns: u64, on_worker: bool) -> Completion {
        if job.expired_at(start_ns) {
            Completion::dropped(job)
        } else {
            Completion::ran(job, start_ns, on_worker)
        }
    }
}

/// Simulation settings a strategy may need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// c_h: cost on the handler of retaining a message and queueing it.
    pub handoff_ns: u64,
}

impl Context {
    /// A context with the given hand-off cost.
    pub fn new(handoff_ns: u64) -> Context {
        Context { handoff_ns }
    }
}

/// A threading design: what a client does with each message its handler
/// takes.
///
/// The engine calls, for each message in kernel order,
/// [`advance`](Strategy::advance)`(h_i)` and then
/// [`take`](Strategy::take) with the job taken at h_i; at the end of the
/// stream, [`finish`](Strategy::finish). A strategy reports every job
/// exactly once, by pushing a [`Completion`] onto `done`, in any order.
///
/// # Contract
///
/// - `take` returns how long the handler is busy with the message: the
///   handler takes the next message no earlier than `taken_ns + returned`.
/// - Jobs taken later are never ready before the `until` of the last
///   `advance`, and `until` never decreases.
/// - After `advance(until)`, every job whose answer time is before `until`
///   has been reported. (Reporting earlier, e.g. as soon as the start time
///   is known, is fine and cheapest.) The engine relies on this to compute
///   the backlog while streaming.
/// - After `finish`, every job has been reported.
/// - A job with [`Job::latest_start_ns`] that cannot start by then is
///   reported with [`Completion::dropped`] (see [`Completion::start_or_drop`]).
///
/// # Example
///
/// The simplest strategy, [`Inline`]: the handler does the work itself.
///
/// ```
/// use esreplay_simulator::strategy::{Completion, Context, Job, Strategy};
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
///     fn take(&mut self, job: Job, _: &esreplay_traces::Message, _: &Context,
///             done: &mut Vec<Completion>) -> u64 {
///         done.push(Completion::start_or_drop(job, job.taken_ns, false));
///         job.service_ns
///     }
///     fn advance(&mut self, _until: u64, _done: &mut Vec<Completion>) {}
///     fn finish(&mut self, _done: &mut Vec<Completion>) {}
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

    /// Worker threads besides the handler (0 for none), for utilisation.
    fn workers(&self) -> u32;

    /// The handler takes `job` at `job.taken_ns`; `message` is the full
    /// record for strategies that look at paths or processes. Returns the
    /// handler's busy time for it.
    fn take(
        &mut self,
        job: Job,
        message: &Message,
        context: &Context,
        done: &mut Vec<Completion>,
    ) -> u64;

    /// Simulates everything before `until` and reports every job answered
    /// before it.
    fn advance(&mut self, until: u64, done: &mut Vec<Completion>);

    /// The stream has ended: runs every remaining job and reports it.
    fn finish(&mut self, done: &mut Vec<Completion>);
}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn workers(&self) -> u32 {
        (**self).workers()
    }
    fn take(
        &mut self,
        job: Job,
        message: &Message,
        context: &Context,
        done: &mut Vec<Completion>,
    ) -> u64 {
        (**self).take(job, message, context, done)
    }
    fn advance(&mut self, until: u64, done: &mut Vec<Completion>) {
        (**self).advance(until, done)
    }
    fn finish(&mut self, done: &mut Vec<Completion>) {
        (**self).finish(done)
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Small builders for the strategies' unit tests.
    use super::Job;
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
            taken_ns,
            latest_start_ns: None,
        }
    }

    /// A placeholder record for `take`.
    pub fn message() -> Message {
        Message::new(0, EventType::AUTH_OPEN, Action::Auth, 0)
    }
}
