//! End-to-end tests of what people look at: `esreplay report` (HTML and
//! SVG, rendered in headless Chromium when it is installed), `esreplay
//! export perfetto`, `completions`, `man`, and the exit codes.
//!
//! The Chromium test skips (saying so) when no browser is found, unless
//! `ESREPLAY_REQUIRE_CHROMIUM=1` is set, as CI does. `ESREPLAY_CHROMIUM`
//! names the browser binary if it is not `chromium` on the PATH or in
//! /usr/bin.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use esreplay_tests::esreplay;
use serde_json::Value;

const STRATEGIES: &str = "inline,pool:4,edf:2,guard:100ms:pool:4";

/// A 3-second flood with recorded service times and 300 ms budgets:
/// inline is killed, pool:4 is not.
fn flood(dir: &Path) -> PathBuf {
    let path = dir.join("flood.estrace");
    esreplay()
        .args([
            "gen",
            "flood",
            "--duration",
            "3s",
            "--rate",
            "1000",
            "--budget",
            "*=300ms",
        ])
        .args(["--service", "lognormal:40us:2ms", "-o"])
        .arg(&path)
        .assert()
        .success();
    path
}

fn report(trace: &Path, html: &Path, extra: &[&str]) -> String {
    let assert = esreplay()
        .arg("report")
        .arg(trace)
        .args(["--strategies", STRATEGIES, "-o"])
        .arg(html)
        .args(extra)
        .assert()
        .success();
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

/// The `points` of every `<polyline>` in `markup`, as (x, y) pairs.
fn polylines(markup: &str) -> Vec<Vec<(f64, f64)>> {
    markup
        .split("<polyline")
        .skip(1)
        .map(|rest| {
            let points = rest.split(" points=\"").nth(1).unwrap();
            let points = &points[..points.find('"').unwrap()];
            points
                .split_whitespace()
                .map(|pair| {
                    let (x, y) = pair.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// Checks a report's markup: one table row and one section per strategy,
/// two overview lines per strategy and three section charts of one line
/// each, with points inside its chart, and the first miss of inline marked.
fn check_report_markup(markup: &str) {
    let strategies = STRATEGIES.split(',').count();
    assert_eq!(markup.matches("<tr class=").count(), strategies);
    assert_eq!(markup.matches("class=\"strategy\"").count(), strategies);
    assert!(markup.contains("<tr class=\"fail\"><td>inline</td>"));
    let lines = polylines(markup);
    assert_eq!(lines.len(), 2 * strategies + 3 * strategies);
    for line in &lines {
        assert!(line.len() > 50, "a line with {} points", line.len());
        let inside =
            |&(x, y): &(f64, f64)| (72.0..=744.0).contains(&x) && (30.0..=196.0).contains(&y);
        assert!(line.iter().all(inside), "a point outside its chart");
    }
    assert_eq!(
        markup.matches("class=\"marker\"").count(),
        3,
        "inline's three charts"
    );
    assert!(markup.contains("first miss #"));
}

#[test]
fn report_writes_a_deterministic_self_contained_page_and_svgs() {
    let dir = tempfile::tempdir().unwrap();
    let trace = flood(dir.path());
    let (html, again) = (dir.path().join("r.html"), dir.path().join("again.html"));
    let svg = dir.path().join("svg");
    let stderr = report(&trace, &html, &["--svg", svg.to_str().unwrap()]);
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "progress off a terminal: {stderr:?}"
    );
    report(&trace, &again, &[]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page, std::fs::read_to_string(&again).unwrap());
    check_report_markup(&page);
    for forbidden in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(
            !page.contains(forbidden),
            "{forbidden} in a self-contained page"
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(&svg)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2 + 3 * 4);
    assert!(files.contains(&"4-guard-100ms-pool-4-latency.svg".to_string()));
    let one = std::fs::read_to_string(svg.join("1-inline-latency.svg")).unwrap();
    assert!(one.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_eq!(polylines(&one).len(), 1);
}

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ESREPLAY_CHROMIUM") {
        return Some(path.into());
    }
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| {
        std::env::split_paths(&p)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .collect::<Vec<_>>()
    });
    on_path
        .chain([PathBuf::from("/usr/bin/chromium")])
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with `mode` (`--dump-dom` or
/// `--screenshot=FILE`); returns its standard output.
fn run_chromium(browser: &Path, page: &Path, mode: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Process::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--hide-scrollbars", "--window-size=960,3000", mode])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("ESREPLAY_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "ESREPLAY_REQUIRE_CHROMIUM=1 but no chromium found (apt-get install chromium)"
        );
        eprintln!(
            "SKIPPED the_report_renders_in_headless_chromium: no chromium (apt-get install chromium)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    report(&flood(dir.path()), &html, &[]);
    let dom = run_chromium(&browser, &html, "--dump-dom");
    assert!(
        dom.contains("<svg") && dom.contains("</html>"),
        "no rendered DOM: {dom:.200}"
    );
    check_report_markup(&dom);
    let png = dir.path().join("report.png");
    run_chromium(&browser, &html, &format!("--screenshot={}", png.display()));
    let image = std::fs::read(&png).unwrap();
    assert!(
        image.starts_with(b"\x89PNG") && image.len() > 20_000,
        "{} bytes",
        image.len()
    );
}

/// The bytes `export perfetto` writes.
fn perfetto_bytes(trace: &Path, strategy: &str, window: &[&str]) -> Vec<u8> {
    let assert = esreplay()
        .args(["export", "perfetto"])
        .arg(trace)
        .args(["--strategy", strategy])
        .args(window)
        .assert()
        .success();
    assert.get_output().stdout.clone()
}

fn perfetto(trace: &Path, strategy: &str, window: &[&str]) -> Value {
    serde_json::from_slice(&perfetto_bytes(trace, strategy, window)).unwrap()
}

/// Arrivals of the messages of `trace` (from its JSONL export).
fn arrivals(trace: &Path) -> Vec<u64> {
    let out = esreplay()
        .args(["export", "jsonl"])
        .arg(trace)
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    text.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["arrival_ns"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn events<'a>(json: &'a Value, ph: &str, cat: Option<&str>) -> Vec<&'a Value> {
    let all = json["traceEvents"].as_array().unwrap();
    let wanted = |e: &&Value| e["ph"] == ph && cat.is_none_or(|c| e["cat"] == c);
    all.iter().filter(wanted).collect()
}

#[test]
fn export_perfetto_draws_every_message_of_the_window_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let trace = flood(dir.path());
    let json = perfetto(&trace, "pool:4", &["--from", "2s", "--to", "2.5s"]);
    let in_window = arrivals(&trace)
        .iter()
        .filter(|&&a| (2_000_000_000..2_500_000_000).contains(&a))
        .count();
    assert!(in_window > 1000);
    let all = json["traceEvents"].as_array().unwrap();
    let mut last = f64::MIN;
    for event in all.iter().filter(|e| e["ph"] != "M") {
        assert!(
            event["name"].is_string() && event["pid"] == 1 && event["tid"].is_u64(),
            "{event}"
        );
        let ts = event["ts"].as_f64().unwrap();
        assert!(ts >= last, "events out of order at {ts}");
        last = ts;
        if event["ph"] == "X" {
            assert!(event["dur"].as_f64().unwrap() >= 0.0);
        }
    }
    let jobs = events(&json, "X", Some("job"));
    assert_eq!(jobs.len(), in_window);
    assert!(
        jobs.iter()
            .all(|j| (1..=4).contains(&j["tid"].as_u64().unwrap()))
    );
    let threads = events(&json, "M", None)
        .iter()
        .filter(|m| m["name"] == "thread_name")
        .count();
    assert_eq!(threads, 1 + 4);
    let counters = events(&json, "C", None);
    assert!(counters.iter().all(|c| c["args"]["value"].is_u64()));
    assert!(
        counters
            .iter()
            .any(|c| c["name"] == "in flight" && c["args"]["value"].as_u64() > Some(0))
    );
}

#[test]
fn export_perfetto_marks_every_miss_and_the_kill_and_respects_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let trace = flood(dir.path());
    let sim = esreplay()
        .arg("sim")
        .arg(&trace)
        .args(["--strategy", "inline", "--json"])
        .assert()
        .success();
    let result: Value = serde_json::from_slice(&sim.get_output().stdout).unwrap();
    let json = perfetto(&trace, "inline", &[]);
    assert!(result["misses"].as_u64().unwrap() > 0);
    assert_eq!(
        events(&json, "i", Some("miss")).len() as u64,
        result["misses"].as_u64().unwrap()
    );
    let kill = events(&json, "i", Some("kill"));
    let killed_us = result["killed_at_ns"].as_f64().unwrap() / 1000.0;
    assert_eq!((kill.len(), kill[0]["ts"].as_f64()), (1, Some(killed_us)));
    assert!(
        events(&json, "X", Some("job"))
            .iter()
            .all(|j| j["tid"] == 0),
        "inline runs on the handler"
    );
    let window = ["--from", "1s", "--to", "2s"];
    let bytes = perfetto_bytes(&trace, "edf:2", &window);
    assert_eq!(
        bytes,
        perfetto_bytes(&trace, "edf:2", &window),
        "not deterministic"
    );
    let refused = esreplay()
        .args(["export", "perfetto"])
        .arg(&trace)
        .args(["--strategy", "pool:2", "--limit", "10"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(
        stderr.contains("--limit 10") && stderr.contains("--from/--to"),
        "{stderr}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = esreplay().args(["completions", shell]).assert().success();
        let script = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(
            script.contains("esreplay") && script.contains("perfetto"),
            "{shell}"
        );
    }
    let out = esreplay().arg("man").assert().success();
    let page = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH esreplay"),
        "{page:.200}"
    );
    assert!(page.contains("report") && page.contains("Exit codes"));
    let dir = tempfile::tempdir().unwrap();
    esreplay()
        .args(["man", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    for page in [
        "esreplay.1",
        "esreplay-report.1",
        "esreplay-export-perfetto.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} missing");
    }
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let trace = flood(dir.path());
    esreplay()
        .arg("report")
        .arg(&trace)
        .args(["--strategies", "inline"])
        .assert()
        .code(2);
    esreplay()
        .arg("report")
        .arg(&trace)
        .args(["--strategies", "nope:3", "-o", "x.html"])
        .assert()
        .code(2);
    esreplay().args(["completions", "tcsh"]).assert().code(2);
    esreplay()
        .args(["export", "perfetto"])
        .arg(&trace)
        .args(["--strategy", "inline", "--from", "2s", "--to", "1s"])
        .assert()
        .code(2);
    let help = esreplay().arg("--help").assert().success();
    assert!(String::from_utf8_lossy(&help.get_output().stdout).contains("2  bad input or usage"));
}
