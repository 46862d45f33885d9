//! A trace held in memory for runs that read it again and again
//! (`sweep`'s probes): every field a simulation reads (the engine, the
//! cost models, the built-in strategies, closed replay's thread ids and
//! response times), without paths or details.
//!
//! The fields every message has, or most do (sequence numbers, arrival,
//! deadline, pid, event, action), take 40 bytes a message, laid out in
//! full; the received, service, response times and thread id, which
//! recordings have (generated traces only service times), take 8 bytes
//! each only where present, in lists beside. Fields laid out in full are
//! read back with a copy and no decoding: each probe reads the whole
//! copy, while it is written only once.

use esreplay_traces::{Action, EventType, Message};

/// Messages per block: the copy grows a block at a time, never moving
/// what it holds.
const BLOCK: usize = 1 << 16;

/// Bytes of a block's [`Hot`] fields, allocated whole.
const HOT_BLOCK_BYTES: usize = BLOCK * size_of::<Hot>();

/// Values per list of the fields kept apart (allocated whole, so the
/// budget counts what is allocated).
const COLD: usize = 1 << 16;

/// The fields every message of a trace has, or most do.
#[derive(Clone, Copy, Debug)]
struct Hot {
    global_seq: u64,
    seq: u64,
    arrival_ns: u64,
    /// 0 without one ([`DEADLINE`] says).
    deadline_ns: u64,
    /// 0 without one ([`PID`] says).
    pid: u32,
    event: u16,
    /// Bits of [`DEADLINE`] and co.
    flags: u16,
}

const DEADLINE: u16 = 1;
const PID: u16 = 2;
const NOTIFY: u16 = 4;
const IS_ES_CLIENT: u16 = 8;
/// With [`IS_ES_CLIENT`]: the flag is true.
const ES_CLIENT: u16 = 16;
/// The fields kept apart, only when present, in this order.
const RECEIVED: u16 = 32;
const SERVICE: u16 = 64;
const THREAD_ID: u16 = 128;
const RESPONSE: u16 = 256;

/// Up to [`BLOCK`] messages: their [`Hot`] fields, and their other
/// fields that are present, in message order, in lists of [`COLD`].
#[derive(Debug)]
struct Block {
    hot: Vec<Hot>,
    cold: Vec<Vec<u64>>,
}

/// A trace's messages in memory, up to a budget of bytes.
#[derive(Debug)]
pub struct MemoryCopy {
    blocks: Vec<Block>,
    budget: usize,
    /// Bytes allocated for the blocks.
    bytes: usize,
}

impl MemoryCopy {
    /// An empty copy that may take up to `budget` bytes.
    pub fn new(budget: usize) -> MemoryCopy {
        MemoryCopy {
            blocks: Vec::new(),
            budget,
            bytes: 0,
        }
    }

    /// Whether a copy of `budget` bytes may hold `messages` messages:
    /// false when their fields laid out in full alone (the least they
    /// take) pass it, so that a trace whose footer says it is longer is
    /// not copied at all.
    pub fn may_hold(messages: u64, budget: usize) -> bool {
        let blocks = messages.div_ceil(BLOCK as u64);
        blocks.saturating_mul(HOT_BLOCK_BYTES as u64) <= budget as u64
    }

    /// Bytes it takes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds `message` (its paths and details left out); false, and
    /// nothing added, when that would take the copy past its budget.
    pub fn push(&mut self, message: &Message) -> bool {
        let cold = [
            message.received_ns,
            message.service_ns,
            message.thread_id,
            message.response_ns,
        ];
        let values = cold.iter().flatten().count();
        let last = self.blocks.last().filter(|block| block.hot.len() < BLOCK);
        let room = last
            .and_then(|block| block.cold.last())
            .map_or(0, |list| COLD - list.len());
        let (new_block, new_list) = (last.is_none(), values > room);
        let more = usize::from(new_block) * HOT_BLOCK_BYTES
            + usize::from(new_list) * COLD * size_of::<u64>();
        if self.bytes + more > self.budget {
            return false;
        }
        self.bytes += more;
        if new_block {
            let (hot, cold) = (Vec::with_capacity(BLOCK), Vec::new());
            self.blocks.push(Block { hot, cold });
        }
        let block = self.blocks.last_mut().expect("a block with room");
        if new_list {
            block.cold.push(Vec::with_capacity(COLD));
        }
        block.hot.push(Hot::new(message));
        if let Some(list) = block.cold.last_mut() {
            list.extend(cold.into_iter().flatten());
        }
        true
    }

    /// The messages again, in the order pushed (without paths or
    /// details).
    pub fn messages(&self) -> impl Iterator<Item = Message> + '_ {
        self.blocks.iter().flat_map(|block| {
            let mut cold = block.cold.iter().flatten().copied();
            block.hot.iter().map(move |hot| hot.message(&mut cold))
        })
    }
}

impl Hot {
    fn new(m: &Message) -> Hot {
        let bit = |present: bool, bit: u16| if present { bit } else { 0 };
        Hot {
            global_seq: m.global_seq,
            seq: m.seq,
            arrival_ns: m.arrival_ns,
            deadline_ns: m.deadline_ns.unwrap_or(0),
            pid: m.pid.unwrap_or(0),
            event: m.event.0,
            flags: bit(m.deadline_ns.is_some(), DEADLINE)
                | bit(m.pid.is_some(), PID)
                | bit(m.action == Action::Notify, NOTIFY)
                | bit(m.is_es_client.is_some(), IS_ES_CLIENT)
                | bit(m.is_es_client == Some(true), ES_CLIENT)
                | bit(m.received_ns.is_some(), RECEIVED)
                | bit(m.service_ns.is_some(), SERVICE)
                | bit(m.thread_id.is_some(), THREAD_ID)
                | bit(m.response_ns.is_some(), RESPONSE),
        }
    }

    /// The message, its fields kept apart taken from `cold`.
    #[inline(always)]
    fn message(&self, cold: &mut impl Iterator<Item = u64>) -> Message {
        let has = |bit: u16| self.flags & bit != 0;
        let action = match has(NOTIFY) {
            true => Action::Notify,
            false => Action::Auth,
        };
        let mut m = Message::new(
            self.global_seq,
            EventType(self.event),
            action,
            self.arrival_ns,
        );
        m.seq = self.seq;
        m.deadline_ns = has(DEADLINE).then_some(self.deadline_ns);
        m.pid = has(PID).then_some(self.pid);
        m.is_es_client = has(IS_ES_CLIENT).then_some(has(ES_CLIENT));
        let mut next = |bit: u16| has(bit).then(|| cold.next()).flatten();
        m.received_ns = next(RECEIVED);
        m.service_ns = next(SERVICE);
        m.thread_id = next(THREAD_ID);
        m.response_ns = next(RESPONSE);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A message with every field the copy keeps drawn at random, each
    /// optional one present or not.
    fn message() -> impl Strategy<Value = Message> {
        let times = (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u16>(),
            any::<bool>(),
        );
        let optional = (
            any::<Option<u64>>(),
            any::<Option<u64>>(),
            any::<Option<u64>>(),
            any::<Option<u32>>(),
            any::<Option<u64>>(),
            any::<Option<u64>>(),
            any::<Option<bool>>(),
        );
        (times, optional).prop_map(|((global_seq, seq, arrival, event, notify), o)| {
            let action = if notify { Action::Notify } else { Action::Auth };
            let mut m = Message::new(global_seq, EventType(event), action, arrival);
            m.seq = seq;
            (m.deadline_ns, m.received_ns, m.service_ns) = (o.0, o.1, o.2);
            (m.pid, m.thread_id, m.response_ns, m.is_es_client) = (o.3, o.4, o.5, o.6);
            m
        })
    }

    /// `m` as the copy keeps it: without paths and details.
    fn kept(m: &Message) -> Message {
        let mut kept = m.clone();
        (kept.process_path, kept.target_path, kept.details) = (None, None, None);
        kept
    }

    proptest! {
        #[test]
        fn messages_read_back_as_pushed(messages in prop::collection::vec(message(), 0..64)) {
            let mut copy = MemoryCopy::new(usize::MAX);
            for m in &messages {
                prop_assert!(copy.push(m));
            }
            let again: Vec<Message> = copy.messages().collect();
            let expected: Vec<Message> = messages.iter().map(kept).collect();
            prop_assert_eq!(again, expected);
        }
    }

    #[test]
    fn a_copy_spans_blocks_and_stops_at_its_budget() {
        let message = |i: u64| {
            let mut m = Message::new(i, EventType(1), Action::Auth, i * 10_000);
            m.service_ns = Some(i);
            m.target_path = Some("/bin/ls".into());
            m
        };
        // Two blocks and two lists of service times hold 2·BLOCK
        // messages; a byte less, and the second list does not fit.
        let budget = 2 * BLOCK * size_of::<Hot>() + 2 * COLD * size_of::<u64>();
        for (budget, fits) in [(budget, 2 * BLOCK), (budget - 1, BLOCK)] {
            let mut copy = MemoryCopy::new(budget);
            let mut pushed = 0;
            while copy.push(&message(pushed)) {
                pushed += 1;
            }
            assert_eq!(pushed, fits as u64);
            assert!(copy.bytes() <= budget);
            let again: Vec<Message> = copy.messages().collect();
            assert_eq!(again.len() as u64, pushed, "the refused message left out");
            for (i, m) in again.iter().enumerate() {
                assert_eq!(*m, kept(&message(i as u64)));
            }
        }
        assert_eq!(size_of::<Hot>(), 40);
    }

    #[test]
    fn a_copy_may_hold_what_its_fields_laid_out_in_full_allow() {
        let budget = 3 * BLOCK * size_of::<Hot>();
        let blocks = 3 * BLOCK as u64;
        for (messages, may) in [
            (0, true),
            (blocks, true),
            (blocks + 1, false),
            (u64::MAX, false),
        ] {
            assert_eq!(MemoryCopy::may_hold(messages, budget), may, "{messages}");
        }
        // Messages without fields kept apart: as many as pushes take.
        let mut copy = MemoryCopy::new(budget);
        let mut pushed = 0;
        while copy.push(&Message::new(pushed, EventType(1), Action::Auth, pushed)) {
            pushed += 1;
        }
        assert_eq!(pushed, blocks);
    }

    #[test]
    fn fields_kept_apart_span_their_lists() {
        // 1 to 4 of them a message: lists fill part way before the next.
        let message = |i: u64| {
            let mut m = Message::new(i, EventType(7), Action::Notify, i);
            let some = |k: u64| (i % 4 >= k).then_some(i * 3 + k);
            (m.service_ns, m.received_ns) = (Some(i), some(1));
            (m.thread_id, m.response_ns) = (some(2), some(3));
            m
        };
        let mut copy = MemoryCopy::new(usize::MAX);
        let count = 3 * COLD as u64 / 2;
        for i in 0..count {
            assert!(copy.push(&message(i)));
        }
        let again: Vec<Message> = copy.messages().collect();
        let expected: Vec<Message> = (0..count).map(message).collect();
        assert_eq!(again, expected);
    }
}
