//! Many simulations of one trace, as `compare` and `sweep` run them, in
//! simulated messages per second (strategies × messages for `compare`):
//!
//! - `compare/decode-each`: every strategy decodes the trace itself (what
//!   `compare` did before it fanned out);
//! - `compare/decode-once`: one decode feeds every strategy, which is the
//!   CPU work of `compare` now (it runs the strategies on threads; here
//!   they run one after the other on each chunk, to count CPU alone);
//! - `sweep/headroom`: both headrooms of pool:8 from messages in memory.
//!
//! `cargo bench --bench replay_many` (figures in docs/performance.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use esreplay_simulator::sweep::headroom;
use esreplay_simulator::{CostModel, SimConfig, SimResult, Simulator, StrategySpec};
use esreplay_traces::synth::{GenOptions, Scenario};
use esreplay_traces::{Message, TraceReader, TraceWriter};

const MESSAGES: usize = 200_000;
const EIGHT: [&str; 8] = [
    "inline",
    "pool:2",
    "pool:4",
    "pool:8",
    "edf:2",
    "edf:8",
    "guard:1s:pool:4",
    "guard:1s:edf:2",
];

fn trace() -> (Vec<Message>, Vec<u8>) {
    let options = GenOptions {
        rate_per_s: 100_000.0,
        ..GenOptions::new(Scenario::Steady)
    };
    let messages: Vec<Message> = options.messages().take(MESSAGES).collect();
    let mut writer = TraceWriter::new(Vec::new(), &Default::default()).unwrap();
    for message in &messages {
        writer.write(message).unwrap();
    }
    (messages, writer.finish().unwrap())
}

fn decode(bytes: &[u8]) -> impl Iterator<Item = Message> + '_ {
    TraceReader::new(bytes).unwrap().map(Result::unwrap)
}

fn bench(c: &mut Criterion) {
    let (messages, bytes) = trace();
    let cost = CostModel::parse("const:500ns").unwrap();
    let config = SimConfig::default();
    let specs: Vec<StrategySpec> = EIGHT.iter().map(|s| s.parse().unwrap()).collect();
    let mut group = c.benchmark_group("replay_many");
    group.sample_size(10);
    group.throughput(Throughput::Elements((MESSAGES * EIGHT.len()) as u64));
    group.bench_function("compare/decode-each", |b| {
        b.iter(|| {
            let run = |spec: &StrategySpec| {
                let mut strategy = spec.build();
                let mut simulator = Simulator::new(&mut strategy, &cost, config.clone(), ());
                decode(black_box(&bytes)).for_each(|m| simulator.push(m).unwrap());
                simulator.finish().unwrap()
            };
            specs.iter().map(run).collect::<Vec<SimResult>>()
        })
    });
    group.bench_function("compare/decode-once", |b| {
        b.iter(|| {
            let mut strategies: Vec<_> = specs.iter().map(StrategySpec::build).collect();
            let mut simulators: Vec<_> = strategies
                .iter_mut()
                .map(|s| Simulator::new(s, &cost, config.clone(), ()))
                .collect();
            let mut chunk = Vec::with_capacity(4096);
            let mut messages = decode(black_box(&bytes)).peekable();
            while messages.peek().is_some() {
                chunk.clear();
                chunk.extend(messages.by_ref().take(4096));
                for simulator in &mut simulators {
                    chunk
                        .iter()
                        .for_each(|m| simulator.push(m.clone()).unwrap());
                }
            }
            simulators
                .into_iter()
                .map(|s| s.finish().unwrap())
                .collect::<Vec<_>>()
        })
    });
    group.throughput(Throughput::Elements(MESSAGES as u64));
    let pool: StrategySpec = "pool:8".parse().unwrap();
    group.bench_function("sweep/headroom", |b| {
        b.iter(|| {
            let open = || {
                messages
                    .iter()
                    .cloned()
                    .map(Ok::<_, std::convert::Infallible>)
            };
            headroom(open, &pool, &cost, &config, 0.01).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
