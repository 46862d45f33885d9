//! What each fuzz target runs, with the properties it checks, and the seed
//! corpus: the test fixtures of the repository plus generated traces.
//!
//! The same functions run under libFuzzer (`cargo +nightly fuzz run
//! TARGET`, see `run.sh`) and, on a stable toolchain, from `cargo test`
//! over the seeds and deterministic mutations of them (`tests/replay.rs`).

use std::path::Path;

use esreplay_eslogger::ImportOptions;
use esreplay_traces::cpu::Shape;
use esreplay_traces::synth::{GenOptions, Scenario};
use esreplay_traces::{Message, TraceReader, TraceWriter, jsonl};

/// The fuzz targets, by name.
pub const TARGETS: [&str; 4] = [
    "trace_reader",
    "trace_salvage",
    "jsonl_import",
    "eslogger_import",
];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "trace_reader" => trace_reader(data),
        "trace_salvage" => trace_salvage(data),
        "jsonl_import" => jsonl_import(data),
        "eslogger_import" => eslogger_import(data),
        other => panic!("no target {other}"),
    }
}

/// Reads everything; the messages, whether an error stopped the read, and
/// the reader's summary.
fn read(data: &[u8], salvage: bool) -> Option<(Vec<Message>, bool, esreplay_traces::ReadSummary)> {
    let mut reader = TraceReader::new(data).ok()?.salvage(salvage);
    let mut messages = Vec::new();
    let mut failed = false;
    for item in reader.by_ref() {
        match item {
            Ok(message) => messages.push(message),
            Err(_) => failed = true,
        }
    }
    Some((messages, failed, reader.summary().clone()))
}

/// The strict reader: never panics; an intact read agrees with its footer
/// and found no damage.
pub fn trace_reader(data: &[u8]) {
    let Some((messages, failed, summary)) = read(data, false) else {
        return;
    };
    if summary.is_intact() {
        assert!(!failed && summary.damage == 0 && summary.finished);
        assert_eq!(summary.messages, messages.len() as u64);
        assert_eq!(summary.lost_messages(), (0, true));
    }
    if failed {
        assert!(summary.damage > 0 && !summary.is_intact());
    }
}

/// The salvaging reader: never fails on a readable header, and yields at
/// least what the strict reader yields before its first error, first.
pub fn trace_salvage(data: &[u8]) {
    let Some((strict, _, _)) = read(data, false) else {
        return;
    };
    let (salvaged, failed, summary) = read(data, true).expect("the header read once");
    assert!(!failed, "salvage never stops on damage");
    assert!(summary.finished);
    assert!(salvaged.len() >= strict.len());
    assert_eq!(&salvaged[..strict.len()], strict.as_slice());
    assert!(summary.bytes_read + summary.truncated_bytes <= data.len() as u64);
}

/// The JSONL importer: every message it accepts survives a trace and a
/// JSONL round trip unchanged.
pub fn jsonl_import(data: &[u8]) {
    let messages: Vec<Message> = jsonl::read_messages(data)
        .take(10_000)
        .filter_map(Result::ok)
        .collect();
    let mut writer = TraceWriter::new(Vec::new(), &Default::default()).expect("in memory");
    let mut lines = Vec::new();
    for message in &messages {
        writer.write(message).expect("in memory");
        jsonl::write_message(&mut lines, message).expect("in memory");
    }
    let bytes = writer.finish().expect("in memory");
    let (back, failed, summary) = read(&bytes, false).expect("a trace we wrote");
    assert!(!failed && summary.is_intact());
    assert_eq!(back, messages);
    let again: Vec<Message> = jsonl::read_messages(lines.as_slice())
        .map(|line| line.expect("a line we wrote"))
        .collect();
    assert_eq!(again, messages);
}

/// The eslogger importer: never panics, and what it writes is an intact
/// trace with the messages it reports.
pub fn eslogger_import(data: &[u8]) {
    let options = ImportOptions::default();
    let Ok((bytes, report)) =
        esreplay_eslogger::import(|| Ok(data), &options, "fuzz", Vec::new(), |_| {})
    else {
        return;
    };
    let (messages, failed, summary) = read(&bytes, false).expect("a trace it wrote");
    assert!(!failed && summary.is_intact());
    assert_eq!(messages.len() as u64, report.messages);
}

/// The seeds of target `name`: the repository's fixtures for it, and for
/// the trace targets generated traces (one with a CPU track) and a damaged
/// copy.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = |dir: &str, ext: &str| -> Vec<Vec<u8>> {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.retain(|path| path.extension().is_some_and(|e| e == ext));
        paths.sort();
        paths
            .iter()
            .filter_map(|path| std::fs::read(path).ok())
            .collect()
    };
    match name {
        "trace_reader" | "trace_salvage" => {
            let mut seeds = files("tests/data", "estrace");
            let generated = generated_trace();
            let mut damaged = generated.clone();
            let middle = damaged.len() / 2;
            damaged.drain(middle..middle + 7);
            seeds.extend([generated, damaged]);
            seeds
        }
        "jsonl_import" => files("tests/data", "jsonl"),
        "eslogger_import" => files("eslogger/tests/fixtures", "jsonl"),
        other => panic!("no target {other}"),
    }
}

/// A small threaded trace with a CPU track, in several chunks.
fn generated_trace() -> Vec<u8> {
    let options = GenOptions {
        duration_ns: 200_000_000,
        rate_per_s: 500.0,
        threads: 4,
        background: Some(Shape::Hog {
            threads: 2,
            on_ns: 50_000_000,
            off_ns: 50_000_000,
        }),
        ..GenOptions::new(Scenario::ThreadFlood)
    };
    let mut writer = TraceWriter::new(Vec::new(), &options.header())
        .expect("in memory")
        .with_chunk_messages(16);
    options.write_to(&mut writer).expect("in memory");
    writer.finish().expect("in memory")
}
