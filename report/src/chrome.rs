//! Chrome trace event JSON ("JSON Object Format", the `traceEvents` array),
//! which the Perfetto UI and `chrome://tracing` open: named threads ("M"
//! metadata), complete slices ("X"), counters ("C") and instants ("i").
//!
//! Times are given in nanoseconds and written as microseconds (`ts`,
//! `dur`), the format's unit, with the nanoseconds kept as decimals.
//! [`ChromeTrace::write`] sorts the events by time (stable: equal times keep
//! the order they were added in), metadata first, so the file is sorted and
//! identical for the same events.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Value, json};

/// The process id every event carries.
const PID: u32 = 1;

/// Where an instant event is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// On its thread's track.
    Thread,
    /// Across the whole process.
    Process,
    /// Across the whole trace.
    Global,
}

/// An event, serialised when added (a `Value` tree would cost several
/// times the memory of its text).
#[derive(Debug)]
struct Event {
    ts_ns: u64,
    body: String,
}

/// A trace being built: add threads and events, then [`write`](Self::write).
#[derive(Debug, Default)]
pub struct ChromeTrace {
    process: String,
    threads: BTreeMap<u32, String>,
    events: Vec<Event>,
}

fn micros(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

impl ChromeTrace {
    /// An empty trace whose process is called `process`.
    pub fn new(process: &str) -> ChromeTrace {
        ChromeTrace {
            process: process.to_owned(),
            ..ChromeTrace::default()
        }
    }

    /// Names thread `tid` (tracks are ordered by tid).
    pub fn thread(&mut self, tid: u32, name: &str) {
        self.threads.insert(tid, name.to_owned());
    }

    /// Events added so far (without metadata).
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event was added.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn push(&mut self, ts_ns: u64, body: Value) {
        let body = body.to_string();
        self.events.push(Event { ts_ns, body });
    }

    /// A complete event: `name` ran on `tid` from `start_ns` for `dur_ns`.
    pub fn slice(
        &mut self,
        tid: u32,
        cat: &str,
        name: &str,
        start_ns: u64,
        dur_ns: u64,
        args: Value,
    ) {
        let body = json!({"name": name, "cat": cat, "ph": "X", "pid": PID, "tid": tid,
            "ts": micros(start_ns), "dur": micros(dur_ns), "args": args});
        self.push(start_ns, body);
    }

    /// A counter sample: track `name` has `value` from `ts_ns` on.
    pub fn counter(&mut self, name: &str, ts_ns: u64, value: u64) {
        let body = json!({"name": name, "ph": "C", "pid": PID, "tid": 0,
            "ts": micros(ts_ns), "args": {"value": value}});
        self.push(ts_ns, body);
    }

    /// An instant event at `ts_ns`.
    pub fn instant(
        &mut self,
        tid: u32,
        cat: &str,
        name: &str,
        ts_ns: u64,
        scope: Scope,
        args: Value,
    ) {
        let scope = match scope {
            Scope::Thread => "t",
            Scope::Process => "p",
            Scope::Global => "g",
        };
        let body = json!({"name": name, "cat": cat, "ph": "i", "s": scope, "pid": PID, "tid": tid,
            "ts": micros(ts_ns), "args": args});
        self.push(ts_ns, body);
    }

    fn metadata(&self) -> Vec<Value> {
        let named = |name: &str, tid: u32, value: &str| json!({"name": name, "ph": "M", "pid": PID, "tid": tid, "args": {"name": value}});
        let sort = |tid: u32| {
            json!({"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": tid,
                "args": {"sort_index": tid}})
        };
        let mut out = vec![named("process_name", 0, &self.process)];
        for (&tid, name) in &self.threads {
            out.push(named("thread_name", tid, name));
            out.push(sort(tid));
        }
        out
    }

    /// Writes the trace as one JSON object, one event a line.
    pub fn write(mut self, mut out: impl Write) -> io::Result<()> {
        self.events.sort_by_key(|e| e.ts_ns);
        out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
        let metadata = self.metadata().into_iter().map(|m| m.to_string());
        let bodies = metadata.chain(self.events.into_iter().map(|e| e.body));
        for (i, body) in bodies.enumerate() {
            if i > 0 {
                out.write_all(b",\n")?;
            }
            out.write_all(body.as_bytes())?;
        }
        out.write_all(b"\n]}\n")?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_sorted_with_metadata_first_and_microsecond_times() {
        let mut trace = ChromeTrace::new("esreplay: pool:2");
        trace.thread(1, "worker 0");
        trace.thread(0, "handler");
        trace.slice(
            1,
            "job",
            "AUTH_OPEN",
            2_500,
            1_000,
            json!({"global_seq": 7}),
        );
        trace.counter("in flight", 1_000, 3);
        trace.instant(0, "miss", "miss #7", 3_000, Scope::Process, json!({}));
        assert_eq!(trace.len(), 3);
        let mut bytes = Vec::new();
        trace.write(&mut bytes).unwrap();
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        let events = parsed["traceEvents"].as_array().unwrap();
        let phases: Vec<&str> = events.iter().map(|e| e["ph"].as_str().unwrap()).collect();
        assert_eq!(phases, ["M", "M", "M", "M", "M", "C", "X", "i"]);
        assert_eq!(events[1]["args"]["name"], "handler");
        assert_eq!(events[6]["ts"], 2.5);
        assert_eq!(events[6]["dur"], 1.0);
        assert_eq!(events[7]["s"], "p");
    }
}
