//! The lab's machine for a set of runs: `--cpus` pins this thread (the
//! client, the openers and the hogs it starts inherit the mask), `--hog N`
//! starts N CPU-bound processes that live as long as the [`Machine`]
//! (killed when it is dropped, on success, error or panic), and each run
//! samples the background track.

#[cfg(target_os = "linux")]
use std::time::Duration;

use anyhow::{Context, Result, bail};
use esreplay_lab::Observation;
use esreplay_simulator::StrategySpec;

use super::Setup;
use crate::cli::LabArgs;

/// Sampling period of the background track: 50 ms (a burst of the
/// schedules the lab runs lasts 200 ms: four samples; each sample reads
/// one file per thread on the machine, so more often would cost the run
/// itself CPU).
#[cfg(target_os = "linux")]
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// `--cpus` and `--hog`, validated.
#[derive(Clone, Debug, Default)]
pub(super) struct CpuPlan {
    /// CPUs to pin to (`None`: not pinned).
    pub cpus: Option<Vec<usize>>,
    /// CPU hogs to run.
    pub hogs: usize,
}

impl CpuPlan {
    pub fn parse(args: &LabArgs) -> Result<CpuPlan> {
        let cpus = args
            .cpus
            .as_deref()
            .map(parse_cpu_list)
            .transpose()
            .context("--cpus")?;
        if args.hog > 64 {
            bail!("--hog: at most 64 hogs");
        }
        Ok(CpuPlan {
            cpus,
            hogs: args.hog,
        })
    }
}

/// `0`, `0,1`, `0-3`, `0,2-3`: sorted, without repeats.
pub(super) fn parse_cpu_list(text: &str) -> Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number = |s: &str| -> Result<usize> {
            s.trim()
                .parse()
                .with_context(|| format!("{s:?} is not a CPU number"))
        };
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (number(from)?, number(to)?);
                anyhow::ensure!(from <= to && to < 1024, "bad CPU range {part:?}");
                cpus.extend(from..=to);
            }
            None => cpus.push(number(part)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    anyhow::ensure!(!cpus.is_empty(), "no CPU given");
    Ok(cpus)
}

/// The pinned thread and the hogs, for as long as the runs last.
pub(super) struct Machine {
    #[cfg(target_os = "linux")]
    hogs: esreplay_lab::cpu::Hogs,
    cores: usize,
    /// The pinned CPUs, if any.
    cpus: Option<Vec<usize>>,
}

impl Machine {
    /// Cores the prediction's CPU model gets: the pinned CPUs, else every
    /// online CPU.
    pub fn cores(&self) -> usize {
        self.cores
    }

    #[cfg(target_os = "linux")]
    pub fn start(plan: &CpuPlan) -> Result<Machine> {
        use esreplay_lab::cpu;
        let online = cpu::online_cpus();
        if let Some(cpus) = &plan.cpus {
            if let Some(&cpu) = cpus.iter().find(|&&c| c >= online) {
                bail!("--cpus: CPU {cpu} is not online (this machine has {online})");
            }
            cpu::pin_current_thread(cpus)?;
        }
        let cores = plan.cpus.as_ref().map_or(online, Vec::len);
        Ok(Machine {
            hogs: cpu::Hogs::start(plan.hogs)?,
            cores,
            cpus: plan.cpus.clone(),
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn start(_: &CpuPlan) -> Result<Machine> {
        bail!("esreplay lab needs Linux: it runs a real fanotify permission client")
    }

    /// One real run of `spec`.
    #[cfg(target_os = "linux")]
    pub fn observe(
        &self,
        setup: &Setup,
        spec: &StrategySpec,
        openers: usize,
    ) -> Result<Observation> {
        let mut experiment = esreplay_lab::Experiment::new(&setup.planned, spec);
        experiment.openers = openers;
        experiment.work = setup.work;
        experiment.threads = setup.threads.as_deref();
        experiment.kernel_queue = setup.kernel_queue;
        experiment.hogs = self.hogs.pids();
        experiment.background_cpus = self.cpus.clone();
        experiment.sample_every = Some(SAMPLE_EVERY);
        if setup.threads.is_some() {
            // Starting thousands of threads takes a while; a closed loop
            // runs longer than its schedule (every stall delays a thread).
            experiment.lead_in = Duration::from_millis(100 + openers as u64 / 10);
            experiment.timeout = Duration::from_secs(120);
        }
        match esreplay_lab::observe(&experiment) {
            Err(error) if error.is_not_permitted() => bail!(
                "esreplay lab needs root (CAP_SYS_ADMIN) for fanotify permission events: {error}"
            ),
            other => Ok(other?),
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn observe(&self, setup: &Setup, spec: &StrategySpec, _: usize) -> Result<Observation> {
        let _unused_here = (&setup.planned, setup.work, spec, &self.cpus);
        bail!("esreplay lab needs Linux: it runs a real fanotify permission client")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_into_sorted_sets() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("1,0,1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_list("0,2-3").unwrap(), vec![0, 2, 3]);
        for bad in ["", "a", "3-1", "0-99999", "-1"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad}");
        }
    }
}
