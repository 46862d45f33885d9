//! The conformance kit (feature `testing`): property-test a [`Strategy`],
//! your own included, against the contract the engine relies on.
//!
//! - [`arb_trace`] draws traces in kernel order that stress schedulers
//!   (ties, bursts, floods, zero and overlong services, past deadlines,
//!   times near `u64::MAX`, threads for closed replay), knobs in
//!   [`TraceConfig`];
//! - [`check_strategy`] runs a strategy through the engine on one trace,
//!   in open replay and, when the trace has threads, closed replay, with
//!   unlimited cores and on shared cores, twice each, and checks every
//!   [`Rule`]; a broken one is a [`Violation`];
//! - [`conformance_tests!`](crate::conformance_tests) expands to proptest
//!   tests of `check_strategy` over several trace mixes and settings.
//!
//! ```
//! use esreplay_simulator::strategy::FifoPool;
//! use esreplay_simulator::testing::{arb_trace, check_strategy, TraceConfig};
//! use esreplay_simulator::SimConfig;
//! use proptest::strategy::{Strategy, ValueTree};
//!
//! let mut runner = proptest::test_runner::TestRunner::deterministic();
//! let trace = arb_trace(TraceConfig::default()).new_tree(&mut runner).unwrap().current();
//! check_strategy(|| FifoPool::new(2), &trace, &SimConfig::default()).unwrap();
//! ```
//!
//! docs/testing.md walks through testing a strategy in a crate of your
//! own, explains each rule, and lists properties that look true but are
//! not.

mod recorder;
mod rules;
mod trace;
mod violation;

pub use proptest;
pub use trace::{TraceConfig, arb_trace};
pub use violation::{Rule, Violation};

use esreplay_traces::Message;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use crate::cost::CostModel;
use crate::engine::{
    GuardTimer, MissMode, Outcome, ReplayMode, SimConfig, SimError, has_thread, simulate_observed,
};
use crate::report::SimResult;
use crate::strategy::Strategy;
use recorder::{Decision, Recorder};
use rules::{RunFacts, check_outcomes};

/// One run's record.
struct Run {
    log: Vec<Decision>,
    outcomes: Vec<Outcome>,
    result: SimResult,
}

/// Runs the strategy `make` builds through the engine on `messages` and
/// checks the [`Rule`]s.
///
/// Each message needs a service time (the cost model is `trace`:
/// [`arb_trace`] sets them). The runs: `config` in open replay; when some
/// message has a thread id and `config.replay` is not open, also in closed
/// replay; each of those with `config`'s CPU and, if it has no `--cores`,
/// on one shared core too (or, if it has, with unlimited cores). Every
/// run happens twice, with two strategies fresh from `make`, for
/// determinism. The first rule broken is returned.
pub fn check_strategy<S: Strategy>(
    make: impl Fn() -> S,
    messages: &[Message],
    config: &SimConfig,
) -> Result<(), Violation> {
    let name = make().name();
    for (run, settings) in variants(messages, config) {
        let within = |v: Violation| v.within(&name, &run);
        let first = run_once(&make, messages, &settings).map_err(within)?;
        let second = run_once(&make, messages, &settings).map_err(within)?;
        same(&first, &second).map_err(within)?;
    }
    Ok(())
}

/// The settings `check_strategy` runs, with a description of each.
fn variants(messages: &[Message], config: &SimConfig) -> Vec<(String, SimConfig)> {
    let mut replays = vec![("open replay", ReplayMode::Open)];
    if config.replay != ReplayMode::Open && messages.iter().any(has_thread) {
        replays.push(("closed replay", config.replay));
    }
    let mut other_cpu = config.cpu.clone();
    other_cpu.cores_milli = match config.cpu.cores_milli {
        Some(_) => None,
        None => Some(1_000),
    };
    let mut runs = Vec::new();
    for (replay_name, replay) in replays {
        for cpu in [&config.cpu, &other_cpu] {
            let cores = match cpu.cores_milli {
                None => "unlimited cores".to_string(),
                Some(1_000) => "1 core".to_string(),
                Some(c) => format!("{} cores", c as f64 / 1000.0),
            };
            let settings = SimConfig {
                replay,
                cpu: cpu.clone(),
                ..config.clone()
            };
            runs.push((format!("{replay_name}, {cores}"), settings));
        }
    }
    runs
}

/// One run, checked.
fn run_once<S: Strategy>(
    make: &impl Fn() -> S,
    messages: &[Message],
    config: &SimConfig,
) -> Result<Run, Violation> {
    let mut recorder = Recorder::new(make());
    let mut outcomes = Vec::new();
    let source = messages
        .iter()
        .cloned()
        .map(Ok::<_, std::convert::Infallible>);
    let cost = CostModel::trace();
    let observe = |o: &Outcome| outcomes.push(*o);
    let result = simulate_observed(source, &mut recorder, &cost, config, observe);
    outcomes.sort_by_key(|o| o.index);
    let answered = |index: u64| outcomes.binary_search_by_key(&index, |o| o.index).is_ok();
    recorder.finish(answered);
    if let Some(violation) = recorder.violation.take() {
        return Err(violation);
    }
    let result = result.map_err(engine_error)?;
    let facts = RunFacts {
        config,
        workers: recorder.workers(),
        plans: &recorder.plans,
    };
    check_outcomes(messages.len(), &outcomes, &result, &facts)?;
    Ok(Run {
        log: recorder.log,
        outcomes,
        result,
    })
}

/// An engine error the recorder did not explain first.
fn engine_error(error: SimError) -> Violation {
    let (rule, message) = match &error {
        SimError::NoWorkers(_) => (Rule::Workers, None),
        SimError::TicketTwice { index, .. } => (Rule::TicketTwice, Some(*index)),
        SimError::Unfinished(..) => (Rule::NeverReturned, None),
        _ => (Rule::EngineError, None),
    };
    Violation::new(
        rule,
        message,
        "the trace is valid",
        format!("the engine stopped: {error}"),
    )
}

/// Two runs of fresh strategies must agree, decision by decision.
fn same(first: &Run, second: &Run) -> Result<(), Violation> {
    let diverge = first.log.iter().zip(&second.log).position(|(a, b)| a != b);
    let position = diverge.or_else(|| {
        (first.log.len() != second.log.len()).then(|| first.log.len().min(second.log.len()))
    });
    if let Some(at) = position {
        let describe = |log: &[Decision]| {
            log.get(at)
                .map_or("made no further decision".to_string(), Decision::describe)
        };
        let message = [&first.log, &second.log]
            .iter()
            .find_map(|log| match log.get(at) {
                Some(Decision::Plan { index, .. }) => Some(*index),
                Some(Decision::Next { ticket, .. }) => *ticket,
                None => None,
            });
        return Err(Violation::new(
            Rule::Determinism,
            message,
            format!("in a first run, decision {at}: {}", describe(&first.log)),
            format!("in a second run: {}", describe(&second.log)),
        ));
    }
    let differ = first
        .outcomes
        .iter()
        .zip(&second.outcomes)
        .find(|(a, b)| a != b);
    if let Some((a, b)) = differ {
        return Err(Violation::new(
            Rule::Determinism,
            Some(a.index),
            format!("a first run gave {a:?}"),
            format!("a second run gave {b:?}"),
        ));
    }
    let (a, b) = (first.result.to_json(), second.result.to_json());
    if a != b {
        return Err(Violation::new(
            Rule::Determinism,
            None,
            format!("a first run's result was {a}"),
            format!("a second run's was {b}"),
        ));
    }
    Ok(())
}

/// Settings [`conformance_tests!`](crate::conformance_tests) runs: τ, ρ
/// and c_h zero, then the client overheads with fail-open, then a small
/// kernel queue with fail-closed, 1.5 cores and GCD's timer leeway.
pub fn sim_configs() -> Vec<(&'static str, SimConfig)> {
    let overheads = SimConfig {
        transport_ns: 3,
        response_latency_ns: 2,
        handoff_ns: 4,
        handler_overhead_ns: 1,
        worker_overhead_ns: 3,
        miss_mode: MissMode::FailOpen,
        ..SimConfig::default()
    };
    let mut machine = SimConfig {
        kernel_queue: Some(3),
        miss_mode: MissMode::FailClosed,
        guard_timer: GuardTimer::Dispatch,
        handoff_ns: 2,
        ..SimConfig::default()
    };
    machine.cpu.cores_milli = Some(1_500);
    vec![
        ("plain", SimConfig::default()),
        ("overheads", overheads),
        ("machine", machine),
    ]
}

/// Runs `check_strategy` on `cases` traces drawn by `arb_trace(traces)`
/// under `config`, and panics with the smallest failing trace's
/// violation. What the tests of [`conformance_tests!`](crate::conformance_tests) call.
pub fn run_conformance<S: Strategy>(
    make: impl Fn() -> S,
    traces: TraceConfig,
    config: &SimConfig,
    cases: u32,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&arb_trace(traces), |messages| {
        check_strategy(&make, &messages, config).map_err(|v| TestCaseError::fail(v.to_string()))
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, trace)) => {
            panic!("{reason}\n{}", describe_trace(&trace))
        }
        Err(TestError::Abort(reason)) => panic!("conformance run aborted: {reason}"),
    }
}

/// The trace, one line per message, for a failure's report.
pub fn describe_trace(messages: &[Message]) -> String {
    let mut text = format!(
        "the smallest trace that shows it, {} message(s):",
        messages.len()
    );
    for (index, m) in messages.iter().enumerate() {
        let ns = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v} ns"));
        let thread = m.thread_id;
        text += &format!(
            "\n  #{index} {} global_seq {} arrival {} ns deadline {} service {} pid {} thread {}",
            m.event,
            m.global_seq,
            m.arrival_ns,
            ns(m.deadline_ns),
            ns(m.service_ns),
            m.pid.map_or("-".to_string(), |p| p.to_string()),
            thread.map_or("-".to_string(), |t| t.to_string()),
        );
    }
    text
}

/// Expands to a module `$name` of conformance tests for the strategy
/// `$make` (a closure returning a fresh one): [`check_strategy`] over
/// traces of [`TraceConfig::default`], [`TraceConfig::overload`] and
/// [`TraceConfig::edges`], under each of [`sim_configs`]. `cases` (default
/// 64) is the number of traces per test.
///
/// ```ignore
/// esreplay_simulator::conformance_tests!(my_pool, || MyPool::new(4));
/// esreplay_simulator::conformance_tests!(my_pool_long, || MyPool::new(4), cases = 1000);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($name:ident, $make:expr) => {
        $crate::conformance_tests!($name, $make, cases = 64);
    };
    ($name:ident, $make:expr, cases = $cases:expr) => {
        #[cfg(test)]
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::testing::{TraceConfig, run_conformance, sim_configs};

            fn each(traces: TraceConfig) {
                for (_, config) in sim_configs() {
                    run_conformance($make, traces.clone(), &config, $cases);
                }
            }

            #[test]
            fn mixed_traces() {
                each(TraceConfig::default());
            }

            #[test]
            fn overload() {
                each(TraceConfig::overload());
            }

            #[test]
            fn edge_cases() {
                each(TraceConfig::edges());
            }
        }
    };
}

#[cfg(test)]
mod tests;
