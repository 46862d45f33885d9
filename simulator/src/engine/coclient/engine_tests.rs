//! The co-client in the engine: no flag changes nothing, K = 0 injects
//! nothing, M · K < 1 injects a count computed by hand, M · K ≥ 1 runs
//! away to the cap, kernel order, and `es-clients-inline` breaking the loop.

use super::*;
use crate::cost::CostModel;
use crate::engine::{Outcome, SimConfig, simulate_observed};
use crate::report::SimResult;
use crate::spec::StrategySpec;

/// Five AUTH_OPENs and two AUTH_EXECs with targets, one AUTH_OPEN
/// without: 1 ms apart, 1 s budget (global_seq 0..8).
fn trace() -> Vec<Message> {
    (0..8u64)
        .map(|i| {
            let event = if i == 2 || i == 5 {
                EventType::AUTH_EXEC
            } else {
                EventType::AUTH_OPEN
            };
            let mut m = Message::new(i, event, Action::Auth, i * 1_000_000);
            m.deadline_ns = Some(i * 1_000_000 + 1_000_000_000);
            if i != 7 {
                m.target_path = Some(format!("/f{i}").into());
            }
            m
        })
        .collect()
}

fn run_with(spec: &str, co: Option<&str>, cap: Option<u64>) -> (SimResult, Vec<Outcome>) {
    run_on(trace(), SimConfig::default(), spec, co, cap)
}

fn run_on(
    messages: Vec<Message>,
    base: SimConfig,
    spec: &str,
    co: Option<&str>,
    cap: Option<u64>,
) -> (SimResult, Vec<Outcome>) {
    let co_client = co.map(|text| {
        let mut facts = TraceFacts::default();
        messages.iter().for_each(|m| facts.observe(m));
        facts.config(text.parse().unwrap(), cap)
    });
    let config = SimConfig {
        co_client,
        handoff_ns: 3,
        ..base
    };
    let mut strategy = spec.parse::<StrategySpec>().unwrap().build();
    let mut outcomes = Vec::new();
    let result = simulate_observed(
        messages.into_iter().map(Ok::<_, std::convert::Infallible>),
        &mut strategy,
        &CostModel::constant(100_000),
        &config,
        |o: &Outcome| outcomes.push(*o),
    )
    .unwrap();
    (result, outcomes)
}

#[test]
fn without_a_co_client_nothing_changes_and_k_0_injects_nothing() {
    let (plain, plain_outcomes) = run_with("pool:2", None, None);
    assert_eq!(plain.injected, None);
    assert!(!plain.to_json().contains("injected"));
    assert!(!plain.to_json().contains("runaway"));
    let (mut idle, idle_outcomes) = run_with(
        "pool:2",
        Some("react=AUTH_OPEN,opens=0,delay=0ns,io=3"),
        None,
    );
    assert_eq!((idle.injected, idle.runaway), (Some(0), Some(false)));
    idle.injected = None;
    idle.runaway = None;
    assert_eq!(idle, plain);
    assert_eq!(idle_outcomes, plain_outcomes);
}

#[test]
fn below_an_amplification_of_one_injection_is_bounded_as_computed_by_hand() {
    // io = 0: the co-client reacts to the trace only. AUTH_OPEN with a
    // target: 5 messages, × K = 3 → 15.
    let (result, outcomes) = run_with("pool:2", Some("react=AUTH_OPEN,opens=3,delay=2ms"), None);
    assert_eq!((result.injected, result.runaway), (Some(15), Some(false)));
    assert_eq!(result.messages, 8 + 15);
    // Both events: 7 with targets × 3 = 21.
    let (result, _) = run_with(
        "pool:2",
        Some("react=AUTH_OPEN+AUTH_EXEC,opens=3,delay=2ms"),
        None,
    );
    assert_eq!(result.injected, Some(21));
    // Our opens (io = 5) are AUTH_OPEN events, which it does not react
    // to: 2 AUTH_EXEC × K = 2 → 4.
    let (result, _) = run_with(
        "pool:2",
        Some("react=AUTH_EXEC,opens=2,delay=2ms,io=5"),
        None,
    );
    assert_eq!(result.injected, Some(4));
    // Injected: AUTH_OPEN of the co-client, after the trace's largest
    // global_seq, the trace's budget, 2 ms after their trigger.
    let injected: Vec<&Outcome> = outcomes.iter().filter(|o| o.global_seq >= 8).collect();
    assert_eq!(injected.len(), 15);
    let mut seqs: Vec<u64> = injected.iter().map(|o| o.global_seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (8..23).collect::<Vec<_>>());
    for o in injected {
        assert_eq!(o.event, EventType::AUTH_OPEN);
        assert_eq!(o.deadline_ns, Some(o.arrival_ns + 1_000_000_000));
        assert_eq!((o.arrival_ns - 2_000_000) % 1_000_000, 0, "{o:?}");
    }
}

#[test]
fn at_an_amplification_of_one_it_runs_away_to_the_cap() {
    let co = "react=AUTH_OPEN,opens=1,delay=1ms,io=1";
    let (result, _) = run_with("pool:2", Some(co), None);
    assert_eq!((result.injected, result.runaway), (Some(80), Some(true)));
    assert_eq!(result.messages, 88);
    let (result, _) = run_with("edf:2", Some(co), Some(33));
    assert_eq!((result.injected, result.runaway), (Some(33), Some(true)));
    assert!(result.to_json().contains(r#""injected":33,"runaway":true"#));
}

#[test]
fn injected_messages_enter_in_kernel_order() {
    // Delay 0: each trace open's injected open arrives with it, after it
    // (larger global_seq); inline takes messages in kernel order.
    let (_, outcomes) = run_with("inline", Some("react=AUTH_OPEN,opens=2,delay=0ns"), None);
    let mut taken: Vec<(u64, u64, u64)> = outcomes
        .iter()
        .map(|o| (o.handler_ns, o.arrival_ns, o.global_seq))
        .collect();
    taken.sort_unstable();
    let order: Vec<(u64, u64)> = taken.iter().map(|&(_, a, s)| (a, s)).collect();
    let mut kernel = order.clone();
    kernel.sort_unstable();
    assert_eq!(order, kernel);
    assert_eq!(outcomes.len(), 8 + 10);
}

#[test]
fn es_clients_inline_never_queues_an_es_client_and_breaks_the_loop() {
    let co = "react=AUTH_OPEN,opens=1,delay=1ms,io=1";
    let (result, outcomes) = run_with("es-clients-inline:pool:2", Some(co), None);
    // The trace's 5 opens with targets (K = 1), and our opens of the 7
    // handled messages with targets (M · K = 1): 12, no more.
    assert_eq!((result.injected, result.runaway), (Some(12), Some(false)));
    for o in outcomes.iter().filter(|o| o.global_seq >= 8) {
        assert_eq!(o.worker, None, "{o:?}");
        assert_eq!(o.start_ns, Some(o.handler_ns));
        assert_eq!(o.finish_ns, Some(o.handler_ns + 3), "c_h");
        assert_eq!(o.service_ns, 3);
    }
    for o in outcomes.iter().filter(|o| o.global_seq < 8) {
        assert!(o.worker.is_some(), "the rest goes to the pool: {o:?}");
    }
}

#[test]
fn the_counts_hold_under_closed_replay_on_one_shared_core() {
    // Every trace message from one of two threads; one core, one
    // background thread: the pacing changes, the co-client's reactions
    // do not.
    let threaded: Vec<Message> = trace()
        .into_iter()
        .map(|mut m| {
            m.pid = Some(10);
            m.thread_id = Some(m.global_seq % 2);
            m
        })
        .collect();
    let base = SimConfig {
        replay: crate::engine::ReplayMode::Closed,
        cpu: crate::engine::CpuConfig {
            cores_milli: Some(1_000),
            background: crate::engine::Background::Constant(1_000),
            ..crate::engine::CpuConfig::default()
        },
        ..SimConfig::default()
    };
    let co = Some("react=AUTH_OPEN,opens=3,delay=2ms");
    let (result, _) = run_on(threaded.clone(), base.clone(), "pool:2", co, None);
    assert_eq!(result.replay.as_deref(), Some("closed"));
    assert_eq!((result.injected, result.runaway), (Some(15), Some(false)));
    let co = Some("react=AUTH_OPEN,opens=1,delay=1ms,io=1");
    let (result, _) = run_on(threaded, base, "es-clients-inline:pool:2", co, None);
    assert_eq!((result.injected, result.runaway), (Some(12), Some(false)));
}

/// With the ES cache and mutes: the co-client receives muted trace
/// messages (our mutes are ours), and its repeated opens of one target
/// are answered from our cache once we answered one.
#[test]
fn the_co_client_comes_before_mutes_and_its_opens_meet_the_cache() {
    use crate::kernel::{KernelOptions, Mutes};
    let muted = SimConfig {
        kernel: KernelOptions {
            mutes: Mutes::parse(["target-prefix:/f"]).unwrap(),
            ..KernelOptions::default()
        },
        ..SimConfig::default()
    };
    // Every trace message with a target is muted (7 of 8), and so are the
    // injected opens (same targets): the co-client still saw the 5 opens.
    let co = Some("react=AUTH_OPEN,opens=3,delay=2ms");
    let (result, _) = run_on(trace(), muted, "pool:2", co, None);
    assert_eq!((result.injected, result.muted), (Some(15), Some(7 + 15)));
    assert_eq!(result.messages, 1);

    // One target opened again and again: with io = 1 and K = 1 the loop
    // would run away, but from the second open on the cache answers it,
    // so nothing of ours reads the file again.
    let one_file: Vec<Message> = trace().into_iter().take(1).collect();
    let cached = SimConfig {
        kernel: KernelOptions {
            cache_events: vec![EventType::AUTH_OPEN],
            ..KernelOptions::default()
        },
        ..SimConfig::default()
    };
    let co = Some("react=AUTH_OPEN,opens=1,delay=1ms,io=1");
    let (result, _) = run_on(one_file, cached, "pool:2", co, None);
    assert_eq!(result.runaway, Some(false));
    assert!(result.cached.unwrap() >= 1, "{result:?}");
}
