//! The esreplay simulator: replays a stream of ES messages through a
//! scheduling [`Strategy`] and a [`CostModel`], deterministically, and
//! predicts deadline misses, the kill time, latency, backlog and
//! utilisation ([`SimResult`]), following DESIGN.md's simulation semantics
//! to the letter.
//!
//! - [`strategy`]: the [`Strategy`] trait and the built-ins `inline`,
//!   `pool:N`, `edf:N`, `guard:M:INNER`, `guard:P%:MIN:MAX:INNER`;
//! - [`spec`]: `--strategy` text ⇄ [`StrategySpec`] → `Box<dyn Strategy>`;
//! - [`cost`]: service times (`trace`, `const`, `exp`, `lognormal`, tables);
//! - [`engine`]: the streaming event loop ([`simulate`], [`Simulator`]),
//!   with optional per-message [`Outcome`]s through an [`Observer`];
//! - [`report`]: the result, as DESIGN.md's JSON and as a table;
//! - [`sweep`]: headroom by time compression and by cost scaling.
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
pub mod histogram;
pub mod report;
pub mod spec;
mod stats;
pub mod strategy;
pub mod sweep;

pub use cost::{CostError, CostModel, ServiceTime};
pub use engine::{
    MissMode, Observer, Outcome, SimConfig, SimError, Simulator, simulate, simulate_observed,
};
pub use report::{FirstMiss, Latency, SimResult, results_json, results_table};
pub use spec::{SpecError, StrategySpec};
pub use strategy::{Completion, Context, Job, Strategy};
