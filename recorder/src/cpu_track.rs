//! The CPU track while recording: a sampler on its own thread measures the
//! machine's other load every period and hands the samples to the writer
//! thread through a bounded ring; the writer adds them to the trace, which
//! writes them with the next chunk (so a trace cut short keeps the samples
//! of its complete chunks). The event handler never sees any of it.
//!
//! A [`Probe`] takes one reading: on Linux [`RunnableProbe`] (runnable
//! threads of other processes, `esreplay_traces::cpu::Sampler`), on macOS
//! the tick counters less the recorder's own CPU time (`mach`, arithmetic
//! in [`ticks`]). [`Quantiser`] turns fractional readings into the
//! format's whole numbers without losing their mean. [`TrackSource::start`]
//! runs the thread; [`start_for`] picks the platform's probe and says in
//! the header what the track is.

#[cfg(target_os = "macos")]
pub mod mach;
pub mod ticks;

use crate::clock;
use crate::raw::Convert;
use crate::ring::{Consumer, Producer, ring};
use esreplay_traces::cpu::CpuSample;
use esreplay_traces::{Header, TraceWriter};
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The default sampling period (docs/recording.md, "The CPU track").
pub const DEFAULT_PERIOD: Duration = Duration::from_nanos(esreplay_traces::cpu::DEFAULT_PERIOD_NS);
/// The shortest period accepted.
pub const MIN_PERIOD: Duration = Duration::from_millis(10);
/// The longest period accepted.
pub const MAX_PERIOD: Duration = Duration::from_millis(100);

/// Samples held between the sampler and the writer: 40 s at 10 ms, far
/// more than a writer busy with a chunk ever falls behind.
const RING_SAMPLES: usize = 4096;

/// One way of reading the machine's other load.
pub trait Probe: Send + 'static {
    /// What it measures, for the trace header.
    fn describe(&self) -> String;

    /// Takes a reading at trace time `t_ns`: `Some((t, load))`, the load
    /// from `t` on (an instant's count is stamped `t_ns`; a counter's
    /// difference is stamped with the start of the interval it covers), or
    /// `None` when this reading yields no sample (a first reading of
    /// counters).
    fn read(&mut self, t_ns: u64) -> io::Result<Option<(u64, f64)>>;
}

/// Rounds readings to whole numbers, carrying each rounding error into the
/// next sample so that the track's mean stays the readings' mean (a steady
/// 0.3 busy CPUs becomes 0, 0, 1, 0, 0, 1, ... rather than 0 for ever).
/// Whole readings pass through unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quantiser {
    carry: f64,
}

impl Quantiser {
    /// The whole number for `load` (negative or not finite: 0).
    pub fn round(&mut self, load: f64) -> u32 {
        let load = if load.is_finite() { load.max(0.0) } else { 0.0 };
        let wanted = load + self.carry;
        let whole = wanted.round().clamp(0.0, f64::from(u32::MAX));
        self.carry = wanted - whole;
        whole as u32
    }
}

/// Counts the sampler thread keeps.
#[derive(Debug, Default)]
struct Counts {
    samples: AtomicU64,
    errors: AtomicU64,
}

/// A running sampler thread and the receiving end of its samples (owned by
/// the writer thread).
pub struct TrackSource {
    samples: Consumer<CpuSample>,
    period: Duration,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    thread: Option<JoinHandle<()>>,
}

impl TrackSource {
    /// Starts sampling `probe` every `period` (clamped to 10–100 ms), with
    /// times converted to trace time by `convert`.
    pub fn start(
        probe: Box<dyn Probe>,
        period: Duration,
        convert: Convert,
    ) -> io::Result<TrackSource> {
        let period = period.clamp(MIN_PERIOD, MAX_PERIOD);
        let (producer, samples) = ring(RING_SAMPLES);
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let sampler = Sampler {
            probe,
            period,
            convert,
            out: producer,
            counts: Arc::clone(&counts),
        };
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("esrecord-cpu".into())
            .spawn(move || sampler.run(&flag))?;
        Ok(TrackSource {
            samples,
            period,
            stop,
            counts,
            thread: Some(thread),
        })
    }

    /// The sampling period, ns.
    pub fn period_ns(&self) -> u64 {
        u64::try_from(self.period.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Moves the samples taken so far into `trace`.
    pub fn drain_into<W: Write>(&mut self, trace: &mut TraceWriter<W>) {
        while let Some(sample) = self.samples.try_pop() {
            trace.add_cpu_sample(sample);
        }
    }

    /// Stops the thread, moves its last samples into `trace` and says in
    /// the footer how many were taken, failed and dropped.
    pub fn finish_into<W: Write>(mut self, trace: &mut TraceWriter<W>) {
        self.stop_thread();
        self.drain_into(trace);
        let meta = trace.footer_meta();
        let taken = self.counts.samples.load(Ordering::Relaxed);
        meta.insert("cpu_track.samples".into(), taken.to_string());
        for (key, count) in [
            (
                "cpu_track.errors",
                self.counts.errors.load(Ordering::Relaxed),
            ),
            ("cpu_track.dropped", self.samples.dropped()),
        ] {
            if count > 0 {
                meta.insert(key.into(), count.to_string());
            }
        }
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for TrackSource {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// The sampler thread's state.
struct Sampler {
    probe: Box<dyn Probe>,
    period: Duration,
    convert: Convert,
    out: Producer<CpuSample>,
    counts: Arc<Counts>,
}

impl Sampler {
    /// Samples now and then every period (on a fixed schedule: a late
    /// wake-up skips the periods it missed) until `stop`; at least once.
    fn run(mut self, stop: &AtomicBool) {
        let mut quantiser = Quantiser::default();
        let mut next = Instant::now();
        loop {
            let t_ns = self.convert.ns(clock::now_ticks());
            match self.probe.read(t_ns) {
                Ok(Some((t_ns, load))) => {
                    let runnable = quantiser.round(load);
                    self.counts.samples.fetch_add(1, Ordering::Relaxed);
                    // A full ring counts the drop (the writer reports it).
                    self.out.try_push(CpuSample { t_ns, runnable });
                }
                Ok(None) => {}
                Err(_) => {
                    self.counts.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            if stop.load(Ordering::Acquire) {
                return;
            }
            next += self.period;
            let now = Instant::now();
            if next < now {
                next = now + self.period;
            }
            // Parked until the next period, or unparked by `stop_thread`.
            while !stop.load(Ordering::Acquire) && Instant::now() < next {
                std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
            }
        }
    }
}

/// Starts the platform's sampler for a recording (`period` `None`: the
/// track is off) and says in `header.meta["cpu_track"]` what the track
/// holds, or why there is none; with a track, a header without a CPU
/// count gets [`machine_cpus`], and `cpu.usable` notes fewer CPUs usable
/// by this process. A sampler that cannot start leaves the recording
/// without a track, never stops it.
pub fn start_for(
    header: &mut Header,
    period: Option<Duration>,
    convert: Convert,
) -> Option<TrackSource> {
    let (note, source) = match period.map(|period| (period, platform_probe())) {
        None => ("off".to_owned(), None),
        Some((_, Err(error))) => (format!("unavailable: {error}"), None),
        Some((period, Ok(probe))) => {
            let what = probe.describe();
            match TrackSource::start(probe, period, convert) {
                Ok(source) => {
                    let every = esreplay_traces::format_ns(source.period_ns());
                    (format!("{what}, every {every}"), Some(source))
                }
                Err(error) => (format!("unavailable: {error}"), None),
            }
        }
    };
    header.meta.insert("cpu_track".into(), note);
    if source.is_some() && header.cpu_count.is_none() {
        header.cpu_count = machine_cpus();
    }
    note_fewer_usable_cpus(header);
    source
}

/// Says in `header.meta["cpu.usable"]` how many CPUs this process may use
/// when an affinity mask or a cgroup quota leaves it fewer than the
/// header's `cpu_count` (a client confined the same way shares those:
/// give `--cores` accordingly).
fn note_fewer_usable_cpus(header: &mut Header) {
    let usable = std::thread::available_parallelism()
        .ok()
        .and_then(|n| u32::try_from(n.get()).ok());
    if let (Some(usable), Some(machine)) = (usable, header.cpu_count)
        && usable < machine
    {
        header.meta.insert("cpu.usable".into(), usable.to_string());
    }
}

/// The machine's online logical CPUs, for the header's `cpu_count`: the
/// CPUs the track's machine-wide figures are about, whatever CPUs this
/// process may itself use (`available_parallelism` gives those on Linux,
/// after affinity masks and cgroup quotas).
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub fn machine_cpus() -> Option<u32> {
    // Safety: sysconf takes an integer and reads a system constant.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(online).ok().filter(|&n| n > 0)
}

/// The machine's logical CPUs, as far as the standard library knows.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn machine_cpus() -> Option<u32> {
    let cpus = std::thread::available_parallelism().ok()?;
    u32::try_from(cpus.get()).ok()
}

/// The platform's probe (what `esrecord` samples with).
#[cfg(target_os = "linux")]
pub fn platform_probe() -> io::Result<Box<dyn Probe>> {
    let probe = RunnableProbe::default();
    probe.sampler.sample(0)?; // /proc readable: fail now, not every period
    Ok(Box::new(probe))
}

/// The platform's probe (what `esrecord` samples with).
#[cfg(target_os = "macos")]
pub fn platform_probe() -> io::Result<Box<dyn Probe>> {
    Ok(Box::new(mach::TickProbe::new()?))
}

/// The platform's probe (none here).
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn platform_probe() -> io::Result<Box<dyn Probe>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no CPU sampler for this OS",
    ))
}

/// Linux: the runnable threads of other processes at each instant
/// (`/proc/loadavg`'s running count less this process's runnable threads;
/// see `esreplay_traces::cpu::Sampler`).
#[derive(Debug, Default)]
pub struct RunnableProbe {
    sampler: esreplay_traces::cpu::Sampler,
}

impl Probe for RunnableProbe {
    fn describe(&self) -> String {
        "runnable threads of other processes (/proc/loadavg running count less the recorder's \
         runnable threads)"
            .into()
    }

    fn read(&mut self, t_ns: u64) -> io::Result<Option<(u64, f64)>> {
        let sample = self.sampler.sample(t_ns)?;
        Ok(Some((sample.t_ns, f64::from(sample.runnable))))
    }
}

/// A probe that always reads the same load (for tests).
#[cfg(test)]
pub(crate) struct Constant(pub f64);

#[cfg(test)]
impl Probe for Constant {
    fn describe(&self) -> String {
        format!("constant {}", self.0)
    }

    fn read(&mut self, t_ns: u64) -> io::Result<Option<(u64, f64)>> {
        Ok(Some((t_ns, self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quantiser_keeps_the_mean_and_whole_numbers() {
        let mut quantiser = Quantiser::default();
        let rounded: Vec<u32> = [0.3; 10].iter().map(|&x| quantiser.round(x)).collect();
        assert_eq!(rounded.iter().sum::<u32>(), 3, "{rounded:?}");
        assert!(rounded.iter().all(|&b| b <= 1));
        let mut quantiser = Quantiser::default();
        let whole: Vec<u32> = [2.0, 0.0, 5.0, 1.0]
            .iter()
            .map(|&x| quantiser.round(x))
            .collect();
        assert_eq!(whole, [2, 0, 5, 1]);
        for odd in [f64::NAN, f64::NEG_INFINITY, -3.0] {
            assert_eq!(Quantiser::default().round(odd), 0);
        }
        assert_eq!(Quantiser::default().round(1e20), u32::MAX);
    }

    /// A thread pinned to one CPU: the header notes it can use 1 of the
    /// machine's CPUs (nothing on a one-CPU machine).
    #[cfg(target_os = "linux")]
    #[test]
    fn fewer_usable_cpus_are_noted() {
        let machine = machine_cpus().unwrap();
        let mut header = Header {
            cpu_count: Some(machine),
            ..Header::default()
        };
        std::thread::spawn(move || {
            // Safety: an all-zero cpu_set_t is a valid empty set; CPU 0
            // exists; pid 0 is this (test) thread.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                let size = std::mem::size_of::<libc::cpu_set_t>();
                assert_eq!(libc::sched_setaffinity(0, size, &set), 0);
            }
            note_fewer_usable_cpus(&mut header);
            let noted = header.meta.get("cpu.usable").map(String::as_str);
            assert_eq!(noted, (machine > 1).then_some("1"));
        })
        .join()
        .unwrap();
    }

    /// Reads 0.5, 1.5, 2.5, ...
    struct Fake {
        reads: u64,
    }

    impl Probe for Fake {
        fn describe(&self) -> String {
            "fake".into()
        }

        fn read(&mut self, t_ns: u64) -> io::Result<Option<(u64, f64)>> {
            self.reads += 1;
            Ok(Some((t_ns, self.reads as f64 - 0.5)))
        }
    }

    /// Never reads.
    struct Broken;

    impl Probe for Broken {
        fn describe(&self) -> String {
            "broken".into()
        }

        fn read(&mut self, _: u64) -> io::Result<Option<(u64, f64)>> {
            Err(io::Error::other("unreadable"))
        }
    }

    #[test]
    fn failed_readings_are_counted_not_written() {
        let mut trace = TraceWriter::new(Vec::new(), &Header::default()).unwrap();
        let source = TrackSource::start(Box::new(Broken), MIN_PERIOD, Convert::default()).unwrap();
        source.finish_into(&mut trace);
        let meta = trace.footer_meta().clone();
        assert_eq!(meta["cpu_track.samples"], "0");
        assert!(meta["cpu_track.errors"].parse::<u64>().unwrap() >= 1);
        let bytes = trace.finish().unwrap();
        let track = esreplay_traces::format::read_cpu_track(io::Cursor::new(bytes)).unwrap();
        assert!(track.is_empty());
    }

    #[test]
    fn the_thread_samples_until_stopped_in_time_order() {
        let mut trace = TraceWriter::new(Vec::new(), &Header::default()).unwrap();
        let probe = Box::new(Fake { reads: 0 });
        let mut source = TrackSource::start(probe, Duration::ZERO, Convert::default()).unwrap();
        assert_eq!(source.period_ns(), 10_000_000, "clamped to 10 ms");
        std::thread::sleep(Duration::from_millis(50));
        source.drain_into(&mut trace);
        source.finish_into(&mut trace);
        let samples = trace.footer_meta()["cpu_track.samples"]
            .parse::<u64>()
            .unwrap();
        assert!(samples >= 1);
        let bytes = trace.finish().unwrap();
        let track = esreplay_traces::format::read_cpu_track(io::Cursor::new(bytes)).unwrap();
        assert_eq!(track.samples.len() as u64, samples);
        assert!(track.samples.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
    }
}
