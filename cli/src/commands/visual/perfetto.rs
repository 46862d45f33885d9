//! `esreplay export perfetto`: the simulated schedule of one strategy as
//! Chrome trace event JSON. Tracks: the handler thread (inline work,
//! hand-offs, default answers), one per worker (each job as a slice named
//! by its event type), the counters "in flight" (the backlog, a_i ≤ t <
//! r_i) and "waiting" (arrived, not yet started), misses as instants at
//! their deadline, and the kill.
//!
//! Only messages arriving in the window [`--from`, `--to`) are drawn, and
//! at most `--limit` of them are kept (a clear error beyond), so memory is
//! bounded; counters include the messages still in flight from before
//! the window.

use std::process::ExitCode;

use anyhow::{Context, Result, bail, ensure};
use esreplay_report::{ChromeTrace, Scope};
use esreplay_simulator::{Observer, Outcome, SimConfig};
use esreplay_traces::parse_duration_ns;
use serde_json::json;

use super::super::replay::{model, run_observed, strategy};
use super::super::{Durability, Output, refuse_same_file};
use crate::cli::ExportPerfettoArgs;

/// The two counters.
const COUNTERS: [&str; 2] = ["in flight", "waiting"];

/// Collects what falls in the window.
struct Window {
    from: u64,
    to: u64,
    limit: u64,
    seen: u64,
    kept: Vec<Outcome>,
    /// Counter values at `from`.
    initial: [u64; 2],
    /// (time, counter, +1 or −1) inside the window.
    changes: Vec<(u64, usize, i64)>,
}

impl Window {
    /// Counts a message as counted by `counter` over [start, end).
    fn span(&mut self, counter: usize, start: u64, end: u64) {
        if start >= self.to || end <= self.from || start >= end {
            return;
        }
        if start < self.from {
            self.initial[counter] += 1;
        } else {
            self.changes.push((start, counter, 1));
        }
        if end < self.to {
            self.changes.push((end, counter, -1));
        }
    }
}

impl Observer for &mut Window {
    fn outcome(&mut self, o: &Outcome) {
        self.span(0, o.arrival_ns, o.response_ns);
        let started = o.start_ns.unwrap_or(o.response_ns);
        self.span(1, o.arrival_ns, started.min(o.response_ns));
        if (self.from..self.to).contains(&o.arrival_ns) {
            self.seen += 1;
            if self.seen <= self.limit {
                self.kept.push(*o);
            }
        }
    }
}

/// Slices and instants of one message.
fn draw(trace: &mut ChromeTrace, o: &Outcome, config: &SimConfig, workers: u32) {
    let args = json!({"global_seq": o.global_seq, "arrival_ns": o.arrival_ns,
        "deadline_ns": o.deadline_ns, "response_ns": o.response_ns,
        "latency_ns": o.latency_ns(), "slack_ns": o.slack_ns()});
    if workers > 0 && config.handoff_ns > 0 {
        trace.slice(
            0,
            "handoff",
            "hand-off",
            o.handler_ns,
            config.handoff_ns,
            json!({"global_seq": o.global_seq}),
        );
    }
    if let (Some(start), Some(finish)) = (o.start_ns, o.finish_ns) {
        let tid = o.worker.map_or(0, |w| w + 1);
        trace.slice(
            tid,
            "job",
            &o.event.to_string(),
            start,
            finish - start,
            args,
        );
    }
    if o.defaulted {
        let answered = o.response_ns.saturating_sub(config.response_latency_ns);
        let name = format!("default answer #{}", o.global_seq);
        trace.instant(0, "default", &name, answered, Scope::Thread, json!({}));
    }
    if let (true, Some(deadline)) = (o.missed, o.deadline_ns) {
        let late = json!({"global_seq": o.global_seq, "late_ns": o.response_ns - deadline});
        trace.instant(
            0,
            "miss",
            &format!("miss #{}", o.global_seq),
            deadline,
            Scope::Process,
            late,
        );
    }
}

/// Counter samples: the values at `from` (changes exactly at `from`
/// included), then one sample per counter and distinct time of change.
fn counters(trace: &mut ChromeTrace, window: &mut Window) {
    window.changes.sort_unstable();
    let mut values = window.initial.map(|v| v as i64);
    let at_from = window.changes.partition_point(|c| c.0 <= window.from);
    let (first, later) = window.changes.split_at(at_from);
    for &(_, counter, delta) in first {
        values[counter] += delta;
    }
    for (counter, name) in COUNTERS.iter().enumerate() {
        trace.counter(name, window.from, values[counter].max(0) as u64);
    }
    for (i, &(at, counter, delta)) in later.iter().enumerate() {
        values[counter] += delta;
        let next = later.get(i + 1).map(|&(t, c, _)| (t, c));
        if next != Some((at, counter)) {
            trace.counter(COUNTERS[counter], at, values[counter].max(0) as u64);
        }
    }
}

/// `esreplay export perfetto`.
pub fn perfetto(args: &ExportPerfettoArgs) -> Result<ExitCode> {
    refuse_same_file(&[&args.trace], &[&args.output])?;
    let model = model(&args.model, &args.trace)?;
    let spec = strategy(&args.strategy)?;
    let from = parse_duration_ns(&args.from).context("--from")?;
    let to = match &args.to {
        Some(to) => parse_duration_ns(to).context("--to")?,
        None => u64::MAX,
    };
    ensure!(from < to, "--from must be before --to");
    let mut window = Window {
        from,
        to,
        limit: args.limit,
        seen: 0,
        kept: Vec::new(),
        initial: [0; 2],
        changes: Vec::new(),
    };
    let result = run_observed(
        &args.trace,
        &args.strategy,
        &spec,
        &model,
        true,
        &mut window,
    )?;
    if window.seen > args.limit {
        bail!(
            "the window holds {} messages, more than --limit {}: narrow it with --from/--to (or raise --limit)",
            window.seen,
            args.limit
        );
    }
    let workers = spec.build().workers();
    let mut trace = ChromeTrace::new(&format!("esreplay {}", result.strategy));
    trace.thread(0, "handler");
    for worker in 0..workers {
        trace.thread(worker + 1, &format!("worker {worker}"));
    }
    window.kept.sort_unstable_by_key(|o| o.index);
    for o in &window.kept {
        draw(&mut trace, o, &model.config, workers);
    }
    counters(&mut trace, &mut window);
    if let Some(killed) = result.killed_at_ns.filter(|k| (from..to).contains(k)) {
        trace.instant(0, "kill", "client killed", killed, Scope::Global, json!({}));
    }
    let events = trace.len();
    let mut out = Output::create(&args.output, Durability::Plain)?;
    trace.write(&mut out)?;
    out.commit()?;
    eprintln!(
        "esreplay: {} of {} messages in the window ({events} events) written to {}",
        window.kept.len(),
        result.messages,
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
