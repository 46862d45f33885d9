//! eslogger import speed in MB/s of JSON (both passes, into an in-memory
//! trace): `cargo bench --bench eslogger_import`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use esreplay_eslogger::{ImportOptions, import};

/// About 20 MB of capture: the v10 fixture's lines (exec, open, create,
/// rename, unlink, write, close, fork, signal, exit, ...) repeated with
/// advancing clocks and sequence numbers.
fn capture() -> Vec<u8> {
    let fixture =
        std::fs::read(esreplay_tests::root().join("eslogger/tests/fixtures/v10_mixed.jsonl"))
            .unwrap();
    let lines: Vec<serde_json::Value> = fixture
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    let mut out = Vec::new();
    let mut step = 0u64;
    while out.len() < 20 << 20 {
        for line in &lines {
            let mut line = line.clone();
            line["mach_time"] = (59_541_127_000_000 + step * 2_400).into();
            line["global_seq_num"] = step.into();
            serde_json::to_writer(&mut out, &line).unwrap();
            out.push(b'\n');
            step += 1;
        }
    }
    out
}

fn bench_import(c: &mut Criterion) {
    let capture = capture();
    let mut group = c.benchmark_group("eslogger_import");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(capture.len() as u64));
    group.bench_function("v10_mixed", |b| {
        b.iter(|| {
            let options = ImportOptions::default();
            let (trace, report) = import(
                || Ok(black_box(capture.as_slice())),
                &options,
                "bench",
                Vec::new(),
                |_| {},
            )
            .unwrap();
            (trace.len(), report.messages)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_import);
criterion_main!(benches);
