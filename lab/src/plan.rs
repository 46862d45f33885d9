//! What the lab's client does with each event: the simulator's
//! [`StrategySpec`] itself (`inline`, `pool:N`, `edf:N`, `guard:M:INNER`,
//! `es-clients-inline:INNER`), run with real threads. [`split`] is the one
//! reading of a spec the lab makes, so the names mean the same thing on
//! both sides.

use esreplay_simulator::StrategySpec;
use esreplay_simulator::strategy::Margin;

/// How a job's service time is spent: always as busy CPU (never a sleep):
/// for that long on the monotonic clock, holding the CPU or giving way, or
/// until the thread has used that much CPU time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Work {
    /// Spin without yielding: the job holds its core like real work does,
    /// and an opener or the reader woken meanwhile waits for the scheduler
    /// to preempt it (on a small machine, the main source of noise).
    #[default]
    Spin,
    /// Spin, but yield the core to any other runnable thread at every
    /// turn: the CPU is still busy when nothing else needs it, and the
    /// kernel side (openers, the reader) runs as if it had cores of its
    /// own, which is what the simulator assumes.
    Yield,
    /// Spin until the thread has *used* the service time in CPU time
    /// (`CLOCK_THREAD_CPUTIME_ID`), not until that much wall time passed:
    /// s_i is CPU work, as in the simulator's CPU model, so a job sharing
    /// its core with other runnable threads takes longer.
    Cpu,
}

/// Where the work runs, once the guards are peeled off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// On the reading thread (`inline`).
    Inline,
    /// On N workers in FIFO order (`pool:N`).
    Fifo(usize),
    /// On N workers taking the earliest deadline first, ties by arrival,
    /// non-preemptively (`edf:N`).
    Edf(usize),
}

impl Base {
    /// Worker threads besides the reading thread.
    pub fn workers(self) -> usize {
        match self {
            Base::Inline => 0,
            Base::Fifo(n) | Base::Edf(n) => n,
        }
    }
}

/// Where `spec` runs the work, and the margins of the guards around it
/// (outermost first): a watchdog thread answers ALLOW at g_i = max(d_i −
/// M_i, h_i), the simulator's rule ([`Margin::guard_ns`]), the earliest
/// of them if guards nest, unless the work answered first; a job not
/// started by then is dropped. `es-clients-inline:INNER` runs as INNER:
/// the lab's fanotify events never come from an ES client.
pub fn split(spec: &StrategySpec) -> (Base, Vec<Margin>) {
    let mut guards = Vec::new();
    let mut spec = spec;
    loop {
        match spec {
            StrategySpec::Inline => return (Base::Inline, guards),
            StrategySpec::Pool(n) => return (Base::Fifo(*n as usize), guards),
            StrategySpec::Edf(n) => return (Base::Edf(*n as usize), guards),
            StrategySpec::Guard { margin, inner } => {
                guards.push(*margin);
                spec = inner;
            }
            StrategySpec::EsClientsInline(inner) => spec = inner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_peel_off_to_the_base_keeping_the_simulators_margin_rule() {
        let spec: StrategySpec = "guard:1ms:guard:20%:1ms:5ms:edf:3".parse().unwrap();
        let (base, guards) = split(&spec);
        assert_eq!(base, Base::Edf(3));
        assert_eq!(guards.len(), 2);
        assert_eq!(guards[0].guard_ns(100_000_000, 0), 99_000_000);
        // 100 ms left: 20 % is 20 ms, clamped to 5 ms.
        assert_eq!(guards[1].guard_ns(100_000_000, 0), 95_000_000);
        // Past the deadline already: the guard fires at once.
        assert_eq!(guards[1].guard_ns(10, 20), 20);
        assert_eq!(base.workers(), 3);
        let spec: StrategySpec = "es-clients-inline:pool:2".parse().unwrap();
        assert_eq!(split(&spec), (Base::Fifo(2), vec![]));
        assert_eq!(split(&StrategySpec::Inline).0.workers(), 0);
    }
}
