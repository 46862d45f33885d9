//! The kernel-side admission stage at a message's arrival a' (DESIGN.md,
//! "ES cache and mutes"): mute filter, then cache lookup (answered by the
//! kernel at a'), before the kernel queue's admission in `arrive`. The
//! rules live in [`crate::kernel`]; this file connects them to the
//! machine: counts, the backlog, the closed loop, the observer.

use super::run::shifted_deadline;
use super::{Arriving, NO_THREAD, Observer, Outcome, Simulator, Time};
use crate::kernel::{Admission, KernelCounts};
use crate::strategy::Strategy;

impl<S: Strategy + ?Sized, O: Observer> Simulator<'_, S, O> {
    /// What the mutes and the cache did so far (`None` when off).
    pub fn kernel_counts(&self) -> Option<KernelCounts> {
        self.kernel.as_ref().map(|k| k.counts())
    }

    /// Mute, invalidate, look up: where the message arriving now goes.
    /// Every client answer before now has been reported (answers run
    /// before arrivals at one instant). Lookups are at ⌊a'⌋ and inserts at
    /// ⌈r⌉, so under `--cores` an answer in the same nanosecond as an
    /// arrival is not yet in.
    pub(super) fn admit(&mut self, released: &Arriving<'_>) -> Admission {
        let Some(kernel) = self.kernel.as_mut() else {
            return Admission::Client;
        };
        let at = released.arrival.floor_ns();
        kernel.admit(released.message, at, released.index)
    }

    /// A muted message: counted only in `muted`; an AUTH message of a
    /// thread goes on at once (r' = a').
    pub(super) fn mute(&mut self, released: &Arriving<'_>) {
        self.reported += 1;
        self.release_thread(released);
    }

    /// The kernel answers from its cache at a': in `messages`, `auth` and
    /// the latency (0), never at the client, never in flight.
    pub(super) fn answer_from_cache(&mut self, released: &Arriving<'_>) {
        let message = released.message;
        let at = released.arrival.ceil_ns();
        self.stats.count(message.is_auth(), at);
        self.stats.throttled += at.saturating_sub(message.arrival_ns);
        self.open_instant(at);
        self.stats.backlog.respond(at);
        let deadline = shifted_deadline(message, released.arrival);
        let outcome = Outcome {
            cached: true,
            ..answered_at_arrival(released, deadline)
        };
        self.stats.record(&outcome);
        self.observer.outcome(&outcome);
        self.reported += 1;
        self.release_thread(released);
    }

    /// An AUTH message the kernel answered at a' lets its thread go on.
    pub(super) fn release_thread(&mut self, released: &Arriving<'_>) {
        let threaded = released.message.is_auth() && released.thread != NO_THREAD;
        if let (true, Some(threads)) = (threaded, self.threads.as_mut()) {
            let arrival = released.arrival;
            threads.answered(released.thread, arrival, arrival, released.sigma_ns);
        }
    }

    /// The client's answer to the message at `index` reached the kernel at
    /// `response` (`by_client`: with its cache = true, not a guard's
    /// default and not after the kernel answered it itself).
    pub(super) fn client_answered(&mut self, index: u64, response: Time, by_client: bool) {
        if let Some(kernel) = self.kernel.as_mut() {
            kernel.answered(index, response.ceil_ns(), by_client);
        }
    }

    /// The message at `index` will never insert (dropped, or answered by
    /// the kernel first).
    pub(super) fn not_answered_by_client(&mut self, index: u64) {
        self.client_answered(index, Time::ZERO, false);
    }
}

/// The outcome of a message the kernel answers at its arrival a' (from
/// its cache, or dropped at a full queue): no work, r = r' = a'.
pub(super) fn answered_at_arrival(released: &Arriving<'_>, deadline: Option<Time>) -> Outcome {
    let message = released.message;
    let at = released.arrival.ceil_ns();
    Outcome {
        index: released.index,
        global_seq: message.global_seq,
        event: message.event,
        action: message.action,
        arrival_ns: at,
        recorded_arrival_ns: message.arrival_ns,
        deadline_ns: deadline.map(Time::ceil_ns),
        service_ns: 0,
        handler_ns: at,
        start_ns: None,
        finish_ns: None,
        response_ns: at,
        unblocked_ns: at,
        defaulted: false,
        missed: false,
        worker: None,
        dropped: false,
        cached: false,
    }
}
