//! `esrecord`: records Endpoint Security messages (macOS) or fanotify
//! permission events (Linux) into an esreplay trace.
//!
//! ```text
//! sudo esrecord --events AUTH_OPEN,AUTH_EXEC -o trace.estrace --duration 60s
//! sudo esrecord --path /srv/watched -o trace.estrace --duration 60s   # Linux
//! ```

use anyhow::{Context, Result, bail};
use clap::Parser;
use esreplay_recorder::{HashKey, PathMode, WriterConfig};
use esreplay_traces::{EventType, parse_duration_ns};
use std::path::PathBuf;
use std::time::Duration;

/// Records Endpoint Security messages (macOS, root, ES entitlement) or
/// fanotify permission events (Linux, root) into an esreplay trace. Every
/// AUTH message is allowed at once (with cache=false on macOS).
#[derive(Parser, Debug)]
#[command(name = "esrecord", version, after_help = EXAMPLES)]
struct Cli {
    /// Events to subscribe to, comma-separated (AUTH_OPEN,AUTH_EXEC,NOTIFY_EXEC,...).
    /// On Linux: AUTH_OPEN (FAN_OPEN_PERM) and AUTH_EXEC (FAN_OPEN_EXEC_PERM),
    /// both by default.
    #[arg(long, value_delimiter = ',', required_unless_present = "path")]
    events: Vec<EventType>,
    /// Linux: watch the files directly in this directory (repeatable).
    #[arg(long)]
    path: Vec<PathBuf>,
    /// Linux: mark the whole mount of each --path (stalls every opener on it
    /// while the recorder is slow: use a test machine).
    #[arg(long, requires = "path")]
    mount: bool,
    /// Linux: also record reads (FAN_ACCESS_PERM), as AUTH_OPEN.
    #[arg(long, requires = "path")]
    access: bool,
    /// Linux: deadline budget of an event type (fanotify has no deadlines),
    /// e.g. AUTH_OPEN=15s; repeatable. Defaults: the documented table.
    #[arg(long = "budget", value_name = "EVENT=DURATION", requires = "path")]
    budgets: Vec<String>,
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
    /// Replace paths by keyed hashes of the whole path (SipHash-2-4, 128-bit;
    /// random key per recording, not stored).
    #[arg(long)]
    hash_paths: bool,
    /// Ring capacity in records (rounded up to a power of two).
    #[arg(long, default_value_t = 16 * 1024)]
    ring_capacity: usize,
    /// Flush the trace at least this often.
    #[arg(long, default_value = "500ms")]
    flush_interval: String,
}

const EXAMPLES: &str = "Examples:
  sudo esrecord --events AUTH_OPEN,AUTH_EXEC --duration 60s -o mac.estrace
  sudo esrecord --path /tmp/watched --duration 20s -o linux.estrace   (Linux)
  esreplay inspect mac.estrace";

/// The validated configuration (Linux reads all of it; macOS not the
/// fanotify options).
#[derive(Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct Config {
    events: Vec<EventType>,
    paths: Vec<PathBuf>,
    mount: bool,
    access: bool,
    budgets: Vec<String>,
    output: PathBuf,
    path_mode: PathMode,
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
        let path_mode = match (self.no_paths, self.hash_paths) {
            (true, _) => PathMode::None,
            (false, true) => PathMode::Hashed(HashKey::random().context("--hash-paths: a key")?),
            (false, false) => PathMode::Full,
        };
        let writer = WriterConfig {
            flush_interval: duration(&self.flush_interval, "flush-interval")?,
            duration: self
                .duration
                .as_deref()
                .map(|d| duration(d, "duration"))
                .transpose()?,
            max_messages: self.max_messages,
            ..WriterConfig::default()
        };
        Ok(Config {
            events: self.events,
            paths: self.path,
            mount: self.mount,
            access: self.access,
            budgets: self.budgets,
            output: self.output,
            path_mode,
            ring_capacity: self.ring_capacity,
            writer,
        })
    }
}

#[cfg(target_os = "macos")]
fn run(config: Config) -> Result<()> {
    if !config.paths.is_empty() {
        bail!("esrecord: --path records fanotify permission events: Linux only");
    }
    let options = esreplay_recorder::macos::EsOptions {
        events: config.events,
        paths: config.path_mode,
        ring_capacity: config.ring_capacity,
        writer: config.writer,
    };
    let ready = || {
        let events: Vec<String> = options.events.iter().map(ToString::to_string).collect();
        eprintln!(
            "esrecord: recording {} into {} (SIGINT, SIGTERM or SIGHUP stops; a second one exits at once)",
            events.join(","),
            config.output.display()
        );
    };
    let stats = esreplay_recorder::macos::record(&config.output, &options, ready)
        .with_context(|| format!("recording into {}", config.output.display()))?;
    eprintln!(
        "esrecord: {} messages, {} dropped -> {}",
        stats.messages,
        stats.dropped,
        config.output.display()
    );
    Ok(())
}

#[cfg(target_os = "linux")]
fn run(config: Config) -> Result<()> {
    use esreplay_recorder::linux::{self, FanotifyOptions};
    use esreplay_traces::budget::BudgetTable;
    if config.paths.is_empty() {
        bail!(
            "esrecord: Endpoint Security exists only on macOS; on Linux give --path DIR to \
             record fanotify permission events (or record your own client's times with the \
             tap: see docs/recording.md)"
        );
    }
    let events = match config.events.as_slice() {
        [] => &[EventType::AUTH_OPEN, EventType::AUTH_EXEC][..],
        events => events,
    };
    let mut mask = linux::mask_for(events)
        .map_err(|event| anyhow::anyhow!("--events: {event} has no fanotify twin on Linux"))?;
    if config.access {
        mask = mask | esreplay_fanotify::EventMask::ACCESS_PERM;
    }
    let options = FanotifyOptions {
        paths: config.paths,
        mount: config.mount,
        events: mask,
        budgets: BudgetTable::with_overrides(config.budgets.iter().map(String::as_str))?,
        path_mode: config.path_mode,
        ring_capacity: config.ring_capacity,
        writer: config.writer,
    };
    let ready = || {
        eprintln!(
            "esrecord: recording fanotify permission events ({}) into {} (SIGINT, SIGTERM or SIGHUP stops)",
            options.marks(),
            config.output.display()
        );
    };
    let stats = linux::record(&config.output, &options, ready)
        .with_context(|| format!("recording into {}", config.output.display()))?;
    eprintln!(
        "esrecord: {} messages, {} dropped, {} queue overflows -> {}",
        stats.writer.messages,
        stats.writer.dropped,
        stats.overflows,
        config.output.display()
    );
    Ok(())
}

#[cfg(not(any(target_os = "macos", target_os = "linux")))]
fn run(config: Config) -> Result<()> {
    bail!(
        "esrecord: Endpoint Security exists only on macOS and fanotify only on Linux; \
         nothing recorded to {}",
        config.output.display()
    )
}

fn main() -> Result<()> {
    run(Cli::parse().config()?)
}
