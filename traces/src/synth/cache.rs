//! The ES cache scenarios: `repeat-open`, `cache-thrash` and
//! `write-between`. Each is the `steady` background plus, from 20 % of the
//! run, one attacker process opening files at 10 × `rate` (open loop, no
//! thread ids, like `flood`):
//!
//! | scenario | the attacker | with `--es-cache AUTH_OPEN` |
//! | --- | --- | --- |
//! | `repeat-open` | re-opens a working set of [`REPEAT_FILES`] files, round robin | hits once the cache holds the set |
//! | `cache-thrash` | cycles through [`THRASH_FILES`] distinct files, 16 times the default cache | an LRU smaller than the cycle hits only when a lagging client's answers line up with the cycle |
//! | `write-between` | writes one file (NOTIFY_WRITE) 1 µs before every open of it | every open misses once the client answers within the 50 µs between opens: the write drops the entry |
//!
//! The writes of `write-between` are in the trace for the kernel's
//! invalidation; a client need not subscribe to them, so they carry a
//! service time of 0 (when service times are recorded).

use std::sync::Arc;

use super::{GenOptions, Scenario, Stamp, Stream};
use crate::event::EventType;
use crate::model::Message;

/// The attacker's stream id (the background is 1, `flood`'s attacker 2).
pub(super) const STREAM_CACHE: u64 = 3;
/// Files `repeat-open` re-opens.
pub const REPEAT_FILES: u64 = 100;
/// Files `cache-thrash` cycles through: 16 times the default ES cache size.
pub const THRASH_FILES: u64 = 65_536;
/// How long before each open `write-between` writes the file.
pub const WRITE_LEAD_NS: u64 = 1_000;
const ATTACKER_PID: u32 = 6667;

/// Whether `scenario` is one of this module's.
pub(super) fn is_cache_scenario(scenario: Scenario) -> bool {
    matches!(
        scenario,
        Scenario::RepeatOpen | Scenario::CacheThrash | Scenario::WriteBetween
    )
}

/// The attacker's stream, from 20 % of the run.
pub(super) fn attacker(options: &GenOptions) -> Stream {
    let mut stream = Stream {
        id: STREAM_CACHE,
        step: 0,
        next_arrival_ns: options.duration_ns / 5,
        interval_ns: None,
    };
    if options.scenario == Scenario::WriteBetween {
        // Step 0 is a write; the first open follows it.
        stream.next_arrival_ns = stream.next_arrival_ns.saturating_sub(WRITE_LEAD_NS);
    }
    stream
}

fn open_interval_ns(options: &GenOptions) -> u64 {
    (1e9 / (10.0 * options.rate_per_s)).max(1.0) as u64
}

/// The gap before the attacker's step `step` (a write at even steps of
/// `write-between`, an open else): one open interval, or for
/// `write-between` the write's lead before an open and the rest of the
/// interval before a write.
pub(super) fn gap_ns(options: &GenOptions, step: u64) -> u64 {
    let interval = open_interval_ns(options);
    if options.scenario != Scenario::WriteBetween {
        return interval;
    }
    let lead = WRITE_LEAD_NS.min(interval.saturating_sub(1)).max(1);
    if !step.is_multiple_of(2) {
        lead
    } else {
        interval.saturating_sub(lead).max(1)
    }
}

/// The attacker's message at `stream`'s current step.
pub(super) fn describe(stamp: &mut Stamp, options: &GenOptions, stream: &Stream) -> Message {
    let step = stream.step;
    let (event, file) = match options.scenario {
        Scenario::RepeatOpen => (EventType::AUTH_OPEN, step % REPEAT_FILES),
        Scenario::CacheThrash => (EventType::AUTH_OPEN, step % THRASH_FILES),
        _ if step.is_multiple_of(2) => (EventType::NOTIFY_WRITE, 0),
        _ => (EventType::AUTH_OPEN, 0),
    };
    let mut message = stamp.message(event, stream.next_arrival_ns);
    if event == EventType::NOTIFY_WRITE && message.service_ns.is_some() {
        message.service_ns = Some(0);
    }
    if options.paths {
        let (process, dir) = match options.scenario {
            Scenario::RepeatOpen => ("/usr/local/bin/rescanner", "/Users/alex/project/src"),
            Scenario::CacheThrash => ("/private/tmp/thrasher", "/private/tmp/thrash"),
            _ => ("/private/tmp/cache-buster", "/private/tmp/busted"),
        };
        message.pid = Some(ATTACKER_PID);
        message.process_path = Some(Arc::from(process));
        message.target_path = Some(Arc::from(format!("{dir}/file{file}")));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Action;
    use std::collections::HashSet;

    fn attack(scenario: Scenario) -> Vec<Message> {
        attack_at(scenario, 2_000.0)
    }

    fn attack_at(scenario: Scenario, rate_per_s: f64) -> Vec<Message> {
        let options = GenOptions {
            duration_ns: 1_000_000_000,
            rate_per_s,
            ..GenOptions::new(scenario)
        };
        options
            .messages()
            .filter(|m| m.pid == Some(ATTACKER_PID))
            .collect()
    }

    #[test]
    fn repeat_open_cycles_a_small_working_set_at_ten_times_the_rate() {
        let opens = attack(Scenario::RepeatOpen);
        // 20 000/s from 0.2 s to 1 s.
        assert!(
            (opens.len() as f64 / 16_000.0 - 1.0).abs() < 0.01,
            "{}",
            opens.len()
        );
        let files: HashSet<_> = opens.iter().map(|m| m.target_path.clone()).collect();
        assert_eq!(files.len() as u64, REPEAT_FILES);
        assert!(
            opens
                .iter()
                .all(|m| m.event == EventType::AUTH_OPEN && m.deadline_ns.is_some())
        );
    }

    #[test]
    fn cache_thrash_never_repeats_a_file_within_sixteen_default_caches() {
        // 200 000 opens/s from 0.2 s: 160 000 opens, more than two cycles.
        let opens = attack_at(Scenario::CacheThrash, 20_000.0);
        let first: HashSet<_> = opens
            .iter()
            .take(THRASH_FILES as usize)
            .map(|m| m.target_path.clone())
            .collect();
        assert_eq!(first.len() as u64, THRASH_FILES);
        assert_eq!(
            opens[THRASH_FILES as usize].target_path,
            opens[0].target_path
        );
    }

    #[test]
    fn write_between_writes_the_file_just_before_every_open() {
        let messages = attack(Scenario::WriteBetween);
        assert!(messages.len() > 1000);
        for pair in messages.chunks(2) {
            let [write, open] = pair else { continue };
            assert_eq!(
                (write.event, write.action),
                (EventType::NOTIFY_WRITE, Action::Notify)
            );
            assert_eq!(open.event, EventType::AUTH_OPEN);
            assert_eq!(open.arrival_ns - write.arrival_ns, WRITE_LEAD_NS);
            assert_eq!(write.target_path, open.target_path);
            assert_eq!(write.service_ns, Some(0));
        }
        let opens: Vec<u64> = messages
            .iter()
            .filter(|m| m.is_auth())
            .map(|m| m.arrival_ns)
            .collect();
        assert!(
            opens.windows(2).all(|w| w[1] - w[0] == 50_000),
            "10 × 2000/s"
        );
    }
}
