//! Short real lab experiments (Linux, root) that check only what theory
//! guarantees, never a wall-clock figure: every stall covers the CPU work;
//! in a closed loop a thread never has two opens outstanding and waits its
//! think time after each return; a job sharing its single CPU with a hog
//! still gets its CPU work done (wall time ≥ CPU work); the queue-limit
//! guard restores the sysctl. Every wait has a timeout: the lab gives up
//! (and allows every pending open) after its own.
//!
//! Without permission (not root, not Linux) each test says why it skips
//! and passes, unless `ESREPLAY_REQUIRE_ROOT=1` (CI) makes that a failure.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;

const MS: u64 = 1_000_000;
/// Real experiments spin real CPU: one at a time, or they starve each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Skips (or, under `ESREPLAY_REQUIRE_ROOT=1`, fails) with `why`.
fn skip(why: &str) {
    let required = std::env::var("ESREPLAY_REQUIRE_ROOT").is_ok_and(|v| v == "1");
    assert!(!required, "ESREPLAY_REQUIRE_ROOT=1 but: {why}");
    eprintln!("skipped: {why}");
}

#[cfg(target_os = "linux")]
mod real {
    use super::*;
    use esreplay_lab::{Answerer, Experiment, Observation, Planned, Work, observe};
    use esreplay_simulator::StrategySpec;

    fn planned(opens: u64, gap_ns: u64, service_ns: u64) -> Vec<Planned> {
        (0..opens)
            .map(|i| Planned {
                offset_ns: i * gap_ns,
                service_ns,
                budget_ns: None,
            })
            .collect()
    }

    /// Runs `experiment`, or `None` (after [`skip`]) where not permitted.
    fn run(experiment: &Experiment) -> Option<Observation> {
        match observe(experiment) {
            Ok(observation) => Some(observation),
            Err(error) if error.is_not_permitted() => {
                skip(&format!(
                    "fanotify permission events are not permitted here ({error})"
                ));
                None
            }
            Err(error) => panic!("{error}"),
        }
    }

    fn stalls_cover_the_work(observation: &Observation, service_ns: u64) {
        for record in &observation.records {
            let Some(served) = record.served else {
                continue; // dropped by a full queue: nothing ran
            };
            let stall = record.return_ns - record.call_ns;
            if served.answered_by != Answerer::Guard {
                assert!(
                    stall >= service_ns,
                    "open {} stalled {stall} ns",
                    record.index
                );
            }
        }
    }

    #[test]
    fn a_closed_loop_thread_never_has_two_opens_outstanding() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        // 8 threads, 240 opens 1 ms apart in the schedule (each thread's
        // think time: 8 ms), 2 ms of CPU each on inline: the threads slow
        // down to the client's pace.
        let schedule = planned(240, MS, 2 * MS);
        let threads: Vec<u32> = (0..240).map(|i| i % 8).collect();
        let plan = StrategySpec::Inline;
        let mut experiment = Experiment::new(&schedule, &plan);
        experiment.threads = Some(&threads);
        experiment.work = Work::Cpu;
        experiment.timeout = Duration::from_secs(20);
        let Some(observation) = run(&experiment) else {
            return;
        };
        assert_eq!(observation.records.len(), schedule.len());
        stalls_cover_the_work(&observation, 2 * MS);
        for thread in 0..8 {
            let mine: Vec<_> = observation
                .records
                .iter()
                .filter(|r| threads[r.index] == thread)
                .collect();
            for pair in mine.windows(2) {
                let (previous, next) = (pair[0], pair[1]);
                let think = schedule[next.index].offset_ns - schedule[previous.index].offset_ns;
                assert!(next.call_ns >= previous.return_ns + think, "{pair:?}");
                assert_eq!(next.due_ns, previous.return_ns + think);
            }
        }
    }

    #[test]
    fn a_hog_on_the_clients_only_cpu_leaves_every_job_its_cpu_work() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let schedule = planned(40, 10 * MS, 3 * MS);
        let plan = StrategySpec::Pool(2);
        let observation = std::thread::scope(|scope| {
            // A thread of its own: the pinning stays with it.
            scope
                .spawn(|| {
                    esreplay_lab::cpu::pin_current_thread(&[0]).unwrap();
                    let hogs = esreplay_lab::cpu::Hogs::start(1).unwrap();
                    let mut experiment = Experiment::new(&schedule, &plan);
                    experiment.work = Work::Cpu;
                    experiment.hogs = hogs.pids();
                    experiment.sample_every = Some(Duration::from_millis(20));
                    experiment.timeout = Duration::from_secs(20);
                    run(&experiment)
                })
                .join()
                .unwrap()
        });
        let Some(observation) = observation else {
            return;
        };
        stalls_cover_the_work(&observation, 3 * MS);
        for record in &observation.records {
            let served = record.served.expect("no queue limit: every open is seen");
            let (start, finish) = (served.start_ns.unwrap(), served.finish_ns.unwrap());
            assert!(finish - start >= 3 * MS, "{record:?}");
        }
        // The sampler takes a sample before it checks for the end.
        assert!(!observation.background.is_empty());
    }

    #[test]
    fn a_lowered_queue_limit_is_restored_and_every_open_returns() {
        use esreplay_lab::kernel_queue::current_limit;
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let before = current_limit();
        // 32 threads opening back to back on inline with 2 ms jobs and a
        // queue of 4: most opens find the queue full.
        let schedule = planned(320, 0, 2 * MS);
        let threads: Vec<u32> = (0..320).map(|i| i % 32).collect();
        let plan = StrategySpec::Inline;
        let mut experiment = Experiment::new(&schedule, &plan);
        experiment.threads = Some(&threads);
        experiment.kernel_queue = Some(4);
        experiment.timeout = Duration::from_secs(20);
        let observation = run(&experiment);
        assert_eq!(current_limit(), before, "the sysctl was not restored");
        let Some(observation) = observation else {
            return;
        };
        assert_eq!(observation.records.len(), schedule.len());
        stalls_cover_the_work(&observation, 2 * MS);
    }
}

/// The command end to end: one short closed-loop run per strategy,
/// predicted next to observed, as JSON.
#[test]
fn the_lab_command_prints_predicted_next_to_observed() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let output = esreplay_tests::esreplay()
        .args(["lab", "--scenario", "steady", "--rate", "100"])
        .args(["--duration", "1s", "--replay", "closed", "--threads", "4"])
        .args(["--cost", "const:1ms", "--budget", "AUTH_OPEN=50ms"])
        .args(["--work", "cpu", "--strategies", "inline,pool:2", "--json"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        let why = ["needs root", "needs Linux"];
        assert!(why.iter().any(|w| stderr.contains(w)), "{stderr}");
        skip(&stderr);
        return;
    }
    let runs: Value = serde_json::from_slice(&output.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (run, name) in runs.iter().zip(["inline", "pool:2"]) {
        assert_eq!(run["strategy"], name);
        assert_eq!(run["conditions"]["replay"], "closed");
        assert_eq!(run["conditions"]["threads"], 4);
        let (observed, predicted) = (&run["observed"], &run["predicted"]);
        assert!(observed["messages"].as_u64().unwrap() > 0);
        assert_eq!(observed["messages"], predicted["messages"]);
        // Every stall covers the 1 ms of work, observed and predicted.
        assert!(observed["latency_ns"]["p50"].as_u64().unwrap() >= MS);
        assert!(predicted["latency_ns"]["p50"].as_u64().unwrap() >= MS);
    }
}
