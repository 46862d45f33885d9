//! A trace written by the tap replays with `--cost trace`: every message
//! carries its recorded service time, and the simulator accepts it.

use esreplay_recorder::{RawMessage, Tap, TapOptions, clock};
use esreplay_simulator::{CostModel, SimConfig, StrategySpec, simulate};
use esreplay_traces::{EventType, Header, TraceReader};

#[test]
fn tap_trace_replays_with_recorded_costs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tap.esr");
    let tap = Tap::start(&path, Header::default(), TapOptions::default()).unwrap();
    let mut handle = tap.handle();
    let second = clock::timebase().ns_to_ticks(1_000_000_000);
    for i in 0..200u64 {
        let now = clock::now_ticks();
        let raw = RawMessage {
            mach_time: now,
            deadline: Some(now + second),
            global_seq: Some(i),
            event: EventType::AUTH_OPEN.0,
            auth: true,
            ..RawMessage::default()
        };
        let token = handle.received(raw);
        std::hint::black_box((0..100).sum::<u64>());
        assert!(handle.done(token));
    }
    let stats = tap.finish().unwrap();
    assert_eq!((stats.messages, stats.dropped), (200, 0));

    let messages: Vec<_> = TraceReader::open(&path)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(messages.iter().all(|m| m.service_ns.is_some()));
    let cost = CostModel::parse("trace").unwrap();
    let mut strategy = "inline".parse::<StrategySpec>().unwrap().build();
    let result = simulate(messages, &mut strategy, &cost, &SimConfig::default());
    let result = result.expect("a tap trace has every cost --cost trace needs");
    assert_eq!(result.messages, 200);
    assert_eq!(result.misses, 0);
}
