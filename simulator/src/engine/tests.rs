//! The engine's unit tests: observers, tie rules, the kernel queue, the
//! closed loop, the CPU.

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

fn config_with(edit: impl FnOnce(&mut SimConfig)) -> SimConfig {
    let mut config = SimConfig::default();
    edit(&mut config);
    config
}

fn run_config(spec: &str, messages: &[Message], config: &SimConfig) -> (SimResult, Vec<Outcome>) {
    let mut strategy = spec.parse::<StrategySpec>().unwrap().build();
    let mut seen = Vec::new();
    let source = messages
        .iter()
        .cloned()
        .map(Ok::<_, std::convert::Infallible>);
    let cost = CostModel::constant(10);
    let result = simulate_observed(source, &mut strategy, &cost, config, |o: &Outcome| {
        seen.push(*o)
    })
    .unwrap();
    seen.sort_by_key(|o| o.index);
    (result, seen)
}

#[test]
fn a_dispatch_timer_fires_late_by_gcds_leeway() {
    // Inline, 10 ns of work each: the second waits until 10, g = 100 − 95
    // = 5 → max(5, h = 10) = 10: exact answers at 10; dispatch adds 1 ms.
    let messages = [auth(0, 0, 100), auth(1, 0, 100)];
    let exact = config_with(|_| {});
    let (_, outcomes) = run_config("guard:95ns:inline", &messages, &exact);
    assert_eq!(
        outcomes[1].response_ns, 10,
        "g = h: the guard answers at once"
    );
    let late = config_with(|c| c.guard_timer = GuardTimer::Dispatch);
    let (_, outcomes) = run_config("guard:95ns:inline", &messages, &late);
    assert_eq!(outcomes[1].response_ns, 20, "the work wins the race now");
    assert!(!outcomes[1].defaulted);
    // A pool job that cannot start by g is dropped when the timer fires.
    let far = [auth(0, 0, 10_000_000_000), auth(1, 0, 3_000_000_000)];
    let (_, outcomes) = run_config("guard:1s:pool:1", &far, &late);
    assert_eq!(outcomes[1].response_ns, 20, "starts at 10, well before g");
    let slow = CostModel::constant(2_500_000_000);
    let mut strategy = "guard:1s:pool:1".parse::<StrategySpec>().unwrap().build();
    let mut seen = Vec::new();
    let source = far.iter().cloned().map(Ok::<_, std::convert::Infallible>);
    simulate_observed(source, &mut strategy, &slow, &late, |o: &Outcome| {
        seen.push(*o)
    })
    .unwrap();
    seen.sort_by_key(|o| o.index);
    // g = 2 s, leeway clamp(0.2 s) → fires at 2.2 s, before the worker frees at 2.5 s.
    assert_eq!(
        (seen[1].start_ns, seen[1].response_ns),
        (None, 2_200_000_000)
    );
}

#[test]
fn fail_closed_denies_queue_drops_and_a_background_track_slows_work() {
    let messages = [auth(0, 0, 100), auth(1, 0, 100), auth(2, 0, 100)];
    let config = config_with(|c| {
        c.kernel_queue = Some(1);
        c.miss_mode = MissMode::FailClosed;
    });
    let (result, outcomes) = run_config("inline", &messages, &config);
    // The first is taken at 0 (it has left), the second waits, the third
    // finds the queue full.
    assert_eq!(
        (
            result.dropped,
            result.dropped_allowed,
            result.dropped_denied
        ),
        (Some(1), Some(0), Some(1))
    );
    assert!(outcomes[2].dropped && outcomes[2].unblocked_ns == 0);
    let track = BackgroundTrack::new([(0, 0.0), (5, 1.0)]);
    let config = config_with(|c| {
        c.cpu = CpuConfig {
            cores_milli: Some(1000),
            background: Background::Track(std::sync::Arc::new(track)),
            ..CpuConfig::default()
        };
    });
    let (result, outcomes) = run_config("inline", &messages[..1], &config);
    // 5 ns at full speed, then half speed for the other 5 ns of work.
    assert_eq!(outcomes[0].finish_ns, Some(15));
    assert_eq!(
        result.background,
        Some(0.6666666666666666),
        "mean over 0..15"
    );
}

/// A strategy that breaks the contract: hands off with no workers.
struct NoWorkers;

impl Strategy for NoWorkers {
    fn name(&self) -> String {
        "broken".into()
    }
    fn workers(&self) -> u32 {
        0
    }
    fn plan(&mut self, job: &crate::strategy::Job, _: &Message) -> crate::strategy::Plan {
        crate::strategy::Plan::worker(job)
    }
    fn queue(&mut self, _: crate::strategy::Ticket) {}
    fn next(&mut self, _: u32, _: Time) -> Option<crate::strategy::Ticket> {
        None
    }
}

/// A strategy that never gives its workers anything.
struct Hoarder;

impl Strategy for Hoarder {
    fn name(&self) -> String {
        "hoarder".into()
    }
    fn workers(&self) -> u32 {
        1
    }
    fn plan(&mut self, job: &crate::strategy::Job, _: &Message) -> crate::strategy::Plan {
        crate::strategy::Plan::worker(job)
    }
    fn queue(&mut self, _: crate::strategy::Ticket) {}
    fn next(&mut self, _: u32, _: Time) -> Option<crate::strategy::Ticket> {
        None
    }
}

#[test]
fn a_strategy_that_never_runs_its_jobs_is_an_error_not_a_silent_result() {
    let error = simulate(
        [auth(0, 0, 10), auth(1, 5, 10)],
        &mut Hoarder,
        &CostModel::constant(1),
        &SimConfig::default(),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("2 messages were never answered"),
        "{error}"
    );
}

#[test]
fn a_strategy_that_hands_off_without_workers_is_an_error_not_a_hang() {
    let error = simulate(
        [auth(0, 0, 10)],
        &mut NoWorkers,
        &CostModel::constant(1),
        &SimConfig::default(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("broken"), "{error}");
}

#[test]
fn a_message_in_flight_is_one_slot_and_a_queued_job_one_ticket() {
    // The figures docs/simulator.md quotes for memory per message.
    assert!(std::mem::size_of::<Slot>() <= 128);
    assert!(std::mem::size_of::<crate::strategy::Ticket>() <= 32);
}

#[test]
fn timers_of_answered_messages_do_not_pile_up_until_their_deadline() {
    // 20 000 guarded messages 1 ns apart, answered at once, deadlines 1 s
    // later: without compaction every watchdog (and, fail-open, every
    // kernel deadline) would wait in its heap for a second.
    let mut strategy = "guard:1ms:pool:2".parse::<StrategySpec>().unwrap().build();
    let cost = CostModel::constant(1);
    let config = config_with(|c| c.miss_mode = MissMode::FailOpen);
    let mut simulator = Simulator::new(&mut strategy, &cost, config, ());
    let mut most = 0;
    for i in 0..20_000 {
        simulator.push(auth(i, i, i + 1_000_000_000)).unwrap();
        most = most.max(simulator.watchdogs.len() + simulator.deadlines.len());
    }
    assert!(most < 500, "{most} timers held");
    let result = simulator.finish().unwrap();
    assert_eq!(
        (result.messages, result.misses, result.defaulted),
        (20_000, 0, 0)
    );
}
