//! `docs/jsonl.schema.json` describes what `esreplay export jsonl` writes
//! and what `import jsonl` accepts: every exported line of traces from
//! several sources validates, and lines the importer refuses are refused by
//! the schema too (validated with the `jsonschema` crate, draft 2020-12).

use esreplay_tests::{data, esreplay, export_jsonl, reimport_jsonl, root};
use esreplay_traces::jsonl::parse_message;
use serde_json::{Value, json};
use std::path::Path;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("docs/jsonl.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::new(&schema).expect("the schema is a valid draft 2020-12 schema")
}

/// Validates every exported line of `trace`; returns the line count.
fn validate_export(validator: &jsonschema::Validator, trace: &Path) -> usize {
    let lines = export_jsonl(trace);
    let mut count = 0;
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let value: Value = serde_json::from_slice(line).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {errors:?}",
            String::from_utf8_lossy(line)
        );
        count += 1;
    }
    count
}

#[test]
fn exported_lines_of_every_source_validate() {
    let validator = validator();
    let dir = tempfile::tempdir().unwrap();
    // Every details field (the golden trace), a generated mix with NOTIFY
    // and paths.
    assert!(validate_export(&validator, &data("golden-v1.estrace")) > 0);
    let mixed = dir.path().join("mixed.estrace");
    esreplay()
        .args(["gen", "mixed", "--duration", "1s", "--rate", "500", "-o"])
        .arg(&mixed)
        .assert()
        .success();
    assert!(validate_export(&validator, &mixed) > 100);
    // A tap trace (response time and verdict, handler exit).
    let tapped = dir.path().join("tap.estrace");
    write_tap_trace(&tapped);
    assert_eq!(validate_export(&validator, &tapped), 10);
    // Every details field the model has, through import and export.
    let every = dir.path().join("every.estrace");
    let lines = reimport_jsonl(EVERY_DETAIL.as_bytes(), &every);
    assert_eq!(String::from_utf8(lines).unwrap(), EVERY_DETAIL);
    assert_eq!(validate_export(&validator, &every), 1);
}

/// A line with every details field (in the export's order).
const EVERY_DETAIL: &str = concat!(
    r#"{"global_seq":0,"seq":0,"event":"NOTIFY_CLOSE","action":"notify","arrival_ns":5,"#,
    r#""pid":1,"process_path":"/bin/cp","target_path":"/tmp/f","details":{"message_version":8,"#,
    r#""thread_id":9,"handler_exit_ns":7,"response_ns":6,"verdict":0,"open_fflag":3,"pidversion":2,"#,
    r#""euid":501,"ppid":1,"signing_id":"com.apple.cp","team_id":"T","platform_binary":true,"#,
    r#""is_es_client":false,"target_dev":16777233,"target_ino":42,"close_modified":true}}"#,
    "\n"
);

fn write_tap_trace(path: &Path) {
    use esreplay_recorder::{RawMessage, Tap, TapOptions, clock};
    let tap = Tap::start(path, Default::default(), TapOptions::default()).unwrap();
    let mut handle = tap.handle();
    for i in 0..10u64 {
        let now = clock::now_ticks();
        let mut raw = RawMessage {
            mach_time: now,
            deadline: Some(now + 1_000_000),
            global_seq: Some(i),
            event: 1,
            auth: true,
            response: Some(now + 10),
            verdict: Some(0),
            ..RawMessage::default()
        };
        raw.target_path.set(b"/tmp/x");
        assert!(handle.done(handle.received(raw)));
    }
    tap.finish().unwrap();
}

/// A valid minimal line with one field replaced (or removed, for `null`
/// under the key `"-"`).
fn line_with(key: &str, value: Value) -> Value {
    let mut line = json!({
        "global_seq": 3, "seq": 3, "event": "AUTH_OPEN", "action": "auth",
        "arrival_ns": 1000, "deadline_ns": 2000
    });
    match key.strip_prefix('-') {
        Some(removed) => {
            line.as_object_mut().unwrap().remove(removed);
        }
        None => line[key] = value,
    }
    line
}

#[test]
fn schema_and_importer_agree_on_good_and_bad_lines() {
    let validator = validator();
    let good = [
        line_with("event", json!(1)),
        line_with("event", json!("es_event_type_auth_exec")),
        line_with("deadline_ns", Value::Null),
        line_with("details", json!({"verdict": 0, "team_id": null})),
        line_with("details", json!({})),
        line_with(
            "details",
            json!({"is_es_client": true, "close_modified": false}),
        ),
        line_with("global_seq", json!(u64::MAX)),
    ];
    for line in &good {
        assert!(validator.is_valid(line), "schema refused {line}");
        let text = serde_json::to_vec(line).unwrap();
        assert!(parse_message(&text).is_ok(), "import refused {line}");
    }
    let bad = [
        line_with("-arrival_ns", Value::Null),
        line_with("-action", Value::Null),
        line_with("action", json!("AUTH")),
        line_with("arrival_ns", json!(-1)),
        line_with("arrival_ns", json!(1.5)),
        line_with("arrival_ns", json!("1000")),
        line_with("pid", json!(4_294_967_296u64)),
        line_with("event", json!(65_536)),
        line_with("event", json!("AUTH OPEN")),
        line_with("surprise", json!(1)),
        line_with("details", json!({"verdict": -1})),
        line_with("details", json!({"platform_binary": 1})),
        line_with("details", json!({"close_modified": "yes"})),
        line_with("details", json!({"unknown_fact": 1})),
    ];
    for line in &bad {
        assert!(!validator.is_valid(line), "schema accepted {line}");
        let text = serde_json::to_vec(line).unwrap();
        assert!(parse_message(&text).is_err(), "import accepted {line}");
    }
}
