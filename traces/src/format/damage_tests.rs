//! Issue #12's format guarantees, one test each: duplicated, swapped and
//! dropped chunks, a footer glued to a cut trace, a flipped length field,
//! salvage after inserted or deleted bytes, allocation limits on crafted
//! frames, 1.0 files, the CPU track and the footer read up front.

use std::sync::Arc;

use super::roundtrip_tests::{chunk_range, encode, frames};
use super::*;
use crate::cpu::{CpuSample, CpuTrack};
use crate::event::{Action, EventType};
use crate::model::{Header, Message};

/// 5 chunks of 4 messages (20 messages) with paths, finished.
fn messages() -> Vec<Message> {
    (0..20)
        .map(|i| {
            let mut message = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * 1000);
            message.deadline_ns = Some(i * 1000 + 15_000_000_000);
            message.target_path = Some(Arc::from(format!("/tmp/file{}", i % 3)));
            message
        })
        .collect()
}

fn trace() -> Vec<u8> {
    encode(&messages(), 4, true)
}

struct Read {
    messages: Vec<Message>,
    error: Option<TraceError>,
    summary: ReadSummary,
}

fn read(bytes: &[u8], salvage: bool) -> Read {
    let mut reader = TraceReader::new(bytes).unwrap().salvage(salvage);
    let mut messages = Vec::new();
    let mut error = None;
    for item in reader.by_ref() {
        match item {
            Ok(message) => messages.push(message),
            Err(e) => error = Some(e),
        }
    }
    Read {
        messages,
        error,
        summary: reader.summary().clone(),
    }
}

/// Strict: an error naming the damage; salvage: no error, not intact.
fn assert_damage(bytes: &[u8], expect_reason: &str) -> Read {
    let strict = read(bytes, false);
    match &strict.error {
        Some(TraceError::Corrupt { reason, .. }) => {
            assert!(reason.contains(expect_reason), "{reason}")
        }
        other => panic!("expected damage ({expect_reason}), got {other:?}"),
    }
    let salvaged = read(bytes, true);
    assert!(salvaged.error.is_none(), "{:?}", salvaged.error);
    assert!(!salvaged.summary.is_intact());
    assert!(salvaged.summary.damage > 0);
    salvaged
}

fn splice(bytes: &[u8], parts: &[std::ops::Range<usize>]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|r| bytes[r.clone()].to_vec())
        .collect()
}

#[test]
fn a_whole_trace_is_intact_and_loses_nothing() {
    let read = read(&trace(), false);
    assert!(read.error.is_none());
    assert_eq!(read.messages, messages());
    assert!(read.summary.is_intact());
    assert_eq!(read.summary.lost_messages(), (0, true));
    assert_eq!(read.summary.version, (FORMAT_MAJOR, 1));
}

#[test]
fn a_duplicated_chunk_is_damage_and_salvage_yields_it_once() {
    let bytes = trace();
    let second = chunk_range(&bytes, 1);
    let duplicated = splice(
        &bytes,
        &[0..second.end, second.clone(), second.end..bytes.len()],
    );
    let salvaged = assert_damage(&duplicated, "duplicated or out of order");
    assert_eq!(salvaged.messages, messages());
    assert_eq!(salvaged.summary.skipped_chunks, 1);
    assert_eq!(salvaged.summary.lost_messages(), (0, true));
}

#[test]
fn a_whole_trace_appended_to_itself_is_damage() {
    let bytes = trace();
    let doubled = [&bytes[..], &bytes[PREAMBLE_LEN..]].concat();
    let salvaged = assert_damage(&doubled, "after the footer");
    assert_eq!(salvaged.messages, messages());
}

#[test]
fn swapped_chunks_are_damage() {
    let bytes = trace();
    let (one, two) = (chunk_range(&bytes, 1), chunk_range(&bytes, 2));
    let swapped = splice(
        &bytes,
        &[0..one.start, two.clone(), one.clone(), two.end..bytes.len()],
    );
    let salvaged = assert_damage(&swapped, "missing");
    // Chunk 2 is read in its new place, chunk 1 after it is out of order.
    assert_eq!(salvaged.messages.len(), 16);
    assert_eq!(salvaged.summary.lost_messages(), (4, true));
}

#[test]
fn a_dropped_chunk_is_damage_with_its_messages_counted_lost() {
    let bytes = trace();
    let third = chunk_range(&bytes, 2);
    let dropped = splice(&bytes, &[0..third.start, third.end..bytes.len()]);
    let salvaged = assert_damage(&dropped, "1 chunks (4 messages) missing");
    assert_eq!(salvaged.messages.len(), 16);
    assert_eq!(
        (salvaged.summary.lost_chunks, salvaged.summary.lost_messages),
        (1, 4)
    );
    // Without a footer the sync frames still tell the loss.
    let footer_at = frames(&dropped).last().unwrap().1;
    let sync_before_footer = footer_at - 33;
    let cut = &dropped[..sync_before_footer];
    let salvaged = read(cut, true);
    assert_eq!(salvaged.summary.lost_messages(), (4, false));
    assert!(!salvaged.summary.is_intact());
}

#[test]
fn a_cut_trace_with_its_footer_glued_back_is_damage() {
    let bytes = trace();
    let footer = frames(&bytes).last().unwrap().1 - 33; // with its sync
    let second = chunk_range(&bytes, 1);
    let glued = splice(&bytes, &[0..second.start, footer..bytes.len()]);
    let salvaged = assert_damage(&glued, "missing");
    assert_eq!(salvaged.messages.len(), 4);
    assert_eq!(salvaged.summary.lost_messages(), (16, true));
}

#[test]
fn a_footer_whose_counts_disagree_is_damage() {
    let mut writer = TraceWriter::new(Vec::new(), &Header::default()).unwrap();
    writer.write(&messages()[0]).unwrap();
    let mut bytes = writer.finish().unwrap();
    // Forge the footer: claim 2 messages (varint 1 → 2) and fix its CRC.
    let (_, start, end) = *frames(&bytes).last().unwrap();
    let payload_at = start + FRAME_HEADER_LEN;
    assert_eq!(bytes[payload_at], 1);
    bytes[payload_at] = 2;
    let crc = frame_crc(KIND_FOOTER, &bytes[payload_at..end]);
    bytes[start + 5..start + 9].copy_from_slice(&crc.to_le_bytes());
    assert_damage(
        &bytes,
        "the footer says 2 messages in 1 chunks, the file holds 1 in 1",
    );
}

#[test]
fn a_length_past_the_end_is_damage_when_frames_follow() {
    let bytes = trace();
    let second = frames(&bytes)
        .into_iter()
        .filter(|frame| frame.0 == KIND_CHUNK)
        .nth(1)
        .unwrap();
    let mut flipped = bytes.clone();
    // A length that runs past the end of the file but under the limit.
    flipped[second.1 + 3] ^= 0x20;
    let salvaged = assert_damage(&flipped, "runs past the end of the file");
    let expected: Vec<Message> = [&messages()[..4], &messages()[8..]].concat();
    assert_eq!(salvaged.messages, expected);
    assert_eq!(salvaged.summary.lost_messages(), (4, true));
    assert_eq!(salvaged.summary.truncated_bytes, 0);
    // A real cut inside that chunk is truncation, not damage.
    let cut = read(&bytes[..second.1 + 20], false);
    assert!(cut.error.is_none() && cut.summary.damage == 0);
    assert!(cut.summary.truncated_bytes > 0 && !cut.summary.is_intact());
}

#[test]
fn salvage_refinds_frames_after_deleted_bytes_and_counts_the_garbage() {
    let bytes = trace();
    let second = chunk_range(&bytes, 1);
    for deleted in [1, 7, 33, 50] {
        let at = second.start + 40;
        let damaged = splice(&bytes, &[0..at, at + deleted..bytes.len()]);
        let salvaged = read(&damaged, true);
        let expected: Vec<Message> = [&messages()[..4], &messages()[8..]].concat();
        assert_eq!(salvaged.messages, expected, "{deleted} bytes deleted");
        // Chunk 1's sync frame (33 bytes) reads; the rest of its bytes is
        // garbage, exactly.
        assert_eq!(
            salvaged.summary.garbage_bytes,
            (second.end - second.start - 33 - deleted) as u64,
            "{deleted} bytes deleted"
        );
        assert_eq!(salvaged.summary.lost_messages(), (4, true));
    }
}

#[test]
fn salvage_refinds_frames_after_inserted_bytes_and_counts_the_garbage() {
    let bytes = trace();
    let third = chunk_range(&bytes, 2);
    for inserted in [1usize, 9, 100, 5000] {
        let junk: Vec<u8> = (0..inserted).map(|i| (i * 37 % 251) as u8).collect();
        // Between two chunks: only the junk is garbage, nothing is lost.
        let between = [&bytes[..third.start], &junk, &bytes[third.start..]].concat();
        let salvaged = read(&between, true);
        assert_eq!(salvaged.messages, messages(), "{inserted} bytes inserted");
        assert_eq!(salvaged.summary.garbage_bytes, inserted as u64);
        assert_eq!(salvaged.summary.lost_messages(), (0, true));
        assert!(!salvaged.summary.is_intact());
        assert!(read(&between, false).error.is_some());
    }
}

/// A file whose one chunk (after its sync frame) has a forged payload with
/// a valid CRC.
fn forged_chunk(payload: &[u8]) -> Vec<u8> {
    let mut bytes = encode(&[], 1, false);
    for (kind, body) in [
        (
            KIND_SYNC,
            &codec::sync::encode_sync(codec::sync::SyncPoint {
                chunk_index: 0,
                first_message: 0,
            })[..],
        ),
        (KIND_CHUNK, payload),
    ] {
        bytes.push(kind);
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&frame_crc(kind, body).to_le_bytes());
        bytes.extend_from_slice(body);
    }
    bytes
}

fn varint(value: u64) -> Vec<u8> {
    let mut out = vec![253];
    out.extend_from_slice(&value.to_le_bytes());
    out
}

#[test]
fn crafted_chunks_hit_the_allocation_limits_with_a_clear_error() {
    // A chunk of 300 000 empty strings (300 kB): over the string limit.
    let mut payload = vec![0];
    payload.extend(varint(300_000));
    payload.extend(std::iter::repeat_n(0u8, 300_000));
    payload.push(0);
    let error = read(&forged_chunk(&payload), false).error;
    assert!(
        matches!(&error, Some(TraceError::Corrupt { reason, .. }) if reason.contains("per-chunk limit")),
        "{error:?}"
    );
    // 70 000 records claimed, 400 kB present: over the record limit.
    let mut payload = vec![0, 0];
    payload.extend(varint(70_000));
    payload.extend(std::iter::repeat_n(0u8, 400_000));
    let error = read(&forged_chunk(&payload), false).error;
    assert!(
        matches!(&error, Some(TraceError::Corrupt { reason, .. }) if reason.contains("per-chunk limit")),
        "{error:?}"
    );
}

#[test]
fn a_forged_frame_length_costs_only_the_bytes_present() {
    // A chunk claiming 64 MiB with 100 bytes present is a cut file, and
    // the reader's buffer grows only with what arrives.
    let mut bytes = encode(&[], 1, false);
    bytes.push(KIND_CHUNK);
    bytes.extend_from_slice(&MAX_FRAME_LEN.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&[7; 100]);
    let mut reader = TraceReader::new(bytes.as_slice()).unwrap();
    assert!(reader.next().is_none());
    let capacity = reader.buffer_capacity();
    assert!(capacity < 1 << 16, "{capacity}");
    assert_eq!(reader.summary().truncated_bytes, 109);
}

#[test]
fn version_1_0_files_still_read() {
    let bytes = include_bytes!("../../../tests/data/golden-v1.estrace");
    let read = read(bytes, false);
    assert!(read.error.is_none(), "{:?}", read.error);
    assert_eq!(read.summary.version, (1, 0));
    assert!(read.summary.is_intact());
    assert_eq!(read.messages.len(), 6);
    assert!(read.messages[1].details.is_some());
}

#[test]
fn a_version_1_0_duplicated_chunk_is_caught_by_the_footer() {
    let bytes = include_bytes!("../../../tests/data/golden-v1.estrace");
    let all = frames(bytes);
    let chunk = all.iter().find(|frame| frame.0 == KIND_CHUNK).unwrap();
    let doubled = splice(bytes, &[0..chunk.2, chunk.1..bytes.len()]);
    assert_damage(&doubled, "the footer says");
}

#[test]
fn the_cpu_track_round_trips_and_reads_up_front() {
    let mut writer = TraceWriter::new(Vec::new(), &Header::default())
        .unwrap()
        .with_chunk_messages(4);
    writer.set_cpu_period(10_000_000);
    let samples: Vec<CpuSample> = (0..10)
        .map(|k| CpuSample {
            t_ns: k * 2500,
            runnable: (k % 3) as u32,
        })
        .collect();
    let mut next_sample = 0;
    for message in messages() {
        while next_sample < samples.len() && samples[next_sample].t_ns <= message.arrival_ns {
            writer.add_cpu_sample(samples[next_sample]);
            next_sample += 1;
        }
        writer.write(&message).unwrap();
    }
    for sample in &samples[next_sample..] {
        writer.add_cpu_sample(*sample);
    }
    let bytes = writer.finish().unwrap();

    let mut reader = TraceReader::new(bytes.as_slice()).unwrap();
    while let Some(message) = reader.next() {
        let arrival = message.unwrap().arrival_ns;
        let known = reader.cpu_track().samples.len();
        let due = samples.iter().filter(|s| s.t_ns <= arrival).count();
        assert!(
            known >= due,
            "at {arrival}: {known} samples read, {due} due"
        );
    }
    let expected = CpuTrack {
        period_ns: 10_000_000,
        samples: samples.clone(),
    };
    assert_eq!(reader.cpu_track(), &expected);
    assert!(reader.summary().is_intact());
    assert_eq!(
        read_cpu_track(std::io::Cursor::new(&bytes)).unwrap(),
        expected
    );
    let old = include_bytes!("../../../tests/data/golden-v1.estrace");
    assert!(
        read_cpu_track(std::io::Cursor::new(old))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_footer_reads_up_front_and_an_unfinished_trace_has_none() {
    let bytes = trace();
    let footer = read_footer(std::io::Cursor::new(&bytes)).unwrap();
    let mut reader = TraceReader::new(bytes.as_slice()).unwrap();
    assert_eq!(reader.by_ref().count(), 20);
    assert_eq!(footer.as_ref(), reader.footer());
    let chunks = frames(&bytes).iter().filter(|f| f.0 == KIND_CHUNK).count();
    assert_eq!(
        footer.map(|f| (f.messages, f.chunks)),
        Some((20, chunks as u64))
    );
    // Cut before the footer (its sync frame and itself), or inside it.
    let (_, start, end) = *frames(&bytes).last().unwrap();
    for cut in [start - 33, start, end - 1] {
        let unfinished = read_footer(std::io::Cursor::new(&bytes[..cut])).unwrap();
        assert_eq!(unfinished, None, "cut at {cut} of {}", bytes.len());
    }
    // A flipped byte in the footer fails its CRC.
    let mut flipped = bytes.clone();
    flipped[end - 1] ^= 1;
    let error = read_footer(std::io::Cursor::new(&flipped)).unwrap_err();
    assert!(error.to_string().contains("CRC"), "{error}");
}

#[test]
fn unknown_frame_kinds_are_skipped() {
    let bytes = trace();
    let second = chunk_range(&bytes, 1);
    let payload = b"from a later minor version";
    let mut frame = vec![42];
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&frame_crc(42, payload).to_le_bytes());
    frame.extend_from_slice(payload);
    let with_unknown = [&bytes[..second.start], &frame, &bytes[second.start..]].concat();
    let read = read(&with_unknown, false);
    assert!(read.error.is_none());
    assert_eq!(read.messages, messages());
    assert_eq!(read.summary.unknown_frames, 1);
    assert!(read.summary.is_intact());
}
