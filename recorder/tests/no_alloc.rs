//! The handler-side path (fill a `RawMessage`, stamp times, push) allocates
//! nothing in the steady state, nor does the ES handler's portable logic
//! (answer, copy with hashed paths, sequence tracking, push): checked with a
//! counting global allocator. The C ABI's path: tap-c/tests/no_alloc.rs.

use esreplay_recorder::handler::{Answer, EsFile, EsMessage};
use esreplay_recorder::{
    EsHandler, HashKey, InlineStr, PathMode, RawMessage, Tap, TapOptions, clock, ring,
};
use esreplay_traces::{EventType, Header};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::Ordering;

struct Counting;

thread_local! {
    /// This thread's allocations: the writer thread and the test harness
    /// allocate meanwhile, and are not what is measured.
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let _ = COUNT.try_with(|n| n.set(n.get() + 1));
}

/// This thread's allocations so far.
fn allocations() -> u64 {
    COUNT.with(Cell::get)
}

// Safety: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // Safety: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // Safety: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
