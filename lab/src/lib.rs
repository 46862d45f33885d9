//! The lab: predicted versus observed on a real kernel. Linux fanotify
//! permission events are ES AUTH events' twin (the opener stalls until the
//! listener answers), so the lab runs a real client with a strategy's
//! threading design against a real load, and logs what every stalled
//! syscall saw, for `esreplay lab` to compare with the simulator's
//! prediction on the same arrivals.
//!
//! - [`plan`]: how a simulator strategy (`inline`, `pool:N`, `edf:N`,
//!   guards) runs with real threads ([`Base`], the guards' margins, [`Work`]);
//! - [`record`]: the schedule ([`Planned`]), what happened ([`Record`]),
//!   and measurements on records (backlog, fanotify costs τ and ρ);
//! - [`fidelity`]: the prediction for a run (the simulator on the same
//!   arrivals, calibrated with the measured costs) next to what was
//!   observed; [`records`]: every open's record as JSON lines;
//! - Linux only: the client (`client`, `queue`, `ticket`: the reading
//!   thread, workers, the guards' watchdog; service times spent as real
//!   CPU work), the load generator ([`generator`], open or closed loop),
//!   [`run`] and [`observe`], which run one experiment in a fresh
//!   temporary directory, [`cpu`] (pinning, CPU hogs, the background
//!   track) and [`kernel_queue`] (fanotify's queue limit, lowered for one
//!   run and restored).
//!
//! # Example
//!
//! ```no_run
//! # #[cfg(target_os = "linux")]
//! # fn main() -> Result<(), esreplay_lab::LabError> {
//! use esreplay_lab::{Experiment, Planned, run};
//! use esreplay_simulator::StrategySpec;
//!
//! // 100 opens 5 ms apart, 2 ms of work each, on a pool of 2 workers.
//! let planned: Vec<Planned> = (0..100)
//!     .map(|i| Planned { offset_ns: i * 5_000_000, service_ns: 2_000_000, budget_ns: None })
//!     .collect();
//! let pool = StrategySpec::Pool(2);
//! let records = run(&Experiment::new(&planned, &pool))?;
//! for r in &records {
//!     assert!(r.return_ns - r.call_ns >= 2_000_000); // the stall covers the work
//! }
//! # Ok(()) }
//! # #[cfg(not(target_os = "linux"))]
//! # fn main() {}
//! ```
#![warn(missing_docs)]

pub mod calibration;
pub mod fidelity;
pub mod plan;
pub mod record;
pub mod records;
pub mod summary;

#[cfg(target_os = "linux")]
mod client;
#[cfg(target_os = "linux")]
pub mod cpu;
#[cfg(target_os = "linux")]
mod experiment;
#[cfg(target_os = "linux")]
pub mod generator;
#[cfg(target_os = "linux")]
pub mod kernel_queue;
#[cfg(target_os = "linux")]
mod queue;
#[cfg(target_os = "linux")]
mod ticket;

#[cfg(target_os = "linux")]
pub use experiment::{Experiment, observe, run};
pub use plan::{Base, Work};
pub use record::{
    Answerer, Clock, Costs, Observation, Planned, Record, Sample, Served, backlog_at,
    max_lateness_ns, mean_background,
};

/// Why an experiment failed.
#[cfg(target_os = "linux")]
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A fanotify call failed (e.g. not permitted: not root).
    #[error(transparent)]
    Fanotify(#[from] esreplay_fanotify::Error),
    /// A file or thread operation failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The client gave up before every open returned.
    #[error("the experiment did not finish within its timeout (every pending open was allowed)")]
    TimedOut,
    /// A thread panicked.
    #[error("{0} panicked")]
    Panicked(&'static str),
}

#[cfg(target_os = "linux")]
impl LabError {
    /// Whether fanotify permission events are not permitted here (not
    /// root): callers and tests skip rather than fail.
    pub fn is_not_permitted(&self) -> bool {
        matches!(self, LabError::Fanotify(error) if error.is_not_permitted())
    }
}
