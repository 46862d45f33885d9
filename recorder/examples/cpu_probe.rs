//! What the recorder's CPU probe reads on this machine, and what a reading
//! costs: the probe `esrecord` samples its CPU track with (Linux: runnable
//! threads of other processes; macOS: busy CPUs less its own), read every
//! 10 ms for 3 s. Start a CPU hog in another terminal (`yes > /dev/null`)
//! to see it counted:
//!
//! ```text
//! cargo run --release -p esreplay-recorder --example cpu_probe
//! ```

use esreplay_recorder::cpu_track::{DEFAULT_PERIOD, Quantiser, platform_probe};
use std::time::{Duration, Instant};

fn main() {
    let mut probe = match platform_probe() {
        Ok(probe) => probe,
        Err(error) => {
            eprintln!("cpu_probe: no CPU probe here: {error}");
            std::process::exit(2);
        }
    };
    println!("{}", probe.describe());
    let started = Instant::now();
    let (mut quantiser, mut samples, mut sum) = (Quantiser::default(), Vec::new(), 0.0);
    let mut reading_time = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(3) {
        let t_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let before = Instant::now();
        let read = probe.read(t_ns);
        reading_time += before.elapsed();
        match read {
            Ok(Some((_, load))) => {
                sum += load;
                samples.push(quantiser.round(load));
            }
            Ok(None) => {}
            Err(error) => eprintln!("cpu_probe: {error}"),
        }
        std::thread::sleep(DEFAULT_PERIOD);
    }
    let count = samples.len().max(1);
    let per_reading = reading_time / u32::try_from(count).unwrap_or(u32::MAX);
    println!(
        "{} samples, mean load {:.2} (whole numbers {:.2}), {per_reading:?} a reading \
         ({:.2} % of one core at {DEFAULT_PERIOD:?})",
        samples.len(),
        sum / count as f64,
        samples.iter().map(|&b| f64::from(b)).sum::<f64>() / count as f64,
        per_reading.as_secs_f64() / DEFAULT_PERIOD.as_secs_f64() * 100.0,
    );
    println!("first samples: {:?}", &samples[..samples.len().min(30)]);
}
