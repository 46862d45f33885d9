//! The per-strategy result ([`SimResult`]) as JSON (field names and order
//! fixed, documented in docs/simulator.md, "Results"), and its table for
//! people.
//!
//! Definitions (also in docs/simulator.md):
//! - latency r_i − a_i over AUTH messages; percentiles nearest-rank within
//!   0.1 % (see [`crate::histogram`]), `max` exact;
//! - `min_slack_ns` = min (d_i − r_i) over AUTH messages with a deadline;
//! - `max_backlog` = max over t of #{i : a_i ≤ t < r_i};
//! - utilisation = busy time / simulated span, where the span runs from the
//!   first arrival to the last moment anything happens (last response,
//!   last finish, or the handler becoming free); worker utilisation divides
//!   by N · span and is null for strategies without workers.

use std::fmt::Write as _;

use esreplay_traces::format_ns;
use serde::Serialize;

/// Everything one simulation run predicts.
///
/// The keys after `worker_utilization` appear only when their feature is
/// on, so a run without the new flags prints what it always printed:
/// `replay`, `stall_ns`, `throttled_ns` under closed replay; `dropped`,
/// `dropped_allowed`, `dropped_denied` with `--kernel-queue`; `cores`,
/// `background`, `cpu_rate` with `--cores`; `cached`, `muted` with `--mute`
/// or `--es-cache`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SimResult {
    /// The strategy, as asked.
    pub strategy: String,
    /// Messages simulated.
    pub messages: u64,
    /// AUTH messages among them.
    pub auth: u64,
    /// NOTIFY messages among them.
    pub notify: u64,
    /// AUTH messages answered after their deadline (r_i > d_i).
    pub misses: u64,
    /// Messages answered by a guard's default verdict.
    pub defaulted: u64,
    /// When ES would kill the client: d_i of the earliest-deadline miss
    /// (`--miss-mode kill` only).
    pub killed_at_ns: Option<u64>,
    /// The earliest-deadline missed message (ties by global_seq).
    pub first_miss: Option<FirstMiss>,
    /// Latency over AUTH messages (null without AUTH messages).
    pub latency_ns: Option<Latency>,
    /// Smallest d_i − r_i (negative for a miss).
    pub min_slack_ns: Option<i64>,
    /// Most messages in flight (arrived, not answered) at once.
    pub max_backlog: u64,
    /// Handler busy time / simulated span.
    pub handler_utilization: Option<f64>,
    /// Worker busy time / (workers · simulated span).
    pub worker_utilization: Option<f64>,
    /// `closed` under closed replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Σ (r' − a') over AUTH messages: what the processes lost waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_ns: Option<u64>,
    /// Σ max(0, a' − a): how much later than recorded messages arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttled_ns: Option<u64>,
    /// Messages dropped at a full kernel queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// Dropped AUTH messages the kernel allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_allowed: Option<u64>,
    /// Dropped AUTH messages the kernel denied (fail-closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_denied: Option<u64>,
    /// C, the cores the client's threads share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cores: Option<f64>,
    /// B, the background runnable threads (the track's time-weighted mean).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<f64>,
    /// CPU work done ÷ time the client's threads were runnable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rate: Option<f64>,
    /// Messages a co-resident client's opens added (`--co-client`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injected: Option<u64>,
    /// Whether injection stopped at `--co-client-cap` (the loop ran away).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runaway: Option<bool>,
    /// AUTH messages answered by the kernel from its ES cache (in
    /// `messages`, `auth` and the latency, with 0); with `--mute` or
    /// `--es-cache`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached: Option<u64>,
    /// Messages muted (in no other count); with `cached`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted: Option<u64>,
}

/// The message that kills the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FirstMiss {
    /// Its global_seq.
    pub global_seq: u64,
    /// a_i.
    pub arrival_ns: u64,
    /// d_i.
    pub deadline_ns: u64,
    /// r_i.
    pub response_ns: u64,
}

/// Latency percentiles, ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Exact maximum.
    pub max: u64,
}

impl SimResult {
    /// One line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a result always serializes")
    }

    /// Whether ES would kill the client (or, with another miss mode,
    /// whether any deadline was missed).
    pub fn failed(&self) -> bool {
        self.misses > 0 || self.killed_at_ns.is_some()
    }
}

/// A JSON array of results, one per strategy, in the order given.
pub fn results_json(results: &[SimResult]) -> String {
    serde_json::to_string(results).expect("results always serialize")
}

/// The columns of [`results_table`] (and of the HTML report's table).
pub const TABLE_COLUMNS: [&str; 12] = [
    "strategy",
    "misses",
    "killed at",
    "first miss",
    "defaulted",
    "p50",
    "p99",
    "p99.9",
    "max",
    "min slack",
    "backlog",
    "util h/w",
];

/// One result's cells under [`TABLE_COLUMNS`], as [`results_table`] prints them.
pub fn table_row(result: &SimResult) -> [String; 12] {
    let dash = || "-".to_string();
    let latency = |pick: fn(&Latency) -> u64| {
        result
            .latency_ns
            .as_ref()
            .map_or_else(dash, |l| format_ns(pick(l)))
    };
    let slack = result.min_slack_ns.map_or_else(dash, |s| {
        let sign = if s < 0 { "-" } else { "" };
        format!("{sign}{}", format_ns(s.unsigned_abs()))
    });
    let percent = |u: Option<f64>| u.map_or_else(dash, |u| format!("{:.0}%", u * 100.0));
    [
        result.strategy.clone(),
        format!("{}/{}", result.misses, result.auth),
        result.killed_at_ns.map_or_else(dash, format_ns),
        result
            .first_miss
            .map_or_else(dash, |m| format!("#{}", m.global_seq)),
        result.defaulted.to_string(),
        latency(|l| l.p50),
        latency(|l| l.p99),
        latency(|l| l.p999),
        latency(|l| l.max),
        slack,
        result.max_backlog.to_string(),
        format!(
            "{}/{}",
            percent(result.handler_utilization),
            percent(result.worker_utilization)
        ),
    ]
}

/// A column shown only when some result has its value.
type Extra = (&'static str, fn(&SimResult) -> Option<String>);

/// The feature columns after [`TABLE_COLUMNS`]: closed replay's stall and
/// throttling, the kernel queue's drops (allowed/denied), the CPU model's
/// cores, background and delivered rate, the ES cache's and mutes'
/// counts, the co-client's injected messages.
const EXTRA_COLUMNS: [Extra; 7] = [
    ("stall", |r| r.stall_ns.map(format_ns)),
    ("throttled", |r| r.throttled_ns.map(format_ns)),
    ("dropped a/d", |r| {
        let (a, d) = (r.dropped_allowed?, r.dropped_denied?);
        Some(format!("{} {a}/{d}", r.dropped?))
    }),
    ("cpu C/B/rate", |r| {
        let (c, b) = (short(r.cores?), short(r.background?));
        Some(format!("{c}/{b}/{:.0}%", r.cpu_rate? * 100.0))
    }),
    ("injected", |r| {
        let runaway = if r.runaway? { " runaway" } else { "" };
        Some(format!("{}{runaway}", r.injected?))
    }),
    ("cached", |r| r.cached.map(|n| n.to_string())),
    ("muted", |r| r.muted.map(|n| n.to_string())),
];

/// A number with at most 2 decimals, trailing zeros dropped.
fn short(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The column names and every result's cells: [`TABLE_COLUMNS`], then the
/// feature columns some result has values for (the text table and the
/// HTML report's).
pub fn table_cells(results: &[SimResult]) -> (Vec<String>, Vec<Vec<String>>) {
    let extras: Vec<&Extra> = EXTRA_COLUMNS
        .iter()
        .filter(|(_, cell)| results.iter().any(|r| cell(r).is_some()))
        .collect();
    let header: Vec<String> = TABLE_COLUMNS
        .iter()
        .chain(extras.iter().map(|(name, _)| name))
        .map(|c| c.to_string())
        .collect();
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let mut cells = table_row(r).to_vec();
            cells.extend(
                extras
                    .iter()
                    .map(|(_, cell)| cell(r).unwrap_or_else(|| "-".into())),
            );
            cells
        })
        .collect();
    (header, rows)
}

/// An aligned table, one row per result, for people.
pub fn results_table(results: &[SimResult]) -> String {
    let (header, rows) = table_cells(results);
    let mut widths: Vec<usize> = header.iter().map(|c| c.chars().count()).collect();
    for cells in &rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&header);
    rows.iter().for_each(|cells| line(cells));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SimResult {
        SimResult {
            strategy: "pool:4".into(),
            messages: 1000,
            auth: 900,
            notify: 100,
            misses: 3,
            defaulted: 0,
            killed_at_ns: Some(5_200_000_000),
            first_miss: Some(FirstMiss {
                global_seq: 417,
                arrival_ns: 1,
                deadline_ns: 2,
                response_ns: 3,
            }),
            latency_ns: Some(Latency {
                p50: 1,
                p90: 2,
                p99: 3,
                p999: 4,
                max: 5,
            }),
            min_slack_ns: Some(-1200),
            max_backlog: 57,
            handler_utilization: Some(0.41),
            worker_utilization: Some(0.93),
            ..SimResult::default()
        }
    }

    #[test]
    fn json_matches_the_design_example_field_for_field() {
        let want = concat!(
            r#"{"strategy":"pool:4","messages":1000,"auth":900,"notify":100,"misses":3,"#,
            r#""defaulted":0,"killed_at_ns":5200000000,"#,
            r#""first_miss":{"global_seq":417,"arrival_ns":1,"deadline_ns":2,"response_ns":3},"#,
            r#""latency_ns":{"p50":1,"p90":2,"p99":3,"p999":4,"max":5},"#,
            r#""min_slack_ns":-1200,"max_backlog":57,"#,
            r#""handler_utilization":0.41,"worker_utilization":0.93}"#
        );
        assert_eq!(sample().to_json(), want);
    }

    #[test]
    fn kernel_counts_appear_only_when_the_run_had_mutes_or_a_cache() {
        let plain = sample();
        assert!(!plain.to_json().contains("cached"));
        assert!(!results_table(std::slice::from_ref(&plain)).contains("muted"));
        let mut cached = sample();
        cached.cached = Some(880);
        cached.muted = Some(0);
        assert!(
            cached
                .to_json()
                .ends_with(r#""worker_utilization":0.93,"cached":880,"muted":0}"#)
        );
        let table = results_table(&[plain, cached]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].ends_with("cached  muted"), "{table}");
        assert!(lines[1].ends_with("-       -"), "{table}");
        assert!(lines[2].ends_with("880     0"), "{table}");
    }

    #[test]
    fn absent_values_are_null_and_dashes() {
        let mut result = sample();
        result.killed_at_ns = None;
        result.first_miss = None;
        result.min_slack_ns = None;
        result.worker_utilization = None;
        let json = result.to_json();
        for field in [
            "killed_at_ns",
            "first_miss",
            "min_slack_ns",
            "worker_utilization",
        ] {
            assert!(json.contains(&format!("\"{field}\":null")), "{json}");
        }
        let table = results_table(&[result, sample()]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].contains("41%/-") && lines[2].contains("-1.20us"),
            "{table}"
        );
        assert!(
            !lines[0].contains("stall"),
            "no feature columns unless used"
        );
    }

    #[test]
    fn feature_keys_are_appended_only_when_set_and_shown_as_columns() {
        let mut closed = sample();
        closed.replay = Some("closed".into());
        closed.stall_ns = Some(2_000);
        closed.throttled_ns = Some(0);
        closed.cores = Some(1.5);
        closed.background = Some(0.0);
        assert_eq!(
            (short(0.211634), short(2.0), short(1.5)),
            ("0.21".into(), "2".into(), "1.5".into())
        );
        closed.cpu_rate = Some(0.75);
        let json = closed.to_json();
        assert!(
            json.ends_with(r#""worker_utilization":0.93,"replay":"closed","stall_ns":2000,"throttled_ns":0,"cores":1.5,"background":0.0,"cpu_rate":0.75}"#),
            "{json}"
        );
        let table = results_table(&[sample(), closed]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].ends_with("stall   throttled  cpu C/B/rate"),
            "{table}"
        );
        assert!(lines[1].ends_with("-       -          -"), "{table}");
        assert!(
            lines[2].ends_with("2.00us  0ns        1.5/0/75%"),
            "{table}"
        );
    }
}
