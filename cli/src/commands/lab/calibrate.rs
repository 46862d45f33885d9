//! `esreplay lab --calibrate -o machine.toml`: a short real run of
//! `inline` and `pool:2` on the schedule the other flags give (default:
//! `--scenario burst` for 3 s), then this machine's τ, ρ, overheads, cores
//! and mean background written as a machine file for `--machine`
//! (`esreplay_lab::calibration`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};
use esreplay_lab::Costs;
use esreplay_lab::calibration::MachineFile;

use crate::cli::LabArgs;

/// What a calibration runs: the reading thread alone, then a pool.
pub(super) const STRATEGIES: [&str; 2] = ["inline", "pool:2"];

pub(super) fn run(args: &LabArgs) -> Result<ExitCode> {
    let Some(output) = args.output.as_deref() else {
        bail!("--calibrate needs -o FILE");
    };
    let setup = super::setup(args)?;
    let openers = super::openers(&setup)?;
    let runs = super::run_all(&setup, openers, None)?;
    let [inline, pool] = &runs[..] else {
        bail!("a calibration runs {STRATEGIES:?}");
    };
    let costs = |f: &esreplay_lab::fidelity::Fidelity| Costs {
        delivery_ns: Some(f.transport_ns).filter(|_| f.delivery_samples > 0),
        response_ns: Some(f.response_latency_ns),
        handler_ns: Some(f.handler_overhead_ns),
        worker_ns: Some(f.worker_overhead_ns),
        ..Costs::default()
    };
    let background: Vec<f64> = runs
        .iter()
        .filter_map(|f| f.conditions.background_mean)
        .collect();
    let mean = background.iter().sum::<f64>() / background.len().max(1) as f64;
    let file = MachineFile::from_runs(&costs(inline), &costs(pool), inline.conditions.cores, mean);
    let header = format!(
        "esreplay lab --calibrate: {} opens each on inline and pool:2, {} hogs{}\n\
         τ, ρ: medians; overheads: trimmed means; background: other runnable threads (mean)",
        setup.planned.len(),
        setup.cpu.hogs,
        setup
            .cpu
            .cpus
            .as_ref()
            .map_or(String::new(), |c| format!(", pinned to CPUs {c:?}")),
    );
    let mut out = super::Output::create(output, super::Durability::Plain)?;
    out.write_all(file.to_toml(&header).as_bytes())?;
    out.commit()?;
    eprint!("{}", esreplay_lab::fidelity::table(&runs));
    Ok(ExitCode::SUCCESS)
}
