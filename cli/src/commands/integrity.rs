//! Whether a trace was read whole, from what its reader found: the loud
//! warning of every command that reads a partial trace, the refusal of the
//! gates (`check`, `sweep`) without `--allow-partial`, and the fields of
//! their JSON (`complete`, `messages_lost`, `messages_lost_exact`,
//! `damage`).

use std::io::Read;
use std::path::Path;

use anyhow::Result;
use esreplay_traces::TraceReader;
use serde::Serialize;

/// Whether a trace was read whole: what the gates (`check`, `sweep`)
/// refuse without `--allow-partial`, and what their JSON says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Messages read.
    pub messages_read: u64,
    /// Messages known to be lost (an exact count when the footer vouches
    /// for the totals, else a lower bound: a cut trace lost an unknown tail).
    pub messages_lost: u64,
    /// Whether `messages_lost` is exact.
    pub loss_exact: bool,
    /// What is wrong, one sentence each; empty for a complete trace.
    pub damage: Vec<String>,
}

impl Integrity {
    /// What a finished read of a trace found.
    pub fn of<R: Read>(reader: &TraceReader<R>) -> Self {
        let summary = reader.summary();
        let (messages_lost, loss_exact) = summary.lost_messages();
        let mut damage = Vec::new();
        if reader.footer().is_none() {
            damage.push(format!(
                "cut short: footer missing, {} bytes after the last complete chunk lost",
                summary.truncated_bytes
            ));
        }
        if summary.damage > 0 {
            let first = summary.first_damage.as_deref().unwrap_or("?");
            damage.push(format!(
                "{} damaged frames (first: {first})",
                summary.damage
            ));
        }
        if summary.skipped_chunks > 0 {
            damage.push(format!(
                "{} corrupt chunks skipped (--salvage)",
                summary.skipped_chunks
            ));
        }
        if summary.garbage_bytes > 0 {
            damage.push(format!(
                "{} bytes skipped to resynchronise (--salvage)",
                summary.garbage_bytes
            ));
        }
        if !summary.complete && damage.is_empty() {
            damage.push(format!("{messages_lost} messages missing"));
        }
        Integrity {
            messages_read: summary.messages,
            messages_lost,
            loss_exact,
            damage,
        }
    }

    /// "12" or "at least 12".
    fn lost(&self) -> String {
        match self.loss_exact {
            true => self.messages_lost.to_string(),
            false => format!("at least {}", self.messages_lost),
        }
    }

    /// Whether nothing was lost.
    pub fn complete(&self) -> bool {
        self.damage.is_empty()
    }

    /// `result` followed by `complete`, `messages_lost`,
    /// `messages_lost_exact` (false: a lower bound) and `damage`, for the
    /// JSON of the gates (`sim` and `compare` print the designed fields
    /// only).
    pub fn annotate<'a, T: Serialize>(&'a self, result: &'a T) -> Annotated<'a, T> {
        Annotated {
            result,
            complete: self.complete(),
            messages_lost: self.messages_lost,
            messages_lost_exact: self.loss_exact,
            damage: &self.damage,
        }
    }

    /// The refusal of a gate, unless `allow_partial`.
    pub fn gate(&self, path: &Path, allow_partial: bool) -> Result<()> {
        if self.complete() || allow_partial {
            return Ok(());
        }
        let lost = self.lost();
        anyhow::bail!(
            "{}: the trace is incomplete ({}); {lost} messages lost, {} read: a gate on part of a trace proves nothing. Pass --allow-partial to judge the messages read",
            path.display(),
            self.damage.join("; "),
            self.messages_read
        )
    }
}

/// A result with what is known of its trace's completeness, its own
/// fields first.
#[derive(Serialize)]
pub struct Annotated<'a, T: Serialize> {
    #[serde(flatten)]
    result: &'a T,
    complete: bool,
    messages_lost: u64,
    messages_lost_exact: bool,
    damage: &'a [String],
}

/// Says loudly on stderr that a trace was cut short or damaged: the
/// results that follow cover only the messages read.
pub fn warn_about_losses<R: Read>(path: &Path, reader: &TraceReader<R>) {
    let integrity = Integrity::of(reader);
    if integrity.complete() {
        return;
    }
    let lost = integrity.lost();
    eprintln!(
        "esreplay: WARNING: {}: INCOMPLETE TRACE: {}; {} messages read, {lost} messages lost: results cover only the messages read (check and sweep refuse such a trace without --allow-partial)",
        path.display(),
        integrity.damage.join("; "),
        integrity.messages_read
    );
}
