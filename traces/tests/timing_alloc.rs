//! Decoding for a simulation ([`Fields::Timing`]) allocates per chunk,
//! never per message, also for a recording with thread ids, answer times,
//! paths and further details in every message; the full decode boxes each
//! message's details (which shows the count sees allocations at all).

#[path = "../../recorder/tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;
use esreplay_traces::{
    Action, Details, EventType, Fields, Header, Message, TraceReader, TraceWriter,
};

const MESSAGES: u64 = 40_000;

/// A recording of 64 threads, ~10 chunks.
fn threaded_trace() -> Vec<u8> {
    let mut writer = TraceWriter::new(Vec::new(), &Header::default()).unwrap();
    for i in 0..MESSAGES {
        let mut m = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * 1_000);
        m.deadline_ns = Some(i * 1_000 + 5_000);
        m.pid = Some(7);
        m.thread_id = Some(i % 64);
        m.response_ns = Some(i * 1_000 + 500);
        m.process_path = Some("/bin/p".into());
        m.target_path = Some(format!("/f{}", i % 100).into());
        m.details = Some(Box::new(Details {
            euid: Some(501),
            ..Details::default()
        }));
        writer.write(&m).unwrap();
    }
    writer.finish().unwrap()
}

/// Allocations while decoding `bytes` with `fields`, and the messages
/// that kept their thread id and answer time.
fn decode(bytes: &[u8], fields: Fields) -> (u64, usize) {
    let before = allocations();
    let mut reader = TraceReader::new(bytes).unwrap().fields(fields);
    let mut kept = 0;
    while let Some(batch) = reader.next_batch() {
        let batch = batch.unwrap();
        let closed = |m: &&Message| m.thread_id.is_some() && m.response_ns.is_some();
        kept += batch.iter().filter(closed).count();
    }
    (allocations() - before, kept)
}

/// One test function: the count is per thread, and nothing else runs.
#[test]
fn timing_decode_allocates_per_chunk_not_per_message() {
    let bytes = threaded_trace();
    let (timing, kept) = decode(&bytes, Fields::Timing);
    assert_eq!(kept as u64, MESSAGES);
    assert!(timing < 200, "{timing} allocations for {MESSAGES} messages");
    let (all, kept) = decode(&bytes, Fields::All);
    assert_eq!(kept as u64, MESSAGES);
    assert!(all > MESSAGES, "{all}: every message's details boxed");
}
