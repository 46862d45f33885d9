//! `esreplay lab`: runs each strategy for real (a fanotify permission
//! client with real threads and CPU-spin service times) against a load
//! generator following a `gen` scenario or a trace, then prints what the
//! stalled `open`s saw next to what the simulator predicts for the same
//! arrivals (`esreplay_lab::fidelity`). Linux and root only.
//!
//! Every open is an AUTH_OPEN: its deadline is its call time plus the
//! AUTH_OPEN budget (`--budget AUTH_OPEN=50ms`), and its service time is
//! the cost model's draw for the scheduled message (same seed, keyed by
//! global_seq), in the lab and in the prediction alike.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use esreplay_lab::{Costs, Planned};
use esreplay_simulator::{CostModel, SimConfig, StrategySpec, simulate};
use esreplay_traces::budget::BudgetTable;
use esreplay_traces::synth::GenOptions;
use esreplay_traces::{Action, EventType, Message, parse_duration_ns};

use super::{Durability, Output, refuse_same_file};
use crate::cli::{LabArgs, WorkArg};
use esreplay_lab::fidelity::{self, Fidelity, Observed};
use esreplay_lab::records;

/// More opens than this make a run too long for a lab (every one is real).
const MAX_OPENS: usize = 50_000;

/// Everything a run needs, validated before anything runs.
struct Setup {
    specs: Vec<(String, StrategySpec)>,
    schedule: Vec<Message>,
    planned: Vec<Planned>,
    cost: CostModel,
    given: (Option<u64>, Option<u64>),
    work: esreplay_lab::Work,
}

fn setup(args: &LabArgs) -> Result<Setup> {
    let specs = args
        .strategies
        .iter()
        .map(|text| {
            Ok((
                text.trim().to_owned(),
                text.parse().context("--strategies")?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let cost = CostModel::parse(&args.cost)
        .context("--cost")?
        .with_seed(args.seed);
    let budgets = BudgetTable::with_overrides(args.budgets.iter().map(String::as_str))?;
    let schedule = schedule(args)?;
    let planned = schedule
        .iter()
        .map(|m| {
            Ok(Planned {
                offset_ns: m.arrival_ns,
                service_ns: cost.service_ns(m)?,
                budget_ns: Some(budgets.budget_ns(m.event)),
            })
        })
        .collect::<Result<Vec<_>>>()
        .context("--cost")?;
    let duration = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(parse_duration_ns)
            .transpose()
            .with_context(|| format!("--{flag}"))
    };
    let given = (
        duration("transport", &args.transport)?,
        duration("response-latency", &args.response_latency)?,
    );
    let work = match args.work {
        WorkArg::Spin => esreplay_lab::Work::Spin,
        WorkArg::Yield => esreplay_lab::Work::Yield,
    };
    Ok(Setup {
        specs,
        schedule,
        planned,
        cost,
        given,
        work,
    })
}

/// The scheduled opens: the scenario's or the trace's first `--duration`
/// of arrivals, every one made an AUTH_OPEN, times from the first.
fn schedule(args: &LabArgs) -> Result<Vec<Message>> {
    let duration_ns = parse_duration_ns(&args.duration).context("--duration")?;
    let messages: Vec<Message> = match &args.trace {
        Some(path) => from_trace(path, duration_ns)?,
        None => {
            anyhow::ensure!(
                args.rate.is_finite() && args.rate > 0.0 && args.rate <= 100_000.0,
                "--rate must be a positive number of opens per second, at most 100000"
            );
            let options = GenOptions {
                seed: args.seed,
                duration_ns,
                rate_per_s: args.rate,
                paths: false,
                // The lab's opens carry no recorded work: its costs are
                // its own flags.
                record_service: false,
                ..GenOptions::new(super::gen_cmd::scenario(args.scenario))
            };
            options.messages().take(MAX_OPENS + 1).collect()
        }
    };
    if messages.len() > MAX_OPENS {
        bail!("more than {MAX_OPENS} opens: lower --rate or --duration");
    }
    let origin = messages.iter().map(|m| m.arrival_ns).min().unwrap_or(0);
    Ok(messages
        .into_iter()
        .map(|m| {
            let mut open = Message::new(m.global_seq, EventType::AUTH_OPEN, Action::Auth, 0);
            open.arrival_ns = m.arrival_ns - origin;
            open.service_ns = m.service_ns;
            open
        })
        .collect())
}

fn from_trace(path: &Path, duration_ns: u64) -> Result<Vec<Message>> {
    let mut reader = super::open_trace(path, false)?;
    let mut messages = Vec::new();
    let mut first = None;
    super::for_each_message(path, &mut reader, |message| {
        let start = *first.get_or_insert(message.arrival_ns);
        if message.arrival_ns.saturating_sub(start) < duration_ns && messages.len() <= MAX_OPENS {
            messages.push(message.clone());
        }
        Ok(())
    })?;
    Ok(messages)
}

/// Opener threads: enough for the largest backlog any strategy is
/// predicted to reach on the schedule, with a margin.
fn openers(setup: &Setup) -> Result<usize> {
    let mut most = 0;
    for (_, spec) in &setup.specs {
        let mut strategy = spec.build();
        let result = simulate(
            setup.schedule.iter().cloned(),
            &mut strategy,
            &setup.cost,
            &SimConfig::default(),
        )?;
        most = most.max(result.max_backlog);
    }
    Ok((most as usize * 5 / 4 + 16).clamp(8, 2048))
}

/// Runs the experiment.
pub fn run(args: &LabArgs) -> Result<ExitCode> {
    if let (Some(trace), Some(records)) = (&args.trace, &args.records) {
        refuse_same_file(&[trace], &[records])?;
    }
    let setup = setup(args)?;
    let openers = match args.openers {
        Some(n) => n.max(1),
        None => openers(&setup)?,
    };
    let mut runs = Vec::with_capacity(setup.specs.len());
    let mut log = args
        .records
        .as_deref()
        .map(|path| Output::create(path, Durability::Plain))
        .transpose()?;
    for (label, spec) in &setup.specs {
        eprintln!(
            "esreplay: lab: {label}: {} opens on {openers} opener threads",
            setup.planned.len()
        );
        let records = real_run(&setup, spec, openers).with_context(|| label.clone())?;
        if let Some(log) = log.as_mut() {
            records::write_records(log, label, &records, &setup.schedule)?;
        }
        runs.push(compare(&setup, label, spec, &records)?);
    }
    if let Some(log) = log {
        log.commit()?;
    }
    let mut out = Output::stdout();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&runs)?)?;
    } else {
        write!(out, "{}", fidelity::table(&runs))?;
    }
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}

fn compare(
    setup: &Setup,
    label: &str,
    spec: &StrategySpec,
    records: &[esreplay_lab::Record],
) -> Result<Fidelity> {
    let observed = Observed::new(records, &setup.schedule);
    let workers = spec.build().workers();
    let costs = Costs::measure(records, workers == 0);
    let config = fidelity::transport(&costs, setup.given, workers);
    let bare = SimConfig::default();
    Ok(Fidelity {
        strategy: label.to_owned(),
        transport_ns: config.transport_ns,
        response_latency_ns: config.response_latency_ns,
        delivery_samples: costs.delivery_samples,
        handler_overhead_ns: costs.handler_ns.unwrap_or(0),
        worker_overhead_ns: costs.worker_ns.filter(|_| workers > 0).unwrap_or(0),
        max_lateness_ns: esreplay_lab::max_lateness_ns(records),
        observed: observed.result(label, workers),
        predicted: observed.predict(spec, &setup.cost, &config, &costs)?,
        predicted_bare: observed.predict(spec, &setup.cost, &bare, &Costs::default())?,
    })
}

#[cfg(target_os = "linux")]
fn real_run(
    setup: &Setup,
    spec: &StrategySpec,
    openers: usize,
) -> Result<Vec<esreplay_lab::Record>> {
    let plan = fidelity::plan_of(spec);
    let mut experiment = esreplay_lab::Experiment::new(&setup.planned, &plan);
    experiment.openers = openers;
    experiment.work = setup.work;
    match esreplay_lab::run(&experiment) {
        Err(error) if error.is_not_permitted() => {
            bail!("esreplay lab needs root (CAP_SYS_ADMIN) for fanotify permission events: {error}")
        }
        other => Ok(other?),
    }
}

#[cfg(not(target_os = "linux"))]
fn real_run(setup: &Setup, spec: &StrategySpec, _: usize) -> Result<Vec<esreplay_lab::Record>> {
    let _unused_here = (fidelity::plan_of(spec), setup.work);
    bail!("esreplay lab needs Linux: it runs a real fanotify permission client")
}
