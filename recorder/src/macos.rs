//! The Endpoint Security client (macOS only, kept thin): subscribes, copies
//! each message into a [`RawMessage`] inside the handler, answers every AUTH
//! at once with ALLOW and `cache = false`, and pushes the record into the
//! ring drained by the [`Writer`]. No allocation, lock or I/O in the handler.

use crate::clock;
use crate::raw::{RawDetails, RawMessage};
use crate::ring::{Producer, ring};
use crate::writer::{RecordError, Writer, WriterConfig, WriterStats, stop_on_signals};
use endpoint_sec::sys::{es_action_type_t, es_auth_result_t, es_event_type_t};
use endpoint_sec::{AuditToken, Client, Event, Message, version};
use esreplay_traces::{EventType, Header, Source};
use std::cell::RefCell;
use std::ffi::CString;
use std::fs::File;
use std::io::BufWriter;
use std::os::unix::ffi::OsStrExt;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `esrecord` records on macOS.
#[derive(Clone, Debug)]
pub struct EsOptions {
    /// Events to subscribe to.
    pub events: Vec<EventType>,
    /// Leave paths out (`--no-paths`).
    pub no_paths: bool,
    /// Ring capacity in records.
    pub ring_capacity: usize,
    /// Writer settings (`convert` is filled in from the header).
    pub writer: WriterConfig,
}

/// Records until SIGINT/SIGTERM, the duration or the message limit.
pub fn record(path: &Path, options: &EsOptions) -> Result<WriterStats, RecordError> {
    let (major, minor, patch) = os_version_numbers();
    version::set_runtime_version(major, minor, patch);
    let header = header(options);
    let mut config = options.writer.clone();
    config.convert.timebase = header.timebase;
    config.convert.start_ticks = header.start.mach_absolute;
    let (producer, consumer) = ring(options.ring_capacity);
    let rings = Arc::new(Mutex::new(vec![consumer]));
    let out = BufWriter::new(File::create(path)?);
    let writer = Writer::spawn(out, &header, rings, Arc::default(), config)?;
    // Signals end the subscription first and the writer after it, so that
    // nothing the handler pushed is left behind.
    let interrupted = Arc::new(AtomicBool::new(false));
    stop_on_signals(&interrupted)?;
    let producer = AssertUnwindSafe(RefCell::new(producer));
    let no_paths = options.no_paths;
    let mut client = Client::new(move |client, message| {
        // The ES queue calls the handler serially: the borrow never fails.
        if let Ok(mut producer) = producer.try_borrow_mut() {
            handle(client, &message, &mut producer, no_paths);
        }
    })
    .map_err(|e| RecordError::Source(format!("es_new_client: {e:?}")))?;
    let me = AuditToken::from_pid(std::process::id() as libc::pid_t)
        .map_err(|e| RecordError::Source(format!("audit token of self: {e}")))?;
    client
        .mute_process(&me)
        .map_err(|e| RecordError::Source(format!("es_mute_process: {e:?}")))?;
    let events: Vec<es_event_type_t> = options
        .events
        .iter()
        .map(|e| es_event_type_t(u32::from(e.0)))
        .collect();
    client
        .subscribe(&events)
        .map_err(|e| RecordError::Source(format!("es_subscribe: {e:?}")))?;
    while !interrupted.load(Ordering::Acquire) && !writer.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(client); // unsubscribes; no handler runs after this
    writer.finish().map(|(_, stats)| stats)
}

/// The handler: answer, copy, push. Runs on the ES queue.
fn handle(client: &mut Client<'_>, msg: &Message, ring: &mut Producer<RawMessage>, no_paths: bool) {
    let entry = clock::now_ticks();
    let auth = msg.action_type() == es_action_type_t::ES_ACTION_TYPE_AUTH;
    let event = msg.event();
    if auth {
        // Errors cannot be reported from here; ES then applies its default.
        let _ = match event {
            Some(Event::AuthOpen(_)) => client.respond_flags_result(msg, u32::MAX, false),
            _ => client.respond_auth_result(msg, es_auth_result_t::ES_AUTH_RESULT_ALLOW, false),
        };
    }
    let process = msg.process();
    let token = process.audit_token();
    let mut raw = RawMessage {
        mach_time: msg.raw_mach_time(),
        deadline: auth.then(|| msg.raw_deadline()),
        handler_entry: Some(entry),
        seq: msg.seq_num(),
        global_seq: msg.global_seq_num(),
        event: u16::try_from(msg.event_type().0).unwrap_or(u16::MAX),
        auth,
        pid: u32::try_from(token.pid()).ok(),
        details: RawDetails {
            message_version: Some(msg.version()),
            thread_id: msg.thread().map(|t| t.thread_id()),
            pidversion: u32::try_from(token.pidversion()).ok(),
            euid: Some(token.euid()),
            ppid: u32::try_from(process.ppid()).ok(),
            platform_binary: Some(process.is_platform_binary()),
            ..RawDetails::default()
        },
        ..RawMessage::default()
    };
    raw.details.signing_id.set(process.signing_id().as_bytes());
    raw.details.team_id.set(process.team_id().as_bytes());
    if !no_paths {
        raw.process_path.set(process.executable().path().as_bytes());
    }
    let target = match &event {
        Some(Event::AuthOpen(e) | Event::NotifyOpen(e)) => {
            raw.details.open_fflag = Some(e.fflag() as u32);
            Some(e.file())
        }
        Some(Event::AuthExec(e) | Event::NotifyExec(e)) => Some(e.target().executable()),
        _ => None,
    };
    if let Some(file) = target {
        let stat = file.stat();
        raw.details.target_dev = Some(stat.st_dev as u64);
        raw.details.target_ino = Some(stat.st_ino);
        if !no_paths {
            raw.target_path.set(file.path().as_bytes());
        }
    }
    raw.handler_exit = Some(clock::now_ticks());
    ring.try_push(raw);
}

/// The trace header: clocks, machine, subscription and answer policy.
fn header(options: &EsOptions) -> Header {
    let mut header = Header {
        source: Some(Source::Es),
        timebase: clock::timebase(),
        start: clock::anchor(),
        os_version: sysctl_string("kern.osproductversion"),
        os_build: sysctl_string("kern.osversion"),
        hardware_model: sysctl_string("hw.model"),
        cpu_count: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok()),
        subscribed: options.events.clone(),
        tool: "esrecord".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        ..Header::default()
    };
    let paths = match (options.no_paths, options.writer.convert.hash_key.is_some()) {
        (true, _) => "none",
        (false, true) => "hashed",
        (false, false) => "full",
    };
    for (key, value) in [
        (
            "mute",
            "self (es_mute_process); default path mutes left as ES sets them",
        ),
        (
            "answer",
            "AUTH: ALLOW at once, cache=false; AUTH_OPEN: all flags",
        ),
        ("paths", paths),
    ] {
        header.meta.insert(key.into(), value.into());
    }
    header
        .meta
        .insert("ring_capacity".into(), options.ring_capacity.to_string());
    header
}

/// `kern.osproductversion` as (major, minor, patch); 10.15.0 if unknown.
fn os_version_numbers() -> (u64, u64, u64) {
    let text = sysctl_string("kern.osproductversion").unwrap_or_default();
    let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), minor) => (
            major,
            minor.unwrap_or(0),
            parts.next().flatten().unwrap_or(0),
        ),
        _ => (10, 15, 0),
    }
}

/// A string sysctl, or `None`.
fn sysctl_string(name: &str) -> Option<String> {
    let name = CString::new(name).ok()?;
    let mut buf = [0u8; 256];
    let mut len = buf.len();
    // Safety: `name` is NUL-terminated; `buf` is writable for `len` bytes and
    // sysctlbyname writes at most `len` bytes and updates `len`.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    let bytes = &buf[..len.min(buf.len())];
    let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
    Some(String::from_utf8_lossy(text).into_owned())
}
