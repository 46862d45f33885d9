//! `sim`, `compare`, `check` and `sweep`: replaying a trace through
//! strategies. Raw arguments become a validated [`Model`] and parsed
//! [`StrategySpec`]s before any trace is read; each run streams the trace
//! through [`Simulator`], so memory follows the backlog.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::progress::Progress;
use anyhow::{Context, Result, bail};
use esreplay_simulator::engine::machine::{Machine, MachineBackground};
use esreplay_simulator::sweep::{MAX_FACTOR, headroom};
use esreplay_simulator::{
    Background, CostModel, CpuConfig, GuardTimer, MissMode, Observer, ReplayMode, SimConfig,
    SimResult, Simulator, StrategySpec, results_table,
};
use esreplay_traces::{TraceError, TraceReader, format_ns, parse_duration_ns};

use super::{Integrity, Output, is_stdio, open_trace_tracked, warn_about_losses};
use crate::cli::{
    CheckArgs, CompareArgs, GuardTimerArg, MissModeArg, ModelArgs, ReplayArg, SimArgs, SweepArgs,
};

/// The validated client and kernel model, and where to show progress.
pub(super) struct Model {
    pub(super) cost: CostModel,
    pub(super) config: SimConfig,
    pub(super) salvage: bool,
    /// Advanced by the bytes of every trace read (hidden by default).
    pub(super) progress: Progress,
}

/// The validated model for a run over the trace at `trace` (read only for
/// its header's CPU count, when `--background` comes without `--cores`).
pub(super) fn model(args: &ModelArgs, trace: &Path) -> Result<Model> {
    let machine = match &args.machine {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Machine::parse(&text).with_context(|| format!("--machine {}", path.display()))?
        }
        None => Machine::default(),
    };
    let duration = |flag: &str, text: &Option<String>, file: Option<u64>| -> Result<u64> {
        match text {
            Some(text) => parse_duration_ns(text).with_context(|| format!("--{flag}")),
            None => Ok(file.unwrap_or(0)),
        }
    };
    let cost = CostModel::parse(&args.cost)
        .context("--cost")?
        .with_seed(args.seed)
        .with_scale(args.cost_scale)
        .context("--cost-scale")?;
    let config = SimConfig {
        transport_ns: duration("transport", &args.transport, machine.transport_ns)?,
        response_latency_ns: duration(
            "response-latency",
            &args.response_latency,
            machine.response_latency_ns,
        )?,
        handoff_ns: duration("handoff", &args.handoff, machine.handoff_ns)?,
        handler_overhead_ns: duration(
            "handler-overhead",
            &args.handler_overhead,
            machine.handler_overhead_ns,
        )?,
        worker_overhead_ns: duration(
            "worker-overhead",
            &args.worker_overhead,
            machine.worker_overhead_ns,
        )?,
        miss_mode: match args.miss_mode {
            MissModeArg::Kill => MissMode::Kill,
            MissModeArg::FailOpen => MissMode::FailOpen,
            MissModeArg::FailClosed => MissMode::FailClosed,
        },
        replay: match args.replay {
            None => ReplayMode::Auto,
            Some(ReplayArg::Open) => ReplayMode::Open,
            Some(ReplayArg::Closed) => ReplayMode::Closed,
        },
        kernel_queue: match args.kernel_queue {
            Some(0) => {
                bail!("--kernel-queue must be at least 1 (a queue of 0 drops every message)")
            }
            other => other,
        },
        guard_timer: match args.guard_timer {
            GuardTimerArg::Exact => GuardTimer::Exact,
            GuardTimerArg::Dispatch => GuardTimer::Dispatch,
        },
        cpu: cpu(args, &machine, trace)?,
    };
    Ok(Model {
        cost,
        config,
        salvage: args.salvage,
        progress: Progress::hidden(),
    })
}

/// A decimal flag with at most 3 decimals, in thousandths.
fn thousandths(flag: &str, value: f64, min: f64, max: f64) -> Result<u64> {
    let milli = value * 1000.0;
    if !value.is_finite() || value < min || value > max || (milli - milli.round()).abs() > 1e-6 {
        bail!("{flag} must be a number from {min} to {max} with at most 3 decimals, not {value}");
    }
    Ok(milli.round() as u64)
}

/// `--cores`, `--background`, `--background-weight` (flags over the machine file).
fn cpu(args: &ModelArgs, machine: &Machine, trace: &Path) -> Result<CpuConfig> {
    let weight_milli = thousandths("--background-weight", args.background_weight, 0.0, 1.0)?;
    let background = match (&args.background, &machine.background) {
        (Some(text), _) if text.trim() == "trace" => Some(None),
        (Some(text), _) => Some(Some(text.trim().parse::<f64>().with_context(|| {
            format!("--background {text:?}: expected a number of threads or `trace`")
        })?)),
        (None, Some(MachineBackground::Constant(b))) => Some(Some(*b)),
        (None, Some(MachineBackground::Named(name))) if name == "trace" => Some(None),
        (None, Some(MachineBackground::Named(name))) => {
            bail!("--machine: background {name:?}: expected a number of threads or \"trace\"")
        }
        (None, None) => None,
    };
    let cores = match (args.cores.or(machine.cores), &background) {
        (Some(cores), _) => Some(cores),
        (None, None) => None,
        (None, Some(_)) => Some(header_cpus(trace)?),
    };
    let Some(cores) = cores else {
        return Ok(CpuConfig::default());
    };
    if cores <= 0.0 {
        bail!("--cores must be above 0, not {cores}");
    }
    let cores_milli = thousandths("--cores", cores, 0.001, 1e9)?;
    let background = match background {
        None => Background::Constant(0),
        Some(Some(b)) => Background::Constant(thousandths("--background", b, 0.0, 1e9)?),
        Some(None) => bail!(
            "--background trace: {} has no CPU track (this trace format version records none); give a number of threads instead",
            trace.display()
        ),
    };
    Ok(CpuConfig {
        cores_milli: Some(cores_milli),
        background,
        weight_milli,
    })
}

/// The trace header's CPU count, the default `--cores` under `--background`.
fn header_cpus(trace: &Path) -> Result<f64> {
    let no_count =
        || anyhow::anyhow!("--background needs --cores: the trace header has no CPU count");
    if is_stdio(trace) {
        bail!("--background needs --cores when the trace comes from standard input");
    }
    let reader = TraceReader::open(trace).with_context(|| format!("{}", trace.display()))?;
    let cpus = reader.header().cpu_count.ok_or_else(no_count)?;
    Ok(f64::from(cpus))
}

pub(super) fn strategy(text: &str) -> Result<StrategySpec> {
    text.parse().context("--strategy")
}

/// Streams the trace at `path` through `spec`; the result is labelled with
/// the strategy as the user wrote it, and comes with what the read found
/// of the trace's completeness. `warn` prints losses (cut short, skipped
/// chunks) once.
fn run_one(
    path: &Path,
    label: &str,
    spec: &StrategySpec,
    model: &Model,
    warn: bool,
) -> Result<(SimResult, Integrity)> {
    run_checked(path, label, spec, model, warn, ())
}

/// [`run_one`], reporting every outcome to `observer`.
pub(super) fn run_observed(
    path: &Path,
    label: &str,
    spec: &StrategySpec,
    model: &Model,
    warn: bool,
    observer: impl Observer,
) -> Result<SimResult> {
    Ok(run_checked(path, label, spec, model, warn, observer)?.0)
}

fn run_checked(
    path: &Path,
    label: &str,
    spec: &StrategySpec,
    model: &Model,
    warn: bool,
    observer: impl Observer,
) -> Result<(SimResult, Integrity)> {
    let mut reader = open_trace_tracked(path, model.salvage, &model.progress)?;
    let mut strategy = spec.build();
    let mut simulator = Simulator::new(&mut strategy, &model.cost, model.config.clone(), observer);
    // Context is built only on the error path: this loop runs per message.
    for message in reader.by_ref() {
        let message = match message {
            Ok(message) => message,
            Err(error) => return Err(anyhow::Error::new(error).context(path.display().to_string())),
        };
        if let Err(error) = simulator.push(message) {
            return Err(anyhow::Error::new(error).context(format!("{}: {label}", path.display())));
        }
    }
    if warn {
        warn_about_losses(path, &reader);
    }
    let mut result = simulator
        .finish()
        .with_context(|| format!("{}: {label}", path.display()))?;
    result.strategy = label.trim().to_owned();
    Ok((result, Integrity::of(&reader)))
}

/// How results are printed: a table, one JSON object (`sim`, `check`) or
/// a JSON array (`compare`, even of one).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Object,
    Array,
}

/// Prints results; `annotated`: each JSON object followed by what is known
/// of the trace's completeness (the gates).
fn print(results: &[(SimResult, Integrity)], format: Format, annotated: bool) -> Result<()> {
    let mut out = Output::stdout();
    // Strings, not `serde_json::Value`: a value's keys come out sorted.
    let json = |(result, integrity): &(SimResult, Integrity)| match annotated {
        true => serde_json::to_string(&integrity.annotate(result)),
        false => serde_json::to_string(result),
    };
    match format {
        Format::Table => {
            let results: Vec<SimResult> = results.iter().map(|(r, _)| r.clone()).collect();
            write!(out, "{}", results_table(&results))?;
        }
        Format::Array => {
            let values = results.iter().map(json).collect::<Result<Vec<_>, _>>()?;
            writeln!(out, "[{}]", values.join(","))?;
        }
        Format::Object => {
            for result in results {
                writeln!(out, "{}", json(result)?)?;
            }
        }
    }
    out.commit()
}

/// `esreplay sim`.
pub fn sim(args: &SimArgs) -> Result<ExitCode> {
    let model = model(&args.model, &args.trace)?;
    let spec = strategy(&args.strategy)?;
    let result = run_one(&args.trace, &args.strategy, &spec, &model, true)?;
    print(
        &[result],
        if args.json {
            Format::Object
        } else {
            Format::Table
        },
        false,
    )?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn require_file(path: &Path, command: &str) -> Result<()> {
    if is_stdio(path) {
        bail!("{command} reads the trace several times: give a file, not -");
    }
    Ok(())
}

/// `esreplay compare`: one run per strategy, spread over all cores, each
/// streaming the trace itself; results in the order asked.
pub fn compare(args: &CompareArgs) -> Result<ExitCode> {
    require_file(&args.trace, "compare")?;
    let model = model(&args.model, &args.trace)?;
    let specs = args
        .strategies
        .iter()
        .map(|s| strategy(s))
        .collect::<Result<Vec<_>>>()?;
    let results = in_parallel(specs.len(), |index| {
        run_one(
            &args.trace,
            &args.strategies[index],
            &specs[index],
            &model,
            index == 0,
        )
    })?;
    print(
        &results,
        if args.json {
            Format::Array
        } else {
            Format::Table
        },
        false,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `job(0..count)` spread over all cores; the results in index order, or
/// the first error in index order.
pub(super) fn in_parallel<T: Send>(
    count: usize,
    job: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count);
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<T>>>> = (0..count).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let result = job(index);
                    *slots[index].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job ran")
        })
        .collect()
}

/// What `check` says when the gate fails, or `None` when it passes.
fn verdict(result: &SimResult, max_misses: u64) -> Option<String> {
    let first = result.first_miss?;
    let which = format!(
        "message global_seq {} (arrived {}, deadline {}, answered {}, {} late)",
        first.global_seq,
        format_ns(first.arrival_ns),
        format_ns(first.deadline_ns),
        format_ns(first.response_ns),
        format_ns(first.response_ns - first.deadline_ns),
    );
    if let Some(killed) = result.killed_at_ns {
        return Some(format!(
            "FAIL {}: the client would be killed at {} by {which}; {} misses in all",
            result.strategy,
            format_ns(killed),
            result.misses
        ));
    }
    (result.misses > max_misses).then(|| {
        format!(
            "FAIL {}: {} misses, more than --max-misses {max_misses}; earliest deadline missed: {which}",
            result.strategy, result.misses
        )
    })
}

/// What the bypass and stall gates say when they fail.
fn extra_verdict(
    result: &SimResult,
    max_dropped: Option<u64>,
    max_stall: Option<u64>,
) -> Option<String> {
    let dropped = result.dropped.unwrap_or(0);
    if let Some(max) = max_dropped.filter(|&max| dropped > max) {
        return Some(format!(
            "FAIL {}: {dropped} messages dropped at the full kernel queue ({} AUTH allowed unseen, {} denied), more than --max-dropped {max}",
            result.strategy,
            result.dropped_allowed.unwrap_or(0),
            result.dropped_denied.unwrap_or(0)
        ));
    }
    let stall = result.stall_ns.unwrap_or(0);
    max_stall.filter(|&max| stall > max).map(|max| {
        format!(
            "FAIL {}: the processes stalled {} in all waiting for answers, more than --max-stall {}",
            result.strategy,
            format_ns(stall),
            format_ns(max)
        )
    })
}

/// `esreplay check`: exit 1 when the gate fails.
pub fn check(args: &CheckArgs) -> Result<ExitCode> {
    let model = model(&args.model, &args.trace)?;
    let spec = strategy(&args.strategy)?;
    if args.max_dropped.is_some() && model.config.kernel_queue.is_none() {
        bail!(
            "--max-dropped needs --kernel-queue N: with an unlimited kernel queue nothing is dropped"
        );
    }
    let max_stall = args
        .max_stall
        .as_deref()
        .map(parse_duration_ns)
        .transpose()
        .context("--max-stall")?;
    // Without --allow-partial the refusal below says it all: no warning.
    let run = run_one(
        &args.trace,
        &args.strategy,
        &spec,
        &model,
        args.allow_partial,
    )?;
    if max_stall.is_some() && run.0.stall_ns.is_none() {
        bail!("--max-stall needs closed replay (--replay closed, or a trace with thread ids)");
    }
    let format = if args.json {
        Format::Object
    } else {
        Format::Table
    };
    // A gate's verdict is its exit code: a reader that went away
    // (`check ... | head -1`) does not turn a failure into a pass.
    match print(std::slice::from_ref(&run), format, true) {
        Err(error) if !crate::output::is_broken_pipe(&error) => return Err(error),
        _ => {}
    }
    let (result, integrity) = run;
    integrity.gate(&args.trace, args.allow_partial)?;
    let failure = verdict(&result, args.max_misses)
        .or_else(|| extra_verdict(&result, args.max_dropped, max_stall));
    match failure {
        Some(failure) => {
            eprintln!("esreplay: {failure}");
            Ok(ExitCode::from(1))
        }
        None => {
            eprintln!(
                "esreplay: ok {}: {} misses (max {})",
                result.strategy, result.misses, args.max_misses
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn factor(value: Option<f64>) -> String {
    match value {
        None => "none (misses at any factor)".into(),
        Some(k) if k >= MAX_FACTOR => format!(">= {MAX_FACTOR}"),
        Some(k) => format!("{k:.3}x"),
    }
}

/// `esreplay sweep`: headroom by time compression and by cost scaling.
pub fn sweep(args: &SweepArgs) -> Result<ExitCode> {
    require_file(&args.trace, "sweep")?;
    if !(1e-6..1.0).contains(&args.precision) {
        bail!("--precision must be from 0.000001 to below 1 (0.01 is 1 %)");
    }
    let model = model(&args.model, &args.trace)?;
    let spec = strategy(&args.strategy)?;
    // Read once in full first: errors surface with the file name, and
    // truncation warnings are printed once.
    let (_, integrity) = run_one(
        &args.trace,
        &args.strategy,
        &spec,
        &model,
        args.allow_partial,
    )?;
    integrity.gate(&args.trace, args.allow_partial)?;
    let salvage = model.salvage;
    let probes = Progress::steps("sweep", "probes");
    let open = || -> Box<dyn Iterator<Item = Result<esreplay_traces::Message, TraceError>>> {
        probes.inc(1);
        match TraceReader::open(&args.trace) {
            Ok(reader) => Box::new(reader.salvage(salvage)),
            Err(error) => Box::new(std::iter::once(Err(error))),
        }
    };
    let room = headroom(open, &spec, &model.cost, &model.config, args.precision);
    probes.finish();
    let mut room = room.with_context(|| format!("{}", args.trace.display()))?;
    room.strategy = args.strategy.trim().to_owned();
    let mut out = Output::stdout();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&integrity.annotate(&room))?
        )?;
    } else {
        writeln!(out, "strategy       {}", room.strategy)?;
        writeln!(
            out,
            "load headroom  {}  (arrivals compressed, budgets kept)",
            factor(room.load_factor)
        )?;
        writeln!(
            out,
            "cost headroom  {}  (service times multiplied)",
            factor(room.cost_factor)
        )?;
    }
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}
