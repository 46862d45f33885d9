//! The cache sweep (`esreplay sweep --es-cache-sizes`): one full run per
//! cache size, so a user sees how big a cache the trace needs.

use esreplay_traces::Message;
use serde::Serialize;

use crate::cost::CostModel;
use crate::engine::{SimConfig, SimError, Simulator};
use crate::spec::StrategySpec;

/// What one cache size gives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CacheSizeRow {
    /// Entries in the cache.
    pub size: usize,
    /// AUTH messages answered late.
    pub misses: u64,
    /// When ES would kill the client (`--miss-mode kill`).
    pub killed_at_ns: Option<u64>,
    /// AUTH messages of the cached events, not muted: the lookups.
    pub lookups: u64,
    /// Answered by the kernel from the cache.
    pub cached: u64,
    /// cached ÷ lookups (null without lookups).
    pub hit_rate: Option<f64>,
    /// Lookups of messages without a process or target path (never cached).
    pub keyless: u64,
}

/// Runs `messages` through `spec` under `config` (its mutes and cached
/// events) with a cache of `size` entries.
pub fn run_size<I, E>(
    messages: I,
    spec: &StrategySpec,
    cost: &CostModel,
    config: &SimConfig,
    size: usize,
) -> Result<CacheSizeRow, SimError>
where
    I: IntoIterator<Item = Result<Message, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut config = config.clone();
    config.kernel.cache_size = size;
    let mut strategy = spec.build();
    let mut simulator = Simulator::new(&mut strategy, cost, config, ());
    for message in messages {
        simulator.push(message.map_err(|e| SimError::Input(Box::new(e)))?)?;
    }
    let counts = simulator.kernel_counts().unwrap_or_default();
    let result = simulator.finish()?;
    Ok(CacheSizeRow {
        size,
        misses: result.misses,
        killed_at_ns: result.killed_at_ns,
        lookups: counts.lookups,
        cached: counts.cached,
        hit_rate: counts.hit_rate(),
        keyless: counts.keyless,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::KernelOptions;
    use esreplay_traces::{Action, EventType};
    use std::sync::Arc;

    #[test]
    fn a_cycle_through_more_files_than_the_cache_holds_never_hits_until_it_fits() {
        // One process cycling through 8 files, every 10 ns, 1 ns of work.
        let messages: Vec<Message> = (0..400)
            .map(|i| {
                let mut m = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * 10);
                m.deadline_ns = Some(i * 10 + 100);
                m.process_path = Some(Arc::from("/bin/cycler"));
                m.target_path = Some(Arc::from(format!("/tmp/f{}", i % 8)));
                m
            })
            .collect();
        let config = SimConfig {
            kernel: KernelOptions {
                cache_events: vec![EventType::AUTH_OPEN],
                ..KernelOptions::default()
            },
            ..SimConfig::default()
        };
        let spec: StrategySpec = "inline".parse().unwrap();
        let row = |size| {
            let source = messages
                .iter()
                .cloned()
                .map(Ok::<_, std::convert::Infallible>);
            run_size(source, &spec, &CostModel::constant(1), &config, size).unwrap()
        };
        assert_eq!(row(7).cached, 0, "LRU of 7 over a cycle of 8 always misses");
        let fits = row(8);
        assert_eq!((fits.lookups, fits.cached), (400, 392));
        assert_eq!(fits.hit_rate, Some(0.98));
        assert_eq!(row(0).hit_rate, None, "size 0 turns the cache off");
    }
}
