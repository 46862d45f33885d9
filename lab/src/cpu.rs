//! The CPU side of an experiment (Linux): pinning threads to CPUs
//! ([`pin_current_thread`], `sched_setaffinity`), CPU hogs in other
//! processes ([`Hogs`], killed when dropped), and the background track
//! ([`Sampler`]): other runnable threads, sampled from `/proc/stat`.
//!
//! The track is the number of runnable threads of *other* processes that
//! compete for the lab's CPUs: `procs_running` (machine-wide, from
//! `/proc/stat`) less this process's own runnable threads (state `R` in
//! `/proc/self/task/*/stat`). Threads of other processes are spread over
//! every CPU, so when the lab is pinned to k of the machine's n CPUs only
//! k/n of them count, except the hogs, which are pinned with the lab and
//! count whole.

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
    /// Hogs started for the run (pinned with the lab: they count whole).
    pub hogs: usize,
    /// The share of other processes' threads that land on the lab's CPUs.
    pub share: f64,
}

impl Sampler {
    /// Samples now, then every `every` until `stop`; returns the track.
    pub fn run(&self, clock: &Clock, stop: &AtomicBool) -> Vec<Sample> {
        let mut track = Vec::new();
        loop {
            let at_ns = clock.now_ns();
            if let Some(running) = procs_running() {
                let own = own_runnable_threads();
                let others = running.saturating_sub(own + self.hogs) as f64;
                let background = self.hogs as f64 + others * self.share;
                track.push(Sample { at_ns, background });
            }
            if stop.load(Ordering::Acquire) {
                return track;
            }
            std::thread::sleep(self.every);
        }
    }
}

/// `procs_running` from `/proc/stat`: runnable threads machine-wide.
pub fn procs_running() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_procs_running(&stat)
}

fn parse_procs_running(stat: &str) -> Option<usize> {
    stat.lines()
        .find_map(|line| line.strip_prefix("procs_running "))
        .and_then(|n| n.trim().parse().ok())
}

/// This process's threads in state R (running or runnable).
pub fn own_runnable_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter(|stat| thread_state(stat) == Some('R'))
        .count()
}

/// The state letter of a `/proc/…/stat` line (after the `(comm)` field,
/// which may hold spaces and parentheses).
fn thread_state(stat: &str) -> Option<char> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procs_running_and_thread_states_parse() {
        let stat = "cpu  1 2 3\nctxt 9\nprocs_running 7\nprocs_blocked 0\n";
        assert_eq!(parse_procs_running(stat), Some(7));
        assert_eq!(parse_procs_running("cpu 1\n"), None);
        assert_eq!(thread_state("12 (a b) c) S 1 2"), Some('S'));
        assert_eq!(thread_state("12 (lab-worker-0) R 1 2"), Some('R'));
        assert_eq!(thread_state("garbage"), None);
    }

    #[test]
    fn this_thread_counts_itself_as_runnable() {
        assert!(own_runnable_threads() >= 1);
        assert!(procs_running().is_some_and(|n| n >= 1));
        assert!(online_cpus() >= 1);
    }
}
