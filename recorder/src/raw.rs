//! `RawMessage`: the fixed-size `Copy` record an event handler fills in
//! without allocating, and its conversion into a trace [`Message`].
//!
//! Strings (paths, signing and team ids) live in inline byte buffers
//! ([`InlineStr`]) truncated at a fixed length with a truncated flag: a
//! handler must not allocate, and a fixed-size record is what makes the ring
//! allocation-free. Truncated strings end in `…` in the trace. A hashed
//! path keeps only its 128-bit hash (of the whole path, taken by the
//! handler before any truncation).

use esreplay_traces::{Action, Details, EventType, Message, Timebase};
use std::sync::Arc;

/// Bytes kept of a process or target path.
pub const PATH_BYTES: usize = 256;
/// Bytes kept of a signing or team id.
pub const ID_BYTES: usize = 64;

/// A string copied into a fixed inline buffer, truncated at `N` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InlineStr<const N: usize> {
    len: u16,
    present: bool,
    truncated: bool,
    hashed: bool,
    bytes: [u8; N],
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        InlineStr {
            len: 0,
            present: false,
            truncated: false,
            hashed: false,
            bytes: [0; N],
        }
    }
}

impl<const N: usize> InlineStr<N> {
    /// Copies `src`, keeping its first `N` bytes (no allocation).
    #[inline]
    pub fn set(&mut self, src: &[u8]) {
        let len = src.len().min(N).min(usize::from(u16::MAX));
        self.bytes[..len].copy_from_slice(&src[..len]);
        self.len = len as u16;
        self.present = true;
        self.truncated = len < src.len();
        self.hashed = false;
    }

    /// Like [`InlineStr::set`], also marked truncated when the source
    /// says it was cut already (ES's `path_truncated`).
    #[inline]
    pub fn set_marked(&mut self, src: &[u8], truncated_at_source: bool) {
        self.set(src);
        self.truncated |= truncated_at_source;
    }

    /// Keeps a 128-bit hash instead of the bytes (`truncated_at_source`:
    /// the hashed string was already cut by its source).
    #[inline]
    pub fn set_hash(&mut self, hash: u128, truncated_at_source: bool) {
        const { assert!(N >= 16) };
        self.bytes[..16].copy_from_slice(&hash.to_le_bytes());
        self.len = 16;
        self.present = true;
        self.truncated = truncated_at_source;
        self.hashed = true;
    }

    /// Builds one from `src` (see [`InlineStr::set`]).
    pub fn from_bytes(src: &[u8]) -> Self {
        let mut s = Self::default();
        s.set(src);
        s
    }

    /// The kept bytes, or `None` when never set.
    pub fn bytes(&self) -> Option<&[u8]> {
        self.present.then(|| &self.bytes[..usize::from(self.len)])
    }

    /// True when the source was longer than the buffer.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The trace string: lossy UTF-8 or `hash:` and 32 hex digits, with
    /// `…` appended when truncated.
    pub fn to_trace(&self) -> Option<Arc<str>> {
        let bytes = self.bytes()?;
        let text = match self.hashed {
            true => {
                let hash = u128::from_le_bytes(bytes.try_into().unwrap_or_default());
                format!("hash:{hash:032x}").into()
            }
            false => String::from_utf8_lossy(bytes),
        };
        Some(match self.truncated {
            true => format!("{text}…").into(),
            false => text.into(),
        })
    }
}

/// Optional per-message facts (present when the message version has them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawDetails {
    /// ES message version.
    pub message_version: Option<u32>,
    /// Thread that caused the event.
    pub thread_id: Option<u64>,
    /// Process pid version.
    pub pidversion: Option<u32>,
    /// Effective uid.
    pub euid: Option<u32>,
    /// Parent pid.
    pub ppid: Option<u32>,
    /// Apple platform binary.
    pub platform_binary: Option<bool>,
    /// The process is itself an ES client.
    pub is_es_client: Option<bool>,
    /// NOTIFY_CLOSE: the file was modified while open.
    pub close_modified: Option<bool>,
    /// AUTH_OPEN / NOTIFY_OPEN `fflag`.
    pub open_fflag: Option<u32>,
    /// Target file device.
    pub target_dev: Option<u64>,
    /// Target file inode.
    pub target_ino: Option<u64>,
    /// Code-signing id.
    pub signing_id: InlineStr<ID_BYTES>,
    /// Team id.
    pub team_id: InlineStr<ID_BYTES>,
}

/// What a handler copies out of one message; all times in mach ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawMessage {
    /// Kernel timestamp of the message (`mach_time`).
    pub mach_time: u64,
    /// AUTH deadline in ticks (ignored for NOTIFY).
    pub deadline: Option<u64>,
    /// Handler entry (`mach_absolute_time` when the handler started).
    pub handler_entry: Option<u64>,
    /// Handler exit, or the tap's `done` time.
    pub handler_exit: Option<u64>,
    /// When the answer was sent (AUTH), in ticks.
    pub response: Option<u64>,
    /// The answer sent: ES auth result, or the allowed flags of AUTH_OPEN.
    pub verdict: Option<u32>,
    /// Per-client sequence number (message version ≥ 2).
    pub seq: Option<u64>,
    /// Global sequence number (message version ≥ 4).
    pub global_seq: Option<u64>,
    /// ES event type number.
    pub event: u16,
    /// AUTH or NOTIFY.
    pub auth: bool,
    /// Process id.
    pub pid: Option<u32>,
    /// Process executable path.
    pub process_path: InlineStr<PATH_BYTES>,
    /// Target path (file, exec target, ...).
    pub target_path: InlineStr<PATH_BYTES>,
    /// Optional facts.
    pub details: RawDetails,
}

/// How raw records become trace messages.
#[derive(Clone, Copy, Debug, Default)]
pub struct Convert {
    /// The clock's timebase.
    pub timebase: Timebase,
    /// Ticks at trace time 0 (the header's start anchor).
    pub start_ticks: u64,
}

impl Convert {
    /// Ticks → ns since the start (u128 math; earlier than start → 0).
    pub fn ns(&self, ticks: u64) -> u64 {
        self.timebase
            .ticks_to_ns(ticks.saturating_sub(self.start_ticks))
    }

    /// Converts one record. `fallback_seq` numbers messages whose version has
    /// no global sequence number.
    pub fn message(&self, raw: &RawMessage, fallback_seq: u64) -> Message {
        let action = if raw.auth {
            Action::Auth
        } else {
            Action::Notify
        };
        let global_seq = raw.global_seq.unwrap_or(fallback_seq);
        let mut m = Message::new(
            global_seq,
            EventType(raw.event),
            action,
            self.ns(raw.mach_time),
        );
        m.seq = raw.seq.unwrap_or(global_seq);
        m.deadline_ns = raw.deadline.filter(|_| raw.auth).map(|d| self.ns(d));
        m.received_ns = raw.handler_entry.map(|t| self.ns(t));
        m.service_ns = raw
            .handler_entry
            .zip(raw.handler_exit)
            .map(|(a, b)| self.timebase.ticks_to_ns(b.saturating_sub(a)));
        m.pid = raw.pid;
        m.process_path = raw.process_path.to_trace();
        m.target_path = raw.target_path.to_trace();
        m.thread_id = raw.details.thread_id;
        m.response_ns = raw.response.map(|t| self.ns(t));
        m.is_es_client = raw.details.is_es_client;
        m.details = self.details(raw).map(Box::new);
        m
    }

    // `..Details::default()` keeps fields the model gains at their default.
    #[allow(clippy::needless_update)]
    fn details(&self, raw: &RawMessage) -> Option<Details> {
        let d = &raw.details;
        let out = Details {
            message_version: d.message_version,
            handler_exit_ns: raw.handler_exit.map(|t| self.ns(t)),
            verdict: raw.verdict,
            pidversion: d.pidversion,
            euid: d.euid,
            ppid: d.ppid,
            open_fflag: d.open_fflag,
            platform_binary: d.platform_binary,
            close_modified: d.close_modified,
            target_dev: d.target_dev,
            target_ino: d.target_ino,
            signing_id: d.signing_id.to_trace(),
            team_id: d.team_id.to_trace(),
            ..Details::default()
        };
        (out != Details::default()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawMessage {
        RawMessage {
            mach_time: 1_000 + 300,
            deadline: Some(1_000 + 300 + 24_000_000),
            handler_entry: Some(1_000 + 330),
            handler_exit: Some(1_000 + 360),
            response: Some(1_000 + 340),
            verdict: Some(1),
            seq: Some(7),
            global_seq: Some(42),
            event: EventType::AUTH_OPEN.0,
            auth: true,
            pid: Some(99),
            process_path: InlineStr::from_bytes(b"/bin/cat"),
            target_path: InlineStr::from_bytes(b"/etc/hosts"),
            ..RawMessage::default()
        }
    }

    #[test]
    fn converts_ticks_with_apple_silicon_timebase() {
        let c = Convert {
            timebase: Timebase::APPLE_SILICON,
            start_ticks: 1_000,
        };
        let m = c.message(&raw(), 0);
        assert_eq!(m.arrival_ns, 300 * 125 / 3);
        assert_eq!(m.deadline_ns, Some((300 + 24_000_000) * 125 / 3));
        assert_eq!(m.received_ns, Some(330 * 125 / 3));
        assert_eq!(m.service_ns, Some(30 * 125 / 3));
        assert_eq!((m.global_seq, m.seq, m.pid), (42, 7, Some(99)));
        assert_eq!(m.event, EventType::AUTH_OPEN);
        assert_eq!(m.target_path.as_deref(), Some("/etc/hosts"));
        let details = m.details.unwrap();
        assert_eq!(details.handler_exit_ns, Some(360 * 125 / 3));
        assert_eq!(m.response_ns, Some(340 * 125 / 3));
        assert_eq!(details.verdict, Some(1));
    }

    #[test]
    fn notify_has_no_deadline_and_old_versions_get_fallback_seq() {
        let mut r = raw();
        r.auth = false;
        r.seq = None;
        r.global_seq = None;
        r.handler_exit = None;
        r.response = None;
        r.verdict = None;
        let m = Convert::default().message(&r, 5);
        assert_eq!(m.deadline_ns, None);
        assert_eq!((m.global_seq, m.seq), (5, 5));
        assert!(m.details.is_none());
    }

    #[test]
    fn long_paths_are_truncated_and_marked() {
        let long = vec![b'a'; PATH_BYTES + 10];
        let s = InlineStr::<PATH_BYTES>::from_bytes(&long);
        assert!(s.is_truncated());
        assert_eq!(s.bytes().unwrap().len(), PATH_BYTES);
        assert!(s.to_trace().unwrap().ends_with('…'));
        assert_eq!(InlineStr::<8>::default().to_trace(), None);
    }

    #[test]
    fn a_hash_is_written_as_32_hex_digits() {
        let mut s = InlineStr::<PATH_BYTES>::default();
        s.set_hash(0xabc, false);
        assert_eq!(
            s.to_trace().as_deref(),
            Some("hash:00000000000000000000000000000abc")
        );
        s.set_hash(1, true);
        assert!(s.to_trace().unwrap().ends_with("1…"));
        s.set(b"/etc/hosts");
        assert_eq!(s.to_trace().as_deref(), Some("/etc/hosts"));
    }

    /// Ring memory is capacity × this size: keep a record under 1 KiB.
    #[test]
    fn record_stays_under_one_kib() {
        let size = std::mem::size_of::<RawMessage>();
        println!("RawMessage: {size} bytes");
        assert!(size <= 1024, "{size}");
    }
}
