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
    details: Option<Box<Details>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ActionName {
    Auth,
    Notify,
}

/// An event as a name, or a number for types without one.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum EventName {
    Number(u16),
    Name(String),
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
            Some(name) => EventName::Name(name.to_owned()),
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
        details: message.details.clone(),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

/// Parses one line into a message.
pub fn parse_message(text: &[u8]) -> Result<Message, String> {
    let line: Line = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let event = match line.event {
        EventName::Number(number) => EventType(number),
        EventName::Name(name) => name.parse().map_err(|e| format!("{e}"))?,
    };
    Ok(Message {
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
        details: line.details,
    })
}

/// Streams messages from JSON lines; blank lines are skipped. Each item
/// names its line on error; a line over [`MAX_LINE_BYTES`] is an error,
/// and reading it stops there.
pub fn read_messages(input: impl BufRead) -> impl Iterator<Item = Result<Message, JsonlError>> {
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
            return Some(parse_message(text).map_err(|reason| JsonlError::Invalid {
                line: number,
                reason,
            }));
        }
    })
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
