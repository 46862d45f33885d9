//! `report`, `export perfetto`, `completions` and `man`: what people look
//! at. The simulation runs as for `compare` (the trace decoded once, the
//! strategies shared among one thread per core); outcomes are downsampled
//! on the fly into an [`esreplay_report::Series`] per strategy, so memory
//! stays bounded whatever the trace's length. Rendering lives in the `esreplay-report`
//! crate; this file only turns simulator results into its inputs.

mod perfetto;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use esreplay_report::{Marker, Page, Run, Series, Table, Verdict, figures};

use crate::progress::Progress;
use esreplay_simulator::report::table_cells;
use esreplay_simulator::{Observer, Outcome, SimResult};
use esreplay_traces::format_ns;

use super::replay::{model, require_file, run_all, strategy};
use super::{Durability, Output, input_len, refuse_same_file, write_whole};
use crate::cli::{Cli, CompletionsArgs, ManArgs, ModelArgs, ReportArgs};

pub use perfetto::perfetto;

/// Feeds a run's outcomes and backlog samples into a [`Series`].
#[derive(Default)]
struct Sampler {
    series: Series,
}

impl Observer for &mut Sampler {
    fn outcome(&mut self, o: &Outcome) {
        let auth = o.action == esreplay_traces::Action::Auth;
        let latency = auth.then(|| o.latency_ns());
        self.series
            .message(o.arrival_ns, latency, o.slack_ns(), o.missed);
    }

    fn backlog(&mut self, at_ns: u64, in_flight: u64) {
        self.series.backlog(at_ns, in_flight);
    }
}

/// The verdict sentence of one strategy.
fn verdict(result: &SimResult) -> Verdict {
    let text = match (result.first_miss, result.killed_at_ns) {
        (Some(m), Some(killed)) => format!(
            "Killed at {} by message #{} (arrived {}, deadline {}, answered {}); {} of {} AUTH messages missed.",
            format_ns(killed),
            m.global_seq,
            format_ns(m.arrival_ns),
            format_ns(m.deadline_ns),
            format_ns(m.response_ns),
            result.misses,
            result.auth
        ),
        (Some(m), None) => format!(
            "{} of {} AUTH messages missed (answered by the kernel); the earliest deadline missed is message #{}'s, {}.",
            result.misses,
            result.auth,
            m.global_seq,
            format_ns(m.deadline_ns)
        ),
        (None, _) => {
            let slack = result
                .min_slack_ns
                .map_or("-".into(), |s| format_ns(s.max(0).unsigned_abs()));
            let worst = result.latency_ns.map_or("-".into(), |l| format_ns(l.max));
            format!(
                "No miss: minimum slack {slack}, worst latency {worst}, largest backlog {}.",
                result.max_backlog
            )
        }
    };
    let defaulted = match result.defaulted {
        0 => String::new(),
        n => format!(" {n} messages answered by the guard's default verdict."),
    };
    Verdict {
        text: text + &defaulted,
        failed: result.failed(),
    }
}

/// The first miss as a mark at the arrival of the missed message.
fn first_miss_marker(result: &SimResult) -> Option<Marker> {
    let miss = result.first_miss?;
    let label = match result.killed_at_ns {
        Some(killed) => format!(
            "first miss #{} (killed at {})",
            miss.global_seq,
            format_ns(killed)
        ),
        None => format!("first miss #{}", miss.global_seq),
    };
    Some(Marker {
        at_ns: miss.arrival_ns,
        label,
    })
}

/// The model as the flags that reproduce it.
fn model_note(args: &ModelArgs) -> String {
    format!(
        "Model: --cost {} --cost-scale {} --seed {} --transport {} --response-latency {} --handoff {} --miss-mode {}",
        args.cost,
        args.cost_scale,
        args.seed,
        args.transport.as_deref().unwrap_or("0ns"),
        args.response_latency.as_deref().unwrap_or("0ns"),
        args.handoff.as_deref().unwrap_or("0ns"),
        clap::ValueEnum::to_possible_value(&args.miss_mode)
            .map_or_else(String::new, |v| v.get_name().to_owned())
    ) + &super::cache_sweep::model_note(&args.kernel)
}

fn page(args: &ReportArgs, results: &[SimResult], runs: &mut [Run]) -> Page {
    let figures = figures(runs);
    let messages = results.first().map_or(0, |r| r.messages);
    let width = runs.first().map_or(1, |r| r.series.width_ns());
    Page {
        title: format!("esreplay report: {}", args.trace.display()),
        notes: vec![
            format!(
                "{messages} messages; strategies {}; esreplay {}.",
                args.strategies.join(", "),
                env!("CARGO_PKG_VERSION")
            ),
            model_note(&args.model),
            format!("Time buckets of {} (by arrival time).", format_ns(width)),
        ],
        table: {
            let (columns, rows) = table_cells(results);
            Table { columns, rows }
        },
        verdicts: results.iter().map(verdict).collect(),
        figures,
    }
}

/// `esreplay report`: simulates every strategy and writes the HTML page
/// and/or the SVG plots.
pub fn report(args: &ReportArgs) -> Result<ExitCode> {
    require_file(&args.trace, "report")?;
    refuse_same_file(
        &[&args.trace],
        &args.output.as_deref().into_iter().collect::<Vec<_>>(),
    )?;
    let mut model = model(&args.model, &args.trace)?;
    let specs = args
        .strategies
        .iter()
        .map(|s| strategy(s))
        .collect::<Result<Vec<_>>>()?;
    model.progress = Progress::bytes("report", input_len(&args.trace));
    let mut samplers: Vec<Sampler> = specs.iter().map(|_| Sampler::default()).collect();
    let observers = samplers.iter_mut().collect();
    let outcome = run_all(&args.trace, &args.strategies, &specs, &model, observers);
    model.progress.finish();
    let (results, _) = outcome?;
    let series = samplers.into_iter().map(|sampler| sampler.series);
    let mut runs: Vec<Run> = results
        .iter()
        .zip(series)
        .map(|(result, series)| Run {
            name: result.strategy.clone(),
            series,
            first_miss: first_miss_marker(result),
        })
        .collect();
    let page = page(args, &results, &mut runs);
    if let Some(dir) = &args.svg {
        write_svgs(&page, &results, dir, &args.trace)?;
    }
    if let Some(path) = &args.output {
        write_whole(path, page.html().as_bytes(), Durability::Plain)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_svgs(page: &Page, results: &[SimResult], dir: &Path, trace: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let names: Vec<String> = results.iter().map(|r| r.strategy.clone()).collect();
    for (name, svg) in page.figures.svg_files(&names) {
        let path = dir.join(name);
        refuse_same_file(&[trace], &[&path])?;
        write_whole(&path, svg.as_bytes(), Durability::Plain)?;
    }
    Ok(())
}

/// `esreplay completions SHELL`.
pub fn completions(args: &CompletionsArgs) -> Result<ExitCode> {
    // Generated in memory: clap_complete panics on a failed write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "esreplay", &mut script);
    let mut out = Output::stdout();
    out.write_all(&script)?;
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}

/// `esreplay man`: the top page on standard output, or every page in a
/// directory.
pub fn man(args: &ManArgs) -> Result<ExitCode> {
    let command = Cli::command();
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut command = command.disable_help_subcommand(true);
            command.build();
            write_pages(&command, dir)?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            let mut out = Output::stdout();
            out.write_all(&page)?;
            out.commit()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One page per command and visible subcommand, as `clap_mangen` names
/// them (`esreplay-import-jsonl.1`), each written whole or not at all.
fn write_pages(command: &clap::Command, dir: &Path) -> Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    man.render(&mut page)?;
    write_whole(&dir.join(man.get_filename()), &page, Durability::Plain)
}
