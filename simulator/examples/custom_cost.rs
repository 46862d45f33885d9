//! A user-written cost model, plugged into the simulator through the
//! public [`CostFn`] trait: a scanner whose work depends on the file, not
//! only on the event type. Files in a world-writable place
//! (`/private/tmp/`) get a full content scan (log-normal, median 60 us,
//! p99 600 us); everything else is a cheap lookup of a signed, known file
//! (30 us).
//!
//! Run with `cargo run --release -p esreplay-simulator --example
//! custom_cost`: it generates a `flood` trace (one process hammering one
//! file in /private/tmp over background load) and compares the strategies
//! under this model and under a flat 30 us: the flat model, with the same
//! typical cost, hides that inline falls 1.6 s behind (p99) once the
//! attacker's file needs scanning.
//!
//! The model keeps the simulator's fairness invariant: s_i is a pure
//! function of the seed and the message (the random part is a keyed draw
//! from [`esreplay_traces::dist`]), so every strategy sees the same costs.

use esreplay_simulator::cost::SERVICE_STREAM;
use esreplay_simulator::{
    CostError, CostFn, CostModel, SimConfig, StrategySpec, results_table, simulate,
};
use esreplay_traces::Message;
use esreplay_traces::dist::Distribution;
use esreplay_traces::synth::{GenOptions, Scenario};

/// A full scan for files in `untrusted`, a lookup for the rest.
struct Scanner {
    untrusted: &'static str,
    scan: Distribution,
    lookup_ns: u64,
}

impl CostFn for Scanner {
    fn service_ns(&self, seed: u64, message: &Message) -> Result<u64, CostError> {
        let target = message.target_path.as_deref().unwrap_or("");
        if target.starts_with(self.untrusted) {
            // Keyed by (seed, global_seq): the same draw in any order.
            Ok(self.scan.sample(seed, SERVICE_STREAM, message.global_seq))
        } else {
            Ok(self.lookup_ns)
        }
    }

    fn name(&self) -> String {
        format!("scanner({})", self.untrusted)
    }
}

fn main() {
    let options = GenOptions {
        duration_ns: 2_000_000_000,
        rate_per_s: 2_000.0,
        ..GenOptions::new(Scenario::Flood)
    };
    let messages: Vec<Message> = options.messages().collect();
    let scanner = Scanner {
        untrusted: "/private/tmp/",
        scan: Distribution::LogNormal {
            median_ns: 60_000,
            p99_ns: 600_000,
        },
        lookup_ns: 30_000,
    };
    let models = [
        ("scanner", CostModel::custom(scanner).with_seed(1)),
        ("flat 30us", CostModel::constant(30_000)),
    ];
    let config = SimConfig::default();
    for (label, cost) in &models {
        let results: Vec<_> = ["inline", "pool:2", "pool:4"]
            .iter()
            .map(|spec| {
                let mut strategy = spec
                    .parse::<StrategySpec>()
                    .expect("a valid strategy")
                    .build();
                simulate(messages.iter().cloned(), &mut strategy, cost, &config)
                    .expect("the scanner prices every message")
            })
            .collect();
        println!(
            "{} messages of a flood trace, cost {label}:\n",
            messages.len()
        );
        println!("{}", results_table(&results));
    }
}
