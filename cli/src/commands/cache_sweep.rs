//! The ES cache and mute flags (`--mute`, `--mute-invert`, `--es-cache`,
//! `--es-cache-size`) and the cache sweep (`sweep --es-cache-sizes`): one
//! full run per cache size, in parallel, each streaming the trace.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use esreplay_simulator::kernel::sizes::{CacheSizeRow, run_size};
use esreplay_simulator::kernel::{KernelCounts, KernelOptions, MuteSide, Mutes};
use esreplay_traces::{Action, EventType, TraceReader, format_ns};
use serde::Serialize;

use super::replay::{in_parallel, model, strategy};
use super::{Integrity, Output, warn_about_losses};
use crate::cli::{KernelArgs, MuteInvertArg, SweepArgs};

/// The kernel-side policy the flags describe.
pub(super) fn kernel_options(args: &KernelArgs) -> Result<KernelOptions> {
    let mut mutes = Mutes::parse(args.mutes.iter().map(String::as_str)).context("--mute")?;
    for side in &args.mute_invert {
        mutes.invert(match side {
            MuteInvertArg::Process => MuteSide::Process,
            MuteInvertArg::Target => MuteSide::Target,
        });
    }
    let cache_events = match &args.es_cache {
        Some(text) => {
            let events = KernelOptions::parse_events(text).context("--es-cache")?;
            let notify: Vec<&str> = (text.split(',').map(str::trim))
                .filter(|name| {
                    let event = name.parse::<EventType>().ok();
                    event.and_then(EventType::action) == Some(Action::Notify)
                })
                .collect();
            if !notify.is_empty() {
                eprintln!(
                    "esreplay: warning: --es-cache: {} ignored (ES caches AUTH results only)",
                    notify.join(",")
                );
            }
            events
        }
        None => Vec::new(),
    };
    Ok(KernelOptions {
        mutes,
        cache_events,
        cache_size: args.es_cache_size,
    })
}

/// The kernel flags in effect, as flags for the HTML report's model note
/// (empty without them).
pub(super) fn model_note(args: &KernelArgs) -> String {
    let mut note = String::new();
    for mute in &args.mutes {
        note += &format!(" --mute {mute}");
    }
    for side in &args.mute_invert {
        let name = clap::ValueEnum::to_possible_value(side).map(|v| v.get_name().to_owned());
        note += &format!(" --mute-invert {}", name.unwrap_or_default());
    }
    if let Some(events) = &args.es_cache {
        note += &format!(
            " --es-cache {events} --es-cache-size {}",
            args.es_cache_size
        );
    }
    note
}

/// Warns when cached events had no key (no process or target path).
pub(super) fn warn_about_keys(path: &Path, counts: Option<KernelCounts>) {
    let Some(counts) = counts.filter(|c| c.keyless > 0) else {
        return;
    };
    let what = if counts.keyless == counts.lookups {
        "the trace has no process or target paths, so nothing can be cached"
    } else {
        "they always reach the client"
    };
    eprintln!(
        "esreplay: warning: {}: {} of {} messages of the --es-cache events have no process or target path: {what}",
        path.display(),
        counts.keyless,
        counts.lookups
    );
}

/// `sweep --es-cache-sizes` as JSON.
#[derive(Serialize)]
struct CacheSweep<'a> {
    strategy: &'a str,
    es_cache: Vec<String>,
    sizes: Vec<CacheSizeRow>,
}

/// `esreplay sweep --es-cache-sizes`: misses, cached and the hit rate per size.
pub(super) fn sweep(args: &SweepArgs) -> Result<ExitCode> {
    let model = model(&args.model, &args.trace)?;
    let spec = strategy(&args.strategy)?;
    let path = &args.trace;
    let rows = in_parallel(args.es_cache_sizes.len(), |index| {
        let mut reader = TraceReader::open(path)
            .with_context(|| path.display().to_string())?
            .salvage(model.salvage);
        let size = args.es_cache_sizes[index];
        let row = run_size(reader.by_ref(), &spec, &model.cost, &model.config, size).with_context(
            || {
                format!(
                    "{}: {} with --es-cache-size {size}",
                    path.display(),
                    args.strategy
                )
            },
        )?;
        if index == 0 {
            warn_about_losses(path, &reader);
        }
        Ok((row, Integrity::of(&reader)))
    })?;
    let integrity = match rows.first() {
        Some((_, integrity)) => integrity.clone(),
        None => anyhow::bail!("--es-cache-sizes: give at least one size"),
    };
    integrity.gate(path, args.allow_partial)?;
    let rows: Vec<CacheSizeRow> = rows.into_iter().map(|(row, _)| row).collect();
    if let Some(first) = rows.iter().find(|r| r.lookups > 0) {
        let counts = KernelCounts {
            lookups: first.lookups,
            keyless: first.keyless,
            ..KernelCounts::default()
        };
        warn_about_keys(path, Some(counts));
    }
    let sweep = CacheSweep {
        strategy: args.strategy.trim(),
        es_cache: model
            .config
            .kernel
            .cache_events
            .iter()
            .map(|e| e.to_string())
            .collect(),
        sizes: rows,
    };
    let mut out = Output::stdout();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&integrity.annotate(&sweep))?
        )?;
    } else {
        write!(out, "{}", table(&sweep))?;
    }
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}

fn table(sweep: &CacheSweep) -> String {
    let mut out = format!(
        "strategy  {}\nes cache  {}\n\n",
        sweep.strategy,
        sweep.es_cache.join(",")
    );
    out.push_str(&format!(
        "{:>8}  {:>8}  {:>10}  {:>8}  {}\n",
        "size", "misses", "cached", "hit rate", "killed at"
    ));
    for row in &sweep.sizes {
        let rate = row
            .hit_rate
            .map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0));
        let killed = row.killed_at_ns.map_or_else(|| "-".to_string(), format_ns);
        out.push_str(&format!(
            "{:>8}  {:>8}  {:>10}  {:>8}  {killed}\n",
            row.size, row.misses, row.cached, rate
        ));
    }
    out
}
