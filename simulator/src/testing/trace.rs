//! [`arb_trace`]: random traces in kernel order that stress schedulers.
//!
//! A trace is drawn as a list of rows (gap to the previous arrival in grid
//! steps, service, budget, a few dice) and only then turned into messages,
//! arrivals by a running sum. Proptest shrinks the rows (drops rows, moves
//! values towards 0), so every shrunk trace is still in kernel order:
//! arrivals non-decreasing, `global_seq` increasing.

use std::sync::Arc;

use esreplay_traces::{Action, EventType, Message};
use proptest::prelude::*;

/// Knobs of [`arb_trace`]. Shares are percentages (0–100) of messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceConfig {
    /// Most messages in a trace (at least 1 is drawn).
    pub max_len: usize,
    /// Arrival grid, ns: every arrival is a multiple of it, so ties are
    /// common.
    pub grid_ns: u64,
    /// Offered load in percent: services average about
    /// `load_percent / 100` of the mean gap (100: saturation).
    pub load_percent: u64,
    /// Share of NOTIFY messages (no deadline, no answer awaited).
    pub notify_percent: u8,
    /// Share of messages from one flooding process hammering one file.
    pub flood_percent: u8,
    /// Share of messages that arrive with the previous one (gap 0).
    pub burst_percent: u8,
    /// Share of messages with zero service.
    pub zero_service_percent: u8,
    /// Share of AUTH messages whose service exceeds their budget.
    pub long_service_percent: u8,
    /// Share of AUTH messages whose deadline is already past at arrival.
    pub past_deadline_percent: u8,
    /// Share of traces shifted to end near `u64::MAX` ns.
    pub near_max_percent: u8,
    /// Mean AUTH budget d − a, ns (budgets vary from half to 1.5 times).
    pub budget_ns: u64,
    /// Threads the messages come from (0: no thread ids, open replay
    /// only); with threads, each message records its answer time, so the
    /// engine can replay the trace closed-loop.
    pub threads: u64,
}

impl Default for TraceConfig {
    /// A mix of everything: up to 24 messages on a 10 ns grid at 90 %
    /// load, a fifth NOTIFY, floods, bursts, zero and overlong services,
    /// past deadlines, a few traces near `u64::MAX`, three threads.
    fn default() -> Self {
        TraceConfig {
            max_len: 24,
            grid_ns: 10,
            load_percent: 90,
            notify_percent: 20,
            flood_percent: 25,
            burst_percent: 20,
            zero_service_percent: 10,
            long_service_percent: 10,
            past_deadline_percent: 5,
            near_max_percent: 5,
            budget_ns: 60,
            threads: 3,
        }
    }
}

impl TraceConfig {
    /// Sustained overload: services about twice the gaps, tight budgets.
    pub fn overload() -> Self {
        TraceConfig {
            load_percent: 200,
            budget_ns: 40,
            ..TraceConfig::default()
        }
    }

    /// Edge cases first: many ties, zero and overlong services, past
    /// deadlines, and traces near the top of u64.
    pub fn edges() -> Self {
        TraceConfig {
            grid_ns: 50,
            burst_percent: 50,
            zero_service_percent: 30,
            long_service_percent: 30,
            past_deadline_percent: 20,
            near_max_percent: 30,
            ..TraceConfig::default()
        }
    }

    /// Open replay only: no thread ids.
    pub fn without_threads(self) -> Self {
        TraceConfig { threads: 0, ..self }
    }
}

/// Whether a die (0..100) falls in a share of `percent`: high values do,
/// so that shrinking (towards 0) turns the edge cases off.
fn rolled(die: u8, percent: u8) -> bool {
    die >= 100u8.saturating_sub(percent)
}

/// One drawn row: the dice are percentages, compared with the knobs.
#[derive(Clone, Copy, Debug)]
struct Row {
    gap: u64,
    service: u64,
    budget: u64,
    dice: [u8; 6],
    thread: u64,
    file: u64,
}

/// Traces in kernel order drawn according to `config`; see [`TraceConfig`].
/// Every message has a service time (for [`crate::CostModel::trace`]).
pub fn arb_trace(config: TraceConfig) -> impl Strategy<Value = Vec<Message>> {
    let grid = config.grid_ns.max(1);
    let max_service = (2 * grid).saturating_mul(config.load_percent) / 100;
    let budget = config.budget_ns.max(2);
    let row = (
        0u64..4,
        0..=max_service,
        budget / 2..=budget + budget / 2,
        prop::array::uniform6(0u8..100),
        0..config.threads.max(1),
        0u64..6,
    )
        .prop_map(|(gap, service, budget, dice, thread, file)| Row {
            gap,
            service,
            budget,
            dice,
            thread,
            file,
        });
    let len = 1..config.max_len.max(1) + 1;
    (prop::collection::vec(row, len), 0u8..100, 0u64..1000)
        .prop_map(move |(rows, high, slack)| build(&config, &rows, high, slack))
}

/// Turns rows into messages: arrivals by a running sum of gaps, shifted
/// near `u64::MAX` when the `high` die says so.
fn build(config: &TraceConfig, rows: &[Row], high: u8, slack: u64) -> Vec<Message> {
    let grid = config.grid_ns.max(1);
    let mut offsets = Vec::with_capacity(rows.len());
    let mut at = 0u64;
    for row in rows {
        if !rolled(row.dice[0], config.burst_percent) {
            at = at.saturating_add(row.gap * grid);
        }
        offsets.push(at);
    }
    let base = if rolled(high, config.near_max_percent) {
        // Leave room for the last arrival only: deadlines and answers may
        // saturate at u64::MAX.
        u64::MAX.saturating_sub(at).saturating_sub(slack) / grid * grid
    } else {
        0
    };
    rows.iter()
        .zip(offsets)
        .enumerate()
        .map(|(index, (row, offset))| message(config, index as u64, base + offset, row))
        .collect()
}

/// The message of one row arriving at `arrival`.
fn message(config: &TraceConfig, global_seq: u64, arrival: u64, row: &Row) -> Message {
    let [_, notify, flood, zero, long, past] = row.dice;
    let notify = rolled(notify, config.notify_percent);
    let flood = rolled(flood, config.flood_percent);
    let (event, action) = match (notify, flood) {
        (true, _) => (EventType::NOTIFY_CLOSE, Action::Notify),
        (false, true) => (EventType::AUTH_OPEN, Action::Auth),
        (false, false) if row.file.is_multiple_of(2) => (EventType::AUTH_OPEN, Action::Auth),
        (false, false) => (EventType::AUTH_EXEC, Action::Auth),
    };
    let mut m = Message::new(global_seq, event, action, arrival);
    let mut service = row.service;
    if rolled(zero, config.zero_service_percent) {
        service = 0;
    }
    if !notify {
        if rolled(long, config.long_service_percent) {
            service = row.budget + 1 + row.service;
        }
        m.deadline_ns = Some(if rolled(past, config.past_deadline_percent) {
            arrival.saturating_sub(1 + row.budget / 4)
        } else {
            arrival.saturating_add(row.budget)
        });
    }
    m.service_ns = Some(service);
    let (pid, file): (u32, Arc<str>) = if flood {
        (1, "/flood/target".into())
    } else {
        (100 + row.file as u32, format!("/files/{}", row.file).into())
    };
    m.pid = Some(pid);
    m.process_path = Some(format!("/bin/p{pid}").into());
    m.target_path = Some(file);
    if config.threads > 0 {
        m.thread_id = Some(row.thread);
        m.response_ns = Some(arrival.saturating_add(service));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    fn in_kernel_order(messages: &[Message]) -> bool {
        messages
            .windows(2)
            .all(|w| w[0].arrival_ns <= w[1].arrival_ns && w[0].global_seq < w[1].global_seq)
    }

    proptest! {
        #[test]
        fn traces_are_in_kernel_order_with_service_times(messages in arb_trace(TraceConfig::edges())) {
            prop_assert!(!messages.is_empty());
            prop_assert!(in_kernel_order(&messages));
            prop_assert!(messages.iter().all(|m| m.service_ns.is_some()));
            prop_assert!(messages.iter().all(|m| m.is_auth() == m.deadline_ns.is_some()));
        }
    }

    #[test]
    fn shrinking_keeps_kernel_order() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..50 {
            let mut tree = arb_trace(TraceConfig::edges())
                .new_tree(&mut runner)
                .unwrap();
            for _ in 0..200 {
                assert!(in_kernel_order(&tree.current()));
                if !tree.simplify() {
                    break;
                }
            }
        }
    }

    #[test]
    fn the_default_mix_has_every_edge_case() {
        let mut runner = TestRunner::deterministic();
        let strategy = arb_trace(TraceConfig::default());
        let traces: Vec<Vec<Message>> = (0..300)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect();
        let all = || traces.iter().flatten();
        let any = |f: &dyn Fn(&Message) -> bool| all().any(f);
        assert!(any(&|m| m.service_ns == Some(0)), "zero services");
        assert!(any(&|m| m.deadline_ns.is_some_and(|d| d < m.arrival_ns)));
        assert!(any(&|m| m.budget_ns() < m.service_ns && m.is_auth()));
        assert!(any(&|m| m.arrival_ns > u64::MAX / 2), "near u64::MAX");
        assert!(any(&|m| !m.is_auth()), "NOTIFY");
        assert!(any(&|m| m.pid == Some(1)), "a flood");
        let ties = traces
            .iter()
            .any(|t| t.windows(2).any(|w| w[0].arrival_ns == w[1].arrival_ns));
        assert!(ties, "tied arrivals");
        assert!(all().all(|m| m.thread_id.is_some()));
    }
}
