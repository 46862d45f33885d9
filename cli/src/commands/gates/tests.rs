use super::*;
use esreplay_simulator::Latency;

fn result() -> SimResult {
    SimResult {
        strategy: "pool:4".into(),
        misses: 3,
        defaulted: 2,
        latency_ns: Some(Latency {
            p50: 10,
            p90: 20,
            p99: 30,
            p999: 40,
            max: 50,
        }),
        min_slack_ns: Some(-7),
        max_backlog: 57,
        dropped: Some(4),
        stall_ns: Some(1_000),
        injected: Some(9),
        runaway: Some(false),
        ..SimResult::default()
    }
}

/// The verdict of `gate` on a whole trace's `result`.
fn verdict(gate: Gate, result: &SimResult, headroom: Option<f64>) -> Verdict {
    let integrity = Integrity::default();
    let run = Judged {
        result,
        integrity: &integrity,
        headroom: Some(headroom),
    };
    gate.judge(&run)
}

fn pass(gate: Gate, result: &SimResult, headroom: Option<f64>) -> bool {
    verdict(gate, result, headroom).pass
}

/// Every ceiling passes at its value and fails one unit below it; every
/// floor passes at its value and fails one unit above.
#[test]
fn every_gate_passes_at_its_limit_and_fails_just_past_it() {
    let r = result();
    let ceilings: [(Metric, Amount, Amount); 11] = [
        (Metric::Misses, Amount::Count(3), Amount::Count(2)),
        (
            Metric::Latency(Percentile::P50),
            Amount::Ns(10),
            Amount::Ns(9),
        ),
        (
            Metric::Latency(Percentile::P90),
            Amount::Ns(20),
            Amount::Ns(19),
        ),
        (
            Metric::Latency(Percentile::P99),
            Amount::Ns(30),
            Amount::Ns(29),
        ),
        (
            Metric::Latency(Percentile::P999),
            Amount::Ns(40),
            Amount::Ns(39),
        ),
        (
            Metric::Latency(Percentile::Max),
            Amount::Ns(50),
            Amount::Ns(49),
        ),
        (Metric::Backlog, Amount::Count(57), Amount::Count(56)),
        (Metric::Defaulted, Amount::Count(2), Amount::Count(1)),
        (Metric::Dropped, Amount::Count(4), Amount::Count(3)),
        (Metric::Stall, Amount::Ns(1_000), Amount::Ns(999)),
        (Metric::Injected, Amount::Count(9), Amount::Count(8)),
    ];
    let floors: [(Metric, Amount, Amount); 2] = [
        (Metric::MinSlack, Amount::Ns(-7), Amount::Ns(-6)),
        (
            Metric::Headroom,
            Amount::Factor(1.5),
            Amount::Factor(1.5001),
        ),
    ];
    for (metric, at, past) in ceilings.into_iter().chain(floors) {
        let gate = |limit| Gate {
            metric,
            limit: Some(limit),
        };
        assert!(pass(gate(at), &r, Some(1.5)), "{metric:?} at {at:?}");
        assert!(!pass(gate(past), &r, Some(1.5)), "{metric:?} past {past:?}");
    }
}

#[test]
fn a_kill_fails_and_headroom_none_fails_while_no_latency_passes() {
    let mut r = result();
    let killed = Gate {
        metric: Metric::Killed,
        limit: None,
    };
    assert!(pass(killed, &r, None));
    r.killed_at_ns = Some(5);
    assert!(!pass(killed, &r, None));
    let headroom = Gate {
        metric: Metric::Headroom,
        limit: Some(Amount::Factor(0.5)),
    };
    assert!(!pass(headroom, &r, None), "misses at any factor");
    r.latency_ns = None;
    let p99 = latency_gate("p99=1ns").unwrap();
    assert!(
        pass(p99, &r, None),
        "nothing to judge without AUTH messages"
    );
}

#[test]
fn a_loop_that_ran_away_to_the_cap_fails_whatever_else_passes() {
    let mut r = result();
    let runaway = Gate {
        metric: Metric::Runaway,
        limit: None,
    };
    let calm = verdict(runaway, &r, None);
    assert!(calm.pass);
    assert_eq!(
        (calm.value_text.as_str(), calm.value.clone()),
        ("no", Value::Null)
    );
    r.runaway = Some(true);
    r.injected = Some(70);
    let ran = verdict(runaway, &r, None);
    assert!(!ran.pass);
    assert_eq!(ran.value, Value::from(70));
    assert_eq!(ran.limit_text, "never");
    assert!(
        ran.detail
            .starts_with("pool:4: the loop with the co-client ran away"),
        "{}",
        ran.detail
    );
    assert!(
        ran.detail.contains("at the cap, 70 injected"),
        "{}",
        ran.detail
    );
}

#[test]
fn an_incomplete_trace_fails_unless_allowed() {
    let r = result();
    let integrity = Integrity {
        messages_lost: 9,
        damage: vec!["cut short".into()],
        ..Integrity::default()
    };
    let run = Judged {
        result: &r,
        integrity: &integrity,
        headroom: None,
    };
    let strict = Gate {
        metric: Metric::Complete,
        limit: Some(Amount::Count(0)),
    };
    assert!(!strict.judge(&run).pass);
    let allowed = Gate {
        metric: Metric::Complete,
        limit: None,
    };
    assert!(allowed.judge(&run).pass);
}

#[test]
fn latency_gates_parse_each_percentile_and_reject_others() {
    for (text, p) in [
        ("p50=1ms", Percentile::P50),
        ("p90=1ms", Percentile::P90),
        ("P99=1ms", Percentile::P99),
        ("p99.9=1ms", Percentile::P999),
        ("max=1ms", Percentile::Max),
    ] {
        let gate = latency_gate(text).unwrap();
        assert_eq!(gate.metric, Metric::Latency(p));
        assert_eq!(gate.limit, Some(Amount::Ns(1_000_000)));
    }
    for bad in ["p99", "p95=1ms", "p99=fast", "=1ms"] {
        assert!(latency_gate(bad).is_err(), "{bad}");
    }
}

fn verdicts() -> Vec<(String, Vec<Verdict>)> {
    let r = result();
    let integrity = Integrity::default();
    let run = Judged {
        result: &r,
        integrity: &integrity,
        headroom: None,
    };
    let gates = [
        latency_gate("p99=30ns").unwrap(),
        latency_gate("max=49ns").unwrap(),
    ];
    let judged: Vec<Verdict> = gates.iter().map(|g| g.judge(&run)).collect();
    vec![
        ("a<b>&\"c\"".into(), judged.clone()),
        ("guard:1s:pool:4".into(), judged),
    ]
}

#[test]
fn github_annotations_escape_the_title_and_message() {
    let text = github(&verdicts());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1]
            .starts_with("::error title=esreplay check guard%3A1s%3Apool%3A4%3A max-latency max::"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("max-latency max 50ns, limit <= 49ns"),
        "{text}"
    );
}

#[test]
fn junit_counts_and_escapes() {
    let text = junit(&verdicts());
    assert!(text.contains("<testsuites name=\"esreplay check\" tests=\"4\" failures=\"2\""));
    assert!(text.contains("<testsuite name=\"a&lt;b&gt;&amp;&quot;c&quot;\""));
    assert_eq!(text.matches("<testcase ").count(), 4);
    assert_eq!(text.matches("<failure ").count(), 2);
    assert_eq!(text.matches("</testcase>").count(), 2);
}
