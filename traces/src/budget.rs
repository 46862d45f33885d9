//! Deadline budgets (deadline − arrival) per event type, for sources that
//! have no deadlines of their own: `gen`, eslogger's `--as-auth` and
//! fanotify.
//!
//! ES sets each AUTH message's deadline itself, and the budget differs by
//! event type and OS release; a trace recorded by `esrecord` carries the real
//! ones (`esreplay inspect` shows them). Where none are known, the defaults
//! below stand in, and `--budget AUTH_OPEN=15s` overrides any of them.
//! `gen --budget-process PATH=D` gives every AUTH message of one process
//! its own budget (macOS 14.4 gave some binaries far smaller ones).

use std::collections::BTreeMap;

use crate::duration::parse_duration_ns;
use crate::event::EventType;
use crate::model::Message;

/// The budget of an AUTH event type with no entry of its own.
pub const DEFAULT_BUDGET_NS: u64 = 15_000_000_000;

/// Deadline budgets by event type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetTable {
    default_ns: u64,
    per_event: BTreeMap<EventType, u64>,
    /// Executable path → budget of all its AUTH messages.
    per_process: BTreeMap<String, u64>,
}

impl Default for BudgetTable {
    /// Every AUTH type: 15 s, the order of the deadlines ES gives AUTH_OPEN
    /// on current releases; AUTH_EXEC: 60 s.
    fn default() -> Self {
        let mut per_event = BTreeMap::new();
        per_event.insert(EventType::AUTH_EXEC, 60_000_000_000);
        BudgetTable {
            default_ns: DEFAULT_BUDGET_NS,
            per_event,
            per_process: BTreeMap::new(),
        }
    }
}

/// A `--budget` argument that is not `EVENT=DURATION`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --budget {text:?}: {reason} (write e.g. AUTH_OPEN=15s)")]
pub struct BudgetError {
    /// The argument as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl BudgetTable {
    /// The budget for an event type.
    pub fn budget_ns(&self, event: EventType) -> u64 {
        self.per_event
            .get(&event)
            .copied()
            .unwrap_or(self.default_ns)
    }

    /// Sets one event type's budget.
    pub fn set(&mut self, event: EventType, budget_ns: u64) {
        self.per_event.insert(event, budget_ns);
    }

    /// Applies an override `EVENT=DURATION` (`*=DURATION` sets the default).
    pub fn apply(&mut self, text: &str) -> Result<(), BudgetError> {
        let error = |reason: String| BudgetError {
            text: text.to_owned(),
            reason,
        };
        let (event, duration) = text
            .split_once('=')
            .ok_or_else(|| error("missing '='".into()))?;
        let budget = parse_duration_ns(duration).map_err(|e| error(e.to_string()))?;
        if event.trim() == "*" {
            self.default_ns = budget;
        } else {
            let event = event
                .parse()
                .map_err(|e: crate::event::UnknownEventType| error(e.to_string()))?;
            self.set(event, budget);
        }
        Ok(())
    }

    /// Applies `PATH=DURATION`: every AUTH message whose process path is
    /// PATH gets that budget, whatever its event type.
    pub fn apply_process(&mut self, text: &str) -> Result<(), BudgetError> {
        let error = |reason: String| BudgetError {
            text: text.to_owned(),
            reason: format!("{reason}; a process budget is PATH=DURATION, e.g. /usr/bin/make=2s"),
        };
        let (path, duration) = text
            .rsplit_once('=')
            .ok_or_else(|| error("missing '='".into()))?;
        if path.is_empty() {
            return Err(error("empty path".into()));
        }
        let budget = parse_duration_ns(duration).map_err(|e| error(e.to_string()))?;
        self.per_process.insert(path.to_owned(), budget);
        Ok(())
    }

    /// Gives an AUTH `message` of a process with a budget of its own the
    /// deadline arrival + that budget; other messages are left as they are.
    pub fn apply_process_budget(&self, message: &mut Message) {
        if self.per_process.is_empty() || !message.is_auth() {
            return;
        }
        let path = message.process_path.as_deref().unwrap_or_default();
        if let Some(&budget) = self.per_process.get(path) {
            message.deadline_ns = Some(message.arrival_ns.saturating_add(budget));
        }
    }

    /// The defaults with every override applied in order.
    pub fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = &'a str>,
    ) -> Result<BudgetTable, BudgetError> {
        let mut table = BudgetTable::default();
        for text in overrides {
            table.apply(text)?;
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let mut table = BudgetTable::default();
        assert_eq!(table.budget_ns(EventType::AUTH_OPEN), DEFAULT_BUDGET_NS);
        assert_eq!(table.budget_ns(EventType::AUTH_EXEC), 60_000_000_000);
        table.apply("AUTH_OPEN=2s").unwrap();
        table.apply("*=1s").unwrap();
        assert_eq!(table.budget_ns(EventType::AUTH_OPEN), 2_000_000_000);
        assert_eq!(table.budget_ns(EventType::AUTH_UNLINK), 1_000_000_000);
    }

    #[test]
    fn a_process_budget_overrides_the_event_budget_of_that_process_only() {
        let mut table = BudgetTable::default();
        table.apply_process("/opt/a=b/critical=2s").unwrap();
        let mut critical = Message::new(0, EventType::AUTH_EXEC, crate::Action::Auth, 100);
        critical.process_path = Some("/opt/a=b/critical".into());
        critical.deadline_ns = Some(60_000_000_100);
        let mut other = critical.clone();
        other.process_path = Some("/bin/ls".into());
        let mut notify = critical.clone();
        notify.action = crate::Action::Notify;
        notify.deadline_ns = None;
        for message in [&mut critical, &mut other, &mut notify] {
            table.apply_process_budget(message);
        }
        assert_eq!(critical.deadline_ns, Some(2_000_000_100));
        assert_eq!(other.deadline_ns, Some(60_000_000_100));
        assert_eq!(notify.deadline_ns, None);
        for bad in ["/bin/ls", "=2s", "/bin/ls=soon"] {
            let error = table.apply_process(bad).unwrap_err();
            assert!(error.to_string().contains("PATH=DURATION"), "{error}");
        }
    }

    #[test]
    fn bad_overrides_name_the_argument() {
        let mut table = BudgetTable::default();
        for bad in ["AUTH_OPEN", "AUTH_NOPE=1s", "AUTH_OPEN=soon"] {
            let error = table.apply(bad).unwrap_err();
            assert!(error.to_string().contains(bad), "{error}");
        }
    }
}
