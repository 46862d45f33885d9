//! The two-pass importer: a first pass over the clocks fixes the trace
//! start (the smallest `mach_time`) and the timebase; the second converts
//! each line into a [`Message`]. Lines are kept in file order, never
//! reordered: anomalies are counted and reported instead.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use esreplay_traces::lines::{BoundedLines, LineError};
use esreplay_traces::{
    Action, ClockAnchor, Details, EventType, Header, Message, Source, Timebase, TraceError,
    TraceWriter,
};

use crate::options::ImportOptions;
use crate::report::ImportReport;
use crate::schema::{self, Clocks, EventBody, Line};
use crate::timebase::{ClockFit, OutlierFilter, Point, TimebaseSource};
use crate::wallclock::parse_rfc3339_ns;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading failed, or a line is too long.
    #[error(transparent)]
    Line(#[from] LineError),
    /// A malformed line in strict mode.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// No line was an ES message.
    #[error("no eslogger messages found in {lines} lines{}{}", why(reasons), hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    NoMessages {
        /// Lines read.
        lines: u64,
        /// Why the first few lines were rejected ("line 1: ...").
        reasons: Vec<String>,
        /// What the input looks like instead, when that is recognisable.
        hint: Option<String>,
    },
    /// An option is invalid.
    #[error("{0}")]
    Option(String),
    /// Opening the input again for the second pass failed.
    #[error("reading the input: {0}")]
    Io(#[from] io::Error),
    /// Writing the trace failed.
    #[error(transparent)]
    Trace(#[from] TraceError),
}

/// ": line 1: ...; line 2: ..." or nothing.
fn why(reasons: &[String]) -> String {
    match reasons {
        [] => String::new(),
        _ => format!(": {}", reasons.join("; ")),
    }
}

/// What the first pass learned.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    fit: ClockFit,
    start_ticks: Option<u64>,
    /// Lines whose `mach_time` is an outlier: left out of the fit, the
    /// start and the trace.
    outliers: OutlierFilter,
    /// Event types seen: eslogger's subscription, as far as it shows.
    seen: BTreeSet<EventType>,
}

/// Lines between two calls of a progress hook.
const PROGRESS_EVERY_LINES: u64 = 4096;

/// First pass: the smallest `mach_time` and the clock fit; `progress` gets
/// the bytes read so far, now and then.
pub fn scan(
    input: impl BufRead,
    options: &ImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<Scan, ImportError> {
    let mut lines = BoundedLines::new(input, options.max_line_bytes);
    let mut scan = Scan::default();
    while let Some(line) = lines.next_line() {
        let (number, bytes) = line?;
        scan.add(number, bytes);
        if number % PROGRESS_EVERY_LINES == 0 {
            progress(lines.bytes_read());
        }
    }
    let (fit, start) = (&mut scan.fit, &mut scan.start_ticks);
    scan.outliers.finish(|point| take(fit, start, point));
    progress(lines.bytes_read());
    Ok(scan)
}

impl Scan {
    /// Adds one line's clocks, if it is an ES message with any.
    fn add(&mut self, number: u64, bytes: &[u8]) {
        let Ok(clocks) = serde_json::from_slice::<Clocks<'_>>(bytes) else {
            return;
        };
        let (Some(ticks), Some(event)) = (clocks.mach_time, clocks.event_type) else {
            return;
        };
        if let Ok(event) = u16::try_from(event) {
            self.seen.insert(EventType(event));
        }
        let point = Point {
            line: number,
            ticks,
            wall_ns: clocks.time.as_deref().and_then(parse_rfc3339_ns),
        };
        let (fit, start) = (&mut self.fit, &mut self.start_ticks);
        self.outliers.push(point, |point| take(fit, start, point));
    }

    /// The timebase to use.
    pub fn timebase(&self, options: &ImportOptions) -> (Timebase, TimebaseSource) {
        match options.timebase {
            Some(given) => (given, TimebaseSource::Given),
            None => self.fit.timebase(),
        }
    }

    /// The event types seen, after `--as-auth`: eslogger's command line is
    /// not in the capture, so this is what can be said of the subscription.
    fn subscribed(&self, options: &ImportOptions) -> Vec<EventType> {
        let modelled = |event: &EventType| match event.auth_twin() {
            Some(twin) if options.as_auth.contains(event) => twin,
            _ => *event,
        };
        let set: BTreeSet<EventType> = self.seen.iter().map(modelled).collect();
        set.into_iter().collect()
    }

    /// The trace header: start at the smallest `mach_time`.
    pub fn header(&self, options: &ImportOptions, input_name: &str) -> Header {
        let (timebase, source) = self.timebase(options);
        let start_ticks = self.start_ticks.unwrap_or(0);
        let mut header = Header {
            source: Some(Source::Eslogger),
            timebase,
            start: ClockAnchor {
                mach_absolute: start_ticks,
                mach_continuous: 0,
                wall_ns: self.fit.wall_at(start_ticks, timebase).unwrap_or(0),
            },
            subscribed: self.subscribed(options),
            tool: "esreplay import eslogger".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            ..Header::default()
        };
        header.meta.insert("input".into(), input_name.into());
        header
            .meta
            .insert("subscribed".into(), "the event types seen".into());
        header.meta.insert("timebase".into(), source.to_string());
        if !options.as_auth.is_empty() {
            let names: Vec<String> = options.as_auth.iter().map(ToString::to_string).collect();
            header.meta.insert("as_auth".into(), names.join(","));
        }
        header
    }
}

/// Adds a line judged sound to the fit and the start.
fn take(fit: &mut ClockFit, start: &mut Option<u64>, point: Point) {
    *start = Some(start.map_or(point.ticks, |s| s.min(point.ticks)));
    if let Some(wall) = point.wall_ns {
        fit.add(point.ticks, wall);
    }
}

/// Converts lines into messages, one at a time.
struct Converter<'a> {
    options: &'a ImportOptions,
    timebase: Timebase,
    start_ticks: u64,
    previous_global_seq: Option<u64>,
    previous_ticks: Option<u64>,
    /// Line numbers left out for their clocks (ascending, still to come).
    outliers: &'a [u64],
    report: ImportReport,
}

/// Why a line gave no message.
enum Skip {
    Blank,
    NoEnvelope,
    Malformed(String),
}

impl Converter<'_> {
    fn line(&mut self, number: u64, bytes: &[u8]) -> Result<Message, Skip> {
        if bytes.trim_ascii().is_empty() {
            return Err(Skip::Blank);
        }
        let line: Line<'_> =
            serde_json::from_slice(bytes).map_err(|e| Skip::Malformed(e.to_string()))?;
        let (Some(ticks), Some(event_number)) = (line.mach_time, line.event_type) else {
            return Err(Skip::NoEnvelope);
        };
        if let Some(schema) = line.schema_version {
            *self.report.schema_versions.entry(schema).or_default() += 1;
        }
        let event = u16::try_from(event_number)
            .map(EventType)
            .map_err(|_| Skip::Malformed(format!("event_type {event_number} out of range")))?;
        let action = match line.action_type {
            Some(0) => Action::Auth,
            Some(1) => Action::Notify,
            Some(other) => {
                return Err(Skip::Malformed(format!(
                    "action_type {other} is neither 0 nor 1"
                )));
            }
            None => event.action().unwrap_or(Action::Notify),
        };
        self.track_order(number, ticks, line.global_seq_num);
        let global_seq = line
            .global_seq_num
            .unwrap_or_else(|| self.previous_global_seq.map_or(0, |g| g + 1));
        self.previous_global_seq = Some(global_seq);
        let arrival_ns = self.to_ns(ticks);
        let mut message = Message::new(global_seq, event, action, arrival_ns);
        message.seq = line.seq_num.unwrap_or(0);
        if action == Action::Auth {
            message.deadline_ns = line.deadline.filter(|&d| d > 0).map(|d| self.to_ns(d));
        }
        let details = describe(&mut message, &line);
        message.details = (details != Details::default()).then(|| Box::new(details));
        self.model_as_auth(&mut message);
        Ok(message)
    }

    fn to_ns(&self, ticks: u64) -> u64 {
        self.timebase
            .ticks_to_ns(ticks.saturating_sub(self.start_ticks))
    }

    fn track_order(&mut self, number: u64, ticks: u64, global_seq: Option<u64>) {
        if let (Some(previous), Some(current)) = (self.previous_global_seq, global_seq)
            && current <= previous
        {
            self.report.sequence_restarts.push(number);
        }
        if self.previous_ticks.is_some_and(|previous| ticks < previous) {
            self.report.time_regressions.push(number);
        }
        self.previous_ticks = Some(ticks);
    }

    fn model_as_auth(&mut self, message: &mut Message) {
        if message.action != Action::Notify || !self.options.as_auth.contains(&message.event) {
            return;
        }
        if let Some(twin) = message.event.auth_twin() {
            message.event = twin;
            message.action = Action::Auth;
            let budget = self.options.budgets.budget_ns(twin);
            message.deadline_ns = Some(message.arrival_ns.saturating_add(budget));
            self.report.made_auth += 1;
        }
    }
}

/// Fills pid, paths and details from the process, thread and event body;
/// returns the details.
fn describe(message: &mut Message, line: &Line<'_>) -> Details {
    message.thread_id = line.thread.as_ref().and_then(|thread| thread.thread_id);
    let mut details = Details {
        message_version: line.version,
        ..Details::default()
    };
    if let Some(process) = &line.process {
        if let Some(token) = &process.audit_token {
            (message.pid, details.pidversion, details.euid) = token.ids();
        }
        message.process_path = process
            .executable
            .as_ref()
            .and_then(|file| file.path.as_deref())
            .map(Arc::from);
        details.ppid = process.ppid;
        details.signing_id = process.signing_id.as_deref().map(Arc::from);
        details.team_id = process.team_id.as_deref().map(Arc::from);
        details.platform_binary = process.is_platform_binary;
        message.is_es_client = process.is_es_client;
    }
    let Some((name, body)) = line.event.as_ref().and_then(|e| Some((&e.name, e.body?))) else {
        return details;
    };
    // A body of unexpected shape has no target we can read; not an error.
    let body: EventBody<'_> = serde_json::from_str(body.get()).unwrap_or_default();
    match name.as_str() {
        "open" => details.open_fflag = body.fflag,
        "close" => details.close_modified = body.modified,
        _ => {}
    }
    if let Some((path, stat)) = schema::target_of(name, &body) {
        message.target_path = Some(Arc::from(path));
        details.target_dev = stat.and_then(|stat| stat.st_dev);
        details.target_ino = stat.and_then(|stat| stat.st_ino);
    }
    details
}

/// Second pass: converts every line and hands each message to `sink`;
/// `progress` gets the bytes read so far, now and then.
pub fn convert(
    input: impl BufRead,
    scan: &Scan,
    options: &ImportOptions,
    mut sink: impl FnMut(&Message) -> Result<(), ImportError>,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let (timebase, timebase_source) = scan.timebase(options);
    let mut converter = Converter {
        options,
        timebase,
        start_ticks: scan.start_ticks.unwrap_or(0),
        previous_global_seq: None,
        previous_ticks: None,
        outliers: scan.outliers.rejected(),
        report: ImportReport::new(timebase, timebase_source),
    };
    let mut lines = BoundedLines::new(input, options.max_line_bytes);
    while let Some(line) = lines.next_line() {
        let (number, bytes) = line?;
        converter.report.lines = number;
        if let Some(message) = converter.take(number, bytes)? {
            sink(&message)?;
        }
        if number % PROGRESS_EVERY_LINES == 0 {
            progress(lines.bytes_read());
        }
    }
    progress(lines.bytes_read());
    Ok(converter.report)
}

impl Converter<'_> {
    /// Converts a line and counts it; `None` for a line skipped.
    fn take(&mut self, number: u64, bytes: &[u8]) -> Result<Option<Message>, ImportError> {
        if self.outliers.first() == Some(&number) {
            self.outliers = &self.outliers[1..];
            self.report.clock_outliers.push(number);
            return Ok(None);
        }
        let skip = match self.line(number, bytes) {
            Ok(message) => {
                let report = &mut self.report;
                report.messages += 1;
                *report.by_event.entry(message.event).or_default() += 1;
                if let Some(version) = message.details.as_ref().and_then(|d| d.message_version) {
                    *report.versions.entry(version).or_default() += 1;
                }
                return Ok(Some(message));
            }
            Err(skip) => skip,
        };
        if !matches!(skip, Skip::Blank) && self.report.lines_skipped() == 0 {
            self.report.hint = hint(bytes);
        }
        match skip {
            Skip::Blank => {}
            Skip::NoEnvelope => {
                self.report.no_envelope.push(number);
                self.report.skipped(
                    number,
                    "a JSON object without event_type and mach_time: not an ES message",
                );
            }
            Skip::Malformed(reason) if self.options.strict => {
                return Err(ImportError::Malformed {
                    line: number,
                    reason,
                });
            }
            Skip::Malformed(reason) => {
                self.report.bad.push(number);
                self.report.skipped(number, &reason);
                self.report
                    .first_bad_reason
                    .get_or_insert(format!("line {number}: {reason}"));
            }
        }
        Ok(None)
    }
}

/// What a line that is no eslogger message looks like, when recognisable.
fn hint(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.starts_with('[') {
        return Some("the input looks like a JSON array: eslogger writes one JSON object a line (`jq -c '.[]'` turns an array into lines)".into());
    }
    if text == "{" || (text.starts_with('"') && text.contains("\":")) {
        return Some("the input looks like pretty-printed JSON: one object a line is needed (`jq -c .` turns it into lines)".into());
    }
    let object = serde_json::from_str::<serde_json::Value>(text).ok()?;
    (object.get("global_seq").is_some() && object.get("arrival_ns").is_some()).then(|| {
        "the input looks like esreplay JSONL, not eslogger JSON: use `esreplay import jsonl`".into()
    })
}

/// Imports a capture into a trace written to `out`: opens the input twice
/// (`open` is called once per pass). Blank lines are skipped silently but
/// counted as lines. `progress` gets the bytes read over both passes, now
/// and then: it ends at twice the input's size.
pub fn import<R: BufRead, W: Write>(
    mut open: impl FnMut() -> io::Result<R>,
    options: &ImportOptions,
    input_name: &str,
    out: W,
    mut progress: impl FnMut(u64),
) -> Result<(W, ImportReport), ImportError> {
    let mut first_pass = 0;
    let scan = scan(open()?, options, |bytes| {
        first_pass = bytes;
        progress(bytes);
    })?;
    let mut writer = TraceWriter::new(out, &scan.header(options, input_name))?;
    let report = convert(
        open()?,
        &scan,
        options,
        |m| Ok(writer.write(m)?),
        |bytes| progress(first_pass + bytes),
    )?;
    if report.messages == 0 {
        return Err(ImportError::NoMessages {
            lines: report.lines,
            reasons: report.first_reasons,
            hint: report.hint,
        });
    }
    Ok((writer.finish()?, report))
}
