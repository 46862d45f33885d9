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
fn the_backlog_maximum_is_the_same_when_no_observer_wants_each_instant() {
    // Bursts and gaps: the maximum is reached, then skipped instants
    // (below it) leave responses to pass later.
    let arrivals = [0, 0, 3, 3, 3, 12, 20, 21, 21, 40, 41, 41, 41, 41, 90, 95];
    for spec in ["inline", "pool:2", "edf:3"] {
        let (observed, seen) = run(spec, &arrivals);
        let messages = arrivals.iter().enumerate().map(|(i, &arrival)| {
            let mut m = Message::new(i as u64, EventType::AUTH_OPEN, Action::Auth, arrival);
            m.deadline_ns = Some(arrival + 25);
            m
        });
        let mut strategy = spec.parse::<StrategySpec>().unwrap().build();
        let config = SimConfig::default();
        let unobserved = simulate(messages, &mut strategy, &CostModel::constant(10), &config);
        let peak = seen.backlog.iter().map(|&(_, n)| n).max();
        assert_eq!(Some(observed.max_backlog), peak, "{spec}");
        assert_eq!(unobserved.unwrap(), observed, "{spec}");
    }
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

/// A strategy that hands every job off and never gives its workers
/// anything (with 0 it also breaks the contract: a hand-off with no
/// workers).
struct Hoarder(u32);

impl Strategy for Hoarder {
    fn name(&self) -> String {
        if self.0 == 0 { "broken" } else { "hoarder" }.into()
    }
    fn workers(&self) -> u32 {
        self.0
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
        &mut Hoarder(1),
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
        &mut Hoarder(0),
        &CostModel::constant(1),
        &SimConfig::default(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("broken"), "{error}");
}

/// Says that every job runs on its handler, so must never be asked to
/// plan one.
struct Declared;

impl Strategy for Declared {
    fn name(&self) -> String {
        "declared".into()
    }
    fn workers(&self) -> u32 {
        0
    }
    fn plan(&mut self, _: &crate::strategy::Job, _: &Message) -> crate::strategy::Plan {
        panic!("asked to plan, though every job's runner was declared")
    }
    fn queue(&mut self, _: crate::strategy::Ticket) {}
    fn next(&mut self, _: u32, _: Time) -> Option<crate::strategy::Ticket> {
        None
    }
    fn runner(&self) -> Option<crate::strategy::Runner> {
        Some(crate::strategy::Runner::Handler)
    }
}

#[test]
fn a_strategy_that_declares_its_runner_is_planned_without_being_asked() {
    let messages = [auth(0, 0, 10), auth(1, 5, 10), auth(2, 30, 40)];
    let cost = CostModel::constant(7);
    let config = SimConfig::default();
    let declared = simulate(messages.clone(), &mut Declared, &cost, &config).unwrap();
    let inline = simulate(messages, &mut crate::strategy::Inline, &cost, &config).unwrap();
    assert_eq!(
        (declared.misses, declared.latency_ns),
        (1, inline.latency_ns)
    );
    let renamed = SimResult {
        strategy: inline.strategy.clone(),
        ..declared
    };
    assert_eq!(renamed, inline);
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

mod shortcuts {
    //! The loop's shortcuts (an event proven to be the next one runs at
    //! once; a message that runs alone kept out of the loop; the last
    //! arrival instant closed, and the backlog sealed, once nothing can
    //! arrive) and parking queued jobs as compact
    //! records change nothing: every outcome, in the order reported,
    //! every backlog sample and the result are the same with them off,
    //! in open and closed replay, with and without a co-resident client.
    use super::*;
    use proptest::prelude::*;

    const STRATEGIES: [&str; 7] = [
        "inline",
        "pool:2",
        "edf:2",
        "guard:6ns:pool:1",
        "guard:25%:1ns:30ns:edf:2",
        "es-clients-inline:pool:2",
        "guard:4ns:inline",
    ];

    /// (gap, AUTH?, budget, service, thread, recorded stall, ES client?)
    type Spec = (u64, bool, u64, u64, Option<u64>, u64, bool);

    fn messages(specs: &[Spec]) -> Vec<Message> {
        let mut at = 0;
        let mut out = Vec::new();
        for (i, &(gap, auth, budget, service, thread, stall, es_client)) in specs.iter().enumerate()
        {
            at += gap;
            let action = if auth { Action::Auth } else { Action::Notify };
            let mut m = Message::new(i as u64, EventType::AUTH_OPEN, action, at);
            m.deadline_ns = auth.then_some(at + budget);
            m.service_ns = Some(service);
            m.pid = Some(1);
            m.thread_id = thread;
            m.response_ns = thread.map(|_| at + stall);
            m.is_es_client = Some(es_client);
            m.target_path = Some(["/a", "/b"][i % 2].into());
            out.push(m);
        }
        out
    }

    /// A configuration from six random knobs: τ, ρ, c_h, both overheads,
    /// the miss mode, the replay, the kernel queue, the guard timer and
    /// the cores.
    fn config(knobs: (u8, u8, u8, u8, u8, u8)) -> SimConfig {
        let (transport, handoff, queue, cores, mode, replay) = knobs;
        SimConfig {
            transport_ns: [0, 0, 3][usize::from(transport % 3)],
            response_latency_ns: u64::from(transport / 3 % 2) * 2,
            handoff_ns: [0, 0, 2][usize::from(handoff % 3)],
            handler_overhead_ns: u64::from(handoff / 3 % 2),
            worker_overhead_ns: u64::from(cores / 4 % 2) * 3,
            miss_mode: [MissMode::Kill, MissMode::FailOpen, MissMode::FailClosed]
                [usize::from(mode % 3)],
            replay: [ReplayMode::Auto, ReplayMode::Open, ReplayMode::Closed]
                [usize::from(replay % 3)],
            kernel_queue: [None, None, Some(1), Some(3)][usize::from(queue % 4)],
            guard_timer: if mode / 3 % 2 == 0 {
                GuardTimer::Exact
            } else {
                GuardTimer::Dispatch
            },
            cpu: CpuConfig {
                cores_milli: [None, None, Some(1000), Some(1500)][usize::from(cores % 4)],
                ..CpuConfig::default()
            },
            ..SimConfig::default()
        }
    }

    /// A co-resident client from a knob (`None` for most): K opens of
    /// each AUTH_OPEN D later, and with `io=1` of each of our jobs that
    /// ran, up to a cap.
    fn co_client(knob: u8) -> Option<CoClientConfig> {
        let spec = CoClientSpec {
            react: vec![EventType::AUTH_OPEN],
            opens: u32::from(knob % 2) + 1,
            delay_ns: u64::from(knob / 2 % 4) * 3,
            io: u32::from(knob / 8 % 2),
        };
        (knob >= 128).then_some(CoClientConfig {
            spec,
            cap: 40,
            first_seq: 1_000,
            budget_ns: 50,
        })
    }

    type Run = (Result<SimResult, String>, Vec<Outcome>, Vec<(u64, u64)>);

    /// The loop's switches: shortcuts on, jobs parked after this many
    /// are queued, and the handler's line entering the machine at this
    /// length.
    type Switches = (bool, usize, usize);

    fn simulate_with(
        switches: Switches,
        spec: &str,
        messages: &[Message],
        config: &SimConfig,
    ) -> Run {
        let mut strategy = spec.parse::<StrategySpec>().unwrap().build();
        simulate_strategy(switches, &mut *strategy, messages, config)
    }

    fn simulate_strategy(
        switches: Switches,
        strategy: &mut dyn crate::strategy::Strategy,
        messages: &[Message],
        config: &SimConfig,
    ) -> Run {
        let cost = CostModel::parse("trace").unwrap();
        let mut seen = Seen::default();
        let mut simulator = Simulator::new(strategy, &cost, config.clone(), &mut seen);
        simulator.shortcuts = switches.0;
        simulator.line_cap = switches.2;
        if config.co_client.is_none() {
            simulator.park_after = switches.1;
        }
        let mut pushed = Ok(());
        for message in messages {
            pushed = pushed.and_then(|()| simulator.push(message.clone()));
        }
        let result = match pushed {
            Ok(()) => simulator.finish().map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        (result, seen.outcomes, seen.backlog)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn with_and_without_shortcuts_or_parking_every_outcome_is_the_same(
            specs in prop::collection::vec(
                (0u64..6, prop::bool::weighted(0.8), 1u64..80, 0u64..12,
                 prop::option::weighted(0.4, 0u64..3), 0u64..10, prop::bool::weighted(0.15)),
                0..60,
            ),
            strategy in 0..STRATEGIES.len(),
            knobs in any::<(u8, u8, u8, u8, u8, u8)>(),
            co in any::<u8>(),
        ) {
            let messages = messages(&specs);
            let config = SimConfig { co_client: co_client(co), ..config(knobs) };
            let spec = STRATEGIES[strategy];
            let fast = simulate_with((true, usize::MAX, usize::MAX), spec, &messages, &config);
            let slow = simulate_with((false, usize::MAX, usize::MAX), spec, &messages, &config);
            let parked = simulate_with((true, 0, 0), spec, &messages, &config);
            let lined = simulate_with((true, 0, usize::MAX), spec, &messages, &config);
            let injected = fast.0.as_ref().ok().and_then(|r| r.injected).unwrap_or(0);
            let all = messages.len() as u64 + injected;
            prop_assert!(fast.1.len() as u64 == all || fast.0.is_err(), "every message settled");
            prop_assert_eq!(&fast, &slow, "shortcuts");
            prop_assert_eq!(&fast, &parked, "every queued job parked");
            prop_assert_eq!(&fast, &lined, "every queued job parked, the handler's line too");
        }
    }

    /// A pool of 3 that keeps every question it is asked and declares its
    /// runner, never giving worker 0 a job (the dispatch of a message
    /// running alone asks on); or (`guarded`) plans each job with a
    /// watchdog 3 ns before its deadline and gives no worker a job at the
    /// instant it is first asked for it (the job waits for the next
    /// question, its watchdog may drop it).
    #[derive(Default)]
    struct Picky {
        guarded: bool,
        queue: std::collections::VecDeque<crate::strategy::Ticket>,
        asked: Vec<(u32, Time)>,
        /// The job first asked for, and when.
        hesitated: Option<(u64, Time)>,
    }

    impl crate::strategy::Strategy for Picky {
        fn name(&self) -> String {
            "picky".into()
        }
        fn workers(&self) -> u32 {
            3
        }
        fn plan(&mut self, job: &crate::strategy::Job, _: &Message) -> crate::strategy::Plan {
            self.asked.push((u32::MAX, job.taken));
            let mut plan = crate::strategy::Plan::worker(job);
            let before = |deadline: Time| Time::from_ns(deadline.ceil_ns().saturating_sub(3));
            plan.watchdog = job.deadline.filter(|_| self.guarded).map(before);
            plan
        }
        fn queue(&mut self, ticket: crate::strategy::Ticket) {
            self.queue.push_back(ticket);
        }
        fn next(&mut self, worker: u32, now: Time) -> Option<crate::strategy::Ticket> {
            self.asked.push((worker, now));
            let front = self.queue.front()?.index;
            let refused = match self.guarded {
                false => worker == 0,
                true => {
                    if self.hesitated.is_none_or(|(job, _)| job != front) {
                        self.hesitated = Some((front, now));
                    }
                    self.hesitated == Some((front, now))
                }
            };
            (!refused).then(|| self.queue.pop_front()).flatten()
        }
        fn runner(&self) -> Option<crate::strategy::Runner> {
            (!self.guarded).then_some(crate::strategy::Runner::Worker)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Where messages run alone (no `--cores`, killed at a miss):
        /// most of them at these gaps, some outlasting the next arrival
        /// or arriving with it, under a response latency, both overheads,
        /// a kernel queue, the ES cache, and threads that start the
        /// closed loop midway; strategies that declare their runner,
        /// guards whose watchdogs fire before the work ends or after,
        /// exactly or late, and one that answers ES clients' messages at
        /// once (a plan on no thread's work); the handler's line
        /// unbounded, or entering the machine at 0 to 3 messages; queued
        /// jobs and the line's parked after 0 to 2 (with the shortcuts).
        #[test]
        fn messages_running_alone_change_no_outcome(
            specs in prop::collection::vec(
                (0u64..9, prop::bool::weighted(0.8), 1u64..40, 0u64..8,
                 prop::option::weighted(0.03, 0u64..3), 0u64..10, prop::bool::weighted(0.2)),
                0..80,
            ),
            strategy in 0usize..10,
            (latency, overheads, queue, replay, cache, late) in
                (0u64..3, (0u64..3, 0u64..4), 0usize..3, 0usize..3, any::<bool>(), any::<bool>()),
            line_cap in prop_oneof![Just(usize::MAX), 0usize..4],
            park_after in prop_oneof![Just(usize::MAX), 0usize..3],
        ) {
            let messages = messages(&specs);
            let kernel = crate::kernel::KernelOptions {
                cache_events: if cache { vec![EventType::AUTH_OPEN] } else { Vec::new() },
                cache_size: 1,
                ..Default::default()
            };
            let config = SimConfig {
                response_latency_ns: latency,
                worker_overhead_ns: overheads.0,
                handler_overhead_ns: overheads.1,
                kernel_queue: [None, Some(1), Some(4)][queue],
                replay: [ReplayMode::Auto, ReplayMode::Open, ReplayMode::Closed][replay],
                kernel,
                guard_timer: if late { GuardTimer::Dispatch } else { GuardTimer::Exact },
                ..SimConfig::default()
            };
            let names = [
                "inline", "pool:1", "pool:3", "edf:2",
                "guard:6ns:inline", "guard:4ns:pool:2", "guard:25%:1ns:30ns:edf:2",
                "es-clients-inline:pool:2",
            ];
            // With the shortcuts, jobs parked after `park_after` (the
            // handler's line's too); without, none.
            let run = |shortcuts: bool| {
                let park = if shortcuts { park_after } else { usize::MAX };
                let switches = (shortcuts, park, line_cap);
                match names.get(strategy) {
                    Some(spec) => (simulate_with(switches, spec, &messages, &config), vec![]),
                    None => {
                        let mut picky =
                            Picky { guarded: strategy > names.len(), ..Picky::default() };
                        let run = simulate_strategy(switches, &mut picky, &messages, &config);
                        (run, picky.asked)
                    }
                }
            };
            let (fast, slow) = (run(true), run(false));
            // A job the hesitant strategy refused last may never be asked
            // for again: that run ends in an error, after its outcomes
            // (the backlog's last instant is closed before the error only
            // with the shortcuts).
            let hesitant = strategy > names.len();
            if hesitant && fast.0.0.is_err() {
                let (mut fast, mut slow) = (fast, slow);
                (fast.0.2, slow.0.2) = (Vec::new(), Vec::new());
                prop_assert_eq!(fast, slow, "every outcome, and every question to the strategy");
                return Ok(());
            }
            prop_assert!(fast.0.0.is_ok(), "{:?}", fast.0.0);
            prop_assert_eq!(&fast, &slow, "every outcome, and every question to the strategy");
        }
    }

    /// In closed replay, and with a co-resident client, the backlog is
    /// sealed as soon as nothing can arrive, jobs still queued, and that
    /// changes nothing.
    #[test]
    fn the_backlog_is_sealed_once_nothing_can_arrive() {
        // One thread: an AUTH message, then 60 NOTIFY messages held behind
        // it until its answer; on pool:1 most still wait after the last
        // arrives (and the co-client's opens of each, 3 ns later).
        let specs: Vec<Spec> = (0..61)
            .map(|i| (1, i == 0, 1_000, 10, Some(1), 0, false))
            .collect();
        let messages = messages(&specs);
        for co in [None, co_client(130)] {
            let config = SimConfig {
                replay: ReplayMode::Closed,
                co_client: co.clone(),
                ..SimConfig::default()
            };
            let mut strategy = "pool:1".parse::<StrategySpec>().unwrap().build();
            let cost = CostModel::parse("trace").unwrap();
            let mut simulator = Simulator::new(&mut strategy, &cost, config.clone(), ());
            for message in &messages {
                simulator.push(message).unwrap();
            }
            assert!(simulator.threads.as_ref().is_some_and(|t| !t.drained()));
            simulator.close_last_instant().unwrap();
            assert!(simulator.stats.backlog.sealed(), "co-client {co:?}");
            assert_eq!(simulator.stats.backlog.kept(), 0);
            assert!(simulator.slots.in_flight() > 40, "jobs still queued");
            let sealed = simulator.finish().unwrap();
            assert_eq!(sealed.injected.is_some(), co.is_some());
            let unsealed = simulate_with(
                (false, usize::MAX, usize::MAX),
                "pool:1",
                &messages,
                &config,
            );
            assert_eq!(Ok(sealed), unsealed.0);
        }
    }

    /// The last message, answered at the instant it arrives, is not in
    /// the backlog there, though the handler's line left at the end of
    /// the input is settled after that instant is closed (the answers
    /// due by then first).
    #[test]
    fn an_answer_at_the_last_instant_leaves_the_backlog_then() {
        // ρ, and the backlog at 5: with ρ = 2 the first is answered at 5
        // (3 + ρ), the second at 6, the last at 7.
        for (latency, backlog) in [(0, 0), (2, 2)] {
            // Two messages at 0 (the second in the line), one at 5 that
            // takes no time.
            let messages = messages(&[
                (0, true, 9, 3, None, 0, false),
                (0, true, 9, 1, None, 0, false),
                (5, true, 9, 0, None, 0, false),
            ]);
            let config = SimConfig {
                response_latency_ns: latency,
                ..SimConfig::default()
            };
            let fast = simulate_with((true, usize::MAX, usize::MAX), "inline", &messages, &config);
            let slow = simulate_with(
                (false, usize::MAX, usize::MAX),
                "inline",
                &messages,
                &config,
            );
            assert_eq!(fast, slow, "ρ = {latency}");
            let last = *fast.2.last().expect("a backlog sample");
            assert_eq!(last, (5, backlog), "ρ = {latency}");
        }
    }

    /// A long overload: thousands of jobs queued at once (in a strategy's
    /// queue, or in the kernel queue), of two event types with budgets far
    /// apart, some dropped by their guards, so that records fill and free
    /// pages in two lanes and the queues pack.
    #[test]
    fn a_long_overload_parked_changes_no_outcome() {
        let messages: Vec<Message> = (0..6_000u64)
            .map(|i| {
                let exec = i % 7 == 0;
                let event = if exec {
                    EventType::AUTH_EXEC
                } else {
                    EventType::AUTH_OPEN
                };
                let mut m = Message::new(i, event, Action::Auth, i * 3);
                m.deadline_ns = Some(i * 3 + if exec { 24_000 } else { 8_000 });
                m.service_ns = Some(10 + i % 5);
                m
            })
            .collect();
        let specs = [
            "edf:2",
            "pool:2",
            "guard:2000ns:edf:2",
            "guard:25%:1ns:30ns:pool:1",
            // Their jobs wait in the kernel queue.
            "inline",
            "guard:2000ns:inline",
        ];
        let modes = [MissMode::Kill, MissMode::FailOpen, MissMode::FailClosed];
        for (spec, miss_mode) in specs.into_iter().flat_map(|s| modes.map(|m| (s, m))) {
            let config = SimConfig {
                miss_mode,
                ..SimConfig::default()
            };
            let parked = simulate_with((true, 0, 0), spec, &messages, &config);
            let lined = simulate_with((true, 0, usize::MAX), spec, &messages, &config);
            let kept = simulate_with((true, usize::MAX, usize::MAX), spec, &messages, &config);
            let result = parked.0.as_ref().expect("a result");
            assert!(
                result.max_backlog > 1_500,
                "{spec} {miss_mode:?}: a long queue"
            );
            let guarded = spec.starts_with("guard");
            assert!(!guarded || result.defaulted > 100, "{spec}: jobs dropped");
            assert!(
                guarded || result.misses > 100,
                "{spec}: deadlines pass while queued"
            );
            assert_eq!(parked, kept, "{spec} {miss_mode:?}");
            assert_eq!(
                lined, kept,
                "{spec} {miss_mode:?}: the handler's line parked"
            );
        }
    }
}

mod idle_workers {
    //! The idle workers' queue gives the order of a list sorted by (time,
    //! id) when workers go idle at non-decreasing times, a worker taken
    //! from any position.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_queue_takes_workers_in_the_order_of_a_sorted_list(
            steps in prop::collection::vec(
                (0u64..3, 0u32..6, prop::option::weighted(0.5, 0usize..3)),
                0..60,
            ),
        ) {
            let mut queue = IdleWorkers::all(3);
            let mut sorted: Vec<(Time, u32)> = (0..3).map(|w| (Time::ZERO, w)).collect();
            let mut now = Time::ZERO;
            for (advance, id, take) in steps {
                match take {
                    Some(position) => {
                        prop_assert_eq!(queue.get(position), sorted.get(position).map(|e| e.1));
                        queue.take(position);
                        if position < sorted.len() {
                            sorted.remove(position);
                        }
                    }
                    None => {
                        now = now.plus_ns(advance);
                        queue.push(now, id);
                        let at = sorted.partition_point(|&e| e <= (now, id));
                        sorted.insert(at, (now, id));
                    }
                }
                prop_assert_eq!(queue.is_empty(), sorted.is_empty());
            }
            for want in sorted {
                prop_assert_eq!(queue.get(0), Some(want.1));
                queue.take(0);
            }
            prop_assert!(queue.is_empty());
        }
    }
}

mod packed_timers {
    //! Timers come back from a packed run exactly: a whole-ns time a
    //! short step on (3 bytes as they are) or not, or with a fraction.
    use super::*;
    use crate::strategy::runs::{PACK_AFTER, Run};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn timers_come_back_from_a_packed_run_exactly(
            timers in prop::collection::vec(
                (
                    prop_oneof![0u64..1 << 25, any::<u64>()],
                    prop_oneof![Just(0u64), 1u64..time::SCALE as u64],
                    prop_oneof![0u64..3, any::<u64>()],
                    any::<u64>(),
                ),
                1..300,
            ),
        ) {
            // Times step up by less or more than 2^24 ns, or anywhere;
            // the order of arming and the stream position a little or
            // anywhere; any job. The run is packed from its
            // PACK_AFTER-th timer on: as many of the first go before.
            let mut run = Run::default();
            let mut model = VecDeque::new();
            let mut last = Timer::new((Time::ZERO, 0), JobRef::from_bits(0), 0);
            for _ in 0..PACK_AFTER {
                run.push_back(last);
                model.push_back(last);
            }
            for (step, fraction, armed_step, job) in timers {
                let ns = last.at.parts().0.wrapping_add(step).min(u64::MAX - 1);
                let armed = last.armed.wrapping_add(armed_step);
                let at = Time::from_parts(ns, fraction);
                let timer = Timer::new((at, armed), JobRef::from_bits(job), armed ^ job);
                run.push_back(timer);
                model.push_back(timer);
                last = timer;
            }
            while let Some(want) = model.pop_front() {
                let back = run.pop_front().expect("a timer");
                prop_assert_eq!((back.at, back.armed, back.index), (want.at, want.armed, want.index));
                prop_assert_eq!(back.job, want.job);
            }
            prop_assert!(run.pop_front().is_none());
        }
    }
}
