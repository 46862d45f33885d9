//! Predicted versus observed for one lab run: the observed records become a
//! [`SimResult`] through the simulator's own bookkeeping (a [`Replayed`]
//! strategy that answers each message when its real `open` returned), and
//! the prediction replays the same real arrival times through the
//! strategy, cost model and seed that the lab ran, with the measured
//! fanotify costs as τ and ρ. Both are then printed with the simulator's
//! result table, so every number means the same on both sides.

use crate::{Answerer, Costs, Plan, Record};
use esreplay_simulator::strategy::{Completion, Context, Job, Margin, Strategy};
use esreplay_simulator::{
    CostModel, SimConfig, SimError, SimResult, StrategySpec, results_table, simulate,
};
use esreplay_traces::{Action, EventType, Message, format_ns};
use serde::Serialize;

/// The lab's real-thread twin of a strategy (guards keep the simulator's
/// margin rule: g_i = max(d_i − M_i, h_i)).
pub fn plan_of(spec: &StrategySpec) -> Plan {
    match spec {
        StrategySpec::Inline => Plan::Inline,
        StrategySpec::Pool(n) => Plan::Fifo(*n as usize),
        StrategySpec::Edf(n) => Plan::Edf(*n as usize),
        StrategySpec::Guard { margin, inner } => {
            let margin: Margin = *margin;
            Plan::Guard {
                guard_at: std::sync::Arc::new(move |deadline, taken| {
                    margin
                        .guard_time(&guard_job(deadline, taken))
                        .unwrap_or(taken)
                }),
                inner: Box::new(plan_of(inner)),
            }
        }
    }
}

/// The fields of a job a guard margin looks at.
fn guard_job(deadline_ns: u64, taken_ns: u64) -> Job {
    Job {
        index: 0,
        global_seq: 0,
        event: EventType::AUTH_OPEN,
        action: Action::Auth,
        arrival_ns: 0,
        deadline_ns: Some(deadline_ns),
        service_ns: 0,
        taken_ns,
        latest_start_ns: None,
    }
}

/// One observed answer, in the order the messages are replayed.
#[derive(Clone, Copy, Debug)]
struct Answer {
    start_ns: Option<u64>,
    finish_ns: Option<u64>,
    return_ns: u64,
    answered_by: Option<Answerer>,
    ran_on: Option<Answerer>,
}

/// A "strategy" that answers each message when its real `open` returned.
struct Replayed {
    label: String,
    workers: u32,
    answers: Vec<Answer>,
}

impl Strategy for Replayed {
    fn name(&self) -> String {
        self.label.clone()
    }
    fn workers(&self) -> u32 {
        self.workers
    }
    fn take(&mut self, job: Job, _: &Message, _: &Context, done: &mut Vec<Completion>) -> u64 {
        let answer = self.answers[job.index as usize];
        let worker = match answer.ran_on {
            Some(Answerer::Worker(k)) => Some(k),
            _ => None,
        };
        done.push(Completion {
            job,
            start_ns: answer.start_ns,
            finish_ns: answer.finish_ns,
            answered_ns: answer.return_ns,
            defaulted: answer.answered_by == Some(Answerer::Guard),
            on_worker: worker.is_some(),
            worker,
        });
        // Answered when its open returned, which is never before it was
        // called: reporting now keeps the engine's backlog contract.
        match (answer.ran_on, answer.start_ns, answer.finish_ns) {
            (Some(Answerer::Handler), Some(start), Some(finish)) => finish - start,
            _ => 0,
        }
    }
    fn advance(&mut self, _: u64, _: &mut Vec<Completion>) {}
    fn finish(&mut self, _: &mut Vec<Completion>) {}
}

/// A strategy whose handler spends `handler_ns` more on each message,
/// after the strategy's own handler time (inline: after the answer, as the
/// real client answers, then reads and resolves the next event), and whose
/// workers spend `worker_ns` more on each job (added to its service time:
/// the answer comes that much late, and the queue sees the real pace).
struct WithOverhead {
    inner: Box<dyn Strategy>,
    handler_ns: u64,
    worker_ns: u64,
}

impl Strategy for WithOverhead {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn workers(&self) -> u32 {
        self.inner.workers()
    }
    fn take(&mut self, mut job: Job, m: &Message, c: &Context, done: &mut Vec<Completion>) -> u64 {
        job.service_ns = job.service_ns.saturating_add(self.worker_ns);
        let busy = self.inner.take(job, m, c, done);
        busy.saturating_add(self.handler_ns)
    }
    fn advance(&mut self, until: u64, done: &mut Vec<Completion>) {
        self.inner.advance(until, done)
    }
    fn finish(&mut self, done: &mut Vec<Completion>) {
        self.inner.finish(done)
    }
}

/// The lab's real arrivals as messages (kernel order: by call time), and
/// what was observed for each, on a clock that starts at the first call.
/// `schedule[i]` is the message whose open had index i.
pub struct Observed {
    messages: Vec<Message>,
    answers: Vec<Answer>,
}

impl Observed {
    /// The observation of one run: `records` in open order, `schedule[i]`
    /// the message whose open had index i. Opens the client never saw
    /// (dropped by a full kernel queue) are left out: count them with
    /// [`dropped`].
    pub fn new(records: &[Record], schedule: &[Message]) -> Observed {
        let origin = records.iter().map(|r| r.call_ns).min().unwrap_or(0);
        let at = |ns: u64| ns.saturating_sub(origin);
        let mut order: Vec<&Record> = records.iter().filter(|r| r.served.is_some()).collect();
        order.sort_by_key(|r| (r.call_ns, r.index));
        let messages = order
            .iter()
            .map(|r| {
                let mut message = schedule[r.index].clone();
                message.arrival_ns = at(r.call_ns);
                message.deadline_ns = r.deadline_ns.map(at);
                message
            })
            .collect();
        let answers = order
            .iter()
            .map(|r| Answer {
                start_ns: r.served.and_then(|s| s.start_ns).map(at),
                finish_ns: r.served.and_then(|s| s.finish_ns).map(at),
                return_ns: at(r.return_ns),
                answered_by: r.served.map(|s| s.answered_by),
                ran_on: r.served.and_then(|s| s.ran_on),
            })
            .collect();
        Observed { messages, answers }
    }

    /// What the kernel made of the real client: latency = return − call.
    pub fn result(&self, label: &str, workers: u32) -> SimResult {
        let mut replayed = Replayed {
            label: label.to_owned(),
            workers,
            answers: self.answers.clone(),
        };
        let config = SimConfig::default();
        let cost = CostModel::constant(0);
        simulate(self.messages.iter().cloned(), &mut replayed, &cost, &config)
            .expect("a constant cost never fails")
    }

    /// The simulator's prediction on the same arrivals, with the client's
    /// own overheads: the handler's per message for inline strategies
    /// (pools get theirs as the hand-off c_h in `config`), the workers'
    /// per job for pools.
    pub fn predict(
        &self,
        spec: &StrategySpec,
        cost: &CostModel,
        config: &SimConfig,
        costs: &Costs,
    ) -> Result<SimResult, SimError> {
        predict_on(&self.messages, spec, cost, config, costs)
    }

    /// As [`predict`](Self::predict), on the schedule's own arrivals
    /// (`schedule`, with deadlines) instead of the real call times: what
    /// the simulator says of the trace alone.
    pub fn predict_schedule(
        &self,
        schedule: &[Message],
        spec: &StrategySpec,
        cost: &CostModel,
        config: &SimConfig,
        costs: &Costs,
    ) -> Result<SimResult, SimError> {
        predict_on(schedule, spec, cost, config, costs)
    }
}

/// The simulator on `messages`, with the client's own overheads.
fn predict_on(
    messages: &[Message],
    spec: &StrategySpec,
    cost: &CostModel,
    config: &SimConfig,
    costs: &Costs,
) -> Result<SimResult, SimError> {
    let inner = spec.build();
    let inline = inner.workers() == 0;
    let mut strategy = WithOverhead {
        inner,
        handler_ns: costs.handler_ns.filter(|_| inline).unwrap_or(0),
        worker_ns: costs.worker_ns.filter(|_| !inline).unwrap_or(0),
    };
    simulate(messages.iter().cloned(), &mut strategy, cost, config)
}

/// Opens the client never saw: the kernel's queue was full when they
/// came, and it allowed them at once.
pub fn dropped(records: &[Record]) -> usize {
    records.iter().filter(|r| r.served.is_none()).count()
}

/// The run's conditions, as `--json` prints them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Conditions {
    /// `open` or `closed`.
    pub replay: String,
    /// Distinct schedule threads (closed loop), else 0.
    pub threads: usize,
    /// fanotify's queue limit for the run's group, if lowered.
    pub kernel_queue: Option<u32>,
    /// CPU hogs running.
    pub hogs: usize,
    /// CPUs the lab was pinned to (`None`: not pinned).
    pub cpus: Option<Vec<usize>>,
    /// Cores the CPU model used (pinned CPUs, else online CPUs).
    pub cores: usize,
    /// Mean of the sampled background track (other runnable threads
    /// competing for the lab's CPUs), if sampled.
    pub background_mean: Option<f64>,
    /// Samples in the track.
    pub background_samples: usize,
}

/// One strategy's comparison, as `--json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct Fidelity {
    /// The strategy, as `--strategy` names it.
    pub strategy: String,
    /// τ used in `predicted` (measured unless given).
    pub transport_ns: u64,
    /// ρ used in `predicted`.
    pub response_latency_ns: u64,
    /// Idle reads behind the measured τ.
    pub delivery_samples: usize,
    /// The reading thread's time per message beyond the work: added to
    /// the handler's busy time (inline) or as the hand-off c_h (pools).
    pub handler_overhead_ns: u64,
    /// A worker's time per job beyond the work (pools): added to s_i.
    pub worker_overhead_ns: u64,
    /// How late the load generator called `open`, at worst.
    pub max_lateness_ns: u64,
    /// How the run was made.
    pub conditions: Conditions,
    /// Opens the client never saw (a full kernel queue allowed them).
    pub dropped_observed: usize,
    /// `FAN_Q_OVERFLOW` records the client read.
    pub overflow_records: usize,
    /// Drops `predicted` counts (with `--kernel-queue`), where the
    /// simulator has them.
    pub predicted_dropped: Option<u64>,
    /// What the real run did, through the simulator's bookkeeping (opens
    /// the client saw).
    pub observed: SimResult,
    /// With τ, ρ, the overheads, and the run's replay, kernel queue and
    /// CPU (cores, background) where the simulator has them.
    pub predicted: SimResult,
    /// With none of the costs.
    pub predicted_bare: SimResult,
    /// Closed runs: `predicted`, but replaying the schedule open loop.
    pub predicted_open: Option<SimResult>,
    /// Runs with a CPU model: `predicted` without it.
    pub predicted_no_cpu: Option<SimResult>,
}

/// τ, ρ (given, else measured, else 0) and, for pools, the measured
/// handler overhead as c_h.
pub fn transport(costs: &Costs, given: (Option<u64>, Option<u64>), workers: u32) -> SimConfig {
    SimConfig {
        transport_ns: given.0.or(costs.delivery_ns).unwrap_or(0),
        response_latency_ns: given.1.or(costs.response_ns).unwrap_or(0),
        handoff_ns: costs.handler_ns.filter(|_| workers > 0).unwrap_or(0),
        ..SimConfig::default()
    }
}

/// Lateness of the load generator worth a note.
const LATE_NS: u64 = 20_000_000;

/// predicted p99 / observed p99 − 1, in percent.
fn p99_error(f: &Fidelity) -> Option<f64> {
    let observed = f.observed.latency_ns?.p99 as f64;
    let predicted = f.predicted.latency_ns?.p99 as f64;
    (observed > 0.0).then(|| (predicted / observed - 1.0) * 100.0)
}

/// The table for people: three rows a strategy, then one line each.
pub fn table(runs: &[Fidelity]) -> String {
    let rows: Vec<SimResult> = runs
        .iter()
        .flat_map(|f| {
            let label = |result: &SimResult, what: &str| SimResult {
                strategy: format!("{} {what}", f.strategy),
                ..result.clone()
            };
            let extra = [
                (&f.predicted_open, "predicted open"),
                (&f.predicted_no_cpu, "predicted no-cpu"),
            ];
            [
                label(&f.observed, "observed"),
                label(&f.predicted, "predicted"),
                label(&f.predicted_bare, "predicted bare"),
            ]
            .into_iter()
            .chain(
                extra
                    .into_iter()
                    .filter_map(|(r, what)| r.as_ref().map(|r| label(r, what))),
            )
            .collect::<Vec<_>>()
        })
        .collect();
    let mut out = results_table(&rows);
    for f in runs {
        if f.max_lateness_ns > LATE_NS {
            out.push_str(&format!(
                "{}: note: the load generator called open up to {} late (all openers stalled, or CPU starved): the prediction uses the real call times, but the load was lighter than the schedule\n",
                f.strategy,
                format_ns(f.max_lateness_ns)
            ));
        }
        let error = p99_error(f).map_or("-".into(), |e| format!("{e:+.1} %"));
        out.push_str(&format!(
            "{}: p99 predicted vs observed {error}; misses {} predicted, {} observed; τ = {} ({} idle reads), ρ = {}, overhead per message {} (handler), {} (worker)\n",
            f.strategy,
            f.predicted.misses,
            f.observed.misses,
            format_ns(f.transport_ns),
            f.delivery_samples,
            format_ns(f.response_latency_ns),
            format_ns(f.handler_overhead_ns),
            format_ns(f.worker_overhead_ns),
        ));
        out.push_str(&conditions_line(f));
    }
    out
}

/// The run's replay, queue and CPU, in one line.
fn conditions_line(f: &Fidelity) -> String {
    let c = &f.conditions;
    let mut line = format!("{}: {} loop", f.strategy, c.replay);
    if c.threads > 0 {
        line.push_str(&format!(" ({} threads)", c.threads));
    }
    if let Some(limit) = c.kernel_queue {
        line.push_str(&format!(
            "; kernel queue {limit}: {} opens dropped (unseen by the client), {} overflow records",
            f.dropped_observed, f.overflow_records
        ));
    }
    line.push_str(&format!("; {} cores", c.cores));
    if let Some(cpus) = &c.cpus {
        line.push_str(&format!(" (pinned to CPUs {cpus:?})"));
    }
    line.push_str(&format!(", {} hogs", c.hogs));
    if let Some(mean) = c.background_mean {
        line.push_str(&format!(
            ", background {mean:.2} runnable threads (mean of {} samples)",
            c.background_samples
        ));
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Served;

    fn record(index: usize, call_ns: u64, return_ns: u64, deadline_ns: u64) -> Record {
        Record {
            index,
            due_ns: call_ns,
            call_ns,
            return_ns,
            deadline_ns: Some(deadline_ns),
            served: Some(Served {
                read_ns: call_ns + 1,
                idle_read: true,
                taken_ns: call_ns + 1,
                start_ns: Some(call_ns + 2),
                finish_ns: Some(return_ns - 1),
                answer_ns: return_ns - 1,
                answered_by: Answerer::Worker(index as u32 % 2),
                ran_on: Some(Answerer::Worker(index as u32 % 2)),
            }),
        }
    }

    fn schedule(n: u64) -> Vec<Message> {
        (0..n)
            .map(|g| Message::new(100 + g, EventType::AUTH_OPEN, Action::Auth, g))
            .collect()
    }

    #[test]
    fn the_observed_result_is_the_real_stalls_in_call_order() {
        // Open 1 was called first; open 0 returned after its deadline.
        let records = [
            record(0, 1_050, 1_300, 1_250),
            record(1, 1_000, 1_100, 2_000),
        ];
        let observed = Observed::new(&records, &schedule(2));
        assert_eq!(observed.messages[0].global_seq, 101);
        assert_eq!(observed.messages[0].arrival_ns, 0);
        let result = observed.result("pool:2", 2);
        assert_eq!((result.messages, result.misses), (2, 1));
        assert_eq!(result.latency_ns.unwrap().max, 250);
        assert_eq!(result.max_backlog, 2);
        assert_eq!(result.first_miss.unwrap().deadline_ns, 250);
        assert!(result.worker_utilization.unwrap() > 0.0);
    }

    #[test]
    fn the_prediction_replays_the_real_arrivals_with_tau_and_rho() {
        let records = [record(0, 0, 50, 1_000), record(1, 10, 60, 1_000)];
        let observed = Observed::new(&records, &schedule(2));
        let costs = Costs {
            delivery_ns: Some(5),
            response_ns: Some(7),
            handler_ns: Some(2),
            ..Costs::default()
        };
        let config = transport(&costs, (None, Some(3)), 0);
        assert_eq!((config.transport_ns, config.response_latency_ns), (5, 3));
        assert_eq!(config.handoff_ns, 0);
        assert_eq!(transport(&costs, (None, None), 2).handoff_ns, 2);
        let cost = CostModel::constant(40);
        let inline = observed.predict(&StrategySpec::Inline, &cost, &config, &costs);
        // Handler takes at 5 and 47; answers at 45 + 3 and 87 + 3.
        assert_eq!(inline.unwrap().latency_ns.unwrap().max, 90 - 10);
    }

    #[test]
    fn guards_keep_the_simulators_margin_rule() {
        let spec: StrategySpec = "guard:20%:1ms:5ms:pool:3".parse().unwrap();
        let Plan::Guard { guard_at, inner } = plan_of(&spec) else {
            panic!("not a guard");
        };
        assert!(matches!(*inner, Plan::Fifo(3)));
        // 100 ms left: 20 % is 20 ms, clamped to 5 ms.
        assert_eq!(guard_at(100_000_000, 0), 95_000_000);
        // Past the deadline already: the guard fires at once.
        assert_eq!(guard_at(10, 20), 20);
        assert!(matches!(plan_of(&StrategySpec::Edf(2)), Plan::Edf(2)));
    }
}
