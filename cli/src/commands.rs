//! What each subcommand does, on top of the libraries; shared input and
//! output handling (`-` for standard streams, trace opening and the
//! truncation warning).

mod eslogger;
mod gen_cmd;
mod inspect;
mod interchange;
mod lab;
mod replay;
mod visual;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::progress::Progress;
use anyhow::{Context, Result};
use esreplay_traces::TraceReader;

use crate::cli::{Cli, Command, ExportCommand, ImportCommand};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Gen(args) => gen_cmd::run(&args),
        Command::Import(ImportCommand::Eslogger(args)) => eslogger::import(&args),
        Command::Import(ImportCommand::Jsonl(args)) => interchange::import_jsonl(&args),
        Command::Export(ExportCommand::Jsonl(args)) => interchange::export_jsonl(&args),
        Command::Export(ExportCommand::Perfetto(args)) => visual::perfetto(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Sim(args) => replay::sim(&args),
        Command::Compare(args) => replay::compare(&args),
        Command::Check(args) => replay::check(&args),
        Command::Sweep(args) => replay::sweep(&args),
        Command::Report(args) => visual::report(&args),
        Command::Lab(args) => lab::run(&args),
        Command::Completions(args) => visual::completions(&args),
        Command::Man(args) => visual::man(&args),
    }
}

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// A buffered reader of a file, or of standard input for `-`.
pub fn open_input(path: &Path) -> Result<Box<dyn io::BufRead>> {
    if is_stdio(path) {
        return Ok(Box::new(BufReader::new(io::stdin().lock())));
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
}

/// The size of `path` for a progress bar (`None` for `-` or if unknown).
pub fn input_len(path: &Path) -> Option<u64> {
    if is_stdio(path) {
        return None;
    }
    std::fs::metadata(path).map(|m| m.len()).ok()
}

/// Like [`open_input`], advancing a progress bar labelled `label` (drawn on
/// a terminal only) by the bytes read; finish the bar when done.
pub fn open_input_tracked(path: &Path, label: &str) -> Result<(Box<dyn io::BufRead>, Progress)> {
    let progress = Progress::bytes(label, input_len(path));
    let input = BufReader::with_capacity(1 << 16, progress.wrap_read(open_input(path)?));
    Ok((Box::new(input), progress))
}

/// A buffered writer to a file, or to standard output for `-`.
pub fn create_output(path: &Path) -> Result<Box<dyn Write>> {
    if is_stdio(path) {
        return Ok(Box::new(BufWriter::new(io::stdout().lock())));
    }
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(Box::new(BufWriter::with_capacity(1 << 16, file)))
}

/// Opens a trace and reads its header; errors name the file.
pub fn open_trace(path: &Path, salvage: bool) -> Result<TraceReader<Box<dyn Read>>> {
    open_trace_tracked(path, salvage, &Progress::hidden())
}

/// Like [`open_trace`], advancing `progress` by the bytes read.
pub fn open_trace_tracked(
    path: &Path,
    salvage: bool,
    progress: &Progress,
) -> Result<TraceReader<Box<dyn Read>>> {
    let input: Box<dyn Read> = Box::new(progress.wrap_read(open_input(path)?));
    let reader = TraceReader::new(input).with_context(|| format!("{}", path.display()))?;
    Ok(reader.salvage(salvage))
}

/// Reads every message of a trace through `each`; then warns on stderr of
/// what was lost (cut short, skipped chunks). Errors name the file.
pub fn for_each_message<R: Read>(
    path: &Path,
    reader: &mut TraceReader<R>,
    mut each: impl FnMut(&esreplay_traces::Message) -> Result<()>,
) -> Result<()> {
    for message in reader.by_ref() {
        let message = message.with_context(|| format!("{}", path.display()))?;
        each(&message)?;
    }
    warn_about_losses(path, reader);
    Ok(())
}

/// Says on stderr that a trace was cut short or had chunks skipped.
pub fn warn_about_losses<R: Read>(path: &Path, reader: &TraceReader<R>) {
    let summary = reader.summary();
    if reader.footer().is_none() && summary.finished {
        eprintln!(
            "esreplay: warning: {}: the trace was cut short: footer missing, {} bytes after the last complete chunk lost; {} complete chunks ({} messages) read",
            path.display(),
            summary.truncated_bytes,
            summary.chunks,
            summary.messages
        );
    }
    if summary.skipped_chunks > 0 {
        eprintln!(
            "esreplay: warning: {}: {} corrupt chunks skipped (--salvage)",
            path.display(),
            summary.skipped_chunks
        );
    }
}
