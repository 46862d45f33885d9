//! `check`'s gates: one type for every limit `check` can put on a result
//! (the trace's completeness, a kill, misses, latency percentiles, slack,
//! backlog, cost headroom, defaulted verdicts, kernel-queue drops, stall,
//! a co-client's injected messages and its loop running away),
//! one evaluation ([`Gate::judge`]) and one report per strategy and gate
//! ([`Verdict`]), printed as a table, as JSON, as GitHub workflow
//! annotations and as a JUnit XML file.
//!
//! Every limit is inclusive: a value equal to its limit passes, the next
//! value past it fails.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use esreplay_report::svg::escape as xml;
use esreplay_simulator::SimResult;
use esreplay_simulator::sweep::MAX_FACTOR;
use esreplay_traces::{format_ns, parse_duration_ns};
use serde::Serialize;
use serde_json::Value;

use super::Integrity;

/// A latency percentile `--max-latency` can limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Percentile {
    P50,
    P90,
    P99,
    P999,
    Max,
}

impl Percentile {
    const NAMES: [(&'static str, Percentile); 5] = [
        ("p50", Percentile::P50),
        ("p90", Percentile::P90),
        ("p99", Percentile::P99),
        ("p99.9", Percentile::P999),
        ("max", Percentile::Max),
    ];

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("?", |(name, _)| name)
    }
}

/// What a gate limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// The trace was read whole (always gated; `--allow-partial` waives it).
    Complete,
    /// ES would kill the client (`--miss-mode kill`: any miss).
    Killed,
    Misses,
    Latency(Percentile),
    MinSlack,
    Backlog,
    /// Cost headroom, as `sweep` computes it.
    Headroom,
    Defaulted,
    Dropped,
    Stall,
    /// The co-client's loop ran away to `--co-client-cap` (always gated
    /// with `--co-client`: a run stopped at the cap measures the cap).
    Runaway,
    Injected,
}

/// A measured value or a limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    Count(u64),
    Ns(i64),
    Factor(f64),
}

impl Amount {
    fn json(self) -> Value {
        match self {
            Amount::Count(n) => n.into(),
            Amount::Ns(ns) => ns.into(),
            Amount::Factor(k) => k.into(),
        }
    }

    fn text(self) -> String {
        match self {
            Amount::Count(n) => n.to_string(),
            Amount::Ns(ns) if ns < 0 => format!("-{}", format_ns(ns.unsigned_abs())),
            Amount::Ns(ns) => format_ns(ns.unsigned_abs()),
            Amount::Factor(k) if k >= MAX_FACTOR => format!(">= {MAX_FACTOR}"),
            Amount::Factor(k) => format!("{k:.3}x"),
        }
    }

    /// `self ≤ other` in the same unit (different units never compare).
    fn at_most(self, other: Amount) -> bool {
        match (self, other) {
            (Amount::Count(a), Amount::Count(b)) => a <= b,
            (Amount::Ns(a), Amount::Ns(b)) => a <= b,
            (Amount::Factor(a), Amount::Factor(b)) => a <= b,
            _ => false,
        }
    }
}

/// One limit on one metric; `limit: None` is a gate that only the
/// absence of the thing passes (a kill) or that is waived (a partial
/// trace under `--allow-partial`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gate {
    pub metric: Metric,
    pub limit: Option<Amount>,
}

/// What a gate is judged on: one strategy's run.
pub struct Judged<'a> {
    pub result: &'a SimResult,
    pub integrity: &'a Integrity,
    /// The cost headroom (`Some(None)`: misses at any factor), when gated.
    pub headroom: Option<Option<f64>>,
}

/// One gate's verdict on one strategy.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The gate, named by its flag (`max-latency p99`).
    pub gate: String,
    /// The measured value (null: nothing to measure, e.g. no AUTH message).
    pub value: Value,
    /// The limit (null: none, see [`Gate`]).
    pub limit: Value,
    /// `count`, `ns` or `factor`.
    pub unit: &'static str,
    pub pass: bool,
    /// The value and limit for people.
    #[serde(skip)]
    pub value_text: String,
    #[serde(skip)]
    pub limit_text: String,
    /// Why it failed, for people (empty when it passed).
    #[serde(skip)]
    pub detail: String,
}

impl Gate {
    /// The flag that sets it, as the report names it.
    pub fn name(&self) -> String {
        match self.metric {
            Metric::Complete => "complete".into(),
            Metric::Killed => "killed".into(),
            Metric::Misses => "max-misses".into(),
            Metric::Latency(p) => format!("max-latency {}", p.name()),
            Metric::MinSlack => "min-slack".into(),
            Metric::Backlog => "max-backlog".into(),
            Metric::Headroom => "min-headroom".into(),
            Metric::Defaulted => "max-defaulted".into(),
            Metric::Dropped => "max-dropped".into(),
            Metric::Stall => "max-stall".into(),
            Metric::Runaway => "runaway".into(),
            Metric::Injected => "max-injected".into(),
        }
    }

    fn unit(&self) -> &'static str {
        match self.metric {
            Metric::Killed | Metric::Latency(_) | Metric::MinSlack | Metric::Stall => "ns",
            Metric::Headroom => "factor",
            _ => "count",
        }
    }

    /// The measured value, `None` when there is nothing to measure.
    fn value(&self, run: &Judged) -> Option<Amount> {
        let r = run.result;
        let ns = |v: u64| Amount::Ns(i64::try_from(v).unwrap_or(i64::MAX));
        match self.metric {
            Metric::Complete => Some(Amount::Count(run.integrity.messages_lost)),
            Metric::Killed => r.killed_at_ns.map(ns),
            Metric::Misses => Some(Amount::Count(r.misses)),
            Metric::Latency(p) => r.latency_ns.map(|l| {
                ns(match p {
                    Percentile::P50 => l.p50,
                    Percentile::P90 => l.p90,
                    Percentile::P99 => l.p99,
                    Percentile::P999 => l.p999,
                    Percentile::Max => l.max,
                })
            }),
            Metric::MinSlack => r.min_slack_ns.map(Amount::Ns),
            Metric::Backlog => Some(Amount::Count(r.max_backlog)),
            Metric::Headroom => run.headroom.flatten().map(Amount::Factor),
            Metric::Defaulted => Some(Amount::Count(r.defaulted)),
            Metric::Dropped => Some(Amount::Count(r.dropped.unwrap_or(0))),
            Metric::Stall => r.stall_ns.map(ns),
            // Only a runaway has a value: the messages injected up to the cap.
            Metric::Runaway => match r.runaway {
                Some(true) => Some(Amount::Count(r.injected.unwrap_or(0))),
                _ => None,
            },
            Metric::Injected => Some(Amount::Count(r.injected.unwrap_or(0))),
        }
    }

    /// Whether `value` passes: limits are inclusive; slack and headroom
    /// are floors, the rest ceilings.
    fn passes(&self, value: Option<Amount>, run: &Judged) -> bool {
        match (self.metric, value, self.limit) {
            (Metric::Complete, _, None) => true,
            (Metric::Complete, _, Some(_)) => run.integrity.complete(),
            (Metric::Killed | Metric::Runaway, value, _) => value.is_none(),
            (Metric::Headroom, None, _) => false,
            (_, None, _) | (_, _, None) => true,
            (Metric::MinSlack | Metric::Headroom, Some(v), Some(limit)) => limit.at_most(v),
            (_, Some(v), Some(limit)) => v.at_most(limit),
        }
    }

    /// The verdict of this gate on `run`.
    pub fn judge(&self, run: &Judged) -> Verdict {
        let value = self.value(run);
        let pass = self.passes(value, run);
        let value_text = match (self.metric, value) {
            (Metric::Killed, None) => "no".into(),
            (Metric::Killed, Some(at)) => format!("at {}", at.text()),
            (Metric::Runaway, None) => "no".into(),
            (Metric::Runaway, Some(n)) => format!("at the cap, {} injected", n.text()),
            (Metric::Headroom, None) => "none (misses at any factor)".into(),
            (_, None) => "-".into(),
            (_, Some(v)) => v.text(),
        };
        let limit_text = match (self.metric, self.limit) {
            (Metric::Killed | Metric::Runaway, _) => "never".into(),
            (Metric::Complete, None) => "partial allowed".into(),
            (Metric::Complete, Some(_)) => "complete".into(),
            (Metric::MinSlack | Metric::Headroom, Some(l)) => format!(">= {}", l.text()),
            (_, Some(l)) => format!("<= {}", l.text()),
            (_, None) => "-".into(),
        };
        let detail = match pass {
            true => String::new(),
            false => self.detail(run, &value_text, &limit_text),
        };
        Verdict {
            gate: self.name(),
            value: value.map_or(Value::Null, Amount::json),
            limit: self.limit.map_or(Value::Null, Amount::json),
            unit: self.unit(),
            pass,
            value_text,
            limit_text,
            detail,
        }
    }

    /// Why the gate failed, in a sentence naming the strategy.
    fn detail(&self, run: &Judged, value: &str, limit: &str) -> String {
        let r = run.result;
        let which = r.first_miss.map(|first| {
            format!(
                "message global_seq {} (arrived {}, deadline {}, answered {}, {} late)",
                first.global_seq,
                format_ns(first.arrival_ns),
                format_ns(first.deadline_ns),
                format_ns(first.response_ns),
                format_ns(first.response_ns.saturating_sub(first.deadline_ns)),
            )
        });
        let which = which.unwrap_or_else(|| "none".into());
        let what = match self.metric {
            Metric::Complete => format!(
                "the trace is incomplete: {} messages lost",
                run.integrity.messages_lost
            ),
            Metric::Killed => format!(
                "the client would be killed {value} by {which}; {} misses in all",
                r.misses
            ),
            Metric::Misses => format!(
                "{} misses, more than --max-misses {}; earliest deadline missed: {which}",
                r.misses,
                self.limit.map_or_else(String::new, Amount::text)
            ),
            Metric::Dropped => format!(
                "{value} messages dropped at the full kernel queue ({} AUTH allowed unseen, {} denied), limit {limit}",
                r.dropped_allowed.unwrap_or(0),
                r.dropped_denied.unwrap_or(0)
            ),
            Metric::Stall => {
                format!("the processes stalled {value} in all waiting for answers, limit {limit}")
            }
            Metric::Runaway => format!(
                "the loop with the co-client ran away: injection stopped {value} (--co-client-cap), so every other number measures the cap"
            ),
            Metric::Injected => {
                format!("the co-client's opens added {value} messages, limit {limit}")
            }
            _ => format!("{} {value}, limit {limit}", self.name()),
        };
        format!("{}: {what}", r.strategy)
    }
}

/// `P=D` of `--max-latency`.
pub fn latency_gate(text: &str) -> Result<Gate> {
    let Some((name, limit)) = text.split_once('=') else {
        bail!("--max-latency {text:?}: expected P=D, e.g. p99=100ms");
    };
    let Some(&(_, percentile)) = Percentile::NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
    else {
        bail!("--max-latency {text:?}: the percentile is one of p50, p90, p99, p99.9, max");
    };
    Ok(Gate {
        metric: Metric::Latency(percentile),
        limit: Some(duration("--max-latency", limit)?),
    })
}

/// A duration limit as a signed amount.
pub fn duration(flag: &str, text: &str) -> Result<Amount> {
    let ns = parse_duration_ns(text).with_context(|| flag.to_owned())?;
    let ns = i64::try_from(ns).with_context(|| format!("{flag} {text}: too large"))?;
    Ok(Amount::Ns(ns))
}

/// Whether every verdict passed.
pub fn all_pass(verdicts: &[Verdict]) -> bool {
    verdicts.iter().all(|v| v.pass)
}

/// The verdicts of every strategy as an aligned table.
pub fn table(runs: &[(String, Vec<Verdict>)]) -> String {
    let mut rows = vec![[
        "strategy".to_string(),
        "gate".into(),
        "value".into(),
        "limit".into(),
        "verdict".into(),
    ]];
    for (strategy, verdicts) in runs {
        for v in verdicts {
            let verdict = if v.pass { "pass" } else { "FAIL" };
            rows.push([
                strategy.clone(),
                v.gate.clone(),
                v.value_text.clone(),
                v.limit_text.clone(),
                verdict.into(),
            ]);
        }
    }
    let mut widths = [0; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// GitHub's escaping of an annotation's message.
fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of an annotation's property (`title=`).
fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub workflow annotations: an error per failed gate, a notice per
/// strategy that passed them all.
pub fn github(runs: &[(String, Vec<Verdict>)]) -> String {
    let mut out = String::new();
    for (strategy, verdicts) in runs {
        for v in verdicts.iter().filter(|v| !v.pass) {
            let title = format!("esreplay check {strategy}: {}", v.gate);
            let _ = writeln!(
                out,
                "::error title={}::{}",
                github_property(&title),
                github_data(&v.detail)
            );
        }
        if all_pass(verdicts) {
            let title = format!("esreplay check {strategy}");
            let _ = writeln!(
                out,
                "::notice title={}::all {} gates pass",
                github_property(&title),
                verdicts.len()
            );
        }
    }
    out
}

/// A JUnit XML document: `testsuites` holding one `testsuite` per
/// strategy holding one `testcase` per gate, a `failure` in each failed one.
pub fn junit(runs: &[(String, Vec<Verdict>)]) -> String {
    let count = |pick: fn(&Verdict) -> bool| -> usize {
        runs.iter()
            .map(|(_, vs)| vs.iter().filter(|v| pick(v)).count())
            .sum()
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"esreplay check\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"0\">",
        count(|_| true),
        count(|v| !v.pass)
    );
    for (id, (strategy, verdicts)) in runs.iter().enumerate() {
        let failures = verdicts.iter().filter(|v| !v.pass).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" id=\"{id}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"0\">",
            xml(strategy),
            verdicts.len()
        );
        for v in verdicts {
            let _ = write!(
                out,
                "    <testcase classname=\"esreplay.check.{}\" name=\"{}\" time=\"0\"",
                xml(strategy),
                xml(&v.gate)
            );
            if v.pass {
                out.push_str("/>\n");
            } else {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"gate\">value {}, limit {}</failure>\n    </testcase>",
                    xml(&v.detail),
                    xml(&v.value_text),
                    xml(&v.limit_text)
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests;
