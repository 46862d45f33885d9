//! What the lab's client does with each event: a [`Plan`], the real-thread
//! twin of the simulator's strategies (`inline`, `pool:N`, `edf:N`,
//! `guard:M:INNER`). A strategy is described once, by the simulator's
//! `StrategySpec`; [`plan_of`](crate::fidelity::plan_of) is the one
//! mapping from it to a plan, so the names mean the same thing.

use std::fmt;
use std::sync::Arc;

/// The watchdog time g_i of a guard, from the deadline d_i and the time the
/// handler took the message h_i (both ns since the experiment's epoch).
pub type GuardFn = Arc<dyn Fn(u64, u64) -> u64 + Send + Sync>;

/// A threading design run with real threads.
#[derive(Clone)]
pub enum Plan {
    /// The reading thread does the work and answers.
    Inline,
    /// The reading thread queues; N workers take jobs in arrival order.
    Fifo(usize),
    /// The reading thread queues; N workers take the earliest deadline
    /// first (ties by arrival), non-preemptively.
    Edf(usize),
    /// INNER, plus a watchdog thread that answers ALLOW at g_i unless INNER
    /// answered first; a job not started by g_i is dropped.
    Guard {
        /// g_i = guard_at(d_i, h_i).
        guard_at: GuardFn,
        /// The guarded plan.
        inner: Box<Plan>,
    },
}

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
    /// On the reading thread.
    Inline,
    /// On N workers in FIFO order.
    Fifo(usize),
    /// On N workers in deadline order.
    Edf(usize),
}

impl Plan {
    /// The base plan and every guard around it (outermost first).
    pub fn split(&self) -> (Base, Vec<GuardFn>) {
        let mut guards = Vec::new();
        let mut plan = self;
        loop {
            match plan {
                Plan::Inline => return (Base::Inline, guards),
                Plan::Fifo(n) => return (Base::Fifo(*n), guards),
                Plan::Edf(n) => return (Base::Edf(*n), guards),
                Plan::Guard { guard_at, inner } => {
                    guards.push(Arc::clone(guard_at));
                    plan = inner;
                }
            }
        }
    }

    /// Worker threads besides the reading thread.
    pub fn workers(&self) -> usize {
        match self.split().0 {
            Base::Inline => 0,
            Base::Fifo(n) | Base::Edf(n) => n,
        }
    }
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Inline => f.write_str("Inline"),
            Plan::Fifo(n) => write!(f, "Fifo({n})"),
            Plan::Edf(n) => write!(f, "Edf({n})"),
            Plan::Guard { inner, .. } => write!(f, "Guard({inner:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_peel_off_to_the_base() {
        let guard = |inner| Plan::Guard {
            guard_at: Arc::new(|deadline: u64, taken: u64| deadline.saturating_sub(5).max(taken)),
            inner: Box::new(inner),
        };
        let plan = guard(guard(Plan::Edf(3)));
        let (base, guards) = plan.split();
        assert_eq!(base, Base::Edf(3));
        assert_eq!(guards.len(), 2);
        assert_eq!(guards[0](100, 0), 95);
        assert_eq!(plan.workers(), 3);
        assert_eq!(Plan::Inline.workers(), 0);
        assert_eq!(format!("{plan:?}"), "Guard(Guard(Edf(3)))");
    }
}
