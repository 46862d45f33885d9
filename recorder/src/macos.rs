//! The Endpoint Security client (macOS only, kept thin): creates the
//! client, mutes itself and its output, subscribes, and in the handler
//! answers every AUTH at once (ALLOW, `cache = false`) and reads the
//! message into an [`EsMessage`] view. Everything else the handler does
//! (copy, sequence tracking, drop accounting, push) is the portable
//! [`EsHandler`], tested on Linux. No allocation, lock or I/O in the handler.

use crate::clock;
use crate::cpu_track;
use crate::es_errors::{new_client_error, subscribe_error};
use crate::handler::{Answer, EsFile, EsHandler, EsMessage, EsProcess, PathMode, answer_first};
use crate::handler::{GLOBAL_SEQ_NUM_SINCE, SEQ_NUM_SINCE};
use crate::ring::ring;
use crate::writer::{Order, RecordError, Writer, WriterConfig, WriterStats};
use crate::writer::{stop_on_signals, sync_file, wait_for_producers};
use endpoint_sec::sys::NewClientError;
use endpoint_sec::sys::{
    es_action_type_t, es_auth_result_t, es_event_type_t, es_file_t, es_message_t,
    es_mute_path_type_t, es_process_t,
};
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
    /// Paths as they are, hashed, or left out.
    pub paths: PathMode,
    /// Ring capacity in records.
    pub ring_capacity: usize,
    /// Writer settings (`convert`, `order` and `es_counts` are filled in).
    pub writer: WriterConfig,
    /// Sample the CPU track at this period (`None`: no track).
    pub cpu_period: Option<Duration>,
}

/// Records until SIGINT/SIGTERM/SIGHUP, the duration or the message limit;
/// calls `on_ready` once subscribed. The client is created before the
/// output file, so that a refused client leaves no empty trace behind.
pub fn record(
    path: &Path,
    options: &EsOptions,
    on_ready: impl FnOnce(),
) -> Result<WriterStats, RecordError> {
    refuse_translated()?;
    let (major, minor, patch) = os_version_numbers();
    version::set_runtime_version(major, minor, patch);
    let (producer, consumer) = ring(options.ring_capacity);
    let handler = EsHandler::new(producer, options.paths); // pre-faults the ring
    let counts = handler.counts();
    let handler = AssertUnwindSafe(RefCell::new(handler));
    let mut client = Client::new(move |client, message| on_message(client, &message, &handler))
        .map_err(|e| new_client_error(new_client_code(e)))?;
    let file = File::create(path)?;
    let mut header = header(options);
    mute_self_and_output(&mut client, path, &mut header)?;
    let mut config = options.writer.clone();
    config.convert.timebase = header.timebase;
    config.convert.start_ticks = header.start.mach_absolute;
    config.order = Order::GlobalSeq;
    config.es_counts = Some(counts);
    let rings = Arc::new(Mutex::new(vec![consumer]));
    let out = BufWriter::new(file);
    let period = options.cpu_period;
    let writer = Writer::spawn_sampling(out, header, Arc::clone(&rings), config, period)?;
    let interrupted = Arc::new(AtomicBool::new(false));
    stop_on_signals(&interrupted)?;
    subscribe(&mut client, &options.events)?;
    on_ready();
    while !interrupted.load(Ordering::Acquire) && !writer.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    finish(client, &rings, writer)
}

/// Deletes the client (no handler call starts after it returns), waits for
/// the handler to be released, then writes the footer and fsyncs.
fn finish(
    client: Client<'_>,
    rings: &crate::writer::Rings,
    writer: Writer<BufWriter<File>>,
) -> Result<WriterStats, RecordError> {
    let deleted = client.delete();
    let released = wait_for_producers(rings, Duration::from_secs(2));
    let (out, stats) = writer.finish()?;
    sync_file(out)?;
    match (deleted, released) {
        (Err(e), _) => Err(RecordError::Source(format!(
            "es_delete_client failed ({e}); the trace was written and synced"
        ))),
        (Ok(()), false) => Err(RecordError::Source(
            "the ES handler was not released within 2 s of es_delete_client; the trace \
             was written and synced, a last message may be missing"
                .into(),
        )),
        (Ok(()), true) => Ok(stats),
    }
}

/// The handler block's body: answer first, then read and record.
fn on_message(client: &mut Client<'_>, msg: &Message, handler: &RefCell<EsHandler>) {
    let entry = clock::now_ticks();
    let auth = msg.action_type() == es_action_type_t::ES_ACTION_TYPE_AUTH;
    let answered = answer_first(auth, || respond(client, msg));
    // ES calls the handler serially: the borrow never fails.
    if let Ok(mut handler) = handler.try_borrow_mut() {
        handler.record(entry, answered, &view(msg));
    }
}

/// ALLOW with `cache = false`; AUTH_OPEN with every flag.
fn respond(client: &mut Client<'_>, msg: &Message) -> Answer {
    let sent = match msg.event_type() {
        es_event_type_t::ES_EVENT_TYPE_AUTH_OPEN => client
            .respond_flags_result(msg, u32::MAX, false)
            .map(|()| u32::MAX),
        _ => client
            .respond_auth_result(msg, es_auth_result_t::ES_AUTH_RESULT_ALLOW, false)
            .map(|()| es_auth_result_t::ES_AUTH_RESULT_ALLOW.0),
    };
    Answer { verdict: sent.ok() }
}

/// The view of a message, through endpoint-sec's accessors (which gate
/// `seq_num`, `global_seq_num` and `thread` by the message version).
fn view(msg: &Message) -> EsMessage<'_> {
    let process = msg.process();
    let file = es_file;
    let token = process.audit_token();
    let (target, open_fflag, close_modified) = match msg.event() {
        Some(Event::AuthOpen(e) | Event::NotifyOpen(e)) => {
            (Some(file(e.file())), Some(e.fflag()), None)
        }
        Some(Event::AuthExec(e) | Event::NotifyExec(e)) => {
            (Some(file(e.target().executable())), None, None)
        }
        Some(Event::NotifyClose(e)) => (Some(file(e.target())), None, Some(e.modified())),
        _ => (None, None, None),
    };
    EsMessage {
        version: msg.version(),
        mach_time: msg.raw_mach_time(),
        deadline: msg.raw_deadline(),
        seq_num: msg.seq_num(),
        global_seq_num: msg.global_seq_num(),
        thread_id: msg.thread().map(|t| t.thread_id()),
        auth: msg.action_type() == es_action_type_t::ES_ACTION_TYPE_AUTH,
        event_type: msg.event_type().0,
        process: EsProcess {
            pid: token.pid(),
            pidversion: token.pidversion(),
            euid: token.euid(),
            ppid: process.ppid(),
            platform_binary: process.is_platform_binary(),
            is_es_client: process.is_es_client(),
            signing_id: process.signing_id().as_bytes(),
            team_id: process.team_id().as_bytes(),
            executable: file(process.executable()),
        },
        target,
        open_fflag,
        close_modified,
    }
}

fn es_file(f: endpoint_sec::File<'_>) -> EsFile<'_> {
    EsFile {
        path: f.path().as_bytes(),
        path_truncated: f.path_truncated(),
        dev: f.stat().st_dev,
        ino: f.stat().st_ino,
    }
}

/// The view of a raw `es_message_t` (for the tap's C ABI, which gets the
/// pointer from the client's own handler), fields gated by `version`.
///
/// # Safety
///
/// `msg` is a live message from Endpoint Security.
pub unsafe fn view_raw(msg: &es_message_t) -> EsMessage<'_> {
    // Safety: a live message's process and file pointers are valid.
    let process = unsafe { msg.process() };
    let (target, open_fflag, close_modified) = match msg.event_type {
        es_event_type_t::ES_EVENT_TYPE_AUTH_OPEN | es_event_type_t::ES_EVENT_TYPE_NOTIFY_OPEN => {
            // Safety: the event type says the union holds an open.
            let open = unsafe { &msg.event.open };
            // Safety: as above.
            (
                Some(unsafe { raw_file(open.file()) }),
                Some(open.fflag),
                None,
            )
        }
        es_event_type_t::ES_EVENT_TYPE_AUTH_EXEC | es_event_type_t::ES_EVENT_TYPE_NOTIFY_EXEC => {
            // Safety: the event type says the union holds an exec.
            let target = unsafe { msg.event.exec.target() };
            // Safety: as above.
            (Some(unsafe { raw_file(target.executable()) }), None, None)
        }
        es_event_type_t::ES_EVENT_TYPE_NOTIFY_CLOSE => {
            // Safety: the event type says the union holds a close.
            let close = unsafe { &msg.event.close };
            // Safety: as above.
            let target = unsafe { raw_file(close.target()) };
            (Some(target), None, Some(close.modified))
        }
        _ => (None, None, None),
    };
    let since = |version: u32| msg.version >= version;
    EsMessage {
        version: msg.version,
        mach_time: msg.mach_time,
        deadline: msg.deadline,
        seq_num: since(SEQ_NUM_SINCE).then_some(msg.seq_num),
        global_seq_num: since(GLOBAL_SEQ_NUM_SINCE).then_some(msg.global_seq_num),
        // Safety: version ≥ 4 has the field; NULL is handled.
        thread_id: since(GLOBAL_SEQ_NUM_SINCE)
            .then(|| unsafe { msg.thread() }.map(|t| t.thread_id))
            .flatten(),
        auth: msg.action_type == es_action_type_t::ES_ACTION_TYPE_AUTH,
        event_type: msg.event_type.0,
        // Safety: a live message's process is valid.
        process: unsafe { raw_process(process) },
        target,
        open_fflag,
        close_modified,
    }
}

/// # Safety
///
/// `process` comes from a live message.
unsafe fn raw_process(process: &es_process_t) -> EsProcess<'_> {
    let token = AuditToken(process.audit_token);
    EsProcess {
        pid: token.pid(),
        pidversion: token.pidversion(),
        euid: token.euid(),
        ppid: process.ppid,
        platform_binary: process.is_platform_binary,
        is_es_client: process.is_es_client,
        // Safety: string tokens of a live message are valid.
        signing_id: unsafe { process.signing_id.as_os_str() }.as_bytes(),
        // Safety: as above.
        team_id: unsafe { process.team_id.as_os_str() }.as_bytes(),
        // Safety: as above.
        executable: unsafe { raw_file(process.executable()) },
    }
}

/// # Safety
///
/// `file` comes from a live message.
unsafe fn raw_file(file: &es_file_t) -> EsFile<'_> {
    EsFile {
        // Safety: string tokens of a live message are valid.
        path: unsafe { file.path.as_os_str() }.as_bytes(),
        path_truncated: file.path_truncated,
        dev: file.stat.st_dev,
        ino: file.stat.st_ino,
    }
}

/// The numeric `es_new_client_result_t` of an error (`u32::MAX`: API
/// unavailable).
fn new_client_code(error: NewClientError) -> u32 {
    match error {
        NewClientError::InvalidArgument => 1,
        NewClientError::Internal => 2,
        NewClientError::NotEntitled => 3,
        NewClientError::NotPermitted => 4,
        NewClientError::NotPrivileged => 5,
        NewClientError::TooManyClients => 6,
        NewClientError::Unknown(code) => code.0,
        NewClientError::ApiUnavailable => u32::MAX,
    }
}

/// Mutes the recorder's own process, and (macOS 13+) events of other
/// processes on the output file; says what was muted in the header.
fn mute_self_and_output(
    client: &mut Client<'_>,
    output: &Path,
    header: &mut Header,
) -> Result<(), RecordError> {
    let me = AuditToken::from_pid(std::process::id() as libc::pid_t)
        .map_err(|e| RecordError::Source(format!("audit token of self: {e}")))?;
    client
        .mute_process(&me)
        .map_err(|e| RecordError::Source(format!("es_mute_process: {e}")))?;
    let absolute = std::fs::canonicalize(output)?;
    let target = es_mute_path_type_t::ES_MUTE_PATH_TYPE_TARGET_LITERAL;
    let output_muted = match client.mute_path(absolute.as_os_str(), target) {
        Ok(()) => format!("target literal {}", absolute.display()),
        Err(e) => format!("not muted ({e}; target path mutes need macOS 13)"),
    };
    header.meta.insert("mute.output".into(), output_muted);
    Ok(())
}

/// Subscribes event by event, so that a refusal names its event.
fn subscribe(client: &mut Client<'_>, events: &[EventType]) -> Result<(), RecordError> {
    for &event in events {
        let raw = es_event_type_t(u32::from(event.0));
        client
            .subscribe(&[raw])
            .map_err(|_| subscribe_error(event))?;
    }
    Ok(())
}

/// Refuses to run under Rosetta: a translated process sees a different
/// mach timebase than the kernel stamps messages with.
fn refuse_translated() -> Result<(), RecordError> {
    match sysctl_int("sysctl.proc_translated") {
        Some(1) => Err(RecordError::Source(
            "esrecord runs translated (Rosetta): its mach_absolute_time timebase differs from \
             the kernel's message times; build and run the arm64 binary"
                .into(),
        )),
        _ => Ok(()),
    }
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
        cpu_count: cpu_track::machine_cpus(),
        subscribed: options.events.clone(),
        tool: "esrecord".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        ..Header::default()
    };
    for (key, value) in [
        (
            "mute",
            "self (es_mute_process); default path mutes left as ES sets them",
        ),
        (
            "answer",
            "AUTH: ALLOW first, cache=false; AUTH_OPEN: all flags",
        ),
        ("order", "global_seq_num (delivery order)"),
        ("paths", options.paths.name()),
    ] {
        header.meta.insert(key.into(), value.into());
    }
    header
        .meta
        .insert("ring_capacity".into(), options.ring_capacity.to_string());
    // Apple silicon: performance level 0 holds the fastest cores.
    if sysctl_int("hw.nperflevels").is_some_and(|levels| levels > 1)
        && let Some(cores) = sysctl_int("hw.perflevel0.logicalcpu")
    {
        header
            .meta
            .insert("cpu.performance_cores".into(), cores.to_string());
    }
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

/// Reads a sysctl into `buf`; the bytes written, or `None`.
fn sysctl_bytes<'b>(name: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let name = CString::new(name).ok()?;
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
    (rc == 0).then(|| &buf[..len.min(buf.len())])
}

/// A string sysctl, or `None`.
fn sysctl_string(name: &str) -> Option<String> {
    let mut buf = [0u8; 256];
    let bytes = sysctl_bytes(name, &mut buf)?;
    let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
    Some(String::from_utf8_lossy(text).into_owned())
}

/// A 32-bit integer sysctl, or `None` (e.g. `ENOENT` where it does not exist).
fn sysctl_int(name: &str) -> Option<i32> {
    let mut buf = [0u8; 4];
    let bytes = sysctl_bytes(name, &mut buf)?;
    Some(i32::from_ne_bytes(bytes.try_into().ok()?))
}
