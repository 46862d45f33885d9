//! `sim`, `compare`, `check` and `sweep`: replaying a trace through
//! strategies. Raw arguments become a validated [`Model`] and parsed
//! [`StrategySpec`]s before any trace is read; each run streams the trace
//! through [`Simulator`], so memory follows the backlog.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::progress::Progress;
use anyhow::{Context, Result, bail};
use esreplay_simulator::engine::machine::{Machine, MachineBackground};
use esreplay_simulator::engine::{CoClientConfig, CoClientSpec, TraceFacts};
use esreplay_simulator::sweep::{MAX_FACTOR, any_miss, headroom_within, search};
use esreplay_simulator::{
    Background, BackgroundTrack, CostModel, CpuConfig, GuardTimer, MissMode, Observer, Outcome,
    ReplayMode, SimConfig, SimResult, Simulator, StrategySpec, results_table,
};
use esreplay_traces::{Fields, Message, TraceError, TraceReader, parse_duration_ns};

use super::gates::{self, Amount, Gate, Judged, Metric, Verdict};
use super::{
    Durability, Integrity, Output, is_stdio, open_trace_tracked, refuse_same_file,
    warn_about_losses,
};
use crate::cli::{
    CheckArgs, CheckFormat, CompareArgs, GuardTimerArg, MissModeArg, ModelArgs, ReplayArg, SimArgs,
    SweepArgs,
};

mod ahead;
mod fanout;

pub(in crate::commands) use ahead::ReadAhead;
pub(super) use fanout::run_all;
use fanout::{Ran, cores, fan_out, measure};

/// The validated client and kernel model, and where to show progress.
pub(super) struct Model {
    pub(super) cost: CostModel,
    pub(super) config: SimConfig,
    pub(super) salvage: bool,
    /// Advanced by the bytes of every trace read (hidden by default).
    pub(super) progress: Progress,
}

impl Model {
    /// What a simulation needs decoded: no strings and no boxed details,
    /// unless mutes, the ES cache (keyed by process and target paths and
    /// inodes, invalidated by modifying closes) or a co-client (it opens
    /// the files the trace names, by inode) are asked for.
    pub(super) fn fields(&self) -> Fields {
        if self.config.kernel.is_active() || self.config.co_client.is_some() {
            Fields::All
        } else {
            Fields::Timing
        }
    }
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
        co_client: co_client(args, trace)?,
        kernel: super::cache_sweep::kernel_options(&args.kernel)?,
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

/// `--cores`, `--background`, `--background-weight`, `--cpu-sharing` (flags over the machine file).
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
        Some(None) => Background::Track(std::sync::Arc::new(cpu_track(trace)?)),
    };
    let sharing = match &args.cpu_sharing {
        Some(text) => text
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--cpu-sharing: {e}"))?,
        None => machine.cpu_sharing.unwrap_or_default(),
    };
    Ok(CpuConfig {
        cores_milli: Some(cores_milli),
        background,
        weight_milli,
        sharing,
    })
}

/// `--co-client` and `--co-client-cap`, with what a first read of the
/// trace says: its messages, largest global_seq and budgets.
fn co_client(args: &ModelArgs, trace: &Path) -> Result<Option<CoClientConfig>> {
    let Some(text) = &args.co_client else {
        return Ok(None);
    };
    let spec: CoClientSpec = text.parse()?;
    if is_stdio(trace) {
        bail!(
            "--co-client reads the trace twice (its budgets and largest global_seq first): give a file, not -"
        );
    }
    let mut facts = TraceFacts::default();
    let reader = TraceReader::open(trace).with_context(|| format!("{}", trace.display()))?;
    for message in reader.salvage(args.salvage) {
        facts.observe(&message.with_context(|| format!("{}", trace.display()))?);
    }
    Ok(Some(facts.config(spec, args.co_client_cap)))
}

/// `--background trace`: the trace's CPU track, read up front.
fn cpu_track(trace: &Path) -> Result<BackgroundTrack> {
    if is_stdio(trace) {
        bail!("--background trace needs a trace file, not standard input");
    }
    let file =
        std::fs::File::open(trace).with_context(|| format!("cannot open {}", trace.display()))?;
    let track = esreplay_traces::format::read_cpu_track(std::io::BufReader::new(file))
        .with_context(|| format!("{}: reading the CPU track", trace.display()))?;
    if track.samples.is_empty() {
        bail!(
            "--background trace: {} has no CPU track (recorded without one, or a format 1.0 trace); give a number of threads instead",
            trace.display()
        );
    }
    let samples = track
        .samples
        .iter()
        .map(|s| (s.t_ns, f64::from(s.runnable)));
    Ok(BackgroundTrack::new(samples))
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
    let reader = open_trace_tracked(path, model.salvage, &model.progress)?;
    let mut messages = ReadAhead::spawn(reader.fields(model.fields())).context("a thread")?;
    // Guard margins that swallow whole budgets, counted on the way.
    let mut margins = esreplay_simulator::margins::MarginCheck::new(spec);
    let mut strategy = spec.build();
    let mut simulator = Simulator::new(&mut strategy, &model.cost, model.config.clone(), observer);
    // Context is built only on the error path: this loop runs per message.
    while let Some(batch) = messages.next_batch() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => return Err(anyhow::Error::new(error).context(path.display().to_string())),
        };
        for message in &batch {
            if let Some(margins) = &mut margins {
                margins.add(message);
            }
            if let Err(error) = simulator.push(message) {
                let context = format!("{}: {label}", path.display());
                return Err(anyhow::Error::new(error).context(context));
            }
        }
        // Its messages are dropped on the reader's thread, not this one.
        messages.recycle(batch);
    }
    let reader = messages.finish();
    for warning in margins.iter().flat_map(|check| check.warnings()) {
        eprintln!("esreplay: warning: {}: {warning}", label.trim());
    }
    if warn {
        warn_about_losses(path, &reader);
        super::cache_sweep::warn_about_keys(path, simulator.kernel_counts());
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

/// Prints results (`sim`, `compare`: the designed fields only; `check`
/// prints its own, with the trace's completeness and the verdicts).
fn print(results: &[(SimResult, Integrity)], format: Format) -> Result<()> {
    let mut out = Output::stdout();
    // Strings, not `serde_json::Value`: a value's keys come out sorted.
    let json = |(result, _): &(SimResult, Integrity)| serde_json::to_string(result);
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

/// Writes every outcome as one JSON line (`sim --outcomes`); the first
/// write error is kept and reported after the run.
struct OutcomeLines {
    out: Output,
    error: Option<std::io::Error>,
}

impl Observer for &mut OutcomeLines {
    fn outcome(&mut self, o: &Outcome) {
        if self.error.is_some() {
            return;
        }
        if let Err(error) = write_outcome(&mut self.out, o) {
            self.error = Some(error);
        }
    }
}

/// `o` as one JSON line (`start_ns` is `null` for a message that never
/// ran), written without a string built for it.
fn write_outcome(out: &mut impl Write, o: &Outcome) -> std::io::Result<()> {
    let (index, seq) = (o.index, o.global_seq);
    write!(out, r#"{{"index":{index},"global_seq":{seq},"start_ns":"#)?;
    match o.start_ns {
        Some(start) => write!(out, "{start}")?,
        None => out.write_all(b"null")?,
    }
    let (response, defaulted, missed) = (o.response_ns, o.defaulted, o.missed);
    writeln!(
        out,
        r#","response_ns":{response},"defaulted":{defaulted},"missed":{missed}}}"#
    )
}

/// One run of `sim`, writing every outcome to `path`.
fn run_with_outcomes(
    args: &SimArgs,
    spec: &StrategySpec,
    model: &Model,
    path: &Path,
) -> Result<(SimResult, Integrity)> {
    if is_stdio(path) {
        bail!("--outcomes needs a file: standard output holds the result");
    }
    let mut lines = OutcomeLines {
        out: Output::create(path, Durability::Plain)?,
        error: None,
    };
    let run = run_checked(&args.trace, &args.strategy, spec, model, true, &mut lines)?;
    if let Some(error) = lines.error.take() {
        return Err(anyhow::Error::new(error).context(format!("cannot write {}", path.display())));
    }
    lines.out.commit()?;
    Ok(run)
}

/// `esreplay sim`.
pub fn sim(args: &SimArgs) -> Result<ExitCode> {
    let model = model(&args.model, &args.trace)?;
    let spec = strategy(&args.strategy)?;
    let result = match &args.outcomes {
        Some(path) => run_with_outcomes(args, &spec, &model, path)?,
        None => run_one(&args.trace, &args.strategy, &spec, &model, true)?,
    };
    print(
        &[result],
        if args.json {
            Format::Object
        } else {
            Format::Table
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn require_file(path: &Path, command: &str) -> Result<()> {
    if is_stdio(path) {
        bail!("{command} reads the trace several times: give a file, not -");
    }
    Ok(())
}

/// `esreplay compare`: the trace decoded once, every strategy on its own
/// thread ([`fanout::run_all`]); results in the order asked.
pub fn compare(args: &CompareArgs) -> Result<ExitCode> {
    require_file(&args.trace, "compare")?;
    let model = model(&args.model, &args.trace)?;
    let specs = args
        .strategies
        .iter()
        .map(|s| strategy(s))
        .collect::<Result<Vec<_>>>()?;
    let observers = vec![(); specs.len()];
    let (results, integrity) = run_all(&args.trace, &args.strategies, &specs, &model, observers)?;
    let results: Vec<_> = results
        .into_iter()
        .map(|result| (result, integrity.clone()))
        .collect();
    print(
        &results,
        if args.json {
            Format::Array
        } else {
            Format::Table
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `job(0..count)` spread over all cores; the results in index order, or
/// the first error in index order.
pub(super) fn in_parallel<T: Send>(
    count: usize,
    job: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let threads = cores().min(count);
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

/// The gates `check` applies, in the order they are reported: the
/// trace's completeness, a kill (under `--miss-mode kill`), a runaway loop
/// (with `--co-client`), then the limits asked for (`--max-misses 0` when
/// none is).
fn check_gates(args: &CheckArgs, model: &Model) -> Result<Vec<Gate>> {
    let count = |metric, limit: Option<u64>| {
        limit.map(|n| Gate {
            metric,
            limit: Some(Amount::Count(n)),
        })
    };
    let mut gates = vec![Gate {
        metric: Metric::Complete,
        limit: (!args.allow_partial).then_some(Amount::Count(0)),
    }];
    if model.config.miss_mode == MissMode::Kill {
        gates.push(Gate {
            metric: Metric::Killed,
            limit: None,
        });
    }
    let co_client = model.config.co_client.is_some();
    if co_client {
        gates.push(Gate {
            metric: Metric::Runaway,
            limit: None,
        });
    }
    let none_asked = args.max_latency.is_empty()
        && args.min_slack.is_none()
        && args.max_backlog.is_none()
        && args.min_headroom.is_none()
        && args.max_defaulted.is_none()
        && args.max_dropped.is_none()
        && args.max_stall.is_none()
        && args.max_injected.is_none();
    let max_misses = args.max_misses.or(none_asked.then_some(0));
    gates.extend(count(Metric::Misses, max_misses));
    for text in &args.max_latency {
        gates.push(gates::latency_gate(text)?);
    }
    if let Some(text) = &args.min_slack {
        gates.push(Gate {
            metric: Metric::MinSlack,
            limit: Some(gates::duration("--min-slack", text)?),
        });
    }
    gates.extend(count(Metric::Backlog, args.max_backlog));
    if let Some(k) = args.min_headroom {
        if !(k.is_finite() && k > 0.0) {
            bail!("--min-headroom must be a factor above 0 (1.5: 50 % more service time), not {k}");
        }
        gates.push(Gate {
            metric: Metric::Headroom,
            limit: Some(Amount::Factor(k)),
        });
    }
    gates.extend(count(Metric::Defaulted, args.max_defaulted));
    if args.max_dropped.is_some() && model.config.kernel_queue.is_none() {
        bail!(
            "--max-dropped needs --kernel-queue N: with an unlimited kernel queue nothing is dropped"
        );
    }
    gates.extend(count(Metric::Dropped, args.max_dropped));
    if let Some(text) = &args.max_stall {
        gates.push(Gate {
            metric: Metric::Stall,
            limit: Some(gates::duration("--max-stall", text)?),
        });
    }
    if args.max_injected.is_some() && !co_client {
        bail!("--max-injected needs --co-client: without a co-client nothing is injected");
    }
    gates.extend(count(Metric::Injected, args.max_injected));
    Ok(gates)
}

/// The trace at `path`, opened afresh and read ahead (one probe of a
/// headroom search).
fn reopen(
    path: &Path,
    salvage: bool,
    fields: Fields,
) -> Box<dyn Iterator<Item = Result<Message, TraceError>>> {
    let reader = match TraceReader::open(path) {
        Ok(reader) => reader.salvage(salvage).fields(fields),
        Err(error) => return Box::new(std::iter::once(Err(error))),
    };
    match ReadAhead::spawn(reader) {
        Ok(messages) => Box::new(messages),
        Err(error) => Box::new(std::iter::once(Err(TraceError::Io(error)))),
    }
}

/// The cost headroom of `spec`, searched as `sweep` does (1 % precision).
fn cost_headroom(path: &Path, spec: &StrategySpec, model: &Model) -> Result<Option<f64>> {
    let cost = &model.cost;
    let found = search(
        |k| {
            let scaled = cost.clone().with_scale(cost.scale() * k)?;
            any_miss(
                reopen(path, model.salvage, model.fields()),
                spec,
                &scaled,
                &model.config,
            )
        },
        0.01,
    );
    found.with_context(|| format!("{}: --min-headroom", path.display()))
}

/// One strategy's run under `check`: its result, the trace's
/// completeness, its cost headroom when gated, and its verdicts.
struct Checked {
    result: SimResult,
    integrity: Integrity,
    verdicts: Vec<Verdict>,
}

/// A result with its verdicts, for `check --json`.
#[derive(serde::Serialize)]
struct WithGates<'a> {
    #[serde(flatten)]
    result: &'a SimResult,
    gates: &'a [Verdict],
    pass: bool,
}

/// Prints `check`'s results and verdicts to standard output.
fn print_checked(runs: &[Checked], args: &CheckArgs) -> Result<()> {
    let mut out = Output::stdout();
    let named: Vec<(String, Vec<Verdict>)> = runs
        .iter()
        .map(|run| (run.result.strategy.clone(), run.verdicts.clone()))
        .collect();
    if args.json {
        for run in runs {
            let with_gates = WithGates {
                result: &run.result,
                gates: &run.verdicts,
                pass: gates::all_pass(&run.verdicts),
            };
            writeln!(
                out,
                "{}",
                serde_json::to_string(&run.integrity.annotate(&with_gates))?
            )?;
        }
    } else {
        let results: Vec<SimResult> = runs.iter().map(|run| run.result.clone()).collect();
        write!(out, "{}\n{}", results_table(&results), gates::table(&named))?;
        if args.format == CheckFormat::Github {
            write!(out, "{}", gates::github(&named))?;
        }
    }
    out.commit()?;
    if let Some(path) = &args.junit {
        let mut file = Output::create(path, Durability::Plain)?;
        file.write_all(gates::junit(&named).as_bytes())?;
        file.commit()?;
    }
    Ok(())
}

/// `check`'s runs from one decoding of the trace at `path`, each ended as
/// if it had read the trace alone: a run the engine stopped ends in its
/// error, else in the decoding error if any. Prints, in order, each
/// finished run's guard margin warnings, and after the first run's, if
/// `allow_partial` (without it, the refusal of a partial trace says it
/// all), the trace's losses and the ES cache's keyless messages. The
/// results before the first run that failed, and its error.
fn as_alone(
    path: &Path,
    labels: &[String],
    read: Result<fanout::Reader>,
    ran: Vec<Ran>,
    allow_partial: bool,
) -> (Vec<(SimResult, Integrity)>, Option<anyhow::Error>) {
    let (reader, mut read_error) = match read {
        Ok(reader) => (Some(reader), None),
        Err(error) => (None, Some(error)),
    };
    let integrity = reader.as_ref().map(Integrity::of).unwrap_or_default();
    let (mut runs, mut failed) = (Vec::new(), None);
    for (index, (label, ran)) in labels.iter().zip(ran).enumerate() {
        let result = match ran {
            Ran::Refused(error) => Err(error),
            // The decoding error ends the first unfinished run; the
            // later ones come after it, so their errors are never told.
            Ran::Unfinished => match read_error.take() {
                Some(error) => Err(error),
                None => continue,
            },
            Ran::Finished {
                result,
                warnings,
                keys,
            } => {
                for warning in warnings {
                    eprintln!("esreplay: warning: {}: {warning}", label.trim());
                }
                if let (0, true, Some(reader)) = (index, allow_partial, &reader) {
                    warn_about_losses(path, reader);
                    super::cache_sweep::warn_about_keys(path, keys);
                }
                result.map(|result| *result)
            }
        };
        match result {
            Ok(result) if failed.is_none() => runs.push((result, integrity.clone())),
            Err(error) if failed.is_none() => failed = Some(error),
            _ => {}
        }
    }
    (runs, failed)
}

/// `esreplay check`: every gate on every strategy; exit 1 when any fails,
/// 2 when the trace is incomplete (without `--allow-partial`).
pub fn check(args: &CheckArgs) -> Result<ExitCode> {
    let model = model(&args.model, &args.trace)?;
    let specs = args
        .strategy
        .iter()
        .map(|s| strategy(s))
        .collect::<Result<Vec<_>>>()?;
    let gates = check_gates(args, &model)?;
    let headroom = gates.iter().any(|g| g.metric == Metric::Headroom);
    if specs.len() > 1 || headroom {
        require_file(
            &args.trace,
            "check with several strategies or --min-headroom",
        )?;
    }
    let outputs: Vec<&Path> = args.junit.iter().map(PathBuf::as_path).collect();
    refuse_same_file(&[&args.trace], &outputs)?;
    // One decoding for every strategy; each run ends as it would alone.
    let observers = vec![(); specs.len()];
    let (read, ran) = fan_out(
        cores(),
        &args.trace,
        &args.strategy,
        &specs,
        &model,
        observers,
    )?;
    let (runs, failed) = as_alone(&args.trace, &args.strategy, read, ran, args.allow_partial);
    let runs = in_parallel(runs.len(), |index| {
        let (result, integrity) = runs[index].clone();
        let headroom = match headroom {
            true => Some(cost_headroom(&args.trace, &specs[index], &model)?),
            false => None,
        };
        if args.max_stall.is_some() && result.stall_ns.is_none() {
            bail!("--max-stall needs closed replay (--replay closed, or a trace with thread ids)");
        }
        let judged = Judged {
            result: &result,
            integrity: &integrity,
            headroom,
        };
        let verdicts = gates.iter().map(|gate| gate.judge(&judged)).collect();
        Ok(Checked {
            result,
            integrity,
            verdicts,
        })
    })?;
    // A later strategy's failed run: after the gates of those before it.
    if let Some(error) = failed {
        return Err(error);
    }
    // A gate's verdict is its exit code: a reader that went away
    // (`check ... | head -1`) does not turn a failure into a pass.
    match print_checked(&runs, args) {
        Err(error) if !crate::output::is_broken_pipe(&error) => return Err(error),
        _ => {}
    }
    runs[0].integrity.gate(&args.trace, args.allow_partial)?;
    let mut pass = true;
    for verdict in runs.iter().flat_map(|run| &run.verdicts) {
        if !verdict.pass {
            eprintln!("esreplay: FAIL {}", verdict.detail);
            pass = false;
        }
    }
    if !pass {
        return Ok(ExitCode::from(1));
    }
    for run in &runs {
        eprintln!(
            "esreplay: ok {}: {} gates pass ({} misses)",
            run.result.strategy,
            run.verdicts.len(),
            run.result.misses
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn factor(value: Option<f64>) -> String {
    match value {
        None => "none (misses at any factor)".into(),
        Some(k) if k >= MAX_FACTOR => format!("no miss up to 2^{}x", MAX_FACTOR.log2()),
        Some(k) => format!("{k:.3}x"),
    }
}

/// `esreplay sweep`: headroom by time compression and by cost scaling.
pub fn sweep(args: &SweepArgs) -> Result<ExitCode> {
    require_file(&args.trace, "sweep")?;
    if !args.es_cache_sizes.is_empty() {
        return super::cache_sweep::sweep(args);
    }
    if !(1e-6..1.0).contains(&args.precision) {
        bail!("--precision must be from 0.000001 to below 1 (0.01 is 1 %)");
    }
    let model = model(&args.model, &args.trace)?;
    let spec = strategy(&args.strategy)?;
    // Read once in full first: errors surface with the file name,
    // truncation warnings are printed once, and the copy in memory (when
    // it fits) spares the probes decoding the file.
    let label = &args.strategy;
    let (bounds, copy, integrity) = measure(&args.trace, label, &spec, &model, args.allow_partial)?;
    integrity.gate(&args.trace, args.allow_partial)?;
    let probes = &Progress::steps("sweep", "probes");
    let (cost, config, precision) = (&model.cost, &model.config, args.precision);
    let room = match &copy {
        Some(copy) => {
            let again = || {
                probes.inc(1);
                copy.messages().map(Ok::<_, std::convert::Infallible>)
            };
            headroom_within(again, &bounds, &spec, cost, config, precision)
        }
        None => {
            let (salvage, fields) = (model.salvage, model.fields());
            let open = || {
                probes.inc(1);
                reopen(&args.trace, salvage, fields)
            };
            headroom_within(open, &bounds, &spec, cost, config, precision)
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(strategy: &str) -> Ran {
        let result = SimResult {
            strategy: strategy.to_owned(),
            ..SimResult::default()
        };
        Ran::Finished {
            result: Ok(Box::new(result)),
            warnings: Vec::new(),
            keys: None,
        }
    }

    /// What `as_alone` made of `ran`: the strategies of the results
    /// kept, and the error that ends `check`.
    fn alone(read: Result<fanout::Reader>, ran: Vec<Ran>) -> (Vec<String>, Option<String>) {
        let labels = vec!["-".to_owned(); ran.len()];
        let (runs, failed) = as_alone(Path::new("t"), &labels, read, ran, false);
        let kept = runs.into_iter().map(|(r, _)| r.strategy).collect();
        (kept, failed.map(|e| e.to_string()))
    }

    fn refused(what: &str) -> Ran {
        Ran::Refused(anyhow::anyhow!("{what}"))
    }

    #[test]
    fn a_run_ends_in_its_own_error_before_the_decoding_error() {
        let decoding = || Err(anyhow::anyhow!("decoding"));
        let ran = vec![refused("a"), Ran::Unfinished, Ran::Unfinished];
        assert_eq!(alone(decoding(), ran), (vec![], Some("a".into())));
        let ran = vec![Ran::Unfinished, refused("b")];
        assert_eq!(alone(decoding(), ran), (vec![], Some("decoding".into())));
    }

    #[test]
    fn the_results_before_the_first_failed_run_are_kept() {
        let reader = || {
            let writer = esreplay_traces::TraceWriter::new(Vec::new(), &Default::default());
            let empty = writer.and_then(|w| w.finish()).expect("an empty trace");
            let input: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(empty));
            Ok(TraceReader::new(input).expect("a header"))
        };
        let ran = vec![finished("x"), refused("c"), finished("y"), refused("d")];
        assert_eq!(alone(reader(), ran), (vec!["x".into()], Some("c".into())));
        let mut last = finished("z");
        if let Ran::Finished { result, .. } = &mut last {
            *result = Err(anyhow::anyhow!("finish"));
        }
        let ran = vec![finished("x"), finished("y"), last];
        let kept = vec!["x".into(), "y".into()];
        assert_eq!(alone(reader(), ran), (kept, Some("finish".into())));
    }
}
