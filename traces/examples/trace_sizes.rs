//! Prints the bytes per message of every `gen` scenario, with and without
//! paths: `cargo run --release -p esreplay-traces --example trace_sizes`.

use esreplay_traces::TraceWriter;
use esreplay_traces::synth::{GenOptions, Scenario};

fn main() {
    println!(
        "{:<13} {:>10} {:>14} {:>14}",
        "scenario", "messages", "B/msg no paths", "B/msg paths"
    );
    for scenario in Scenario::ALL {
        let size = |paths: bool| {
            // Service times as before `gen` recorded them by default: only
            // exec-storm's, so that the figures compare across versions.
            let options = GenOptions {
                paths,
                record_service: scenario == Scenario::ExecStorm,
                ..GenOptions::new(scenario)
            };
            let mut writer = TraceWriter::new(Vec::new(), &options.header()).expect("in memory");
            let count = options.write_to(&mut writer).expect("in memory");
            (count, writer.finish().expect("in memory").len())
        };
        let (count, bare) = size(false);
        let (_, with_paths) = size(true);
        println!(
            "{:<13} {:>10} {:>14.2} {:>14.2}",
            scenario.name(),
            count,
            bare as f64 / count as f64,
            with_paths as f64 / count as f64
        );
    }
}
