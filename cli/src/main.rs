//! `esreplay`: record, inspect and replay Endpoint Security message traces.
//!
//! This file only parses arguments and maps results to exit codes:
//! 0 success, 1 a gate failed (`check`), 2 bad input or usage.

mod cli;
mod commands;
mod progress;

use std::io::ErrorKind;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("esreplay: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed pipe (`esreplay export jsonl t | head`) is not a failure.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    })
}
