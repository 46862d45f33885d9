//! `esreplay inspect`: what is in a trace, for people or (`--json`) machines.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use esreplay_simulator::engine::RecordedClamps;
use esreplay_traces::cpu::TrackSummary;
use esreplay_traces::stats::{DurationSummary, StatsBuilder, TraceStats};
use esreplay_traces::{Footer, Header, HumanNs, ReadSummary, Source};
use serde_json::{Value, json};

use super::Output;
use crate::cli::InspectArgs;

/// Reads the whole trace and prints its statistics.
pub fn run(args: &InspectArgs) -> Result<ExitCode> {
    let reader = super::open_trace(&args.trace, args.salvage)?;
    let mut builder = StatsBuilder::default();
    let mut clamps = RecordedClamps::default();
    let reader = super::for_each_message(&args.trace, reader, |message| {
        builder.add(message);
        clamps.add(message);
        Ok(())
    })?;
    let stats = builder.finish();
    let (header, footer, summary) = (reader.header(), reader.footer(), reader.summary());
    let mut out = Output::stdout();
    let track = reader.cpu_track().summary();
    if args.json {
        let report = json!({
            "file": args.trace.display().to_string(),
            "header": header_json(header),
            "footer": footer.map(footer_json),
            "read": read_json(summary),
            "cpu_track": track,
            "stats": stats,
            "threads": threads_json(&clamps),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(out, "{}", render(header, footer, summary, &stats))?;
        if let Some(line) = threads_line(&clamps) {
            writeln!(out, "{line}")?;
        }
        if let Some(track) = &track {
            writeln!(out, "{}", track_line(track))?;
        }
    }
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}

fn header_json(header: &Header) -> Value {
    json!({
        "source": header.source.map(|source| source.name()),
        "tool": header.tool,
        "tool_version": header.tool_version,
        "timebase": {"numer": header.timebase.numer, "denom": header.timebase.denom},
        "start": {
            "mach_absolute": header.start.mach_absolute,
            "mach_continuous": header.start.mach_continuous,
            "wall_ns": header.start.wall_ns,
        },
        "os_version": header.os_version,
        "os_build": header.os_build,
        "hardware_model": header.hardware_model,
        "cpu_count": header.cpu_count,
        "subscribed": header.subscribed.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "meta": header.meta,
    })
}

fn footer_json(footer: &Footer) -> Value {
    json!({
        "messages": footer.messages,
        "chunks": footer.chunks,
        "dropped": footer.dropped,
        "es_gaps": footer.es_gaps,
        "meta": footer.meta,
    })
}

fn read_json(summary: &ReadSummary) -> Value {
    json!({
        "version": format!("{}.{}", summary.version.0, summary.version.1),
        "chunks": summary.chunks,
        "dropped": summary.dropped,
        "skipped_chunks": summary.skipped_chunks,
        "unknown_frames": summary.unknown_frames,
        "truncated_bytes": summary.truncated_bytes,
        "bytes": summary.bytes_read + summary.truncated_bytes,
        "complete": summary.is_intact(),
        "damage": summary.damage,
        "first_damage": summary.first_damage,
        "garbage_bytes": summary.garbage_bytes,
        "lost_chunks": summary.lost_chunks,
        "lost_messages": summary.lost_messages,
        "loss_exact": summary.loss_exact,
    })
}

/// The blocking threads of a closed replay, when messages carry thread ids.
fn threads_json(clamps: &RecordedClamps) -> Value {
    if clamps.threaded() == 0 {
        return Value::Null;
    }
    json!({
        "threads": clamps.threads(),
        "messages": clamps.threaded(),
        "clamped": clamps.clamped(),
    })
}

/// "threads     4096 (180011 messages); 0 arrive before their thread's
/// previous AUTH answer (closed replay clamps them)".
fn threads_line(clamps: &RecordedClamps) -> Option<String> {
    (clamps.threaded() > 0).then(|| {
        format!(
            "threads     {} ({} messages); {} arrive before their thread's previous AUTH answer (closed replay clamps them)",
            clamps.threads(),
            clamps.threaded(),
            clamps.clamped()
        )
    })
}

/// "cpu track   300 samples every 10ms: background min 0, mean 1.3, max 2"
/// (what a sample counts depends on the recorder: the header's
/// `cpu_track` meta says it, e.g. runnable threads on Linux, busy CPUs on
/// macOS).
fn track_line(track: &TrackSummary) -> String {
    format!(
        "cpu track   {} samples every {} from {} to {}: background min {}, mean {:.2}, max {}",
        track.samples,
        HumanNs(track.period_ns),
        HumanNs(track.first_ns),
        HumanNs(track.last_ns),
        track.min,
        track.mean,
        track.max
    )
}

fn durations(summary: &DurationSummary) -> String {
    format!(
        "min {}  p50 {}  p99 {}  max {}  mean {}",
        HumanNs(summary.min_ns),
        HumanNs(summary.p50_ns),
        HumanNs(summary.p99_ns),
        HumanNs(summary.max_ns),
        HumanNs(summary.mean_ns.round() as u64)
    )
}

/// "macOS 14.5 (23F79), Mac14,2, 8 CPUs": what is known of the machine.
fn machine(header: &Header, os: &str) -> String {
    let system = match header.source {
        Some(Source::Fanotify) => "",
        _ => "macOS ",
    };
    let mut text = format!("{system}{os}");
    if let Some(build) = &header.os_build {
        let _ = write!(text, " ({build})");
    }
    if let Some(model) = &header.hardware_model {
        let _ = write!(text, ", {model}");
    }
    if let Some(cpus) = header.cpu_count {
        let _ = write!(text, ", {cpus} CPUs");
    }
    text
}

/// The report for people.
fn render(
    header: &Header,
    footer: Option<&Footer>,
    read: &ReadSummary,
    stats: &TraceStats,
) -> String {
    let mut out = String::new();
    let source = header
        .source
        .map_or_else(|| "unknown".to_owned(), |s| s.name());
    let _ = writeln!(
        out,
        "source      {source} ({} {})",
        header.tool, header.tool_version
    );
    if let Some(os) = &header.os_version {
        let _ = writeln!(out, "recorded on {}", machine(header, os));
    } else if let Some(cpus) = header.cpu_count {
        let _ = writeln!(out, "machine     {cpus} CPUs");
    }
    for (key, value) in &header.meta {
        let _ = writeln!(out, "meta        {key} = {value}");
    }
    let complete = match footer {
        Some(footer) if read.is_intact() => format!(
            "complete ({} chunks, {} dropped by the recorder{})",
            footer.chunks,
            footer.dropped,
            footer
                .es_gaps
                .map(|gaps| format!(", {gaps} never delivered by ES"))
                .unwrap_or_default()
        ),
        Some(_) => format!(
            "DAMAGED: {} messages in {} chunks lost, {} damaged places, {} garbage bytes skipped",
            read.lost_messages, read.lost_chunks, read.damage, read.garbage_bytes
        ),
        None => format!(
            "CUT SHORT: footer missing, {} bytes lost, at least {} messages lost",
            read.truncated_bytes, read.lost_messages
        ),
    };
    let _ = writeln!(
        out,
        "file        format {}.{}, {complete}",
        read.version.0, read.version.1
    );
    let _ = writeln!(
        out,
        "messages    {} ({} auth, {} notify) over {}",
        stats.messages,
        stats.auth,
        stats.notify,
        HumanNs(stats.duration_ns)
    );
    let peaks: Vec<String> = stats
        .peak_rate_per_s
        .iter()
        .map(|(window, rate)| format!("{rate:.0}/s in {window}"))
        .collect();
    let _ = writeln!(
        out,
        "rate        mean {:.0}/s, peak {}",
        stats.mean_rate_per_s,
        peaks.join(", ")
    );
    let _ = writeln!(
        out,
        "sequence    {} gaps (drops), {} restarts, {} arrivals out of order",
        stats.sequence_gaps, stats.sequence_regressions, stats.arrival_regressions
    );
    if let Some(service) = &stats.service {
        let _ = writeln!(
            out,
            "service     {} messages: {}",
            service.count,
            durations(service)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<28} {:>10} {:>10}  deadline budget",
        "event", "auth", "notify"
    );
    for event in &stats.events {
        let budget = event.budget.as_ref().map(durations).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<28} {:>10} {:>10}  {budget}",
            event.event, event.auth, event.notify
        );
    }
    out
}
