//! The message model: one [`Message`] per ES message, and the trace
//! [`Header`] and [`Footer`] that say where the messages came from.
//!
//! All times are `u64` nanoseconds relative to the trace start (see
//! docs/trace-format.md); the header keeps the mach timebase and the absolute
//! start so that absolute times can be rebuilt.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::event::{Action, EventType};

/// One ES message as the simulator and the tools see it.
///
/// Messages in a trace are in kernel order: by `arrival_ns`, ties by
/// `global_seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Client-wide sequence number (ES `global_seq_num`); gaps are drops.
    pub global_seq: u64,
    /// Per-event-type sequence number (ES `seq_num`).
    pub seq: u64,
    /// Event type, ES numbering.
    pub event: EventType,
    /// AUTH or NOTIFY.
    pub action: Action,
    /// Kernel dispatch time a_i (ES `mach_time`), ns since trace start.
    pub arrival_ns: u64,
    /// Absolute deadline d_i, ns since trace start (AUTH only).
    pub deadline_ns: Option<u64>,
    /// When the recording client's handler got the message.
    pub received_ns: Option<u64>,
    /// Measured handler work for this message, ns.
    pub service_ns: Option<u64>,
    /// Process id of the process that caused the event.
    pub pid: Option<u32>,
    /// Thread id of the thread that caused the event (closed replay's
    /// thread key, with the pid).
    pub thread_id: Option<u64>,
    /// When the recording client sent its answer, ns since trace start
    /// (closed replay's stall σ is this less the arrival).
    pub response_ns: Option<u64>,
    /// Whether the process is itself an ES client (ES
    /// `es_process_t.is_es_client`, eslogger `process.is_es_client`).
    pub is_es_client: Option<bool>,
    /// Executable path of that process (possibly hashed for privacy).
    pub process_path: Option<Arc<str>>,
    /// The file the event is about, for event types that have one.
    pub target_path: Option<Arc<str>>,
    /// Further facts, where the source has them (the ones a simulation
    /// reads are the fields above, inline: no allocation).
    pub details: Option<Box<Details>>,
}

impl Message {
    /// A message with only the fields the simulator needs; the rest empty.
    pub fn new(global_seq: u64, event: EventType, action: Action, arrival_ns: u64) -> Message {
        Message {
            global_seq,
            seq: global_seq,
            event,
            action,
            arrival_ns,
            deadline_ns: None,
            received_ns: None,
            service_ns: None,
            pid: None,
            thread_id: None,
            response_ns: None,
            is_es_client: None,
            process_path: None,
            target_path: None,
            details: None,
        }
    }

    /// The deadline budget d_i − a_i, for AUTH messages with a deadline.
    /// Saturates at 0 for a deadline already past at arrival.
    pub fn budget_ns(&self) -> Option<u64> {
        self.deadline_ns
            .map(|deadline| deadline.saturating_sub(self.arrival_ns))
    }

    /// Whether the kernel waits for an answer to this message.
    pub fn is_auth(&self) -> bool {
        self.action == Action::Auth
    }

    /// Whether the message has any of the facts a trace stores in its
    /// details block: [`Details`], or the inline `thread_id`,
    /// `response_ns` and `is_es_client`.
    pub fn has_details(&self) -> bool {
        self.details.is_some()
            || self.thread_id.is_some()
            || self.response_ns.is_some()
            || self.is_es_client.is_some()
    }
}

/// Facts that some sources record and no simulation reads (the ones it
/// does read, thread id, response time and the ES-client flag, are fields
/// of [`Message`], so that a simulation allocates nothing per message).
///
/// Every field is optional: a field is `None` when the source does not have
/// it (for instance a message version too old to carry it).
/// In a trace and in JSONL, these and the message's inline facts form one
/// details block (see docs/trace-format.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    /// ES message version.
    pub message_version: Option<u32>,
    /// When the recording client's handler returned, ns since trace start.
    pub handler_exit_ns: Option<u64>,
    /// The answer sent (ES auth result or open flags).
    pub verdict: Option<u32>,
    /// AUTH_OPEN / NOTIFY_OPEN `fflag`.
    pub open_fflag: Option<u32>,
    /// Process pidversion from the audit token.
    pub pidversion: Option<u32>,
    /// Effective uid.
    pub euid: Option<u32>,
    /// Parent pid.
    pub ppid: Option<u32>,
    /// Code-signing id.
    pub signing_id: Option<Arc<str>>,
    /// Team id.
    pub team_id: Option<Arc<str>>,
    /// Apple platform binary flag.
    pub platform_binary: Option<bool>,
    /// Target file device (with the inode, the ES cache key).
    pub target_dev: Option<u64>,
    /// Target file inode.
    pub target_ino: Option<u64>,
    /// NOTIFY_CLOSE: whether the file was modified while open (ES
    /// `close.modified`): such a close invalidates the ES cache.
    pub close_modified: Option<bool>,
}

/// Where a trace's messages came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Recorded by `esrecord` through Endpoint Security.
    Es,
    /// Imported from Apple's `eslogger` JSON.
    Eslogger,
    /// Recorded from Linux fanotify permission events.
    Fanotify,
    /// Made by `esreplay gen`.
    Synthetic,
    /// Imported from the JSONL interchange format.
    Jsonl,
    /// A source this version does not know (kept by number).
    Other(u8),
}

impl Source {
    /// The stable number stored in the trace header.
    pub fn code(self) -> u8 {
        match self {
            Source::Es => 1,
            Source::Eslogger => 2,
            Source::Fanotify => 3,
            Source::Synthetic => 4,
            Source::Jsonl => 5,
            Source::Other(code) => code,
        }
    }

    /// The inverse of [`Source::code`].
    pub fn from_code(code: u8) -> Source {
        match code {
            1 => Source::Es,
            2 => Source::Eslogger,
            3 => Source::Fanotify,
            4 => Source::Synthetic,
            5 => Source::Jsonl,
            other => Source::Other(other),
        }
    }

    /// A short lower-case name for people.
    pub fn name(self) -> String {
        match self {
            Source::Es => "es".into(),
            Source::Eslogger => "eslogger".into(),
            Source::Fanotify => "fanotify".into(),
            Source::Synthetic => "synthetic".into(),
            Source::Jsonl => "jsonl".into(),
            Source::Other(code) => format!("other({code})"),
        }
    }
}

/// The mach timebase: one tick is `numer / denom` nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timebase {
    /// Numerator (125 on Apple Silicon, 1 on Intel).
    pub numer: u32,
    /// Denominator (3 on Apple Silicon, 1 on Intel).
    pub denom: u32,
}

impl Timebase {
    /// 1 tick = 1 ns (Intel Macs, Linux, synthetic traces).
    pub const NANOS: Timebase = Timebase { numer: 1, denom: 1 };
    /// Apple Silicon: 24 MHz, 125/3 ns per tick.
    pub const APPLE_SILICON: Timebase = Timebase {
        numer: 125,
        denom: 3,
    };

    /// Converts ticks to nanoseconds with 128-bit arithmetic, saturating.
    pub fn ticks_to_ns(self, ticks: u64) -> u64 {
        let denom = u128::from(self.denom.max(1));
        let ns = u128::from(ticks) * u128::from(self.numer) / denom;
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Converts nanoseconds to ticks with 128-bit arithmetic, saturating.
    pub fn ns_to_ticks(self, ns: u64) -> u64 {
        let numer = u128::from(self.numer.max(1));
        let ticks = u128::from(ns) * u128::from(self.denom) / numer;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }
}

impl Default for Timebase {
    fn default() -> Self {
        Timebase::NANOS
    }
}

/// Simultaneous readings of the clocks, to place trace times on them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClockAnchor {
    /// `mach_absolute_time()` ticks (stops during sleep).
    pub mach_absolute: u64,
    /// `mach_continuous_time()` ticks (counts sleep).
    pub mach_continuous: u64,
    /// Wall clock, ns since the Unix epoch.
    pub wall_ns: u64,
}

/// What a reader needs to trust the numbers: written once, first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Where the messages came from.
    pub source: Option<Source>,
    /// Mach timebase of the recording machine.
    pub timebase: Timebase,
    /// Clock readings at trace time 0.
    pub start: ClockAnchor,
    /// OS version (e.g. `26.1`).
    pub os_version: Option<String>,
    /// OS build (e.g. `25B78`).
    pub os_build: Option<String>,
    /// Hardware model (e.g. `Mac14,2`).
    pub hardware_model: Option<String>,
    /// Logical CPU count of the recording machine.
    pub cpu_count: Option<u32>,
    /// The event types the recorder subscribed to.
    pub subscribed: Vec<EventType>,
    /// The producing tool (e.g. `esrecord`).
    pub tool: String,
    /// Its version.
    pub tool_version: String,
    /// Free-form facts: mute settings, answer policy, scenario, seed, ...
    pub meta: BTreeMap<String, String>,
}

/// Totals written at the end of a complete trace.
///
/// A trace without a footer was cut short (the recorder was killed, or the
/// file truncated): every complete chunk is still readable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footer {
    /// Messages written to the trace.
    pub messages: u64,
    /// Chunks written to the trace.
    pub chunks: u64,
    /// Messages the recorder saw but could not keep (ring full).
    pub dropped: u64,
    /// Messages ES never delivered to the recorder: the `global_seq_num`
    /// gaps its handler saw (apart from `dropped`). `None` when the source
    /// does not track them. Stored as the footer meta key `es_gaps`.
    pub es_gaps: Option<u64>,
    /// Clock readings at the end of the recording.
    pub end: Option<ClockAnchor>,
    /// Free-form facts known only at the end.
    pub meta: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timebase_conversions_do_not_overflow() {
        let apple = Timebase::APPLE_SILICON;
        assert_eq!(apple.ticks_to_ns(3), 125);
        assert_eq!(apple.ticks_to_ns(24_000_000), 1_000_000_000);
        assert_eq!(apple.ns_to_ticks(1_000_000_000), 24_000_000);
        assert_eq!(apple.ticks_to_ns(u64::MAX), u64::MAX);
        assert_eq!(Timebase::NANOS.ticks_to_ns(u64::MAX), u64::MAX);
    }

    #[test]
    fn budget_saturates_for_a_deadline_already_past() {
        let mut message = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 100);
        message.deadline_ns = Some(50);
        assert_eq!(message.budget_ns(), Some(0));
        message.deadline_ns = Some(150);
        assert_eq!(message.budget_ns(), Some(50));
    }

    #[test]
    fn source_codes_round_trip() {
        for code in 0..=u8::MAX {
            assert_eq!(Source::from_code(code).code(), code);
        }
    }
}
