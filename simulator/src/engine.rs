//! The streaming discrete-event engine: one handler thread, a strategy,
//! a cost model, and DESIGN.md's simulation semantics.
//!
//! For each message in kernel order the engine computes v_i = a_i + τ and
//! h_i = max(v_i, H), lets the strategy [`advance`](Strategy::advance) to
//! h_i, hands it the [`Job`] and sets H = h_i + (handler busy time the
//! strategy returns). Every [`Completion`] the strategy reports becomes an
//! [`Outcome`] with r_i = answer + ρ and is folded into the statistics at
//! once. Only in-flight state is kept, so memory follows the backlog.
//! All arithmetic is integer nanoseconds, saturating at `u64::MAX`.

use std::error::Error;

use esreplay_traces::{Action, EventType, Message};

use crate::cost::{CostError, CostModel};
use crate::kernel::{Admission, Kernel, KernelCounts, KernelOptions};
use crate::report::{FirstMiss, SimResult};
use crate::stats::{Stats, slack};
use crate::strategy::{Completion, Context, Job, Strategy};

/// What ES does when a deadline passes (`--miss-mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MissMode {
    /// The client is killed at the first miss (today's ES).
    #[default]
    Kill,
    /// The kernel answers a late message with "allow" itself.
    Allow,
    /// The kernel answers a late message with "deny" itself.
    Deny,
}

/// Engine settings (`--transport`, `--response-latency`, `--handoff`,
/// `--miss-mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimConfig {
    /// τ: dispatch to handler.
    pub transport_ns: u64,
    /// ρ: answer to kernel.
    pub response_latency_ns: u64,
    /// c_h: handler cost of retaining and queueing a message.
    pub handoff_ns: u64,
    /// What a miss does.
    pub miss_mode: MissMode,
}

/// What the simulation predicts for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Position in the stream.
    pub index: u64,
    /// ES global_seq.
    pub global_seq: u64,
    /// Event type.
    pub event: EventType,
    /// AUTH or NOTIFY.
    pub action: Action,
    /// a_i.
    pub arrival_ns: u64,
    /// d_i.
    pub deadline_ns: Option<u64>,
    /// s_i.
    pub service_ns: u64,
    /// h_i: when the handler took it.
    pub handler_ns: u64,
    /// When its work started (`None`: dropped by a guard).
    pub start_ns: Option<u64>,
    /// When its work finished.
    pub finish_ns: Option<u64>,
    /// r_i = answer + ρ.
    pub response_ns: u64,
    /// Answered by a guard's default verdict.
    pub defaulted: bool,
    /// An AUTH message answered after its deadline.
    pub missed: bool,
    /// The worker that ran it (0-based), if the strategy says (pool, edf).
    pub worker: Option<u32>,
    /// Answered by the kernel from its ES cache at arrival (`--es-cache`):
    /// never reached the client, latency 0.
    pub cached: bool,
}

impl Outcome {
    /// r_i − a_i.
    pub fn latency_ns(&self) -> u64 {
        self.response_ns.saturating_sub(self.arrival_ns)
    }

    /// d_i − r_i for an AUTH message with a deadline (negative: missed).
    pub fn slack_ns(&self) -> Option<i64> {
        let deadline = self.deadline_ns.filter(|_| self.action == Action::Auth)?;
        Some(slack(deadline, self.response_ns))
    }
}

/// Receives every [`Outcome`], in the order the strategy reports them
/// (not kernel order: sort by `index` if needed). `()` observes nothing
/// and costs nothing; any `FnMut(&Outcome)` is an observer.
pub trait Observer {
    /// One message's outcome.
    fn outcome(&mut self, outcome: &Outcome);

    /// The backlog #{i : a_i ≤ t < r_i} at arrival instant `at_ns`, once
    /// it is known: called once per distinct arrival time, in increasing
    /// order (the backlog only grows at arrivals, so these samples hold
    /// every local maximum). Does nothing unless overridden.
    fn backlog(&mut self, at_ns: u64, in_flight: u64) {
        let _ = (at_ns, in_flight);
    }
}

impl Observer for () {
    #[inline(always)]
    fn outcome(&mut self, _: &Outcome) {}
}

impl<F: FnMut(&Outcome)> Observer for F {
    fn outcome(&mut self, outcome: &Outcome) {
        self(outcome)
    }
}

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The cost model failed (e.g. `trace` without service times).
    #[error(transparent)]
    Cost(#[from] CostError),
    /// The message source failed.
    #[error("reading messages")]
    Input(#[source] Box<dyn Error + Send + Sync>),
}

/// A simulation in progress: feed it messages with [`push`](Self::push),
/// then call [`finish`](Self::finish).
pub struct Simulator<'a, S: Strategy + ?Sized, O: Observer = ()> {
    strategy: &'a mut S,
    cost: &'a CostModel,
    config: SimConfig,
    context: Context,
    observer: O,
    handler_free: u64,
    next_index: u64,
    reported: u64,
    last_arrival: Option<u64>,
    done: Vec<Completion>,
    stats: Stats,
    /// Mutes and the ES cache (`None`: off, the stage is skipped).
    kernel: Option<Kernel>,
    /// The `until` of the strategy's last `advance`.
    advanced_to: u64,
}

impl<'a, S: Strategy + ?Sized, O: Observer> Simulator<'a, S, O> {
    /// A simulation of `strategy` (fresh: built for this run) under `cost`.
    pub fn new(strategy: &'a mut S, cost: &'a CostModel, config: SimConfig, observer: O) -> Self {
        Simulator {
            strategy,
            cost,
            config,
            context: Context::new(config.handoff_ns),
            observer,
            handler_free: 0,
            next_index: 0,
            reported: 0,
            last_arrival: None,
            done: Vec::with_capacity(64),
            stats: Stats::default(),
            kernel: None,
            advanced_to: 0,
        }
    }

    /// Applies the client's mutes and ES cache (DESIGN.md, "ES cache and
    /// mutes") at each arrival, before the handler. Options that change
    /// nothing leave the run exactly as without them.
    pub fn with_kernel(mut self, options: &KernelOptions) -> Self {
        self.kernel = options.is_active().then(|| Kernel::new(options));
        self
    }

    /// What the mutes and the cache did so far (`None` when off).
    pub fn kernel_counts(&self) -> Option<KernelCounts> {
        self.kernel.as_ref().map(Kernel::counts)
    }

    /// The kernel-side admission stage at a message's arrival a: every
    /// answer at or before a is reported first (the strategy advances to
    /// a), then the kernel mutes, invalidates and looks up. Without mutes
    /// or a cache every message reaches the client.
    fn admit(&mut self, message: &Message) -> Admission {
        if self.kernel.is_none() {
            return Admission::Client;
        }
        let arrival = message.arrival_ns;
        if arrival > self.advanced_to {
            self.strategy.advance(arrival, &mut self.done);
            self.advanced_to = arrival;
            self.drain();
        }
        let kernel = self.kernel.as_mut().expect("checked above");
        kernel.admit(message, arrival, self.next_index)
    }

    /// A message the kernel answers from its cache at its arrival: in
    /// `messages`, `auth` and the latency (0), never at the client.
    fn answer_from_cache(&mut self, message: &Message) {
        let arrival = message.arrival_ns;
        if self.last_arrival.is_none_or(|last| arrival > last) {
            // admit() advanced the strategy to at least this arrival.
            if let Some(previous) = self.last_arrival {
                self.close_instant(previous);
            }
            self.last_arrival = Some(arrival);
        }
        self.count(message);
        let job = Job {
            index: self.next_index,
            global_seq: message.global_seq,
            event: message.event,
            action: message.action,
            arrival_ns: arrival,
            deadline_ns: message.deadline_ns.filter(|_| message.is_auth()),
            service_ns: 0,
            taken_ns: arrival,
            latest_start_ns: None,
        };
        self.next_index += 1;
        self.reported += 1;
        let completion = Completion {
            job,
            start_ns: None,
            finish_ns: None,
            answered_ns: arrival,
            defaulted: false,
            on_worker: false,
            worker: None,
        };
        let mut outcome = outcome(&completion, 0);
        outcome.cached = true;
        record(&mut self.stats, &completion, &outcome);
        self.observer.outcome(&outcome);
    }

    /// Simulates the next message in kernel order.
    pub fn push(&mut self, message: &Message) -> Result<(), SimError> {
        match self.admit(message) {
            Admission::Muted => return Ok(()),
            Admission::Cached => {
                self.answer_from_cache(message);
                return Ok(());
            }
            Admission::Client => {}
        }
        let arrival = message.arrival_ns;
        let service = self.cost.service_ns(message)?;
        // advanced_to ≤ H unless the admission stage advanced past it.
        let taken = arrival
            .saturating_add(self.config.transport_ns)
            .max(self.handler_free)
            .max(self.advanced_to);
        // An arrival earlier than the one before it (mach_time is not
        // strictly monotone in real recordings) is taken in stream order,
        // as the kernel delivered it; the backlog counts it from the
        // current instant.
        if self.last_arrival.is_none_or(|last| arrival > last) {
            // Every answer before h_i >= a_i is now reported: the backlog at
            // the previous arrival instant is known.
            self.strategy.advance(taken, &mut self.done);
            self.advanced_to = taken;
            self.drain();
            if let Some(previous) = self.last_arrival {
                self.close_instant(previous);
            }
            self.last_arrival = Some(arrival);
        }
        self.count(message);
        let job = Job {
            index: self.next_index,
            global_seq: message.global_seq,
            event: message.event,
            action: message.action,
            arrival_ns: arrival,
            deadline_ns: message.deadline_ns.filter(|_| message.is_auth()),
            service_ns: service,
            taken_ns: taken,
            latest_start_ns: None,
        };
        self.next_index += 1;
        let busy = self
            .strategy
            .take(job, message, &self.context, &mut self.done);
        self.stats.handler_busy = self.stats.handler_busy.saturating_add(busy);
        self.handler_free = taken.saturating_add(busy);
        self.drain();
        Ok(())
    }

    fn count(&mut self, message: &Message) {
        self.stats.messages += 1;
        self.stats.auth += u64::from(message.is_auth());
        let first = self.stats.first_arrival.get_or_insert(message.arrival_ns);
        *first = (*first).min(message.arrival_ns);
        self.stats.backlog.arrive();
    }

    fn close_instant(&mut self, at_ns: u64) {
        let in_flight = self.stats.backlog.close_instant(at_ns);
        self.observer.backlog(at_ns, in_flight);
    }

    /// Folds every reported completion into the statistics.
    #[inline]
    fn drain(&mut self) {
        if self.done.is_empty() {
            return;
        }
        self.reported += self.done.len() as u64;
        for completion in &self.done {
            let outcome = outcome(completion, self.config.response_latency_ns);
            record(&mut self.stats, completion, &outcome);
            self.observer.outcome(&outcome);
            if let Some(kernel) = self.kernel.as_mut() {
                // The kernel answers a late message itself under
                // fail-open/closed: then the client's answer is not used.
                let kernel_answered = outcome.missed && self.config.miss_mode != MissMode::Kill;
                let by_client = !outcome.defaulted && !kernel_answered;
                kernel.answered(outcome.index, outcome.response_ns, by_client);
            }
        }
        self.done.clear();
    }

    /// Misses among the messages answered so far.
    pub fn misses(&self) -> u64 {
        self.stats.misses
    }

    /// Runs the strategy to the end and returns the result.
    pub fn finish(mut self) -> SimResult {
        self.strategy.finish(&mut self.done);
        self.drain();
        debug_assert_eq!(
            self.reported, self.next_index,
            "every message is reported exactly once"
        );
        if let Some(last) = self.last_arrival {
            self.close_instant(last);
        }
        self.stats.end = self.stats.end.max(self.handler_free);
        let kill = self.config.miss_mode == MissMode::Kill;
        let mut result = self
            .stats
            .result(self.strategy.name(), self.strategy.workers(), kill);
        if let Some(counts) = self.kernel_counts() {
            result.cached = Some(counts.cached);
            result.muted = Some(counts.muted);
        }
        result
    }
}

fn outcome(completion: &Completion, response_latency_ns: u64) -> Outcome {
    let job = &completion.job;
    let response = completion.answered_ns.saturating_add(response_latency_ns);
    let missed = job.action == Action::Auth && job.deadline_ns.is_some_and(|d| response > d);
    Outcome {
        index: job.index,
        global_seq: job.global_seq,
        event: job.event,
        action: job.action,
        arrival_ns: job.arrival_ns,
        deadline_ns: job.deadline_ns,
        service_ns: job.service_ns,
        handler_ns: job.taken_ns,
        start_ns: completion.start_ns,
        finish_ns: completion.finish_ns,
        response_ns: response,
        defaulted: completion.defaulted,
        missed,
        worker: completion.worker,
        cached: false,
    }
}

#[inline]
fn record(stats: &mut Stats, completion: &Completion, outcome: &Outcome) {
    let response = outcome.response_ns;
    stats.backlog.respond(response);
    stats.end = stats.end.max(response).max(outcome.finish_ns.unwrap_or(0));
    stats.defaulted += u64::from(outcome.defaulted);
    if let (true, Some(start), Some(finish)) =
        (completion.on_worker, outcome.start_ns, outcome.finish_ns)
    {
        stats.worker_busy = stats
            .worker_busy
            .saturating_add(finish.saturating_sub(start));
    }
    if outcome.action != Action::Auth {
        return;
    }
    // Saturating: a user strategy could answer before the arrival.
    stats
        .latency
        .record(response.saturating_sub(outcome.arrival_ns));
    if let Some(deadline) = outcome.deadline_ns {
        stats.slack(slack(deadline, response));
        if outcome.missed {
            stats.miss(FirstMiss {
                global_seq: outcome.global_seq,
                arrival_ns: outcome.arrival_ns,
                deadline_ns: deadline,
                response_ns: response,
            });
        }
    }
}

/// Simulates `messages` through `strategy` (a fresh one) and returns the
/// result.
pub fn simulate<S: Strategy + ?Sized>(
    messages: impl IntoIterator<Item = Message>,
    strategy: &mut S,
    cost: &CostModel,
    config: &SimConfig,
) -> Result<SimResult, SimError> {
    simulate_observed(
        messages.into_iter().map(Ok::<_, std::convert::Infallible>),
        strategy,
        cost,
        config,
        (),
    )
}

/// Like [`simulate`], over a fallible source (such as a trace reader),
/// reporting every message's [`Outcome`] to `observer`.
pub fn simulate_observed<S, O, E>(
    messages: impl IntoIterator<Item = Result<Message, E>>,
    strategy: &mut S,
    cost: &CostModel,
    config: &SimConfig,
    observer: O,
) -> Result<SimResult, SimError>
where
    S: Strategy + ?Sized,
    O: Observer,
    E: Error + Send + Sync + 'static,
{
    let mut simulator = Simulator::new(strategy, cost, *config, observer);
    for message in messages {
        simulator.push(&message.map_err(|e| SimError::Input(Box::new(e)))?)?;
    }
    Ok(simulator.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::StrategySpec;

    /// Records what an observer is told.
    #[derive(Default)]
    struct Seen {
        outcomes: Vec<Outcome>,
        backlog: Vec<(u64, u64)>,
    }

    impl Observer for Seen {
        fn outcome(&mut self, outcome: &Outcome) {
            self.outcomes.push(*outcome);
        }
        fn backlog(&mut self, at_ns: u64, in_flight: u64) {
            self.backlog.push((at_ns, in_flight));
        }
    }

    fn run(spec: &str, arrivals: &[u64]) -> (SimResult, Seen) {
        let messages = arrivals.iter().enumerate().map(|(i, &arrival)| {
            let mut m = Message::new(i as u64, EventType::AUTH_OPEN, Action::Auth, arrival);
            m.deadline_ns = Some(arrival + 25);
            Ok::<_, std::convert::Infallible>(m)
        });
        let mut strategy = spec.parse::<StrategySpec>().unwrap().build();
        let cost = CostModel::constant(10);
        let mut seen = Seen::default();
        let config = SimConfig::default();
        let result = simulate_observed(messages, &mut strategy, &cost, &config, &mut seen);
        (result.unwrap(), seen)
    }

    impl Observer for &mut Seen {
        fn outcome(&mut self, outcome: &Outcome) {
            (**self).outcome(outcome)
        }
        fn backlog(&mut self, at_ns: u64, in_flight: u64) {
            (**self).backlog(at_ns, in_flight)
        }
    }

    #[test]
    fn the_backlog_is_reported_once_per_arrival_instant_and_peaks_at_the_max() {
        // inline, service 10: answers at 10, 20, 30, 40; arrivals 0,0,0,15,40.
        let (result, seen) = run("inline", &[0, 0, 0, 15, 40]);
        assert_eq!(seen.backlog, vec![(0, 3), (15, 3), (40, 1)]);
        let peak = seen.backlog.iter().map(|&(_, n)| n).max();
        assert_eq!(peak, Some(result.max_backlog));
        let slacks: Vec<Option<i64>> = seen.outcomes.iter().map(Outcome::slack_ns).collect();
        assert_eq!(slacks, vec![Some(15), Some(5), Some(-5), Some(0), Some(15)]);
        assert_eq!(seen.outcomes[2].latency_ns(), 30);
    }

    #[test]
    fn outcomes_name_the_worker_for_pools_only() {
        let (_, inline) = run("inline", &[0, 0]);
        assert!(inline.outcomes.iter().all(|o| o.worker.is_none()));
        for spec in ["pool:2", "edf:2"] {
            let (_, pool) = run(spec, &[0, 0, 0]);
            let mut workers: Vec<Option<u32>> = pool.outcomes.iter().map(|o| o.worker).collect();
            workers.sort();
            assert_eq!(workers, vec![Some(0), Some(0), Some(1)], "{spec}");
        }
    }

    use crate::strategy::Inline;

    fn auth(global_seq: u64, arrival_ns: u64, deadline_ns: u64) -> Message {
        let mut message = Message::new(global_seq, EventType::AUTH_OPEN, Action::Auth, arrival_ns);
        message.deadline_ns = Some(deadline_ns);
        message
    }

    fn outcomes(spec: &str, messages: &[Message], cost: &CostModel) -> (SimResult, Vec<Outcome>) {
        let mut strategy = spec.parse::<StrategySpec>().unwrap().build();
        let mut seen = Vec::new();
        let source = messages
            .iter()
            .cloned()
            .map(Ok::<_, std::convert::Infallible>);
        let result = simulate_observed(
            source,
            &mut strategy,
            cost,
            &SimConfig::default(),
            |o: &Outcome| seen.push(*o),
        )
        .unwrap();
        (result, seen)
    }

    #[test]
    fn out_of_order_arrivals_are_taken_in_stream_order() {
        let messages = [auth(0, 100, 1000), auth(1, 50, 1000), auth(2, 120, 1000)];
        let (result, seen) = outcomes("inline", &messages, &CostModel::constant(10));
        let taken: Vec<u64> = seen.iter().map(|o| o.handler_ns).collect();
        assert_eq!(taken, vec![100, 110, 120]);
        assert_eq!(seen[1].response_ns - seen[1].arrival_ns, 70);
        assert_eq!(result.messages, 3);
    }

    #[test]
    fn notify_deadlines_are_ignored_and_utilisation_is_busy_over_span() {
        let mut notify = Message::new(1, EventType::NOTIFY_EXIT, Action::Notify, 0);
        notify.deadline_ns = Some(1);
        let messages = [auth(0, 0, 100), notify, auth(2, 60, 100)];
        let (result, _) = outcomes("pool:2", &messages, &CostModel::constant(20));
        assert_eq!((result.auth, result.notify, result.misses), (2, 1, 0));
        // Span 0..80, 60 ns of work on 2 workers.
        assert_eq!(result.worker_utilization, Some(60.0 / 160.0));
        assert_eq!(result.handler_utilization, Some(0.0));
    }

    #[test]
    fn a_cost_error_names_the_message_and_an_empty_stream_has_no_values() {
        let mut strategy = Inline;
        let error = simulate(
            [auth(7, 0, 1)],
            &mut strategy,
            &CostModel::trace(),
            &SimConfig::default(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("global_seq 7"), "{error}");
        let empty = simulate(
            [],
            &mut strategy,
            &CostModel::trace(),
            &SimConfig::default(),
        )
        .unwrap();
        assert_eq!(
            (empty.messages, empty.latency_ns, empty.handler_utilization),
            (0, None, None)
        );
    }
}
