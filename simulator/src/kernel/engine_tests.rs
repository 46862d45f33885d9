//! The admission stage inside the engine, for every built-in strategy:
//! DESIGN.md's cache and mute rules as unit and property tests.

use std::sync::Arc;

use esreplay_traces::{Action, EventType, Message};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;

use super::{CacheKey, KernelOptions, Mutes};
use crate::engine::{MissMode, Outcome, SimConfig, Simulator, Time};
use crate::report::SimResult;
use crate::spec::StrategySpec;
use crate::strategy::{Job, Plan, Strategy, Ticket};
use crate::{CostModel, Observer};

const STRATEGIES: [&str; 5] = ["inline", "pool:1", "pool:3", "edf:2", "guard:5ns:pool:2"];

/// An AUTH_OPEN (or, with `write`, a NOTIFY_WRITE) by `process` on `file`,
/// with its service time and a budget of 50.
fn message(seq: u64, at: u64, service: u64, process: u8, file: u8, write: bool) -> Message {
    let (event, action) = if write {
        (EventType::NOTIFY_WRITE, Action::Notify)
    } else {
        (EventType::AUTH_OPEN, Action::Auth)
    };
    let mut message = Message::new(seq, event, action, at);
    message.deadline_ns = (!write).then_some(at + 50);
    message.service_ns = Some(service);
    message.process_path = Some(Arc::from(format!("/bin/p{process}")));
    message.target_path = Some(Arc::from(format!("/tmp/f{file}")));
    message
}

fn cache(size: usize) -> KernelOptions {
    KernelOptions {
        cache_events: vec![EventType::AUTH_OPEN],
        cache_size: size,
        ..KernelOptions::default()
    }
}

fn mutes(texts: &[&str]) -> KernelOptions {
    KernelOptions {
        mutes: Mutes::parse(texts.iter().copied()).unwrap(),
        ..KernelOptions::default()
    }
}

/// Records the global_seq of every job the strategy is given.
struct Recording<S> {
    inner: S,
    seen: Vec<u64>,
}

impl<S: Strategy> Strategy for Recording<S> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn workers(&self) -> u32 {
        self.inner.workers()
    }
    fn plan(&mut self, job: &Job, message: &Message) -> Plan {
        self.seen.push(job.global_seq);
        self.inner.plan(job, message)
    }
    fn queue(&mut self, ticket: Ticket) {
        self.inner.queue(ticket)
    }
    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        self.inner.next(worker, now)
    }
}

/// `config` with the kernel stage `options`.
fn with(options: &KernelOptions, config: SimConfig) -> SimConfig {
    SimConfig {
        kernel: options.clone(),
        ..config
    }
}

/// Runs `spec` with `options`: the result, outcomes by position, and the
/// global_seqs the strategy was given.
fn run(
    spec: &str,
    messages: &[Message],
    options: Option<&KernelOptions>,
    config: SimConfig,
) -> (SimResult, Vec<Outcome>, Vec<u64>) {
    let mut strategy = Recording {
        inner: spec.parse::<StrategySpec>().unwrap().build(),
        seen: Vec::new(),
    };
    let cost = CostModel::trace();
    let mut outcomes = Vec::new();
    let observer = |o: &Outcome| outcomes.push(*o);
    let config = match options {
        Some(options) => with(options, config),
        None => config,
    };
    let mut simulator = Simulator::new(&mut strategy, &cost, config, observer);
    for message in messages {
        simulator.push(message.clone()).unwrap();
    }
    let result = simulator.finish().unwrap();
    outcomes.sort_by_key(|o| o.index);
    (result, outcomes, strategy.seen)
}

#[test]
fn a_flood_of_one_key_reaches_the_client_once_then_is_answered_at_arrival() {
    let flood: Vec<Message> = (0..100)
        .map(|i| message(i, i * 10, 8, 0, 0, false))
        .collect();
    for spec in STRATEGIES {
        let (result, outcomes, seen) = run(spec, &flood, Some(&cache(4)), SimConfig::default());
        assert_eq!(
            seen,
            vec![0],
            "{spec}: answered at 8, every later open hits"
        );
        assert_eq!((result.messages, result.auth), (100, 100), "{spec}");
        assert_eq!((result.cached, result.muted), (Some(99), Some(0)), "{spec}");
        assert_eq!(result.latency_ns.unwrap().p50, 0, "{spec}");
        assert!(
            outcomes[1..]
                .iter()
                .all(|o| o.cached && o.latency_ns() == 0)
        );
    }
}

#[test]
fn an_answer_exactly_at_an_arrival_is_in_the_cache_for_every_strategy() {
    let pair = [
        message(0, 0, 10, 0, 0, false),
        message(1, 10, 10, 0, 0, false),
    ];
    for spec in ["inline", "pool:1", "pool:2", "edf:1", "guard:5ns:inline"] {
        let (result, _, seen) = run(spec, &pair, Some(&cache(4)), SimConfig::default());
        assert_eq!((result.cached, seen.len()), (Some(1), 1), "{spec}");
    }
}

#[test]
fn lru_of_one_with_two_alternating_files_never_hits() {
    let alternating: Vec<Message> = (0..40)
        .map(|i| message(i, i * 100, 5, 0, (i % 2) as u8, false))
        .collect();
    let (result, _, seen) = run(
        "pool:2",
        &alternating,
        Some(&cache(1)),
        SimConfig::default(),
    );
    assert_eq!((result.cached, seen.len()), (Some(0), 40));
    let (result, _, _) = run(
        "pool:2",
        &alternating,
        Some(&cache(2)),
        SimConfig::default(),
    );
    assert_eq!(result.cached, Some(38));
}

#[test]
fn a_write_between_two_opens_makes_the_second_reach_the_client() {
    let messages = [
        message(0, 0, 5, 0, 0, false),
        message(1, 10, 1, 1, 0, true),
        message(2, 20, 5, 0, 0, false),
        message(3, 30, 5, 0, 0, false),
    ];
    for spec in STRATEGIES {
        let (result, _, seen) = run(spec, &messages, Some(&cache(8)), SimConfig::default());
        assert_eq!(seen, vec![0, 1, 2], "{spec}");
        assert_eq!(result.cached, Some(1), "{spec}");
    }
}

#[test]
fn a_guard_default_and_a_kernel_answer_never_insert_but_a_late_client_answer_does() {
    // Service 100 > budget 50: guard:5 answers at 45 by default.
    let messages = [
        message(0, 0, 100, 0, 0, false),
        message(1, 200, 1, 0, 0, false),
    ];
    let (guarded, _, _) = run(
        "guard:5ns:inline",
        &messages,
        Some(&cache(4)),
        SimConfig::default(),
    );
    assert_eq!((guarded.defaulted, guarded.cached), (1, Some(0)));
    let (killed, _, _) = run("inline", &messages, Some(&cache(4)), SimConfig::default());
    assert_eq!((killed.misses, killed.cached), (1, Some(1)));
    let fail_open = SimConfig {
        miss_mode: MissMode::FailOpen,
        ..SimConfig::default()
    };
    let (allowed, _, _) = run("inline", &messages, Some(&cache(4)), fail_open);
    assert_eq!((allowed.misses, allowed.cached), (1, Some(0)));
}

#[test]
fn muted_messages_count_only_in_muted_and_never_reach_the_strategy() {
    let messages: Vec<Message> = (0..20)
        .map(|i| message(i, i * 3, 4, (i % 3) as u8, (i % 5) as u8, i % 7 == 6))
        .collect();
    let options = mutes(&["process-literal:/bin/p1", "target-prefix:/tmp/f4"]);
    let (result, outcomes, seen) = run("edf:2", &messages, Some(&options), SimConfig::default());
    let muted = |m: &Message| options.mutes.mutes(m);
    let kept: Vec<u64> = messages
        .iter()
        .filter(|m| !muted(m))
        .map(|m| m.global_seq)
        .collect();
    assert_eq!(seen, kept);
    assert_eq!(result.muted, Some(20 - kept.len() as u64));
    assert_eq!(result.messages, kept.len() as u64);
    assert_eq!(outcomes.len(), kept.len());
    // Positions are in the input stream: a muted message's is skipped.
    let indices: Vec<u64> = outcomes.iter().map(|o| o.index).collect();
    assert_eq!(indices, kept);
}

#[test]
fn a_cached_message_is_an_arrival_for_the_backlog_sampling_but_never_in_flight() {
    #[derive(Default)]
    struct Backlog(Vec<(u64, u64)>);
    impl Observer for &mut Backlog {
        fn outcome(&mut self, _: &Outcome) {}
        fn backlog(&mut self, at: u64, n: u64) {
            self.0.push((at, n));
        }
    }
    let messages = [
        message(0, 0, 30, 0, 0, false),
        message(1, 5, 30, 0, 1, false),
        message(2, 40, 1, 0, 0, false),
    ];
    let mut strategy = Recording {
        inner: "inline".parse::<StrategySpec>().unwrap().build(),
        seen: Vec::new(),
    };
    let cost = CostModel::trace();
    let mut backlog = Backlog::default();
    let config = with(&cache(4), SimConfig::default());
    let mut simulator = Simulator::new(&mut strategy, &cost, config, &mut backlog);
    for m in &messages {
        simulator.push(m.clone()).unwrap();
    }
    let result = simulator.finish().unwrap();
    // At 40 the first (answered at 30) is gone, the second (60) is not,
    // and the cached third is answered at once.
    assert_eq!(backlog.0, vec![(0, 1), (5, 2), (40, 1)]);
    assert_eq!((result.max_backlog, result.cached), (2, Some(1)));
}

#[test]
fn caching_can_add_an_edf_miss() {
    // (arrival, service, deadline) = (100, 2, 200), (101, 10, 150),
    // (102, 1, 104), the first a repeat of an open answered at 1.
    let rows = [
        (0, 1, 50, 0),
        (100, 2, 200, 0),
        (101, 10, 150, 1),
        (102, 1, 104, 2),
    ];
    let messages: Vec<Message> = rows
        .iter()
        .enumerate()
        .map(|(i, &(at, service, deadline, file))| {
            let mut m = message(i as u64, at, service, 0, file, false);
            m.deadline_ns = Some(deadline);
            m
        })
        .collect();
    let (plain, _, _) = run("edf:1", &messages, None, SimConfig::default());
    let (cached, _, seen) = run("edf:1", &messages, Some(&cache(4)), SimConfig::default());
    assert_eq!((plain.misses, cached.misses), (0, 1));
    assert_eq!(seen, vec![0, 2, 3]);
}

#[test]
fn under_closed_replay_a_cached_or_muted_open_lets_its_thread_go_on_at_once() {
    // One thread opening one file every ns as recorded (σ = 0), 10 ns of
    // work: the closed loop holds each open until the previous answer.
    let thread_opens = |file_of: fn(u64) -> u8| -> Vec<Message> {
        (0..5)
            .map(|i| {
                let mut m = message(i, i, 10, 0, file_of(i), false);
                m.pid = Some(7);
                m.thread_id = Some(70);
                m
            })
            .collect()
    };
    let same = thread_opens(|_| 0);
    let (plain, _, _) = run("inline", &same, None, SimConfig::default());
    assert_eq!(plain.replay.as_deref(), Some("closed"));
    assert_eq!(plain.stall_ns, Some(50));
    let (cached, outcomes, seen) = run("inline", &same, Some(&cache(4)), SimConfig::default());
    assert_eq!(seen, vec![0]);
    assert_eq!((cached.cached, cached.stall_ns), (Some(4), Some(10)));
    // The first answer at 10 delays the thread by 10 (a' = a + 10); the
    // cached opens delay it no further.
    let arrivals: Vec<u64> = outcomes.iter().map(|o| o.arrival_ns).collect();
    assert_eq!(arrivals, vec![0, 11, 12, 13, 14]);
    let alternate = thread_opens(|i| (i % 2) as u8);
    let options = mutes(&["target-literal:/tmp/f1"]);
    let (muted, outcomes, _) = run("inline", &alternate, Some(&options), SimConfig::default());
    assert_eq!(
        (muted.muted, muted.messages, muted.stall_ns),
        (Some(2), 3, Some(30))
    );
    let arrivals: Vec<u64> = outcomes.iter().map(|o| o.arrival_ns).collect();
    // The muted opens at 11 and 23 cost no time: 0, 1 + 10, 2 + 20 …
    assert_eq!(arrivals, vec![0, 12, 24]);
}

#[test]
fn a_message_dropped_at_a_full_kernel_queue_never_inserts() {
    // Queue of 1: at 0 the handler takes f0, f1 waits, f2 is dropped.
    let messages = [
        message(0, 0, 10, 0, 0, false),
        message(1, 0, 10, 0, 1, false),
        message(2, 0, 10, 0, 2, false),
        message(3, 100, 10, 0, 2, false),
        message(4, 101, 10, 0, 0, false),
    ];
    let config = SimConfig {
        kernel_queue: Some(1),
        ..SimConfig::default()
    };
    let (result, outcomes, seen) = run("inline", &messages, Some(&cache(8)), config);
    assert_eq!((result.dropped, result.cached), (Some(1), Some(1)));
    assert_eq!(seen, vec![0, 1, 3]);
    assert!(outcomes[2].dropped && outcomes[4].cached);
}

/// Random streams of opens and writes over few processes and files.
fn stream() -> impl proptest::strategy::Strategy<Value = Vec<Message>> {
    proptest::collection::vec((0u64..15, 1u64..40, 0u8..3, 0u8..4, 0u8..10), 1..60).prop_map(
        |rows| {
            let mut at = 0;
            rows.into_iter()
                .enumerate()
                .map(|(i, (gap, service, process, file, kind))| {
                    at += gap;
                    message(i as u64, at, service, process, file, kind == 0)
                })
                .collect()
        },
    )
}

proptest! {
    /// An active stage that mutes and caches nothing changes nothing but
    /// the two new counts.
    #[test]
    fn a_stage_that_changes_nothing_leaves_results_identical(
        messages in stream(),
        spec_index in 0..STRATEGIES.len(),
    ) {
        let spec = STRATEGIES[spec_index];
        let config = SimConfig { handoff_ns: 2, response_latency_ns: 1, ..SimConfig::default() };
        let (plain, plain_outcomes, _) = run(spec, &messages, None, config.clone());
        let options = mutes(&["process-literal:/nowhere"]);
        let (mut staged, staged_outcomes, _) = run(spec, &messages, Some(&options), config);
        prop_assert_eq!((staged.cached, staged.muted), (Some(0), Some(0)));
        staged.cached = None;
        staged.muted = None;
        prop_assert_eq!(plain, staged);
        prop_assert_eq!(plain_outcomes, staged_outcomes);
    }

    /// Every cached message has latency 0, never reached the strategy, and
    /// follows a client answer with its key at or before its arrival with
    /// no write of its file between; open or closed replay (one thread per
    /// process), with or without a kernel queue.
    #[test]
    fn every_cached_message_follows_an_answer_with_its_key(
        messages in stream(),
        spec_index in 0..STRATEGIES.len(),
        size in 1usize..4,
        threads in any::<bool>(),
        kernel_queue in prop::option::of(1u64..4),
    ) {
        let spec = STRATEGIES[spec_index];
        let mut messages = messages;
        if threads {
            for m in &mut messages {
                // "/bin/pN": thread N.
                let process = m.process_path.as_deref().unwrap_or_default();
                m.pid = Some(100);
                m.thread_id = process.bytes().last().map(u64::from);
            }
        }
        let config = SimConfig { response_latency_ns: 1, kernel_queue, ..SimConfig::default() };
        let (result, outcomes, seen) = run(spec, &messages, Some(&cache(size)), config);
        let by_seq = |seq: u64| &messages[seq as usize];
        let mut cached = 0;
        for o in outcomes.iter().filter(|o| o.cached) {
            cached += 1;
            prop_assert_eq!(o.latency_ns(), 0);
            prop_assert!(!seen.contains(&o.global_seq));
            let message = by_seq(o.global_seq);
            let key = CacheKey::of(message).unwrap().0;
            // Writes in replayed time (they move with their thread).
            let written = |after: u64| outcomes.iter().any(|w| {
                w.event == EventType::NOTIFY_WRITE
                    && by_seq(w.global_seq).target_path == message.target_path
                    && w.arrival_ns >= after
                    && (w.arrival_ns, w.global_seq) < (o.arrival_ns, o.global_seq)
            });
            let answered = outcomes.iter().any(|a| {
                !a.cached && !a.defaulted && !a.dropped && a.response_ns <= o.arrival_ns
                    && CacheKey::of(by_seq(a.global_seq)).unwrap().0 == key
                    && !written(a.response_ns)
            });
            prop_assert!(answered, "cached #{} without an answer before it", o.global_seq);
        }
        prop_assert_eq!(result.cached, Some(cached));
    }

    /// For inline and FIFO pools (not EDF: see DESIGN.md's traps) caching
    /// removes work from the client, so it never adds a miss.
    #[test]
    fn caching_never_adds_a_miss_for_inline_and_fifo_pools(
        messages in stream(),
        spec in prop::sample::select(vec!["inline", "pool:1", "pool:2"]),
    ) {
        let (plain, _, _) = run(spec, &messages, None, SimConfig::default());
        let (cached, _, _) = run(spec, &messages, Some(&cache(2)), SimConfig::default());
        prop_assert!(cached.misses <= plain.misses);
    }
}
