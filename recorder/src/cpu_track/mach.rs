//! macOS: the machine's busy CPUs from the per-CPU tick counters
//! (`host_processor_info(PROCESSOR_CPU_LOAD_INFO)`: user, system, idle and
//! nice ticks of every CPU) less the recorder's own CPU time
//! (`getrusage(RUSAGE_SELF)`: every thread of the process, the ES
//! handler's included), over each period; over a period with no idle CPU,
//! at least the kernel's 5-second mean of runnable threads
//! (`host_statistics(HOST_LOAD_INFO)`, `avenrun[0]`) less the recorder's
//! own CPUs. `host_statistics` is not used for the ticks
//! (`HOST_CPU_LOAD_INFO`, the same sums in one call): the kernel answers a
//! binary that is not Apple's from a cache after 2 to 10 calls a second,
//! which is plenty for a 5-second mean, read at most once a second. Only
//! the system calls live here; the arithmetic is [`super::ticks`], tested
//! on every OS.

use super::Probe;
use super::ticks::{Interval, Reading};
use std::io;
use std::time::{Duration, Instant};

/// `LOAD_SCALE` of `<mach/processor_info.h>`: load averages are integers
/// in thousandths.
const LOAD_SCALE: f64 = 1000.0;

/// How long a read load average is reused.
const LOAD_MEAN_REUSED_FOR: Duration = Duration::from_secs(1);

/// `host_load_info` of `<mach/host_info.h>`: the 5-, 30- and 60-second
/// means of runnable threads and the matching "mach factors".
#[repr(C)]
#[derive(Default)]
struct HostLoadInfo {
    avenrun: [libc::integer_t; 3],
    mach_factor: [libc::integer_t; 3],
}

/// Reads the tick counters and the recorder's CPU time.
pub struct TickProbe {
    host: mach2::port::mach_port_t,
    started: Instant,
    /// The reading the next interval starts from, with its trace time and
    /// the CPUs it counted.
    before: Option<(u64, Reading, u32)>,
    /// The last 5-second mean of runnable threads read, and when.
    runnable_mean: Option<(Instant, f64)>,
}

impl TickProbe {
    /// A probe for this machine (fails if the counters cannot be read).
    pub fn new() -> io::Result<TickProbe> {
        let probe = TickProbe {
            // Safety: mach_host_self has no preconditions; the right is
            // kept for the probe's life (taken once, not per reading).
            host: unsafe { mach2::mach_init::mach_host_self() },
            started: Instant::now(),
            before: None,
            runnable_mean: None,
        };
        probe.reading()?;
        Ok(probe)
    }

    /// The counters summed over the CPUs, the own and wall times, and the
    /// CPU count.
    fn reading(&self) -> io::Result<(Reading, u32)> {
        let (ticks, cpus) = self.per_cpu_sums()?;
        let reading = Reading {
            own_ns: own_cpu_ns()?,
            wall_ns: u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            ..ticks
        };
        Ok((reading, cpus))
    }

    fn per_cpu_sums(&self) -> io::Result<(Reading, u32)> {
        let mut cpus: libc::natural_t = 0;
        let mut array: libc::processor_info_array_t = std::ptr::null_mut();
        let mut count: libc::mach_msg_type_number_t = 0;
        // Safety: the out-pointers are valid; on success the kernel maps an
        // array of `count` integers into this task and hands it over.
        let status = unsafe {
            libc::host_processor_info(
                self.host,
                libc::PROCESSOR_CPU_LOAD_INFO,
                &mut cpus,
                &mut array,
                &mut count,
            )
        };
        if status != libc::KERN_SUCCESS || array.is_null() {
            return Err(io::Error::other(format!(
                "host_processor_info(PROCESSOR_CPU_LOAD_INFO) failed: kern_return {status}"
            )));
        }
        let len = usize::try_from(count).unwrap_or(0);
        // Safety: `array` holds `count` integers (above) until deallocated.
        let sums = Reading::from_per_cpu(unsafe { std::slice::from_raw_parts(array, len) });
        // Safety: the array was mapped into this task for this call and is
        // released once, after its last use.
        unsafe {
            libc::vm_deallocate(
                mach2::traps::mach_task_self(),
                array as libc::vm_address_t,
                len * std::mem::size_of::<libc::integer_t>(),
            );
        }
        sums.ok_or_else(|| io::Error::other("host_processor_info: no CPU load counters"))
    }
}

impl Probe for TickProbe {
    fn describe(&self) -> String {
        "busy CPUs less the recorder's own (host_processor_info PROCESSOR_CPU_LOAD_INFO \
         ticks, getrusage RUSAGE_SELF); on a full machine at least the 5-second mean of \
         runnable threads less the recorder's CPUs (HOST_LOAD_INFO)"
            .into()
    }

    fn read(&mut self, t_ns: u64) -> io::Result<Option<(u64, f64)>> {
        let (now, cpus) = self.reading()?;
        let Some((since, before, before_cpus)) = self.before else {
            self.before = Some((t_ns, now, cpus));
            return Ok(None);
        };
        let interval = match cpus == before_cpus {
            true => Interval::between(&before, &now, cpus),
            false => None, // a CPU went on or off line: start afresh
        };
        let load = interval.map(|interval| {
            let mean = interval.full().then(|| self.runnable_mean()).flatten();
            interval.other_load(mean)
        });
        // No tick yet: the interval goes on; otherwise the next one starts.
        if load.is_some() || !now.same_ticks(&before) {
            self.before = Some((t_ns, now, cpus));
        }
        Ok(load.map(|load| (since, load)))
    }
}

impl TickProbe {
    /// The kernel's 5-second mean of runnable threads (`None` if it cannot
    /// be read), read at most once a second.
    fn runnable_mean(&mut self) -> Option<f64> {
        if let Some((read_at, mean)) = self.runnable_mean
            && read_at.elapsed() < LOAD_MEAN_REUSED_FOR
        {
            return Some(mean);
        }
        let mut info = HostLoadInfo::default();
        let mut count = u32::try_from(
            std::mem::size_of::<HostLoadInfo>() / std::mem::size_of::<libc::integer_t>(),
        )
        .ok()?;
        // Safety: `info` is a writable host_load_info of `count` integers,
        // the size HOST_LOAD_INFO fills in.
        let status = unsafe {
            libc::host_statistics(
                self.host,
                libc::HOST_LOAD_INFO,
                (&raw mut info).cast(),
                &mut count,
            )
        };
        if status != libc::KERN_SUCCESS {
            return None;
        }
        let mean = f64::from(info.avenrun[0]) / LOAD_SCALE;
        self.runnable_mean = Some((Instant::now(), mean));
        Some(mean)
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
