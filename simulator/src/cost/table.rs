//! `--cost table:FILE`: a service-time distribution per event type, from
//! a TOML file.
//!
//! ```toml
//! # Service times per event type; any --cost model but `table:` is allowed,
//! # and a bare duration means const.
//! default = "50us"                  # optional: for event types not listed
//!
//! [events]
//! AUTH_OPEN = "lognormal:40us:2ms"  # ES names, any case, or numbers
//! AUTH_EXEC = "exp:3ms"
//! NOTIFY_EXIT = "0ns"
//! ```
//!
//! Lookup is by event number in a dense vector (no hashing per message).

use std::collections::BTreeMap;

use esreplay_traces::{EventType, Message};
use serde::Deserialize;

use super::{CostError, ServiceTime};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    default: Option<String>,
    #[serde(default)]
    events: BTreeMap<String, String>,
}

/// The largest table file read: a line for every event type is a few KiB,
/// and `table:/dev/zero` must be an error, not an exhausted memory.
pub const MAX_TABLE_BYTES: u64 = 1 << 20;

/// The text of `path`, or an error when it holds more than `limit` bytes.
fn read_bounded(path: &str, limit: u64) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if text.len() as u64 > limit {
        return Err(format!(
            "more than {limit} bytes: not a cost table (a TOML file of a few lines)"
        ));
    }
    Ok(text)
}

/// Distributions by event type, with an optional default.
#[derive(Clone, Debug, PartialEq)]
pub struct EventTable {
    file: String,
    by_event: Vec<Option<ServiceTime>>,
    default: Option<ServiceTime>,
}

impl EventTable {
    /// Reads and validates a table file.
    pub fn load(path: &str) -> Result<EventTable, CostError> {
        let text = read_bounded(path, MAX_TABLE_BYTES).map_err(|reason| CostError::Table {
            file: path.to_owned(),
            reason,
        })?;
        EventTable::parse(path, &text)
    }

    /// Parses table text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<EventTable, CostError> {
        EventTable::parse_reason(file, text).map_err(|reason| CostError::Table {
            file: file.to_owned(),
            reason,
        })
    }

    fn parse_reason(file: &str, text: &str) -> Result<EventTable, String> {
        let parsed: TableFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let entry = |key: &str, value: &str| {
            ServiceTime::parse_reason(value).map_err(|e| format!("{key}: {value:?}: {e}"))
        };
        let default = parsed
            .default
            .as_deref()
            .map(|v| entry("default", v))
            .transpose()?;
        let mut by_event = Vec::new();
        for (name, value) in &parsed.events {
            let event: EventType = name.parse().map_err(|e| format!("{e}"))?;
            let slot = usize::from(event.0);
            if by_event.len() <= slot {
                by_event.resize(slot + 1, None);
            }
            if by_event[slot].replace(entry(name, value)?).is_some() {
                return Err(format!("{event} is listed twice"));
            }
        }
        Ok(EventTable {
            file: file.to_owned(),
            by_event,
            default,
        })
    }

    /// s_i for `message` from its event's distribution.
    pub fn sample(&self, seed: u64, message: &Message) -> Result<u64, CostError> {
        let listed = self
            .by_event
            .get(usize::from(message.event.0))
            .copied()
            .flatten();
        let distribution = listed
            .or(self.default)
            .ok_or_else(|| CostError::NoTableEntry {
                file: self.file.clone(),
                event: message.event,
                global_seq: message.global_seq,
            })?;
        distribution.sample(seed, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esreplay_traces::Action;

    const TABLE: &str = r#"
default = "50us"
[events]
AUTH_OPEN = "40us"
auth_exec = "const:3ms"
12 = "trace"
"#;

    #[test]
    fn an_endless_file_is_an_error_not_an_allocation() {
        let error = EventTable::load("/dev/zero").unwrap_err();
        assert!(error.to_string().contains("not a cost table"), "{error}");
    }

    fn message(event: EventType) -> Message {
        let mut message = Message::new(9, event, Action::Auth, 0);
        message.service_ns = Some(7);
        message
    }

    #[test]
    fn looks_up_each_event_and_falls_back_to_the_default() {
        let table = EventTable::parse("t.toml", TABLE).unwrap();
        assert_eq!(table.sample(0, &message(EventType::AUTH_OPEN)), Ok(40_000));
        assert_eq!(
            table.sample(0, &message(EventType::AUTH_EXEC)),
            Ok(3_000_000)
        );
        assert_eq!(table.sample(0, &message(EventType::NOTIFY_CLOSE)), Ok(7));
        assert_eq!(
            table.sample(0, &message(EventType::NOTIFY_EXIT)),
            Ok(50_000)
        );
        assert_eq!(table.sample(0, &message(EventType(4000))), Ok(50_000));
    }

    #[test]
    fn a_missing_entry_without_default_is_a_clear_error() {
        let table = EventTable::parse("t.toml", "[events]\nAUTH_OPEN = \"1us\"\n").unwrap();
        let error = table.sample(0, &message(EventType::AUTH_EXEC)).unwrap_err();
        assert!(
            error.to_string().contains("no entry for AUTH_EXEC"),
            "{error}"
        );
    }

    #[test]
    fn rejects_bad_tables_naming_the_file() {
        for bad in [
            "default = 5",
            "[events]\nAUTH_BOGUS = \"1us\"",
            "[events]\nAUTH_OPEN = \"gauss:1\"",
            "[events]\nAUTH_OPEN = \"1us\"\n1 = \"2us\"",
            "colour = \"red\"",
        ] {
            let error = EventTable::parse("bad.toml", bad).unwrap_err();
            assert!(
                matches!(&error, CostError::Table { file, .. } if file == "bad.toml"),
                "{error}"
            );
            assert!(
                error.to_string().starts_with("cost table bad.toml: "),
                "{error}"
            );
        }
    }
}
