//! The CPU side of an experiment (Linux): pinning threads to CPUs
//! ([`pin_current_thread`], `sched_setaffinity`), CPU hogs in other
//! processes ([`Hogs`], killed when dropped), and the background track
//! (`Sampler`): other processes' runnable threads, from `/proc`.
//!
//! The track is the CPU the lab's openers and sampler used (from their
//! `schedstat`), plus what the runnable threads (state `R` in
//! `/proc/PID/task/TID/stat`) of *other* processes weigh against one of
//! the lab's threads ([`Runnable::others`]):
//! the scheduler shares a CPU between autogroups (sessions) first, then
//! between their threads by nice weight, so another session counts its
//! group's weight relative to the lab's (1 at equal autogroup nice levels:
//! `/proc/PID/autogroup`) however many threads it runs, and a thread of
//! the lab's own session counts its nice weight (a nice-10 thread 0.107).
//! Not `procs_running` from `/proc/stat`: on a machine
//! shared with other sessions' builds it counted 20 where the lab's
//! threads felt about 1.
//! When the lab is pinned, only the threads waiting on its CPUs count
//! (`processor`, field 39 of the thread's stat).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::LabError;
use crate::record::{Clock, Sample};

/// CPUs this machine has online (`sysconf(_SC_NPROCESSORS_ONLN)`, ≥ 1).
pub fn online_cpus() -> usize {
    // Safety: sysconf takes an integer and reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Pins the calling thread to `cpus` (threads and processes it starts
/// afterwards inherit the mask).
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), LabError> {
    let io = |source| LabError::Io {
        what: format!("pin to CPUs {cpus:?}"),
        source,
    };
    // Safety: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io(std::io::Error::other("no such CPU")));
        }
        // Safety: `cpu` is below CPU_SETSIZE, checked above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // Safety: `set` is a live cpu_set_t of the size passed; pid 0 is the
    // calling thread.
    let status =
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if status != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// N CPU-bound processes (`sh -c 'while :; do :; done'`), each one
/// runnable thread, started with this thread's CPU mask; killed and reaped
/// when dropped (also on an error or a panic), and sent SIGKILL by the
/// kernel if the thread that started them dies first.
#[derive(Debug)]
pub struct Hogs {
    children: Vec<Child>,
}

impl Hogs {
    /// Starts `n` hogs.
    pub fn start(n: usize) -> Result<Hogs, LabError> {
        let mut hogs = Hogs {
            children: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let child = hog_command().spawn().map_err(|source| LabError::Io {
                what: "start a CPU hog (sh)".into(),
                source,
            })?;
            hogs.children.push(child); // killed by `drop` if a later one fails
        }
        Ok(hogs)
    }

    /// How many run.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Whether none run.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Their process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }
}

fn hog_command() -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("sh");
    command
        .args(["-c", "while :; do :; done"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Safety: the closure runs in the forked child before exec and calls
    // only prctl, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Samples the background track on its own thread until stopped.
pub(crate) struct Sampler {
    /// Sampling period.
    pub every: Duration,
    /// The hogs' process ids (pinned with the lab: they count whole).
    pub hogs: Vec<u32>,
    /// The CPUs the lab is pinned to (`None`: not pinned, every CPU).
    pub cpus: Option<Vec<usize>>,
}

impl Sampler {
    /// Samples now, then every `every` until `stop`; returns the track.
    ///
    /// Each sample is the runnable threads elsewhere at that instant,
    /// plus, over the interval that follows it, the CPU the lab's own
    /// non-client threads used (the openers and this sampler, read from
    /// their `schedstat` when the next sample is taken): they share the
    /// lab's CPUs with the client, but run in short bursts that a
    /// snapshot of run states would count as whole threads (8 to 12 of
    /// them in a burst, where together they used about 0.1 of a core).
    pub fn run(&self, clock: &Clock, stop: &AtomicBool) -> Vec<Sample> {
        let mut track: Vec<Sample> = Vec::new();
        let mut own = OwnThreads::default();
        let mut used_ns = own.cpu_ns();
        loop {
            let at_ns = clock.now_ns();
            if let Some(last) = track.last_mut() {
                let now_used = own.cpu_ns();
                let wall = at_ns.saturating_sub(last.at_ns).max(1);
                last.background += now_used.saturating_sub(used_ns) as f64 / wall as f64;
                used_ns = now_used;
            }
            let load = runnable_elsewhere(&self.hogs, self.cpus.as_deref());
            let background = load.hogs as f64 + load.others;
            track.push(Sample { at_ns, background });
            if stop.load(Ordering::Acquire) {
                return track;
            }
            std::thread::sleep(self.every);
        }
    }
}

/// This process's load generator threads, found once each (their names
/// are read when a thread id is first seen), so that a sample reads one
/// `schedstat` per opener.
#[derive(Default)]
struct OwnThreads {
    /// Thread id → whether it is an opener.
    known: std::collections::HashMap<u32, bool>,
}

impl OwnThreads {
    /// CPU time (ns) used so far by the openers (the first field of
    /// `/proc/self/task/TID/schedstat`: time on a CPU) and by the calling
    /// thread (`CLOCK_THREAD_CPUTIME_ID`).
    fn cpu_ns(&mut self) -> u64 {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return thread_cpu_ns();
        };
        let mut sum = thread_cpu_ns();
        for task in tasks.filter_map(Result::ok) {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let opener = *self.known.entry(tid).or_insert_with(|| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|comm| is_load_generator(&comm))
            });
            if opener {
                let stat = std::fs::read_to_string(task.path().join("schedstat"));
                sum += stat.ok().and_then(|text| on_cpu_ns(&text)).unwrap_or(0);
            }
        }
        sum
    }
}

/// The calling thread's CPU time, ns.
fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // Safety: `now` is a live timespec; the clock id is a constant.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return 0;
    }
    u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(now.tv_nsec).unwrap_or(0)
}

/// Whether a thread name (`comm`) is one of the lab's openers
/// (`lab-opener-K` in the open loop, `lab-thread` in the closed one).
fn is_load_generator(comm: &str) -> bool {
    let comm = comm.trim_end();
    comm.starts_with("lab-opener-") || comm == "lab-thread"
}

/// The first field of a `schedstat` line: ns spent on a CPU.
fn on_cpu_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// Runnable threads of other processes, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Runnable {
    /// Runnable threads of the hogs.
    pub hogs: usize,
    /// What every other process's runnable threads weigh against one of
    /// the lab's threads: each thread of
    /// the lab's own scheduling group (its session's autogroup) by its
    /// nice weight relative to nice 0 (a nice-10 thread counts 0.107);
    /// each *other* autogroup with a runnable thread as its group's weight
    /// relative to the lab's group (1 at equal autogroup nice levels),
    /// whatever its threads (the scheduler shares a CPU between autogroups
    /// first, then between their threads). Without autogroups every
    /// thread counts by its nice weight.
    pub others: f64,
    /// Those threads, unweighted and ungrouped.
    pub others_unweighted: usize,
}

/// Scans `/proc/*/task/*/stat` (not this process) for threads in state R;
/// with `cpus`, only those last on one of them (field 39, `processor`: a
/// runnable thread waits on that CPU's run queue).
pub fn runnable_elsewhere(hogs: &[u32], cpus: Option<&[usize]>) -> Runnable {
    let me = std::process::id();
    let grouped = autogroups_enabled();
    let mine = grouped.then(|| autogroup_of(me)).flatten();
    let my_weight = mine
        .as_ref()
        .map_or(NICE_0_WEIGHT, |(_, nice)| nice_weight(*nice));
    let mut load = Runnable::default();
    let mut other_groups = std::collections::BTreeMap::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return load;
    };
    for process in processes.filter_map(Result::ok) {
        let name = process.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let nices = runnable_nices(pid, cpus);
        if nices.is_empty() {
            continue;
        }
        if hogs.contains(&pid) {
            load.hogs += nices.len();
            continue;
        }
        load.others_unweighted += nices.len();
        let group = grouped.then(|| autogroup_of(pid)).flatten();
        match group {
            Some((group, nice)) if Some(&group) != mine.as_ref().map(|(g, _)| g) => {
                other_groups.insert(group, nice);
            }
            // The lab's own group: each thread by its nice weight.
            Some(_) => load.others += weight_sum(&nices, NICE_0_WEIGHT),
            // The root group (no autogroup: kernel threads, the init
            // session) or no autogroups: each thread beside the lab's group.
            None => load.others += weight_sum(&nices, my_weight),
        }
    }
    load.others += other_groups
        .values()
        .map(|&nice| nice_weight(nice) / my_weight)
        .sum::<f64>();
    load
}

/// Σ weight(nice) ÷ `relative_to`.
fn weight_sum(nices: &[i32], relative_to: f64) -> f64 {
    nices.iter().map(|&n| nice_weight(n) / relative_to).sum()
}

/// The nice values of a process's threads in state R (on `cpus`, if given).
fn runnable_nices(pid: u32, cpus: Option<&[usize]>) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter_map(|stat| match state_nice_cpu(&stat) {
            Some(('R', nice, cpu)) if cpus.is_none_or(|cpus| cpus.contains(&cpu)) => Some(nice),
            _ => None,
        })
        .collect()
}

/// Whether the scheduler groups processes by session (`CONFIG_SCHED_AUTOGROUP`).
fn autogroups_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled")
        .is_ok_and(|v| v.trim() == "1")
}

/// A process's autogroup and the group's nice level
/// (`/proc/PID/autogroup`: `/autogroup-7 nice 0`).
fn autogroup_of(pid: u32) -> Option<(String, i32)> {
    parse_autogroup(&std::fs::read_to_string(format!("/proc/{pid}/autogroup")).ok()?)
}

fn parse_autogroup(text: &str) -> Option<(String, i32)> {
    let mut words = text.split_whitespace();
    let name = words.next()?.to_owned();
    let nice = match (words.next(), words.next()) {
        (Some("nice"), Some(nice)) => nice.parse().ok()?,
        _ => 0,
    };
    Some((name, nice))
}

/// The kernel's weight of nice 0 (`sched_prio_to_weight[20]`).
const NICE_0_WEIGHT: f64 = 1024.0;

/// The kernel's CPU weight of a nice level (`sched_prio_to_weight`,
/// kernel/sched/core.c): each level about 1.25× the next.
fn nice_weight(nice: i32) -> f64 {
    const WEIGHTS: [u32; 40] = [
        88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100,
        4904, 3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172,
        137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
    ];
    f64::from(WEIGHTS[(nice.clamp(-20, 19) + 20) as usize])
}

/// The state letter, the nice value and the CPU of a `/proc/…/stat` line
/// (fields 3, 19 and 39, counted after the `(comm)` field, which may hold
/// spaces and parentheses).
fn state_nice_cpu(stat: &str) -> Option<(char, i32, usize)> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let nice = fields.get(16)?.parse().ok()?;
    let cpu = fields.get(36)?.parse().ok()?;
    Some((state, nice, cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_states_nice_levels_and_cpus_parse() {
        // Fields 3 (state), 19 (nice) and 39 (processor) of proc(5).
        let fields = |state: &str, nice: i32, cpu: usize| {
            let mut rest: Vec<String> = (4..=52).map(|n| n.to_string()).collect();
            rest[19 - 4] = nice.to_string();
            rest[39 - 4] = cpu.to_string();
            format!("12 (a b) c) {state} {}", rest.join(" "))
        };
        assert_eq!(state_nice_cpu(&fields("R", 10, 1)), Some(('R', 10, 1)));
        assert_eq!(state_nice_cpu(&fields("S", -5, 0)), Some(('S', -5, 0)));
        assert_eq!(state_nice_cpu("7 (x) R 1 2"), None);
        assert_eq!(
            parse_autogroup("/autogroup-7 nice -20\n"),
            Some(("/autogroup-7".into(), -20))
        );
        assert_eq!(
            parse_autogroup("/autogroup-7"),
            Some(("/autogroup-7".into(), 0))
        );
        assert_eq!(parse_autogroup(""), None);
        assert_eq!(state_nice_cpu("garbage"), None);
        assert_eq!(nice_weight(0), NICE_0_WEIGHT);
        assert_eq!(nice_weight(19), 15.0);
        assert_eq!(nice_weight(99), 15.0);
        assert!(nice_weight(-1) > nice_weight(0));
    }

    #[test]
    fn a_hog_counts_as_one_runnable_thread_of_its_own() {
        assert!(online_cpus() >= 1);
        let hogs = Hogs::start(1).unwrap();
        // Give it a moment to be running; it stays runnable from then on.
        std::thread::sleep(Duration::from_millis(50));
        let load = runnable_elsewhere(&hogs.pids(), None);
        assert!(load.hogs <= 1, "{load:?}");
        assert!(load.others >= 0.0);
    }
}
