//! The handler-side path (fill a `RawMessage`, stamp times, push) allocates
//! nothing in the steady state, nor does the ES handler's portable logic
//! (answer, copy with hashed paths, sequence tracking, push): checked with a
//! counting global allocator. The C ABI's path: tap-c/tests/no_alloc.rs.

use esreplay_recorder::handler::{Answer, EsFile, EsMessage};
use esreplay_recorder::{
    EsHandler, HashKey, InlineStr, PathMode, RawMessage, Tap, TapOptions, clock, ring,
};
use esreplay_traces::{EventType, Header};
use std::sync::atomic::Ordering;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

fn fill(i: u64, path: &[u8]) -> RawMessage {
    let mut raw = RawMessage {
        mach_time: clock::now_ticks(),
        deadline: Some(i + 1_000),
        seq: Some(i),
        global_seq: Some(i),
        event: EventType::AUTH_OPEN.0,
        auth: true,
        pid: Some(7),
        ..RawMessage::default()
    };
    raw.target_path.set(path);
    raw.process_path = InlineStr::from_bytes(b"/usr/bin/true");
    raw
}

/// One test function so that no other test thread allocates meanwhile.
#[test]
fn push_path_and_tap_path_do_not_allocate() {
    let path = vec![b'x'; 400]; // longer than the inline buffer
    let (mut producer, mut consumer) = ring::<RawMessage>(1024);
    let _ = clock::now_ticks(); // initialises the clock's base
    let before = allocations();
    let mut accepted = 0u64;
    for i in 0..10_000 {
        accepted += u64::from(producer.try_push(fill(i, &path)));
        if i % 3 == 0 {
            let _ = consumer.try_pop();
        }
    }
    let ring_allocs = allocations() - before;
    let probe = allocations();
    drop(std::hint::black_box(vec![1u8; 8]));
    assert!(allocations() > probe, "the counter counts this thread");
    assert!(producer.dropped() > 0, "the test must also cover overflow");
    assert_eq!(accepted + producer.dropped(), 10_000);
    assert_eq!(ring_allocs, 0, "allocations on the ring's push path");

    let tap = Tap::start_with(std::io::sink(), Header::default(), TapOptions::default()).unwrap();
    let mut handle = tap.handle();
    // The writer thread allocates (conversion, encoding): not counted.
    let before = allocations();
    for i in 0..1_000 {
        let token = handle.received(fill(i, &path));
        assert!(handle.done(token));
    }
    let after = allocations();
    assert_eq!(after - before, 0, "allocations in Tap::received and done");
    tap.finish().unwrap();

    // The ES handler, with hashed paths and a ring small enough to drop.
    let (producer, _consumer) = ring::<RawMessage>(64);
    let mut handler = EsHandler::new(producer, PathMode::Hashed(HashKey::new(1, 2)));
    let before = allocations();
    let mut pushed = 0;
    for i in 0..1_000u64 {
        let message = EsMessage {
            version: 8,
            global_seq_num: Some(i + i / 10), // with gaps
            auth: true,
            target: Some(EsFile {
                path: &path,
                ..EsFile::default()
            }),
            ..EsMessage::default()
        };
        let allow = || Answer { verdict: Some(0) };
        pushed += u64::from(handler.handle(clock::now_ticks(), true, allow, || message));
    }
    let after = allocations();
    assert_eq!(after - before, 0, "allocations in EsHandler::handle");
    assert_eq!(pushed, 64, "the rest were dropped and counted");
    assert!(handler.counts().es_gaps.load(Ordering::Relaxed) > 0);
}
