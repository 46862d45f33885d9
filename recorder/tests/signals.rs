//! SIGTERM, SIGINT and SIGHUP set the stop flag (and no longer kill the
//! process), and a writer stopped that way writes its footer. Own test
//! binary: it raises signals at itself. (A second signal while the flag is
//! set exits the process: not raised here.)

use esreplay_recorder::{RawMessage, Writer, WriterConfig, ring, stop_on_signals};
use esreplay_traces::{Header, TraceReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[test]
fn sigterm_sigint_and_sighup_stop_the_writer_cleanly() {
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(&stop).unwrap();
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        // The flag is cleared before each signal: with it set, a signal
        // would exit the test process.
        stop.store(false, Ordering::Release);
        let (mut producer, consumer) = ring::<RawMessage>(16);
        let rings = Arc::new(Mutex::new(vec![consumer]));
        let writer = Writer::spawn(
            Vec::new(),
            &Header::default(),
            rings,
            Arc::clone(&stop),
            WriterConfig::default(),
        )
        .unwrap();
        assert!(producer.try_push(RawMessage::default()));
        signal_hook::low_level::raise(signal).unwrap();
        assert!(
            stop.load(Ordering::Acquire),
            "signal {signal} did not set the flag"
        );
        while !writer.is_finished() {
            std::thread::yield_now();
        }
        let (bytes, stats) = writer.finish().unwrap();
        assert_eq!(stats.messages, 1);
        let mut reader = TraceReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.by_ref().count(), 1);
        assert!(reader.footer().is_some_and(|f| f.end.is_some()));
    }
}
