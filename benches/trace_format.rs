//! Decode and encode speed of the trace format, in messages per second:
//! `cargo bench --bench trace_format`. `decode` reads every field,
//! `decode-timing` what a simulation reads ([`Fields::Timing`]: no
//! strings, no boxed details, thread ids kept), on traces without and
//! with paths and on a 64-thread flood (a thread id in every message).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use esreplay_traces::synth::{GenOptions, Scenario};
use esreplay_traces::{Fields, Message, TraceReader, TraceWriter};

fn messages(scenario: Scenario, paths: bool) -> Vec<Message> {
    let options = GenOptions {
        paths,
        // The workload measured since the start: no service times.
        record_service: false,
        rate_per_s: 100_000.0,
        ..GenOptions::new(scenario)
    };
    options.messages().take(1_000_000).collect()
}

fn encode(messages: &[Message]) -> Vec<u8> {
    let mut writer = TraceWriter::new(Vec::new(), &Default::default()).unwrap();
    for message in messages {
        writer.write(message).unwrap();
    }
    writer.finish().unwrap()
}

fn bench_format(c: &mut Criterion) {
    let mut group = c.benchmark_group("trace_format");
    group.sample_size(10);
    let traces = [
        ("steady", Scenario::Steady, false),
        ("steady+paths", Scenario::Steady, true),
        ("thread-flood", Scenario::ThreadFlood, false),
    ];
    for (name, scenario, paths) in traces {
        let messages = messages(scenario, paths);
        let bytes = encode(&messages);
        group.throughput(Throughput::Elements(messages.len() as u64));
        for (step, fields) in [("decode", Fields::All), ("decode-timing", Fields::Timing)] {
            group.bench_function(format!("{step}/{name}"), |b| {
                b.iter(|| {
                    let reader = TraceReader::new(black_box(bytes.as_slice())).unwrap();
                    let mut last = 0;
                    for message in reader.fields(fields) {
                        last = message.unwrap().arrival_ns;
                    }
                    last
                })
            });
        }
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| encode(black_box(&messages)).len())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_format);
criterion_main!(benches);
