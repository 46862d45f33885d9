//! `esreplay import jsonl` and `esreplay export jsonl`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use esreplay_traces::{Header, Source, TraceWriter, jsonl};

use super::{Durability, Output, refuse_same_file};
use crate::cli::{ExportJsonlArgs, ImportJsonlArgs};

/// Reads JSON lines into a trace; the first bad line is an error naming it.
pub fn import_jsonl(args: &ImportJsonlArgs) -> Result<ExitCode> {
    refuse_same_file(&[&args.input], &[&args.output])?;
    let (input, progress) = super::open_input_tracked(&args.input, "import")?;
    let header = Header {
        source: Some(Source::Jsonl),
        tool: "esreplay import jsonl".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        ..Header::default()
    };
    let output = Output::create(&args.output, Durability::Synced)?;
    let mut writer = TraceWriter::new(output, &header)?;
    let mut checks = jsonl::Checks::default();
    for item in jsonl::read_numbered(input) {
        let (line, message) = item.with_context(|| format!("{}", args.input.display()))?;
        checks.check(line, &message);
        writer.write(&message)?;
    }
    progress.finish();
    let written = writer.messages_written();
    writer.finish()?.commit()?;
    eprintln!(
        "esreplay: imported {written} messages into {}",
        args.output.display()
    );
    for warning in checks.warnings() {
        eprintln!("esreplay: warning: {}: {warning}", args.input.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a trace's messages as JSON lines.
pub fn export_jsonl(args: &ExportJsonlArgs) -> Result<ExitCode> {
    refuse_same_file(&[&args.trace], &[&args.output])?;
    let reader = super::open_trace(&args.trace, args.salvage)?;
    let mut output = Output::create(&args.output, Durability::Plain)?;
    super::for_each_message(&args.trace, reader, |message| {
        Ok(jsonl::write_message(&mut output, message)?)
    })?;
    output.commit()?;
    Ok(ExitCode::SUCCESS)
}
