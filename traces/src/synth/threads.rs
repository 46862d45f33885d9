//! The scenarios with threads: `build`, `app-launch` and `thread-flood`.
//!
//! Every message has a pid and a thread id. Each thread is an actor that
//! emits one message, then waits a think time (at least 1 ns) before the
//! next, so its arrivals are strictly increasing: the stream an
//! unthrottled client (answering at once, stall σ = 0) would have recorded.
//! A closed-loop replay then holds each thread while its AUTH message
//! waits for an answer. Actors are merged in kernel order by a heap (ties
//! by actor creation order), memory O(threads).
//!
//! | scenario | threads | what each does |
//! | --- | --- | --- |
//! | `build` | 8 job slots, one compiler process (pid, thread) per job | AUTH_EXEC clang, AUTH_OPEN its source and 20–220 headers (think exp(8/`rate`)), a compile pause (log-normal, median 200 ms, p99 2 s), AUTH_OPEN of the object file, NOTIFY_CLOSE (modified), NOTIFY_EXIT; the next job 2 ms later (exp) |
//! | `app-launch` | 6 per launch, every 2 s from 0.2 s, plus the steady background | 200 AUTH_OPEN of libraries, frameworks and resources (think exp(6/(10 × `rate`))); the main thread starts with AUTH_EXEC |
//! | `thread-flood` | `--threads` N (default 64) of pid 6666, from 20 % of the run, plus the steady background | AUTH_OPEN of one file, think exp(N/(10 × `rate`)) |
//!
//! The steady background is the `steady` scenario's Poisson stream, each
//! of its 40 processes one thread.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use super::{
    DRAW_EVENT, DRAW_PROCESS, DRAW_TARGET, GenOptions, STREAM_BACKGROUND, Scenario, Stamp, Stream,
    describe_process, pick, set_thread,
};
use crate::dist::{self, Distribution};
use crate::event::EventType;
use crate::model::Message;

/// Job slots of `build` (`make -j8`).
pub const BUILD_SLOTS: u32 = 8;
/// Threads of each app in `app-launch`.
pub const LAUNCH_THREADS: u32 = 6;
/// Messages each launching thread sends.
pub const LAUNCH_OPENS: u32 = 200;
/// Time between app launches.
pub const LAUNCH_EVERY_NS: u64 = 2_000_000_000;
/// The flooding process of `thread-flood`.
pub const FLOOD_PID: u32 = 6666;

const DRAW_THINK: u64 = 20;
const DRAW_COUNT: u64 = 21;
const DRAW_KIND: u64 = 22;
/// Draw streams of actors start here (the background is stream 1).
const ACTOR_STREAMS: u64 = 1000;
/// Thread ids of the background processes: this plus the pid.
const BACKGROUND_TID: u64 = 100_000;
const BUILD_PID: u32 = 20_000;
const BUILD_TID: u64 = 5_000_000;
const LAUNCH_PID: u32 = 30_000;
const LAUNCH_TID: u64 = 6_000_000;
const FLOOD_TID: u64 = 6_666_000;

/// What an actor does.
#[derive(Clone, Copy, Debug)]
enum Role {
    /// A flooding thread.
    Flooder,
    /// A launching app's thread with `left` messages to send.
    Launch { app: u64, thread: u32, left: u32 },
    /// A build job slot running job `job`, at message `pos` of `last + 1`.
    Build {
        slot: u32,
        job: u64,
        pos: u32,
        last: u32,
    },
}

/// One thread.
#[derive(Clone, Debug)]
struct Actor {
    role: Role,
    stream: u64,
    step: u64,
    next_ns: u64,
}

/// The generator of the threaded scenarios.
pub(crate) struct ThreadGen {
    options: GenOptions,
    stamp: Stamp,
    actors: Vec<Actor>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    background: Option<Stream>,
}

impl ThreadGen {
    pub(crate) fn new(options: &GenOptions) -> ThreadGen {
        let mut generator = ThreadGen {
            options: options.clone(),
            stamp: Stamp::new(options),
            actors: Vec::new(),
            heap: BinaryHeap::new(),
            background: (options.scenario != Scenario::Build)
                .then(|| Stream::poisson(options, STREAM_BACKGROUND)),
        };
        match options.scenario {
            Scenario::Build => generator.add_build_slots(),
            Scenario::AppLaunch => generator.add_launches(),
            _ => generator.add_flooders(),
        }
        generator
    }

    fn draw(&self, stream: u64, what: u64, step: u64) -> f64 {
        dist::unit(self.options.seed, stream * 100 + what, step)
    }

    /// An exponential think time with this mean, at least 1 ns.
    fn think(&self, stream: u64, step: u64, mean_ns: f64) -> u64 {
        let uniform = self.draw(stream, DRAW_THINK, step);
        (-uniform.ln() * mean_ns).round().max(1.0) as u64
    }

    fn add(&mut self, role: Role, start_ns: u64) {
        let index = self.actors.len();
        self.actors.push(Actor {
            role,
            stream: ACTOR_STREAMS + index as u64,
            step: 0,
            next_ns: start_ns,
        });
        if start_ns < self.options.duration_ns {
            self.heap.push(Reverse((start_ns, index)));
        }
    }

    fn add_build_slots(&mut self) {
        for slot in 0..BUILD_SLOTS {
            let stream = ACTOR_STREAMS + u64::from(slot);
            let start = self.think(stream, u64::MAX, 2_000_000.0);
            let last = self.job_length(stream, 0);
            let role = Role::Build {
                slot,
                job: 0,
                pos: 0,
                last,
            };
            self.add(role, start);
        }
    }

    /// The index of a job's last message: exec (0), source (1), 20–220
    /// headers, object, close, exit (the last).
    fn job_length(&self, stream: u64, job: u64) -> u32 {
        let headers = 20 + (self.draw(stream, DRAW_COUNT, job) * 200.0) as u32;
        headers + 4
    }

    fn add_launches(&mut self) {
        let mut launch = 200_000_000;
        let mut app = 0;
        while launch < self.options.duration_ns {
            for thread in 0..LAUNCH_THREADS {
                let stagger = if thread == 0 {
                    0
                } else {
                    5_000_000 + self.think(ACTOR_STREAMS, app * 8 + u64::from(thread), 1e6)
                };
                let role = Role::Launch {
                    app,
                    thread,
                    left: LAUNCH_OPENS,
                };
                self.add(role, launch + stagger);
            }
            launch += LAUNCH_EVERY_NS;
            app += 1;
        }
    }

    fn add_flooders(&mut self) {
        let threads = self.options.threads.max(1);
        let mean = self.flood_think_ns();
        for thread in 0..threads {
            let start = self.options.duration_ns / 5
                + self.think(ACTOR_STREAMS + u64::from(thread), u64::MAX, mean);
            self.add(Role::Flooder, start);
        }
    }

    fn flood_think_ns(&self) -> f64 {
        f64::from(self.options.threads.max(1)) / (10.0 * self.options.rate_per_s) * 1e9
    }

    /// The next message of actor `index`, and its next arrival.
    fn emit(&mut self, index: usize) -> Message {
        let actor = self.actors[index].clone();
        let (message, next) = match actor.role {
            Role::Flooder => self.flood(&actor),
            Role::Launch { app, thread, left } => self.launch(&actor, app, thread, left),
            Role::Build {
                slot,
                job,
                pos,
                last,
            } => self.build(&actor, slot, job, pos, last),
        };
        let actor = &mut self.actors[index];
        actor.step += 1;
        if let Some((role, gap)) = next {
            actor.role = role;
            actor.next_ns = actor.next_ns.saturating_add(gap);
            if actor.next_ns < self.options.duration_ns {
                self.heap.push(Reverse((actor.next_ns, index)));
            }
        }
        message
    }

    fn with_paths(&self, message: &mut Message, process: &str, target: Option<String>) {
        if self.options.paths {
            message.process_path = Some(Arc::from(process));
            message.target_path = target.map(Arc::from);
        }
    }

    fn flood(&mut self, actor: &Actor) -> (Message, Option<(Role, u64)>) {
        let thread = actor.stream - ACTOR_STREAMS;
        let mut message = self.stamp.message(EventType::AUTH_OPEN, actor.next_ns);
        set_thread(&mut message, FLOOD_PID, FLOOD_TID + thread);
        let target = Some("/private/tmp/flood-target".to_owned());
        self.with_paths(&mut message, "/private/tmp/flooder", target);
        let gap = self.think(actor.stream, actor.step, self.flood_think_ns());
        (message, Some((Role::Flooder, gap)))
    }

    fn launch(
        &mut self,
        actor: &Actor,
        app: u64,
        thread: u32,
        left: u32,
    ) -> (Message, Option<(Role, u64)>) {
        let exec = thread == 0 && left == LAUNCH_OPENS;
        let event = if exec {
            EventType::AUTH_EXEC
        } else {
            EventType::AUTH_OPEN
        };
        let binary = format!("/Applications/App{}.app/Contents/MacOS/App", app % 40);
        let mut message = self.stamp.message(event, actor.next_ns);
        let pid = LAUNCH_PID + app as u32;
        set_thread(&mut message, pid, LAUNCH_TID + app * 8 + u64::from(thread));
        let target = if exec {
            binary.clone()
        } else {
            self.launch_target(actor, app)
        };
        self.with_paths(&mut message, &binary, Some(target));
        let mean = f64::from(LAUNCH_THREADS) / (10.0 * self.options.rate_per_s) * 1e9;
        let next = (left > 1).then(|| {
            let role = Role::Launch {
                app,
                thread,
                left: left - 1,
            };
            (role, self.think(actor.stream, actor.step, mean))
        });
        (message, next)
    }

    fn launch_target(&self, actor: &Actor, app: u64) -> String {
        let kind = self.draw(actor.stream, DRAW_KIND, actor.step);
        let which = self.draw(actor.stream, DRAW_TARGET, actor.step);
        let k = (which * which * 300.0) as u32;
        if kind < 0.4 {
            format!("/usr/lib/lib{k}.dylib")
        } else if kind < 0.7 {
            format!("/System/Library/Frameworks/F{k}.framework/F{k}")
        } else {
            format!("/Applications/App{}.app/Contents/Resources/r{k}", app % 40)
        }
    }

    fn build(
        &mut self,
        actor: &Actor,
        slot: u32,
        job: u64,
        pos: u32,
        last: u32,
    ) -> (Message, Option<(Role, u64)>) {
        let id = job * u64::from(BUILD_SLOTS) + u64::from(slot);
        let (event, target) = match pos {
            0 => (EventType::AUTH_EXEC, Some("/usr/bin/clang".to_owned())),
            1 => (EventType::AUTH_OPEN, Some(format!("/src/project/f{id}.c"))),
            p if p + 2 == last => (EventType::AUTH_OPEN, Some(format!("/src/build/f{id}.o"))),
            p if p + 1 == last => (EventType::NOTIFY_CLOSE, Some(format!("/src/build/f{id}.o"))),
            p if p == last => (EventType::NOTIFY_EXIT, None),
            _ => {
                let which = self.draw(actor.stream, DRAW_TARGET, actor.step);
                let header = (which * which * 400.0) as u32;
                (
                    EventType::AUTH_OPEN,
                    Some(format!("/usr/include/h{header}.h")),
                )
            }
        };
        let mut message = self.stamp.message(event, actor.next_ns);
        let pid = BUILD_PID.wrapping_add(id as u32);
        set_thread(&mut message, pid, BUILD_TID + id);
        if event == EventType::NOTIFY_CLOSE {
            let details = message.details.get_or_insert_with(Box::default);
            details.close_modified = Some(true);
        }
        let process = if pos == 0 {
            "/usr/bin/make"
        } else {
            "/usr/bin/clang"
        };
        self.with_paths(&mut message, process, target);
        let next = if pos < last {
            let gap = if pos + 3 == last {
                compile_pause().sample(self.options.seed, actor.stream * 100 + DRAW_THINK, id)
            } else {
                let mean = f64::from(BUILD_SLOTS) / self.options.rate_per_s * 1e9;
                self.think(actor.stream, actor.step, mean)
            };
            let role = Role::Build {
                slot,
                job,
                pos: pos + 1,
                last,
            };
            (role, gap.max(1))
        } else {
            let next_job = job + 1;
            let role = Role::Build {
                slot,
                job: next_job,
                pos: 0,
                last: self.job_length(actor.stream, next_job),
            };
            (role, self.think(actor.stream, actor.step, 2_000_000.0))
        };
        (message, Some(next))
    }

    /// A message of the steady background (one thread per process).
    fn background(&mut self, mut stream: Stream) -> Message {
        let key = |draw: u64| dist::unit(self.options.seed, stream.id * 100 + draw, stream.step);
        let (event_draw, process_draw, target_draw) =
            (key(DRAW_EVENT), key(DRAW_PROCESS), key(DRAW_TARGET));
        let event = pick(self.options.scenario.event_mix(), event_draw);
        let mut message = self.stamp.message(event, stream.next_arrival_ns);
        describe_process(&mut message, stream.id, process_draw, target_draw);
        let pid = message.pid.unwrap_or(0);
        set_thread(&mut message, pid, BACKGROUND_TID + u64::from(pid));
        if !self.options.paths {
            message.process_path = None;
            message.target_path = None;
        }
        stream.advance(&self.options);
        self.background = Some(stream);
        message
    }
}

/// The compile step of a build job: log-normal, median 200 ms, p99 2 s.
fn compile_pause() -> Distribution {
    Distribution::LogNormal {
        median_ns: 200_000_000,
        p99_ns: 2_000_000_000,
    }
}

impl Iterator for ThreadGen {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        let duration = self.options.duration_ns;
        let background_at = self
            .background
            .as_ref()
            .map(|stream| stream.next_arrival_ns)
            .filter(|&at| at < duration);
        let actor_at = self.heap.peek().map(|Reverse((at, _))| *at);
        match (background_at, actor_at) {
            (Some(b), a) if a.is_none_or(|a| b <= a) => {
                let stream = self.background.take()?;
                Some(self.background(stream))
            }
            (_, Some(_)) => {
                let Reverse((_, index)) = self.heap.pop()?;
                Some(self.emit(index))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn messages(scenario: Scenario, threads: u32) -> Vec<Message> {
        let options = GenOptions {
            duration_ns: 3_000_000_000,
            threads,
            ..GenOptions::new(scenario)
        };
        options.messages().collect()
    }

    /// Every message has a pid and a thread; each thread's arrivals are
    /// strictly increasing (no recorded stall: σ = 0).
    fn check_threads(messages: &[Message]) -> HashMap<(u32, u64), usize> {
        let mut last: HashMap<(u32, u64), u64> = HashMap::new();
        let mut counts = HashMap::new();
        for pair in messages.windows(2) {
            assert!(pair[0].arrival_ns <= pair[1].arrival_ns);
            assert_eq!(pair[0].global_seq + 1, pair[1].global_seq);
        }
        for message in messages {
            let pid = message.pid.expect("a pid");
            let thread = message.thread_id;
            let key = (pid, thread.expect("a thread id"));
            if let Some(previous) = last.insert(key, message.arrival_ns) {
                assert!(
                    previous < message.arrival_ns,
                    "thread {key:?} at {previous}"
                );
            }
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }

    #[test]
    fn floods_come_from_the_threads_asked() {
        for threads in [1, 64, 4096] {
            let all = messages(Scenario::ThreadFlood, threads);
            let counts = check_threads(&all);
            let flooders = counts.keys().filter(|(pid, _)| *pid == FLOOD_PID).count();
            assert_eq!(flooders, threads as usize);
            let flood = all.iter().filter(|m| m.pid == Some(FLOOD_PID)).count();
            // 20 000/s for 80 % of 3 s.
            assert!(
                (flood as f64 / 48_000.0 - 1.0).abs() < 0.1,
                "{threads} threads: {flood}"
            );
        }
    }

    #[test]
    fn a_build_runs_eight_slots_of_compiler_processes() {
        let all = messages(Scenario::Build, 0);
        check_threads(&all);
        let execs: Vec<&Message> = all
            .iter()
            .filter(|m| m.event == EventType::AUTH_EXEC)
            .collect();
        assert!(execs.len() >= 8, "{}", execs.len());
        // One compiler process per job: its exec, opens, close and exit.
        let closes = all.iter().filter(|m| m.event == EventType::NOTIFY_CLOSE);
        for close in closes {
            let details = close.details.as_ref().unwrap();
            assert_eq!(details.close_modified, Some(true));
            assert!(
                all.iter()
                    .any(|m| m.event == EventType::AUTH_EXEC && m.pid == close.pid)
            );
        }
    }

    #[test]
    fn an_app_launch_is_a_burst_from_six_threads_over_background() {
        let all = messages(Scenario::AppLaunch, 0);
        let counts = check_threads(&all);
        let first_app = LAUNCH_PID;
        let threads = counts.keys().filter(|(pid, _)| *pid == first_app).count();
        assert_eq!(threads, LAUNCH_THREADS as usize);
        let launch: Vec<&Message> = all.iter().filter(|m| m.pid == Some(first_app)).collect();
        assert_eq!(launch.len(), (LAUNCH_THREADS * LAUNCH_OPENS) as usize);
        assert_eq!(launch[0].event, EventType::AUTH_EXEC);
        assert!(all.iter().any(|m| m.pid.is_some_and(|pid| pid < 1000)));
    }

    #[test]
    fn threaded_scenarios_are_deterministic_and_keep_pids_without_paths() {
        for scenario in [Scenario::Build, Scenario::AppLaunch, Scenario::ThreadFlood] {
            assert_eq!(messages(scenario, 8), messages(scenario, 8), "{scenario}");
            let options = GenOptions {
                duration_ns: 1_000_000_000,
                paths: false,
                ..GenOptions::new(scenario)
            };
            let all: Vec<Message> = options.messages().collect();
            assert!(all.iter().all(|m| m.target_path.is_none()));
            check_threads(&all);
        }
    }
}
