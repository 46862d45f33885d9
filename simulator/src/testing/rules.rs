//! The engine-side rules, checked on a run's outcomes and result: each
//! message settled once, workers exclusive, causality, default answers,
//! accounting.

use std::collections::HashMap;

use super::violation::{Rule, Violation};
use crate::engine::{GuardTimer, Outcome, SimConfig};
use crate::report::SimResult;
use crate::strategy::Time;

/// What the rules need to know about a run besides its outcomes.
pub(crate) struct RunFacts<'a> {
    pub(crate) config: &'a SimConfig,
    pub(crate) workers: u32,
    /// Each message's take and planned watchdog.
    pub(crate) plans: &'a HashMap<u64, (Time, Option<Time>)>,
}

/// Checks every engine-side rule; `outcomes` sorted by stream position.
pub(crate) fn check_outcomes(
    messages: usize,
    outcomes: &[Outcome],
    result: &SimResult,
    facts: &RunFacts<'_>,
) -> Result<(), Violation> {
    answered_once(messages, outcomes)?;
    for outcome in outcomes.iter().filter(|o| !o.dropped) {
        causality(outcome, facts.config)?;
        default_answer(outcome, facts)?;
    }
    workers_exclusive(outcomes, facts.workers)?;
    accounting(outcomes, result)
}

fn answered_once(messages: usize, outcomes: &[Outcome]) -> Result<(), Violation> {
    for (position, outcome) in outcomes.iter().enumerate() {
        let index = position as u64;
        if outcome.index != index {
            let (message, second) = if outcome.index < index {
                (outcome.index, "the engine reported it a second time")
            } else {
                (index, "the engine never reported an outcome for it")
            };
            return Err(Violation::new(
                Rule::AnsweredOnce,
                Some(message),
                "the message was in the trace",
                second,
            ));
        }
    }
    if outcomes.len() != messages {
        return Err(Violation::new(
            Rule::AnsweredOnce,
            Some(outcomes.len() as u64),
            format!("the trace has {messages} messages"),
            format!("the engine reported {} outcomes", outcomes.len()),
        ));
    }
    Ok(())
}

fn causality(o: &Outcome, config: &SimConfig) -> Result<(), Violation> {
    let fail = |first: String, second: String| {
        Err(Violation::new(
            Rule::Causality,
            Some(o.index),
            first,
            second,
        ))
    };
    if o.handler_ns < o.arrival_ns {
        return fail(
            format!("it arrived at {} ns", o.arrival_ns),
            format!("the handler took it at {} ns", o.handler_ns),
        );
    }
    if let Some(start) = o.start_ns.filter(|&s| s < o.handler_ns) {
        return fail(
            format!("the handler took it at {} ns", o.handler_ns),
            format!("its work started at {start} ns"),
        );
    }
    let (Some(start), Some(finish)) = (o.start_ns, o.finish_ns) else {
        return Ok(());
    };
    let overhead = o.worker.map_or(0, |_| config.worker_overhead_ns);
    let work = o.service_ns.saturating_add(overhead);
    let full_speed = config.cpu.cores_milli.is_none();
    if finish < start || (full_speed && finish != start.saturating_add(work)) {
        return fail(
            format!("its work ({work} ns) started at {start} ns at full speed"),
            format!("it finished at {finish} ns"),
        );
    }
    let answer = finish.saturating_add(config.response_latency_ns);
    if !o.defaulted && o.response_ns != answer {
        return fail(
            format!("its work finished at {finish} ns (answer {answer} ns with ρ)"),
            format!("its answer came at {} ns", o.response_ns),
        );
    }
    Ok(())
}

fn default_answer(o: &Outcome, facts: &RunFacts<'_>) -> Result<(), Violation> {
    let (taken, watchdog) = facts.plans.get(&o.index).copied().unwrap_or_default();
    let fail = |first: String, second: &str| {
        Err(Violation::new(
            Rule::DefaultAnswer,
            Some(o.index),
            first,
            second,
        ))
    };
    match (o.defaulted, watchdog) {
        (true, None) => fail(
            "its plan armed no watchdog".into(),
            "it was answered with the default verdict",
        ),
        (false, _) if o.start_ns.is_none() => fail(
            "its job never ran".into(),
            "it was not answered with the default verdict",
        ),
        (true, Some(at)) if facts.config.guard_timer == GuardTimer::Exact => {
            let rho = facts.config.response_latency_ns;
            let expected = at.max(taken).plus_ns(rho).ceil_ns();
            if o.response_ns == expected {
                return Ok(());
            }
            fail(
                format!(
                    "its watchdog was due at {} ns (answer {expected} ns with ρ)",
                    at.ceil_ns()
                ),
                &format!("its default answer came at {} ns", o.response_ns),
            )
        }
        _ => Ok(()),
    }
}

fn workers_exclusive(outcomes: &[Outcome], workers: u32) -> Result<(), Violation> {
    let mut jobs: Vec<(u32, u64, u64, u64)> = Vec::new();
    for o in outcomes {
        let (Some(worker), Some(start), Some(finish)) = (o.worker, o.start_ns, o.finish_ns) else {
            continue;
        };
        if worker >= workers {
            return Err(Violation::new(
                Rule::WorkerExclusive,
                Some(o.index),
                format!("the strategy has {workers} workers"),
                format!("the job ran on worker {worker}"),
            ));
        }
        jobs.push((worker, start, finish, o.index));
    }
    jobs.sort_unstable();
    for pair in jobs.windows(2) {
        let ((w, s0, f0, i0), (w1, s1, _, i1)) = (pair[0], pair[1]);
        if w == w1 && s1 < f0 {
            return Err(Violation::new(
                Rule::WorkerExclusive,
                Some(i1),
                format!("worker {w} ran message #{i0} from {s0} to {f0} ns"),
                format!("it started this message's job at {s1} ns"),
            ));
        }
    }
    Ok(())
}

fn accounting(outcomes: &[Outcome], result: &SimResult) -> Result<(), Violation> {
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count() as u64;
    let checks = [
        ("messages", outcomes.len() as u64, result.messages),
        ("misses", count(|o| o.missed), result.misses),
        (
            "defaulted answers",
            count(|o| o.defaulted),
            result.defaulted,
        ),
    ];
    for (what, seen, reported) in checks {
        if seen != reported {
            return Err(Violation::new(
                Rule::Accounting,
                None,
                format!("the outcomes hold {seen} {what}"),
                format!("the result reports {reported}"),
            ));
        }
    }
    let utilization = result.worker_utilization.unwrap_or(0.0);
    if utilization > 1.0 + 1e-9 {
        return Err(Violation::new(
            Rule::Accounting,
            None,
            "workers can be busy at most all the time",
            format!("the result reports a worker utilization of {utilization}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use esreplay_traces::{Action, EventType};

    fn on_worker(index: u64, worker: u32, start: u64, finish: u64) -> Outcome {
        Outcome {
            index,
            global_seq: index,
            event: EventType::AUTH_OPEN,
            action: Action::Auth,
            arrival_ns: 0,
            recorded_arrival_ns: 0,
            deadline_ns: None,
            service_ns: finish - start,
            handler_ns: 0,
            start_ns: Some(start),
            finish_ns: Some(finish),
            response_ns: finish,
            unblocked_ns: finish,
            defaulted: false,
            missed: false,
            worker: Some(worker),
            dropped: false,
            cached: false,
        }
    }

    // The engine assigns workers, so no strategy can make it overlap jobs
    // or use a bad worker id; these outcomes are made up to show the rule
    // would catch it.
    #[test]
    fn overlapping_jobs_and_bad_worker_ids_break_worker_exclusive() {
        let overlap = [on_worker(0, 1, 0, 10), on_worker(1, 1, 5, 8)];
        let error = workers_exclusive(&overlap, 2).unwrap_err();
        assert_eq!(
            (error.rule, error.message),
            (Rule::WorkerExclusive, Some(1))
        );
        assert!(error.first.contains("worker 1 ran message #0 from 0 to 10"));
        let back_to_back = [on_worker(0, 1, 0, 10), on_worker(1, 1, 10, 10)];
        assert!(workers_exclusive(&back_to_back, 2).is_ok());
        let error = workers_exclusive(&[on_worker(0, 2, 0, 1)], 2).unwrap_err();
        assert_eq!(error.rule, Rule::WorkerExclusive);
    }

    #[test]
    fn a_missing_or_repeated_outcome_breaks_answered_once() {
        let twice = [on_worker(0, 0, 0, 1), on_worker(0, 0, 0, 1)];
        assert_eq!(answered_once(2, &twice).unwrap_err().message, Some(0));
        let missing = [on_worker(1, 0, 0, 1)];
        assert_eq!(answered_once(2, &missing).unwrap_err().message, Some(0));
        assert_eq!(answered_once(2, &twice[..1]).unwrap_err().message, Some(1));
    }

    #[test]
    fn a_job_that_ends_early_breaks_causality() {
        let mut early = on_worker(0, 0, 10, 20);
        early.service_ns = 15;
        let error = causality(&early, &SimConfig::default()).unwrap_err();
        assert_eq!(error.rule, Rule::Causality);
    }
}
