//! The esreplay trace library: the message model, the binary trace format
//! with its streaming reader and writer, the JSONL interchange, synthetic
//! generators and trace statistics.
//!
//! Everything else in esreplay (the recorder, the importers, the simulator)
//! produces or consumes [`Message`]s through this crate; only
//! [`TraceWriter`] writes trace bytes and only [`TraceReader`] reads them.
#![warn(missing_docs)]

pub mod duration;
pub mod event;
pub mod model;

pub use duration::{format_ns, parse_duration_ns};
pub use event::{Action, EventType};
pub use model::{ClockAnchor, Details, Footer, Header, Message, Source, Timebase};
