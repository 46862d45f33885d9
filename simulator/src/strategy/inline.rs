//! `inline`: the handler does the work itself (the reference strategy).
//!
//! r_i = h_i + s_i + ρ and the handler is busy for s_i, so the next message
//! waits behind this one: inline's waits follow Lindley's recursion.

use esreplay_traces::Message;

use super::{Completion, Context, Job, Strategy};

/// The handler answers each message itself, one after the other.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inline;

impl Strategy for Inline {
    fn name(&self) -> String {
        "inline".into()
    }

    fn workers(&self) -> u32 {
        0
    }

    fn take(&mut self, job: Job, _: &Message, _: &Context, done: &mut Vec<Completion>) -> u64 {
        // A guard's latest start is never before h_i, so this always runs;
        // the generic rule is kept for strategies that set it otherwise.
        let completion = Completion::start_or_drop(job, job.taken_ns, false);
        done.push(completion);
        if completion.start_ns.is_some() {
            job.service_ns
        } else {
            0
        }
    }

    fn advance(&mut self, _until: u64, _done: &mut Vec<Completion>) {}

    fn finish(&mut self, _done: &mut Vec<Completion>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::{job, message};

    #[test]
    fn answers_when_its_own_work_ends() {
        let mut done = Vec::new();
        let busy = Inline.take(job(0, 100, 30), &message(), &Context::default(), &mut done);
        assert_eq!(busy, 30);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].start_ns, Some(100));
        assert_eq!(done[0].answered_ns, 130);
        assert!(!done[0].on_worker && !done[0].defaulted);
    }

    #[test]
    fn a_job_past_its_latest_start_is_dropped_and_costs_nothing() {
        let mut done = Vec::new();
        let mut late = job(0, 100, 30);
        late.latest_start_ns = Some(99);
        let busy = Inline.take(late, &message(), &Context::default(), &mut done);
        assert_eq!(busy, 0);
        assert_eq!(done[0].start_ns, None);
        assert_eq!(done[0].answered_ns, 99);
        assert!(done[0].defaulted);
    }
}
