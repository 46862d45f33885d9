//! The esreplay trace library: the message model, the binary trace format
//! with its streaming reader and writer, the JSONL interchange, synthetic
//! generators and trace statistics.
//!
//! Everything else in esreplay (the recorder, the importers, the simulator)
//! produces or consumes [`Message`]s through this crate; only
//! [`TraceWriter`] writes trace bytes and only [`TraceReader`] reads them.
//!
//! ```
//! use esreplay_traces::{Action, EventType, Header, Message, TraceReader, TraceWriter};
//!
//! let mut bytes = Vec::new();
//! let mut writer = TraceWriter::new(&mut bytes, &Header::default()).unwrap();
//! let mut message = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 1_000);
//! message.deadline_ns = Some(15_000_001_000);
//! writer.write(&message).unwrap();
//! writer.finish().unwrap();
//!
//! let reader = TraceReader::new(bytes.as_slice()).unwrap();
//! let messages: Vec<Message> = reader.map(Result::unwrap).collect();
//! assert_eq!(messages, vec![message]);
//! ```
#![warn(missing_docs)]

pub mod budget;
pub mod cpu;
pub mod dist;
pub mod duration;
pub mod event;
pub mod format;
pub mod histogram;
pub mod jsonl;
pub mod lines;
pub mod model;
pub mod stats;
pub mod synth;

pub use cpu::{CpuSample, CpuTrack};
pub use duration::{HumanNs, format_ns, parse_duration_ns};
pub use event::{Action, EventType};
pub use format::{ReadSummary, TraceError, TraceReader, TraceWriter};
pub use histogram::Histogram;
pub use model::{ClockAnchor, Details, Footer, Header, Message, Source, Timebase};
