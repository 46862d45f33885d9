//! Helpers shared by the eslogger test files: fixtures and an import
//! into messages.

// Each test file uses some of these: the rest is dead code to it.
#![allow(dead_code)]

use std::path::PathBuf;

use esreplay_eslogger::{ImportError, ImportOptions, ImportReport, import};
use esreplay_traces::{Message, TraceReader};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn import_bytes(
    bytes: &[u8],
    options: &ImportOptions,
) -> Result<(Vec<Message>, ImportReport), ImportError> {
    let (trace, report) = import(|| Ok(bytes), options, "test", Vec::new(), |_| {})?;
    let messages = TraceReader::new(trace.as_slice())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    Ok((messages, report))
}

/// The v10 fixture's lines as JSON objects.
pub fn fixture_objects(name: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Writes an object with its top-level keys in the given order.
pub fn write_object(entries: &[(&String, &serde_json::Value)], out: &mut String) {
    out.push('{');
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).unwrap());
        out.push(':');
        out.push_str(&serde_json::to_string(value).unwrap());
    }
    out.push_str("}\n");
}
