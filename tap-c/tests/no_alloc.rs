//! The C ABI's per-message path (`esr_message_received`, `esr_answered`,
//! `esr_work_done`, including a full ring) allocates nothing: checked with a
//! global allocator that counts each thread's calls (the writer thread
//! allocates while it converts and encodes; it is not counted).

use esreplay_tap::*;

// The allocator is the recorder's test helper, shared with its own
// no_alloc test.
#[path = "../../recorder/tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

#[test]
fn the_per_message_c_path_does_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let path = std::ffi::CString::new(dir.path().join("t.esr").to_str().unwrap()).unwrap();
    let options = esr_tap_options {
        ring_capacity: 64, // small, so that the loop also drops
        ..esr_tap_options::default()
    };
    let mut tap = std::ptr::null_mut();
    let mut queue = std::ptr::null_mut();
    // Safety: valid pointers; the tap and queue are used on this thread only.
    unsafe {
        assert_eq!(esr_tap_open(path.as_ptr(), &options, &mut tap), ESR_OK);
        assert_eq!(esr_queue_new(tap, &mut queue), ESR_OK);
    }
    let target = vec![b'x'; 400]; // longer than the inline buffer
    let process = b"/usr/libexec/some-daemon";
    let before = allocations();
    let (mut accepted, mut dropped) = (0u64, 0u64);
    for i in 0..10_000u64 {
        let fields = esr_message_fields {
            present: ESR_HAS_DEADLINE | ESR_HAS_SEQ_NUM | ESR_HAS_GLOBAL_SEQ_NUM | ESR_HAS_PID,
            version: 8,
            event_type: 1,
            auth: true,
            mach_time: esr_now(),
            deadline: esr_now() + 1_000,
            seq_num: i,
            global_seq_num: i,
            thread_id: 0,
            pid: 7,
            process_path: process.as_ptr().cast(),
            process_path_len: process.len(),
            target_path: target.as_ptr().cast(),
            target_path_len: target.len(),
        };
        let mut token = std::mem::MaybeUninit::<esr_token>::uninit();
        // Safety: valid pointers; the token is filled before it is read.
        let status = unsafe {
            assert_eq!(
                esr_message_received(queue, &fields, token.as_mut_ptr()),
                ESR_OK
            );
            assert_eq!(esr_answered(token.as_mut_ptr(), 0), ESR_OK);
            let status = esr_work_done(queue, token.as_mut_ptr());
            // A spent token is refused.
            assert_eq!(esr_work_done(queue, token.as_mut_ptr()), ESR_ERR_INVALID);
            status
        };
        match status {
            ESR_OK => accepted += 1,
            ESR_DROPPED => dropped += 1,
            other => panic!("esr_work_done: {other}"),
        }
    }
    let allocated = allocations() - before;
    let probe = allocations();
    drop(std::hint::black_box(vec![1u8; 8]));
    assert!(allocations() > probe, "the counter counts this thread");
    let mut stats = esr_tap_stats::default();
    // Safety: the queue and tap are live and used once more here.
    unsafe {
        esr_queue_free(queue);
        assert_eq!(esr_tap_close(tap, &mut stats), ESR_OK);
    }
    assert_eq!(allocated, 0, "allocations on the C per-message path");
    assert!(dropped > 0, "the test must also cover a full ring");
    assert_eq!((stats.messages, stats.dropped), (accepted, dropped));
}

#[test]
fn unfilled_tokens_null_pointers_and_bad_paths_are_refused() {
    let mut token = std::mem::MaybeUninit::<esr_token>::zeroed();
    // Safety: a zeroed token is not filled: the calls must refuse it.
    unsafe {
        assert_eq!(esr_answered(token.as_mut_ptr(), 0), ESR_ERR_INVALID);
        assert_eq!(esr_answered(std::ptr::null_mut(), 0), ESR_ERR_NULL);
        assert_eq!(
            esr_work_done(std::ptr::null_mut(), token.as_mut_ptr()),
            ESR_ERR_NULL
        );
        let mut tap = std::ptr::null_mut();
        assert_eq!(
            esr_tap_open(std::ptr::null(), std::ptr::null(), &mut tap),
            ESR_ERR_NULL
        );
        assert!(!esr_last_error().is_null());
        let missing = c"/nonexistent-dir/x.esr";
        assert_eq!(
            esr_tap_open(missing.as_ptr(), std::ptr::null(), &mut tap),
            ESR_ERR_IO
        );
        let text = std::ffi::CStr::from_ptr(esr_last_error()).to_string_lossy();
        assert!(text.contains("No such file"), "{text}");
    }
}

#[test]
fn an_event_type_out_of_range_leaves_the_token_unfilled() {
    let dir = tempfile::tempdir().unwrap();
    let path = std::ffi::CString::new(dir.path().join("t.esr").to_str().unwrap()).unwrap();
    let (mut tap, mut queue) = (std::ptr::null_mut(), std::ptr::null_mut());
    let fields = esr_message_fields {
        present: 0,
        version: 0,
        event_type: 70_000,
        auth: false,
        mach_time: esr_now(),
        deadline: 0,
        seq_num: 0,
        global_seq_num: 0,
        thread_id: 0,
        pid: 0,
        process_path: std::ptr::null(),
        process_path_len: 0,
        target_path: std::ptr::null(),
        target_path_len: 0,
    };
    let mut token = std::mem::MaybeUninit::<esr_token>::uninit();
    let mut stats = esr_tap_stats::default();
    // Safety: valid pointers; used by this thread only.
    unsafe {
        assert_eq!(
            esr_tap_open(path.as_ptr(), std::ptr::null(), &mut tap),
            ESR_OK
        );
        assert_eq!(esr_queue_new(tap, &mut queue), ESR_OK);
        assert_eq!(
            esr_message_received(queue, &fields, token.as_mut_ptr()),
            ESR_ERR_INVALID
        );
        assert_eq!(esr_work_done(queue, token.as_mut_ptr()), ESR_ERR_INVALID);
        esr_queue_free(queue);
        assert_eq!(esr_tap_close(tap, &mut stats), ESR_OK);
    }
    assert_eq!((stats.messages, stats.dropped), (0, 0));
}
