//! The importer on fixtures of every message version and quirk: written
//! for this project in the shape of real eslogger captures.

use std::collections::BTreeMap;
use std::path::PathBuf;

use esreplay_eslogger::{
    ImportError, ImportOptions, ImportReport, import, parse_as_auth, parse_timebase,
};
use esreplay_traces::lines::LineError;
use esreplay_traces::{Action, EventType, Message, Timebase, TraceReader};

mod common;

use common::{fixture, import_bytes};

fn import_fixture(name: &str, options: &ImportOptions) -> (Vec<Message>, ImportReport) {
    let bytes = std::fs::read(fixture(name)).unwrap();
    import_bytes(&bytes, options).unwrap()
}

fn counts(report: &ImportReport) -> BTreeMap<String, u64> {
    report
        .by_event
        .iter()
        .map(|(e, n)| (e.to_string(), *n))
        .collect()
}

#[test]
fn version_10_every_field_mapped() {
    let (messages, report) = import_fixture("v10_mixed.jsonl", &ImportOptions::default());
    assert_eq!(report.messages, 12);
    let expected: BTreeMap<String, u64> = [
        ("NOTIFY_EXEC", 1),
        ("NOTIFY_OPEN", 1),
        ("NOTIFY_FORK", 1),
        ("NOTIFY_CLOSE", 1),
        ("NOTIFY_CREATE", 2),
        ("NOTIFY_EXIT", 1),
        ("NOTIFY_RENAME", 1),
        ("NOTIFY_SIGNAL", 1),
        ("NOTIFY_UNLINK", 1),
        ("NOTIFY_WRITE", 1),
        ("230", 1),
    ]
    .into_iter()
    .map(|(name, n)| (name.to_owned(), n))
    .collect();
    assert_eq!(counts(&report), expected);
    assert_eq!(report.timebase, Timebase::APPLE_SILICON);
    assert_eq!(report.versions, BTreeMap::from([(10, 12)]));

    let exec = &messages[0];
    assert_eq!(
        (exec.event, exec.action),
        (EventType::NOTIFY_EXEC, Action::Notify)
    );
    assert_eq!(
        exec.arrival_ns, 0,
        "the trace starts at the earliest mach_time"
    );
    assert_eq!((exec.global_seq, exec.seq), (4001, 101));
    assert_eq!(exec.pid, Some(28061));
    assert_eq!(
        exec.process_path.as_deref(),
        Some("/private/tmp/lab/trigger")
    );
    assert_eq!(exec.target_path.as_deref(), Some("/bin/ls"));
    let details = exec.details.as_deref().unwrap();
    assert_eq!(details.message_version, Some(10));
    assert_eq!(exec.thread_id, Some(1234));
    assert_eq!(
        (details.pidversion, details.euid, details.ppid),
        (Some(2483828), Some(501), Some(1))
    );
    assert_eq!(details.signing_id.as_deref(), Some("com.example.tool"));
    assert_eq!(details.team_id, None);
    assert_eq!(details.platform_binary, Some(false));
    assert_eq!(exec.is_es_client, Some(false));
    assert_eq!(
        (details.target_dev, details.target_ino),
        (Some(16777233), Some(77))
    );
    let close = messages
        .iter()
        .find(|m| m.event == EventType::NOTIFY_CLOSE)
        .unwrap();
    let close_details = close.details.as_deref().unwrap();
    assert_eq!(close_details.close_modified, Some(true));
    assert!(
        messages
            .iter()
            .filter(|m| m.event != EventType::NOTIFY_CLOSE)
            .all(|m| m
                .details
                .as_ref()
                .is_none_or(|d| d.close_modified.is_none()))
    );

    let open = &messages[1];
    // 24 000 × 5 ticks later, at 125/3 ns a tick.
    assert_eq!(open.arrival_ns, 24_000 * 5 * 125 / 3);
    assert_eq!(open.target_path.as_deref(), Some("/etc/hosts"));
    let open_details = open.details.as_deref().unwrap();
    assert_eq!(open_details.open_fflag, Some(537919489));
    assert_eq!(open_details.target_ino, Some(501));
    assert_eq!(open.deadline_ns, None, "NOTIFY messages have no deadline");

    let targets: Vec<Option<&str>> = messages.iter().map(|m| m.target_path.as_deref()).collect();
    assert_eq!(
        targets[2..],
        [
            Some("/private/tmp/lab/f1"),
            Some("/private/tmp/lab/f3"),
            Some("/private/tmp/lab/f1"),
            Some("/private/tmp/lab/f2"),
            Some("/private/tmp/lab/log"),
            Some("/private/tmp/lab/log"),
            None,
            None,
            None,
            None,
        ]
    );
    assert_eq!(messages[11].event, EventType(230));
    let gseqs: Vec<u64> = messages.iter().map(|m| m.global_seq).collect();
    assert_eq!(
        gseqs[4..7],
        [4005, 4009, 4010],
        "the gap of three drops is kept"
    );
    assert_eq!(
        report.sequence_restarts.count + report.bad.count + report.no_envelope.count,
        0
    );
}

#[test]
fn version_7_dump_with_deadlines_glob_seq_num_and_no_envelope_records() {
    let (messages, report) = import_fixture("v7_jamf.jsonl", &ImportOptions::default());
    assert_eq!(report.messages, 4);
    assert_eq!(report.no_envelope.first, [1]);
    assert_eq!(
        messages.iter().map(|m| m.global_seq).collect::<Vec<_>>(),
        [70, 71, 72, 73]
    );
    let auth_open = &messages[0];
    assert_eq!(
        (auth_open.event, auth_open.action),
        (EventType::AUTH_OPEN, Action::Auth)
    );
    assert_eq!(
        auth_open.budget_ns(),
        Some(15_000_000_000),
        "360 M ticks at 125/3"
    );
    assert_eq!(
        messages[1].deadline_ns, None,
        "deadline 0 on a NOTIFY is no deadline"
    );
    assert_eq!(messages[2].event, EventType::AUTH_EXEC);
    assert_eq!(messages[2].budget_ns(), Some(60_000_000_000));
    assert_eq!(messages[2].target_path.as_deref(), Some("/usr/bin/true"));
    assert_eq!(report.versions, BTreeMap::from([(7, 4)]));
}

#[test]
fn version_9_from_an_intel_mac_infers_one_nanosecond_ticks() {
    let (messages, report) = import_fixture("v9_intel.jsonl", &ImportOptions::default());
    assert_eq!(report.timebase, Timebase::NANOS);
    assert!(report.timebase_source.to_string().contains("snapped"));
    for (i, message) in messages.iter().enumerate() {
        assert_eq!(message.arrival_ns, i as u64 * 2_000_000);
    }
    assert_eq!(
        messages[0].details.as_ref().unwrap().team_id.as_deref(),
        Some("ABCDE12345")
    );
}

#[test]
fn version_11_audit_tokens_as_arrays() {
    let (messages, report) = import_fixture("v11_array_tokens.jsonl", &ImportOptions::default());
    assert_eq!(report.messages, 4);
    for (i, message) in messages.iter().enumerate() {
        assert_eq!(message.pid, Some(900 + i as u32));
        let details = message.details.as_deref().unwrap();
        assert_eq!(
            (details.pidversion, details.euid),
            (Some(40 + i as u32), Some(501))
        );
        assert_eq!(message.target_path.as_deref(), Some("/usr/bin/env"));
    }
}

#[test]
fn two_sessions_out_of_order_are_kept_in_file_order_and_reported() {
    let (messages, report) = import_fixture("two_sessions.jsonl", &ImportOptions::default());
    let gseqs: Vec<u64> = messages.iter().map(|m| m.global_seq).collect();
    assert_eq!(gseqs, [189, 188, 1, 2, 3]);
    assert_eq!(report.sequence_restarts.first, [2, 3]);
    assert_eq!(report.time_regressions.first, [2]);
    assert_eq!(
        messages[1].arrival_ns, 0,
        "the earliest mach_time is time 0"
    );
    assert_eq!(messages[0].arrival_ns, 14_401 * 125 / 3);
    let text = report.to_string();
    assert!(
        text.contains("restarts") && text.contains("lines 2, 3"),
        "{text}"
    );
}

#[test]
fn malformed_lines_are_skipped_and_reported_or_fail_in_strict_mode() {
    let bytes = std::fs::read(fixture("malformed.jsonl")).unwrap();
    let (messages, report) = import_bytes(&bytes, &ImportOptions::default()).unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(report.bad.first, [2, 5, 7, 8, 9, 10]);
    assert!(
        report
            .first_bad_reason
            .as_deref()
            .unwrap()
            .starts_with("line 2:")
    );
    let strict = ImportOptions {
        strict: true,
        ..ImportOptions::default()
    };
    match import_bytes(&bytes, &strict) {
        Err(ImportError::Malformed { line: 2, .. }) => {}
        other => panic!(
            "expected a failure at line 2, got {:?}",
            other.map(|(_, r)| r)
        ),
    }
}

#[test]
fn as_auth_models_notify_opens_as_auth_opens_with_budgets() {
    let mut options = ImportOptions {
        as_auth: parse_as_auth("open,EXEC").unwrap(),
        ..ImportOptions::default()
    };
    options.budgets.apply("AUTH_OPEN=2s").unwrap();
    let (messages, report) = import_fixture("v9_intel.jsonl", &options);
    assert_eq!(report.made_auth, 20);
    for message in &messages {
        assert_eq!(
            (message.event, message.action),
            (EventType::AUTH_OPEN, Action::Auth)
        );
        assert_eq!(message.budget_ns(), Some(2_000_000_000));
    }
    let bytes = std::fs::read(fixture("v10_mixed.jsonl")).unwrap();
    let (trace, _) = import(|| Ok(bytes.as_slice()), &options, "t", Vec::new(), |_| {}).unwrap();
    let header = TraceReader::new(trace.as_slice()).unwrap().header().clone();
    let subscribed: Vec<String> = header.subscribed.iter().map(ToString::to_string).collect();
    assert_eq!(
        subscribed,
        [
            "AUTH_EXEC",
            "AUTH_OPEN",
            "NOTIFY_FORK",
            "NOTIFY_CLOSE",
            "NOTIFY_CREATE",
            "NOTIFY_EXIT",
            "NOTIFY_RENAME",
            "NOTIFY_SIGNAL",
            "NOTIFY_UNLINK",
            "NOTIFY_WRITE",
            "230"
        ],
        "the event types seen, as modelled"
    );
    assert!(parse_as_auth("FORK").is_err());
    assert!(parse_as_auth("NOPE").is_err());
}

#[test]
fn a_given_timebase_wins() {
    let options = ImportOptions {
        timebase: Some(parse_timebase("1/1").unwrap()),
        ..ImportOptions::default()
    };
    let (messages, report) = import_fixture("v10_mixed.jsonl", &options);
    assert_eq!(report.timebase, Timebase::NANOS);
    assert_eq!(messages[1].arrival_ns, 24_000 * 5);
    for bad in ["125", "0/3", "a/b", "3/0"] {
        assert!(parse_timebase(bad).is_err(), "{bad}");
    }
}

#[test]
fn nothing_to_import_is_an_error() {
    let result = import_bytes(b"{\"hello\":1}\n\n", &ImportOptions::default());
    assert!(matches!(
        result,
        Err(ImportError::NoMessages { lines: 2, .. })
    ));
}

/// The two real captures beside the repository (`../shared/data`, not
/// committed: their licences are unknown). Skipped where absent.
#[test]
fn real_captures_import_cleanly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let captures = [
        ("UnsaltedHash42-real_tahoe_capture.jsonl", 5, 3),
        ("Joshua-Song007-eslogger_trigger.ndjson", 8, 0),
    ];
    for (name, messages, restarts) in captures {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            eprintln!("skipped: {name} is not beside the repository");
            continue;
        };
        let (read, report) = import_bytes(&bytes, &ImportOptions::default()).unwrap();
        assert_eq!(report.messages, messages, "{name}");
        assert_eq!(
            report.bad.count + report.no_envelope.count,
            0,
            "{name}: {report}"
        );
        assert_eq!(report.sequence_restarts.count, restarts, "{name}: {report}");
        assert_eq!(report.timebase, Timebase::APPLE_SILICON, "{name}: {report}");
        assert!(
            read.iter()
                .all(|m| m.pid.is_some() && m.process_path.is_some()),
            "{name}"
        );
    }
}

#[test]
fn a_line_over_the_limit_is_an_error_even_when_not_strict() {
    let mut bytes = std::fs::read(fixture("v10_mixed.jsonl")).unwrap();
    bytes.extend_from_slice(b"{\"event_type\":10,\"pad\":\"");
    bytes.extend(std::iter::repeat_n(b'x', 5000));
    bytes.extend_from_slice(b"\"}\n");
    let options = ImportOptions {
        max_line_bytes: 4096,
        ..ImportOptions::default()
    };
    match import_bytes(&bytes, &options) {
        Err(ImportError::Line(LineError::TooLong {
            line: 13,
            max: 4096,
        })) => {}
        other => panic!("expected line 13 too long, got {:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn progress_covers_both_passes_and_only_grows() {
    let line = std::fs::read(fixture("v9_intel.jsonl")).unwrap();
    let bytes = line.repeat(300); // 6000 lines: several progress calls a pass
    let mut seen = Vec::new();
    import(
        || Ok(bytes.as_slice()),
        &ImportOptions::default(),
        "test",
        Vec::new(),
        |read| seen.push(read),
    )
    .unwrap();
    assert!(seen.len() >= 4, "{seen:?}");
    assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&(2 * bytes.len() as u64)));
}
