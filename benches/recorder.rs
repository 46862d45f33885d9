//! Recorder benchmarks: the handler-side copy + enqueue per message (with and
//! without paths), and the writer's sustained messages per second.
//!
//! `CARGO_TARGET_DIR=/work/target-rec2 cargo bench --bench recorder`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use esreplay_recorder::{Convert, RawMessage, Writer, WriterConfig, clock, ring};
use esreplay_traces::{EventType, Header};
use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROCESS: &[u8] = b"/Applications/Some App.app/Contents/MacOS/Some App";
const TARGET: &[u8] = b"/Users/someone/Library/Caches/com.example.app/data/0123456789.db";

/// What the ES handler does per message: read the clock, copy the fields,
/// (optionally) the paths, read the clock again, push.
#[inline]
fn handler_copy(i: u64, paths: bool) -> RawMessage {
    let entry = clock::now_ticks();
    let mut raw = RawMessage {
        mach_time: black_box(entry),
        deadline: Some(entry + 1_000_000),
        handler_entry: Some(entry),
        seq: Some(i),
        global_seq: Some(i),
        event: EventType::AUTH_OPEN.0,
        auth: true,
        pid: Some(black_box(501)),
        ..RawMessage::default()
    };
    if paths {
        raw.process_path.set(black_box(PROCESS));
        raw.target_path.set(black_box(TARGET));
    }
    raw.handler_exit = Some(clock::now_ticks());
    raw
}

/// Times `iters` pushes of `make(i)` in batches that fit the ring, draining
/// it (untimed) between batches.
fn timed_pushes(iters: u64, mut make: impl FnMut(u64) -> RawMessage) -> Duration {
    const BATCH: u64 = 4096;
    let (mut producer, mut consumer) = ring::<RawMessage>(BATCH as usize);
    // Touch every slot once so that page faults stay out of the timing.
    while producer.try_push(RawMessage::default()) {}
    while consumer.try_pop().is_some() {}
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = (iters - done).min(BATCH);
        let start = Instant::now();
        for i in 0..n {
            black_box(producer.try_push(make(i)));
        }
        total += start.elapsed();
        while consumer.try_pop().is_some() {}
        done += n;
    }
    total
}

fn bench_handler(c: &mut Criterion) {
    let mut group = c.benchmark_group("recorder/handler_copy_enqueue");
    group.throughput(Throughput::Elements(1));
    for paths in [false, true] {
        let name = if paths { "with_paths" } else { "no_paths" };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| timed_pushes(iters, |i| handler_copy(i, paths)));
        });
    }
    // The parts: one clock read, and a push of an already-filled record.
    group.bench_function("clock_read", |b| b.iter(clock::now_ticks));
    let raw = handler_copy(0, true);
    group.bench_function("push_prebuilt", |b| {
        b.iter_custom(|iters| timed_pushes(iters, |_| black_box(raw)));
    });
    group.finish();
}

fn bench_writer(c: &mut Criterion) {
    const N: usize = 65_536;
    let mut group = c.benchmark_group("recorder/writer");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    for paths in [false, true] {
        let name = if paths { "with_paths" } else { "no_paths" };
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let (mut producer, consumer) = ring::<RawMessage>(N);
                    for i in 0..N as u64 {
                        assert!(producer.try_push(handler_copy(i, paths)));
                    }
                    Arc::new(Mutex::new(vec![consumer]))
                },
                |rings| {
                    let config = WriterConfig {
                        convert: Convert::default(),
                        ..WriterConfig::default()
                    };
                    let stop = Arc::new(AtomicBool::new(true));
                    let out = Vec::with_capacity(N * 64);
                    let writer = Writer::spawn(out, &Header::default(), rings, stop, config);
                    let (bytes, stats) = writer.unwrap().finish().unwrap();
                    assert_eq!(stats.messages, N as u64);
                    black_box(bytes.len())
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench_handler, bench_writer);
criterion_main!(benches);
