//! `guard:M:INNER` and `guard:P%:MIN:MAX:INNER`: a watchdog around any
//! strategy that answers with the default verdict before the deadline.
//!
//! When the handler takes an AUTH message with a deadline, the plan of the
//! inner strategy gets a watchdog at g_i = max(d_i − M_i, h_i) (the
//! earlier one if the inner strategy set one). The engine fires it: a job
//! that has not started by then is dropped (its worker time saved); a
//! started job runs to the end. The answer is the inner one unless the
//! watchdog fires first, which it does only when g_i < f_i (or the job
//! never ran): then the answer is sent at g_i and the message counts as
//! defaulted. NOTIFY messages and AUTH messages without a deadline pass
//! through untouched.

use esreplay_traces::{Action, Message};

use super::{Job, Plan, Strategy, Ticket, Time};
use crate::engine::time::SCALE;

/// How far before the deadline the watchdog fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Margin {
    /// A fixed margin M.
    Fixed(u64),
    /// Santa's relative margin: M_i = clamp(P/100 · (d_i − h_i), MIN, MAX),
    /// rounded down to whole nanoseconds.
    Relative {
        /// P/100 in millionths (20 % is 200 000).
        share_ppm: u64,
        /// Lower clamp.
        min_ns: u64,
        /// Upper clamp.
        max_ns: u64,
    },
}

/// ⌊share_ppm/10⁶ of `left`⌋ in whole ns (`left` in units of 1/`scale`
/// ns), clamped to [min_ns, max(min_ns, max_ns)]: a relative margin.
fn clamped_share(left: u128, scale: u128, share_ppm: u64, min_ns: u64, max_ns: u64) -> u64 {
    let share = crate::engine::time::mul_div_floor(left, u128::from(share_ppm), 1_000_000 * scale);
    u64::try_from(share)
        .unwrap_or(u64::MAX)
        .clamp(min_ns, max_ns.max(min_ns))
}

impl Margin {
    /// M_i for a message with deadline `deadline_ns` taken at `taken_ns`.
    pub fn for_message(self, deadline_ns: u64, taken_ns: u64) -> u64 {
        match self {
            Margin::Fixed(margin) => margin,
            Margin::Relative {
                share_ppm,
                min_ns,
                max_ns,
            } => {
                let left = u128::from(deadline_ns.saturating_sub(taken_ns));
                clamped_share(left, 1, share_ppm, min_ns, max_ns)
            }
        }
    }

    /// M_i from the exact d_i − h_i (relative margins round down).
    pub fn for_exact(self, deadline: Time, taken: Time) -> u64 {
        if deadline.is_whole() && taken.is_whole() {
            return self.for_message(deadline.floor_ns(), taken.floor_ns());
        }
        match self {
            Margin::Fixed(margin) => margin,
            Margin::Relative {
                share_ppm,
                min_ns,
                max_ns,
            } => clamped_share((deadline - taken).raw(), SCALE, share_ppm, min_ns, max_ns),
        }
    }

    /// g_i = max(d_i − M_i, h_i) in whole ns, for a deadline and a take in
    /// whole ns.
    pub fn guard_ns(self, deadline_ns: u64, taken_ns: u64) -> u64 {
        let margin = self.for_message(deadline_ns, taken_ns);
        deadline_ns.saturating_sub(margin).max(taken_ns)
    }

    /// The watchdog time g_i = max(d_i − M_i, h_i), exact, if the job has
    /// a deadline and is an AUTH message.
    pub fn guard_time(self, job: &Job) -> Option<Time> {
        if job.action != Action::Auth {
            return None;
        }
        let deadline = job.deadline?;
        let margin = self.for_exact(deadline, job.taken);
        Some((deadline - Time::from_ns(margin)).max(job.taken))
    }
}

/// A watchdog around an inner strategy.
pub struct Guard {
    margin: Margin,
    label: String,
    inner: Box<dyn Strategy>,
}

impl Guard {
    /// Wraps `inner`; `label` is the margin as written (`500ms`,
    /// `20%:1s:5s`) for [`Strategy::name`].
    pub fn new(margin: Margin, label: String, inner: Box<dyn Strategy>) -> Guard {
        Guard {
            margin,
            label,
            inner,
        }
    }
}

impl Strategy for Guard {
    fn name(&self) -> String {
        format!("guard:{}:{}", self.label, self.inner.name())
    }

    fn workers(&self) -> u32 {
        self.inner.workers()
    }

    fn plan(&mut self, job: &Job, message: &Message) -> Plan {
        let mut plan = self.inner.plan(job, message);
        if let Some(guard) = self.margin.guard_time(job) {
            plan.watchdog = Some(plan.watchdog.map_or(guard, |inner| inner.min(guard)));
        }
        plan
    }

    fn queue(&mut self, ticket: Ticket) {
        self.inner.queue(ticket)
    }

    fn next(&mut self, worker: u32, now: Time) -> Option<Ticket> {
        self.inner.next(worker, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::{job, message};
    use crate::strategy::{FifoPool, Inline};

    fn auth(taken: u64, deadline: u64) -> Job {
        let mut job = job(0, taken, 5);
        job.deadline_ns = Some(deadline);
        job.deadline = Some(Time::from_ns(deadline));
        job
    }

    #[test]
    fn relative_margin_is_a_clamped_share_of_what_is_left() {
        let santa = Margin::Relative {
            share_ppm: 200_000,
            min_ns: 1_000_000_000,
            max_ns: 5_000_000_000,
        };
        assert_eq!(santa.for_message(15_000_000_000, 0), 3_000_000_000);
        assert_eq!(santa.for_message(60_000_000_000, 0), 5_000_000_000);
        assert_eq!(santa.for_message(2_000_000_000, 0), 1_000_000_000);
        assert_eq!(santa.for_message(100, 200), 1_000_000_000);
        let odd = Margin::Relative {
            share_ppm: 200_000,
            min_ns: 0,
            max_ns: u64::MAX,
        };
        assert_eq!(odd.for_message(7, 0), 1, "1.4 rounds down");
        let half_ns = Time::from_raw(SCALE / 2);
        assert_eq!(odd.for_exact(Time::from_ns(10), half_ns), 1, "20 % of 9.5");
        assert_eq!(odd.guard_ns(100, 0), 80);
    }

    #[test]
    fn the_watchdog_is_the_earlier_of_nested_guards_and_never_before_the_take() {
        let inner = Guard::new(Margin::Fixed(10), "10ns".into(), Box::new(Inline));
        let mut outer = Guard::new(Margin::Fixed(30), "30ns".into(), Box::new(inner));
        let plan = outer.plan(&auth(0, 100), &message());
        assert_eq!(plan.watchdog, Some(Time::from_ns(70)));
        let plan = outer.plan(&auth(90, 100), &message());
        assert_eq!(plan.watchdog, Some(Time::from_ns(90)), "max(d - M, h)");
        let mut pool = Guard::new(Margin::Fixed(1), "1ns".into(), Box::new(FifoPool::new(2)));
        assert_eq!(
            pool.plan(&job(0, 0, 5), &message()).watchdog,
            None,
            "no deadline"
        );
        assert_eq!(pool.name(), "guard:1ns:pool:2");
    }
}
