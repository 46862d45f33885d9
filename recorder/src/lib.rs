//! esreplay recorder: records Endpoint Security message streams (macOS) into
//! esreplay traces, and the tap that records a client's own receipt and
//! service times.
//!
//! Main types: [`RawMessage`] (what a handler fills in), [`Producer`] and
//! [`Consumer`] (the ring), [`Writer`], [`Tap`]. The handler never blocks
//! and never allocates: it pushes a fixed-size record into a bounded ring,
//! and a full ring drops (and counts) instead of waiting.
//!
//! ```
//! let (mut handler, mut writer) = esreplay_recorder::ring::<u64>(2);
//! assert!(handler.try_push(1) && handler.try_push(2));
//! assert!(!handler.try_push(3), "full: dropped, not waited for");
//! assert_eq!(writer.try_pop(), Some(1));
//! assert_eq!(handler.dropped(), 1);
//! ```
//!
//! The platform-independent core is tested on Linux: the [`mod@ring`] between a
//! handler and the background [`writer`], the [`raw`] record a handler fills
//! in, the ES [`handler`] logic (answer first, copy, sequence tracking, drop
//! accounting) with its ES stand-in tests, the [`es_errors`] guidance, and
//! the [`tap`], and the [`cpu_track`] sampler thread (with the macOS tick
//! arithmetic). The thin ES client layer lives in `macos` (macOS only), the
//! fanotify recorder in `linux` (Linux only).

#![warn(missing_docs)]

pub mod clock;
pub mod cpu_track;
pub mod es_errors;
pub mod handler;
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "macos")]
pub mod macos;
pub mod raw;
pub mod ring;
mod sync;
pub mod tap;
pub mod writer;

pub use handler::{EsHandler, EsMessage, HashKey, PathMode};
pub use raw::{Convert, InlineStr, RawDetails, RawMessage};
pub use ring::{CachePadded, Consumer, Producer, ring};
pub use tap::{Tap, TapHandle, TapOptions, Token};
pub use writer::{
    Order, RecordError, Rings, Writer, WriterConfig, WriterStats, stop_on_signals, sync_file,
    wait_for_producers,
};
