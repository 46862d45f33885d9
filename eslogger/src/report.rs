//! What an import did: counts, skipped and bad lines, sequence anomalies
//! and the timebase, for the user to read on stderr.

use std::collections::BTreeMap;
use std::fmt;

use esreplay_traces::{EventType, Timebase};

use crate::timebase::TimebaseSource;

/// How many line numbers of each kind of anomaly are kept.
pub const FIRST_LINES_KEPT: usize = 10;
/// How many reasons for rejected lines are kept.
pub const FIRST_REASONS_KEPT: usize = 3;
/// ES message versions this importer was checked against.
pub const SUPPORTED_MESSAGE_VERSIONS: std::ops::RangeInclusive<u32> = 7..=11;
/// eslogger JSON schema versions this importer was checked against.
pub const SUPPORTED_SCHEMA_VERSIONS: std::ops::RangeInclusive<u32> = 1..=1;

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
    /// Why the first few skipped lines were skipped ("line 1: ...").
    pub first_reasons: Vec<String>,
    /// What the input looks like when its first line is no eslogger
    /// message (a JSON array, pretty-printed JSON, esreplay JSONL).
    pub hint: Option<String>,
    /// Lines skipped because their `mach_time` disagrees with their wall
    /// clock and their neighbours (see [`crate::timebase::OutlierFilter`]).
    pub clock_outliers: LineList,
    /// Lines whose `global_seq_num` is not above the previous one (a second
    /// capture session, or lines out of order): kept in file order.
    pub sequence_restarts: LineList,
    /// Lines whose `mach_time` is below the previous line's: kept in file order.
    pub time_regressions: LineList,
    /// ES message versions seen, with counts.
    pub versions: BTreeMap<u32, u64>,
    /// eslogger schema versions seen, with counts.
    pub schema_versions: BTreeMap<u32, u64>,
    /// The timebase used.
    pub timebase: Timebase,
    /// How it was decided.
    pub timebase_source: TimebaseSource,
}

impl ImportReport {
    /// An empty report of an import with this timebase.
    pub fn new(timebase: Timebase, timebase_source: TimebaseSource) -> Self {
        ImportReport {
            lines: 0,
            messages: 0,
            by_event: BTreeMap::new(),
            made_auth: 0,
            no_envelope: LineList::default(),
            bad: LineList::default(),
            first_bad_reason: None,
            first_reasons: Vec::new(),
            hint: None,
            clock_outliers: LineList::default(),
            sequence_restarts: LineList::default(),
            time_regressions: LineList::default(),
            versions: BTreeMap::new(),
            schema_versions: BTreeMap::new(),
            timebase,
            timebase_source,
        }
    }

    /// Lines skipped so far (no envelope, malformed, clock outliers).
    pub fn lines_skipped(&self) -> u64 {
        self.no_envelope.count + self.bad.count + self.clock_outliers.count
    }

    /// Notes why a line was skipped (the first few are kept).
    pub fn skipped(&mut self, line: u64, reason: &str) {
        if self.first_reasons.len() < FIRST_REASONS_KEPT {
            self.first_reasons.push(format!("line {line}: {reason}"));
        }
    }

    /// What the user must know: versions this importer was not checked
    /// against, lines whose clock was thrown away. One sentence each.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let unsupported = |seen: &BTreeMap<u32, u64>, ok: &std::ops::RangeInclusive<u32>| {
            seen.iter()
                .filter(|(v, _)| !ok.contains(v))
                .map(|(v, n)| format!("{v} ({n} lines)"))
                .collect::<Vec<_>>()
        };
        let messages = unsupported(&self.versions, &SUPPORTED_MESSAGE_VERSIONS);
        if !messages.is_empty() {
            warnings.push(format!(
                "ES message versions {} are not among those this importer was checked against ({} to {}): fields may be missing or misread",
                messages.join(", "),
                SUPPORTED_MESSAGE_VERSIONS.start(),
                SUPPORTED_MESSAGE_VERSIONS.end()
            ));
        }
        let schemas = unsupported(&self.schema_versions, &SUPPORTED_SCHEMA_VERSIONS);
        if !schemas.is_empty() {
            warnings.push(format!(
                "eslogger schema versions {} are not among those this importer was checked against ({}): fields may be missing or misread",
                schemas.join(", "),
                SUPPORTED_SCHEMA_VERSIONS.start()
            ));
        }
        if self.clock_outliers.count > 0 {
            warnings.push(format!(
                "mach_time disagreeing with the line's wall clock and its neighbours (e.g. mach_time 0; kept, it would set the trace's start and drag the timebase), lines skipped: {}",
                self.clock_outliers
            ));
        }
        warnings
    }
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
        for warning in self.warnings() {
            writeln!(f, "  WARNING: {warning}")?;
        }
        Ok(())
    }
}
