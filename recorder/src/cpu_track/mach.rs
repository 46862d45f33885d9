//! macOS: the machine's busy CPUs from the host's tick counters
//! (`host_statistics(HOST_CPU_LOAD_INFO)`: user, system, idle and nice
//! ticks summed over the CPUs) less the recorder's own CPU time
//! (`getrusage(RUSAGE_SELF)`: every thread of the process, the ES
//! handler's included), over each period. Only the system calls live
//! here; the arithmetic is [`super::ticks`], tested on every OS.

use super::Probe;
use super::ticks::{Reading, other_busy_cpus};
use std::io;
use std::time::Instant;

/// Reads the tick counters and the recorder's CPU time.
pub struct TickProbe {
    host: mach2::port::mach_port_t,
    cpus: u32,
    started: Instant,
    /// The reading the next interval starts from, with its trace time.
    before: Option<(u64, Reading)>,
}

impl TickProbe {
    /// A probe for this machine (fails if the counters cannot be read).
    pub fn new() -> io::Result<TickProbe> {
        let cpus = std::thread::available_parallelism()?.get();
        let probe = TickProbe {
            // Safety: mach_host_self has no preconditions; the right is
            // kept for the probe's life (taking it once, not per reading).
            host: unsafe { mach2::mach_init::mach_host_self() },
            cpus: u32::try_from(cpus).unwrap_or(u32::MAX),
            started: Instant::now(),
            before: None,
        };
        probe.reading()?;
        Ok(probe)
    }

    fn reading(&self) -> io::Result<Reading> {
        let mut info = libc::host_cpu_load_info { cpu_ticks: [0; 4] };
        let mut count = libc::HOST_CPU_LOAD_INFO_COUNT;
        // Safety: `info` is a writable host_cpu_load_info of `count`
        // integers, the size HOST_CPU_LOAD_INFO fills in.
        let status = unsafe {
            libc::host_statistics(
                self.host,
                libc::HOST_CPU_LOAD_INFO,
                (&raw mut info).cast(),
                &mut count,
            )
        };
        if status != libc::KERN_SUCCESS {
            return Err(io::Error::other(format!(
                "host_statistics(HOST_CPU_LOAD_INFO) failed: kern_return {status}"
            )));
        }
        let ticks = info.cpu_ticks;
        let state = |index: libc::c_int| ticks[usize::try_from(index).unwrap_or(0)];
        Ok(Reading {
            user: state(libc::CPU_STATE_USER),
            system: state(libc::CPU_STATE_SYSTEM),
            idle: state(libc::CPU_STATE_IDLE),
            nice: state(libc::CPU_STATE_NICE),
            own_ns: own_cpu_ns()?,
            wall_ns: u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX),
        })
    }
}

impl Probe for TickProbe {
    fn describe(&self) -> String {
        "busy CPUs less the recorder's own (host_statistics HOST_CPU_LOAD_INFO ticks, \
         getrusage RUSAGE_SELF)"
            .into()
    }

    fn read(&mut self, t_ns: u64) -> io::Result<Option<(u64, f64)>> {
        let now = self.reading()?;
        let Some((since, before)) = self.before else {
            self.before = Some((t_ns, now));
            return Ok(None);
        };
        let load = other_busy_cpus(&before, &now, self.cpus);
        // No tick yet: the interval goes on; otherwise the next one starts.
        if load.is_some() || !now.same_ticks(&before) {
            self.before = Some((t_ns, now));
        }
        Ok(load.map(|load| (since, load)))
    }
}

/// This process's user + system CPU time, ns.
fn own_cpu_ns() -> io::Result<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // Safety: `usage` is writable; getrusage fills it when it returns 0.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: getrusage returned 0.
    let usage = unsafe { usage.assume_init() };
    let ns = |time: libc::timeval| {
        let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
        let micros = u64::try_from(time.tv_usec).unwrap_or(0);
        seconds * 1_000_000_000 + micros * 1_000
    };
    Ok(ns(usage.ru_utime) + ns(usage.ru_stime))
}
