//! Synthetic and adversarial message streams (`esreplay gen`).
//!
//! Each scenario is one or two arrival streams merged in time order. Every
//! random choice is drawn with [`dist::unit`] keyed by the seed, a stream
//! constant and what it describes (a stream's step, or the message's
//! `global_seq`), so a trace is a pure function of its options and the
//! generator streams in O(1) memory.
//!
//! | scenario | arrivals | events |
//! | --- | --- | --- |
//! | `steady` | Poisson at `rate` | AUTH_OPEN 90 %, AUTH_EXEC 10 % |
//! | `burst` | Poisson; `rate`/4 between bursts, 10 × `rate` for 200 ms every 2 s | as steady |
//! | `flood` | steady background, plus from 20 % of the run one process opening one file every 1/(10 × `rate`) s | AUTH_OPEN |
//! | `exec-storm` | Poisson at `rate` | AUTH_EXEC; service `lognormal:1ms:20ms` unless `--service` |
//! | `mixed` | Poisson at `rate` | AUTH_OPEN/EXEC/RENAME/UNLINK 65 %, NOTIFY_EXEC/FORK/EXIT/CLOSE/WRITE 35 % |
//! | `build` | 8 job slots (`make -j8`): each runs compiler processes one after another, think times between opens | AUTH_EXEC, AUTH_OPEN of sources and headers, NOTIFY_CLOSE (modified), NOTIFY_EXIT |
//! | `app-launch` | steady background; every 2 s an app starts: 6 threads open 200 files each at 10 × `rate` in all | AUTH_EXEC, AUTH_OPEN |
//! | `thread-flood` | steady background; from 20 % of the run one process's `--threads` threads (default 64) open one file, 10 × `rate` in all | AUTH_OPEN |
//! | `scanner` | steady, plus a co-resident scanner (an ES client, `is_es_client`) opening the target of each AUTH_OPEN and AUTH_EXEC 3 times 1 ms later | AUTH_OPEN, AUTH_EXEC |
//! | `io-heavy` | steady; our client reads each file it decides on: service `lognormal:300us:8ms` unless `--service` (replay with `--co-client ...,io=M` to close the loop) | AUTH_OPEN, AUTH_EXEC |
//! | `repeat-open`, `cache-thrash`, `write-between` | steady background; from 20 % of the run one process opening files at 10 × `rate`: for the ES cache what-ifs (see [`cache`]) | AUTH_OPEN (and NOTIFY_WRITE) |
//!
//! The first five have no thread ids (a simulator replays them open loop).
//! The last three give every message a pid and a thread id, and each
//! thread's arrivals are strictly increasing with a think time between
//! them: a recording made with an unthrottled client (stall σ = 0), so that
//! a closed-loop replay slows each thread down to the client's pace (see
//! [`threads`]).
//!
//! Service times are recorded by default (`lognormal:40us:2ms`,
//! exec-storm `lognormal:1ms:20ms`), drawn per message from its
//! `global_seq`. A synthetic CPU track can be added ([`GenOptions::background`]).

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use std::io::Write;

use crate::budget::BudgetTable;
use crate::cpu::{DEFAULT_PERIOD_NS, Shape};
use crate::dist::{self, Distribution};
use crate::event::{Action, EventType};
use crate::format::{TraceError, TraceWriter};
use crate::model::{Header, Message, Source};

pub mod cache;
pub mod threads;

/// The synthetic scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Poisson arrivals of AUTH_OPEN and AUTH_EXEC.
    Steady,
    /// On/off bursts.
    Burst,
    /// An attacker opening one file in a tight loop over background load.
    Flood,
    /// AUTH_EXEC with heavy service times.
    ExecStorm,
    /// AUTH and NOTIFY traffic of several types.
    Mixed,
    /// A `make -j8`-like build: 8 threads with think times.
    Build,
    /// Apps launching over steady background, 6 threads each.
    AppLaunch,
    /// One process flooding one file from many threads.
    ThreadFlood,
    /// Steady, plus a co-resident scanner's opens (an ES client).
    Scanner,
    /// Steady with heavy service times: a client that reads each file.
    IoHeavy,
    /// One process re-opening a small working set of files (the ES cache helps).
    RepeatOpen,
    /// One process cycling through more files than the ES cache holds.
    CacheThrash,
    /// One process writing a file just before every open of it (invalidating the ES cache).
    WriteBetween,
}

impl Scenario {
    /// Every scenario, in the order of the docs.
    pub const ALL: [Scenario; 13] = [
        Scenario::Steady,
        Scenario::Burst,
        Scenario::Flood,
        Scenario::ExecStorm,
        Scenario::Mixed,
        Scenario::Build,
        Scenario::AppLaunch,
        Scenario::ThreadFlood,
        Scenario::Scanner,
        Scenario::IoHeavy,
        Scenario::RepeatOpen,
        Scenario::CacheThrash,
        Scenario::WriteBetween,
    ];

    /// Whether the messages carry pids and thread ids by construction.
    pub fn has_threads(self) -> bool {
        matches!(
            self,
            Scenario::Build | Scenario::AppLaunch | Scenario::ThreadFlood
        )
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Burst => "burst",
            Scenario::Flood => "flood",
            Scenario::ExecStorm => "exec-storm",
            Scenario::Mixed => "mixed",
            Scenario::Build => "build",
            Scenario::AppLaunch => "app-launch",
            Scenario::ThreadFlood => "thread-flood",
            Scenario::Scanner => "scanner",
            Scenario::IoHeavy => "io-heavy",
            Scenario::RepeatOpen => "repeat-open",
            Scenario::CacheThrash => "cache-thrash",
            Scenario::WriteBetween => "write-between",
        }
    }

    /// One line for people: the command line's help for the scenario.
    pub fn about(self) -> &'static str {
        match self {
            Scenario::Steady => "Poisson arrivals of AUTH_OPEN and AUTH_EXEC",
            Scenario::Burst => "On/off bursts: 10 × rate for 200 ms every 2 s, rate/4 between",
            Scenario::Flood => "One process opening one file at 10 × rate, over steady background",
            Scenario::ExecStorm => "AUTH_EXEC with heavy service times",
            Scenario::Mixed => "AUTH_OPEN/EXEC/RENAME/UNLINK with NOTIFY traffic",
            Scenario::Build => {
                "With threads: a `make -j8`-like build, 8 job slots of compiler processes \
                 opening sources and headers with think times"
            }
            Scenario::AppLaunch => {
                "With threads: an app launching every 2 s (6 threads, 1 200 opens) over steady \
                 background"
            }
            Scenario::ThreadFlood => {
                "With threads: one process flooding one file from --threads threads (e.g. 1, 64, \
                 4096) at 10 × rate in all, over steady background"
            }
            Scenario::Scanner => {
                "Steady, plus a co-resident scanner (an ES client) opening the target of each \
                 AUTH_OPEN/AUTH_EXEC 3 times 1 ms later: try es-clients-inline:INNER"
            }
            Scenario::IoHeavy => {
                "Steady, with a client of ours that reads each file (service \
                 lognormal:300us:8ms): replay with --co-client \
                 react=AUTH_OPEN+AUTH_EXEC,opens=2,delay=1ms,io=1 to close the loop"
            }
            Scenario::RepeatOpen => {
                "ES cache: one process re-opening a working set of 100 files at 10 × rate \
                 (caching helps)"
            }
            Scenario::CacheThrash => {
                "ES cache: one process cycling through 65 536 files, 16 × the default cache \
                 (caching fails)"
            }
            Scenario::WriteBetween => {
                "ES cache: one process writing a file just before every open of it (each write \
                 invalidates)"
            }
        }
    }

    fn event_mix(self) -> &'static [(EventType, u32)] {
        const OPEN_EXEC: &[(EventType, u32)] =
            &[(EventType::AUTH_OPEN, 90), (EventType::AUTH_EXEC, 10)];
        const EXEC: &[(EventType, u32)] = &[(EventType::AUTH_EXEC, 1)];
        const MIXED: &[(EventType, u32)] = &[
            (EventType::AUTH_OPEN, 45),
            (EventType::AUTH_EXEC, 10),
            (EventType::AUTH_RENAME, 5),
            (EventType::AUTH_UNLINK, 5),
            (EventType::NOTIFY_EXEC, 10),
            (EventType::NOTIFY_FORK, 5),
            (EventType::NOTIFY_EXIT, 5),
            (EventType::NOTIFY_CLOSE, 10),
            (EventType::NOTIFY_WRITE, 5),
        ];
        const BUILD: &[(EventType, u32)] = &[
            (EventType::AUTH_EXEC, 1),
            (EventType::AUTH_OPEN, 1),
            (EventType::NOTIFY_CLOSE, 1),
            (EventType::NOTIFY_EXIT, 1),
        ];
        const OPEN_EXEC_WRITE: &[(EventType, u32)] = &[
            (EventType::AUTH_OPEN, 90),
            (EventType::AUTH_EXEC, 10),
            (EventType::NOTIFY_WRITE, 0),
        ];
        match self {
            Scenario::Steady
            | Scenario::Burst
            | Scenario::Flood
            | Scenario::AppLaunch
            | Scenario::ThreadFlood
            | Scenario::Scanner
            | Scenario::IoHeavy
            | Scenario::RepeatOpen
            | Scenario::CacheThrash => OPEN_EXEC,
            Scenario::WriteBetween => OPEN_EXEC_WRITE,
            Scenario::ExecStorm => EXEC,
            Scenario::Mixed => MIXED,
            Scenario::Build => BUILD,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown scenario {text:?} (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// Everything a generated trace depends on.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Which stream.
    pub scenario: Scenario,
    /// The seed of every random draw.
    pub seed: u64,
    /// Length of the trace, ns.
    pub duration_ns: u64,
    /// Base message rate, messages per second.
    pub rate_per_s: f64,
    /// Deadline budgets per AUTH event type.
    pub budgets: BudgetTable,
    /// The service distribution, instead of the scenario's default.
    pub service: Option<Distribution>,
    /// Whether to record service times at all (`--no-service`: no).
    pub record_service: bool,
    /// Whether to record process and target paths (and, for the scenarios
    /// without threads, pids).
    pub paths: bool,
    /// Threads of `thread-flood` (default 64).
    pub threads: u32,
    /// A synthetic CPU track: the other load, sampled every
    /// `background_period_ns`.
    pub background: Option<Shape>,
    /// Period of the synthetic CPU track, ns.
    pub background_period_ns: u64,
    /// The CPU count written in the header.
    pub cpus: Option<u32>,
}

/// The service times `gen` records unless told otherwise.
pub const DEFAULT_SERVICE: Distribution = Distribution::LogNormal {
    median_ns: 40_000,
    p99_ns: 2_000_000,
};

impl GenOptions {
    /// The defaults: seed 1, 10 s, 2000 messages/s, default budgets,
    /// service times and paths recorded, 64 flood threads, no CPU track.
    pub fn new(scenario: Scenario) -> GenOptions {
        GenOptions {
            scenario,
            seed: 1,
            duration_ns: 10_000_000_000,
            rate_per_s: 2_000.0,
            budgets: BudgetTable::default(),
            service: None,
            record_service: true,
            paths: true,
            threads: 64,
            background: None,
            background_period_ns: DEFAULT_PERIOD_NS,
            cpus: None,
        }
    }

    /// The service distribution in effect: `None` with `record_service`
    /// off; else the one asked, else the scenario's default
    /// ([`DEFAULT_SERVICE`]; exec-storm `lognormal:1ms:20ms`).
    pub fn service(&self) -> Option<Distribution> {
        if !self.record_service {
            return None;
        }
        Some(self.service.unwrap_or(match self.scenario {
            Scenario::ExecStorm => Distribution::LogNormal {
                median_ns: 1_000_000,
                p99_ns: 20_000_000,
            },
            Scenario::IoHeavy => Distribution::LogNormal {
                median_ns: 300_000,
                p99_ns: 8_000_000,
            },
            _ => DEFAULT_SERVICE,
        }))
    }

    /// The header of the generated trace: the options, for reproduction.
    pub fn header(&self) -> Header {
        let mut header = Header {
            source: Some(Source::Synthetic),
            tool: "esreplay gen".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            subscribed: self.scenario.event_mix().iter().map(|&(e, _)| e).collect(),
            ..Header::default()
        };
        let meta = &mut header.meta;
        meta.insert("scenario".into(), self.scenario.name().into());
        meta.insert("seed".into(), self.seed.to_string());
        meta.insert("duration_ns".into(), self.duration_ns.to_string());
        meta.insert("rate_per_s".into(), self.rate_per_s.to_string());
        if let Some(service) = self.service() {
            meta.insert("service".into(), service.to_string());
        }
        if self.scenario == Scenario::ThreadFlood {
            meta.insert("threads".into(), self.threads.to_string());
        }
        if let Some(shape) = self.background {
            meta.insert("background_load".into(), shape.to_string());
        }
        header.cpu_count = self.cpus;
        header
    }

    /// The messages, streamed in kernel order.
    pub fn messages(&self) -> Generator {
        if self.scenario.has_threads() {
            let threads = threads::ThreadGen::new(self);
            return Generator(Inner::Threads(threads), self.budgets.clone());
        }
        let background = Stream::poisson(self, STREAM_BACKGROUND);
        let attacker = if cache::is_cache_scenario(self.scenario) {
            Some(cache::attacker(self))
        } else {
            (self.scenario == Scenario::Flood).then(|| Stream::attacker(self))
        };
        let streams = Inner::Streams(StreamGen {
            options: self.clone(),
            stamp: Stamp::new(self),
            streams: [Some(background), attacker],
            scans: VecDeque::new(),
        });
        Generator(streams, self.budgets.clone())
    }

    /// Writes the whole trace (messages, and the CPU track if asked, each
    /// sample before the first message at or after its time) to `writer`;
    /// returns the messages written.
    pub fn write_to<W: Write>(&self, writer: &mut TraceWriter<W>) -> Result<u64, TraceError> {
        let period = self.background_period_ns.max(1);
        let mut samples = self
            .background
            .map(|shape| shape.samples(period, self.duration_ns))
            .into_iter()
            .flatten()
            .peekable();
        writer.set_cpu_period(period);
        let mut written = 0;
        for message in self.messages() {
            while let Some(sample) = samples.next_if(|s| s.t_ns <= message.arrival_ns) {
                writer.add_cpu_sample(sample);
            }
            writer.write(&message)?;
            written += 1;
        }
        samples.for_each(|sample| writer.add_cpu_sample(sample));
        Ok(written)
    }
}

/// What every generated message gets the same way: sequence numbers,
/// deadline, service time.
pub(crate) struct Stamp {
    seed: u64,
    budgets: BudgetTable,
    service: Option<Distribution>,
    next_global_seq: u64,
    next_seq: Vec<u64>,
}

impl Stamp {
    pub(crate) fn new(options: &GenOptions) -> Stamp {
        Stamp {
            seed: options.seed,
            budgets: options.budgets.clone(),
            service: options.service(),
            next_global_seq: 0,
            next_seq: vec![0; 256],
        }
    }

    /// A new message of `event` at `arrival_ns`, with the next sequence
    /// numbers, its deadline and its service time.
    pub(crate) fn message(&mut self, event: EventType, arrival_ns: u64) -> Message {
        let action = event.action().unwrap_or(Action::Notify);
        let global_seq = self.next_global_seq;
        self.next_global_seq += 1;
        let mut message = Message::new(global_seq, event, action, arrival_ns);
        let seq = &mut self.next_seq[usize::from(event.0) % 256];
        message.seq = *seq;
        *seq += 1;
        if action == Action::Auth {
            let budget = self.budgets.budget_ns(event);
            message.deadline_ns = Some(arrival_ns.saturating_add(budget));
        }
        if let Some(service) = &self.service {
            message.service_ns = Some(service.sample(self.seed, DRAW_SERVICE, global_seq));
        }
        message
    }
}

/// Sets a message's thread id (and, for NOTIFY_CLOSE, the modified flag).
pub(crate) fn set_thread(message: &mut Message, pid: u32, thread_id: u64) {
    message.pid = Some(pid);
    message.thread_id = Some(thread_id);
}

pub(crate) const STREAM_BACKGROUND: u64 = 1;
const STREAM_ATTACKER: u64 = 2;
pub(crate) const DRAW_GAP: u64 = 10;
pub(crate) const DRAW_EVENT: u64 = 11;
pub(crate) const DRAW_PROCESS: u64 = 12;
pub(crate) const DRAW_TARGET: u64 = 13;
const DRAW_SERVICE: u64 = 14;

const BURST_PERIOD_NS: u64 = 2_000_000_000;
const BURST_ON_NS: u64 = 200_000_000;
const ATTACKER_PID: u32 = 6666;
const SCANNER_PID: u32 = 7777;
/// The scanner's opens per message it scans, and their delay.
const SCANNER_OPENS: u32 = 3;
const SCANNER_DELAY_NS: u64 = 1_000_000;

/// One arrival stream: its next arrival and how to draw the one after.
#[derive(Clone, Debug)]
pub(crate) struct Stream {
    pub(crate) id: u64,
    pub(crate) step: u64,
    pub(crate) next_arrival_ns: u64,
    /// Fixed interval (attacker) or `None` for Poisson.
    interval_ns: Option<u64>,
}

impl Stream {
    pub(crate) fn poisson(options: &GenOptions, id: u64) -> Stream {
        let mut stream = Stream {
            id,
            step: 0,
            next_arrival_ns: 0,
            interval_ns: None,
        };
        stream.next_arrival_ns = stream.gap_ns(options, 0);
        stream
    }

    fn attacker(options: &GenOptions) -> Stream {
        let interval = (1e9 / (10.0 * options.rate_per_s)).max(1.0) as u64;
        Stream {
            id: STREAM_ATTACKER,
            step: 0,
            next_arrival_ns: options.duration_ns / 5,
            interval_ns: Some(interval),
        }
    }

    /// The gap after an arrival at `now`: exponential at the rate in force.
    fn gap_ns(&self, options: &GenOptions, now: u64) -> u64 {
        if let Some(interval) = self.interval_ns {
            return interval;
        }
        if self.id == cache::STREAM_CACHE {
            return cache::gap_ns(options, self.step);
        }
        let rate = match options.scenario {
            Scenario::Burst if now % BURST_PERIOD_NS < BURST_ON_NS => options.rate_per_s * 10.0,
            Scenario::Burst => options.rate_per_s / 4.0,
            _ => options.rate_per_s,
        };
        let uniform = dist::unit(options.seed, self.id * 100 + DRAW_GAP, self.step);
        (-uniform.ln() / rate.max(1e-9) * 1e9).round().max(1.0) as u64
    }

    pub(crate) fn advance(&mut self, options: &GenOptions) {
        let now = self.next_arrival_ns;
        self.step += 1;
        self.next_arrival_ns = now.saturating_add(self.gap_ns(options, now));
    }
}

/// The generated messages, in kernel order.
pub struct Generator(Inner, BudgetTable);

enum Inner {
    Streams(StreamGen),
    Threads(threads::ThreadGen),
}

impl Iterator for Generator {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        let mut message = match &mut self.0 {
            Inner::Streams(streams) => streams.next(),
            Inner::Threads(threads) => threads.next(),
        }?;
        // Last: the process is known only once the message is described.
        self.1.apply_process_budget(&mut message);
        Some(message)
    }
}

/// The scenarios without threads: one or two streams, in kernel order
/// (arrival, then stream).
struct StreamGen {
    options: GenOptions,
    stamp: Stamp,
    streams: [Option<Stream>; 2],
    /// `scanner`: the scanner's opens not yet due (arrival, target), in
    /// arrival order (a constant delay after increasing arrivals).
    scans: VecDeque<(u64, Option<Arc<str>>)>,
}

impl StreamGen {
    fn describe(&mut self, stream: &Stream) -> Message {
        let options = &self.options;
        if stream.id == cache::STREAM_CACHE {
            return cache::describe(&mut self.stamp, options, stream);
        }
        let key = |draw: u64| dist::unit(options.seed, stream.id * 100 + draw, stream.step);
        let event = if stream.id == STREAM_ATTACKER {
            EventType::AUTH_OPEN
        } else {
            pick(self.options.scenario.event_mix(), key(DRAW_EVENT))
        };
        let mut message = self.stamp.message(event, stream.next_arrival_ns);
        if options.paths {
            describe_process(&mut message, stream.id, key(DRAW_PROCESS), key(DRAW_TARGET));
        }
        if options.scenario == Scenario::Scanner {
            let at = message.arrival_ns.saturating_add(SCANNER_DELAY_NS);
            for _ in 0..SCANNER_OPENS {
                self.scans.push_back((at, message.target_path.clone()));
            }
        }
        message
    }

    /// The scanner's next open, if it is due before every stream's next
    /// arrival (a stream's message first at a tie) and within the run.
    fn next_scan(&mut self, stream_at: Option<u64>) -> Option<Message> {
        let &(at, _) = self.scans.front()?;
        if at >= self.options.duration_ns || stream_at.is_some_and(|next| next <= at) {
            return None;
        }
        let (_, target) = self.scans.pop_front()?;
        let mut message = self.stamp.message(EventType::AUTH_OPEN, at);
        if self.options.paths {
            message.pid = Some(SCANNER_PID);
            message.process_path = Some(Arc::from("/Library/Scanner/scand"));
            message.target_path = target;
        }
        message.is_es_client = Some(true);
        Some(message)
    }
}

/// Picks from a weighted table with a uniform draw in (0, 1).
pub(crate) fn pick(table: &[(EventType, u32)], uniform: f64) -> EventType {
    let total: u32 = table.iter().map(|&(_, weight)| weight).sum();
    let mut point = (uniform * f64::from(total)) as u32;
    for &(event, weight) in table {
        if point < weight {
            return event;
        }
        point -= weight;
    }
    table[table.len() - 1].0
}

pub(crate) fn describe_process(
    message: &mut Message,
    stream: u64,
    process_draw: f64,
    target_draw: f64,
) {
    if stream == STREAM_ATTACKER {
        message.pid = Some(ATTACKER_PID);
        message.process_path = Some(Arc::from("/private/tmp/flooder"));
        message.target_path = Some(Arc::from("/private/tmp/flood-target"));
        return;
    }
    let process = (process_draw * 40.0) as u32;
    message.pid = Some(400 + process);
    message.process_path = Some(Arc::from(format!(
        "/Applications/App{process}.app/Contents/MacOS/App"
    )));
    let target = (target_draw * target_draw * 2_000.0) as u32;
    message.target_path = Some(Arc::from(format!("/Users/alex/Documents/file{target}.txt")));
}

impl Iterator for StreamGen {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        let index = (0..self.streams.len())
            .filter(|&i| {
                self.streams[i]
                    .as_ref()
                    .is_some_and(|stream| stream.next_arrival_ns < self.options.duration_ns)
            })
            .min_by_key(|&i| self.streams[i].as_ref().map(|s| s.next_arrival_ns));
        let stream_at = index.and_then(|i| self.streams[i].as_ref().map(|s| s.next_arrival_ns));
        if let Some(scan) = self.next_scan(stream_at) {
            return Some(scan);
        }
        let index = index?;
        let stream = self.streams[index].take()?;
        let message = self.describe(&stream);
        let mut stream = stream;
        stream.advance(&self.options);
        self.streams[index] = Some(stream);
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(scenario: Scenario) -> GenOptions {
        GenOptions {
            duration_ns: 2_000_000_000,
            ..GenOptions::new(scenario)
        }
    }

    #[test]
    fn same_options_same_messages_and_seeds_differ() {
        for scenario in Scenario::ALL {
            let a: Vec<Message> = options(scenario).messages().collect();
            let b: Vec<Message> = options(scenario).messages().collect();
            assert_eq!(a, b, "{scenario}");
            let other = GenOptions {
                seed: 2,
                ..options(scenario)
            };
            assert_ne!(a, other.messages().collect::<Vec<_>>(), "{scenario}");
        }
    }

    #[test]
    fn messages_are_in_kernel_order_within_the_duration() {
        for scenario in Scenario::ALL {
            let messages: Vec<Message> = options(scenario).messages().collect();
            assert!(!messages.is_empty());
            for (index, pair) in messages.windows(2).enumerate() {
                assert!(
                    pair[0].arrival_ns <= pair[1].arrival_ns,
                    "{scenario} at {index}"
                );
                assert_eq!(pair[0].global_seq + 1, pair[1].global_seq);
            }
            assert!(messages.iter().all(|m| m.arrival_ns < 2_000_000_000));
            for message in &messages {
                assert_eq!(message.deadline_ns.is_some(), message.is_auth());
            }
        }
    }

    #[test]
    fn steady_rate_is_close_to_asked() {
        let count = GenOptions::new(Scenario::Steady).messages().count() as f64;
        assert!(
            (count / 20_000.0 - 1.0).abs() < 0.03,
            "{count} messages in 10 s"
        );
    }

    #[test]
    fn scanner_opens_each_target_three_times_a_millisecond_later() {
        let messages: Vec<Message> = options(Scenario::Scanner).messages().collect();
        let is_scan = |m: &Message| m.is_es_client == Some(true);
        let (scans, rest): (Vec<&Message>, Vec<&Message>) =
            messages.iter().partition(|m| is_scan(m));
        let due = rest
            .iter()
            .filter(|m| m.arrival_ns + SCANNER_DELAY_NS < options(Scenario::Scanner).duration_ns)
            .count();
        assert_eq!(scans.len(), 3 * due);
        let first = rest[0];
        let opens: Vec<&&Message> = scans
            .iter()
            .filter(|m| m.arrival_ns == first.arrival_ns + SCANNER_DELAY_NS)
            .collect();
        assert_eq!(opens.len(), 3);
        assert!(opens.iter().all(|m| m.target_path == first.target_path
            && m.event == EventType::AUTH_OPEN
            && m.pid == Some(SCANNER_PID)));
    }

    #[test]
    fn flood_adds_one_process_hammering_one_file() {
        let messages: Vec<Message> = options(Scenario::Flood).messages().collect();
        let attack: Vec<&Message> = messages
            .iter()
            .filter(|m| m.pid == Some(ATTACKER_PID))
            .collect();
        // 20 000/s from 0.4 s to 2 s.
        assert!(
            (attack.len() as f64 / 32_000.0 - 1.0).abs() < 0.01,
            "{}",
            attack.len()
        );
        assert!(attack.iter().all(|m| m.arrival_ns >= 400_000_000));
        assert!(
            attack
                .iter()
                .all(|m| m.target_path.as_deref() == Some("/private/tmp/flood-target"))
        );
    }

    #[test]
    fn service_times_by_default_heavy_for_exec_storm_none_when_asked() {
        let storm: Vec<Message> = options(Scenario::ExecStorm).messages().collect();
        assert!(
            storm
                .iter()
                .all(|m| m.event == EventType::AUTH_EXEC && m.service_ns.is_some())
        );
        let mean = |messages: &[Message]| {
            messages.iter().filter_map(|m| m.service_ns).sum::<u64>() as f64 / messages.len() as f64
        };
        for scenario in Scenario::ALL {
            let messages: Vec<Message> = options(scenario).messages().collect();
            assert!(
                messages.iter().all(|m| m.service_ns.is_some()),
                "{scenario}"
            );
            if !matches!(scenario, Scenario::ExecStorm | Scenario::IoHeavy) {
                assert!(mean(&messages) < mean(&storm) / 5.0, "{scenario}");
            }
            let without = GenOptions {
                record_service: false,
                ..options(scenario)
            };
            assert!(
                without.messages().all(|m| m.service_ns.is_none()),
                "{scenario}"
            );
        }
    }

    #[test]
    fn service_draws_are_keyed_by_global_seq() {
        let mut with_service = options(Scenario::Mixed);
        with_service.service = Some("exp:50us".parse().unwrap());
        let distribution = with_service.service.unwrap();
        for message in with_service.messages().take(100) {
            let expected = distribution.sample(with_service.seed, DRAW_SERVICE, message.global_seq);
            assert_eq!(message.service_ns, Some(expected));
        }
    }
}
