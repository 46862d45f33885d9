//! What each subcommand does, on top of the libraries; shared input
//! handling (`-` for standard input, trace opening, which names the import
//! command for a file that needs one). Outputs go through
//! [`crate::output`], completeness through [`integrity`].

mod cache_sweep;
mod eslogger;
mod gates;
mod gen_cmd;
mod inspect;
mod integrity;
mod interchange;
mod lab;
mod replay;
mod visual;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::process::ExitCode;

use crate::progress::Progress;
use anyhow::{Context, Result};
use esreplay_traces::TraceReader;

use crate::cli::{Cli, Command, ExportCommand, ImportCommand};
pub use crate::output::{Durability, Output, is_stdio, refuse_same_file, write_whole};
pub use integrity::{Integrity, warn_about_losses};

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

/// A buffered reader of a file, or of standard input for `-`.
pub fn open_input(path: &Path) -> Result<Box<dyn io::BufRead + Send>> {
    if is_stdio(path) {
        // Not locked: a trace may be decoded on a thread of its own.
        return Ok(Box::new(BufReader::new(io::stdin())));
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // 8 KiB: a trace's chunks (~128 KiB) are read past the buffer, so a
    // larger one only copies more of each (inspect: −1.7 % instructions
    // against 64 KiB).
    Ok(Box::new(BufReader::with_capacity(1 << 13, file)))
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

/// Opens a trace and reads its header; errors name the file.
pub fn open_trace(path: &Path, salvage: bool) -> Result<TraceReader<Box<dyn Read + Send>>> {
    open_trace_tracked(path, salvage, &Progress::hidden())
}

/// Like [`open_trace`], advancing `progress` by the bytes read.
pub fn open_trace_tracked(
    path: &Path,
    salvage: bool,
    progress: &Progress,
) -> Result<TraceReader<Box<dyn Read + Send>>> {
    let input: Box<dyn Read + Send> = Box::new(progress.wrap_read(open_input(path)?));
    let reader = match TraceReader::new(input) {
        Ok(reader) => reader,
        Err(error @ esreplay_traces::TraceError::BadMagic) => {
            let hint = sniff(path).map_or_else(String::new, |hint| format!("; {hint}"));
            return Err(anyhow::anyhow!("{error}{hint}").context(path.display().to_string()));
        }
        Err(error) => return Err(anyhow::Error::new(error).context(path.display().to_string())),
    };
    Ok(reader.salvage(salvage))
}

/// What a file that is not a trace looks like, when it is one of the
/// formats `import` reads: which command to use.
fn sniff(path: &Path) -> Option<String> {
    let mut head = Vec::new();
    File::open(path)
        .ok()?
        .take(1 << 16)
        .read_to_end(&mut head)
        .ok()?;
    let text = String::from_utf8_lossy(&head);
    let first = text.trim_start().lines().next()?.trim();
    let shown = path.display();
    let import = |kind: &str, what: &str| {
        format!(
            "this looks like {what}: import it first with `esreplay import {kind} {shown} -o trace.estrace`"
        )
    };
    if first.starts_with('[') {
        return Some("this looks like a JSON array: esreplay imports one JSON object a line (eslogger's own output, or JSONL)".into());
    }
    let object = serde_json::from_str::<serde_json::Value>(first).ok()?;
    let has = |key: &str| object.get(key).is_some();
    if has("global_seq") && has("arrival_ns") {
        Some(import("jsonl", "esreplay JSONL"))
    } else if has("event_type") || has("mach_time") || has("schema_version") {
        Some(import("eslogger", "an eslogger capture"))
    } else {
        None
    }
}

/// Reads every message of a trace through `each`, decoded ahead on a
/// thread of its own (so that on two cores the read costs `each` nothing);
/// then warns on stderr of what was lost (cut short, skipped chunks) and
/// gives the reader back for its header, footer and summary. Errors name
/// the file.
pub fn for_each_message<R: Read + Send + 'static>(
    path: &Path,
    reader: TraceReader<R>,
    mut each: impl FnMut(&esreplay_traces::Message) -> Result<()>,
) -> Result<TraceReader<R>> {
    let mut ahead = replay::ReadAhead::spawn(reader)
        .with_context(|| format!("cannot start a thread to read {}", path.display()))?;
    while let Some(batch) = ahead.next_batch() {
        let batch = batch.with_context(|| format!("{}", path.display()))?;
        batch.iter().try_for_each(&mut each)?;
        ahead.recycle(batch);
    }
    let reader = ahead.finish();
    warn_about_losses(path, &reader);
    Ok(reader)
}
