//! The tap around a (fake) ES client: a handler thread answers most messages
//! itself and hands every fourth one to a worker; both record their service
//! times. Runs anywhere:
//!
//! ```text
//! cargo run -p esreplay-recorder --example tap -- /tmp/tap.esr
//! esreplay inspect /tmp/tap.esr
//! ```

use esreplay_recorder::clock;
use esreplay_recorder::{InlineStr, RawMessage, Tap, TapOptions, Token};
use esreplay_traces::budget::BudgetTable;
use esreplay_traces::{EventType, Header, Source};
use std::time::{Duration, Instant};

/// Busy work standing in for a real decision.
fn work(micros: u64) {
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// What a real handler would copy out of an `es_message_t`.
fn fake_message(i: u64, budgets: &BudgetTable) -> RawMessage {
    let event = if i.is_multiple_of(3) {
        EventType::AUTH_EXEC
    } else {
        EventType::AUTH_OPEN
    };
    let now = clock::now_ticks();
    let budget_ticks = clock::timebase().ns_to_ticks(budgets.budget_ns(event));
    RawMessage {
        mach_time: now,
        deadline: Some(now + budget_ticks),
        seq: Some(i),
        global_seq: Some(i),
        event: event.0,
        auth: true,
        pid: Some(1000 + (i % 7) as u32),
        target_path: InlineStr::from_bytes(format!("/tmp/file{}", i % 13).as_bytes()),
        ..RawMessage::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "tap.esr".into());
    let header = Header {
        source: Some(Source::Other(100)),
        subscribed: vec![EventType::AUTH_EXEC, EventType::AUTH_OPEN],
        ..Header::default()
    };
    let tap = Tap::start(&path, header, TapOptions::default())?;
    let budgets = BudgetTable::default();
    let mut handler = tap.handle();
    let mut worker = tap.handle();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Token>(64);
    let worker_thread = std::thread::spawn(move || {
        for token in rx {
            work(200); // the slow path: hashing a file, asking a daemon...
            worker.done(token);
        }
    });
    for i in 0..2_000 {
        let token = handler.received(fake_message(i, &budgets));
        if i.is_multiple_of(4) {
            tx.send(token)?;
        } else {
            work(20);
            handler.done(token);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    drop(tx);
    worker_thread.join().map_err(|_| "worker panicked")?;
    let stats = tap.finish()?;
    println!(
        "{path}: {} messages, {} dropped",
        stats.messages, stats.dropped
    );
    Ok(())
}
