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
//!
//! `--replay closed` gives each schedule thread an opener of its own;
//! `--kernel-queue N` lowers fanotify's queue limit for the run's group;
//! `--hog N` and `--cpus LIST` make CPU contention ([`cpu`]);
//! `--calibrate` writes a machine file ([`calibrate`]).

mod calibrate;
mod cpu;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use esreplay_lab::{Costs, Observation, Planned};
use esreplay_simulator::engine::cpu::Sharing;
use esreplay_simulator::engine::machine::Machine as MachineFile;
use esreplay_simulator::{CostModel, ReplayMode, SimConfig, StrategySpec, simulate};
use esreplay_traces::budget::BudgetTable;
use esreplay_traces::synth::GenOptions;
use esreplay_traces::{Action, EventType, Message, parse_duration_ns};

use super::{Durability, Output, refuse_same_file};
use crate::cli::{LabArgs, LabLoop, WorkArg};
use esreplay_lab::fidelity::{self, Conditions, Fidelity, Observed};
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
    /// Closed loop: the schedule thread (dense, from 0) of each open.
    threads: Option<Vec<u32>>,
    kernel_queue: Option<u32>,
    cpu: cpu::CpuPlan,
    /// `--machine`: costs for the prediction instead of the run's own.
    machine_file: Option<MachineFile>,
}

fn setup(args: &LabArgs) -> Result<Setup> {
    let strategies = match args.calibrate {
        true => calibrate::STRATEGIES.map(str::to_owned).to_vec(),
        false => args.strategies.clone(),
    };
    let specs = strategies
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
    let mut schedule = schedule(args)?;
    let threads = match args.replay {
        LabLoop::Open => None,
        LabLoop::Closed => Some(thread_of_each(&mut schedule, args.threads)?),
    };
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
    for (message, planned) in schedule.iter_mut().zip(&planned) {
        message.deadline_ns = planned.budget_ns.map(|b| message.arrival_ns + b);
    }
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
        WorkArg::Cpu => esreplay_lab::Work::Cpu,
    };
    if args.kernel_queue == Some(0) {
        bail!("--kernel-queue must be at least 1");
    }
    Ok(Setup {
        specs,
        schedule,
        planned,
        cost,
        given,
        work,
        threads,
        kernel_queue: args.kernel_queue,
        cpu: cpu::CpuPlan::parse(args)?,
        machine_file: args.machine.as_deref().map(machine_file).transpose()?,
    })
}

fn machine_file(path: &Path) -> Result<MachineFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--machine: cannot read {}", path.display()))?;
    MachineFile::parse(&text).with_context(|| format!("--machine {}", path.display()))
}

/// The scheduled opens: the scenario's or the trace's AUTH messages in
/// the first `--duration` of arrivals (NOTIFY messages block nobody), each
/// made an AUTH_OPEN, times from the first; each keeps its process and
/// thread ids.
fn schedule(args: &LabArgs) -> Result<Vec<Message>> {
    let default = if args.calibrate { "3s" } else { "10s" };
    let duration = args.duration.as_deref().unwrap_or(default);
    let duration_ns = parse_duration_ns(duration).context("--duration")?;
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
                threads: args.threads.unwrap_or(64),
                ..GenOptions::new(args.scenario)
            };
            options
                .messages()
                .filter(|m| m.action == Action::Auth)
                .take(MAX_OPENS + 1)
                .collect()
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
            open.pid = m.pid;
            open.thread_id = m.thread_id;
            open
        })
        .collect())
}

/// The closed loop's threads: each message's (pid, thread id) where every
/// message has one (the `build`, `app-launch` and `thread-flood`
/// scenarios, recordings with threads); otherwise `--threads N` splits the
/// schedule round-robin (and writes those thread ids into the messages,
/// for the prediction).
fn thread_of_each(schedule: &mut [Message], split: Option<u32>) -> Result<Vec<u32>> {
    let has_thread = |m: &Message| m.thread_id.is_some();
    if let (false, Some(n)) = (schedule.iter().all(has_thread), split) {
        anyhow::ensure!(n > 0, "--threads must be at least 1");
        return Ok(schedule
            .iter_mut()
            .enumerate()
            .map(|(i, message)| {
                let thread = (i % n as usize) as u32;
                message.pid = Some(1);
                message.thread_id = Some(u64::from(thread));
                thread
            })
            .collect());
    }
    let mut dense: BTreeMap<(Option<u32>, u64), u32> = BTreeMap::new();
    schedule
        .iter()
        .map(|message| {
            let Some(thread_id) = message.thread_id else {
                bail!(
                    "--replay closed: message {} has no thread id; give --threads N to split the schedule into N threads, or use a scenario with threads (build, app-launch, thread-flood)",
                    message.global_seq
                );
            };
            let next = dense.len() as u32;
            Ok(*dense.entry((message.pid, thread_id)).or_insert(next))
        })
        .collect()
}

fn from_trace(path: &Path, duration_ns: u64) -> Result<Vec<Message>> {
    let reader = super::open_trace(path, false)?;
    let mut messages = Vec::new();
    let mut first = None;
    super::for_each_message(path, reader, |message| {
        let start = *first.get_or_insert(message.arrival_ns);
        if message.arrival_ns.saturating_sub(start) < duration_ns && messages.len() <= MAX_OPENS {
            messages.push(message.clone());
        }
        Ok(())
    })?;
    Ok(messages)
}

/// Opener threads (open loop): enough for the largest backlog any
/// strategy is predicted to reach on the schedule, with a margin.
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
    if args.calibrate {
        return calibrate::run(args);
    }
    let setup = setup(args)?;
    let openers = match (&setup.threads, args.openers) {
        (Some(threads), _) => threads.iter().max().map_or(0, |&t| t as usize + 1),
        (None, Some(n)) => n.max(1),
        (None, None) => openers(&setup)?,
    };
    let mut log = args
        .records
        .as_deref()
        .map(|path| Output::create(path, Durability::Plain))
        .transpose()?;
    let mut groups: Vec<Vec<Fidelity>> = vec![Vec::new(); setup.specs.len()];
    for round in 0..args.repeat.max(1) {
        if args.repeat > 1 {
            eprintln!("esreplay: lab: round {} of {}", round + 1, args.repeat);
        }
        let runs = run_all(&setup, openers, log.as_mut().map(|l| l as &mut dyn Write))?;
        for (group, run) in groups.iter_mut().zip(runs) {
            group.push(run);
        }
    }
    if let Some(log) = log {
        log.commit()?;
    }
    let runs: Vec<Fidelity> = groups.iter().flatten().cloned().collect();
    let mut out = Output::stdout();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&runs)?)?;
    } else if args.markdown {
        write!(out, "{}", esreplay_lab::summary::markdown(&groups))?;
    } else {
        write!(out, "{}", fidelity::table(&runs))?;
    }
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}

/// Every strategy in turn, pinned and with the hogs running throughout.
fn run_all(
    setup: &Setup,
    openers: usize,
    mut log: Option<&mut (dyn Write + '_)>,
) -> Result<Vec<Fidelity>> {
    let machine = cpu::Machine::start(&setup.cpu)?;
    let mut runs = Vec::with_capacity(setup.specs.len());
    for (label, spec) in &setup.specs {
        let how = match setup.threads {
            Some(_) => "threads (closed loop)",
            None => "opener threads",
        };
        eprintln!(
            "esreplay: lab: {label}: {} opens on {openers} {how}",
            setup.planned.len()
        );
        let observation = machine
            .observe(setup, spec, openers)
            .with_context(|| label.clone())?;
        if let Some(log) = log.as_mut() {
            records::write_records(*log, label, &observation.records, &setup.schedule)?;
        }
        runs.push(compare(setup, &machine, label, spec, &observation)?);
    }
    Ok(runs)
}

fn compare(
    setup: &Setup,
    machine: &cpu::Machine,
    label: &str,
    spec: &StrategySpec,
    observation: &Observation,
) -> Result<Fidelity> {
    let records = &observation.records;
    let observed = Observed::new(records, &setup.schedule);
    let workers = spec.build().workers();
    let costs = Costs::measure(records, workers == 0);
    let calibrated = match &setup.machine_file {
        Some(file) => from_machine_file(file, setup.given),
        None => fidelity::transport(&costs, setup.given, workers),
    };
    let closed = setup.threads.is_some();
    // The prediction's zero: the schedule's (closed: open 0 was due at
    // it), or the first real call (open: the real arrivals are replayed).
    let origin = match closed {
        true => records.first().map_or(0, |r| r.due_ns),
        false => observed.origin_ns(),
    };
    let cpu = fidelity::cpu_config(machine.cores(), &observation.background, origin);
    let replay = if closed {
        ReplayMode::Closed
    } else {
        ReplayMode::Open
    };
    let shape = |base: &SimConfig, replay: ReplayMode, with_cpu: bool| SimConfig {
        replay,
        kernel_queue: setup.kernel_queue.map(u64::from),
        cpu: cpu.clone().filter(|_| with_cpu).unwrap_or_default(),
        ..base.clone()
    };
    let predict = |config: SimConfig| match closed {
        true => fidelity::predict_schedule(&setup.schedule, spec, &setup.cost, &config),
        false => observed.predict(spec, &setup.cost, &config),
    };
    let predicted = predict(shape(&calibrated, replay, true))?;
    let predicted_no_cpu = cpu
        .is_some()
        .then(|| predict(shape(&calibrated, replay, false)))
        .transpose()?;
    let predicted_fluid = (cpu.is_some() && machine.cores() > 1)
        .then(|| {
            let mut config = shape(&calibrated, replay, true);
            config.cpu.sharing = Sharing::Fluid;
            predict(config)
        })
        .transpose()?;
    let open = shape(&calibrated, ReplayMode::Open, true);
    let predicted_open = closed
        .then(|| fidelity::predict_schedule(&setup.schedule, spec, &setup.cost, &open))
        .transpose()?;
    Ok(Fidelity {
        strategy: label.to_owned(),
        transport_ns: calibrated.transport_ns,
        response_latency_ns: calibrated.response_latency_ns,
        delivery_samples: costs.delivery_samples,
        handler_overhead_ns: calibrated.handler_overhead_ns + calibrated.handoff_ns,
        worker_overhead_ns: calibrated.worker_overhead_ns,
        max_lateness_ns: esreplay_lab::max_lateness_ns(records),
        conditions: conditions(setup, machine, observation),
        dropped_observed: fidelity::dropped(records),
        overflow_records: observation.overflow_records,
        predicted_dropped: predicted.dropped,
        observed: observed.result(label, workers),
        predicted_bare: predict(shape(&SimConfig::default(), replay, false))?,
        predicted,
        predicted_open,
        predicted_no_cpu,
        predicted_fluid,
    })
}

/// The costs of a machine file (`--machine`), τ and ρ overridden by
/// `--transport` and `--response-latency`; its cores and background are
/// not used (the lab knows its own).
fn from_machine_file(file: &MachineFile, given: (Option<u64>, Option<u64>)) -> SimConfig {
    SimConfig {
        transport_ns: given.0.or(file.transport_ns).unwrap_or(0),
        response_latency_ns: given.1.or(file.response_latency_ns).unwrap_or(0),
        handoff_ns: file.handoff_ns.unwrap_or(0),
        handler_overhead_ns: file.handler_overhead_ns.unwrap_or(0),
        worker_overhead_ns: file.worker_overhead_ns.unwrap_or(0),
        ..SimConfig::default()
    }
}

fn conditions(setup: &Setup, machine: &cpu::Machine, observation: &Observation) -> Conditions {
    Conditions {
        replay: match setup.threads {
            Some(_) => "closed".into(),
            None => "open".into(),
        },
        threads: setup
            .threads
            .as_ref()
            .and_then(|t| t.iter().max())
            .map_or(0, |&t| t as usize + 1),
        kernel_queue: setup.kernel_queue,
        hogs: setup.cpu.hogs,
        cpus: setup.cpu.cpus.clone(),
        cores: machine.cores(),
        background_mean: esreplay_lab::mean_background(&observation.background),
        background_samples: observation.background.len(),
    }
}
