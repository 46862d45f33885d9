//! The CPU track: how many threads of other processes were runnable while
//! a trace was recorded (b_k in the simulator's CPU model), sampled at a
//! fixed period.
//!
//! A track is a list of [`CpuSample`]s in time order: from `t_k` to
//! `t_(k+1)` the background is `b_k`; before the first sample it is `b_0`,
//! after the last the last value. [`CpuTrack`] holds one with its
//! [summary](CpuTrack::summary); [`Sampler`] takes samples on Linux for a
//! recorder (it spawns no thread: the caller calls
//! [`Sampler::sample`] every [`Sampler::period_ns`]); [`Shape`] makes a
//! synthetic track for `esreplay gen --background-load`.
//!
//! In a trace (format 1.1) the samples sit in CPU frames written just
//! before the chunk during which they were added (see
//! [`crate::TraceWriter::add_cpu_sample`]), so a streaming reader has every
//! sample up to the arrival of the messages it yields (up to the
//! recorder's own lag of at most one period), and
//! [`crate::format::read_cpu_track`] collects the whole track up front
//! from a seekable file without decoding any chunk.

use std::fmt;
use std::io;
use std::str::FromStr;

use crate::duration::{format_ns, parse_duration_ns};

/// The default sampling period: 10 ms (see `docs/recording.md`, "The CPU
/// track", for why).
pub const DEFAULT_PERIOD_NS: u64 = 10_000_000;

/// One sample of the machine's other load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuSample {
    /// When, ns since trace time 0.
    pub t_ns: u64,
    /// b_k: runnable threads of other processes (not the recorder's, not
    /// the client's).
    pub runnable: u32,
}

/// A whole track: its samples and nominal period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuTrack {
    /// Nominal sampling period, ns (0 when unknown).
    pub period_ns: u64,
    /// The samples, in time order as written.
    pub samples: Vec<CpuSample>,
}

/// What `inspect` shows of a track.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct TrackSummary {
    /// Samples in the track.
    pub samples: u64,
    /// Nominal sampling period, ns.
    pub period_ns: u64,
    /// First and last sample time, ns.
    pub first_ns: u64,
    /// Last sample time, ns.
    pub last_ns: u64,
    /// Smallest b_k.
    pub min: u32,
    /// Mean b_k over the samples.
    pub mean: f64,
    /// Largest b_k.
    pub max: u32,
}

impl CpuTrack {
    /// Whether the track has no sample.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The background at time `t_ns`: the last sample at or before it
    /// (`b_0` before the first); `None` for an empty track.
    pub fn at(&self, t_ns: u64) -> Option<u32> {
        let after = self.samples.partition_point(|s| s.t_ns <= t_ns);
        let index = after.saturating_sub(1);
        self.samples.get(index).map(|sample| sample.runnable)
    }

    /// Min, mean and max of b_k, the sample count and the period; `None`
    /// for an empty track.
    pub fn summary(&self) -> Option<TrackSummary> {
        let first = self.samples.first()?;
        let last = self.samples.last()?;
        let sum: u64 = self.samples.iter().map(|s| u64::from(s.runnable)).sum();
        Some(TrackSummary {
            samples: self.samples.len() as u64,
            period_ns: self.period_ns,
            first_ns: first.t_ns,
            last_ns: last.t_ns,
            min: self.samples.iter().map(|s| s.runnable).min().unwrap_or(0),
            mean: sum as f64 / self.samples.len() as f64,
            max: self.samples.iter().map(|s| s.runnable).max().unwrap_or(0),
        })
    }
}

/// A synthetic background load (`gen --background-load`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `const:N`: N runnable threads all the time.
    Const(u32),
    /// `hog:N:ON:OFF`: N threads for ON, none for OFF, repeating from
    /// trace time 0 (on first).
    Hog {
        /// Threads while on.
        threads: u32,
        /// How long each on phase lasts, ns.
        on_ns: u64,
        /// How long each off phase lasts, ns.
        off_ns: u64,
    },
}

impl Shape {
    /// b(t) of the shape.
    pub fn at(self, t_ns: u64) -> u32 {
        match self {
            Shape::Const(threads) => threads,
            Shape::Hog {
                threads,
                on_ns,
                off_ns,
            } => {
                let period = on_ns.saturating_add(off_ns).max(1);
                if t_ns % period < on_ns { threads } else { 0 }
            }
        }
    }

    /// The samples of the shape every `period_ns` from 0 to before
    /// `duration_ns`.
    pub fn samples(self, period_ns: u64, duration_ns: u64) -> impl Iterator<Item = CpuSample> {
        let period = period_ns.max(1);
        (0..duration_ns.div_ceil(period)).map(move |k| {
            let t_ns = k * period;
            CpuSample {
                t_ns,
                runnable: self.at(t_ns),
            }
        })
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Shape::Const(threads) => write!(f, "const:{threads}"),
            Shape::Hog {
                threads,
                on_ns,
                off_ns,
            } => write!(
                f,
                "hog:{threads}:{}:{}",
                format_ns(on_ns),
                format_ns(off_ns)
            ),
        }
    }
}

/// A background shape that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid background load {text:?}: {reason} (expected const:N or hog:N:ON:OFF, e.g. hog:2:500ms:1.5s)"
)]
pub struct ShapeError {
    text: String,
    reason: String,
}

impl FromStr for Shape {
    type Err = ShapeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| ShapeError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let threads = |part: &str| {
            part.parse::<u32>()
                .map_err(|_| error("the thread count must be a whole number"))
        };
        let duration = |part: &str| parse_duration_ns(part).map_err(|e| error(&e.to_string()));
        match text.split(':').collect::<Vec<_>>().as_slice() {
            ["const", n] => Ok(Shape::Const(threads(n)?)),
            ["hog", n, on, off] => {
                let (on_ns, off_ns) = (duration(on)?, duration(off)?);
                if on_ns.saturating_add(off_ns) == 0 {
                    return Err(error("ON + OFF must be positive"));
                }
                Ok(Shape::Hog {
                    threads: threads(n)?,
                    on_ns,
                    off_ns,
                })
            }
            _ => Err(error("unknown shape")),
        }
    }
}

/// Samples the machine's other load (Linux: `/proc`).
///
/// b = runnable threads machine-wide (the kernel's `nr_running()`, read
/// from `/proc/loadavg`'s fourth field `running/total`: the same count as
/// `procs_running` in `/proc/stat`, from a file 30 times smaller)
/// − the runnable threads of this process − those of the processes given
/// to [`Sampler::exclude`] (the client under test), never below 0. It
/// spawns no thread and keeps no clock: the caller calls
/// [`Sampler::sample`] with the trace time every [`Sampler::period_ns`].
/// Off Linux `sample` returns [`io::ErrorKind::Unsupported`].
#[derive(Clone, Debug)]
pub struct Sampler {
    period_ns: u64,
    excluded: Vec<u32>,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new(DEFAULT_PERIOD_NS)
    }
}

impl Sampler {
    /// A sampler for the given period (clamped to 10–100 ms, the range the
    /// docs justify).
    pub fn new(period_ns: u64) -> Sampler {
        Sampler {
            period_ns: period_ns.clamp(10_000_000, 100_000_000),
            excluded: Vec::new(),
        }
    }

    /// The period at which the caller should sample, ns.
    pub fn period_ns(&self) -> u64 {
        self.period_ns
    }

    /// Also leaves out the runnable threads of process `pid`.
    pub fn exclude(&mut self, pid: u32) {
        self.excluded.push(pid);
    }

    /// Takes one sample now, stamped `t_ns` (trace time).
    pub fn sample(&self, t_ns: u64) -> io::Result<CpuSample> {
        if !cfg!(target_os = "linux") {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the CPU sampler reads /proc: Linux only",
            ));
        }
        let running = loadavg_running(&std::fs::read_to_string("/proc/loadavg")?)?;
        let mut own = runnable_threads("/proc/self/task")?;
        for pid in &self.excluded {
            // A client that has exited has no runnable thread.
            own += runnable_threads(&format!("/proc/{pid}/task")).unwrap_or(0);
        }
        Ok(CpuSample {
            t_ns,
            runnable: u32::try_from(running.saturating_sub(own)).unwrap_or(u32::MAX),
        })
    }
}

/// The runnable count of `/proc/loadavg` (`0.52 0.58 0.59 3/467 12345`:
/// the 3).
fn loadavg_running(loadavg: &str) -> io::Result<u64> {
    loadavg
        .split_whitespace()
        .nth(3)
        .and_then(|field| field.split_once('/'))
        .and_then(|(running, _)| running.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/loadavg"))
}

/// Threads in state R under a `/proc/<pid>/task` directory.
fn runnable_threads(task_dir: &str) -> io::Result<u64> {
    let mut count = 0;
    for entry in std::fs::read_dir(task_dir)? {
        let Ok(stat) = std::fs::read_to_string(entry?.path().join("stat")) else {
            continue; // the thread exited meanwhile
        };
        if thread_state(&stat) == Some('R') {
            count += 1;
        }
    }
    Ok(count)
}

/// The state letter of a `/proc/.../stat` line: after the `)` closing the
/// command name (which may itself hold spaces and parentheses).
fn thread_state(stat: &str) -> Option<char> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_print_and_sample() {
        let hog: Shape = "hog:3:20ms:30ms".parse().unwrap();
        assert_eq!(hog.to_string().parse::<Shape>().unwrap(), hog);
        let samples: Vec<u32> = hog
            .samples(10_000_000, 100_000_000)
            .map(|s| s.runnable)
            .collect();
        assert_eq!(samples, [3, 3, 0, 0, 0, 3, 3, 0, 0, 0]);
        assert_eq!("const:2".parse::<Shape>().unwrap(), Shape::Const(2));
        for bad in ["", "const", "const:x", "hog:1:0s:0s", "wave:1"] {
            assert!(bad.parse::<Shape>().is_err(), "{bad}");
        }
    }

    #[test]
    fn track_lookup_and_summary() {
        let track = CpuTrack {
            period_ns: 10,
            samples: [(10, 4), (20, 0), (30, 2)]
                .map(|(t_ns, runnable)| CpuSample { t_ns, runnable })
                .to_vec(),
        };
        assert_eq!(
            [0, 10, 19, 20, 99].map(|t| track.at(t).unwrap()),
            [4, 4, 4, 0, 2]
        );
        let summary = track.summary().unwrap();
        assert_eq!((summary.min, summary.max, summary.samples), (0, 4, 3));
        assert!((summary.mean - 2.0).abs() < 1e-12);
        assert!(CpuTrack::default().summary().is_none());
    }

    #[test]
    fn proc_parsing() {
        assert_eq!(loadavg_running("0.52 0.58 0.59 7/467 12345\n").unwrap(), 7);
        assert!(loadavg_running("0.52 0.58\n").is_err());
        assert_eq!(thread_state("12 (a) b) R 1 2"), Some('R'));
        assert_eq!(thread_state("12 (sleepy) S 1"), Some('S'));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_sampler_reads_this_machine() {
        let sampler = Sampler::new(1);
        assert_eq!(sampler.period_ns(), 10_000_000);
        let sample = sampler.sample(5).unwrap();
        assert_eq!(sample.t_ns, 5);
    }
}
