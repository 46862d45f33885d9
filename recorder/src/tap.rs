//! The tap: a small API a client author wraps around their own ES handler
//! (and worker code) to record per-message receipt and service times into a
//! trace, so that `esreplay sim --cost trace` replays their real costs.
//!
//! ```no_run
//! # use esreplay_recorder::{tap::Tap, RawMessage};
//! # use esreplay_traces::Header;
//! let tap = Tap::start("client.esr", Header::default(), Default::default())?;
//! let mut handle = tap.handle(); // once per producing thread
//! // in the handler:
//! let raw = RawMessage::default(); // filled from the es_message_t
//! let token = handle.received(raw);
//! // ... decide, respond (or hand `token` to a worker with its own handle) ...
//! handle.done(token);
//! let stats = tap.finish()?;
//! # Ok::<(), esreplay_recorder::RecordError>(())
//! ```
//!
//! The hot path (`received`, `done`) reads the clock, copies a fixed-size
//! record and pushes it into the handle's own bounded ring: no lock, no I/O,
//! no allocation; a full ring drops the record and counts it in the trace.

use crate::clock;
use crate::raw::{Convert, RawMessage};
use crate::ring::{Producer, ring};
use crate::writer::{RecordError, Rings, Writer, WriterConfig, WriterStats};
use esreplay_traces::Header;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Tap settings.
#[derive(Clone, Debug)]
pub struct TapOptions {
    /// Records per handle's ring (rounded up to a power of two).
    pub ring_capacity: usize,
    /// Writer settings (its `convert` is filled from the header; the
    /// reorder window, 1 s by default, must exceed the longest service time
    /// for the trace to stay in kernel order).
    pub writer: WriterConfig,
    /// Also record the CPU track at this period (10–100 ms): the other
    /// processes' load, this process (the client) left out. `None` (the
    /// default): no track.
    pub cpu_period: Option<Duration>,
}

impl Default for TapOptions {
    fn default() -> Self {
        TapOptions {
            ring_capacity: 16 * 1024,
            writer: WriterConfig {
                reorder_window: Duration::from_secs(1),
                ..WriterConfig::default()
            },
            cpu_period: None,
        }
    }
}

/// A running tap: owns the writer thread and hands out producer handles.
pub struct Tap<W: Write + Send + 'static = BufWriter<File>> {
    rings: Rings,
    capacity: usize,
    writer: Writer<W>,
}

/// One thread's producer: not `Sync`; make one per handler or worker thread.
pub struct TapHandle {
    producer: Producer<RawMessage>,
}

/// A message in flight between `received` and `done` (`Copy`, `Send`: it
/// may be handed to a worker thread that calls `done` on its own handle).
#[derive(Clone, Copy, Debug)]
pub struct Token(RawMessage);

impl Token {
    /// Records the answer: its time (now) and the verdict sent (ES auth
    /// result, or the flags allowed for AUTH_OPEN); call it right after
    /// `es_respond_*`. Deadline compliance depends on this time.
    #[inline]
    pub fn answered(&mut self, verdict: u32) {
        self.0.response = Some(clock::now_ticks());
        self.0.verdict = Some(verdict);
    }
}

impl Tap {
    /// Creates `path` and starts the writer.
    pub fn start(
        path: impl AsRef<Path>,
        header: Header,
        options: TapOptions,
    ) -> Result<Self, RecordError> {
        Tap::start_with(BufWriter::new(File::create(path)?), header, options)
    }
}

impl<W: Write + Send + 'static> Tap<W> {
    /// Starts the writer on any output. A header without a start anchor gets
    /// the current clocks and this machine's timebase.
    pub fn start_with(
        out: W,
        mut header: Header,
        options: TapOptions,
    ) -> Result<Self, RecordError> {
        if header.start == Default::default() {
            header.start = clock::anchor();
            header.timebase = clock::timebase();
        }
        if header.tool.is_empty() {
            header.tool = "esreplay-recorder tap".into();
            header.tool_version = env!("CARGO_PKG_VERSION").into();
        }
        let mut config = options.writer;
        config.convert = Convert {
            timebase: header.timebase,
            start_ticks: header.start.mach_absolute,
        };
        let rings: Rings = Arc::new(Mutex::new(Vec::new()));
        let period = options.cpu_period;
        let writer = Writer::spawn_sampling(out, header, Arc::clone(&rings), config, period)?;
        Ok(Tap {
            rings,
            capacity: options.ring_capacity,
            writer,
        })
    }

    /// A new producer handle with its own ring, registered with the writer
    /// (allocates: call it at thread start, not per message).
    pub fn handle(&self) -> TapHandle {
        let (producer, consumer) = ring(self.capacity);
        self.rings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(consumer);
        TapHandle { producer }
    }

    /// Stops the writer after draining every ring; writes the footer.
    pub fn finish(self) -> Result<WriterStats, RecordError> {
        self.finish_into().map(|(_, stats)| stats)
    }

    /// Like [`Tap::finish`], also returning the output.
    pub fn finish_into(self) -> Result<(W, WriterStats), RecordError> {
        self.writer.finish()
    }
}

impl TapHandle {
    /// Marks receipt: stamps the handler entry time on `raw`.
    #[inline]
    pub fn received(&self, mut raw: RawMessage) -> Token {
        raw.handler_entry = Some(clock::now_ticks());
        Token(raw)
    }

    /// Marks the end of service and queues the record; `false` when the ring
    /// was full (the drop is counted and written into the trace).
    #[inline]
    pub fn done(&mut self, token: Token) -> bool {
        let mut raw = token.0;
        raw.handler_exit = Some(clock::now_ticks());
        self.producer.try_push(raw)
    }

    /// Marks the end of service of a record filled and stamped in place (the
    /// C ABI keeps records in caller-owned storage): stamps the exit time
    /// and queues a copy; `false` when the ring was full.
    #[inline]
    pub fn done_in_place(&mut self, raw: &mut RawMessage) -> bool {
        raw.handler_exit = Some(clock::now_ticks());
        self.producer.try_push(*raw)
    }

    /// Records this handle dropped so far.
    pub fn dropped(&self) -> u64 {
        self.producer.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esreplay_traces::{EventType, TraceReader};

    #[test]
    fn two_threads_record_service_times_in_kernel_order() {
        let tap = Tap::start_with(Vec::new(), Header::default(), TapOptions::default()).unwrap();
        let mut handler = tap.handle();
        let mut worker = tap.handle();
        let (tx, rx) = std::sync::mpsc::channel::<Token>();
        let worker_thread = std::thread::spawn(move || {
            for token in rx {
                assert!(worker.done(token));
            }
        });
        for i in 0..100u64 {
            let raw = RawMessage {
                mach_time: clock::now_ticks(),
                global_seq: Some(i),
                event: EventType::AUTH_EXEC.0,
                auth: true,
                ..RawMessage::default()
            };
            let mut token = handler.received(raw);
            token.answered(0);
            match i % 2 {
                0 => assert!(handler.done(token)),
                _ => tx.send(token).unwrap(),
            }
        }
        drop(tx);
        worker_thread.join().unwrap();
        let (bytes, stats) = tap.finish_into().unwrap();
        assert_eq!((stats.messages, stats.dropped), (100, 0));
        let messages: Vec<_> = TraceReader::new(&bytes[..])
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // The worker's records finish late but are written in kernel order.
        let seqs: Vec<u64> = messages.iter().map(|m| m.global_seq).collect();
        assert_eq!(seqs, (0..100).collect::<Vec<_>>());
        assert!(messages.iter().all(|m| m.service_ns.is_some()));
        assert!(messages.iter().all(|m| m.received_ns >= Some(m.arrival_ns)));
        for m in &messages {
            let details = m.details.as_deref().unwrap();
            assert_eq!(details.verdict, Some(0));
            assert!(m.response_ns >= m.received_ns);
        }
    }

    /// Off by default; asked for, the track is in the trace with the
    /// machine's CPU count.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_tap_records_the_cpu_track_when_asked() {
        let track = |cpu_period| {
            let options = TapOptions {
                cpu_period,
                ..TapOptions::default()
            };
            let tap = Tap::start_with(Vec::new(), Header::default(), options).unwrap();
            let (bytes, _) = tap.finish_into().unwrap();
            let header = TraceReader::new(&bytes[..]).unwrap().header().clone();
            let cursor = std::io::Cursor::new(&bytes);
            (
                header,
                esreplay_traces::format::read_cpu_track(cursor).unwrap(),
            )
        };
        let (header, off) = track(None);
        assert!(off.is_empty() && header.cpu_count.is_none());
        assert_eq!(header.meta["cpu_track"], "off");
        let (header, on) = track(Some(Duration::from_millis(20)));
        assert!(!on.is_empty(), "the sampler reads at least once");
        assert_eq!(on.period_ns, 20_000_000);
        assert_eq!(header.cpu_count, crate::cpu_track::machine_cpus());
    }
}
