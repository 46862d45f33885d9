//! End-to-end tests of `check`'s gates: each at its limit and just past
//! it on a real run, the JSON verdict, GitHub annotations, and a JUnit
//! file whose structure is checked element by element.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use esreplay_tests::{esreplay, validate_junit};
use esreplay_traces::{Action, EventType, Header, Message, TraceWriter};
use serde_json::Value;

/// Ten AUTH_OPENs 100 us apart, 1 ms budget, 300 us of work each.
fn periodic(dir: &Path) -> PathBuf {
    let path = dir.join("periodic.estrace");
    let mut writer = TraceWriter::create(&path, &Header::default()).unwrap();
    for i in 0..10u64 {
        let mut message = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * 100_000);
        message.deadline_ns = Some(i * 100_000 + 1_000_000);
        message.service_ns = Some(300_000);
        writer.write(&message).unwrap();
    }
    writer.finish().unwrap();
    path
}

fn check(trace: &Path, flags: &[&str]) -> std::process::Output {
    esreplay()
        .arg("check")
        .arg(trace)
        .args(["--strategy", "pool:4", "--miss-mode", "allow"])
        .args(flags)
        .output()
        .unwrap()
}

#[test]
fn each_gate_passes_at_the_measured_value_and_fails_just_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let trace = periodic(dir.path());
    let output = check(&trace, &["--json"]);
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let ns = |v: &Value| v.as_u64().unwrap();
    let p99 = ns(&result["latency_ns"]["p99"]);
    let max = ns(&result["latency_ns"]["max"]);
    let slack = result["min_slack_ns"].as_i64().unwrap();
    let backlog = ns(&result["max_backlog"]);
    assert!(slack > 0 && backlog > 1, "{result}");
    let cases: [(String, String); 5] = [
        (format!("p99={p99}ns"), format!("p99={}ns", p99 - 1)),
        (format!("max={max}ns"), format!("max={}ns", max - 1)),
        (format!("{slack}ns"), format!("{}ns", slack + 1)),
        (backlog.to_string(), (backlog - 1).to_string()),
        ("0".into(), "-1".into()),
    ];
    let flags = [
        "--max-latency",
        "--max-latency",
        "--min-slack",
        "--max-backlog",
        "--max-misses",
    ];
    for ((at, past), flag) in cases.iter().zip(flags) {
        let ok = check(&trace, &[flag, at]);
        assert_eq!(ok.status.code(), Some(0), "{flag} {at}: {ok:?}");
        if past != "-1" {
            let failed = check(&trace, &[flag, past]);
            assert_eq!(failed.status.code(), Some(1), "{flag} {past}: {failed:?}");
        }
    }
}

#[test]
fn the_verdict_lists_every_gate_in_json_and_as_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let trace = periodic(dir.path());
    let gates = [
        "--max-misses",
        "0",
        "--max-latency",
        "p99=1ns",
        "--max-defaulted",
        "0",
    ];
    let output = check(&trace, &[&gates[..], &["--json"]].concat());
    assert_eq!(output.status.code(), Some(1));
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = result["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["gate"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["complete", "max-misses", "max-latency p99", "max-defaulted"]
    );
    assert_eq!(result["gates"][2]["pass"], false);
    assert_eq!(result["gates"][2]["limit"], 1);
    assert_eq!(result["pass"], false);

    let github = check(&trace, &[&gates[..], &["--format", "github"]].concat());
    let stdout = String::from_utf8_lossy(&github.stdout);
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 1, "{stdout}");
    assert!(errors[0].starts_with("::error title=esreplay check pool%3A4%3A max-latency p99::"));
}

/// One element of a parsed XML document.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: HashMap<String, String>,
    children: Vec<Element>,
}

/// A small XML reader: elements, attributes and nesting (text skipped);
/// panics on a document that is not well nested.
fn parse_xml(text: &str) -> Element {
    let mut stack = vec![Element::default()];
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let element = stack.pop().unwrap();
            assert_eq!(element.name, name, "mismatched end tag");
            stack.last_mut().unwrap().children.push(element);
            continue;
        }
        let closed = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attributes) = tag.split_once(' ').unwrap_or((tag, ""));
        let mut element = Element {
            name: name.into(),
            ..Element::default()
        };
        while let Some((key, value)) = attributes.trim_start().split_once("=\"") {
            let close = value.find('"').expect("unquoted attribute");
            assert!(!value[..close].contains('<'), "unescaped < in {key}");
            element.attributes.insert(key.into(), value[..close].into());
            attributes = &value[close + 1..];
        }
        if closed {
            stack.last_mut().unwrap().children.push(element);
        } else {
            stack.push(element);
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut document = stack.pop().unwrap();
    assert_eq!(document.children.len(), 1, "one root");
    document.children.pop().unwrap()
}

#[test]
fn the_junit_file_has_a_suite_per_strategy_and_a_case_per_gate() {
    let dir = tempfile::tempdir().unwrap();
    let trace = periodic(dir.path());
    let junit = dir.path().join("gates.xml");
    let output = esreplay()
        .arg("check")
        .arg(&trace)
        .args(["--strategy", "pool:4", "--strategy", "inline"])
        .args(["--max-misses", "0", "--max-latency", "p99=500us"])
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    validate_junit(&junit);
    let root = parse_xml(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(root.name, "testsuites");
    assert_eq!(root.children.len(), 2);
    let mut failures = 0;
    for suite in &root.children {
        assert_eq!(suite.name, "testsuite");
        // complete, killed, max-misses, max-latency p99
        assert_eq!(suite.children.len(), 4);
        assert_eq!(suite.attributes["tests"], "4");
        let failed = suite
            .children
            .iter()
            .filter(|case| {
                assert_eq!(case.name, "testcase");
                assert!(case.children.iter().all(|f| f.name == "failure"));
                !case.children.is_empty()
            })
            .count();
        assert_eq!(suite.attributes["failures"], failed.to_string());
        failures += failed;
    }
    assert_eq!(root.children[0].attributes["name"], "pool:4");
    assert_eq!(root.children[0].attributes["failures"], "0");
    assert!(failures >= 2, "inline misses here");
    assert_eq!(root.attributes["tests"], "8");
    assert_eq!(root.attributes["failures"], failures.to_string());
}
