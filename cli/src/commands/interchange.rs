//! `esreplay import jsonl` and `esreplay export jsonl`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use esreplay_traces::{Header, Source, TraceWriter, jsonl};

use crate::cli::{ExportJsonlArgs, ImportJsonlArgs};

/// Reads JSON lines into a trace; the first bad line is an error naming it.
pub fn import_jsonl(args: &ImportJsonlArgs) -> Result<ExitCode> {
    let (input, progress) = super::open_input_tracked(&args.input, "import")?;
    let header = Header {
        source: Some(Source::Jsonl),
        tool: "esreplay import jsonl".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        ..Header::default()
    };
    let mut writer = TraceWriter::new(super::create_output(&args.output)?, &header)?;
    for message in jsonl::read_messages(input) {
        let message = message.with_context(|| format!("{}", args.input.display()))?;
        writer.write(&message)?;
    }
    progress.finish();
    let written = writer.messages_written();
    writer.finish()?;
    eprintln!(
        "esreplay: imported {written} messages into {}",
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a trace's messages as JSON lines.
pub fn export_jsonl(args: &ExportJsonlArgs) -> Result<ExitCode> {
    let mut reader = super::open_trace(&args.trace, args.salvage)?;
    let mut output = super::create_output(&args.output)?;
    super::for_each_message(&args.trace, &mut reader, |message| {
        Ok(jsonl::write_message(&mut output, message)?)
    })?;
    output.flush()?;
    Ok(ExitCode::SUCCESS)
}
