//! The Endpoint Security handler's logic, portable: everything `esrecord`
//! does with a message except reading it out of an `es_message_t` and
//! calling `es_respond_*`, which stay in the thin macOS layer (`macos`).
//!
//! [`EsMessage`] is an `es_message_t`-shaped plain view (borrowed byte
//! slices, fields already gated by message version); [`EsHandler::handle`]
//! answers first (through the caller's closure), then copies the view into
//! a [`RawMessage`], tracks `global_seq_num` (gaps are messages ES never
//! delivered, kept apart from ring drops), and pushes the record into the
//! ring; a full ring drops and counts. Tests build views by hand and run
//! all of it on Linux: the ES stand-in.

use crate::clock;
use crate::raw::{InlineStr, PATH_BYTES, RawMessage};
use crate::ring::Producer;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// First message version with `seq_num`.
pub const SEQ_NUM_SINCE: u32 = 2;
/// First message version with `global_seq_num` and `thread`.
pub const GLOBAL_SEQ_NUM_SINCE: u32 = 4;

/// A 128-bit key for SipHash-2-4 path hashing (`--hash-paths`): random per
/// recording, never written down.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(…)") // never printed
    }
}

impl PathMode {
    /// The header's `paths` meta value: `full`, `hashed` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            PathMode::Full => "full",
            PathMode::Hashed(_) => "hashed",
            PathMode::None => "none",
        }
    }
}

impl HashKey {
    /// A key from its two halves (tests; use [`HashKey::random`] otherwise).
    pub fn new(k0: u64, k1: u64) -> Self {
        HashKey { k0, k1 }
    }

    /// A key from the OS's random source (`/dev/urandom`).
    pub fn random() -> std::io::Result<Self> {
        use std::io::Read;
        let mut bytes = [0u8; 16];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let (k0, k1) = bytes.split_at(8);
        let half = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
        Ok(HashKey::new(half(k0), half(k1)))
    }

    /// SipHash-2-4 with 128-bit output of `bytes` (the whole path).
    pub fn hash(&self, bytes: &[u8]) -> u128 {
        use siphasher::sip128::{Hasher128, SipHasher24};
        use std::hash::Hasher;
        let mut hasher = SipHasher24::new_with_keys(self.k0, self.k1);
        hasher.write(bytes);
        hasher.finish128().as_u128()
    }
}

/// How paths go into records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathMode {
    /// The path bytes, cut at 256 bytes with a truncation mark.
    #[default]
    Full,
    /// A keyed hash of the whole path (with ES's truncation mark).
    Hashed(HashKey),
    /// No paths.
    None,
}

/// An `es_file_t` as the handler reads it.
#[derive(Clone, Copy, Debug, Default)]
pub struct EsFile<'a> {
    /// `path` (`es_string_token_t`: not NUL-terminated).
    pub path: &'a [u8],
    /// `path_truncated`: ES itself cut the path.
    pub path_truncated: bool,
    /// `stat.st_dev` (`dev_t`, a signed 32-bit number on macOS).
    pub dev: i32,
    /// `stat.st_ino`.
    pub ino: u64,
}

/// An `es_process_t` as the handler reads it.
#[derive(Clone, Copy, Debug, Default)]
pub struct EsProcess<'a> {
    /// Pid from the audit token.
    pub pid: i32,
    /// Pid version from the audit token.
    pub pidversion: i32,
    /// Effective uid from the audit token.
    pub euid: u32,
    /// `ppid`.
    pub ppid: i32,
    /// `is_platform_binary`.
    pub platform_binary: bool,
    /// `is_es_client`.
    pub is_es_client: bool,
    /// `signing_id` (empty when unsigned).
    pub signing_id: &'a [u8],
    /// `team_id` (empty when none).
    pub team_id: &'a [u8],
    /// `executable`.
    pub executable: EsFile<'a>,
}

/// An `es_message_t` as the handler reads it, with the fields a message
/// version does not have already `None` (the reader gates them by
/// `version`, never by the OS version: see [`SEQ_NUM_SINCE`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct EsMessage<'a> {
    /// `version`.
    pub version: u32,
    /// `mach_time`.
    pub mach_time: u64,
    /// `deadline` (meaningful for AUTH only).
    pub deadline: u64,
    /// `seq_num` (version ≥ 2).
    pub seq_num: Option<u64>,
    /// `global_seq_num` (version ≥ 4).
    pub global_seq_num: Option<u64>,
    /// `thread->thread_id` (version ≥ 4, thread not NULL).
    pub thread_id: Option<u64>,
    /// `action_type` is AUTH.
    pub auth: bool,
    /// `event_type`.
    pub event_type: u32,
    /// `process`.
    pub process: EsProcess<'a>,
    /// The event's file (open: the file; exec: the new image), if any.
    pub target: Option<EsFile<'a>>,
    /// `event.open.fflag` for opens.
    pub open_fflag: Option<i32>,
    /// `event.close.modified` for NOTIFY_CLOSE.
    pub close_modified: Option<bool>,
}

/// What the handler's answer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// The verdict sent, or `None` when none was (NOTIFY, or the respond
    /// call failed).
    pub verdict: Option<u32>,
}

/// An answer sent, and when `respond` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    /// The verdict sent (`None`: the respond call failed).
    pub verdict: Option<u32>,
    /// Ticks when the respond call returned.
    pub at: u64,
}

/// Answers an AUTH message before anything else (a borrow, a copy, a
/// branch that could fail): calls `respond` and stamps when it returned.
/// `None` for NOTIFY (nothing to answer).
#[inline]
pub fn answer_first(auth: bool, respond: impl FnOnce() -> Answer) -> Option<Answered> {
    auth.then(|| {
        let answer = respond();
        Answered {
            verdict: answer.verdict,
            at: clock::now_ticks(),
        }
    })
}

/// Counts the handler keeps for the footer (written rarely: on a gap).
#[derive(Debug, Default)]
pub struct HandlerCounts {
    /// Messages ES never delivered: the sum of `global_seq_num` gaps.
    pub es_gaps: AtomicU64,
    /// `global_seq_num` that went backwards or repeated.
    pub seq_regressions: AtomicU64,
}

/// The portable handler: one per ES client (ES calls it serially).
pub struct EsHandler {
    ring: Producer<RawMessage>,
    paths: PathMode,
    last_global_seq: Option<u64>,
    counts: Arc<HandlerCounts>,
}

impl EsHandler {
    /// A handler pushing into `ring`; pre-faults the ring's memory so that
    /// no page fault lands in a handler call later.
    pub fn new(mut ring: Producer<RawMessage>, paths: PathMode) -> Self {
        ring.prefault();
        EsHandler {
            ring,
            paths,
            last_global_seq: None,
            counts: Arc::default(),
        }
    }

    /// The counts, shared with whoever writes the footer.
    pub fn counts(&self) -> Arc<HandlerCounts> {
        Arc::clone(&self.counts)
    }

    /// One message, in the order `esrecord`'s handler runs it: answer
    /// first ([`answer_first`]), then `read` the message and [`record`] it.
    /// Returns `false` when the ring was full (the drop is counted).
    ///
    /// [`record`]: EsHandler::record
    #[inline]
    pub fn handle<'a>(
        &mut self,
        entry: u64,
        auth: bool,
        respond: impl FnOnce() -> Answer,
        read: impl FnOnce() -> EsMessage<'a>,
    ) -> bool {
        let answered = answer_first(auth, respond);
        self.record(entry, answered, &read())
    }

    /// Copies a message answered already, tracks its sequence number and
    /// pushes the record; `false` when the ring was full. `entry` is the
    /// handler entry time.
    #[inline]
    pub fn record(
        &mut self,
        entry: u64,
        answered: Option<Answered>,
        message: &EsMessage<'_>,
    ) -> bool {
        let mut raw = self.copy(message);
        raw.handler_entry = Some(entry);
        raw.response = answered.map(|a| a.at);
        raw.verdict = answered.and_then(|a| a.verdict);
        self.track(message.global_seq_num);
        raw.handler_exit = Some(clock::now_ticks());
        self.ring.try_push(raw)
    }

    /// The record of a message (no times of the handler's own).
    #[inline]
    pub fn copy(&self, m: &EsMessage<'_>) -> RawMessage {
        copy_message(m, self.paths)
    }

    /// Counts `global_seq_num` gaps (ES-side drops) and regressions.
    fn track(&mut self, global_seq: Option<u64>) {
        let Some(seq) = global_seq else { return };
        match self.last_global_seq {
            Some(last) if seq > last.wrapping_add(1) => {
                let missing = seq - last - 1;
                self.counts.es_gaps.fetch_add(missing, Ordering::Relaxed);
            }
            Some(last) if seq <= last => {
                self.counts.seq_regressions.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        self.last_global_seq = Some(seq);
    }
}

/// Copies a message view into a record (paths per `paths`).
#[inline]
pub fn copy_message(m: &EsMessage<'_>, paths: PathMode) -> RawMessage {
    let p = &m.process;
    let mut raw = RawMessage {
        mach_time: m.mach_time,
        deadline: m.auth.then_some(m.deadline),
        seq: m.seq_num,
        global_seq: m.global_seq_num,
        event: u16::try_from(m.event_type).unwrap_or(u16::MAX),
        auth: m.auth,
        pid: u32::try_from(p.pid).ok(),
        ..RawMessage::default()
    };
    let d = &mut raw.details;
    d.message_version = Some(m.version);
    d.thread_id = m.thread_id;
    d.pidversion = u32::try_from(p.pidversion).ok();
    d.euid = Some(p.euid);
    d.ppid = u32::try_from(p.ppid).ok();
    d.platform_binary = Some(p.platform_binary);
    d.is_es_client = Some(p.is_es_client);
    d.close_modified = m.close_modified;
    d.open_fflag = m.open_fflag.map(|f| f as u32);
    // Empty ids mean "none" (unsigned code, platform binaries' team).
    if !p.signing_id.is_empty() {
        d.signing_id.set(p.signing_id);
    }
    if !p.team_id.is_empty() {
        d.team_id.set(p.team_id);
    }
    let exe = &p.executable;
    copy_path(&mut raw.process_path, exe.path, exe.path_truncated, paths);
    if let Some(file) = &m.target {
        // dev_t is i32 on macOS: reinterpret its bits, never sign-extend.
        raw.details.target_dev = Some(u64::from(file.dev as u32));
        raw.details.target_ino = Some(file.ino);
        copy_path(&mut raw.target_path, file.path, file.path_truncated, paths);
    }
    raw
}

/// Copies (or hashes) one path; `truncated`: its source already cut it.
#[inline]
pub fn copy_path(dst: &mut InlineStr<PATH_BYTES>, path: &[u8], truncated: bool, paths: PathMode) {
    match paths {
        PathMode::Full => dst.set_marked(path, truncated),
        PathMode::Hashed(key) => dst.set_hash(key.hash(path), truncated),
        PathMode::None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::ring;
    use esreplay_traces::EventType;
    use std::cell::RefCell;

    /// An `es_message_t`-shaped AUTH_OPEN as ES would deliver it.
    fn open(global_seq: u64, path: &[u8]) -> EsMessage<'_> {
        EsMessage {
            version: 8,
            mach_time: 1_000 + global_seq,
            deadline: 1_000 + global_seq + 500,
            seq_num: Some(global_seq),
            global_seq_num: Some(global_seq),
            thread_id: Some(77),
            auth: true,
            event_type: u32::from(EventType::AUTH_OPEN.0),
            process: EsProcess {
                pid: 42,
                pidversion: 3,
                euid: 501,
                ppid: 1,
                platform_binary: false,
                is_es_client: true,
                signing_id: b"com.example.tool",
                team_id: b"",
                executable: EsFile {
                    path: b"/usr/local/bin/tool",
                    ..EsFile::default()
                },
            },
            target: Some(EsFile {
                path,
                path_truncated: false,
                dev: -16_777_220, // 0xFEFFFFFC: an APFS device with the top bit set
                ino: 12345,
            }),
            open_fflag: Some(1),
            close_modified: None,
        }
    }

    #[test]
    fn answers_before_reading_then_copies_and_pushes() {
        let (producer, mut consumer) = ring(8);
        let mut handler = EsHandler::new(producer, PathMode::Full);
        let order = RefCell::new(Vec::new());
        let pushed = handler.handle(
            5,
            true,
            || {
                order.borrow_mut().push("respond");
                Answer { verdict: Some(0) }
            },
            || {
                order.borrow_mut().push("read");
                open(0, b"/etc/hosts")
            },
        );
        assert!(pushed);
        assert_eq!(*order.borrow(), ["respond", "read"]);
        let raw = consumer.try_pop().unwrap();
        assert_eq!(
            (raw.global_seq, raw.seq, raw.pid),
            (Some(0), Some(0), Some(42))
        );
        assert_eq!(raw.deadline, Some(1_500));
        assert_eq!(raw.handler_entry, Some(5));
        assert!(raw.response.is_some() && raw.handler_exit >= raw.response);
        assert_eq!(raw.verdict, Some(0));
        assert_eq!(raw.target_path.bytes(), Some(&b"/etc/hosts"[..]));
        assert_eq!(
            raw.details.target_dev,
            Some(0xFEFF_FFFC),
            "no sign extension"
        );
        assert_eq!(raw.details.team_id.bytes(), None, "empty team id is absent");
        assert_eq!(
            raw.details.signing_id.bytes(),
            Some(&b"com.example.tool"[..])
        );
        assert_eq!(raw.details.thread_id, Some(77));
        assert_eq!(raw.details.is_es_client, Some(true));
        assert_eq!(raw.details.close_modified, None);
    }

    #[test]
    fn notify_is_not_answered_has_no_deadline_and_keeps_close_modified() {
        let (producer, mut consumer) = ring(8);
        let mut handler = EsHandler::new(producer, PathMode::None);
        let mut message = open(0, b"/etc/hosts");
        message.auth = false;
        message.event_type = u32::from(EventType::NOTIFY_CLOSE.0);
        message.open_fflag = None;
        message.close_modified = Some(true);
        assert!(handler.handle(1, false, || unreachable!("NOTIFY answered"), || message));
        let raw = consumer.try_pop().unwrap();
        assert_eq!(
            (raw.deadline, raw.response, raw.verdict),
            (None, None, None)
        );
        assert_eq!(raw.target_path.bytes(), None);
        assert_eq!(raw.process_path.bytes(), None);
    }

    #[test]
    fn es_gaps_and_ring_drops_are_counted_apart() {
        let (producer, mut consumer) = ring(2);
        let mut handler = EsHandler::new(producer, PathMode::Full);
        let counts = handler.counts();
        let allow = || Answer { verdict: Some(0) };
        // ES delivers 0, 1, 2, then skips 3 and 4 (never delivered), 5, 6.
        let mut pushed = Vec::new();
        for seq in [0, 1, 2, 5, 6] {
            pushed.push(handler.handle(0, true, allow, || open(seq, b"/f")));
        }
        // The ring holds 2: 2, 5 and 6 were dropped by the recorder.
        assert_eq!(pushed, [true, true, false, false, false]);
        assert_eq!(counts.es_gaps.load(Ordering::Relaxed), 2);
        assert_eq!(consumer.dropped(), 3);
        let kept: Vec<_> = std::iter::from_fn(|| consumer.try_pop())
            .map(|r| r.global_seq)
            .collect();
        assert_eq!(kept, [Some(0), Some(1)]);
        // A repeat or a step back is a regression, not a gap.
        handler.handle(0, true, allow, || open(4, b"/f"));
        assert_eq!(counts.seq_regressions.load(Ordering::Relaxed), 1);
        assert_eq!(counts.es_gaps.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn hashed_paths_cover_the_whole_path_and_keep_es_truncation() {
        let key = HashKey::new(1, 2);
        let long_a = [b"/a".repeat(200), b"/tail-a".to_vec()].concat();
        let long_b = [b"/a".repeat(200), b"/tail-b".to_vec()].concat();
        let hashed = |path: &[u8], truncated: bool| {
            let mut message = open(0, path);
            message.target.as_mut().unwrap().path_truncated = truncated;
            copy_message(&message, PathMode::Hashed(key))
                .target_path
                .to_trace()
                .unwrap()
        };
        let (a, b) = (hashed(&long_a, false), hashed(&long_b, false));
        assert_ne!(a, b, "paths equal in their first 256 bytes hash apart");
        assert_eq!(a, hashed(&long_a, false));
        assert!(a.starts_with("hash:") && a.len() == 5 + 32, "{a}");
        assert!(
            hashed(&long_a, true).ends_with('…'),
            "ES's truncation is kept"
        );
        assert_ne!(
            key.hash(b"/etc/hosts"),
            HashKey::new(1, 3).hash(b"/etc/hosts")
        );
        let full = copy_message(&open(0, &long_a), PathMode::Full);
        assert!(full.target_path.to_trace().unwrap().ends_with('…'));
        let mut cut_by_es = open(0, b"/short");
        cut_by_es.target.as_mut().unwrap().path_truncated = true;
        let full = copy_message(&cut_by_es, PathMode::Full);
        assert_eq!(full.target_path.to_trace().as_deref(), Some("/short…"));
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(HashKey::random().unwrap(), HashKey::random().unwrap());
    }
}
