//! The JSONL interchange: one message a line, for people and other tools.
//!
//! ```text
//! {"global_seq":0,"seq":0,"event":"AUTH_OPEN","action":"auth","arrival_ns":1000,"deadline_ns":15000001000,"service_ns":40000}
//! ```
//!
//! `event` is the ES name without `ES_EVENT_TYPE_` (a number is accepted,
//! and written for types the table does not know). Optional fields are
//! written only when present, always in the order of `Line`; so `import
//! jsonl` then `export jsonl` gives the same lines back for any file this
//! module wrote. On import, `deadline_ns` may also be `null`.

use std::borrow::Cow;
use std::io::{BufRead, Write};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::{Action, EventType};
use crate::lines::{BoundedLines, LineError};
use crate::model::{Details, Message};

/// The longest line `import jsonl` accepts.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One line, as serialized: field order is the output order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    global_seq: u64,
    seq: u64,
    event: EventName,
    action: ActionName,
    arrival_ns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deadline_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    received_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    process_path: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_path: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    details: Option<DetailsLine>,
}

/// The `details` object: the message's [`Details`] and its inline facts
/// (`thread_id`, `response_ns`, `is_es_client`), in the order of the
/// trace format's details block.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailsLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thread_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handler_exit_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verdict: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open_fflag: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pidversion: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    euid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ppid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signing_id: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    team_id: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform_binary: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    is_es_client: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_dev: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_ino: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    close_modified: Option<bool>,
}

impl DetailsLine {
    /// The object of `message`, if it has any details.
    fn of(message: &Message) -> Option<DetailsLine> {
        if !message.has_details() {
            return None;
        }
        let empty = Details::default();
        let d = message.details.as_deref().unwrap_or(&empty);
        Some(DetailsLine {
            message_version: d.message_version,
            thread_id: message.thread_id,
            handler_exit_ns: d.handler_exit_ns,
            response_ns: message.response_ns,
            verdict: d.verdict,
            open_fflag: d.open_fflag,
            pidversion: d.pidversion,
            euid: d.euid,
            ppid: d.ppid,
            signing_id: d.signing_id.clone(),
            team_id: d.team_id.clone(),
            platform_binary: d.platform_binary,
            is_es_client: message.is_es_client,
            target_dev: d.target_dev,
            target_ino: d.target_ino,
            close_modified: d.close_modified,
        })
    }

    /// Puts the inline facts into `message`, and the rest into its boxed
    /// details when any of those is present or the object is empty (as
    /// the trace format's decoder does).
    fn into_message(self, message: &mut Message) {
        message.thread_id = self.thread_id;
        message.response_ns = self.response_ns;
        message.is_es_client = self.is_es_client;
        let details = Details {
            message_version: self.message_version,
            handler_exit_ns: self.handler_exit_ns,
            verdict: self.verdict,
            open_fflag: self.open_fflag,
            pidversion: self.pidversion,
            euid: self.euid,
            ppid: self.ppid,
            signing_id: self.signing_id,
            team_id: self.team_id,
            platform_binary: self.platform_binary,
            target_dev: self.target_dev,
            target_ino: self.target_ino,
            close_modified: self.close_modified,
        };
        let empty = Details::default();
        if details != empty || !message.has_details() {
            message.details = Some(Box::new(details));
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ActionName {
    Auth,
    Notify,
}

/// An event as a name, or a number for types without one. A name written
/// is the table's own (no copy per line); a name read is owned.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum EventName {
    Number(u16),
    Name(Cow<'static, str>),
}

/// A line that is not a message.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    /// Reading the input failed, or a line is too long.
    #[error(transparent)]
    Line(#[from] LineError),
    /// The line is not a valid message.
    #[error("line {line}: {reason}")]
    Invalid {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Writes one message as one line (with the newline).
pub fn write_message(out: &mut impl Write, message: &Message) -> std::io::Result<()> {
    let line = Line {
        global_seq: message.global_seq,
        seq: message.seq,
        event: match message.event.name() {
            Some(name) => EventName::Name(Cow::Borrowed(name)),
            None => EventName::Number(message.event.0),
        },
        action: match message.action {
            Action::Auth => ActionName::Auth,
            Action::Notify => ActionName::Notify,
        },
        arrival_ns: message.arrival_ns,
        deadline_ns: message.deadline_ns,
        received_ns: message.received_ns,
        service_ns: message.service_ns,
        pid: message.pid,
        process_path: message.process_path.clone(),
        target_path: message.target_path.clone(),
        details: DetailsLine::of(message),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

/// Parses one line into a message.
pub fn parse_message(text: &[u8]) -> Result<Message, String> {
    let line: Line = serde_json::from_slice(text).map_err(|e| reason(&e, text))?;
    let event = match line.event {
        EventName::Number(number) => EventType(number),
        EventName::Name(name) => name.parse().map_err(|e| format!("{e}"))?,
    };
    let mut message = Message {
        global_seq: line.global_seq,
        seq: line.seq,
        event,
        action: match line.action {
            ActionName::Auth => Action::Auth,
            ActionName::Notify => Action::Notify,
        },
        arrival_ns: line.arrival_ns,
        deadline_ns: line.deadline_ns,
        received_ns: line.received_ns,
        service_ns: line.service_ns,
        pid: line.pid,
        process_path: line.process_path,
        target_path: line.target_path,
        thread_id: None,
        response_ns: None,
        is_es_client: None,
        details: None,
    };
    if let Some(details) = line.details {
        details.into_message(&mut message);
    }
    Ok(message)
}

/// The number literal ending at 1-based `column` of `text`, as written.
fn literal_at(text: &[u8], column: usize) -> Option<&str> {
    let end = column.min(text.len());
    let start = text[..end]
        .iter()
        .rposition(|b| !(b.is_ascii_digit() || b"-+.eE".contains(b)))
        .map_or(0, |i| i + 1);
    std::str::from_utf8(&text[start..end])
        .ok()
        .filter(|s| !s.is_empty())
}

/// What is wrong with a line, in words: a number too large (or negative)
/// for its field is "number out of range", not serde's "invalid type:
/// floating point" (JSON numbers beyond u64 parse as floats).
fn reason(error: &serde_json::Error, line: &[u8]) -> String {
    let text = error.to_string();
    let quoted = |prefix: &str| {
        let rest = text.strip_prefix(prefix)?;
        let (number, rest) = rest.split_once('`')?;
        let (_, expected) = rest.split_once(", expected ")?;
        Some((number.to_owned(), expected.to_owned()))
    };
    let out_of_range = |number: &str, expected: &str| {
        let kind = expected.split(" at line ").next().unwrap_or(expected);
        let at = expected.find(" at line ").map_or("", |i| &expected[i..]);
        format!("number out of range: {number} does not fit a {kind}{at}")
    };
    if let Some((number, expected)) = quoted("invalid type: floating point `") {
        let integral = number
            .parse::<f64>()
            .is_ok_and(|f| f.fract() == 0.0 && f.abs() >= 1e18);
        if integral && expected.starts_with('u') {
            let written = literal_at(line, error.column()).unwrap_or(&number);
            return out_of_range(written, &expected);
        }
    }
    if let Some((number, expected)) = quoted("invalid value: integer `")
        && expected.starts_with('u')
    {
        return out_of_range(&number, &expected);
    }
    text
}

/// Streams messages from JSON lines; blank lines are skipped. Each item
/// names its line on error; a line over [`MAX_LINE_BYTES`] is an error,
/// and reading it stops there.
pub fn read_messages(input: impl BufRead) -> impl Iterator<Item = Result<Message, JsonlError>> {
    read_numbered(input).map(|item| item.map(|(_, message)| message))
}

/// [`read_messages`], each message with its 1-based line number.
pub fn read_numbered(
    input: impl BufRead,
) -> impl Iterator<Item = Result<(u64, Message), JsonlError>> {
    let mut lines = BoundedLines::new(input, MAX_LINE_BYTES);
    std::iter::from_fn(move || {
        loop {
            let (number, text) = match lines.next_line()? {
                Ok(found) => found,
                Err(error) => return Some(Err(JsonlError::Line(error))),
            };
            if text.trim_ascii().is_empty() {
                continue;
            }
            return Some(
                parse_message(text)
                    .map(|message| (number, message))
                    .map_err(|reason| JsonlError::Invalid {
                        line: number,
                        reason,
                    }),
            );
        }
    })
}

/// Examples kept of each kind of anomaly.
pub const EXAMPLES_KEPT: usize = 3;

/// Lines of one kind of anomaly: how many, and the first few in words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Anomaly {
    /// How many lines.
    pub count: u64,
    /// The first [`EXAMPLES_KEPT`], e.g. "line 7: global_seq 5 after 5".
    pub examples: Vec<String>,
}

impl Anomaly {
    fn add(&mut self, example: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < EXAMPLES_KEPT {
            self.examples.push(example());
        }
    }
}

/// What `import jsonl` warns about in messages that parse: the messages
/// are imported as they are (a replay sorts nothing), but a file that
/// says these things was probably not meant to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checks {
    previous: Option<(u64, u64)>,
    /// AUTH deadlines before the message's arrival.
    pub deadline_before_arrival: Anomaly,
    /// `global_seq` equal to the previous line's.
    pub duplicate_global_seq: Anomaly,
    /// `global_seq` below the previous line's.
    pub backwards_global_seq: Anomaly,
    /// `arrival_ns` below the previous line's.
    pub arrival_out_of_order: Anomaly,
}

impl Checks {
    /// Checks the message read from line `line`.
    pub fn check(&mut self, line: u64, message: &Message) {
        let (seq, arrival) = (message.global_seq, message.arrival_ns);
        if let Some(deadline) = message.deadline_ns.filter(|&d| d < arrival) {
            self.deadline_before_arrival
                .add(|| format!("line {line}: deadline_ns {deadline} before arrival_ns {arrival}"));
        }
        if let Some((previous_seq, previous_arrival)) = self.previous {
            let example = |what: &str, now: u64, before: u64| {
                format!("line {line}: {what} {now} after {before}")
            };
            if seq == previous_seq {
                self.duplicate_global_seq
                    .add(|| example("global_seq", seq, previous_seq));
            } else if seq < previous_seq {
                self.backwards_global_seq
                    .add(|| example("global_seq", seq, previous_seq));
            }
            if arrival < previous_arrival {
                self.arrival_out_of_order
                    .add(|| example("arrival_ns", arrival, previous_arrival));
            }
        }
        self.previous = Some((seq, arrival));
    }

    /// One sentence per kind of anomaly found, with its count and examples.
    pub fn warnings(&self) -> Vec<String> {
        [
            (
                "deadlines before their arrival",
                &self.deadline_before_arrival,
            ),
            ("duplicate global_seq", &self.duplicate_global_seq),
            ("global_seq going backwards", &self.backwards_global_seq),
            (
                "arrivals out of order (kept in file order)",
                &self.arrival_out_of_order,
            ),
        ]
        .into_iter()
        .filter(|(_, anomaly)| anomaly.count > 0)
        .map(|(what, anomaly)| format!("{} {what}: {}", anomaly.count, anomaly.examples.join("; ")))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = concat!(
        r#"{"global_seq":0,"seq":0,"event":"AUTH_OPEN","action":"auth","arrival_ns":1000,"deadline_ns":15000001000,"service_ns":40000}"#,
        "\n",
        r#"{"global_seq":1,"seq":7,"event":"NOTIFY_EXEC","action":"notify","arrival_ns":2000,"pid":42,"process_path":"/bin/sh","target_path":"/bin/ls","details":{"message_version":10,"team_id":"T"}}"#,
        "\n",
        r#"{"global_seq":2,"seq":0,"event":4000,"action":"notify","arrival_ns":2000}"#,
        "\n",
    );

    fn export(messages: &[Message]) -> String {
        let mut out = Vec::new();
        for message in messages {
            write_message(&mut out, message).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn import_then_export_gives_the_same_lines() {
        let messages: Vec<Message> = read_messages(SAMPLE.as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].event, EventType::AUTH_OPEN);
        assert_eq!(messages[0].deadline_ns, Some(15_000_001_000));
        assert_eq!(
            messages[1].details.as_ref().unwrap().message_version,
            Some(10)
        );
        assert_eq!(messages[2].event, EventType(4000));
        assert_eq!(export(&messages), SAMPLE);
    }

    #[test]
    fn numbers_null_deadlines_and_blank_lines_are_accepted() {
        let text = "\n{\"global_seq\":5,\"seq\":5,\"event\":1,\"action\":\"notify\",\"arrival_ns\":9,\"deadline_ns\":null}\n";
        let messages: Vec<_> = read_messages(text.as_bytes()).collect();
        let message = messages[0].as_ref().unwrap();
        assert_eq!(message.event, EventType::AUTH_OPEN);
        assert_eq!(message.deadline_ns, None);
    }

    #[test]
    fn bad_lines_name_their_line_number() {
        let text = format!(
            "{}\nnot json\n{{\"global_seq\":1}}\n",
            SAMPLE.lines().next().unwrap()
        );
        let results: Vec<_> = read_messages(text.as_bytes()).collect();
        assert!(results[0].is_ok());
        assert!(matches!(
            &results[1],
            Err(JsonlError::Invalid { line: 2, .. })
        ));
        assert!(matches!(
            &results[2],
            Err(JsonlError::Invalid { line: 3, .. })
        ));
        let unknown =
            r#"{"global_seq":0,"seq":0,"event":"AUTH_NOPE","action":"auth","arrival_ns":1}"#;
        assert!(
            parse_message(unknown.as_bytes())
                .unwrap_err()
                .contains("AUTH_NOPE")
        );
    }

    fn line(seq: u64, arrival: u64, deadline: &str) -> String {
        format!(
            "{{\"global_seq\":{seq},\"seq\":0,\"event\":\"AUTH_OPEN\",\"action\":\"auth\",\"arrival_ns\":{arrival},\"deadline_ns\":{deadline}}}\n"
        )
    }

    #[test]
    fn anomalies_are_counted_with_their_first_lines() {
        let text = [
            line(0, 100, "200"),
            line(1, 150, "120"),
            line(1, 160, "null"),
            line(0, 140, "null"),
        ]
        .concat();
        let mut checks = Checks::default();
        for item in read_numbered(text.as_bytes()) {
            let (number, message) = item.unwrap();
            checks.check(number, &message);
        }
        assert_eq!(checks.deadline_before_arrival.count, 1);
        assert_eq!(
            checks.duplicate_global_seq.examples,
            ["line 3: global_seq 1 after 1"]
        );
        assert_eq!(checks.backwards_global_seq.count, 1);
        assert_eq!(
            checks.arrival_out_of_order.examples,
            ["line 4: arrival_ns 140 after 160"]
        );
        assert_eq!(checks.warnings().len(), 4);
        let mut clean = Checks::default();
        for (number, message) in read_numbered(line(0, 1, "5").as_bytes()).map(Result::unwrap) {
            clean.check(number, &message);
        }
        assert!(clean.warnings().is_empty());
    }

    #[test]
    fn a_number_too_large_for_its_field_is_out_of_range() {
        for (field, value) in [
            ("arrival_ns", "18446744073709551616"),
            ("arrival_ns", "-1"),
            ("pid", "4294967296"),
        ] {
            let text = format!(
                "{{\"global_seq\":0,\"seq\":0,\"event\":1,\"action\":\"auth\",\"arrival_ns\":1,\"{field}\":{value}}}"
            )
            .replacen("\"arrival_ns\":1,", "", usize::from(field == "arrival_ns"));
            let error = parse_message(text.as_bytes()).unwrap_err();
            let said = format!("number out of range: {value} does not fit");
            assert!(error.contains(&said), "{field}={value}: {error}");
        }
        let error = parse_message(line(0, 1, "1.5").as_bytes()).unwrap_err();
        assert!(error.contains("floating point"), "{error}");
    }

    #[test]
    fn an_endless_line_is_an_error_not_an_allocation() {
        let endless = std::io::Read::take(std::io::repeat(b'x'), 4 * MAX_LINE_BYTES as u64);
        let results: Vec<_> = read_messages(std::io::BufReader::new(endless)).collect();
        assert_eq!(results.len(), 1);
        assert!(
            results[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("longer")
        );
    }
}
