//! A co-resident ES client (what-if, `--co-client`): another client that
//! receives the same events and opens files to scan them; each of its
//! opens is a new AUTH_OPEN for our client, and each file our client reads
//! (`io=M`) is an event for it.
//!
//! The rules (docs/simulator.md, "A co-resident ES client"):
//! - it receives every message of the trace at its arrival a' and our
//!   client's own opens at f_i, never its own opens; for each one whose
//!   event is in `react` and that has a target path it opens that target
//!   K times at t + D;
//! - each open enters the kernel like a trace message, where messages
//!   enter the machine, before our mutes and cache: an AUTH_OPEN of the
//!   co-client's process (`is_es_client`), the same target, the
//!   co-client's budget ([`TraceFacts`]), global_seq values after the
//!   trace's largest in the order they are created;
//! - with `io=M` every job of ours that ran opens its target M times at
//!   f_i: those opens reach the co-client only (our client mutes itself),
//!   as AUTH_OPEN events. At M · K ≥ 1 the loop runs away: creation stops
//!   at the cap and the result says `runaway: true`.
//!
//! Memory: one pending entry per reaction not yet due (a count, not one
//! per open), and the triggers of the jobs in the client.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use esreplay_traces::{Action, Details, EventType, Message, parse_duration_ns};

use super::Time;

/// The budget of an injected open when the trace shows none: 15 s.
pub const DEFAULT_BUDGET_NS: u64 = 15_000_000_000;

/// The co-client's process, as injected messages name it.
pub const CO_CLIENT_PROCESS: &str = "/co-client";

/// `--co-client react=EVENTS,opens=K,delay=D[,io=M]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoClientSpec {
    /// The events the co-client reacts to (`+`-separated in the flag).
    pub react: Vec<EventType>,
    /// K: its opens per message it reacts to.
    pub opens: u32,
    /// D: from the message to its opens.
    pub delay_ns: u64,
    /// M: our client's opens per job that ran.
    pub io: u32,
}

/// A `--co-client` that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid --co-client {text:?}: {reason} (expected react=EVENT[+EVENT...],opens=K,delay=D[,io=M], e.g. react=AUTH_OPEN+AUTH_EXEC,opens=2,delay=1ms,io=1)"
)]
pub struct CoClientError {
    /// The flag's value.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for CoClientSpec {
    type Err = CoClientError;

    fn from_str(text: &str) -> Result<Self, CoClientError> {
        parse(text).map_err(|reason| CoClientError {
            text: text.to_owned(),
            reason,
        })
    }
}

fn parse(text: &str) -> Result<CoClientSpec, String> {
    let (mut react, mut opens, mut delay_ns, mut io) = (None, None, None, 0);
    for part in text.split(',') {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not KEY=VALUE"))?;
        let count = |value: &str| {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("{key}={value}: not a count"))
        };
        match key.trim() {
            "react" => {
                let events = value
                    .split('+')
                    .map(|e| e.parse::<EventType>().map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()?;
                react = Some(events);
            }
            "opens" => opens = Some(count(value)?),
            "delay" => delay_ns = Some(parse_duration_ns(value).map_err(|e| e.to_string())?),
            "io" => io = count(value)?,
            other => return Err(format!("unknown key {other:?}")),
        }
    }
    Ok(CoClientSpec {
        react: react.ok_or("react= is missing")?,
        opens: opens.ok_or("opens= is missing")?,
        delay_ns: delay_ns.ok_or("delay= is missing")?,
        io,
    })
}

/// What the engine needs to inject: the spec and what the trace says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoClientConfig {
    /// The co-client's behaviour.
    pub spec: CoClientSpec,
    /// Injected messages at most (`--co-client-cap`).
    pub cap: u64,
    /// The first injected global_seq (after the trace's largest).
    pub first_seq: u64,
    /// The budget d − a of every injected open.
    pub budget_ns: u64,
}

/// One streaming pass over a trace for [`CoClientConfig`]: its messages,
/// largest global_seq and budgets (memory: one entry per distinct budget).
#[derive(Clone, Debug, Default)]
pub struct TraceFacts {
    messages: u64,
    max_seq: Option<u64>,
    open_budgets: HashMap<u64, u64>,
    es_client_budgets: HashMap<u64, u64>,
}

/// The most common key (ties: the smallest).
fn mode(counts: &HashMap<u64, u64>) -> Option<u64> {
    counts
        .iter()
        .max_by_key(|&(&budget, &count)| (count, Reverse(budget)))
        .map(|(&budget, _)| budget)
}

impl TraceFacts {
    /// Takes one message of the trace into account.
    pub fn observe(&mut self, message: &Message) {
        self.messages += 1;
        self.max_seq = self.max_seq.max(Some(message.global_seq));
        let Some(budget) = message.budget_ns().filter(|_| message.is_auth()) else {
            return;
        };
        if crate::strategy::from_es_client(message) {
            *self.es_client_budgets.entry(budget).or_default() += 1;
        }
        if message.event == EventType::AUTH_OPEN {
            *self.open_budgets.entry(budget).or_default() += 1;
        }
    }

    /// The engine's configuration: `cap` or 10 × the trace's messages;
    /// the budget of the trace's ES-client processes, else its most common
    /// AUTH_OPEN budget, else [`DEFAULT_BUDGET_NS`].
    pub fn config(&self, spec: CoClientSpec, cap: Option<u64>) -> CoClientConfig {
        let budget_ns = mode(&self.es_client_budgets)
            .or_else(|| mode(&self.open_budgets))
            .unwrap_or(DEFAULT_BUDGET_NS);
        CoClientConfig {
            spec,
            cap: cap.unwrap_or(self.messages.saturating_mul(10)),
            first_seq: self.max_seq.map_or(0, |s| s.saturating_add(1)),
            budget_ns,
        }
    }
}

/// K opens of one target due at one time, global_seq `seq..seq + count`.
#[derive(Debug)]
struct Pending {
    at: Time,
    seq: u64,
    count: u64,
    template: Arc<Message>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The co-client during a run.
#[derive(Debug)]
pub(crate) struct CoClient {
    config: CoClientConfig,
    next_seq: u64,
    created: u64,
    runaway: bool,
    pending: BinaryHeap<Reverse<Pending>>,
}

impl CoClient {
    pub(crate) fn new(config: CoClientConfig) -> Self {
        CoClient {
            next_seq: config.first_seq,
            config,
            created: 0,
            runaway: false,
            pending: BinaryHeap::new(),
        }
    }

    /// Whether our client's opens of a handled message reach it (io > 0
    /// and it reacts to AUTH_OPEN).
    pub(crate) fn watches_our_opens(&self) -> bool {
        self.config.spec.io > 0 && self.config.spec.react.contains(&EventType::AUTH_OPEN)
    }

    /// The co-client receives `message` at `at`.
    pub(crate) fn receive(&mut self, message: &Message, at: Time) {
        if self.config.spec.react.contains(&message.event) {
            self.open(message, at, u64::from(self.config.spec.opens));
        }
    }

    /// Our client opened `message`'s target M times at `at` (f_i).
    pub(crate) fn our_opens(&mut self, message: &Message, at: Time) {
        let times = u64::from(self.config.spec.io) * u64::from(self.config.spec.opens);
        self.open(message, at, times);
    }

    /// It opens `message`'s target `times` times at `at` + D, within the cap.
    fn open(&mut self, message: &Message, at: Time, times: u64) {
        let Some(target) = &message.target_path else {
            return;
        };
        let room = self.config.cap - self.created;
        if times > room {
            self.runaway = true;
        }
        let count = times.min(room);
        if count == 0 {
            return;
        }
        let mut template = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 0);
        template.target_path = Some(Arc::clone(target));
        template.process_path = Some(CO_CLIENT_PROCESS.into());
        template.service_ns = message.service_ns;
        let file = message.details.as_ref();
        template.is_es_client = Some(true);
        template.details = Some(Box::new(Details {
            target_dev: file.and_then(|d| d.target_dev),
            target_ino: file.and_then(|d| d.target_ino),
            ..Details::default()
        }));
        self.pending.push(Reverse(Pending {
            at: at.plus_ns(self.config.spec.delay_ns),
            seq: self.next_seq,
            count,
            template: Arc::new(template),
        }));
        self.next_seq += count;
        self.created += count;
    }

    /// When the next open enters the kernel.
    pub(crate) fn next_at(&self) -> Option<Time> {
        self.pending.peek().map(|Reverse(p)| p.at)
    }

    /// The next open, due now: its message and exact arrival.
    pub(crate) fn pop(&mut self) -> Option<(Message, Time)> {
        let Reverse(mut next) = self.pending.pop()?;
        let mut message = (*next.template).clone();
        let arrival_ns = next.at.ceil_ns();
        message.global_seq = next.seq;
        message.seq = next.seq;
        message.arrival_ns = arrival_ns;
        message.deadline_ns = Some(arrival_ns.saturating_add(self.config.budget_ns));
        let at = next.at;
        if next.count > 1 {
            next.seq += 1;
            next.count -= 1;
            self.pending.push(Reverse(next));
        }
        Some((message, at))
    }

    /// Messages injected (created) and whether the cap stopped it.
    pub(crate) fn counts(&self) -> (u64, bool) {
        (self.created, self.runaway)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_parses_and_rejects() {
        let spec: CoClientSpec = "react=AUTH_OPEN+AUTH_EXEC,opens=2,delay=1ms,io=1"
            .parse()
            .unwrap();
        assert_eq!(spec.react, [EventType::AUTH_OPEN, EventType::AUTH_EXEC]);
        assert_eq!((spec.opens, spec.delay_ns, spec.io), (2, 1_000_000, 1));
        let spec: CoClientSpec = "react=AUTH_OPEN,opens=0,delay=0ns".parse().unwrap();
        assert_eq!(spec.io, 0);
        for bad in [
            "",
            "react=AUTH_OPEN,opens=2",
            "react=NOPE,opens=1,delay=1ms",
            "react=AUTH_OPEN,opens=-1,delay=1ms",
            "react=AUTH_OPEN,opens=1,delay=1ms,color=red",
        ] {
            assert!(bad.parse::<CoClientSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn budgets_come_from_es_clients_then_the_commonest_open() {
        let spec: CoClientSpec = "react=AUTH_OPEN,opens=1,delay=0ns".parse().unwrap();
        let auth = |seq, budget: u64| {
            let mut m = Message::new(seq, EventType::AUTH_OPEN, Action::Auth, 10);
            m.deadline_ns = Some(10 + budget);
            m
        };
        let mut facts = TraceFacts::default();
        assert_eq!(
            facts.config(spec.clone(), None).budget_ns,
            DEFAULT_BUDGET_NS
        );
        for (seq, budget) in [(4, 100), (9, 200), (2, 200)] {
            facts.observe(&auth(seq, budget));
        }
        let config = facts.config(spec.clone(), None);
        assert_eq!(
            (config.budget_ns, config.first_seq, config.cap),
            (200, 10, 30)
        );
        let mut client = auth(3, 50);
        client.is_es_client = Some(true);
        facts.observe(&client);
        assert_eq!(facts.config(spec, Some(7)).budget_ns, 50);
    }

    #[test]
    fn opens_come_in_creation_order_within_the_cap() {
        let spec: CoClientSpec = "react=AUTH_OPEN,opens=3,delay=5ns".parse().unwrap();
        let mut co = CoClient::new(CoClientConfig {
            spec,
            cap: 4,
            first_seq: 100,
            budget_ns: 1_000,
        });
        let mut trigger = Message::new(1, EventType::AUTH_OPEN, Action::Auth, 0);
        co.receive(&trigger, Time::from_ns(0));
        assert_eq!(co.counts(), (0, false), "no target, no open");
        trigger.target_path = Some("/f".into());
        co.receive(&trigger, Time::from_ns(10));
        co.receive(&trigger, Time::from_ns(10));
        assert_eq!(co.counts(), (4, true));
        let opens: Vec<(u64, u64, Option<u64>)> = std::iter::from_fn(|| co.pop())
            .map(|(m, _)| (m.global_seq, m.arrival_ns, m.deadline_ns))
            .collect();
        assert_eq!(
            opens,
            [
                (100, 15, Some(1_015)),
                (101, 15, Some(1_015)),
                (102, 15, Some(1_015)),
                (103, 15, Some(1_015))
            ]
        );
    }
}

#[cfg(test)]
mod engine_tests;
