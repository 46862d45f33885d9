//! `es-clients-inline:INNER`: messages caused by processes that are
//! themselves ES clients (`is_es_client`) are answered by the handler at
//! once, at the cost of a hand-off c_h, never queued and without the
//! job's work or its file reads (Santa's
//! `IgnoreOtherEndpointSecurityClients`); every other message goes to
//! INNER unchanged. Against a co-resident client that opens what our
//! client reads, this breaks the feedback loop: our client never reads a
//! file for the other client's opens.

use esreplay_traces::Message;

use super::{Job, Plan, Runner, Strategy, Ticket, Time};

/// Whether `message` was caused by an ES client process.
pub fn from_es_client(message: &Message) -> bool {
    message.is_es_client.unwrap_or(false)
}

/// The wrapper; see the module docs.
pub struct EsClientsInline {
    inner: Box<dyn Strategy>,
}

impl EsClientsInline {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Strategy>) -> Self {
        EsClientsInline { inner }
    }
}

impl Strategy for EsClientsInline {
    fn name(&self) -> String {
        format!("es-clients-inline:{}", self.inner.name())
    }

    fn workers(&self) -> u32 {
        self.inner.workers()
    }

    fn plan(&mut self, job: &Job, message: &Message) -> Plan {
        if from_es_client(message) {
            return Plan::on(Runner::Answer, 0);
        }
        self.inner.plan(job, message)
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
    use crate::strategy::FifoPool;
    use crate::strategy::testutil::{job, message};

    #[test]
    fn an_es_client_is_answered_at_once_and_the_rest_go_inside() {
        let mut strategy = EsClientsInline::new(Box::new(FifoPool::new(2)));
        assert_eq!(strategy.name(), "es-clients-inline:pool:2");
        assert_eq!(strategy.workers(), 2);
        let mut client = message();
        client.is_es_client = Some(true);
        let plan = strategy.plan(&job(0, 5, 100), &client);
        assert_eq!(plan.runner, Runner::Answer);
        assert_eq!(plan.watchdog, None);
        let plan = strategy.plan(&job(1, 5, 100), &message());
        assert_eq!(plan, Plan::worker(&job(1, 5, 100)));
    }
}
