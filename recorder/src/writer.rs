//! The background writer thread: drains the rings, converts raw records into
//! trace messages, writes them with [`TraceWriter`], flushes every
//! `flush_interval` and at exit, writes drop counts down, and writes the
//! footer with the end anchors on a clean stop (stop flag, duration or
//! message limit). With a [`TrackSource`] it also adds the CPU track's
//! samples, before the messages drained at the same time, so that they go
//! out with the chunks. A crash leaves a file readable up to the last
//! flushed chunk, samples included.

use crate::clock;
use crate::cpu_track::{self, TrackSource};
use crate::handler::HandlerCounts;
use crate::raw::{Convert, RawMessage};
use crate::ring::Consumer;
use esreplay_traces::{Header, Message, TraceError, TraceWriter};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Errors of the recorder library.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The trace could not be written.
    #[error("writing the trace: {0}")]
    Trace(#[from] TraceError),
    /// The writer thread panicked.
    #[error("the writer thread panicked")]
    Panicked,
    /// The event source (Endpoint Security, fanotify) failed.
    #[error("event source: {0}")]
    Source(String),
    /// An I/O error (creating the output, installing signal handlers).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// When to flush and when to stop.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Flush the pending chunk at least this often.
    pub flush_interval: Duration,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many messages.
    pub max_messages: Option<u64>,
    /// Tick conversion and path hashing.
    pub convert: Convert,
    /// Sleep when all rings are empty.
    pub idle_sleep: Duration,
    /// Hold messages this long (by arrival time) before writing, so that
    /// records finishing late on another ring (a tap's worker) still go out
    /// in kernel order. Zero for one in-order producer (the ES handler).
    pub reorder_window: Duration,
    /// The order of the messages written.
    pub order: Order,
    /// The ES handler's counts (`global_seq_num` gaps), for the footer.
    pub es_counts: Option<Arc<HandlerCounts>>,
}

/// The order a writer puts messages in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// By arrival time, then `global_seq`, within the reorder window (the
    /// tap: several producers, records finishing out of order).
    #[default]
    Arrival,
    /// By `global_seq`, the order ES delivered them in (ES: `mach_time`
    /// can step back across CPUs; such steps are kept as recorded and
    /// `esreplay inspect` counts them).
    GlobalSeq,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            flush_interval: Duration::from_millis(500),
            duration: None,
            max_messages: None,
            convert: Convert::default(),
            idle_sleep: Duration::from_millis(1),
            reorder_window: Duration::ZERO,
            order: Order::Arrival,
            es_counts: None,
        }
    }
}

/// The rings a writer drains; producers may be added while it runs.
pub type Rings = Arc<Mutex<Vec<Consumer<RawMessage>>>>;

/// What a finished recording wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Messages written.
    pub messages: u64,
    /// Records dropped because a ring was full.
    pub dropped: u64,
}

type Outcome<W> = Result<(W, WriterStats), RecordError>;

/// A running writer thread. Dropping it without [`Writer::finish`] still
/// stops the thread and waits for the footer (errors are then lost).
pub struct Writer<W: Write + Send + 'static> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Outcome<W>>>,
}

impl<W: Write + Send + 'static> Writer<W> {
    /// Starts the thread: writes `header` to `out`, then drains `rings`
    /// until `stop` is set (or the duration / message limit is reached).
    pub fn spawn(
        out: W,
        header: &Header,
        rings: Rings,
        stop: Arc<AtomicBool>,
        config: WriterConfig,
    ) -> Result<Self, RecordError> {
        Writer::spawn_with_track(out, header, rings, stop, config, None)
    }

    /// [`Writer::spawn`] with the CPU track sampled every `cpu_period`
    /// (`None`: no track; see [`cpu_track::start_for`], which also notes
    /// in the header what the track is) and a stop flag of its own.
    pub fn spawn_sampling(
        out: W,
        mut header: Header,
        rings: Rings,
        config: WriterConfig,
        cpu_period: Option<Duration>,
    ) -> Result<Self, RecordError> {
        let track = cpu_track::start_for(&mut header, cpu_period, config.convert);
        Writer::spawn_with_track(out, &header, rings, Arc::default(), config, track)
    }

    /// [`Writer::spawn`], also writing the samples of `track` (the CPU
    /// track); the writer stops the sampler when it stops.
    pub fn spawn_with_track(
        out: W,
        header: &Header,
        rings: Rings,
        stop: Arc<AtomicBool>,
        config: WriterConfig,
        track: Option<TrackSource>,
    ) -> Result<Self, RecordError> {
        let mut trace = TraceWriter::new(out, header)?;
        if let Some(track) = &track {
            trace.set_cpu_period(track.period_ns());
        }
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("esrecord-writer".into())
            .spawn(move || run(trace, &rings, &flag, &config, track))?;
        Ok(Writer {
            stop,
            thread: Some(thread),
        })
    }

    /// The stop flag (set it, or register it with signals).
    pub fn stop_flag(&self) -> &Arc<AtomicBool> {
        &self.stop
    }

    /// True once the thread has ended (limit reached or error).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the thread, drains what is left, writes the footer.
    pub fn finish(mut self) -> Outcome<W> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Outcome<W> {
        self.stop.store(true, Ordering::Release);
        let thread = self.thread.take().ok_or(RecordError::Panicked)?;
        thread.join().map_err(|_| RecordError::Panicked)?
    }
}

impl<W: Write + Send + 'static> Drop for Writer<W> {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop_and_join();
        }
    }
}

/// Sets `stop` on SIGINT, SIGTERM and SIGHUP; a second one of them while
/// `stop` is set exits the process at once (status 128 + the signal), for
/// a recorder that does not finish.
pub fn stop_on_signals(stop: &Arc<AtomicBool>) -> Result<(), RecordError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        // Registered first, so that the first signal only sets the flag.
        let status = 128 + signal;
        signal_hook::flag::register_conditional_shutdown(signal, status, Arc::clone(stop))?;
        signal_hook::flag::register(signal, Arc::clone(stop))?;
    }
    Ok(())
}

/// Flushes and fsyncs a finished trace file (on a clean stop the footer is
/// then on disk, whatever happens to the machine next).
pub fn sync_file(out: std::io::BufWriter<std::fs::File>) -> Result<(), RecordError> {
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.flush()?;
    Ok(file.sync_all()?)
}

/// Waits up to `timeout` until every ring's producer is gone (an ES
/// client's handler block is released after `es_delete_client` returns),
/// so that nothing a late handler call pushes is left behind; `false` on
/// timeout.
pub fn wait_for_producers(rings: &Rings, timeout: Duration) -> bool {
    let started = Instant::now();
    loop {
        let gone = {
            let rings = rings.lock().unwrap_or_else(|e| e.into_inner());
            rings.iter().all(Consumer::producer_gone)
        };
        if gone {
            return true;
        }
        if started.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

struct State {
    /// Messages held for reordering, keyed by the writer's order.
    pending: BTreeMap<(u64, u64, u64), Message>,
    seen_dropped: Vec<u64>,
    next_seq: u64,
    stats: WriterStats,
}

fn run<W: Write>(
    mut trace: TraceWriter<W>,
    rings: &Rings,
    stop: &AtomicBool,
    config: &WriterConfig,
    mut track: Option<TrackSource>,
) -> Result<(W, WriterStats), RecordError> {
    let started = Instant::now();
    let mut last_flush = started;
    let mut state = State {
        pending: BTreeMap::new(),
        seen_dropped: Vec::new(),
        next_seq: 0,
        stats: WriterStats::default(),
    };
    loop {
        let stopping =
            stop.load(Ordering::Acquire) || config.duration.is_some_and(|d| started.elapsed() >= d);
        if let Some(track) = &mut track {
            track.drain_into(&mut trace);
        }
        let drained = drain(&mut trace, rings, config, &mut state)?;
        emit(&mut trace, config, &mut state, stopping)?;
        if config
            .max_messages
            .is_some_and(|m| state.stats.messages >= m)
            || stopping
        {
            break;
        }
        if last_flush.elapsed() >= config.flush_interval {
            trace.flush()?;
            last_flush = Instant::now();
        }
        if drained == 0 {
            std::thread::sleep(config.idle_sleep);
        }
    }
    if let Some(track) = track {
        track.finish_into(&mut trace);
    }
    trace.set_end(clock::anchor());
    if let Some(counts) = &config.es_counts {
        trace.set_es_gaps(counts.es_gaps.load(Ordering::Relaxed));
        let regressions = counts.seq_regressions.load(Ordering::Relaxed);
        if regressions > 0 {
            let meta = trace.footer_meta();
            meta.insert("global_seq_regressions".into(), regressions.to_string());
        }
    }
    let meta = trace.footer_meta();
    meta.insert("dropped_ring_full".into(), state.stats.dropped.to_string());
    Ok((trace.finish()?, state.stats))
}

/// Moves everything in the rings into the trace; returns the count.
fn drain<W: Write>(
    trace: &mut TraceWriter<W>,
    rings: &Rings,
    config: &WriterConfig,
    state: &mut State,
) -> Result<usize, RecordError> {
    let mut drained = 0;
    {
        let mut rings = rings.lock().unwrap_or_else(|e| e.into_inner());
        state.seen_dropped.resize(rings.len(), 0);
        for (ring, seen) in rings.iter_mut().zip(state.seen_dropped.iter_mut()) {
            let dropped = ring.dropped();
            trace.add_dropped(dropped - *seen);
            state.stats.dropped += dropped - *seen;
            *seen = dropped;
            while let Some(raw) = ring.try_pop() {
                let message = config.convert.message(&raw, state.next_seq);
                let key = match config.order {
                    Order::Arrival => (message.arrival_ns, message.global_seq, state.next_seq),
                    Order::GlobalSeq => (message.global_seq, 0, state.next_seq),
                };
                state.next_seq += 1;
                state.pending.insert(key, message);
                drained += 1;
            }
        }
    }
    Ok(drained)
}

/// Writes the held messages older than the reorder window (all of them when
/// `all`), in kernel order, up to the message limit.
fn emit<W: Write>(
    trace: &mut TraceWriter<W>,
    config: &WriterConfig,
    state: &mut State,
    all: bool,
) -> Result<(), RecordError> {
    let limit = config.max_messages.unwrap_or(u64::MAX);
    let window = u64::try_from(config.reorder_window.as_nanos()).unwrap_or(u64::MAX);
    let watermark = match all || window == 0 || config.order == Order::GlobalSeq {
        true => u64::MAX,
        false => config.convert.ns(clock::now_ticks()).saturating_sub(window),
    };
    while state.stats.messages < limit {
        let Some(entry) = state.pending.first_entry() else {
            break;
        };
        if entry.key().0 > watermark {
            break;
        }
        trace.write(&entry.remove())?;
        state.stats.messages += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::ring;
    use esreplay_traces::{EventType, TraceReader};

    /// A fake event source: `n` AUTH_OPEN records one tick apart.
    fn fake(n: u64) -> impl Iterator<Item = RawMessage> {
        (0..n).map(|i| RawMessage {
            mach_time: 1_000 + i,
            deadline: Some(1_000 + i + 500),
            global_seq: Some(i),
            seq: Some(i),
            event: EventType::AUTH_OPEN.0,
            auth: true,
            pid: Some(1),
            ..RawMessage::default()
        })
    }

    fn setup(capacity: usize) -> (crate::Producer<RawMessage>, Rings) {
        let (p, c) = ring(capacity);
        (p, Arc::new(Mutex::new(vec![c])))
    }

    fn config() -> WriterConfig {
        WriterConfig {
            convert: Convert {
                start_ticks: 1_000,
                ..Convert::default()
            },
            flush_interval: Duration::from_millis(5),
            ..WriterConfig::default()
        }
    }

    #[test]
    fn end_to_end_with_fake_source_counts_drops() {
        let (mut p, rings) = setup(8);
        // Fill before the writer starts so that some records must drop.
        let accepted = fake(20).filter(|r| p.try_push(*r)).count() as u64;
        let stop = Arc::new(AtomicBool::new(false));
        let w = Writer::spawn(Vec::new(), &Header::default(), rings, stop, config()).unwrap();
        // Then retry each record until it is taken: every refusal is a drop.
        let mut attempts = 20;
        for r in fake(30).skip(20) {
            attempts += 1;
            while !p.try_push(r) {
                attempts += 1;
                std::thread::yield_now();
            }
        }
        let accepted = accepted + 10;
        let (bytes, stats) = w.finish().unwrap();
        let mut reader = TraceReader::new(&bytes[..]).unwrap();
        let messages: Vec<_> = reader.by_ref().map(Result::unwrap).collect();
        assert_eq!(messages.len() as u64, accepted);
        assert_eq!(stats.dropped, attempts - accepted);
        assert!(stats.dropped >= 12);
        let footer = reader.footer().expect("footer on clean stop");
        assert_eq!(footer.dropped, stats.dropped);
        assert!(footer.end.is_some());
        assert_eq!(messages[0].deadline_ns, Some(500));
        assert!(
            messages
                .windows(2)
                .all(|w| w[0].global_seq < w[1].global_seq)
        );
    }

    /// ES order: by global_seq even where mach_time steps back (another
    /// CPU's clock), and the handler's gap count lands in the footer.
    #[test]
    fn es_order_is_global_seq_and_es_gaps_reach_the_footer() {
        let (mut p, rings) = setup(16);
        for (seq, ticks) in [(0, 1_000), (1, 1_050), (2, 1_040), (5, 1_060)] {
            let raw = RawMessage {
                mach_time: ticks,
                global_seq: Some(seq),
                ..RawMessage::default()
            };
            assert!(p.try_push(raw));
        }
        let counts = Arc::new(HandlerCounts::default());
        counts.es_gaps.store(2, Ordering::Relaxed);
        let cfg = WriterConfig {
            order: Order::GlobalSeq,
            es_counts: Some(Arc::clone(&counts)),
            ..config()
        };
        let w = Writer::spawn(Vec::new(), &Header::default(), rings, Arc::default(), cfg).unwrap();
        let (bytes, _) = w.finish().unwrap();
        let mut reader = TraceReader::new(&bytes[..]).unwrap();
        let seqs: Vec<u64> = reader.by_ref().map(|m| m.unwrap().global_seq).collect();
        assert_eq!(seqs, [0, 1, 2, 5]);
        let footer = reader.footer().unwrap();
        assert_eq!((footer.es_gaps, footer.dropped), (Some(2), 0));
    }

    #[test]
    fn waits_for_producers_until_they_are_gone() {
        let (p, rings) = setup(4);
        assert!(!wait_for_producers(&rings, Duration::from_millis(5)));
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(p);
        });
        assert!(wait_for_producers(&rings, Duration::from_secs(10)));
        dropper.join().unwrap();
    }

    #[test]
    fn max_messages_stops_the_writer() {
        let (mut p, rings) = setup(64);
        fake(50).for_each(|r| assert!(p.try_push(r)));
        let cfg = WriterConfig {
            max_messages: Some(10),
            ..config()
        };
        let w = Writer::spawn(Vec::new(), &Header::default(), rings, Arc::default(), cfg).unwrap();
        while !w.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let (bytes, stats) = w.finish().unwrap();
        assert_eq!(stats.messages, 10);
        assert_eq!(TraceReader::new(&bytes[..]).unwrap().count(), 10);
    }

    #[test]
    fn dropping_the_writer_still_writes_the_footer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.esr");
        let (mut p, rings) = setup(8);
        fake(3).for_each(|r| assert!(p.try_push(r)));
        let out = std::fs::File::create(&path).unwrap();
        let w = Writer::spawn(out, &Header::default(), rings, Arc::default(), config());
        drop(w.unwrap());
        let mut reader = TraceReader::open(&path).unwrap();
        assert_eq!(reader.by_ref().count(), 3);
        assert!(reader.footer().is_some());
    }

    /// Waits (at most 20 s) until `ready` holds.
    fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
        let started = Instant::now();
        while !ready() {
            assert!(started.elapsed() < Duration::from_secs(20), "{what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The CPU track goes out with the flushes: while the writer still
    /// runs (as if it died now), the file already holds the samples and the
    /// messages flushed, and the finished trace reads whole.
    #[test]
    fn cpu_samples_are_written_with_the_flushed_chunks() {
        use crate::cpu_track::{Constant, TrackSource};
        use esreplay_traces::format::read_cpu_track;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.esr");
        let (mut p, rings) = setup(64);
        let track = TrackSource::start(
            Box::new(Constant(3.0)),
            Duration::from_millis(10),
            config().convert,
        )
        .unwrap();
        let out = std::fs::File::create(&path).unwrap();
        let w = Writer::spawn_with_track(
            out,
            &Header::default(),
            rings,
            Arc::default(),
            config(),
            Some(track),
        )
        .unwrap();
        fake(5).for_each(|r| assert!(p.try_push(r)));
        let on_disk = || read_cpu_track(std::fs::File::open(&path).unwrap()).unwrap();
        eventually("samples flushed", || !on_disk().is_empty());
        eventually("messages flushed", || {
            TraceReader::open(&path).unwrap().count() == 5
        });
        let early = on_disk();
        let mut reader = TraceReader::open(&path).unwrap();
        assert_eq!(reader.by_ref().count(), 5);
        assert!(reader.footer().is_none(), "still recording");
        assert_eq!(early.period_ns, 10_000_000);
        drop(w);
        let mut reader = TraceReader::open(&path).unwrap();
        assert_eq!(reader.by_ref().count(), 5);
        assert!(reader.summary().is_intact(), "{:?}", reader.summary());
        let whole = reader.cpu_track().clone();
        assert_eq!(whole.samples[..early.samples.len()], early.samples[..]);
        assert!(whole.samples.iter().all(|s| s.runnable == 3));
        let footer = reader.footer().unwrap();
        let taken: usize = footer.meta["cpu_track.samples"].parse().unwrap();
        assert_eq!(taken, whole.samples.len());
    }

    /// A crash after a flush: the file without a footer still reads back
    /// every flushed message.
    #[test]
    fn flushed_file_without_footer_is_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.esr");
        let mut trace = TraceWriter::create(&path, &Header::default()).unwrap();
        let convert = config().convert;
        for (i, raw) in fake(25).enumerate() {
            trace.write(&convert.message(&raw, i as u64)).unwrap();
        }
        trace.flush().unwrap();
        std::mem::forget(trace); // as if the process died here
        let mut reader = TraceReader::open(&path).unwrap();
        let seqs: Vec<u64> = reader.by_ref().map(|m| m.unwrap().global_seq).collect();
        assert_eq!(seqs, (0..25).collect::<Vec<_>>());
        assert!(reader.footer().is_none());
    }
}
