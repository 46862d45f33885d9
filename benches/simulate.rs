//! Simulation throughput (messages/s) on a large generated in-memory
//! stream: inline, pool:8, edf:8 (and edf:8 under sustained overload, 1.6× its
//! capacity, its queue growing to hundreds of thousands), against the speed limit, a
//! plain loop over the same records; then the machine model: pool:8 and
//! edf:8 sharing 2 cores (`--cores 2`), and closed replay of the same
//! stream spread over 4 096 threads (inline, pool:8).
//!
//! `cargo bench --bench simulate` (figures in docs/simulator.md).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use esreplay_simulator::{CostModel, CpuConfig, SimConfig, SimResult, Simulator, StrategySpec};
use esreplay_traces::dist::{Distribution, unit};
use esreplay_traces::{Action, EventType, Message};

const MESSAGES: u64 = 1_000_000;

/// Poisson arrivals, mean gap `gap_ns`; lognormal service times recorded
/// in the trace; 15 s budgets; one in ten messages NOTIFY.
fn stream(gap_ns: f64, service: Distribution) -> Vec<Message> {
    let mut arrival = 0u64;
    (0..MESSAGES)
        .map(|i| {
            arrival += (-gap_ns * unit(1, 1, i).ln()) as u64;
            let notify = i % 10 == 9;
            let (event, action) = if notify {
                (EventType::NOTIFY_EXIT, Action::Notify)
            } else {
                (EventType::AUTH_OPEN, Action::Auth)
            };
            let mut message = Message::new(i, event, action, arrival);
            message.deadline_ns = (!notify).then_some(arrival + 15_000_000_000);
            message.service_ns = Some(service.sample(1, 2, i));
            message
        })
        .collect()
}

/// The same messages, caused by 4 096 threads in turn.
fn threaded(messages: &[Message]) -> Vec<Message> {
    let mut messages = messages.to_vec();
    for (i, message) in messages.iter_mut().enumerate() {
        message.pid = Some(1);
        message.thread_id = Some(i as u64 % 4096);
    }
    messages
}

fn simulate(messages: &[Message], spec: &StrategySpec, cost: &CostModel) -> SimResult {
    simulate_on(messages, spec, cost, SimConfig::default())
}

fn simulate_on(
    messages: &[Message],
    spec: &StrategySpec,
    cost: &CostModel,
    config: SimConfig,
) -> SimResult {
    let mut strategy = spec.build();
    let mut simulator = Simulator::new(&mut strategy, cost, config, ());
    for message in messages {
        simulator
            .push(message.clone())
            .expect("recorded service times");
    }
    simulator.finish().expect("recorded service times")
}

fn bench(c: &mut Criterion) {
    let service = Distribution::LogNormal {
        median_ns: 400,
        p99_ns: 4_000,
    };
    let normal = stream(1_000.0, service);
    let overload = stream(50.0, service);
    let cost = CostModel::trace();
    let mut group = c.benchmark_group("simulate");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(10);
    group.bench_function("plain-loop", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for message in black_box(&normal) {
                sum = sum.wrapping_add(message.arrival_ns ^ message.service_ns.unwrap_or(0));
            }
            sum
        })
    });
    for spec in ["inline", "pool:8", "edf:8"] {
        let parsed: StrategySpec = spec.parse().unwrap();
        group.bench_with_input(
            BenchmarkId::new("strategy", spec),
            &normal,
            |b, messages| b.iter(|| simulate(messages, &parsed, &cost)),
        );
    }
    let edf: StrategySpec = "edf:8".parse().unwrap();
    let peak = simulate(&overload, &edf, &cost).max_backlog;
    eprintln!("overload: edf:8 backlog peaks at {peak} messages");
    group.bench_with_input(
        BenchmarkId::new("overload", "edf:8"),
        &overload,
        |b, messages| b.iter(|| simulate(messages, &edf, &cost)),
    );
    let two_cores = SimConfig {
        cpu: CpuConfig {
            cores_milli: Some(2_000),
            ..CpuConfig::default()
        },
        ..SimConfig::default()
    };
    for spec in ["pool:8", "edf:8"] {
        let parsed: StrategySpec = spec.parse().unwrap();
        let config = two_cores.clone();
        group.bench_with_input(BenchmarkId::new("cores-2", spec), &normal, |b, messages| {
            b.iter(|| simulate_on(messages, &parsed, &cost, config.clone()))
        });
    }
    let threads = threaded(&normal);
    for spec in ["inline", "pool:8"] {
        let parsed: StrategySpec = spec.parse().unwrap();
        group.bench_with_input(
            BenchmarkId::new("closed-4096", spec),
            &threads,
            |b, messages| b.iter(|| simulate(messages, &parsed, &cost)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
