//! Guard margins that leave no time: a guard's margin at least as large as
//! a message's whole budget arms the watchdog for the moment the handler
//! takes the message (g_i = max(d_i − M_i, h_i) = h_i), so every such
//! message that needs any work is answered with the default verdict.
//!
//! Santa shipped exactly this: a fixed 5 s margin denied every message
//! whose deadline was closer (google/santa #1094), and macOS 14.4 gave
//! some binaries far smaller budgets (#1284). [`MarginCheck`] counts, per
//! guard and event type, the AUTH messages whose budget is not above the
//! smallest margin the guard can use, so a command can warn before anyone
//! reads the results.
//!
//! ```
//! use esreplay_simulator::margins::MarginCheck;
//! use esreplay_traces::{Action, EventType, Message};
//!
//! let spec = "guard:5s:pool:4".parse().unwrap();
//! let mut check = MarginCheck::new(&spec).expect("a guard");
//! let mut exec = Message::new(0, EventType::AUTH_EXEC, Action::Auth, 0);
//! exec.deadline_ns = Some(2_000_000_000);
//! check.add(&exec);
//! let warnings = check.warnings();
//! assert_eq!(warnings[0].to_string(), "guard margin 5.00s is not below the budget of 1 AUTH_EXEC message (smallest 2.00s): the guard answers it with the default verdict as soon as it is taken");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use esreplay_traces::{EventType, Message, format_ns};

use crate::spec::StrategySpec;
use crate::strategy::Margin;

/// Counts the messages each guard of a strategy would answer at once.
#[derive(Clone, Debug)]
pub struct MarginCheck {
    /// Each guard's smallest margin, outermost first.
    floors: Vec<(Margin, u64)>,
    /// The largest of the floors: a budget above it passes every guard
    /// (the usual case, checked once per message).
    widest: u64,
    /// (guard, event) → (messages, smallest budget).
    hits: BTreeMap<(usize, EventType), (u64, u64)>,
}

/// Messages whose budget one guard's margin swallows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarginWarning {
    /// The guard's margin.
    pub margin: Margin,
    /// The event type.
    pub event: EventType,
    /// AUTH messages of that type with a budget ≤ the margin.
    pub messages: u64,
    /// The smallest of their budgets, ns.
    pub smallest_budget_ns: u64,
}

/// The smallest M_i a margin can take.
fn floor_ns(margin: Margin) -> u64 {
    match margin {
        Margin::Fixed(margin) => margin,
        Margin::Relative { min_ns, .. } => min_ns,
    }
}

impl MarginCheck {
    /// A check of every guard in `spec`; `None` when it has none.
    pub fn new(spec: &StrategySpec) -> Option<MarginCheck> {
        let mut floors = Vec::new();
        let mut spec = spec;
        while let StrategySpec::Guard { margin, inner } = spec {
            floors.push((*margin, floor_ns(*margin)));
            spec = inner;
        }
        let widest = floors.iter().map(|&(_, floor)| floor).max()?;
        Some(MarginCheck {
            floors,
            widest,
            hits: BTreeMap::new(),
        })
    }

    /// Looks at one message (NOTIFY and AUTH without a deadline pass).
    #[inline]
    pub fn add(&mut self, message: &Message) {
        if !message.is_auth() {
            return;
        }
        let Some(deadline) = message.deadline_ns else {
            return;
        };
        // A deadline before the arrival is a budget of 0, below any margin.
        let budget = deadline.saturating_sub(message.arrival_ns);
        if budget <= self.widest {
            self.count(budget, message.event);
        }
    }

    /// A message of type `event` whose `budget` is not above some guard's
    /// floor (kept apart: the rare case, with the map).
    #[cold]
    #[inline(never)]
    fn count(&mut self, budget: u64, event: EventType) {
        for (guard, &(_, floor)) in self.floors.iter().enumerate() {
            if budget <= floor {
                let hit = self.hits.entry((guard, event)).or_insert((0, u64::MAX));
                hit.0 += 1;
                hit.1 = hit.1.min(budget);
            }
        }
    }

    /// What was found, by guard (outermost first) then event number.
    pub fn warnings(&self) -> Vec<MarginWarning> {
        self.hits
            .iter()
            .map(|(&(guard, event), &(messages, smallest))| MarginWarning {
                margin: self.floors[guard].0,
                event,
                messages,
                smallest_budget_ns: smallest,
            })
            .collect()
    }
}

impl fmt::Display for MarginWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let margin = match self.margin {
            Margin::Fixed(margin) => format_ns(margin),
            Margin::Relative { min_ns, .. } => format!("minimum {}", format_ns(min_ns)),
        };
        let (noun, them) = if self.messages == 1 {
            ("message", "it")
        } else {
            ("messages", "them")
        };
        write!(
            f,
            "guard margin {margin} is not below the budget of {} {} {noun} (smallest {}): the guard answers {them} with the default verdict as soon as {} taken",
            self.messages,
            self.event,
            format_ns(self.smallest_budget_ns),
            if self.messages == 1 {
                "it is"
            } else {
                "they are"
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CostModel, SimConfig, simulate};
    use esreplay_traces::Action;

    fn auth(global_seq: u64, event: EventType, budget_ns: u64) -> Message {
        let arrival = global_seq * 1_000_000_000;
        let mut message = Message::new(global_seq, event, Action::Auth, arrival);
        message.deadline_ns = Some(arrival + budget_ns);
        message
    }

    #[test]
    fn counts_the_messages_a_margin_swallows_per_guard_and_event() {
        let spec: StrategySpec = "guard:5s:guard:10%:1s:8s:inline".parse().unwrap();
        let mut check = MarginCheck::new(&spec).unwrap();
        let messages = [
            auth(0, EventType::AUTH_EXEC, 2_000_000_000),
            auth(1, EventType::AUTH_EXEC, 5_000_000_000),
            auth(2, EventType::AUTH_EXEC, 60_000_000_000),
            auth(3, EventType::AUTH_OPEN, 500_000_000),
            Message::new(4, EventType::NOTIFY_EXEC, Action::Notify, 0),
        ];
        messages.iter().for_each(|m| check.add(m));
        let found: Vec<(u64, EventType, u64, u64)> = check
            .warnings()
            .iter()
            .map(|w| {
                let floor = floor_ns(w.margin);
                (floor, w.event, w.messages, w.smallest_budget_ns)
            })
            .collect();
        assert_eq!(
            found,
            [
                (5_000_000_000, EventType::AUTH_EXEC, 2, 2_000_000_000),
                (5_000_000_000, EventType::AUTH_OPEN, 1, 500_000_000),
                (1_000_000_000, EventType::AUTH_OPEN, 1, 500_000_000),
            ]
        );
        assert!(MarginCheck::new(&"pool:4".parse().unwrap()).is_none());
    }

    #[test]
    fn the_messages_it_names_are_the_ones_the_simulator_defaults() {
        let spec: StrategySpec = "guard:5s:inline".parse().unwrap();
        let messages: Vec<Message> = [2, 9, 4, 30]
            .iter()
            .enumerate()
            .map(|(i, &s)| auth(i as u64 * 100, EventType::AUTH_EXEC, s * 1_000_000_000))
            .collect();
        let mut check = MarginCheck::new(&spec).unwrap();
        messages.iter().for_each(|m| check.add(m));
        let result = simulate(
            messages,
            &mut spec.build(),
            &CostModel::constant(1_000),
            &SimConfig::default(),
        )
        .unwrap();
        assert_eq!(check.warnings()[0].messages, 2);
        assert_eq!(result.defaulted, 2);
    }
}
