//! `esreplay gen`: writes a synthetic trace.

use std::process::ExitCode;

use anyhow::{Context, Result};
use esreplay_traces::budget::BudgetTable;
use esreplay_traces::cpu::Shape;
use esreplay_traces::parse_duration_ns;
use esreplay_traces::synth::{GenOptions, Scenario};
use esreplay_traces::{TraceWriter, dist::Distribution};

use super::{Durability, Output};
use crate::cli::GenArgs;

/// Checks the arguments and turns them into generator options.
fn options(args: &GenArgs) -> Result<GenOptions> {
    let duration_ns = parse_duration_ns(&args.duration).context("--duration")?;
    anyhow::ensure!(
        args.rate.is_finite() && args.rate > 0.0 && args.rate <= 1e9,
        "--rate must be a positive number of messages per second, at most 1e9"
    );
    let service = args
        .service
        .as_deref()
        .map(str::parse::<Distribution>)
        .transpose()
        .context("--service")?;
    let scenario = args.scenario;
    anyhow::ensure!(
        args.threads.is_none() || scenario == Scenario::ThreadFlood,
        "--threads applies to thread-flood only"
    );
    let background = args
        .background_load
        .as_deref()
        .map(str::parse::<Shape>)
        .transpose()
        .context("--background-load")?;
    let background_period_ns =
        parse_duration_ns(&args.background_period).context("--background-period")?;
    anyhow::ensure!(
        (1_000_000..=1_000_000_000).contains(&background_period_ns),
        "--background-period must be between 1ms and 1s"
    );
    anyhow::ensure!(
        args.budget_processes.is_empty() || !args.no_paths,
        "--budget-process matches process paths: it cannot be used with --no-paths"
    );
    let mut budgets = BudgetTable::with_overrides(args.budgets.iter().map(String::as_str))?;
    for process in &args.budget_processes {
        budgets.apply_process(process)?;
    }
    Ok(GenOptions {
        seed: args.seed,
        duration_ns,
        rate_per_s: args.rate,
        budgets,
        service,
        record_service: !args.no_service,
        paths: !args.no_paths,
        threads: args.threads.unwrap_or(64),
        background,
        background_period_ns,
        cpus: args.cpus,
        ..GenOptions::new(scenario)
    })
}

/// Generates the trace.
pub fn run(args: &GenArgs) -> Result<ExitCode> {
    let options = options(args)?;
    let output = Output::create(&args.output, Durability::Synced)?;
    let mut writer = TraceWriter::new(output, &options.header())?;
    let written = options.write_to(&mut writer)?;
    writer.finish()?.commit()?;
    eprintln!(
        "esreplay: wrote {written} messages ({} scenario, seed {}) to {}",
        options.scenario,
        options.seed,
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
