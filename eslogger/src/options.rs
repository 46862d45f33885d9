//! How to import: the options of `esreplay import eslogger` and their
//! parsers (`--as-auth`, `--timebase`).

use std::collections::BTreeSet;

use esreplay_traces::budget::BudgetTable;
use esreplay_traces::{EventType, Timebase};

use crate::import::ImportError;

/// The longest line accepted by default (exec events with huge
/// environments run to tens of KiB; 16 MiB is far beyond any).
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

/// How to import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The timebase, instead of inferring it.
    pub timebase: Option<Timebase>,
    /// NOTIFY event types to model as their AUTH twins (`--as-auth`).
    pub as_auth: BTreeSet<EventType>,
    /// Deadline budgets of the modelled AUTH messages.
    pub budgets: BudgetTable,
    /// Fail at the first malformed line instead of skipping it.
    pub strict: bool,
    /// Longest line accepted.
    pub max_line_bytes: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            timebase: None,
            as_auth: BTreeSet::new(),
            budgets: BudgetTable::default(),
            strict: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// Parses `--as-auth OPEN,EXEC` (names with or without `NOTIFY_`).
pub fn parse_as_auth(text: &str) -> Result<BTreeSet<EventType>, ImportError> {
    text.split(',')
        .filter(|name| !name.trim().is_empty())
        .map(|name| {
            let name = name.trim().to_ascii_uppercase();
            let bare = name.strip_prefix("NOTIFY_").unwrap_or(&name);
            EventType::from_name(&format!("NOTIFY_{bare}"))
                .filter(|notify| notify.auth_twin().is_some())
                .ok_or_else(|| {
                    ImportError::Option(format!(
                        "--as-auth: {name} has no AUTH twin (e.g. OPEN, EXEC, RENAME, UNLINK)"
                    ))
                })
        })
        .collect()
}

/// Parses `--timebase N/D`.
pub fn parse_timebase(text: &str) -> Result<Timebase, ImportError> {
    let error = || {
        ImportError::Option(format!(
            "--timebase {text:?}: write N/D, e.g. 125/3 (Apple Silicon) or 1/1 (Intel)"
        ))
    };
    let (numer, denom) = text.split_once('/').ok_or_else(error)?;
    let numer: u32 = numer.trim().parse().map_err(|_| error())?;
    let denom: u32 = denom.trim().parse().map_err(|_| error())?;
    if numer == 0 || denom == 0 {
        return Err(error());
    }
    Ok(Timebase { numer, denom })
}
