//! `esrecord`: records Endpoint Security messages into an esreplay trace.
//!
//! ```text
//! sudo esrecord --events AUTH_OPEN,AUTH_EXEC -o trace.esr --duration 60s
//! ```

use anyhow::{Context, Result, bail};
use clap::Parser;
use esreplay_recorder::{Convert, WriterConfig};
use esreplay_traces::{EventType, parse_duration_ns};
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::time::Duration;

/// Records Endpoint Security messages (macOS, root, ES entitlement) into an
/// esreplay trace. Every AUTH message is allowed at once with cache=false.
#[derive(Parser, Debug)]
#[command(name = "esrecord", version)]
struct Cli {
    /// Events to subscribe to, comma-separated (AUTH_OPEN,AUTH_EXEC,NOTIFY_EXEC,...).
    #[arg(long, value_delimiter = ',', required = true)]
    events: Vec<EventType>,
    /// Output trace file.
    #[arg(short, long)]
    output: PathBuf,
    /// Stop after this long (e.g. 30s, 5m).
    #[arg(long)]
    duration: Option<String>,
    /// Stop after this many messages.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Leave process and target paths out.
    #[arg(long, conflicts_with = "hash_paths")]
    no_paths: bool,
    /// Replace paths by keyed hashes (random key per recording, not stored).
    #[arg(long)]
    hash_paths: bool,
    /// Ring capacity in records (rounded up to a power of two).
    #[arg(long, default_value_t = 16 * 1024)]
    ring_capacity: usize,
    /// Flush the trace at least this often.
    #[arg(long, default_value = "500ms")]
    flush_interval: String,
}

/// The validated configuration (only macOS records with all of it).
#[derive(Debug)]
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
struct Config {
    events: Vec<EventType>,
    output: PathBuf,
    no_paths: bool,
    ring_capacity: usize,
    writer: WriterConfig,
}

fn duration(text: &str, what: &str) -> Result<Duration> {
    let ns = parse_duration_ns(text).with_context(|| format!("--{what} {text:?}"))?;
    Ok(Duration::from_nanos(ns))
}

impl Cli {
    fn config(self) -> Result<Config> {
        if self.events.iter().any(|e| e.action().is_none()) {
            bail!("--events: only AUTH_* and NOTIFY_* event types can be recorded");
        }
        if !(2..=1 << 24).contains(&self.ring_capacity) {
            bail!("--ring-capacity must be between 2 and 16777216");
        }
        let hash_key = self
            .hash_paths
            .then(|| RandomState::new().hash_one(std::process::id()));
        let writer = WriterConfig {
            flush_interval: duration(&self.flush_interval, "flush-interval")?,
            duration: self
                .duration
                .as_deref()
                .map(|d| duration(d, "duration"))
                .transpose()?,
            max_messages: self.max_messages,
            convert: Convert {
                hash_key,
                ..Convert::default()
            },
            ..WriterConfig::default()
        };
        Ok(Config {
            events: self.events,
            output: self.output,
            no_paths: self.no_paths,
            ring_capacity: self.ring_capacity,
            writer,
        })
    }
}

#[cfg(target_os = "macos")]
fn run(config: Config) -> Result<()> {
    let options = esreplay_recorder::macos::EsOptions {
        events: config.events,
        no_paths: config.no_paths,
        ring_capacity: config.ring_capacity,
        writer: config.writer,
    };
    let stats = esreplay_recorder::macos::record(&config.output, &options)
        .with_context(|| format!("recording into {}", config.output.display()))?;
    eprintln!(
        "esrecord: {} messages, {} dropped -> {}",
        stats.messages,
        stats.dropped,
        config.output.display()
    );
    Ok(())
}

#[cfg(not(target_os = "macos"))]
fn run(config: Config) -> Result<()> {
    bail!(
        "esrecord: Endpoint Security exists only on macOS; nothing recorded to {} \
         (on Linux, record your own client's times with the tap: see docs/recording.md)",
        config.output.display()
    )
}

fn main() -> Result<()> {
    run(Cli::parse().config()?)
}
