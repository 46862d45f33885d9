//! The importer on input nobody should write: mangled bytes, fields of
//! any type, keys in any order, unknown keys, escaped slashes. Never a
//! panic, every line accounted for, and no change where none is due.

mod common;

use common::{fixture, fixture_objects, import_bytes, write_object};
use esreplay_eslogger::{ImportError, ImportOptions};
use proptest::prelude::*;

proptest! {
    #[test]
    fn mangled_captures_never_panic(
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = std::fs::read(fixture("v10_mixed.jsonl")).unwrap();
        for (at, byte) in flips {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        bytes.truncate(cut.index(bytes.len()) + 1);
        bytes.extend_from_slice(&noise);
        let _ = import_bytes(&bytes, &ImportOptions::default());
        let _ = import_bytes(&bytes, &ImportOptions { strict: true, ..ImportOptions::default() });
    }
}

proptest! {
    /// Key order, unknown keys (top level and nested) and escaped or plain
    /// slashes change nothing in the messages.
    #[test]
    fn key_order_unknown_keys_and_slash_escapes_change_nothing(
        seed in any::<u64>(),
        escape in any::<bool>(),
    ) {
        let objects = fixture_objects("v10_mixed.jsonl");
        let original = std::fs::read(fixture("v10_mixed.jsonl")).unwrap();
        let (expected, _) = import_bytes(&original, &ImportOptions::default()).unwrap();
        let mut text = String::new();
        for (line, object) in objects.iter().enumerate() {
            let mut object = object.clone();
            object.insert(format!("x_unknown_{line}"), serde_json::json!({"deep": [1, {"k": null}]}));
            if let Some(serde_json::Value::Object(process)) = object.get_mut("process") {
                process.insert("x_future_field".into(), serde_json::json!("a/b"));
            }
            let mut entries: Vec<_> = object.iter().collect();
            // A permutation drawn from the seed.
            entries.sort_by_key(|(key, _)| {
                key.bytes().fold(seed ^ line as u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
            });
            write_object(&entries, &mut text);
        }
        if escape {
            text = text.replace('/', "\\/");
        }
        let (messages, report) = import_bytes(text.as_bytes(), &ImportOptions::default()).unwrap();
        prop_assert_eq!(report.bad.count, 0);
        prop_assert_eq!(messages, expected);
    }
}

/// A JSON value of any type, odd ones included.
fn odd_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::from),
        Just(serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8])),
        Just(serde_json::json!({"open": {}, "pid": -1})),
    ]
}

proptest! {
    /// Any field of a real-shape line given a value of any type: never a
    /// panic, and every non-blank line is a message, a record without an
    /// envelope, a bad line or a clock outlier, exactly one of them.
    #[test]
    fn every_line_is_accounted_for_whatever_its_fields_hold(
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<prop::sample::Index>(), odd_value()),
            1..12,
        ),
    ) {
        let mut objects = fixture_objects("v10_mixed.jsonl");
        for (line, key, inner, value) in edits {
            let object = &mut objects[line.index(12)];
            let top = object.keys().nth(key.index(object.len())).unwrap().clone();
            match object.get_mut(&top) {
                Some(serde_json::Value::Object(nested)) if !nested.is_empty() => {
                    let name = nested.keys().nth(inner.index(nested.len())).unwrap().clone();
                    nested.insert(name, value);
                }
                _ => {
                    object.insert(top, value);
                }
            }
        }
        let mut text = String::new();
        for object in &objects {
            write_object(&object.iter().collect::<Vec<_>>(), &mut text);
        }
        match import_bytes(text.as_bytes(), &ImportOptions::default()) {
            Ok((messages, report)) => {
                prop_assert_eq!(report.messages, messages.len() as u64);
                prop_assert_eq!(report.messages + report.lines_skipped(), 12);
                prop_assert_eq!(report.by_event.values().sum::<u64>(), report.messages);
            }
            Err(ImportError::NoMessages { lines, .. }) => prop_assert_eq!(lines, 12),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}
