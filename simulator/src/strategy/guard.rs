//! `guard:M:INNER` and `guard:P%:MIN:MAX:INNER`: a watchdog around any
//! strategy that answers with the default verdict before the deadline.
//!
//! When the handler takes an AUTH message with a deadline, the watchdog is
//! armed for g_i = max(d_i − M_i, h_i). The inner strategy sees g_i as the
//! job's latest start (a job that would start strictly after g_i is
//! dropped and its worker time saved); a started job runs to the end. The
//! answer is the inner one unless the watchdog fires first, which it does
//! only when g_i < f_i (or the job never ran): then the answer is sent at
//! g_i and the message counts as defaulted. NOTIFY messages and AUTH
//! messages without a deadline pass through untouched.

use esreplay_traces::{Action, Message};

use super::{Completion, Context, Job, Strategy};

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
                let share = left * u128::from(share_ppm) / 1_000_000;
                let share = u64::try_from(share).unwrap_or(u64::MAX);
                share.clamp(min_ns, max_ns.max(min_ns))
            }
        }
    }

    /// The watchdog time g_i = max(d_i − M_i, h_i), if the job has a
    /// deadline and is an AUTH message.
    pub fn guard_time(self, job: &Job) -> Option<u64> {
        if job.action != Action::Auth {
            return None;
        }
        let deadline = job.deadline_ns?;
        let margin = self.for_message(deadline, job.taken_ns);
        Some(deadline.saturating_sub(margin).max(job.taken_ns))
    }
}

/// A watchdog around an inner strategy.
pub struct Guard {
    margin: Margin,
    label: String,
    inner: Box<dyn Strategy>,
    pending: Vec<Completion>,
}

impl Guard {
    /// Wraps `inner`; `label` is the margin as written (`500ms`,
    /// `20%:1s:5s`) for [`Strategy::name`].
    pub fn new(margin: Margin, label: String, inner: Box<dyn Strategy>) -> Guard {
        Guard {
            margin,
            label,
            inner,
            pending: Vec::new(),
        }
    }

    /// Applies the watchdog to what the inner strategy reported.
    fn settle(&mut self, done: &mut Vec<Completion>) {
        for mut completion in self.pending.drain(..) {
            if let Some(guard) = self.margin.guard_time(&completion.job) {
                let fires_first = completion.finish_ns.is_none_or(|finish| guard < finish);
                if fires_first {
                    completion.answered_ns = completion.answered_ns.min(guard);
                    completion.defaulted = true;
                }
            }
            done.push(completion);
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

    fn take(
        &mut self,
        mut job: Job,
        message: &Message,
        context: &Context,
        done: &mut Vec<Completion>,
    ) -> u64 {
        if let Some(guard) = self.margin.guard_time(&job) {
            job.latest_start_ns = Some(job.latest_start_ns.map_or(guard, |l| l.min(guard)));
        }
        let busy = self.inner.take(job, message, context, &mut self.pending);
        self.settle(done);
        busy
    }

    fn advance(&mut self, until: u64, done: &mut Vec<Completion>) {
        self.inner.advance(until, &mut self.pending);
        self.settle(done);
    }

    fn finish(&mut self, done: &mut Vec<Completion>) {
        self.inner.finish(&mut self.pending);
        self.settle(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::{job, message};
    use crate::strategy::{FifoPool, Inline};

    fn auth(index: u64, taken: u64, service: u64, deadline: u64) -> Job {
        let mut job = job(index, taken, service);
        job.deadline_ns = Some(deadline);
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
    }

    #[test]
    fn inline_answers_at_the_guard_when_it_would_finish_later() {
        let mut guard = Guard::new(Margin::Fixed(10), "10ns".into(), Box::new(Inline));
        let mut done = Vec::new();
        let busy = guard.take(
            auth(0, 0, 50, 30),
            &message(),
            &Context::default(),
            &mut done,
        );
        assert_eq!(busy, 50, "the handler still does all the work");
        assert_eq!(done[0].answered_ns, 20);
        assert!(done[0].defaulted);
        // Finishing exactly at g is not "g < f": the work answers.
        guard.take(
            auth(1, 100, 20, 130),
            &message(),
            &Context::default(),
            &mut done,
        );
        assert_eq!((done[1].answered_ns, done[1].defaulted), (120, false));
    }

    #[test]
    fn a_queued_job_that_cannot_start_by_the_guard_is_dropped() {
        let inner = Box::new(FifoPool::new(1));
        let mut guard = Guard::new(Margin::Fixed(10), "10ns".into(), inner);
        let mut done = Vec::new();
        let context = Context::default();
        guard.take(auth(0, 0, 50, 1000), &message(), &context, &mut done);
        guard.take(auth(1, 0, 5, 59), &message(), &context, &mut done); // g = 49
        guard.take(auth(2, 0, 5, 60), &message(), &context, &mut done); // g = 50: starts
        assert_eq!((done[1].start_ns, done[1].answered_ns), (None, 49));
        assert_eq!((done[2].start_ns, done[2].answered_ns), (Some(50), 50));
        assert!(done[1].defaulted && done[2].defaulted);
        assert_eq!(guard.name(), "guard:10ns:pool:1");
    }
}
