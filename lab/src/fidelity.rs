//! Predicted versus observed for one lab run: the observed records become a
//! [`SimResult`] through the simulator's own bookkeeping ([`tally`] of
//! each message answered when its real `open` returned), and
//! the prediction replays the same real arrival times through the
//! strategy, cost model and seed that the lab ran, with the measured
//! fanotify costs as τ and ρ. Both are then printed with the simulator's
//! result table, so every number means the same on both sides.

use std::sync::Arc;

use crate::{Answerer, Costs, Record, Sample};
use esreplay_simulator::engine::cpu::{Background, BackgroundTrack, CpuConfig, MILLI};
use esreplay_simulator::engine::tally;
use esreplay_simulator::{
    CostModel, MissMode, Outcome, ReplayMode, SimConfig, SimError, SimResult, StrategySpec,
    results_table, simulate,
};
use esreplay_traces::{Action, Message, format_ns};
use serde::Serialize;

/// One observed answer, in the order the messages are replayed.
#[derive(Clone, Copy, Debug)]
struct Answer {
    /// The client saw it (else a full kernel queue dropped it).
    seen: bool,
    start_ns: Option<u64>,
    finish_ns: Option<u64>,
    return_ns: u64,
    answered_by: Option<Answerer>,
    ran_on: Option<Answerer>,
}

/// The outcome of a message answered when its real `open` returned, or
/// dropped if the client never saw it.
fn observed_outcome(index: usize, message: &Message, answer: &Answer) -> Outcome {
    let dropped = !answer.seen;
    let worker = match answer.ran_on {
        Some(Answerer::Worker(k)) => Some(k),
        _ => None,
    };
    let handler = matches!(answer.ran_on, Some(Answerer::Handler));
    let on_some_thread = handler || worker.is_some();
    let deadline_ns = message.deadline_ns.filter(|_| message.is_auth());
    Outcome {
        index: index as u64,
        global_seq: message.global_seq,
        event: message.event,
        action: message.action,
        arrival_ns: message.arrival_ns,
        recorded_arrival_ns: message.arrival_ns,
        deadline_ns,
        service_ns: 0,
        handler_ns: message.arrival_ns,
        start_ns: answer.start_ns.filter(|_| on_some_thread),
        finish_ns: answer.finish_ns.filter(|_| on_some_thread),
        response_ns: answer.return_ns,
        unblocked_ns: answer.return_ns,
        defaulted: answer.answered_by == Some(Answerer::Guard),
        missed: !dropped
            && message.action == Action::Auth
            && deadline_ns.is_some_and(|d| answer.return_ns > d),
        worker,
        dropped,
        cached: false,
    }
}

/// The lab's real arrivals as messages (kernel order: by call time), and
/// what was observed for each, on a clock that starts at the first call.
/// `schedule[i]` is the message whose open had index i.
pub struct Observed {
    messages: Vec<Message>,
    answers: Vec<Answer>,
    origin_ns: u64,
}

impl Observed {
    /// The observation of one run: `records` in open order, `schedule[i]`
    /// the message whose open had index i. Opens the client never saw
    /// (a full kernel queue let them through) count as dropped, as the
    /// simulator counts them.
    pub fn new(records: &[Record], schedule: &[Message]) -> Observed {
        let origin = records.iter().map(|r| r.call_ns).min().unwrap_or(0);
        let at = |ns: u64| ns.saturating_sub(origin);
        let mut order: Vec<&Record> = records.iter().collect();
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
                seen: r.served.is_some(),
                start_ns: r.served.and_then(|s| s.start_ns).map(at),
                finish_ns: r.served.and_then(|s| s.finish_ns).map(at),
                return_ns: at(r.return_ns),
                answered_by: r.served.map(|s| s.answered_by),
                ran_on: r.served.and_then(|s| s.ran_on),
            })
            .collect();
        Observed {
            messages,
            answers,
            origin_ns: origin,
        }
    }

    /// The experiment clock's time of this observation's zero (the first
    /// call).
    pub fn origin_ns(&self) -> u64 {
        self.origin_ns
    }

    /// What the kernel made of the real client: latency = return − call.
    /// Opens the client never saw are dropped (allowed by the kernel), out
    /// of latency, backlog and misses as in the simulator; `stall_ns` is
    /// the real Σ return − call over every open.
    pub fn result(&self, label: &str, workers: u32) -> SimResult {
        let outcomes = self
            .messages
            .iter()
            .zip(&self.answers)
            .enumerate()
            .map(|(index, (message, answer))| observed_outcome(index, message, answer));
        let (dropped, seen): (Vec<Outcome>, Vec<Outcome>) = outcomes.partition(|o| o.dropped);
        let stall: u64 = self
            .messages
            .iter()
            .zip(&self.answers)
            .map(|(m, a)| a.return_ns.saturating_sub(m.arrival_ns))
            .sum();
        let mut result = tally(seen, label.to_owned(), workers, MissMode::Kill);
        let drops = dropped.len() as u64;
        result.messages += drops;
        result.auth += drops;
        result.dropped = Some(drops);
        result.dropped_allowed = Some(drops);
        result.dropped_denied = Some(0);
        result.stall_ns = Some(stall);
        result
    }

    /// The simulator's prediction on the same arrivals (open replay: the
    /// real call times already hold whatever throttling happened).
    pub fn predict(
        &self,
        spec: &StrategySpec,
        cost: &CostModel,
        config: &SimConfig,
    ) -> Result<SimResult, SimError> {
        let config = SimConfig {
            replay: ReplayMode::Open,
            ..config.clone()
        };
        simulate(
            self.messages.iter().cloned(),
            &mut spec.build(),
            cost,
            &config,
        )
    }
}

/// The simulator on the schedule's own arrivals (`schedule`, deadlines
/// set), with `config`'s replay: what the simulator says of the trace
/// alone, closed loop or open.
pub fn predict_schedule(
    schedule: &[Message],
    spec: &StrategySpec,
    cost: &CostModel,
    config: &SimConfig,
) -> Result<SimResult, SimError> {
    simulate(schedule.iter().cloned(), &mut spec.build(), cost, config)
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
    /// Runs with a CPU model on more than one core: `predicted` with fluid
    /// sharing instead of per core (`--cpu-sharing fluid`).
    pub predicted_fluid: Option<SimResult>,
}

/// The calibrated model from a run's own costs: τ, ρ (given, else
/// measured, else 0); the reading thread's measured time per message as
/// the handler overhead (inline) or the hand-off c_h (pools); the
/// workers' per job as the worker overhead (pools).
pub fn transport(costs: &Costs, given: (Option<u64>, Option<u64>), workers: u32) -> SimConfig {
    let pool = workers > 0;
    SimConfig {
        transport_ns: given.0.or(costs.delivery_ns).unwrap_or(0),
        response_latency_ns: given.1.or(costs.response_ns).unwrap_or(0),
        handoff_ns: costs.handler_ns.filter(|_| pool).unwrap_or(0),
        handler_overhead_ns: costs.handler_ns.filter(|_| !pool).unwrap_or(0),
        worker_overhead_ns: costs.worker_ns.filter(|_| pool).unwrap_or(0),
        ..SimConfig::default()
    }
}

/// The model's CPU: `cores` and the sampled background track (times on
/// the experiment clock, shifted so that `origin_ns` is the prediction's
/// zero); `None` without samples.
pub fn cpu_config(cores: usize, track: &[Sample], origin_ns: u64) -> Option<CpuConfig> {
    if track.is_empty() {
        return None;
    }
    let samples = track
        .iter()
        .map(|s| (s.at_ns.saturating_sub(origin_ns), s.background));
    Some(CpuConfig {
        cores_milli: Some(cores as u64 * MILLI),
        background: Background::Track(Arc::new(BackgroundTrack::new(samples))),
        ..CpuConfig::default()
    })
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
                (&f.predicted_fluid, "predicted fluid"),
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
    line.push_str(&format!("; cores: {}", c.cores));
    if let Some(cpus) = &c.cpus {
        line.push_str(&format!(" (pinned to CPUs {cpus:?})"));
    }
    line.push_str(&format!("; hogs: {}", c.hogs));
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
    use esreplay_traces::EventType;

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
        assert_eq!((config.handoff_ns, config.handler_overhead_ns), (0, 2));
        let pool = transport(&costs, (None, None), 2);
        assert_eq!((pool.handoff_ns, pool.handler_overhead_ns), (2, 0));
        let cost = CostModel::constant(40);
        let inline = observed.predict(&StrategySpec::Inline, &cost, &config);
        // Handler takes at 5 and 47; answers at 45 + 3 and 87 + 3.
        assert_eq!(inline.unwrap().latency_ns.unwrap().max, 90 - 10);
    }

    #[test]
    fn an_open_the_client_never_saw_is_dropped_not_answered() {
        let mut unseen = record(1, 10, 12, 1_000);
        unseen.served = None;
        let records = [record(0, 0, 500, 100), unseen];
        let observed = Observed::new(&records, &schedule(2));
        let result = observed.result("inline", 0);
        assert_eq!((result.messages, result.dropped), (2, Some(1)));
        assert_eq!(result.misses, 1);
        assert_eq!(result.latency_ns.unwrap().max, 500); // the drop is not a latency
        assert_eq!(result.stall_ns, Some(500 + 2));
        assert_eq!(dropped(&records), 1);
    }

    #[test]
    fn the_cpu_track_starts_at_the_predictions_zero() {
        assert!(cpu_config(2, &[], 0).is_none());
        let track = [
            Sample {
                at_ns: 100,
                background: 1.5,
            },
            Sample {
                at_ns: 300,
                background: 0.0,
            },
        ];
        let cpu = cpu_config(2, &track, 200).unwrap();
        assert_eq!(cpu.cores_milli, Some(2_000));
        let Background::Track(track) = cpu.background else {
            panic!("not a track");
        };
        assert_eq!(*track, BackgroundTrack::new([(0, 1.5), (100, 0.0)]));
    }
}
