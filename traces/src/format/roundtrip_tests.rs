//! Property tests of the whole format: round trips, truncation at every
//! byte, bit flips, salvage.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::event::{Action, EventType};
use crate::model::{ClockAnchor, Details, Header, Message, Source, Timebase};

fn arb_text() -> impl Strategy<Value = Arc<str>> {
    prop_oneof![
        Just(Arc::from("/usr/bin/true")),
        Just(Arc::from("/tmp/f")),
        "[a-z/é]{0,12}".prop_map(Arc::from),
    ]
}

fn arb_details() -> impl Strategy<Value = Details> {
    (
        (any::<Option<u32>>(), any::<Option<u64>>()),
        (
            any::<Option<u32>>(),
            any::<Option<u32>>(),
            any::<Option<u32>>(),
        ),
        (any::<Option<u32>>(), any::<Option<u32>>()),
        (
            proptest::option::of(arb_text()),
            proptest::option::of(arb_text()),
        ),
        (
            any::<Option<bool>>(),
            any::<Option<u64>>(),
            any::<Option<u64>>(),
        ),
        any::<Option<bool>>(),
    )
        .prop_map(|(a, b, c, d, e, close_modified)| Details {
            message_version: a.0,
            handler_exit_ns: a.1,
            verdict: b.0,
            open_fflag: b.1,
            pidversion: b.2,
            euid: c.0,
            ppid: c.1,
            signing_id: d.0,
            team_id: d.1,
            platform_binary: e.0,
            target_dev: e.1,
            target_ino: e.2,
            close_modified,
        })
}

/// Thread id, response time, ES-client flag and the boxed details.
type AllDetails = (Option<u64>, Option<u64>, Option<bool>, Option<Box<Details>>);

/// The details a message can have: the inline facts (thread id, response
/// time, ES-client flag) and the box, as a decoder gives them back (an
/// empty box only when no inline fact is there: the trace format stores
/// one details block for both).
fn arb_all_details() -> impl Strategy<Value = AllDetails> {
    (
        any::<Option<u64>>(),
        any::<Option<u64>>(),
        any::<Option<bool>>(),
        proptest::option::of(arb_details().prop_map(Box::new)),
    )
        .prop_map(|(thread_id, response_ns, is_es_client, details)| {
            let inline = thread_id.is_some() || response_ns.is_some() || is_es_client.is_some();
            let empty = details.as_deref().is_some_and(|d| *d == Details::default());
            let details = if inline && empty { None } else { details };
            (thread_id, response_ns, is_es_client, details)
        })
}

/// Any message at all, including values near the top of u64.
pub(crate) fn arb_message() -> impl Strategy<Value = Message> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            prop_oneof![0u16..160, any::<u16>()],
        ),
        (
            any::<bool>(),
            any::<u64>(),
            any::<Option<u64>>(),
            any::<Option<u64>>(),
        ),
        (any::<Option<u64>>(), any::<Option<u32>>()),
        (
            proptest::option::of(arb_text()),
            proptest::option::of(arb_text()),
        ),
        arb_all_details(),
    )
        .prop_map(|(ids, times, more, paths, details)| Message {
            global_seq: ids.0,
            seq: ids.1,
            event: EventType(ids.2),
            action: if times.0 {
                Action::Auth
            } else {
                Action::Notify
            },
            arrival_ns: times.1,
            deadline_ns: times.2,
            received_ns: times.3,
            service_ns: more.0,
            pid: more.1,
            thread_id: details.0,
            response_ns: details.1,
            is_es_client: details.2,
            process_path: paths.0,
            target_path: paths.1,
            details: details.3,
        })
}

/// A plausible stream: increasing sequence numbers and arrivals.
fn arb_stream(max: usize) -> impl Strategy<Value = Vec<Message>> {
    proptest::collection::vec((0u64..2_000_000, 0u16..3, any::<bool>()), 0..max).prop_map(|steps| {
        let mut arrival = 0;
        steps
            .into_iter()
            .enumerate()
            .map(|(index, (gap, kind, with_path))| {
                arrival += gap;
                let mut message =
                    Message::new(index as u64, EventType(kind), Action::Auth, arrival);
                message.deadline_ns = Some(arrival + 15_000_000_000);
                if with_path {
                    message.target_path = Some(Arc::from(format!("/tmp/{}", index % 3)));
                }
                message
            })
            .collect()
    })
}

fn sample_header() -> Header {
    let mut header = Header {
        source: Some(Source::Es),
        timebase: Timebase::APPLE_SILICON,
        start: ClockAnchor {
            mach_absolute: 1,
            mach_continuous: 2,
            wall_ns: 3,
        },
        os_version: Some("26.1".into()),
        os_build: None,
        hardware_model: Some("Mac14,2".into()),
        cpu_count: Some(8),
        subscribed: vec![EventType::AUTH_OPEN, EventType(999)],
        tool: "test".into(),
        tool_version: "0".into(),
        ..Header::default()
    };
    header.meta.insert("k".into(), "v".into());
    header
}

pub(crate) fn encode(messages: &[Message], chunk_messages: usize, finish: bool) -> Vec<u8> {
    let mut writer = TraceWriter::new(Vec::new(), &sample_header())
        .unwrap()
        .with_chunk_messages(chunk_messages);
    for message in messages {
        writer.write(message).unwrap();
    }
    if finish {
        writer.add_dropped(3);
        writer.finish().unwrap()
    } else {
        writer.flush().unwrap();
        // What a crash leaves: the chunks, no footer.
        writer.get_ref().clone()
    }
}

/// Reads everything; the messages read before an error, and the error.
fn read_all(bytes: &[u8], salvage: bool) -> (Vec<Message>, Option<TraceError>, ReadSummary) {
    read_batches(bytes, salvage, usize::MAX)
}

proptest! {
    #[test]
    fn any_messages_round_trip(messages in proptest::collection::vec(arb_message(), 0..40),
                               chunk in 1usize..8) {
        let bytes = encode(&messages, chunk, true);
        let mut reader = TraceReader::new(bytes.as_slice()).unwrap();
        prop_assert_eq!(reader.header(), &sample_header());
        let read: Vec<Message> = reader.by_ref().map(Result::unwrap).collect();
        prop_assert_eq!(&read, &messages);
        let footer = reader.footer().unwrap();
        prop_assert_eq!(footer.messages, messages.len() as u64);
        prop_assert_eq!(footer.dropped, 3);
        prop_assert_eq!(reader.summary().dropped, 3);
        prop_assert_eq!(reader.summary().truncated_bytes, 0);
    }

    #[test]
    fn rewriting_gives_the_same_bytes(messages in arb_stream(50)) {
        let bytes = encode(&messages, 16, true);
        let (read, error, _) = read_all(&bytes, false);
        prop_assert!(error.is_none());
        prop_assert_eq!(encode(&read, 16, true), bytes);
    }

    #[test]
    fn bit_flips_give_an_error_or_a_salvage_never_a_panic(
        messages in arb_stream(30), flip in any::<prop::sample::Index>(), bit in 0u8..8,
    ) {
        let mut bytes = encode(&messages, 4, true);
        let at = flip.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let (read, _, _) = read_all(&bytes, false);
        let (salvaged, _, _) = read_all(&bytes, true);
        for message in read.iter().chain(&salvaged) {
            prop_assert!(messages.contains(message), "a message that was never written");
        }
    }
}

#[test]
fn truncation_at_every_offset_yields_only_written_messages() {
    let messages: Vec<Message> = (0..20)
        .map(|index| {
            let mut message = Message::new(index, EventType::AUTH_OPEN, Action::Auth, index * 7);
            message.target_path = Some(Arc::from(format!("/f/{}", index % 4)));
            message
        })
        .collect();
    let bytes = encode(&messages, 3, true);
    for cut in 0..bytes.len() {
        let (read, error, summary) = read_all(&bytes[..cut], false);
        assert_eq!(&messages[..read.len()], read.as_slice(), "cut at {cut}");
        assert!(
            read.len() % 3 == 0 || read.len() == 20,
            "only whole chunks, cut at {cut}"
        );
        if cut > PREAMBLE_LEN + FRAME_HEADER_LEN + 60 {
            assert!(error.is_none(), "cut at {cut}: {error:?}");
            assert!(summary.finished);
        }
    }
}

#[test]
fn a_cut_file_reports_lost_bytes_and_no_footer() {
    let messages: Vec<Message> = (0..10)
        .map(|i| Message::new(i, EventType::NOTIFY_EXEC, Action::Notify, i))
        .collect();
    let bytes = encode(&messages, 4, true);
    let mut reader = TraceReader::new(&bytes[..bytes.len() - 5]).unwrap();
    assert_eq!(reader.by_ref().count(), 10);
    assert!(reader.footer().is_none());
    assert_eq!(
        reader.summary().truncated_bytes,
        bytes.len() as u64 - 5 - reader.summary().bytes_read
    );
    assert!(reader.summary().truncated_bytes > 0);

    let unfinished = encode(&messages, 4, false);
    let mut reader = TraceReader::new(unfinished.as_slice()).unwrap();
    assert_eq!(reader.by_ref().count(), 10);
    assert!(reader.footer().is_none());
    assert_eq!(reader.summary().truncated_bytes, 0);
}

/// Every frame of a trace: (kind, start offset, end offset).
pub(crate) fn frames(bytes: &[u8]) -> Vec<(u8, usize, usize)> {
    let mut at = PREAMBLE_LEN;
    let mut out = Vec::new();
    while at + FRAME_HEADER_LEN <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let end = at + FRAME_HEADER_LEN + len;
        out.push((bytes[at], at, end));
        at = end;
    }
    out
}

/// The frames of chunk `index`: its sync frame (and CPU frames) and the
/// chunk, as a byte range.
pub(crate) fn chunk_range(bytes: &[u8], index: usize) -> std::ops::Range<usize> {
    let all = frames(bytes);
    let syncs: Vec<usize> = all
        .iter()
        .filter(|frame| frame.0 == KIND_SYNC)
        .map(|frame| frame.1)
        .collect();
    let end = all
        .iter()
        .filter(|frame| frame.0 == KIND_CHUNK)
        .nth(index)
        .unwrap()
        .2;
    syncs[index]..end
}

#[test]
fn a_bad_crc_names_the_chunk_and_offset_and_salvage_skips_it() {
    let messages: Vec<Message> = (0..9)
        .map(|i| Message::new(i, EventType::AUTH_OPEN, Action::Auth, i))
        .collect();
    let clean = encode(&messages, 3, true);
    let second_chunk = frames(&clean)
        .into_iter()
        .filter(|frame| frame.0 == KIND_CHUNK)
        .nth(1)
        .unwrap()
        .1;
    let mut bytes = clean.clone();
    bytes[second_chunk + FRAME_HEADER_LEN + 2] ^= 0x40;
    let (read, error, _) = read_all(&bytes, false);
    assert_eq!(read, messages[..3]);
    match error {
        Some(TraceError::Corrupt {
            what: "chunk",
            index: 1,
            offset,
            reason,
        }) => {
            assert_eq!(offset, second_chunk as u64);
            assert!(reason.contains("CRC"));
        }
        other => panic!("expected a corrupt chunk 1, got {other:?}"),
    }
    let (salvaged, error, summary) = read_all(&bytes, true);
    assert!(error.is_none());
    assert_eq!(salvaged, [&messages[..3], &messages[6..]].concat());
    assert_eq!(summary.skipped_chunks, 1);
    assert_eq!((summary.lost_chunks, summary.lost_messages), (1, 3));
    assert!(summary.loss_exact && !summary.is_intact());
    // The damaged chunk's bytes, all of them, and nothing else.
    let chunk_len = chunk_range(&clean, 1).end - second_chunk;
    assert_eq!(summary.garbage_bytes, chunk_len as u64);
}

#[test]
fn bad_preambles_are_clear_errors() {
    assert!(matches!(TraceReader::new(&b""[..]), Err(TraceError::Empty)));
    assert!(matches!(
        TraceReader::new(&b"hello world, not a trace"[..]),
        Err(TraceError::BadMagic)
    ));
    assert!(matches!(
        TraceReader::new(&MAGIC[..5]),
        Err(TraceError::TruncatedHeader { .. })
    ));
    let mut future = encode(&[], 1, true);
    future[8] = 9;
    assert!(matches!(
        TraceReader::new(future.as_slice()),
        Err(TraceError::UnsupportedVersion { major: 9, .. })
    ));
}

#[test]
fn synthetic_streams_stay_small() {
    // 1 ms apart, one event type, 15 s budgets: the common case.
    let messages: Vec<Message> = (0..4096u64)
        .map(|i| {
            let mut message = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * 1_000_000);
            message.deadline_ns = Some(i * 1_000_000 + 15_000_000_000);
            message
        })
        .collect();
    let bytes = encode(&messages, 4096, true);
    let per_message = bytes.len() as f64 / messages.len() as f64;
    assert!(per_message <= 12.0, "{per_message} bytes per message");
}

/// A file with a valid header followed by one frame of `kind` whose CRC is
/// right but whose payload is arbitrary: only the decoder stands guard.
fn with_forged_frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = encode(&[], 1, false);
    let sync = codec::sync::encode_sync(codec::sync::SyncPoint {
        chunk_index: 0,
        first_message: 0,
    });
    bytes.push(KIND_SYNC);
    bytes.extend_from_slice(&(sync.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&frame_crc(KIND_SYNC, &sync).to_le_bytes());
    bytes.extend_from_slice(&sync);
    bytes.push(kind);
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&frame_crc(kind, payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

proptest! {
    #[test]
    fn forged_payloads_with_valid_crcs_are_errors_not_panics(
        kind in prop_oneof![Just(KIND_CHUNK), Just(KIND_FOOTER), any::<u8>()],
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let bytes = with_forged_frame(kind, &payload);
        let (_, error, summary) = read_all(&bytes, false);
        if ![KIND_CHUNK, KIND_FOOTER, KIND_HEADER, KIND_SYNC, KIND_CPU].contains(&kind) {
            prop_assert!(error.is_none());
            prop_assert_eq!(summary.unknown_frames, 1);
        }
        let (_, error, _) = read_all(&bytes, true);
        prop_assert!(error.is_none(), "salvage never fails on a sane frame length");
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = read_all(&bytes, false);
        let mut prefixed = MAGIC.to_vec();
        prefixed.extend_from_slice(&[1, 0, 0, 0]);
        prefixed.extend_from_slice(&bytes);
        let _ = read_all(&prefixed, true);
    }
}

#[test]
fn huge_counts_in_a_forged_chunk_do_not_allocate() {
    // dropped 0, nstrings = u64::MAX (253 + 8 bytes), nothing after.
    let mut payload = vec![0, 253];
    payload.extend_from_slice(&u64::MAX.to_le_bytes());
    let (_, error, _) = read_all(&with_forged_frame(KIND_CHUNK, &payload), false);
    assert!(
        matches!(error, Some(TraceError::Corrupt { what: "chunk", .. })),
        "{error:?}"
    );
    // dropped 0, no strings, count = 2^40 records in a few bytes.
    let mut payload = vec![0, 0, 253];
    payload.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let (_, error, _) = read_all(&with_forged_frame(KIND_CHUNK, &payload), false);
    assert!(
        matches!(error, Some(TraceError::Corrupt { .. })),
        "{error:?}"
    );
}

/// `message` as [`Fields::Timing`] decodes it: no strings, no boxed
/// details, every inline fact (thread id, response time, ES-client flag).
fn timing_only(mut message: Message) -> Message {
    message.process_path = None;
    message.target_path = None;
    message.details = None;
    message
}

proptest! {
    #[test]
    fn timing_fields_are_the_messages_without_strings_or_boxed_details(
        messages in proptest::collection::vec(arb_message(), 0..40), chunk in 1usize..8,
    ) {
        let bytes = encode(&messages, chunk, true);
        let reader = TraceReader::new(bytes.as_slice()).unwrap().fields(Fields::Timing);
        let read: Vec<Message> = reader.map(Result::unwrap).collect();
        let want: Vec<Message> = messages.into_iter().map(timing_only).collect();
        prop_assert_eq!(read, want);
    }

    #[test]
    fn both_field_sets_accept_and_refuse_the_same_chunks(
        messages in proptest::collection::vec(arb_message(), 1..20),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let bytes = encode(&messages, 64, true);
        let chunk = frames(&bytes).into_iter().find(|frame| frame.0 == KIND_CHUNK);
        let (_, start, end) = chunk.expect("a stream of at least one message");
        let mut payload = bytes[start + FRAME_HEADER_LEN..end].to_vec();
        let clean = codec::decode_chunk(&payload, Fields::Timing).unwrap().messages;
        prop_assert_eq!(clean.len(), messages.len().min(64));
        let at = flip.index(payload.len());
        payload[at] ^= 1 << bit;
        let all = codec::decode_chunk(&payload, Fields::All);
        let timing = codec::decode_chunk(&payload, Fields::Timing);
        let reason = |decoded: &Result<_, codec::CodecError>| decoded.as_ref().err().map(ToString::to_string);
        prop_assert_eq!(reason(&all), reason(&timing));
        if let (Ok(all), Ok(timing)) = (all, timing) {
            let want: Vec<Message> = all.messages.into_iter().map(timing_only).collect();
            prop_assert_eq!(timing.messages, want);
        }
    }
}

#[test]
fn es_gaps_round_trip_through_the_footer_meta() {
    for gaps in [None, Some(0), Some(7)] {
        let mut writer = TraceWriter::new(Vec::new(), &sample_header()).unwrap();
        writer.footer_meta().insert("k".into(), "v".into());
        if let Some(gaps) = gaps {
            writer.set_es_gaps(gaps);
        }
        let bytes = writer.finish().unwrap();
        let mut reader = TraceReader::new(bytes.as_slice()).unwrap();
        assert_eq!(reader.by_ref().count(), 0);
        let footer = reader.footer().unwrap();
        assert_eq!(footer.es_gaps, gaps);
        assert_eq!(footer.meta.keys().collect::<Vec<_>>(), ["k"]);
    }
}

#[test]
fn timing_keeps_what_closed_replay_reads_and_allocates_no_details() {
    let mut message = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 1_000);
    message.pid = Some(9);
    message.thread_id = Some(77);
    message.response_ns = Some(1_500);
    message.is_es_client = Some(true);
    message.details = Some(Box::new(Details {
        euid: Some(501),
        ..Details::default()
    }));
    let bytes = encode(std::slice::from_ref(&message), 1, true);
    let read = |fields| -> Vec<Message> {
        let reader = TraceReader::new(bytes.as_slice()).unwrap().fields(fields);
        reader.map(Result::unwrap).collect()
    };
    assert_eq!(read(Fields::All), [message.clone()]);
    let timing = &read(Fields::Timing)[0];
    assert_eq!(
        (timing.thread_id, timing.response_ns, timing.is_es_client),
        (Some(77), Some(1_500), Some(true))
    );
    assert!(timing.details.is_none());
}

/// Every message, the last error and the summary: `first` messages
/// taken one by one, the rest through [`TraceReader::next_batch`] (so the
/// first batch is a chunk's rest).
fn read_batches(
    bytes: &[u8],
    salvage: bool,
    first: usize,
) -> (Vec<Message>, Option<TraceError>, ReadSummary) {
    let mut reader = match TraceReader::new(bytes) {
        Ok(reader) => reader.salvage(salvage),
        Err(error) => return (Vec::new(), Some(error), ReadSummary::default()),
    };
    let mut messages = Vec::new();
    let mut error = None;
    for item in reader.by_ref().take(first) {
        match item {
            Ok(message) => messages.push(message),
            Err(e) => error = Some(e),
        }
    }
    while let Some(batch) = reader.next_batch() {
        match batch {
            Ok(batch) => messages.extend(batch),
            Err(e) => error = Some(e),
        }
    }
    (messages, error, reader.summary().clone())
}

proptest! {
    #[test]
    fn batches_yield_what_the_iterator_yields_even_from_damaged_traces(
        messages in arb_stream(60),
        chunk in 1usize..9,
        cut in any::<prop::sample::Index>(),
        flip in proptest::option::of((any::<prop::sample::Index>(), 0u8..8)),
        salvage in any::<bool>(),
        first in 0usize..12,
    ) {
        let mut bytes = encode(&messages, chunk, true);
        if let Some((at, bit)) = flip {
            let at = at.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let (want, want_error, want_summary) = read_all(&bytes, salvage);
        let (got, got_error, got_summary) = read_batches(&bytes, salvage, first);
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_error.map(|e| e.to_string()), want_error.map(|e| e.to_string()));
        prop_assert_eq!(got_summary, want_summary);
    }
}

proptest! {
    /// A batch handed back is decoded over: what is read is the same as
    /// without, whatever the batch held (other messages, with strings and
    /// details) and whether the next chunk is longer or shorter.
    #[test]
    fn recycled_batches_read_as_fresh_ones(
        messages in arb_stream(60),
        leftovers in proptest::collection::vec(arb_message(), 0..20),
        chunk in 1usize..9,
        timing in any::<bool>(),
    ) {
        let bytes = encode(&messages, chunk, true);
        let fields = if timing { Fields::Timing } else { Fields::All };
        let open = || TraceReader::new(bytes.as_slice()).unwrap().fields(fields);
        let mut fresh = open();
        let want: Vec<Message> = fresh.by_ref().map(Result::unwrap).collect();
        let mut reader = open();
        reader.recycle(leftovers);
        let mut got = Vec::new();
        while let Some(batch) = reader.next_batch() {
            let batch = batch.unwrap();
            got.extend(batch.iter().cloned());
            reader.recycle(batch);
        }
        prop_assert_eq!(got, want);
        prop_assert_eq!(reader.summary(), fresh.summary());
    }
}
