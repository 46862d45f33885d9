//! Hand-computed cases, 3 to 6 messages, for every strategy and tie rule,
//! checked to the nanosecond: (h, start, finish, r, defaulted) per message
//! and the totals; each is also checked against the naive reference.
//! Then the model's "do not assert these; they are false"
//! counterexamples (docs/simulator.md, "Tests"), as cases asserting the stated behaviour (so that
//! nobody "fixes" EDF into something that is not EDF).

use super::reference::{self, Fate, Kind, Watchdog};
use esreplay_simulator::SimConfig;

use super::support::{Row, config, run};

const S: u64 = 1_000_000_000;
const MAX: u64 = u64::MAX;

struct Case {
    name: &'static str,
    strategy: &'static str,
    reference: (Kind, Option<Watchdog>),
    /// τ, ρ, c_h.
    timing: (u64, u64, u64),
    rows: &'static [Row],
    fates: &'static [Fate],
    misses: u64,
    killed_at: Option<u64>,
    max_backlog: u64,
}

const fn ran(h: u64, start: u64, finish: u64, r: u64, defaulted: bool) -> Fate {
    (h, Some(start), Some(finish), r, defaulted)
}

const INLINE: (Kind, Option<Watchdog>) = (Kind::Inline, None);

const CASES: &[Case] = &[
    Case {
        name: "inline queues behind itself",
        strategy: "inline",
        reference: INLINE,
        timing: (0, 0, 0),
        rows: &[(0, 10, Some(15)), (5, 10, Some(30)), (6, 1, Some(20))],
        fates: &[
            ran(0, 0, 10, 10, false),
            ran(10, 10, 20, 20, false),
            ran(20, 20, 21, 21, false),
        ],
        misses: 1,
        killed_at: Some(20),
        max_backlog: 3,
    },
    Case {
        name: "inline with transport and response latency; r = d is no miss",
        strategy: "inline",
        reference: INLINE,
        timing: (2, 3, 0),
        rows: &[(0, 10, Some(15)), (1, 1, Some(14)), (20, 0, Some(20))],
        fates: &[
            ran(2, 2, 12, 15, false),
            ran(12, 12, 13, 16, false),
            ran(22, 22, 22, 25, false),
        ],
        misses: 2,
        killed_at: Some(14),
        max_backlog: 2,
    },
    Case {
        name: "pool hand-off delays the handler and the ready time",
        strategy: "pool:2",
        reference: (Kind::Fifo(2), None),
        timing: (0, 0, 1),
        rows: &[(0, 10, Some(100)), (0, 10, Some(100)), (0, 10, Some(100))],
        fates: &[
            ran(0, 1, 11, 11, false),
            ran(1, 2, 12, 12, false),
            ran(2, 11, 21, 21, false),
        ],
        misses: 0,
        killed_at: None,
        max_backlog: 3,
    },
    Case {
        name: "FIFO pool: an urgent short job waits its turn",
        strategy: "pool:2",
        reference: (Kind::Fifo(2), None),
        timing: (0, 0, 0),
        rows: &[
            (0, 10, Some(50)),
            (0, 10, Some(50)),
            (0, 1, Some(5)),
            (1, 1, Some(50)),
        ],
        fates: &[
            ran(0, 0, 10, 10, false),
            ran(0, 0, 10, 10, false),
            ran(0, 10, 11, 11, false),
            ran(1, 10, 11, 11, false),
        ],
        misses: 1,
        killed_at: Some(5),
        max_backlog: 4,
    },
    Case {
        name: "edf: a job ready at t is visible to a worker that frees at t",
        strategy: "edf:1",
        reference: (Kind::Edf(1), None),
        timing: (0, 0, 0),
        rows: &[(0, 5, Some(100)), (1, 1, Some(50)), (5, 1, Some(10))],
        fates: &[
            ran(0, 0, 5, 5, false),
            ran(1, 6, 7, 7, false),
            ran(5, 5, 6, 6, false),
        ],
        misses: 0,
        killed_at: None,
        max_backlog: 2,
    },
    Case {
        name: "edf: NOTIFY has key +infinity",
        strategy: "edf:2",
        reference: (Kind::Edf(2), None),
        timing: (0, 0, 0),
        rows: &[
            (0, 4, None),
            (0, 4, Some(100)),
            (0, 4, Some(50)),
            (1, 1, Some(200)),
        ],
        fates: &[
            ran(0, 4, 8, 8, false),
            ran(0, 0, 4, 4, false),
            ran(0, 0, 4, 4, false),
            ran(1, 4, 5, 5, false),
        ],
        misses: 0,
        killed_at: None,
        max_backlog: 4,
    },
    Case {
        name: "edf: zero service, a deadline already past, NOTIFY last",
        strategy: "edf:1",
        reference: (Kind::Edf(1), None),
        timing: (0, 0, 0),
        rows: &[(0, 0, Some(0)), (0, 3, Some(2)), (0, 0, None)],
        fates: &[
            ran(0, 0, 0, 0, false),
            ran(0, 0, 3, 3, false),
            ran(0, 3, 3, 3, false),
        ],
        misses: 1,
        killed_at: Some(2),
        max_backlog: 2,
    },
    Case {
        name: "guard on inline answers at g only when g < f",
        strategy: "guard:10ns:inline",
        reference: (Kind::Inline, Some(Watchdog::Fixed(10))),
        timing: (0, 0, 0),
        rows: &[(0, 50, Some(30)), (100, 20, Some(130)), (200, 5, Some(205))],
        fates: &[
            ran(0, 0, 50, 20, true),
            ran(100, 100, 120, 120, false),
            ran(200, 200, 205, 200, true),
        ],
        misses: 0,
        killed_at: None,
        max_backlog: 1,
    },
    Case {
        name: "guard on a pool drops a job that would start after g, runs one starting at g",
        strategy: "guard:10ns:pool:1",
        reference: (Kind::Fifo(1), Some(Watchdog::Fixed(10))),
        timing: (0, 0, 0),
        rows: &[
            (0, 50, Some(1000)),
            (0, 5, Some(59)),
            (0, 5, Some(60)),
            (0, 5, Some(1000)),
        ],
        fates: &[
            ran(0, 0, 50, 50, false),
            (0, None, None, 49, true),
            ran(0, 50, 55, 50, true),
            ran(0, 55, 60, 60, false),
        ],
        misses: 0,
        killed_at: None,
        max_backlog: 4,
    },
    Case {
        name: "a defaulted answer is still a miss when g + rho > d",
        strategy: "guard:10ns:inline",
        reference: (Kind::Inline, Some(Watchdog::Fixed(10))),
        timing: (0, 15, 0),
        rows: &[(0, 100, Some(20)), (0, 1, Some(300)), (500, 1, None)],
        fates: &[
            ran(0, 0, 100, 25, true),
            ran(100, 100, 101, 116, false),
            ran(500, 500, 501, 516, false),
        ],
        misses: 1,
        killed_at: Some(20),
        max_backlog: 2,
    },
    Case {
        name: "Santa's relative guard: 20% of what is left, clamped to [1s, 5s]",
        strategy: "guard:20%:1s:5s:inline",
        reference: (Kind::Inline, Some(Watchdog::Relative(20, S, 5 * S))),
        timing: (0, 0, 0),
        rows: &[
            (0, 14 * S, Some(15 * S)),
            (0, S, Some(60 * S)),
            (0, S, Some(2 * S)),
        ],
        fates: &[
            ran(0, 0, 14 * S, 12 * S, true),
            ran(14 * S, 14 * S, 15 * S, 15 * S, false),
            ran(15 * S, 15 * S, 16 * S, 15 * S, true),
        ],
        misses: 1,
        killed_at: Some(2 * S),
        max_backlog: 3,
    },
    Case {
        name: "guard on edf drops a queued job at g without a worker",
        strategy: "guard:10ns:edf:1",
        reference: (Kind::Edf(1), Some(Watchdog::Fixed(10))),
        timing: (0, 0, 0),
        rows: &[(0, 100, Some(1000)), (1, 5, Some(50)), (200, 1, Some(300))],
        fates: &[
            ran(0, 0, 100, 100, false),
            (1, None, None, 40, true),
            ran(200, 200, 201, 201, false),
        ],
        misses: 0,
        killed_at: None,
        max_backlog: 2,
    },
    Case {
        name: "backlog: a message answered at t is not counted at t",
        strategy: "inline",
        reference: INLINE,
        timing: (0, 0, 0),
        rows: &[(0, 5, Some(100)), (5, 5, Some(100)), (10, 0, Some(100))],
        fates: &[
            ran(0, 0, 5, 5, false),
            ran(5, 5, 10, 10, false),
            ran(10, 10, 10, 10, false),
        ],
        misses: 0,
        killed_at: None,
        max_backlog: 1,
    },
    Case {
        name: "times near u64::MAX saturate",
        strategy: "inline",
        reference: INLINE,
        timing: (0, 1, 0),
        rows: &[(MAX - 10, 20, Some(MAX)), (MAX - 5, 20, Some(MAX))],
        fates: &[
            ran(MAX - 10, MAX - 10, MAX, MAX, false),
            ran(MAX, MAX, MAX, MAX, false),
        ],
        misses: 0,
        killed_at: None,
        max_backlog: 2,
    },
];

#[test]
fn every_hand_computed_case_holds_to_the_nanosecond() {
    for case in CASES {
        let (tau, rho, handoff) = case.timing;
        let (result, outcomes) = run(case.strategy, case.rows, &config(tau, rho, handoff));
        let got = reference::fates(&outcomes);
        assert_eq!(got, case.fates, "{}: outcomes", case.name);
        let (kind, guard) = case.reference;
        let naive = reference::simulate(kind, guard, case.rows, case.timing);
        assert_eq!(
            naive, case.fates,
            "{}: the reference disagrees with the hand computation",
            case.name
        );
        assert_eq!(result.misses, case.misses, "{}: misses", case.name);
        assert_eq!(
            result.killed_at_ns, case.killed_at,
            "{}: killed_at",
            case.name
        );
        assert_eq!(
            result.max_backlog, case.max_backlog,
            "{}: max_backlog",
            case.name
        );
        let defaulted = case.fates.iter().filter(|fate| fate.4).count() as u64;
        assert_eq!(result.defaulted, defaulted, "{}: defaulted", case.name);
        assert_eq!(result.strategy, case.strategy);
    }
}

fn misses(strategy: &str, rows: &[Row]) -> u64 {
    run(strategy, rows, &SimConfig::default()).0.misses
}

#[test]
fn edf_can_miss_more_than_inline() {
    // Equal arrivals, (service, deadline) = (1, 2) and (2, 1).
    let rows = [(0, 1, Some(2)), (0, 2, Some(1))];
    assert_eq!(misses("edf:1", &rows), 2);
    assert_eq!(misses("inline", &rows), 1);
}

#[test]
fn another_edf_worker_can_add_a_miss() {
    // (arrival, service, deadline).
    let rows = [
        (3, 2, Some(5)),
        (4, 4, Some(15)),
        (4, 1, Some(11)),
        (5, 4, Some(17)),
        (6, 1, Some(9)),
    ];
    assert_eq!(misses("edf:1", &rows), 0);
    assert_eq!(misses("edf:2", &rows), 1);
}

#[test]
fn a_shorter_job_can_add_an_edf_miss() {
    let rows = |p| [(0, p, Some(100)), (1, 10, Some(50)), (2, 1, Some(4))];
    assert_eq!(misses("edf:1", &rows(2)), 0);
    assert_eq!(misses("edf:1", &rows(1)), 1);
}
