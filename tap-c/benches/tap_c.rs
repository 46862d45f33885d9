//! The tap's per-message cost through the C ABI: `esr_message_received`
//! (plain fields, two paths), `esr_answered` and `esr_work_done` per
//! message, with the tap's writer thread draining behind.
//!
//! `cargo bench -p esreplay-tap-c --bench tap_c -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use esreplay_tap::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

const PROCESS: &[u8] = b"/Applications/Some App.app/Contents/MacOS/Some App";
const TARGET: &[u8] = b"/Users/someone/Library/Caches/com.example.app/data/0123456789.db";
/// Messages timed in a row; the writer drains the ring (untimed) between.
const BATCH: u64 = 4096;

fn fields(i: u64, paths: bool) -> esr_message_fields {
    let now = esr_now();
    let (process, target) = match paths {
        true => (PROCESS, TARGET),
        false => (&b""[..], &b""[..]),
    };
    esr_message_fields {
        present: ESR_HAS_DEADLINE | ESR_HAS_SEQ_NUM | ESR_HAS_GLOBAL_SEQ_NUM | ESR_HAS_PID,
        version: 8,
        event_type: 1,
        auth: true,
        mach_time: now,
        deadline: now + 1_000_000,
        seq_num: i,
        global_seq_num: i,
        thread_id: 0,
        pid: black_box(501),
        process_path: if paths {
            process.as_ptr().cast()
        } else {
            std::ptr::null()
        },
        process_path_len: process.len(),
        target_path: if paths {
            target.as_ptr().cast()
        } else {
            std::ptr::null()
        },
        target_path_len: target.len(),
    }
}

/// Times `iters` messages through the three calls.
fn timed(queue: *mut esr_queue, iters: u64, paths: bool) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = (iters - done).min(BATCH);
        let start = Instant::now();
        for i in 0..n {
            let fields = fields(i, paths);
            let mut token = std::mem::MaybeUninit::<esr_token>::uninit();
            // Safety: a live queue used by this thread only; the token is
            // filled before it is read.
            unsafe {
                esr_message_received(queue, &fields, token.as_mut_ptr());
                esr_answered(token.as_mut_ptr(), 0);
                black_box(esr_work_done(queue, token.as_mut_ptr()));
            }
        }
        total += start.elapsed();
        std::thread::sleep(Duration::from_millis(20)); // let the writer drain
        done += n;
    }
    total
}

fn bench_c_abi(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = std::ffi::CString::new(dir.path().join("b.esr").to_str().unwrap()).unwrap();
    let options = esr_tap_options {
        ring_capacity: 4 * BATCH as u32,
        reorder_window_ms: 1,
        ..esr_tap_options::default()
    };
    let (mut tap, mut queue) = (std::ptr::null_mut(), std::ptr::null_mut());
    // Safety: valid pointers; used by this thread only.
    unsafe {
        assert_eq!(esr_tap_open(path.as_ptr(), &options, &mut tap), ESR_OK);
        assert_eq!(esr_queue_new(tap, &mut queue), ESR_OK);
    }
    let mut group = c.benchmark_group("tap_c/received_answered_done");
    group.throughput(Throughput::Elements(1));
    for paths in [false, true] {
        let name = if paths { "with_paths" } else { "no_paths" };
        group.bench_function(name, |b| b.iter_custom(|iters| timed(queue, iters, paths)));
    }
    group.finish();
    let mut stats = esr_tap_stats::default();
    // Safety: the queue and tap are live; closed once.
    unsafe {
        esr_queue_free(queue);
        assert_eq!(esr_tap_close(tap, &mut stats), ESR_OK);
    }
    eprintln!(
        "tap_c bench: {} messages written, {} dropped",
        stats.messages, stats.dropped
    );
}

criterion_group!(benches, bench_c_abi);
criterion_main!(benches);
