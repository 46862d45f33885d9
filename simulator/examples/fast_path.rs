//! A user-written strategy, plugged into the simulator through the public
//! [`Strategy`] trait: a **fast path** that answers a repeated AUTH_OPEN of
//! a target path the handler has already seen inline, from a verdict
//! cache (costing `hit_ns` on the handler), and sends everything else to a
//! FIFO pool of workers.
//!
//! Run with `cargo run --release -p esreplay-simulator --example fast_path`:
//! it generates a `flood` trace (one process hammering one file) and
//! compares the fast path with the built-in strategies, then runs it again
//! on 2 shared cores (the engine, not the strategy, owns the CPU). Its
//! conformance tests are at the end (docs/testing.md).

use std::collections::HashSet;
use std::sync::Arc;

use esreplay_simulator::strategy::FifoPool;
use esreplay_simulator::{
    CostModel, Job, Plan, SimConfig, Strategy, StrategySpec, Ticket, Time, results_table, simulate,
};
use esreplay_traces::synth::{GenOptions, Scenario};
use esreplay_traces::{EventType, Message};

/// Cached AUTH_OPEN verdicts answered on the handler; the rest on a pool.
struct FastPath {
    hit_ns: u64,
    seen: HashSet<Arc<str>>,
    pool: FifoPool,
}

impl FastPath {
    fn new(workers: u32, hit_ns: u64) -> FastPath {
        FastPath {
            hit_ns,
            seen: HashSet::new(),
            pool: FifoPool::new(workers),
        }
    }

    /// Whether `message` is an AUTH_OPEN of a path seen before (and
    /// remembers the path otherwise).
    fn cached(&mut self, message: &Message) -> bool {
        if message.event != EventType::AUTH_OPEN {
            return false;
        }
        match &message.target_path {
            Some(path) => !self.seen.insert(path.clone()),
            None => false,
        }
    }
}

impl Strategy for FastPath {
    fn name(&self) -> String {
        format!("fast-path:{}", self.pool.workers())
    }

    fn workers(&self) -> u32 {
        self.pool.workers()
    }

    fn plan(&mut self, job: &Job, message: &Message) -> Plan {
        if self.cached(message) {
            // Answer from the cache on the handler thread: the work is the
            // lookup, not the message's full service time.
            return Plan {
                work_ns: self.hit_ns,
                ..Plan::handler(job)
            };
        }
        self.pool.plan(job, message)
    }

    fn queue(&mut self, ticket: Ticket) {
        self.pool.queue(ticket);
    }

    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        self.pool.next(worker, now)
    }
}

fn main() {
    let options = GenOptions {
        duration_ns: 5_000_000_000,
        rate_per_s: 4_000.0,
        ..GenOptions::new(Scenario::Flood)
    };
    let messages: Vec<Message> = options.messages().collect();
    let cost = CostModel::parse("lognormal:200us:4ms")
        .expect("a valid cost model")
        .with_seed(1);
    let config = SimConfig {
        handoff_ns: 2_000,
        ..SimConfig::default()
    };
    // The engine owns the CPU: the same strategies on 2 shared cores.
    let shared = SimConfig {
        cpu: esreplay_simulator::CpuConfig {
            cores_milli: Some(2_000),
            ..Default::default()
        },
        ..config.clone()
    };
    let mut results = Vec::new();
    for spec in ["inline", "pool:4", "edf:4"] {
        let mut strategy = spec
            .parse::<StrategySpec>()
            .expect("a valid strategy")
            .build();
        results
            .push(simulate(messages.iter().cloned(), &mut strategy, &cost, &config).expect("runs"));
    }
    let mut fast = FastPath::new(4, 1_000);
    results.push(simulate(messages.iter().cloned(), &mut fast, &cost, &config).expect("runs"));
    let mut fast = FastPath::new(4, 1_000);
    let mut on_two_cores =
        simulate(messages.iter().cloned(), &mut fast, &cost, &shared).expect("runs");
    on_two_cores.strategy += " on 2 cores";
    results.push(on_two_cores);
    println!(
        "{} messages of a flood trace, service lognormal:200us:4ms, 2us hand-off:\n",
        messages.len()
    );
    print!("{}", results_table(&results));
}

// The conformance kit checks the fast path keeps the `Strategy` contract:
// `cargo test -p esreplay-simulator --features testing --example fast_path`.
#[cfg(feature = "testing")]
esreplay_simulator::conformance_tests!(conformance, || FastPath::new(2, 5));
