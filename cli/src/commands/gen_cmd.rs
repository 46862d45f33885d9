//! `esreplay gen`: writes a synthetic trace.

use std::process::ExitCode;

use anyhow::{Context, Result};
use esreplay_traces::budget::BudgetTable;
use esreplay_traces::parse_duration_ns;
use esreplay_traces::synth::{GenOptions, Scenario};
use esreplay_traces::{TraceWriter, dist::Distribution};

use crate::cli::{GenArgs, ScenarioArg};

pub(super) fn scenario(arg: ScenarioArg) -> Scenario {
    match arg {
        ScenarioArg::Steady => Scenario::Steady,
        ScenarioArg::Burst => Scenario::Burst,
        ScenarioArg::Flood => Scenario::Flood,
        ScenarioArg::ExecStorm => Scenario::ExecStorm,
        ScenarioArg::Mixed => Scenario::Mixed,
    }
}

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
    Ok(GenOptions {
        seed: args.seed,
        duration_ns,
        rate_per_s: args.rate,
        budgets: BudgetTable::with_overrides(args.budgets.iter().map(String::as_str))?,
        service,
        paths: !args.no_paths,
        ..GenOptions::new(scenario(args.scenario))
    })
}

/// Generates the trace.
pub fn run(args: &GenArgs) -> Result<ExitCode> {
    let options = options(args)?;
    let output = super::create_output(&args.output)?;
    let mut writer = TraceWriter::new(output, &options.header())?;
    for message in options.messages() {
        writer.write(&message)?;
    }
    let written = writer.messages_written();
    writer.finish()?;
    eprintln!(
        "esreplay: wrote {written} messages ({} scenario, seed {}) to {}",
        options.scenario,
        options.seed,
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
