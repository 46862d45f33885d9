//! Builders and runners shared by the integration tests.

use esreplay_simulator::{
    CostModel, Outcome, SimConfig, SimResult, StrategySpec, simulate_observed,
};
use esreplay_traces::{Action, EventType, Message};

/// (arrival, service, deadline); `None` deadline makes a NOTIFY message.
pub type Row = (u64, u64, Option<u64>);

/// Messages in kernel order with recorded service times (cost `trace`).
pub fn messages(rows: &[Row]) -> Vec<Message> {
    rows.iter()
        .enumerate()
        .map(|(index, &(arrival, service, deadline))| {
            let (event, action) = match deadline {
                Some(_) => (EventType::AUTH_OPEN, Action::Auth),
                None => (EventType::NOTIFY_EXIT, Action::Notify),
            };
            let mut message = Message::new(index as u64, event, action, arrival);
            message.deadline_ns = deadline;
            message.service_ns = Some(service);
            message
        })
        .collect()
}

/// Runs `spec` over `messages`; outcomes sorted by stream position.
pub fn run_messages(
    spec: &str,
    messages: &[Message],
    cost: &CostModel,
    config: &SimConfig,
) -> (SimResult, Vec<Outcome>) {
    let spec: StrategySpec = spec.parse().expect("a valid strategy");
    let mut strategy = spec.build();
    let mut outcomes = Vec::new();
    let source = messages
        .iter()
        .cloned()
        .map(Ok::<_, std::convert::Infallible>);
    let result = simulate_observed(source, &mut strategy, cost, config, |o: &Outcome| {
        outcomes.push(*o)
    })
    .expect("the simulation runs");
    outcomes.sort_by_key(|o| o.index);
    (result, outcomes)
}

/// Runs `spec` over `rows` with the recorded service times.
pub fn run(spec: &str, rows: &[Row], config: &SimConfig) -> (SimResult, Vec<Outcome>) {
    run_messages(spec, &messages(rows), &CostModel::trace(), config)
}

/// τ, ρ and c_h.
pub fn config(transport_ns: u64, response_latency_ns: u64, handoff_ns: u64) -> SimConfig {
    SimConfig {
        transport_ns,
        response_latency_ns,
        handoff_ns,
        ..SimConfig::default()
    }
}
