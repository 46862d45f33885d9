//! `esreplay`: record, inspect and replay Endpoint Security message traces.
//!
//! This file only parses arguments and maps results to exit codes:
//! 0 success, 1 a gate failed (`check`), 2 bad input or usage.

mod cli;
mod commands;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("esreplay: {error:#}");
            ExitCode::from(2)
        }
    }
}
