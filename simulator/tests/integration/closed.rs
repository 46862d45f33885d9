//! The machine model (closed loop, kernel queue, CPU sharing, fail modes,
//! overheads) against the naive reference in `machine`, and the rules of
//! DESIGN.md's "Blocking threads and the kernel queue" and "The CPU" as
//! properties. No property here is one of DESIGN.md's false ones.

use esreplay_simulator::engine::cpu::Sharing;
use esreplay_simulator::{
    Background, CostModel, CpuConfig, MissMode, Outcome, ReplayMode, SimConfig, SimResult,
};
use esreplay_traces::{Action, EventType, Message};
use proptest::prelude::*;

use super::machine::{self, Rec, Setup};
use super::support::run_messages;

/// Messages in recorded kernel order, with recorded service times.
pub fn messages(rows: &[Rec]) -> Vec<Message> {
    rows.iter()
        .enumerate()
        .map(|(index, row)| {
            let (event, action) = match row.deadline {
                Some(_) => (EventType::AUTH_OPEN, Action::Auth),
                None => (EventType::NOTIFY_EXIT, Action::Notify),
            };
            let mut message = Message::new(index as u64, event, action, row.arrival);
            message.deadline_ns = row.deadline;
            message.service_ns = Some(row.service);
            if row.thread.is_some() || row.response.is_some() {
                message.pid = Some(7);
                message.thread_id = row.thread;
                message.response_ns = row.response;
            }
            message
        })
        .collect()
}

/// The engine's settings and strategy for a reference setup.
pub fn config(setup: &Setup) -> (String, SimConfig) {
    let inner = match (setup.workers, setup.edf) {
        (0, _) => "inline".to_string(),
        (n, false) => format!("pool:{n}"),
        (n, true) => format!("edf:{n}"),
    };
    let spec = match setup.guard {
        Some(m) => format!("guard:{m}ns:{inner}"),
        None => inner,
    };
    let cpu = match setup.cores {
        Some((c, b)) => CpuConfig {
            cores_milli: Some(c * 1000),
            background: Background::Constant(b * 1000),
            sharing: if setup.fluid {
                Sharing::Fluid
            } else {
                Sharing::PerCore
            },
            ..CpuConfig::default()
        },
        None => CpuConfig::default(),
    };
    let config = SimConfig {
        transport_ns: setup.tau,
        response_latency_ns: setup.rho,
        handoff_ns: setup.handoff,
        handler_overhead_ns: setup.handler_overhead,
        worker_overhead_ns: setup.worker_overhead,
        miss_mode: if setup.fail_open {
            MissMode::FailOpen
        } else {
            MissMode::Kill
        },
        replay: if setup.closed {
            ReplayMode::Closed
        } else {
            ReplayMode::Open
        },
        kernel_queue: setup.queue.map(|n| n as u64),
        cpu,
        ..SimConfig::default()
    };
    (spec, config)
}

/// Runs the engine on `rows` under `setup`.
pub fn engine(rows: &[Rec], setup: &Setup) -> (SimResult, Vec<Outcome>) {
    run(&messages(rows), setup)
}

/// Runs the engine on `messages` under `setup`.
fn run(messages: &[Message], setup: &Setup) -> (SimResult, Vec<Outcome>) {
    let (spec, config) = config(setup);
    run_messages(&spec, messages, &CostModel::trace(), &config)
}

fn fates(outcomes: &[Outcome]) -> Vec<machine::Fate> {
    outcomes
        .iter()
        .map(|o| {
            (
                o.arrival_ns,
                o.handler_ns,
                o.start_ns,
                o.finish_ns,
                o.response_ns,
                o.unblocked_ns,
                o.dropped,
                o.defaulted,
            )
        })
        .collect()
}

/// Small traces on up to 3 threads (or none), with ties, zero services,
/// recorded stalls on some messages, one in five NOTIFY.
fn recs(max_len: usize) -> impl Strategy<Value = Vec<Rec>> {
    let rec = (
        0u64..8,
        0u64..9,
        0u64..40,
        0u8..5,
        0u64..4,
        prop::option::of(0u64..6),
    );
    prop::collection::vec(rec, 1..max_len).prop_map(|raw| {
        let mut arrival = 0;
        raw.into_iter()
            .map(|(gap, service, budget, kind, thread, stall)| {
                arrival += gap / 2;
                Rec {
                    arrival,
                    service,
                    deadline: (kind != 0).then_some(arrival + budget),
                    thread: (thread != 0).then_some(thread),
                    response: stall.map(|s| arrival + s),
                }
            })
            .collect()
    })
}

fn setups() -> impl Strategy<Value = Setup> {
    let strategy = (0usize..3, any::<bool>(), prop::option::of(0u64..12));
    let timing = (0u64..3, 0u64..3, 0u64..3, 0u64..3, 0u64..3);
    let machine = (
        prop::option::of(1usize..4),
        prop::option::of((1u64..3, 0u64..3)),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    );
    (strategy, timing, machine).prop_map(
        |(
            (workers, edf, guard),
            (tau, rho, handoff, ho, wo),
            (queue, cores, fail_open, closed, fluid),
        )| Setup {
            workers,
            edf,
            guard,
            tau,
            rho,
            handoff,
            handler_overhead: ho,
            worker_overhead: wo,
            queue,
            cores,
            fluid,
            fail_open,
            closed,
        },
    )
}

/// With every flag off, the machine is the open-loop integer model.
const PLAIN: Setup = Setup {
    workers: 0,
    edf: false,
    guard: None,
    tau: 0,
    rho: 0,
    handoff: 0,
    handler_overhead: 0,
    worker_overhead: 0,
    queue: None,
    cores: None,
    fluid: false,
    fail_open: false,
    closed: true,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_agrees_with_the_naive_machine(rows in recs(12), setup in setups()) {
        let (_, outcomes) = engine(&rows, &setup);
        let naive = machine::simulate(&rows, setup);
        prop_assert_eq!(fates(&outcomes), naive, "{:?}", setup);
    }

    #[test]
    fn a_thread_never_has_two_auth_messages_outstanding_nor_arrives_before_its_answer(
        rows in recs(16), setup in setups(),
    ) {
        let setup = Setup { closed: true, ..setup };
        let (_, outcomes) = engine(&rows, &setup);
        for thread in 1..4 {
            let mine: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| rows[o.index as usize].thread == Some(thread))
                .collect();
            let mut answered = 0;
            for o in mine {
                prop_assert!(o.arrival_ns >= answered, "{o:?} before {answered}");
                if o.action == Action::Auth {
                    answered = o.unblocked_ns;
                }
            }
        }
    }

    #[test]
    fn queue_drops_answer_at_arrival_and_never_miss(rows in recs(20), setup in setups(), n in 1usize..3) {
        let setup = Setup { queue: Some(n), ..setup };
        let (result, outcomes) = engine(&rows, &setup);
        let dropped: Vec<&Outcome> = outcomes.iter().filter(|o| o.dropped).collect();
        for o in &dropped {
            prop_assert!(!o.missed && o.unblocked_ns == o.arrival_ns && o.start_ns.is_none());
        }
        prop_assert_eq!(result.dropped, Some(dropped.len() as u64));
        let auth = dropped.iter().filter(|o| o.action == Action::Auth).count() as u64;
        prop_assert_eq!(result.dropped_allowed.unwrap() + result.dropped_denied.unwrap(), auth);
        let unlimited = Setup { queue: Some(rows.len()), ..setup };
        prop_assert_eq!(engine(&rows, &unlimited).0.dropped, Some(0));
    }

    #[test]
    fn the_recorded_stall_with_the_recording_strategy_leaves_arrivals_unchanged(
        rows in recs(16), setup in setups(),
    ) {
        // Record: a closed-loop run with σ = 0 gives each message a' and r'
        // (in whole ns: a recording under --cores would round them).
        let setup = Setup { closed: true, queue: None, cores: None, ..setup };
        let plain: Vec<Rec> = rows.iter().map(|r| Rec { response: None, ..*r }).collect();
        let (_, recorded) = engine(&plain, &setup);
        // That run, as a recording with its stalls (in its kernel order),
        // replays to itself.
        let mut recording: Vec<(usize, Rec)> = plain
            .iter()
            .zip(&recorded)
            .enumerate()
            .map(|(position, (r, o))| {
                (position, Rec {
                    arrival: o.arrival_ns,
                    deadline: o.deadline_ns.or(r.deadline.map(|d| d - r.arrival + o.arrival_ns)),
                    response: Some(o.unblocked_ns),
                    ..*r
                })
            })
            .collect();
        recording.sort_by_key(|&(position, r)| (r.arrival, position));
        let rows: Vec<Rec> = recording.iter().map(|&(_, r)| r).collect();
        let mut sorted = messages(&rows);
        for (message, &(position, _)) in sorted.iter_mut().zip(&recording) {
            message.global_seq = position as u64; // the recording's kernel order
        }
        let (_, replayed) = run(&sorted, &setup);
        for o in &replayed {
            let position = recording[o.index as usize].0;
            prop_assert_eq!(o.arrival_ns, recorded[position].arrival_ns, "{:?}", o);
        }
    }

    #[test]
    fn per_core_and_fluid_sharing_agree_on_one_core_and_when_every_thread_has_one(
        rows in recs(16), setup in setups(), background in 0u64..3,
    ) {
        // One core: D = n + B either way; four cores: n + B ≤ 4 with the
        // handler, two workers and at most one background thread.
        for cores in [(1, background), (4, background.min(1))] {
            let per_core = Setup { cores: Some(cores), fluid: false, ..setup };
            let fluid = Setup { fluid: true, ..per_core };
            prop_assert_eq!(fates(&engine(&rows, &per_core).1), fates(&engine(&rows, &fluid).1));
        }
    }

    #[test]
    fn unlimited_cores_and_open_replay_are_the_integer_model(rows in recs(16), setup in setups()) {
        let setup = Setup { queue: None, fail_open: false, handler_overhead: 0, worker_overhead: 0, ..setup };
        let threadless: Vec<Rec> = rows.iter().map(|r| Rec { thread: None, ..*r }).collect();
        let (open, a) = engine(&threadless, &Setup { cores: None, closed: false, ..setup });
        // Enough cores for every thread (handler + 2 workers) and B = 1.
        let (many, b) = engine(&threadless, &Setup { cores: Some((4, 1)), closed: true, ..setup });
        prop_assert_eq!(fates(&a), fates(&b));
        prop_assert_eq!(&open.latency_ns, &many.latency_ns);
        prop_assert_eq!(many.cpu_rate, Some(1.0));
        // Inline on one core without background is unchanged too.
        let inline = Setup { workers: 0, ..setup };
        let (_, c) = engine(&threadless, &Setup { cores: None, closed: false, ..inline });
        let (_, d) = engine(&threadless, &Setup { cores: Some((1, 0)), closed: false, ..inline });
        prop_assert_eq!(fates(&c), fates(&d));
    }

    #[test]
    fn timestamps_near_the_top_of_u64_saturate_and_every_message_settles(
        rows in recs(16), setup in setups(), service in prop::option::of(u64::MAX / 4..u64::MAX),
    ) {
        let top = |ns: u64| (u64::MAX - 60).saturating_add(ns);
        let rows: Vec<Rec> = rows
            .iter()
            .map(|r| Rec {
                arrival: top(r.arrival),
                service: service.unwrap_or(r.service),
                deadline: r.deadline.map(top),
                response: r.response.map(top),
                ..*r
            })
            .collect();
        let (result, outcomes) = engine(&rows, &setup);
        prop_assert_eq!(outcomes.len(), rows.len());
        prop_assert_eq!(result.messages, rows.len() as u64);
        for o in &outcomes {
            prop_assert!(o.unblocked_ns >= o.arrival_ns || o.unblocked_ns == u64::MAX);
        }
    }

    #[test]
    fn on_one_core_every_pool_ends_each_busy_period_when_inline_does(
        rows in recs(16), workers in 1usize..4, edf in any::<bool>(),
    ) {
        let threadless: Vec<Rec> = rows.iter().map(|r| Rec { thread: None, ..*r }).collect();
        let one = Setup { cores: Some((1, 0)), closed: false, ..PLAIN };
        let busy = |setup: Setup| {
            let (_, outcomes) = engine(&threadless, &setup);
            let mut spans: Vec<(u64, u64)> = outcomes
                .iter()
                .filter_map(|o| Some((o.start_ns?, o.finish_ns?)))
                .filter(|(s, f)| f > s)
                .collect();
            spans.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::new();
            for (s, f) in spans {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(f),
                    _ => merged.push((s, f)),
                }
            }
            merged
        };
        prop_assert_eq!(busy(one), busy(Setup { workers, edf, ..one }));
    }
}

#[test]
fn two_equal_jobs_on_one_core_under_pool_2_finish_together_at_twice_their_work() {
    let rows = [0, 0].map(|_| Rec {
        arrival: 0,
        service: 10,
        deadline: Some(100),
        thread: None,
        response: None,
    });
    let setup = Setup {
        workers: 2,
        cores: Some((1, 0)),
        ..PLAIN
    };
    let (result, outcomes) = engine(&rows, &setup);
    let finishes: Vec<Option<u64>> = outcomes.iter().map(|o| o.finish_ns).collect();
    assert_eq!(finishes, vec![Some(20), Some(20)]);
    assert_eq!(
        (result.cores, result.background, result.cpu_rate),
        (Some(1.0), Some(0.0), Some(0.5))
    );
    // One core and one background thread: a quarter speed each... for 10 ns.
    let busy = Setup {
        cores: Some((1, 1)),
        ..setup
    };
    let finishes: Vec<Option<u64>> = engine(&rows, &busy).1.iter().map(|o| o.finish_ns).collect();
    assert_eq!(finishes, vec![Some(30), Some(30)]);
}

#[test]
fn one_thread_flooding_opens_is_slowed_down_not_piled_up() {
    // 1000 opens 1 ns apart from one thread, 10 ns of work each, inline.
    let rows: Vec<Rec> = (0..1000)
        .map(|i| Rec {
            arrival: i,
            service: 10,
            deadline: Some(i + 50),
            thread: Some(1),
            response: None,
        })
        .collect();
    let (open, _) = engine(
        &rows,
        &Setup {
            closed: false,
            ..PLAIN
        },
    );
    let (closed, outcomes) = engine(&rows, &PLAIN);
    assert!(open.misses > 900 && open.max_backlog > 800, "{open:?}");
    assert_eq!((closed.misses, closed.max_backlog), (0, 1));
    assert_eq!(closed.replay.as_deref(), Some("closed"));
    // Each open waits 10 ns: the stall is the work, the rest is throttling.
    assert_eq!(closed.stall_ns, Some(10_000));
    // The 1 ns think time stays: one open every 11 ns.
    assert_eq!(outcomes.last().map(|o| o.arrival_ns), Some(999 * 11));
    assert_eq!(closed.throttled_ns, Some((0..1000).map(|i| i * 10).sum()));
    assert_eq!(
        open.replay, None,
        "the open run prints what it always printed"
    );
}

#[test]
fn fail_modes_answer_late_messages_at_the_deadline_and_still_count_them() {
    let rows = [0, 0, 0].map(|_| Rec {
        arrival: 0,
        service: 10,
        deadline: Some(15),
        thread: None,
        response: None,
    });
    let (killed, _) = engine(&rows, &PLAIN);
    let (open, outcomes) = engine(
        &rows,
        &Setup {
            fail_open: true,
            ..PLAIN
        },
    );
    assert_eq!((killed.misses, killed.killed_at_ns), (2, Some(15)));
    assert_eq!((open.misses, open.killed_at_ns), (2, None));
    let unblocked: Vec<u64> = outcomes.iter().map(|o| o.unblocked_ns).collect();
    assert_eq!(unblocked, vec![10, 15, 15]);
    assert_eq!(open.latency_ns.map(|l| l.max), Some(15));
    assert_eq!(open.min_slack_ns, Some(-15), "slack is the client's");
}
