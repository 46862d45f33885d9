//! The esreplay simulator: replays a stream of ES messages through a
//! scheduling [`Strategy`] and a [`CostModel`], deterministically, and
//! predicts deadline misses, the kill time, latency, backlog and
//! utilisation ([`SimResult`]), following the simulation semantics of
//! docs/simulator.md to the letter.
//!
//! - [`strategy`]: the [`Strategy`] trait and the built-ins `inline`,
//!   `pool:N`, `edf:N`, `guard:M:INNER`, `guard:P%:MIN:MAX:INNER`;
//! - [`spec`]: `--strategy` text ⇄ [`StrategySpec`] → `Box<dyn Strategy>`;
//! - [`cost`]: service times (`trace`, `const`, `exp`, `lognormal`, tables,
//!   or a [`CostFn`] of your own through [`CostModel::custom`]);
//! - [`engine`]: the streaming event loop that owns the machine (kernel
//!   queue, handler, workers, shared CPU, timers, blocked threads):
//!   [`simulate`], [`Simulator`], with optional per-message [`Outcome`]s
//!   through an [`Observer`];
//! - [`kernel`]: ES muting and the ES AUTH cache, as what-ifs, at arrival;
//! - [`report`]: the result, as JSON and as a table;
//! - [`sweep`]: headroom by time compression and by cost scaling;
//! - [`margins`]: guard margins that swallow whole budgets (a warning);
//! - `testing` (feature `testing`): trace generators and the conformance
//!   kit for strategies, the user's own included (docs/testing.md).
//!
//! # Semantics in one screen
//!
//! Per message i in stream (kernel) order: v_i = a_i + τ; the single
//! handler takes it at h_i = max(v_i, H). `inline` works on it there
//! (H = h_i + s_i); `pool:N` and `edf:N` pay the hand-off c_h (H = h_i + c_h)
//! and queue a job ready at q_i = h_i + c_h for N workers, in FIFO order or
//! by (d_i, global_seq) with NOTIFY last. A guard answers with the default
//! verdict at g_i = max(d_i − M_i, h_i) when g_i < f_i, and drops a job that
//! would start strictly after g_i. r_i = answer + ρ; a miss is an AUTH
//! message with r_i > d_i. Ties: a job ready at t is visible to a worker
//! that frees at t; a message answered at t is not in the backlog at t.
//! Times are integer nanoseconds, saturating at `u64::MAX`.
//!
//! On top of that, each a flag: closed replay (a thread blocked on an AUTH
//! message sends nothing until the kernel has the answer, a'_j = a_j + δ),
//! a finite kernel queue (drops answered by the kernel at arrival), fail
//! modes (the kernel answers a late message at d'), and processor sharing
//! among the client's runnable threads and a background load on C cores
//! (then times are exact fixed point, reported rounded up). See
//! [`engine`] and docs/simulator.md.
//!
//! # Plugging in a strategy
//!
//! Implement [`Strategy`] (its documentation has a complete example; the
//! built-ins are the reference) and pass it to [`simulate`] or
//! [`Simulator`]; `simulator/examples/fast_path.rs` is a larger one
//! (`custom_cost.rs` plugs in a cost model the same way). To
//! see each message's fate (for plots or a timeline export), pass an
//! [`Observer`] (any `FnMut(&Outcome)`) to [`simulate_observed`].
//!
//! # Example
//!
//! ```
//! use esreplay_simulator::{simulate, CostModel, SimConfig, StrategySpec};
//! use esreplay_traces::{Action, EventType, Message};
//!
//! // Ten AUTH_OPENs at once, 1 ms budget each, 300 us of work each.
//! let messages: Vec<Message> = (0..10)
//!     .map(|i| {
//!         let mut m = Message::new(i, EventType::AUTH_OPEN, Action::Auth, 0);
//!         m.deadline_ns = Some(1_000_000);
//!         m
//!     })
//!     .collect();
//! let cost = CostModel::parse("const:300us").unwrap();
//! let config = SimConfig::default();
//! let run = |spec: &str| {
//!     let mut strategy = spec.parse::<StrategySpec>().unwrap().build();
//!     simulate(messages.iter().cloned(), &mut strategy, &cost, &config).unwrap()
//! };
//! assert_eq!(run("inline").misses, 7); // answers at 0.3, 0.6, 0.9, 1.2 ms...
//! assert_eq!(run("inline").killed_at_ns, Some(1_000_000));
//! assert_eq!(run("pool:4").misses, 0); // 3 rounds of 0.3 ms
//! ```
#![warn(missing_docs)]

pub mod cost;
pub mod engine;
pub mod kernel;
pub mod margins;
mod prefetch;
pub mod report;
/// Latency percentiles: the traces crate's one histogram.
pub use esreplay_traces::histogram;
pub mod spec;
mod stats;
pub mod strategy;
pub mod sweep;
#[cfg(feature = "testing")]
pub mod testing;
mod varint;

pub use cost::{CostError, CostFn, CostModel, ServiceTime};
pub use engine::{
    Background, BackgroundTrack, CpuConfig, GuardTimer, MissMode, Observer, Outcome, PushedMessage,
    ReplayMode, SimConfig, SimError, Simulator, Time, simulate, simulate_observed,
};
pub use report::{FirstMiss, Latency, SimResult, results_json, results_table};
pub use spec::{SpecError, StrategySpec};
pub use strategy::{Job, Plan, Runner, Strategy, Ticket};
