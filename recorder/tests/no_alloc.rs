//! The handler-side path (fill a `RawMessage`, stamp times, push) allocates
//! nothing in the steady state: checked with a counting global allocator.

use esreplay_recorder::{InlineStr, RawMessage, Tap, TapOptions, clock, ring};
use esreplay_traces::{EventType, Header};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// Safety: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // Safety: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut accepted = 0u64;
    for i in 0..10_000 {
        accepted += u64::from(producer.try_push(fill(i, &path)));
        if i % 3 == 0 {
            let _ = consumer.try_pop();
        }
    }
    let ring_allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert!(producer.dropped() > 0, "the test must also cover overflow");
    assert_eq!(accepted + producer.dropped(), 10_000);
    assert_eq!(ring_allocs, 0, "allocations on the ring's push path");

    let tap = Tap::start_with(std::io::sink(), Header::default(), TapOptions::default()).unwrap();
    let mut handle = tap.handle();
    // The writer thread allocates (conversion, encoding); count only this
    // thread's calls by pausing it: nothing is queued while we measure.
    let token = handle.received(fill(0, &path));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let token2 = handle.received(fill(1, &path));
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(handle.done(token));
    assert!(handle.done(token2));
    assert_eq!(after - before, 0, "allocations in Tap::received");
    tap.finish().unwrap();
}
