//! The speed limit for the peer comparison: a plain in-memory loop over
//! the same records, with no trace format, no strategy object and no
//! statistics. The trace is decoded once into a `Vec` of (arrival,
//! deadline, global_seq, service); then each model runs `--reps` times
//! and the median CPU time (and that run's wall time) is printed as JSON,
//! with the rate by CPU time.
//!
//! The models follow docs/simulator.md with τ = ρ = c_h = 0: `inline` is
//! one FIFO server; `pool:N` starts job i at max(a_i, earliest free
//! worker); `edf:N` gives each freed worker the ready job (a_j ≤ t) with
//! the smallest (deadline, global_seq, index), NOTIFY last. `--outcomes
//! FILE` writes `index response_ns` lines for the agreement check.
//! `--model engine` runs esreplay's own engine instead, on the messages
//! decoded into memory beforehand: the simulation without the file.
//!
//! ```text
//! cargo run --release --example plain_loop -- TRACE --strategy edf:2 --cost const:5us
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::time::Instant;

use esreplay_simulator::{CostModel, Outcome, SimConfig, Simulator, StrategySpec};
use esreplay_traces::{Message, TraceReader, parse_duration_ns};

/// One message, as the models need it.
#[derive(Clone, Copy)]
struct Record {
    arrival: u64,
    deadline: u64,
    global_seq: u64,
    service: u64,
}

fn inline(records: &[Record], response: &mut [u64]) {
    let mut free = 0u64;
    for (record, out) in records.iter().zip(response) {
        free = record.arrival.max(free) + record.service;
        *out = free;
    }
}

fn fifo(records: &[Record], workers: usize, response: &mut [u64]) {
    let mut free = vec![0u64; workers];
    for (record, out) in records.iter().zip(response) {
        let (slot, &earliest) = free
            .iter()
            .enumerate()
            .min_by_key(|&(_, t)| *t)
            .expect("at least one worker");
        let finish = record.arrival.max(earliest) + record.service;
        free[slot] = finish;
        *out = finish;
    }
}

fn edf(records: &[Record], workers: usize, response: &mut [u64]) {
    let mut free: BinaryHeap<Reverse<u64>> = (0..workers).map(|_| Reverse(0)).collect();
    let mut ready: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut next = 0;
    while next < records.len() || !ready.is_empty() {
        let Reverse(mut now) = *free.peek().expect("at least one worker");
        if ready.is_empty() {
            now = now.max(records[next].arrival);
        }
        while let Some(record) = records.get(next).filter(|r| r.arrival <= now) {
            ready.push(Reverse((record.deadline, record.global_seq, next)));
            next += 1;
        }
        let Reverse((_, _, index)) = ready.pop().expect("a ready job");
        let finish = now + records[index].service;
        response[index] = finish;
        *free.peek_mut().expect("at least one worker") = Reverse(finish);
    }
}

/// esreplay's own engine over the same messages, already in memory: the
/// simulation without the trace file (`--model engine`).
fn engine(
    messages: &[Message],
    spec: &str,
    cost: &str,
    response: &mut [u64],
) -> Result<(), Box<dyn std::error::Error>> {
    let spec: StrategySpec = spec.parse()?;
    let cost = CostModel::parse(cost)?;
    let mut strategy = spec.build();
    let record = |o: &Outcome| response[o.index as usize] = o.response_ns;
    let mut simulator = Simulator::new(&mut strategy, &cost, SimConfig::default(), record);
    for message in messages {
        simulator.push(message.clone())?;
    }
    simulator.finish()?;
    Ok(())
}

fn load(path: &str, cost: &str) -> Result<Vec<Record>, Box<dyn std::error::Error>> {
    let constant = match cost.strip_prefix("const:") {
        Some(duration) => Some(parse_duration_ns(duration)?),
        None if cost == "trace" => None,
        None => return Err(format!("--cost {cost}: const:D or trace").into()),
    };
    let mut records = Vec::new();
    for message in decode(path)? {
        let service = constant
            .or(message.service_ns)
            .ok_or("a message has no service time: use --cost const:D")?;
        records.push(Record {
            arrival: message.arrival_ns,
            deadline: message
                .deadline_ns
                .filter(|_| message.is_auth())
                .unwrap_or(u64::MAX),
            global_seq: message.global_seq,
            service,
        });
    }
    Ok(records)
}

fn decode(path: &str) -> Result<Vec<Message>, Box<dyn std::error::Error>> {
    Ok(TraceReader::open(path)?.collect::<Result<_, _>>()?)
}

/// CPU time of this thread, seconds: on a shared machine, wall time
/// counts other processes' turns too.
fn thread_cpu_s() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).map(String::as_str)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .ok_or("usage: plain_loop TRACE --strategy S [--cost C]")?;
    let spec = flag(&args, "--strategy").ok_or("--strategy inline|pool:N|edf:N")?;
    let cost = flag(&args, "--cost").unwrap_or("trace");
    let reps: usize = flag(&args, "--reps").unwrap_or("5").parse()?;
    let model = flag(&args, "--model").unwrap_or("plain");
    let records = load(path, cost)?;
    let messages = if model == "engine" {
        decode(path)?
    } else {
        Vec::new()
    };
    let (kind, workers) = spec.split_once(':').unwrap_or((spec, "1"));
    let workers: usize = workers.parse()?;
    let mut response = vec![0u64; records.len()];
    let mut times = Vec::new();
    for _ in 0..reps.max(1) {
        let (start, cpu) = (Instant::now(), thread_cpu_s());
        match kind {
            _ if model == "engine" => engine(&messages, spec, cost, &mut response)?,
            "inline" => inline(&records, &mut response),
            "pool" => fifo(&records, workers.max(1), &mut response),
            "edf" => edf(&records, workers.max(1), &mut response),
            _ => return Err(format!("--strategy {spec}: inline, pool:N or edf:N").into()),
        }
        times.push((thread_cpu_s() - cpu, start.elapsed().as_secs_f64()));
        std::hint::black_box(&response);
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median, wall) = times[times.len() / 2];
    if let Some(out) = flag(&args, "--outcomes") {
        let mut out = std::io::BufWriter::new(std::fs::File::create(out)?);
        for (index, r) in response.iter().enumerate() {
            writeln!(out, "{index} {r}")?;
        }
        out.flush()?;
    }
    println!(
        r#"{{"model":"{model}","strategy":"{spec}","messages":{},"cpu_seconds":{median:.6},"seconds":{wall:.6},"per_s":{:.0}}}"#,
        records.len(),
        records.len() as f64 / median
    );
    Ok(())
}
