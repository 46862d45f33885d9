//! Import of Apple's `eslogger` JSON captures into esreplay traces.
//!
//! `eslogger` (macOS 13+, root, no ES entitlement needed) prints one JSON
//! object per ES message. This crate reads such captures line by line, in
//! every shape seen across ES message versions 7 to 11 (see [`schema`]),
//! and turns each line into an [`esreplay_traces::Message`]: `event_type`
//! and `action_type` to the event and action (unknown types kept by
//! number), `mach_time` to the arrival, `deadline` (where a dump has one)
//! to the deadline, the sequence numbers, the pid and executable path, the
//! target file of the event types that have one, and details (message
//! version, thread id (`thread.thread_id`), pidversion, euid, ppid,
//! signing and team id, platform binary, `process.is_es_client`, open
//! flags, `close.modified`, target device and inode).
//!
//! eslogger only emits NOTIFY events: [`ImportOptions::as_auth`] models a
//! client subscribed to the AUTH twins, with deadline budgets from a table.
//!
//! ```
//! use esreplay_eslogger::{import, ImportOptions};
//!
//! let capture = r#"{"event_type":10,"action_type":1,"mach_time":1000,"seq_num":0,"global_seq_num":0,"event":{"open":{"fflag":1,"file":{"path":"\/etc\/hosts"}}},"process":{"audit_token":{"pid":7}}}"#;
//! let options = ImportOptions {
//!     as_auth: esreplay_eslogger::parse_as_auth("OPEN").unwrap(),
//!     ..ImportOptions::default()
//! };
//! let (trace, report) =
//!     import(|| Ok(capture.as_bytes()), &options, "example", Vec::new(), |_| {}).unwrap();
//! assert_eq!(report.messages, 1);
//! assert_eq!(report.made_auth, 1);
//! let messages: Vec<_> = esreplay_traces::TraceReader::new(trace.as_slice()).unwrap().collect();
//! let open = messages[0].as_ref().unwrap();
//! assert_eq!(open.target_path.as_deref(), Some("/etc/hosts"));
//! assert_eq!(open.pid, Some(7));
//! ```
#![warn(missing_docs)]

mod import;
mod options;
pub mod report;
pub mod schema;
pub mod timebase;
pub mod wallclock;

pub use import::{ImportError, Scan, convert, import, scan};
pub use options::{DEFAULT_MAX_LINE_BYTES, ImportOptions, parse_as_auth, parse_timebase};
pub use report::ImportReport;
