//! What the importer warns about: lines whose clocks are outliers, message
//! and schema versions it was not checked against, and, when no line is a
//! message, why and what the input looks like instead.

use esreplay_eslogger::{ImportError, ImportOptions};
use esreplay_traces::{Message, Timebase};

mod common;

use common::{fixture, fixture_objects, import_bytes};

/// The v10 fixture with `edit` applied to line `index` (0-based).
fn edited(index: usize, edit: impl Fn(&mut serde_json::Map<String, serde_json::Value>)) -> Vec<u8> {
    let mut objects = fixture_objects("v10_mixed.jsonl");
    edit(&mut objects[index]);
    let mut text = String::new();
    for object in objects {
        text.push_str(&serde_json::Value::Object(object).to_string());
        text.push('\n');
    }
    text.into_bytes()
}

fn span_ns(messages: &[Message]) -> u64 {
    let arrivals = messages.iter().map(|m| m.arrival_ns);
    arrivals.clone().max().unwrap() - arrivals.min().unwrap()
}

#[test]
fn a_line_with_mach_time_0_is_skipped_with_a_warning_and_spoils_nothing() {
    let whole = std::fs::read(fixture("v10_mixed.jsonl")).unwrap();
    let (messages, report) = import_bytes(&whole, &ImportOptions::default()).unwrap();
    let span = span_ns(&messages);
    assert!(report.warnings().is_empty(), "{:?}", report.warnings());
    for index in [0, 5, 11] {
        let bytes = edited(index, |line| {
            line.insert("mach_time".into(), 0.into());
        });
        let (messages, report) = import_bytes(&bytes, &ImportOptions::default()).unwrap();
        assert_eq!(report.clock_outliers.first, [index as u64 + 1], "{index}");
        assert_eq!(report.messages, 11);
        assert_eq!(report.timebase, Timebase::APPLE_SILICON, "{index}");
        // The span of the other lines is kept (the first or the last line
        // gone shortens it by at most that line's gap).
        let kept = span_ns(&messages);
        assert!(kept > span / 2 && kept <= span, "{index}: {kept} of {span}");
        let warnings = report.warnings().join("\n");
        assert!(
            warnings.contains("lines skipped: 1 (lines ") && warnings.contains("mach_time"),
            "{warnings}"
        );
        assert!(report.to_string().contains("WARNING"));
    }
}

#[test]
fn unknown_message_and_schema_versions_are_named_in_a_warning() {
    let bytes = edited(3, |line| {
        line.insert("version".into(), 12.into());
        line.insert("schema_version".into(), 2.into());
    });
    let (_, report) = import_bytes(&bytes, &ImportOptions::default()).unwrap();
    let warnings = report.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("message versions 12 (1 lines)"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("schema versions 2 (1 lines)"),
        "{warnings:?}"
    );
}

/// The error of an import of `text`, as a sentence.
fn failure(text: &str) -> String {
    match import_bytes(text.as_bytes(), &ImportOptions::default()) {
        Err(error @ ImportError::NoMessages { .. }) => error.to_string(),
        other => panic!(
            "not a failure to find messages: {:?}",
            other.map(|(_, r)| r)
        ),
    }
}

#[test]
fn when_no_line_is_a_message_the_error_says_why_and_what_the_input_looks_like() {
    let line = std::fs::read_to_string(fixture("v10_mixed.jsonl")).unwrap();
    let first = line.lines().next().unwrap();
    let array = format!("[{first},{first}]\n");
    let error = failure(&array);
    assert!(
        error.contains("line 1:") && error.contains("JSON array"),
        "{error}"
    );

    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(first).unwrap())
            .unwrap();
    let error = failure(&pretty);
    assert!(
        error.contains("line 1:") && error.contains("line 3:"),
        "{error}"
    );
    assert!(error.contains("pretty-printed"), "{error}");

    let jsonl = "{\"global_seq\":0,\"seq\":0,\"event\":\"AUTH_OPEN\",\"action\":\"auth\",\"arrival_ns\":1}\n";
    let error = failure(&jsonl.repeat(5));
    assert!(
        error.contains("line 1:") && error.contains("import jsonl"),
        "{error}"
    );
}
