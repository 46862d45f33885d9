//! Real-kernel experiments (root only; they print a message and pass where
//! fanotify permission events are not permitted, unless
//! `ESREPLAY_REQUIRE_ROOT=1`): every plan answers every
//! open exactly once, stalls cover the work, guards answer on time.
#![cfg(target_os = "linux")]

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use esreplay_lab::{Answerer, Experiment, LabError, Planned, Record, run};
use esreplay_simulator::StrategySpec;
use esreplay_simulator::strategy::Margin;

const MS: u64 = 1_000_000;

fn planned(opens: u64, gap_ns: u64, service_ns: u64, budget_ns: Option<u64>) -> Vec<Planned> {
    (0..opens)
        .map(|i| Planned {
            offset_ns: i * gap_ns,
            service_ns,
            budget_ns,
        })
        .collect()
}

/// Experiments spin real CPU: one at a time, or they starve each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `strategy`, or `None` (with a message) where fanotify is not
/// permitted.
fn try_run(planned: &[Planned], strategy: &StrategySpec) -> Option<Vec<Record>> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let mut experiment = Experiment::new(planned, strategy);
    experiment.timeout = Duration::from_secs(10);
    match run(&experiment) {
        Ok(records) => Some(records),
        Err(error) if error.is_not_permitted() => {
            let required = std::env::var("ESREPLAY_REQUIRE_ROOT").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "ESREPLAY_REQUIRE_ROOT=1 but not permitted: {error}"
            );
            eprintln!("skipped: fanotify permission events are not permitted here ({error})");
            None
        }
        Err(error) => panic!("{error}"),
    }
}

fn guard(margin_ns: u64, inner: StrategySpec) -> StrategySpec {
    StrategySpec::Guard {
        margin: Margin::Fixed(margin_ns),
        inner: Box::new(inner),
    }
}

#[test]
fn every_plan_answers_every_open_once_after_its_work() {
    let schedule = planned(30, 2 * MS, MS, Some(10_000 * MS));
    for plan in [
        StrategySpec::Inline,
        StrategySpec::Pool(2),
        StrategySpec::Edf(1),
    ] {
        let Some(records) = try_run(&schedule, &plan) else {
            return;
        };
        assert_eq!(records.len(), schedule.len(), "{plan:?}");
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.index, i);
            let served = record
                .served
                .unwrap_or_else(|| panic!("{plan:?}: open {i} unseen"));
            assert_ne!(served.answered_by, Answerer::Guard);
            assert_eq!(served.ran_on, Some(served.answered_by));
            let (start, finish) = (served.start_ns.unwrap(), served.finish_ns.unwrap());
            assert!(
                finish - start >= MS,
                "{plan:?}: open {i} worked {}",
                finish - start
            );
            assert!(
                record.return_ns - record.call_ns >= MS,
                "{plan:?}: open {i}"
            );
            assert!(record.call_ns <= served.read_ns && served.answer_ns <= record.return_ns);
        }
        let workers = records
            .iter()
            .filter(|r| matches!(r.served.unwrap().answered_by, Answerer::Worker(_)))
            .count();
        let has_workers = esreplay_lab::plan::split(&plan).0.workers() > 0;
        assert_eq!(workers > 0, has_workers, "{plan:?}");
    }
}

#[test]
fn a_guard_answers_jobs_longer_than_the_budget_before_their_work_ends() {
    // 20 ms of work per open, a 30 ms budget, a 25 ms margin: the watchdog
    // answers each open at about 5 ms; inline keeps working meanwhile.
    let schedule = planned(6, 40 * MS, 20 * MS, Some(30 * MS));
    let Some(records) = try_run(&schedule, &guard(25 * MS, StrategySpec::Inline)) else {
        return;
    };
    for record in &records {
        let served = record.served.unwrap();
        assert_eq!(served.answered_by, Answerer::Guard, "{record:?}");
        assert_eq!(served.ran_on, Some(Answerer::Handler), "{record:?}");
    }
}

#[test]
fn an_error_is_not_permitted_only_for_fanotify_refusals() {
    let io = LabError::Io {
        what: "x".into(),
        source: std::io::Error::other("y"),
    };
    assert!(!io.is_not_permitted());
    assert!(!LabError::TimedOut.is_not_permitted());
}
