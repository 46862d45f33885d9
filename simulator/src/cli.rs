//! The command line, all in one place: every subcommand's arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Replay Endpoint Security message traces and predict deadline misses.
#[derive(Debug, Parser)]
#[command(name = "esreplay", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a synthetic or adversarial trace.
    #[command(after_help = "Examples:\n  esreplay gen flood -o flood.estrace\n  \
        esreplay gen burst --rate 5000 --duration 30s --service lognormal:40us:2ms -o burst.estrace")]
    Gen(GenArgs),
    /// Import messages into a trace.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export a trace to another format.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Show what is in a trace: counts, rates, budgets, gaps, service times.
    #[command(after_help = "Examples:\n  esreplay inspect capture.estrace\n  \
        esreplay inspect --json capture.estrace | jq .stats.peak_rate_per_s")]
    Inspect(InspectArgs),
}

/// The `gen` scenarios.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScenarioArg {
    /// Poisson arrivals of AUTH_OPEN and AUTH_EXEC.
    Steady,
    /// On/off bursts: 10 × rate for 200 ms every 2 s, rate/4 between.
    Burst,
    /// One process opening one file at 10 × rate, over steady background.
    Flood,
    /// AUTH_EXEC with heavy service times.
    ExecStorm,
    /// AUTH_OPEN/EXEC/RENAME/UNLINK with NOTIFY traffic.
    Mixed,
}

/// Arguments of `gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Which stream to generate.
    #[arg(value_enum)]
    pub scenario: ScenarioArg,
    /// Output trace file (`-` for standard output).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Length of the trace (e.g. 10s, 2m).
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Base message rate, per second.
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Deadline budget override, EVENT=DURATION (repeatable; `*=D` sets the default).
    #[arg(long = "budget", value_name = "EVENT=DURATION")]
    pub budgets: Vec<String>,
    /// Record service times drawn from a distribution (const:D, exp:MEAN, lognormal:MEDIAN:P99).
    #[arg(long)]
    pub service: Option<String>,
    /// Leave out pids and process and target paths.
    #[arg(long)]
    pub no_paths: bool,
}

/// Formats `import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// The JSONL interchange format, one message a line.
    Jsonl(ImportJsonlArgs),
}

/// Arguments of `import jsonl`.
#[derive(Debug, Args)]
pub struct ImportJsonlArgs {
    /// Input file, `-` for standard input.
    pub input: PathBuf,
    /// Output trace file.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Formats `export` writes.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The JSONL interchange format, one message a line.
    Jsonl(ExportJsonlArgs),
}

/// Arguments of `export jsonl`.
#[derive(Debug, Args)]
pub struct ExportJsonlArgs {
    /// Input trace.
    pub trace: PathBuf,
    /// Output file, `-` (the default) for standard output.
    #[arg(short, long, default_value = "-")]
    pub output: PathBuf,
    /// Skip corrupt chunks instead of failing.
    #[arg(long)]
    pub salvage: bool,
}

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Input trace.
    pub trace: PathBuf,
    /// Print JSON for machines.
    #[arg(long)]
    pub json: bool,
    /// Skip corrupt chunks (and count them) instead of failing.
    #[arg(long)]
    pub salvage: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
