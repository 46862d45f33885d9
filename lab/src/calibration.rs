//! `esreplay lab --calibrate`: this machine's fixed costs, measured on a
//! short run of `inline` and of a pool, as a machine file
//! ([`MachineFile`]) for the simulator's `--machine FILE`.
//!
//! The lab measures, per run ([`Costs`]): τ and ρ; the reading thread's
//! time per message beyond the work (inline: answer, read, resolve; a
//! pool: read, resolve, queue); a worker's time per job beyond the work.
//! The simulator's model splits the handler's share in two: a
//! `handler_overhead` after every message (inline and pools alike) and a
//! `handoff` c_h per message in pools, so the file has
//! handler_overhead = inline's reading-thread time and
//! handoff = max(0, the pool's reading-thread time − handler_overhead):
//! a pool's handler then spends what was measured on a pool.

use crate::Costs;

/// The machine file's values, ns unless said.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineFile {
    /// τ: median over both runs' idle reads (inline's if the pool had none).
    pub transport_ns: u64,
    /// ρ.
    pub response_latency_ns: u64,
    /// c_h for pools.
    pub handoff_ns: u64,
    /// The handler's time after each message.
    pub handler_overhead_ns: u64,
    /// A worker's time per job beyond its work.
    pub worker_overhead_ns: u64,
    /// Cores the client can use.
    pub cores: usize,
    /// Other runnable threads competing for them (mean over the runs).
    pub background: f64,
}

impl MachineFile {
    /// From an inline run's and a pool run's costs.
    pub fn from_runs(inline: &Costs, pool: &Costs, cores: usize, background: f64) -> MachineFile {
        let both = |f: fn(&Costs) -> Option<u64>| {
            let values: Vec<u64> = [f(inline), f(pool)].into_iter().flatten().collect();
            (values.iter().sum::<u64>())
                .checked_div(values.len() as u64)
                .unwrap_or(0)
        };
        let handler = inline.handler_ns.unwrap_or(0);
        MachineFile {
            transport_ns: both(|c| c.delivery_ns),
            response_latency_ns: both(|c| c.response_ns),
            handoff_ns: pool.handler_ns.unwrap_or(0).saturating_sub(handler),
            handler_overhead_ns: handler,
            worker_overhead_ns: pool.worker_ns.unwrap_or(0),
            cores,
            background,
        }
    }

    /// The TOML text, durations as `"<n>ns"`, after a comment header.
    pub fn to_toml(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            out.push_str(&format!("# {line}\n"));
        }
        let ns = |v: u64| format!("\"{v}ns\"");
        out.push_str(&format!("transport = {}\n", ns(self.transport_ns)));
        out.push_str(&format!(
            "response_latency = {}\n",
            ns(self.response_latency_ns)
        ));
        out.push_str(&format!("handoff = {}\n", ns(self.handoff_ns)));
        out.push_str(&format!(
            "handler_overhead = {}\n",
            ns(self.handler_overhead_ns)
        ));
        out.push_str(&format!(
            "worker_overhead = {}\n",
            ns(self.worker_overhead_ns)
        ));
        out.push_str(&format!("cores = {}\n", self.cores));
        out.push_str(&format!("background = {:.2}\n", self.background));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_time_splits_into_overhead_and_handoff() {
        let inline = Costs {
            delivery_ns: Some(40),
            response_ns: Some(20),
            handler_ns: Some(50),
            ..Costs::default()
        };
        let pool = Costs {
            delivery_ns: Some(60),
            response_ns: None,
            handler_ns: Some(80),
            worker_ns: Some(30),
            ..Costs::default()
        };
        let file = MachineFile::from_runs(&inline, &pool, 2, 0.5);
        assert_eq!((file.transport_ns, file.response_latency_ns), (50, 20));
        assert_eq!((file.handler_overhead_ns, file.handoff_ns), (50, 30));
        assert_eq!(file.worker_overhead_ns, 30);
        let text = file.to_toml("measured\nhere");
        assert!(text.starts_with("# measured\n# here\n"), "{text}");
        assert!(text.contains("handoff = \"30ns\"\n"), "{text}");
        assert!(text.contains("cores = 2\nbackground = 0.50\n"), "{text}");
        // The simulator's --machine reads it back.
        let machine = esreplay_simulator::engine::machine::Machine::parse(&text).unwrap();
        assert_eq!(machine.handoff_ns, Some(30));
        assert_eq!(machine.transport_ns, Some(50));
        assert_eq!(machine.cores, Some(2.0));
        // A pool faster than inline: no negative hand-off.
        let fast = Costs {
            handler_ns: Some(10),
            ..pool
        };
        assert_eq!(MachineFile::from_runs(&inline, &fast, 1, 0.0).handoff_ns, 0);
    }
}
