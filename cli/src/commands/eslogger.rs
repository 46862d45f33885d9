//! `esreplay import eslogger`: an eslogger capture into a trace, with a
//! report of what was read, skipped and inferred on stderr.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;
use std::process::ExitCode;

use crate::progress::Progress;
use anyhow::{Context, Result};
use esreplay_eslogger::{ImportOptions, parse_as_auth, parse_timebase};
use esreplay_traces::budget::BudgetTable;

use super::{Durability, Output, refuse_same_file};
use crate::cli::ImportEsloggerArgs;

fn options(args: &ImportEsloggerArgs) -> Result<ImportOptions> {
    Ok(ImportOptions {
        timebase: args.timebase.as_deref().map(parse_timebase).transpose()?,
        as_auth: args
            .as_auth
            .as_deref()
            .map(parse_as_auth)
            .transpose()?
            .unwrap_or_default(),
        budgets: BudgetTable::with_overrides(args.budgets.iter().map(String::as_str))?,
        strict: args.strict,
        ..ImportOptions::default()
    })
}

/// Standard input is copied to a temporary file, which is read twice.
fn spool_stdin() -> Result<tempfile::NamedTempFile> {
    let mut spool =
        tempfile::NamedTempFile::new().context("creating a temporary file for standard input")?;
    io::copy(&mut io::stdin().lock(), &mut spool).context("reading standard input")?;
    Ok(spool)
}

/// Imports the capture.
pub fn import(args: &ImportEsloggerArgs) -> Result<ExitCode> {
    refuse_same_file(&[&args.input], &[&args.output])?;
    let options = options(args)?;
    let spooled = super::is_stdio(&args.input).then(spool_stdin).transpose()?;
    let path: &Path = spooled
        .as_ref()
        .map_or(args.input.as_path(), |spool| spool.path());
    // Two passes: the bar covers twice the file, and the importer reports
    // the bytes read over both.
    let progress = Progress::bytes("import", super::input_len(path).map(|len| 2 * len));
    let open = || File::open(path).map(|file| BufReader::with_capacity(1 << 16, file));
    open().with_context(|| format!("cannot open {}", args.input.display()))?;
    let output = Output::create(&args.output, Durability::Synced)?;
    let name = args.input.display().to_string();
    let imported = esreplay_eslogger::import(open, &options, &name, output, |bytes| {
        progress.set_position(bytes)
    })
    .with_context(|| format!("importing {name}"));
    progress.finish();
    let (output, report) = imported?;
    output.commit()?;
    eprint!(
        "esreplay: imported {name} into {}: {report}",
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
