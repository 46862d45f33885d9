//! The fanotify recorder (Linux only, kept thin): the Linux twin of the ES
//! client. Permission events under the marked paths are answered ALLOW at
//! once, then copied into a [`RawMessage`] as AUTH messages (source
//! `fanotify`) and pushed into the ring drained by the same [`Writer`] as on
//! macOS.
//!
//! fanotify has no deadlines and no kernel timestamps: the arrival is the
//! moment the read returned (`CLOCK_MONOTONIC`), the deadline is the arrival
//! plus the budget of the message's type from a [`BudgetTable`], and the
//! sequence numbers are the recorder's own count. `FAN_OPEN_PERM` and
//! `FAN_ACCESS_PERM` become AUTH_OPEN, `FAN_OPEN_EXEC_PERM` AUTH_EXEC.
//! Paths are looked up after the answer, so that they never delay an opener.

use crate::clock;
use crate::handler::{PathMode, copy_path};
use crate::raw::RawMessage;
use crate::ring::{Producer, ring};
use crate::writer::{RecordError, Writer, WriterConfig, WriterStats, stop_on_signals, sync_file};
use esreplay_fanotify::{Event, EventMask, Fanotify, Mark, Verdict};
use esreplay_traces::budget::BudgetTable;
use esreplay_traces::{EventType, Header, Source};
use std::fs::File;
use std::io::BufWriter;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `esrecord --path` records on Linux.
#[derive(Clone, Debug)]
pub struct FanotifyOptions {
    /// Directories to watch (their direct children), or mounts with `mount`.
    pub paths: Vec<PathBuf>,
    /// Mark the mounts that hold `paths` instead of the directories.
    pub mount: bool,
    /// The permission events to ask for.
    pub events: EventMask,
    /// Deadline budgets per event type.
    pub budgets: BudgetTable,
    /// Recorded paths as they are, hashed, or left out.
    pub path_mode: PathMode,
    /// Ring capacity in records.
    pub ring_capacity: usize,
    /// Writer settings (`convert` is filled in from the header).
    pub writer: WriterConfig,
    /// Sample the CPU track at this period (`None`: no track).
    pub cpu_period: Option<Duration>,
}

impl FanotifyOptions {
    /// The marks, for people: "directory: /a, /b" or "mount: /srv".
    pub fn marks(&self) -> String {
        let kind = if self.mount { "mount" } else { "directory" };
        let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        format!("{kind}: {}", paths.join(", "))
    }
}

/// What a recording saw.
#[derive(Clone, Copy, Debug)]
pub struct FanotifyStats {
    /// The writer's counts (messages written, dropped in the ring).
    pub writer: WriterStats,
    /// Kernel queue overflow records read (each lost an unknown number of
    /// events; permission events themselves are never lost this way).
    pub overflows: u64,
}

/// Records until SIGINT/SIGTERM, the duration or the message limit; calls
/// `on_ready` once the marks are in place. Every event is answered; the
/// group is closed before returning, on every path.
pub fn record(
    output: &Path,
    options: &FanotifyOptions,
    on_ready: impl FnOnce(),
) -> Result<FanotifyStats, RecordError> {
    let source = |e: esreplay_fanotify::Error| RecordError::Source(e.to_string());
    let group = Fanotify::reporting_threads().map_err(source)?;
    let header = header(options);
    let mut config = options.writer.clone();
    config.convert.timebase = header.timebase;
    config.convert.start_ticks = header.start.mach_absolute;
    let (mut producer, consumer) = ring(options.ring_capacity);
    let rings = Arc::new(Mutex::new(vec![consumer]));
    // The output is opened before any mark, so that it never waits for us.
    let out = BufWriter::new(File::create(output)?);
    let writer = Writer::spawn_sampling(out, header, rings, config, options.cpu_period)?;
    for path in &options.paths {
        let mark = match options.mount {
            true => Mark::Mount(path.clone()),
            false => Mark::Directory(path.clone()),
        };
        group.mark(&mark, options.events).map_err(source)?;
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    stop_on_signals(&interrupted)?;
    on_ready();
    let mut recording = Recording {
        options,
        next_seq: 0,
        overflows: 0,
        processes: Default::default(),
    };
    while !interrupted.load(Ordering::Acquire) && !writer.is_finished() {
        let batch = group
            .read(Some(Duration::from_millis(50)))
            .map_err(source)?;
        let arrival = clock::ticks_at(batch.read_at);
        for event in batch.events {
            recording.take(event, arrival, &mut producer);
        }
    }
    drop(group); // releases any opener still waiting
    let (out, stats) = writer.finish()?;
    sync_file(out)?;
    Ok(FanotifyStats {
        writer: stats,
        overflows: recording.overflows,
    })
}

/// The reading thread's state.
struct Recording<'a> {
    options: &'a FanotifyOptions,
    next_seq: u64,
    overflows: u64,
    /// Thread id → process id, as first looked up (a thread that has
    /// exited by the time its last answer is read is still known).
    processes: std::collections::HashMap<u32, u32>,
}

/// Threads remembered at most; the map starts afresh beyond (thread ids
/// are reused by the kernel, so it must not grow without end either).
const MAX_THREADS_REMEMBERED: usize = 65_536;

impl Recording<'_> {
    /// Answers, copies and pushes one event (a full ring counts a drop).
    fn take(&mut self, mut event: Event, arrival: u64, ring: &mut Producer<RawMessage>) {
        // An error here means the opener is released by the kernel anyway
        // when the event's descriptor goes; the record is still written.
        let _ = event.answer(Verdict::Allow);
        let Some(file) = event.file() else {
            self.overflows += 1;
            return;
        };
        let event_type = event_type(event.mask());
        let seq = self.next_seq;
        self.next_seq += 1;
        // Ticks are nanoseconds on Linux (see `clock`).
        let budget = self.options.budgets.budget_ns(event_type);
        let mut raw = RawMessage {
            mach_time: arrival,
            deadline: Some(arrival.saturating_add(budget)),
            seq: Some(seq),
            global_seq: Some(seq),
            event: event_type.0,
            auth: true,
            ..RawMessage::default()
        };
        // The group reports thread ids: the opener's thread, which blocks
        // on the answer, and its process. Read after the answer, so the
        // opener never waits for it.
        let thread = u32::try_from(event.pid()).ok();
        raw.details.thread_id = thread.map(u64::from);
        raw.pid = thread.and_then(|tid| self.process_of(tid));
        if let Some((dev, ino)) = device_and_inode(file) {
            raw.details.target_dev = Some(dev);
            raw.details.target_ino = Some(ino);
        }
        let paths = self.options.path_mode;
        if paths != PathMode::None {
            if let Ok(path) = event.path() {
                copy_path(
                    &mut raw.target_path,
                    path.as_os_str().as_bytes(),
                    false,
                    paths,
                );
            }
            let exe = format!("/proc/{}/exe", event.pid());
            if let Ok(path) = std::fs::read_link(exe) {
                copy_path(
                    &mut raw.process_path,
                    path.as_os_str().as_bytes(),
                    false,
                    paths,
                );
            }
        }
        ring.try_push(raw);
    }
}

impl Recording<'_> {
    /// The process of thread `tid`, remembered from its first event.
    fn process_of(&mut self, tid: u32) -> Option<u32> {
        if let Some(&pid) = self.processes.get(&tid) {
            return Some(pid);
        }
        let pid = process_of_thread(tid)?;
        if self.processes.len() >= MAX_THREADS_REMEMBERED {
            self.processes.clear();
        }
        self.processes.insert(tid, pid);
        Some(pid)
    }
}

/// The process (thread group) of thread `tid`, from `/proc/TID/status`
/// (`None` if the thread has already gone).
fn process_of_thread(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    tgid_in_status(&status)
}

/// The `Tgid:` line of a `/proc/PID/status` text.
fn tgid_in_status(status: &str) -> Option<u32> {
    let line = status.lines().find(|line| line.starts_with("Tgid:"))?;
    line["Tgid:".len()..].trim().parse().ok()
}

/// The ES type a fanotify permission event is recorded as.
pub fn event_type(mask: EventMask) -> EventType {
    if mask.contains(EventMask::OPEN_EXEC_PERM) {
        EventType::AUTH_EXEC
    } else {
        EventType::AUTH_OPEN
    }
}

/// The fanotify events that record the given ES types (AUTH_OPEN and
/// AUTH_EXEC), or the first type that has no fanotify twin.
pub fn mask_for(events: &[EventType]) -> Result<EventMask, EventType> {
    events
        .iter()
        .try_fold(EventMask::default(), |mask, &event| {
            let bits = match event {
                EventType::AUTH_OPEN => EventMask::OPEN_PERM,
                EventType::AUTH_EXEC => EventMask::OPEN_EXEC_PERM,
                other => return Err(other),
            };
            Ok(mask | bits)
        })
}

/// `fstat` of the event's file: (device, inode).
fn device_and_inode(file: &std::os::fd::OwnedFd) -> Option<(u64, u64)> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // Safety: the descriptor is open for the event's lifetime and `stat`
    // is writable; fstat initialises it when it returns 0.
    let status = unsafe { libc::fstat(file.as_raw_fd(), stat.as_mut_ptr()) };
    (status == 0).then(|| {
        // Safety: fstat returned 0.
        let stat = unsafe { stat.assume_init() };
        (stat.st_dev, stat.st_ino)
    })
}

/// The trace header: clocks, machine, marks and answer policy.
fn header(options: &FanotifyOptions) -> Header {
    let mut subscribed = Vec::new();
    for (bits, event) in [
        (EventMask::OPEN_PERM, EventType::AUTH_OPEN),
        (EventMask::ACCESS_PERM, EventType::AUTH_OPEN),
        (EventMask::OPEN_EXEC_PERM, EventType::AUTH_EXEC),
    ] {
        if options.events.contains(bits) && !subscribed.contains(&event) {
            subscribed.push(event);
        }
    }
    let mut header = Header {
        source: Some(Source::Fanotify),
        timebase: clock::timebase(),
        start: clock::anchor(),
        os_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|text| format!("Linux {}", text.trim())),
        cpu_count: crate::cpu_track::machine_cpus(),
        subscribed,
        tool: "esrecord".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        ..Header::default()
    };
    for (key, value) in [
        ("fanotify.marks", options.marks()),
        ("fanotify.mask", format!("{:#x}", options.events.0)),
        ("answer", "FAN_ALLOW at once".into()),
        ("arrival", "CLOCK_MONOTONIC when the read returned".into()),
        ("deadline", "arrival + the budget of the event type".into()),
        ("paths", options.path_mode.name().into()),
        ("ring_capacity", options.ring_capacity.to_string()),
    ] {
        header.meta.insert(key.into(), value);
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_is_mapped_to_its_process() {
        assert_eq!(
            tgid_in_status("Name:\tx\nTgid:\t4242\nPid:\t4250\n"),
            Some(4242)
        );
        assert_eq!(tgid_in_status("Name:\tx\n"), None);
        // Safety: gettid has no preconditions.
        let tid = std::thread::spawn(|| unsafe { libc::gettid() })
            .join()
            .unwrap();
        let main_tid = u32::try_from(unsafe { libc::gettid() }).unwrap();
        assert_ne!(u32::try_from(tid).unwrap(), std::process::id());
        assert_eq!(process_of_thread(main_tid), Some(std::process::id()));
    }

    #[test]
    fn exec_permission_is_auth_exec_and_the_rest_auth_open() {
        assert_eq!(event_type(EventMask::OPEN_EXEC_PERM), EventType::AUTH_EXEC);
        let both = EventMask::OPEN_PERM | EventMask::OPEN_EXEC_PERM;
        assert_eq!(event_type(both), EventType::AUTH_EXEC);
        assert_eq!(event_type(EventMask::OPEN_PERM), EventType::AUTH_OPEN);
        assert_eq!(event_type(EventMask::ACCESS_PERM), EventType::AUTH_OPEN);
    }

    #[test]
    fn only_open_and_exec_have_fanotify_twins() {
        let mask = mask_for(&[EventType::AUTH_OPEN, EventType::AUTH_EXEC]).unwrap();
        assert!(mask.contains(EventMask::OPEN_PERM) && mask.contains(EventMask::OPEN_EXEC_PERM));
        assert!(!mask.contains(EventMask::ACCESS_PERM));
        assert_eq!(
            mask_for(&[EventType::AUTH_OPEN, EventType::NOTIFY_EXEC]),
            Err(EventType::NOTIFY_EXEC)
        );
    }
}
