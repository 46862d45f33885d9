//! What an import did: counts, skipped and bad lines, sequence anomalies
//! and the timebase, for the user to read on stderr.

use std::collections::BTreeMap;
use std::fmt;

use esreplay_traces::{EventType, Timebase};

use crate::timebase::TimebaseSource;

/// How many line numbers of each kind of anomaly are kept.
pub const FIRST_LINES_KEPT: usize = 10;

/// Line numbers of an anomaly: how many, and the first few.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineList {
    /// How many lines.
    pub count: u64,
    /// The first [`FIRST_LINES_KEPT`] line numbers (1-based).
    pub first: Vec<u64>,
}

impl LineList {
    /// Adds a line number.
    pub fn push(&mut self, line: u64) {
        self.count += 1;
        if self.first.len() < FIRST_LINES_KEPT {
            self.first.push(line);
        }
    }
}

impl fmt::Display for LineList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.first.iter().map(u64::to_string).collect();
        let more = if self.count > self.first.len() as u64 {
            ", ..."
        } else {
            ""
        };
        write!(f, "{} (lines {}{more})", self.count, lines.join(", "))
    }
}

/// The outcome of an import.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportReport {
    /// Lines read (blank lines included).
    pub lines: u64,
    /// Messages written.
    pub messages: u64,
    /// Messages by event type (after `--as-auth`).
    pub by_event: BTreeMap<EventType, u64>,
    /// NOTIFY messages turned into AUTH by `--as-auth`.
    pub made_auth: u64,
    /// JSON objects without an ES envelope (no `event_type` or `mach_time`): skipped.
    pub no_envelope: LineList,
    /// Lines that are not JSON objects or have wrongly typed fields: skipped.
    pub bad: LineList,
    /// The reason the first bad line was bad.
    pub first_bad_reason: Option<String>,
    /// Lines whose `global_seq_num` is not above the previous one (a second
    /// capture session, or lines out of order): kept in file order.
    pub sequence_restarts: LineList,
    /// Lines whose `mach_time` is below the previous line's: kept in file order.
    pub time_regressions: LineList,
    /// ES message versions seen, with counts.
    pub versions: BTreeMap<u32, u64>,
    /// The timebase used.
    pub timebase: Timebase,
    /// How it was decided.
    pub timebase_source: TimebaseSource,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} lines, {} messages", self.lines, self.messages)?;
        let events: Vec<String> = self
            .by_event
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        writeln!(f, "  events: {}", events.join(", "))?;
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(v, n)| format!("v{v} {n}"))
            .collect();
        writeln!(f, "  message versions: {}", versions.join(", "))?;
        let tb = self.timebase;
        writeln!(
            f,
            "  timebase {}/{}: {}",
            tb.numer, tb.denom, self.timebase_source
        )?;
        if self.made_auth > 0 {
            writeln!(
                f,
                "  {} NOTIFY messages modelled as AUTH (--as-auth)",
                self.made_auth
            )?;
        }
        let anomalies = [
            ("skipped, no ES envelope", &self.no_envelope),
            ("skipped, malformed", &self.bad),
            (
                "global_seq_num restarts (kept in file order)",
                &self.sequence_restarts,
            ),
            (
                "mach_time going backwards (kept in file order)",
                &self.time_regressions,
            ),
        ];
        for (what, lines) in anomalies {
            if lines.count > 0 {
                writeln!(f, "  {what}: {lines}")?;
            }
        }
        if let Some(reason) = &self.first_bad_reason {
            writeln!(f, "  first malformed line: {reason}")?;
        }
        Ok(())
    }
}
