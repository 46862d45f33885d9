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
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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
    /// Output trace file (created 0600; an existing file is refused).
    #[arg(short, long)]
    output: PathBuf,
    /// Replace an existing output file (it is removed when recording starts).
    #[arg(long)]
    force: bool,
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
    /// Sample the machine's other CPU load (the trace's CPU track, for
    /// `esreplay sim --background trace`) this often: 10ms to 100ms.
    #[arg(long, default_value = "10ms")]
    cpu_period: String,
    /// Record no CPU track.
    #[arg(long, conflicts_with = "cpu_period")]
    no_cpu_track: bool,
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
    force: bool,
    path_mode: PathMode,
    ring_capacity: usize,
    writer: WriterConfig,
    cpu_period: Option<Duration>,
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
        check_paths(&self.path, self.mount)?;
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
        let cpu_period = match self.no_cpu_track {
            true => None,
            false => Some(cpu_period(&self.cpu_period)?),
        };
        Ok(Config {
            events: self.events,
            paths: self.path,
            mount: self.mount,
            access: self.access,
            budgets: self.budgets,
            output: self.output,
            force: self.force,
            path_mode,
            ring_capacity: self.ring_capacity,
            writer,
            cpu_period,
        })
    }
}

/// `--cpu-period`, within the range docs/recording.md justifies.
fn cpu_period(text: &str) -> Result<Duration> {
    use esreplay_recorder::cpu_track::{MAX_PERIOD, MIN_PERIOD};
    let period = duration(text, "cpu-period")?;
    if !(MIN_PERIOD..=MAX_PERIOD).contains(&period) {
        bail!("--cpu-period {text}: must be between 10ms and 100ms");
    }
    Ok(period)
}

#[cfg(target_os = "macos")]
fn run(config: Config) -> Result<()> {
    if !config.paths.is_empty() {
        bail!("--path records fanotify permission events: Linux only");
    }
    let options = esreplay_recorder::macos::EsOptions {
        events: config.events,
        paths: config.path_mode,
        ring_capacity: config.ring_capacity,
        writer: config.writer,
        cpu_period: config.cpu_period,
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
            "Endpoint Security exists only on macOS; on Linux give --path DIR to \
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
        cpu_period: config.cpu_period,
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
        "Endpoint Security exists only on macOS and fanotify only on Linux; \
         nothing recorded to {}",
        config.output.display()
    )
}

/// `--path` names directories whose files are watched; with `--mount`, any
/// path on the mount to watch.
fn check_paths(paths: &[PathBuf], mount: bool) -> Result<()> {
    for path in paths {
        let metadata =
            std::fs::metadata(path).with_context(|| format!("--path {}", path.display()))?;
        if !mount && !metadata.is_dir() {
            bail!(
                "--path {}: not a directory (esrecord watches the files in a directory; --mount watches the whole mount holding a path)",
                path.display()
            );
        }
    }
    Ok(())
}

/// Creates the output, readable by its owner only (a trace holds every
/// path opened on the machine), refusing an existing file unless `force`;
/// a device or a pipe is left as it is. `true` when the file was created.
/// The recorder then writes it as it goes: a crash leaves every chunk
/// written so far readable under the name given.
fn create_output(path: &Path, force: bool) -> Result<bool> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return Ok(false); // a device or a pipe (`-o >(gzip > t.gz)`): written in place
    }
    if force {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != ErrorKind::NotFound => {
                return Err(error)
                    .with_context(|| format!("--force: cannot remove {}", path.display()));
            }
            _ => {}
        }
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(error) if error.kind() == ErrorKind::AlreadyExists => bail!(
            "{} exists: esrecord does not overwrite a recording; choose another name or pass --force",
            path.display()
        ),
        other => other
            .map(|_| true)
            .with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Says what a refusal by the kernel means: fanotify's EPERM and ES's
/// `NotPrivileged` need root, ES's `NotPermitted` Full Disk Access, its
/// `NotEntitled` the entitlement (docs/recording.md).
fn explain(error: anyhow::Error) -> anyhow::Error {
    let text = format!("{error:#}");
    let causes = [
        (
            "Operation not permitted (os error 1)",
            "needs root (CAP_SYS_ADMIN)",
        ),
        ("NotPrivileged", "needs root"),
        (
            "NotPermitted",
            "needs Full Disk Access (System Settings, Privacy & Security) for esrecord or its terminal",
        ),
        (
            "NotEntitled",
            "needs the Endpoint Security entitlement (docs/recording.md)",
        ),
    ];
    match causes.iter().find(|(cause, _)| text.contains(cause)) {
        Some((_, need)) => error.context(*need),
        None => error,
    }
}

fn record(cli: Cli) -> Result<()> {
    let config = cli.config()?;
    let output = config.output.clone();
    let created = create_output(&output, config.force)?;
    let recorded = run(config);
    // Nothing written (refused before the first byte): no empty file left.
    let empty = || std::fs::metadata(&output).is_ok_and(|m| m.is_file() && m.len() == 0);
    if recorded.is_err() && created && empty() {
        let _ = std::fs::remove_file(&output);
    }
    recorded.map_err(explain)
}

/// One error message, printed once; exit 2.
fn main() -> ExitCode {
    match record(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("esrecord: {error:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn each_refusal_says_what_it_needs() {
        for (error, need) in [
            (
                "fanotify_init: Operation not permitted (os error 1)",
                "needs root (CAP_SYS_ADMIN)",
            ),
            ("es_new_client: NotPrivileged", "needs root"),
            ("es_new_client: NotPermitted", "Full Disk Access"),
            ("es_new_client: NotEntitled", "entitlement"),
        ] {
            let said = format!("{:#}", explain(anyhow::anyhow!(error)));
            assert!(said.starts_with("needs") && said.contains(need), "{said}");
        }
        let other = format!(
            "{:#}",
            explain(anyhow::anyhow!("No such file or directory"))
        );
        assert!(!other.contains("needs"), "{other}");
    }
}
