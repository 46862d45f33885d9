//! The command line, all in one place: every subcommand's arguments.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use esreplay_traces::synth::Scenario;

/// Replay Endpoint Security message traces and predict deadline misses.
#[derive(Debug, Parser)]
#[command(name = "esreplay", version, about, long_about = None, after_help = TOP_HELP)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

const TOP_HELP: &str = "Examples:
  esreplay gen flood --service lognormal:40us:2ms -o flood.estrace
  esreplay compare flood.estrace --strategies inline,pool:4,edf:2,guard:500ms:pool:4
  esreplay report flood.estrace --strategies inline,pool:4 -o report.html
  esreplay check flood.estrace --strategy pool:4 --max-misses 0

Exit codes:
  0  success
  1  a gate failed (check: a value past its limit, e.g. misses over --max-misses, or the client would be killed)
  2  bad input or usage (unreadable trace, a trace cut short given to check or sweep, an output that is an input, bad flag, bad strategy)";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a synthetic or adversarial trace.
    #[command(after_help = "Examples:\n  esreplay gen flood -o flood.estrace\n  \
        esreplay gen burst --rate 5000 --duration 30s --service lognormal:40us:2ms -o burst.estrace\n  \
        esreplay gen thread-flood --threads 4096 -o flood4096.estrace\n  \
        esreplay gen build --background-load hog:2:500ms:1500ms --cpus 4 -o build.estrace\n  \
        esreplay gen steady --budget-process /Applications/App3.app/Contents/MacOS/App=2s -o critical.estrace")]
    Gen(GenArgs),
    /// Import messages into a trace.
    #[command(
        subcommand,
        after_help = "Example:\n  esreplay import jsonl messages.jsonl -o capture.estrace"
    )]
    Import(ImportCommand),
    /// Export a trace to another format.
    #[command(
        subcommand,
        after_help = "Examples:\n  esreplay export jsonl capture.estrace | head\n  \
        esreplay export perfetto capture.estrace --strategy pool:4 --from 2s --to 3s -o pool4.json"
    )]
    Export(ExportCommand),
    /// Show what is in a trace: counts, rates, budgets, gaps, service times.
    #[command(after_help = "Examples:\n  esreplay inspect capture.estrace\n  \
        esreplay inspect --json capture.estrace | jq .stats.peak_rate_per_s")]
    Inspect(InspectArgs),
    /// Replay a trace through one strategy: misses, kill time, latency, backlog.
    #[command(
        after_help = "Examples:\n  esreplay sim capture.estrace --strategy pool:4\n  \
        esreplay sim capture.estrace --strategy guard:20%:1s:5s:edf:2 --cost lognormal:40us:2ms --json"
    )]
    Sim(SimArgs),
    /// Replay a trace through several strategies (in parallel), one row each.
    #[command(
        after_help = "Example:\n  esreplay compare flood.estrace --strategies inline,pool:4,edf:2,guard:500ms:pool:4"
    )]
    Compare(CompareArgs),
    /// A CI gate: exit 1 when any gate fails (misses, latency, slack, backlog, headroom, ...) or the client would be killed.
    #[command(
        after_help = "Examples:\n  esreplay check capture.estrace --strategy pool:4 --max-misses 0\n  \
        esreplay check capture.estrace --strategy pool:4 --strategy edf:2 --max-misses 0 --max-latency p99=100ms --format github --junit gates.xml"
    )]
    Check(CheckArgs),
    /// Headroom: the largest arrival compression and cost multiplier with no miss; or misses and hits per ES cache size.
    #[command(
        after_help = "Examples:\n  esreplay sweep capture.estrace --strategy pool:4 --cost exp:200us\n  \
        esreplay sweep capture.estrace --strategy pool:4 --es-cache AUTH_OPEN --es-cache-sizes 64,256,1024,4096"
    )]
    Sweep(SweepArgs),
    /// Write an HTML report (or SVG plots): latency, slack and backlog over time per strategy.
    #[command(after_help = "Examples:\n  \
        esreplay report flood.estrace --strategies inline,pool:4,edf:2 -o report.html\n  \
        esreplay report flood.estrace --strategies pool:4 --cost exp:200us --svg plots/")]
    Report(ReportArgs),
    /// Linux, root: run strategies for real on fanotify and print predicted next to observed.
    #[command(after_help = "Examples:\n  \
        sudo esreplay lab --scenario burst --strategies inline,pool:2,edf:1 --duration 20s\n  \
        sudo esreplay lab --scenario steady --rate 300 --cost const:2ms --budget AUTH_OPEN=50ms --strategies inline,pool:2 --json\n  \
        sudo esreplay lab --scenario flood --replay closed --threads 64 --strategies inline,pool:2\n  \
        sudo esreplay lab --scenario burst --hog 1 --cpus 0 --strategies pool:8\n  \
        sudo esreplay lab --calibrate -o machine.toml")]
    Lab(LabArgs),
    /// Print a shell completion script to standard output.
    #[command(
        after_help = "Examples:\n  esreplay completions bash > ~/.local/share/bash-completion/completions/esreplay\n  \
        esreplay completions zsh > ~/.zfunc/_esreplay"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff) to standard output, or write one page per command.
    #[command(after_help = "Examples:\n  esreplay man | man -l -\n  esreplay man --dir man/")]
    Man(ManArgs),
}

/// Arguments of `report`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("out").required(true).multiple(true).args(["output", "svg"])))]
pub struct ReportArgs {
    /// Input trace (a file: each strategy reads it).
    pub trace: PathBuf,
    /// Strategies, comma-separated; shown in this order.
    #[arg(long, value_delimiter = ',', required = true)]
    pub strategies: Vec<String>,
    /// The client and kernel model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Write the HTML report here (`-` for standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Write the plots as SVG files into this directory (created if needed).
    #[arg(long, value_name = "DIR")]
    pub svg: Option<PathBuf>,
}

/// `lab --work`: how a job's service time is spent (busy CPU either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WorkArg {
    /// Spin holding the core, like real work.
    Spin,
    /// Spin, yielding to any other runnable thread at every turn.
    Yield,
    /// Spin until the thread has used the service time in CPU time (CPU work, as the CPU model's s_i).
    Cpu,
}

/// `lab --replay`: how the load generator follows the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LabLoop {
    /// A pool of openers calls each open at its scheduled time.
    Open,
    /// One opener per schedule thread, blocking for real.
    Closed,
}

/// Arguments of `lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// The `gen` scenario whose arrival times the load generator follows.
    #[arg(long, value_parser = scenario_parser(), default_value_t = Scenario::Burst)]
    pub scenario: Scenario,
    /// Follow the arrival times of this trace instead of a scenario.
    #[arg(long, value_name = "TRACE", conflicts_with = "scenario")]
    pub trace: Option<PathBuf>,
    /// Strategies, comma-separated, each run for real in turn.
    #[arg(long, value_delimiter = ',', required_unless_present = "calibrate")]
    pub strategies: Vec<String>,
    /// Length of each run (of the schedule) [default: 10s; 3s with --calibrate].
    #[arg(long)]
    pub duration: Option<String>,
    /// Base rate of the scenario, opens per second (keep it small: every open is real).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Service times, spent as real CPU work: const:D, exp:MEAN, lognormal:MEDIAN:P99, table:FILE (trace: a trace's own).
    #[arg(long, default_value = "exp:1ms")]
    pub cost: String,
    /// Seed of the scenario and of the random service times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Deadline budget override, EVENT=DURATION (every open is an AUTH_OPEN), e.g. AUTH_OPEN=50ms.
    #[arg(long = "budget", value_name = "EVENT=DURATION")]
    pub budgets: Vec<String>,
    /// τ for the prediction instead of the measured fanotify delivery cost.
    #[arg(long)]
    pub transport: Option<String>,
    /// ρ for the prediction instead of the measured answer-to-return cost.
    #[arg(long)]
    pub response_latency: Option<String>,
    /// Opener threads (default: the largest predicted backlog plus a margin).
    #[arg(long)]
    pub openers: Option<usize>,
    /// How service time is spent: spin (hold the core for that wall time), yield (busy, but give way to openers and the reader) or cpu (until that much CPU time is used: the CPU model's s_i).
    #[arg(long, value_enum, default_value_t = WorkArg::Spin)]
    pub work: WorkArg,
    /// Also write every open's record (call, read, start, answer, return, who answered) as JSONL.
    #[arg(long, value_name = "FILE")]
    pub records: Option<PathBuf>,
    /// open: a pool of openers follows the schedule's times; closed: one opener per schedule thread, each open the schedule's gap after the previous one returned.
    #[arg(long = "replay", value_enum, default_value_t = LabLoop::Open)]
    pub replay: LabLoop,
    /// thread-flood's thread count (default 64); with --replay closed, a schedule without thread ids is split round-robin into N threads.
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Lower fanotify's queue limit (fs.fanotify.max_queued_events) to N for this run's group, restored after; predicted with --kernel-queue N.
    #[arg(long, value_name = "N")]
    pub kernel_queue: Option<u32>,
    /// Run N CPU-bound processes during the runs (pinned with the lab under --cpus; always killed after).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub hog: usize,
    /// Pin the client, the openers and the hogs to these CPUs (e.g. 0 or 0,1 or 0-3); the prediction uses as many cores.
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// Predict with this machine file's costs (τ, ρ, hand-off, overheads; e.g. from --calibrate) instead of the run's own; cores and background stay the run's.
    #[arg(long, value_name = "FILE", conflicts_with = "calibrate")]
    pub machine: Option<PathBuf>,
    /// Run every strategy N times (rounds: each strategy once per round).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: usize,
    /// Print one Markdown row per strategy over its runs (median [min–max]) and which way the prediction leans.
    #[arg(long, conflicts_with = "json")]
    pub markdown: bool,
    /// Measure this machine's costs (τ, ρ, overheads, cores, background) with a short run and write them as a machine file (-o) for --machine.
    #[arg(long, requires = "output")]
    pub calibrate: bool,
    /// Where --calibrate writes the machine file (TOML; - for standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print a JSON array for machines.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write esreplay.1 and one esreplay-COMMAND.1 per subcommand here instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `--miss-mode`: what ES does when a deadline passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MissModeArg {
    /// The client is killed at the first miss (ES's default).
    Kill,
    /// The kernel allows a late message itself at its deadline (macOS 27 FAIL_OPEN).
    #[value(alias = "allow")]
    FailOpen,
    /// The kernel denies a late message itself, and denies queue drops (FAIL_CLOSED).
    #[value(alias = "deny")]
    FailClosed,
}

/// `--replay`: do answers pace the threads that cause the messages?
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReplayArg {
    /// Recorded arrivals, whatever the answers.
    Open,
    /// A thread blocked on an AUTH message sends nothing until answered.
    Closed,
}

/// `--guard-timer`: when a guard's watchdog fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GuardTimerArg {
    /// At its time exactly.
    Exact,
    /// As late as GCD's dispatch_after may: leeway clamp(delay/10, 1ms, 60s).
    Dispatch,
}

/// The model of the client and the kernel, shared by sim, compare, check, sweep.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Service times: trace, const:D, exp:MEAN, lognormal:MEDIAN:P99 or table:FILE (TOML).
    #[arg(long, default_value = "trace")]
    pub cost: String,
    /// Multiply every service time by K.
    #[arg(long, value_name = "K", default_value_t = 1.0)]
    pub cost_scale: f64,
    /// Seed of the random service times.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// τ: time from kernel dispatch to the handler (e.g. 20us) [default: 0ns].
    #[arg(long)]
    pub transport: Option<String>,
    /// ρ: time from the answer to the kernel seeing it [default: 0ns].
    #[arg(long)]
    pub response_latency: Option<String>,
    /// c_h: handler CPU work to retain and queue a message (pool, edf) [default: 0ns].
    #[arg(long)]
    pub handoff: Option<String>,
    /// Handler CPU work after each message (after the answer inline, the hand-off in a pool) [default: 0ns].
    #[arg(long)]
    pub handler_overhead: Option<String>,
    /// CPU work added to each job on a worker [default: 0ns].
    #[arg(long)]
    pub worker_overhead: Option<String>,
    /// What a missed deadline does.
    #[arg(long, value_enum, default_value_t = MissModeArg::Kill)]
    pub miss_mode: MissModeArg,
    /// open: recorded arrivals; closed: a thread waits for its AUTH answer [default: closed when the trace has thread ids].
    #[arg(long, value_enum)]
    pub replay: Option<ReplayArg>,
    /// The kernel's per-client queue: messages arriving when N wait are dropped (allowed; denied under fail-closed) [default: unlimited].
    #[arg(long, value_name = "N")]
    pub kernel_queue: Option<u64>,
    /// When a guard's watchdog fires.
    #[arg(long, value_enum, default_value_t = GuardTimerArg::Exact)]
    pub guard_timer: GuardTimerArg,
    /// Cores the client's threads share (fractional allowed, 3 decimals) [default: unlimited].
    #[arg(long, value_name = "C")]
    pub cores: Option<f64>,
    /// Other runnable threads competing for the cores: a number, or `trace` for the trace's CPU track.
    #[arg(long, value_name = "B|trace")]
    pub background: Option<String>,
    /// A background thread's share relative to a client thread, 0 to 1.
    #[arg(long, value_name = "W", default_value_t = 1.0)]
    pub background_weight: f64,
    /// How the threads share the cores: `per-core` (run queues: a client thread shares the most crowded core, 1/⌈m/C⌉) or `fluid` (C/m) [default: per-core].
    #[arg(long, value_name = "per-core|fluid")]
    pub cpu_sharing: Option<String>,
    /// A machine file (TOML: transport, response_latency, handoff, handler_overhead, worker_overhead, cores, background, cpu_sharing); flags override it.
    #[arg(long, value_name = "FILE")]
    pub machine: Option<PathBuf>,
    /// Skip corrupt chunks instead of failing.
    #[arg(long)]
    pub salvage: bool,
    /// A co-resident ES client: react=EVENT[+EVENT...],opens=K,delay=D[,io=M] (its K opens per event it sees become AUTH_OPENs for us; our client opens each handled target M times).
    #[arg(long, value_name = "SPEC")]
    pub co_client: Option<String>,
    /// Messages the co-client may inject at most [default: 10 × the trace's messages].
    #[arg(long, value_name = "N", requires = "co_client")]
    pub co_client_cap: Option<u64>,
    /// The client's mutes and ES cache (boxed: most runs leave them empty).
    #[command(flatten)]
    pub kernel: Box<KernelArgs>,
}

/// `--mute`, `--mute-invert`, `--es-cache`, `--es-cache-size`: what the
/// kernel keeps from the client or answers itself.
#[derive(Debug, Args)]
pub struct KernelArgs {
    /// Mute before the client, TYPE:PATH with TYPE process-prefix, process-literal, target-prefix or target-literal (repeatable).
    #[arg(long = "mute", value_name = "TYPE:PATH")]
    pub mutes: Vec<String>,
    /// Invert muting of one kind (ES es_invert_muting): only messages matching its mutes reach the client (repeatable).
    #[arg(long, value_enum, value_name = "KIND")]
    pub mute_invert: Vec<MuteInvertArg>,
    /// AUTH events the client answers with cache = true, comma-separated (e.g. AUTH_OPEN,AUTH_EXEC): the kernel answers repeats from its cache.
    #[arg(long, value_name = "EVENTS")]
    pub es_cache: Option<String>,
    /// Entries in the ES cache (LRU; 0 turns it off; Apple does not document the kernel's size).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub es_cache_size: usize,
}

/// `--mute-invert`: which kind of mute selects instead of excluding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MuteInvertArg {
    /// process-prefix and process-literal mutes.
    Process,
    /// target-prefix and target-literal mutes.
    Target,
}

/// Arguments of `sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Input trace (`-` for standard input).
    pub trace: PathBuf,
    /// inline, pool:N, edf:N, guard:M:INNER or guard:P%:MIN:MAX:INNER.
    #[arg(long)]
    pub strategy: String,
    /// The client and kernel model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print JSON for machines.
    #[arg(long)]
    pub json: bool,
    /// Also write every message's outcome here, one JSON object a line
    /// (index, global_seq, start_ns, response_ns, defaulted, missed), in
    /// the order answered; `-` is not allowed (standard output holds the result).
    #[arg(long, value_name = "FILE")]
    pub outcomes: Option<PathBuf>,
}

/// Arguments of `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Input trace (a file: each strategy reads it).
    pub trace: PathBuf,
    /// Strategies, comma-separated; results come in this order.
    #[arg(long, value_delimiter = ',', required = true)]
    pub strategies: Vec<String>,
    /// The client and kernel model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print a JSON array for machines.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Input trace (`-` for standard input).
    pub trace: PathBuf,
    /// The strategy to gate (repeatable: each is gated on its own).
    #[arg(long, required = true)]
    pub strategy: Vec<String>,
    /// Misses allowed (with --miss-mode kill any miss kills the client and fails); 0 when no gate is given.
    #[arg(long, value_name = "N")]
    pub max_misses: Option<u64>,
    /// Latency limit P=D, P one of p50, p90, p99, p99.9, max (repeatable; e.g. p99=100ms).
    #[arg(long, value_name = "P=D")]
    pub max_latency: Vec<String>,
    /// Smallest slack allowed: every AUTH answer at least D before its deadline.
    #[arg(long, value_name = "D")]
    pub min_slack: Option<String>,
    /// Most messages in flight allowed.
    #[arg(long, value_name = "N")]
    pub max_backlog: Option<u64>,
    /// Smallest cost headroom allowed: no miss with service times × K (searched as `sweep` does).
    #[arg(long, value_name = "K")]
    pub min_headroom: Option<f64>,
    /// Guard default verdicts allowed.
    #[arg(long, value_name = "N")]
    pub max_defaulted: Option<u64>,
    /// Messages dropped at a full kernel queue allowed (a bypass gate; needs --kernel-queue).
    #[arg(long, value_name = "N")]
    pub max_dropped: Option<u64>,
    /// Total stall allowed: Σ over AUTH messages of the time their thread waited (e.g. 2s).
    #[arg(long, value_name = "D")]
    pub max_stall: Option<String>,
    /// Messages the co-client's opens may add (needs --co-client; with one, a loop that runs away to the cap always fails).
    #[arg(long, value_name = "N")]
    pub max_injected: Option<u64>,
    /// The client and kernel model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print the result as JSON too.
    #[arg(long)]
    pub json: bool,
    /// Judge a cut-short or damaged trace on the messages read instead of failing (exit 2).
    #[arg(long)]
    pub allow_partial: bool,
    /// How the verdict is printed: a table, or GitHub workflow annotations too.
    #[arg(long, value_enum, default_value = "table", conflicts_with = "json")]
    pub format: CheckFormat,
    /// Also write the verdict as JUnit XML: one test case per strategy and gate.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// `check --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// The results and an aligned table of gates.
    Table,
    /// The table, then `::error` annotations for failed gates (GitHub Actions).
    Github,
}

/// Arguments of `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Input trace (a file: it is read once per probe).
    pub trace: PathBuf,
    /// The strategy to measure.
    #[arg(long)]
    pub strategy: String,
    /// Relative precision of the search.
    #[arg(long, default_value_t = 0.01)]
    pub precision: f64,
    /// Instead of headroom: one run per ES cache size (needs --es-cache), printing misses, cached and the hit rate.
    #[arg(
        long,
        value_name = "N,N,...",
        value_delimiter = ',',
        requires = "es_cache"
    )]
    pub es_cache_sizes: Vec<usize>,
    /// Measure a cut-short or damaged trace on the messages read instead of failing (exit 2).
    #[arg(long)]
    pub allow_partial: bool,
    /// The client and kernel model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print JSON for machines.
    #[arg(long)]
    pub json: bool,
}

/// The `gen` scenarios, named and described in one place: the library's
/// [`Scenario::name`] and [`Scenario::about`].
fn scenario_parser() -> impl TypedValueParser<Value = Scenario> {
    let values = Scenario::ALL.map(|s| PossibleValue::new(s.name()).help(s.about()));
    PossibleValuesParser::new(values).try_map(|name| name.parse::<Scenario>())
}

/// Arguments of `gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Which stream to generate.
    #[arg(value_parser = scenario_parser())]
    pub scenario: Scenario,
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
    /// Deadline budget of every AUTH message of one process, PATH=DURATION
    /// (repeatable), e.g. a critical binary given a far smaller budget.
    #[arg(long = "budget-process", value_name = "PATH=DURATION")]
    pub budget_processes: Vec<String>,
    /// Service times to record, from a distribution (const:D, exp:MEAN,
    /// lognormal:MEDIAN:P99); default lognormal:40us:2ms (exec-storm
    /// lognormal:1ms:20ms).
    #[arg(long, conflicts_with = "no_service")]
    pub service: Option<String>,
    /// Record no service times (then `--cost trace` cannot be used).
    #[arg(long)]
    pub no_service: bool,
    /// Leave out process and target paths, and the pids of the scenarios
    /// without threads.
    #[arg(long)]
    pub no_paths: bool,
    /// Threads of thread-flood [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub threads: Option<u32>,
    /// Add a CPU track of other load: const:N (N runnable threads) or
    /// hog:N:ON:OFF (N threads for ON, none for OFF, repeating).
    #[arg(long, value_name = "SHAPE")]
    pub background_load: Option<String>,
    /// Sampling period of the CPU track.
    #[arg(long, default_value = "10ms", requires = "background_load")]
    pub background_period: String,
    /// CPU count written in the header (the default --cores of
    /// `--background trace`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub cpus: Option<u32>,
}

/// Formats `import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Apple's eslogger JSON (one event a line), e.g. from
    /// `sudo eslogger open exec > capture.jsonl`.
    #[command(
        after_help = "Examples:\n  esreplay import eslogger capture.jsonl -o capture.estrace\n  \
        esreplay import eslogger capture.jsonl -o whatif.estrace --as-auth OPEN,EXEC --budget AUTH_OPEN=15s\n  \
        sudo eslogger open exec | esreplay import eslogger - -o live.estrace"
    )]
    Eslogger(ImportEsloggerArgs),
    /// The JSONL interchange format, one message a line.
    #[command(
        after_help = "Examples:\n  esreplay import jsonl messages.jsonl -o capture.estrace\n  \
        cat messages.jsonl | esreplay import jsonl - -o capture.estrace"
    )]
    Jsonl(ImportJsonlArgs),
}

/// Arguments of `import eslogger`.
#[derive(Debug, Args)]
pub struct ImportEsloggerArgs {
    /// Input file, `-` for standard input (spooled to a temporary file:
    /// the import reads its input twice).
    pub input: PathBuf,
    /// Output trace file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The mach timebase N/D (125/3 Apple Silicon, 1/1 Intel) instead of
    /// inferring it from the capture's wall clock.
    #[arg(long, value_name = "N/D")]
    pub timebase: Option<String>,
    /// Model NOTIFY events as their AUTH twins (what-if: a client
    /// subscribed to AUTH_OPEN, AUTH_EXEC, ...), e.g. OPEN,EXEC.
    #[arg(long, value_name = "TYPES")]
    pub as_auth: Option<String>,
    /// Deadline budget of a modelled AUTH type, EVENT=DURATION (repeatable).
    #[arg(long = "budget", value_name = "EVENT=DURATION")]
    pub budgets: Vec<String>,
    /// Fail at the first malformed line instead of skipping it.
    #[arg(long)]
    pub strict: bool,
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
    #[command(
        after_help = "Examples:\n  esreplay export jsonl capture.estrace -o messages.jsonl\n  \
        esreplay export jsonl capture.estrace | head"
    )]
    Jsonl(ExportJsonlArgs),
    /// The simulated schedule as Chrome trace event JSON, for the Perfetto UI.
    #[command(after_help = "Examples:\n  \
        esreplay export perfetto flood.estrace --strategy pool:4 --from 2s --to 2.5s -o pool4.json\n  \
        (then open pool4.json in the Perfetto UI: Open trace file)")]
    Perfetto(Box<ExportPerfettoArgs>),
}

/// Arguments of `export perfetto`.
#[derive(Debug, Args)]
pub struct ExportPerfettoArgs {
    /// Input trace.
    pub trace: PathBuf,
    /// The strategy whose schedule to show.
    #[arg(long)]
    pub strategy: String,
    /// The client and kernel model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output file, `-` (the default) for standard output.
    #[arg(short, long, default_value = "-")]
    pub output: PathBuf,
    /// Show messages arriving at or after this time (e.g. 2s).
    #[arg(long, default_value = "0ns")]
    pub from: String,
    /// Show messages arriving before this time (default: the end).
    #[arg(long)]
    pub to: Option<String>,
    /// Refuse windows holding more messages than this (memory and output grow with them).
    #[arg(long, default_value_t = 100_000)]
    pub limit: u64,
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

    /// Every command and subcommand, with its path (`export perfetto`).
    fn all(command: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in command.get_subcommands() {
            let path = format!("{path} {}", sub.get_name()).trim().to_owned();
            out.push((path.clone(), sub.clone()));
            all(sub, path, out);
        }
    }

    #[test]
    fn every_command_shows_examples_in_its_help() {
        let mut commands = Vec::new();
        all(&super::Cli::command(), String::new(), &mut commands);
        assert!(commands.len() >= 14, "{}", commands.len());
        for (path, mut command) in commands {
            let help = command.render_long_help().to_string();
            assert!(
                help.contains("Example") && help.contains(&format!("esreplay {path}")),
                "`esreplay {path} --help` shows no example of itself:\n{help}"
            );
        }
    }

    #[test]
    fn the_top_level_help_documents_the_exit_codes() {
        let help = super::Cli::command().render_long_help().to_string();
        for code in ["0  success", "1  a gate failed", "2  bad input or usage"] {
            assert!(help.contains(code), "{help}");
        }
    }

    #[test]
    fn every_scenario_parses_by_its_library_name_with_its_help() {
        use super::{Cli, Command, Scenario};
        use clap::Parser;
        let help = Cli::command()
            .find_subcommand_mut("gen")
            .unwrap()
            .render_long_help()
            .to_string();
        for scenario in Scenario::ALL {
            let cli = Cli::try_parse_from(["esreplay", "gen", scenario.name(), "-o", "-"]).unwrap();
            let Command::Gen(args) = cli.command else {
                panic!("not gen");
            };
            assert_eq!(args.scenario, scenario);
            assert!(help.contains(scenario.about()), "{help}");
        }
        assert!(Cli::try_parse_from(["esreplay", "gen", "Steady", "-o", "-"]).is_err());
    }
}
