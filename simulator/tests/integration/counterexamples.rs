//! DESIGN.md's "do not assert these; they are false" counterexamples, as
//! cases asserting the stated behaviour (so that nobody "fixes" EDF into
//! something that is not EDF).

use esreplay_simulator::SimConfig;

use super::support::{Row, run};

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
