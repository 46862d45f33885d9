//! What one CPU-track sample costs on this machine, and what it reads:
//! `cargo run --release -p esreplay-traces --example cpu_sampler`.

use std::time::Instant;

use esreplay_traces::cpu::Sampler;

fn main() {
    let sampler = Sampler::default();
    let rounds = 2_000u32;
    let start = Instant::now();
    let mut total = 0u64;
    for round in 0..rounds {
        match sampler.sample(u64::from(round)) {
            Ok(sample) => total += u64::from(sample.runnable),
            Err(error) => {
                eprintln!("cpu_sampler: {error}");
                std::process::exit(2);
            }
        }
    }
    let per_sample = start.elapsed() / rounds;
    let period = std::time::Duration::from_nanos(sampler.period_ns());
    println!(
        "{per_sample:?} per sample ({:.3} % of one core at a {period:?} period); mean other runnable threads {:.2}",
        per_sample.as_secs_f64() / period.as_secs_f64() * 100.0,
        total as f64 / f64::from(rounds)
    );
}
