//! Property tests: theory that must hold (docs/simulator.md, "Tests"),
//! determinism, and agreement with the naive reference on
//! random small traces with every strategy and tie-prone timestamps.

use esreplay_simulator::sweep::any_miss;
use esreplay_simulator::{CostModel, Outcome, SimConfig, SimResult, StrategySpec};
use proptest::prelude::*;

use super::reference::{self, Kind, Watchdog};
use super::support::{Row, config, messages, run, run_messages};

/// Small traces with many ties: arrivals from a coarse grid, services and
/// budgets that are often zero or equal; one in five messages NOTIFY.
fn rows(max_len: usize) -> impl Strategy<Value = Vec<Row>> {
    let row = (0u64..8, 0u64..12, 0u64..40, 0u8..5);
    prop::collection::vec(row, 1..max_len).prop_map(|raw| {
        let mut arrival = 0;
        raw.into_iter()
            .map(|(gap, service, budget, kind)| {
                arrival += gap / 2;
                (arrival, service, (kind != 0).then_some(arrival + budget))
            })
            .collect()
    })
}

fn timing() -> impl Strategy<Value = (u64, u64, u64)> {
    (0u64..4, 0u64..4, 0u64..3)
}

fn unguarded() -> impl Strategy<Value = (String, Kind)> {
    prop_oneof![
        Just(("inline".to_string(), Kind::Inline)),
        (1usize..4).prop_map(|n| (format!("pool:{n}"), Kind::Fifo(n))),
        (1usize..4).prop_map(|n| (format!("edf:{n}"), Kind::Edf(n))),
    ]
}

fn any_strategy() -> impl Strategy<Value = (String, Kind, Option<Watchdog>)> {
    let inner = unguarded();
    let guard = prop_oneof![
        Just(None),
        (0u64..20).prop_map(|m| Some((format!("{m}ns"), Watchdog::Fixed(m)))),
        (0u64..101, 0u64..5, 0u64..15).prop_map(|(p, low, extra)| {
            Some((
                format!("{p}%:{low}ns:{}ns", low + extra),
                Watchdog::Relative(p, low, low + extra),
            ))
        }),
    ];
    (inner, guard).prop_map(|((name, kind), guard)| match guard {
        None => (name, kind, None),
        Some((label, watchdog)) => (format!("guard:{label}:{name}"), kind, Some(watchdog)),
    })
}

/// Sweeps +1 at a_i and −1 at r_i (−1 first at equal times): the time
/// integral of the backlog and its maximum, independently of the engine.
fn backlog_sweep(outcomes: &[Outcome]) -> (u128, u64) {
    let mut events: Vec<(u64, i8)> = outcomes
        .iter()
        .flat_map(|o| [(o.arrival_ns, 1i8), (o.response_ns, -1i8)])
        .collect();
    events.sort_unstable();
    let (mut level, mut max, mut integral, mut last) = (0i64, 0i64, 0u128, 0u64);
    for (time, step) in events {
        integral += u128::from(time - last) * level as u128;
        last = time;
        level += i64::from(step);
        max = max.max(level);
    }
    (integral, max as u64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_strategy_agrees_with_the_naive_reference(
        rows in rows(16), (tau, rho, handoff) in timing(), (spec, kind, guard) in any_strategy(),
    ) {
        let (_, outcomes) = run(&spec, &rows, &config(tau, rho, handoff));
        let naive = reference::simulate(kind, guard, &rows, (tau, rho, handoff));
        prop_assert_eq!(reference::fates(&outcomes), naive, "{}", spec);
    }

    #[test]
    fn longer_traces_with_more_workers_agree_with_the_reference(
        rows in rows(80), handoff in 0u64..6, workers in 1usize..7, edf in any::<bool>(), margin in prop::option::of(0u64..30),
    ) {
        let (name, kind) = if edf { ("edf", Kind::Edf(workers)) } else { ("pool", Kind::Fifo(workers)) };
        let spec = match margin {
            Some(m) => format!("guard:{m}ns:{name}:{workers}"),
            None => format!("{name}:{workers}"),
        };
        let (_, outcomes) = run(&spec, &rows, &config(1, 2, handoff));
        let naive = reference::simulate(kind, margin.map(Watchdog::Fixed), &rows, (1, 2, handoff));
        prop_assert_eq!(reference::fates(&outcomes), naive, "{}", spec);
    }

    #[test]
    fn the_early_stopping_miss_probe_agrees_with_a_full_run(rows in rows(30), (spec, _, _) in any_strategy()) {
        let (result, _) = run(&spec, &rows, &SimConfig::default());
        let parsed: StrategySpec = spec.parse().unwrap();
        let source = messages(&rows).into_iter().map(Ok::<_, std::convert::Infallible>);
        let probe = any_miss(source, &parsed, &CostModel::trace(), &SimConfig::default()).unwrap();
        prop_assert_eq!(probe, result.misses > 0);
    }

    #[test]
    fn each_message_is_answered_once_and_not_before_its_work(
        rows in rows(30), (tau, rho, handoff) in timing(), (spec, _, _) in any_strategy(),
    ) {
        let (result, outcomes) = run(&spec, &rows, &config(tau, rho, handoff));
        prop_assert_eq!(outcomes.len(), rows.len());
        for (index, outcome) in outcomes.iter().enumerate() {
            prop_assert_eq!(outcome.index, index as u64, "answered once");
            prop_assert!(outcome.response_ns >= outcome.arrival_ns);
            if !outcome.defaulted {
                prop_assert!(outcome.response_ns >= outcome.arrival_ns + outcome.service_ns);
            }
        }
        let missed = outcomes.iter().filter(|o| o.missed).count() as u64;
        prop_assert_eq!(result.misses, missed);
    }

    #[test]
    fn results_are_byte_identical_run_to_run(rows in rows(30), seed in any::<u64>(), (spec, _, _) in any_strategy()) {
        let cost = CostModel::parse("lognormal:3ns:20ns").unwrap().with_seed(seed);
        let json = |_| run_messages(&spec, &messages(&rows), &cost, &SimConfig::default()).0.to_json();
        prop_assert_eq!(json(0), json(1));
    }

    #[test]
    fn inline_is_pool_1_without_handoff(rows in rows(30), tau in 0u64..4, rho in 0u64..4) {
        let (inline, a) = run("inline", &rows, &config(tau, rho, 0));
        let (pool, b) = run("pool:1", &rows, &config(tau, rho, 0));
        let responses = |o: &[Outcome]| o.iter().map(|o| (o.start_ns, o.response_ns)).collect::<Vec<_>>();
        prop_assert_eq!(responses(&a), responses(&b));
        prop_assert_eq!((inline.misses, inline.latency_ns, inline.max_backlog), (pool.misses, pool.latency_ns, pool.max_backlog));
    }

    #[test]
    fn fifo_pools_never_get_worse_with_more_workers(rows in rows(30), (tau, rho, handoff) in timing(), n in 1u32..5) {
        let (fewer, a) = run(&format!("pool:{n}"), &rows, &config(tau, rho, handoff));
        let (more, b) = run(&format!("pool:{}", n + 1), &rows, &config(tau, rho, handoff));
        for (x, y) in a.iter().zip(&b) {
            prop_assert!(y.start_ns <= x.start_ns && y.finish_ns <= x.finish_ns, "{x:?} {y:?}");
        }
        prop_assert!(more.misses <= fewer.misses);
    }

    #[test]
    fn enough_workers_answer_after_exactly_the_service(rows in rows(20)) {
        let (_, outcomes) = run(&format!("pool:{}", rows.len()), &rows, &SimConfig::default());
        for o in &outcomes {
            prop_assert_eq!(o.response_ns, o.arrival_ns + o.service_ns);
        }
    }

    #[test]
    fn inline_waits_follow_lindley(rows in rows(40)) {
        let (_, outcomes) = run("inline", &rows, &SimConfig::default());
        let mut wait = 0u64;
        for pair in outcomes.windows(2) {
            let gap = pair[1].arrival_ns - pair[0].arrival_ns;
            wait = (wait + pair[0].service_ns).saturating_sub(gap);
            prop_assert_eq!(pair[1].handler_ns - pair[1].arrival_ns, wait);
        }
    }

    #[test]
    fn littles_law_holds_exactly_and_the_backlog_peak_matches(
        rows in rows(40), (tau, rho, handoff) in timing(), (spec, _, _) in any_strategy(),
    ) {
        let (result, outcomes) = run(&spec, &rows, &config(tau, rho, handoff));
        let (integral, peak) = backlog_sweep(&outcomes);
        let responses: u128 = outcomes.iter().map(|o| u128::from(o.response_ns - o.arrival_ns)).sum();
        prop_assert_eq!(integral, responses);
        prop_assert_eq!(result.max_backlog, peak);
    }

    #[test]
    fn equal_services_give_fifo_and_edf_the_same_total_response(rows in rows(30), service in 0u64..6) {
        let rows: Vec<Row> = rows.into_iter().map(|(a, _, d)| (a, service, d)).collect();
        let total = |spec| run(spec, &rows, &SimConfig::default()).1.iter().map(|o| o.response_ns).sum::<u64>();
        prop_assert_eq!(total("pool:1"), total("edf:1"));
    }

    #[test]
    fn jacksons_rule_edf_minimises_maximum_lateness(jobs in prop::collection::vec((0u64..10, 0u64..30), 1..7)) {
        let rows: Vec<Row> = jobs.iter().map(|&(s, d)| (0, s, Some(d))).collect();
        let (_, outcomes) = run("edf:1", &rows, &SimConfig::default());
        let lateness = |o: &Outcome| o.response_ns as i64 - o.deadline_ns.unwrap() as i64;
        let edf = outcomes.iter().map(lateness).max().unwrap();
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        let best = permutations(&mut order, 0, &jobs);
        prop_assert!(edf <= best, "edf {} > best order {}", edf, best);
    }

    #[test]
    fn a_guard_never_misses_when_taken_before_d_minus_m(
        rows in rows(30), rho in 0u64..4, extra in 0u64..4, workers in 1u32..4, edf in any::<bool>(),
    ) {
        // Pools take every message at its arrival (no hand-off), so budgets
        // above M mean every message is taken before d - M; the queues
        // still make the guard fire often.
        let margin = rho + extra;
        let rows: Vec<Row> = rows.into_iter().map(|(a, s, d)| (a, s, d.map(|d| d.max(a + margin + 1)))).collect();
        let inner = if edf { format!("edf:{workers}") } else { format!("pool:{workers}") };
        let (result, outcomes) = run(&format!("guard:{margin}ns:{inner}"), &rows, &config(0, rho, 0));
        prop_assert!(outcomes.iter().all(|o| o.deadline_ns.is_none_or(|d| o.handler_ns + margin < d)));
        prop_assert_eq!(result.misses, 0);
    }
}

/// The smallest maximum lateness over every order of `jobs` (service,
/// deadline) run back to back from 0, by brute force.
fn permutations(order: &mut Vec<usize>, k: usize, jobs: &[(u64, u64)]) -> i64 {
    if k == order.len() {
        let mut now = 0u64;
        return order
            .iter()
            .map(|&i| {
                now += jobs[i].0;
                now as i64 - jobs[i].1 as i64
            })
            .max()
            .unwrap();
    }
    let mut best = i64::MAX;
    for j in k..order.len() {
        order.swap(k, j);
        best = best.min(permutations(order, k + 1, jobs));
        order.swap(k, j);
    }
    best
}

#[test]
fn the_design_example_overload_has_the_expected_shape() {
    // A sanity anchor for the property helpers: a sustained overload
    // through edf:1 keeps misses and the backlog growing.
    let rows: Vec<Row> = (0..1000).map(|i| (i, 2, Some(i + 50))).collect();
    let (result, outcomes): (SimResult, _) = run("edf:1", &rows, &SimConfig::default());
    assert!(result.misses > 900);
    assert_eq!(backlog_sweep(&outcomes).1, result.max_backlog);
    assert!(result.max_backlog > 400);
}
