//! The chunk payload (kind 2): a string table and delta-encoded records.
//!
//! ```text
//! dropped   u64     messages the recorder lost since the previous chunk
//! nstrings  u64     then nstrings × string (u64 byte length, UTF-8 bytes)
//! count     u64     then count × record
//! record  = flags u8, event u16,
//!           gseq_delta i64, seq_delta i64, arrival_delta i64,
//!           [budget_delta i64]  if flags & DEADLINE
//!           [received i64]      if flags & RECEIVED (received − arrival)
//!           [service u64]       if flags & SERVICE
//!           [pid u32]           if flags & PID
//!           [process u32]       if flags & PROCESS (index into the strings)
//!           [target u32]        if flags & TARGET  (index into the strings)
//!           [details]           if flags & DETAILS (see [`super::details`])
//! ```
//!
//! Deltas restart at every chunk, from zero state:
//! `gseq_delta = global_seq − (previous global_seq + 1)` (the first record
//! of a chunk: − 0), `arrival_delta = arrival − previous arrival` (first:
//! − 0), `seq_delta = seq − (previous seq of the same event type + 1)` and
//! `budget_delta = (deadline − arrival) − previous budget of the same event
//! type` (first of a type: − 0), all in wrapping u64 arithmetic read as i64.
//! Event types from 256 up have no per-type state: their seq and budget
//! deltas are taken against 0.
//!
//! Limits: `nstrings` ≤ [`MAX_CHUNK_STRINGS`] and `count` ≤
//! [`MAX_CHUNK_MESSAGES`], and both ≤ the bytes left in the payload (a
//! string takes at least 1 byte, a record at least 5), checked before
//! anything is allocated: a decoded chunk holds at most a few tens of MiB
//! whatever its payload claims.

use std::collections::HashMap;
use std::sync::Arc;

use bincode::Encode;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};

use super::cursor::Cursor;
use super::details::{decode_details, encode_details};
use super::{CodecError, delta, encode_value};
use crate::event::{Action, EventType};
use crate::model::Message;

/// The most messages a chunk may hold (the writer's chunks are smaller).
pub const MAX_CHUNK_MESSAGES: usize = 1 << 16;
/// The most strings a chunk's table may hold: four per message.
pub const MAX_CHUNK_STRINGS: usize = 4 * MAX_CHUNK_MESSAGES;

/// Record flag bits.
pub mod flags {
    /// The message is AUTH (else NOTIFY).
    pub const AUTH: u8 = 1 << 0;
    /// A deadline budget follows.
    pub const DEADLINE: u8 = 1 << 1;
    /// A receive time follows.
    pub const RECEIVED: u8 = 1 << 2;
    /// A service time follows.
    pub const SERVICE: u8 = 1 << 3;
    /// A pid follows.
    pub const PID: u8 = 1 << 4;
    /// A process path string index follows.
    pub const PROCESS: u8 = 1 << 5;
    /// A target path string index follows.
    pub const TARGET: u8 = 1 << 6;
    /// A details block follows.
    pub const DETAILS: u8 = 1 << 7;
}

/// Event types below this have per-type delta state.
const TYPED_STATE: usize = 256;

/// Per-chunk delta state, shared by encoder and decoder so that both
/// agree by construction.
struct DeltaState {
    next_global_seq: u64,
    prev_arrival: u64,
    next_seq: [u64; TYPED_STATE],
    prev_budget: [u64; TYPED_STATE],
}

impl DeltaState {
    fn new() -> DeltaState {
        DeltaState {
            next_global_seq: 0,
            prev_arrival: 0,
            next_seq: [0; TYPED_STATE],
            prev_budget: [0; TYPED_STATE],
        }
    }

    fn seq_base(&self, event: EventType) -> u64 {
        self.next_seq
            .get(usize::from(event.0))
            .copied()
            .unwrap_or(0)
    }

    fn budget_base(&self, event: EventType) -> u64 {
        self.prev_budget
            .get(usize::from(event.0))
            .copied()
            .unwrap_or(0)
    }

    /// Records a message's values as the base for the next deltas.
    fn advance(&mut self, event: EventType, global_seq: u64, seq: u64, arrival: u64) {
        self.next_global_seq = global_seq.wrapping_add(1);
        self.prev_arrival = arrival;
        if let Some(slot) = self.next_seq.get_mut(usize::from(event.0)) {
            *slot = seq.wrapping_add(1);
        }
    }

    fn set_budget(&mut self, event: EventType, budget: u64) {
        if let Some(slot) = self.prev_budget.get_mut(usize::from(event.0)) {
            *slot = budget;
        }
    }
}

/// Interns strings for one chunk.
#[derive(Default)]
pub struct StringTable {
    index: HashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
    bytes: usize,
}

impl StringTable {
    /// Adds a string (once) and returns its index.
    pub fn intern(&mut self, text: &Arc<str>) -> u32 {
        if let Some(&index) = self.index.get(text) {
            return index;
        }
        let index = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        self.index.insert(Arc::clone(text), index);
        self.strings.push(Arc::clone(text));
        self.bytes += text.len();
        index
    }

    /// Total bytes of the interned strings.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub(super) fn lookup(&self, text: &Arc<str>) -> u32 {
        self.index.get(text).copied().unwrap_or(u32::MAX)
    }

    /// Forgets every string (at the start of a new chunk).
    pub fn clear(&mut self) {
        self.index.clear();
        self.strings.clear();
        self.bytes = 0;
    }
}

/// A chunk to encode: messages whose strings are all in `strings`.
pub struct ChunkOut<'a> {
    /// Drops since the previous chunk.
    pub dropped: u64,
    /// The interned strings of these messages.
    pub strings: &'a StringTable,
    /// The messages, in the order they were written.
    pub messages: &'a [Message],
}

/// Interns every string a message refers to.
pub fn intern_message(strings: &mut StringTable, message: &Message) {
    for path in [&message.process_path, &message.target_path]
        .into_iter()
        .flatten()
    {
        strings.intern(path);
    }
    if let Some(details) = &message.details {
        for text in [&details.signing_id, &details.team_id]
            .into_iter()
            .flatten()
        {
            strings.intern(text);
        }
    }
}

/// Encodes a chunk payload into `out` (cleared first).
pub fn encode_chunk(chunk: &ChunkOut<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_value(chunk, out)
}

impl Encode for ChunkOut<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.dropped.encode(encoder)?;
        (self.strings.strings.len() as u64).encode(encoder)?;
        for text in &self.strings.strings {
            text.as_ref().encode(encoder)?;
        }
        (self.messages.len() as u64).encode(encoder)?;
        let mut state = DeltaState::new();
        for message in self.messages {
            encode_record(message, self.strings, &mut state, encoder)?;
        }
        Ok(())
    }
}

fn record_flags(message: &Message) -> u8 {
    let mut bits = 0;
    let mut set = |present: bool, bit: u8| {
        if present {
            bits |= bit;
        }
    };
    set(message.action == Action::Auth, flags::AUTH);
    set(message.deadline_ns.is_some(), flags::DEADLINE);
    set(message.received_ns.is_some(), flags::RECEIVED);
    set(message.service_ns.is_some(), flags::SERVICE);
    set(message.pid.is_some(), flags::PID);
    set(message.process_path.is_some(), flags::PROCESS);
    set(message.target_path.is_some(), flags::TARGET);
    set(message.has_details(), flags::DETAILS);
    bits
}

fn encode_record<E: Encoder>(
    message: &Message,
    strings: &StringTable,
    state: &mut DeltaState,
    encoder: &mut E,
) -> Result<(), EncodeError> {
    let event = message.event;
    record_flags(message).encode(encoder)?;
    event.0.encode(encoder)?;
    delta(message.global_seq, state.next_global_seq).encode(encoder)?;
    delta(message.seq, state.seq_base(event)).encode(encoder)?;
    delta(message.arrival_ns, state.prev_arrival).encode(encoder)?;
    if let Some(deadline) = message.deadline_ns {
        let budget = deadline.wrapping_sub(message.arrival_ns);
        delta(budget, state.budget_base(event)).encode(encoder)?;
        state.set_budget(event, budget);
    }
    if let Some(received) = message.received_ns {
        delta(received, message.arrival_ns).encode(encoder)?;
    }
    if let Some(service) = message.service_ns {
        service.encode(encoder)?;
    }
    if let Some(pid) = message.pid {
        pid.encode(encoder)?;
    }
    for path in [&message.process_path, &message.target_path]
        .into_iter()
        .flatten()
    {
        strings.lookup(path).encode(encoder)?;
    }
    if message.has_details() {
        encode_details(message, strings, encoder)?;
    }
    state.advance(event, message.global_seq, message.seq, message.arrival_ns);
    Ok(())
}

/// A decoded chunk.
#[derive(Debug, Default)]
pub struct ChunkIn {
    /// Drops since the previous chunk.
    pub dropped: u64,
    /// The messages, in file order.
    pub messages: Vec<Message>,
}

/// Which fields decoded messages carry: one decoder for both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fields {
    /// Everything in the file.
    #[default]
    All,
    /// What a simulation reads: no strings and no boxed [`Details`]
    /// (`process_path`, `target_path` and `details` stay `None`), so
    /// decoding allocates nothing per message; the inline facts
    /// (`thread_id`, `response_ns`, `is_es_client`) are kept. Every byte
    /// is still read and checked (lengths, UTF-8, every string index in
    /// range): a chunk decodes under one exactly when it decodes under the
    /// other.
    ///
    /// [`Details`]: crate::model::Details
    Timing,
}

/// Decodes a chunk payload. Every count is checked against the bytes left
/// before anything is allocated for it.
pub fn decode_chunk(payload: &[u8], fields: Fields) -> Result<ChunkIn, CodecError> {
    decode_chunk_into(payload, fields, Vec::new())
}

/// [`decode_chunk`] into `messages`' allocation, over its messages (each
/// dropped as it is replaced): a reader that gets its batches back decodes
/// without allocating.
pub fn decode_chunk_into(
    payload: &[u8],
    fields: Fields,
    messages: Vec<Message>,
) -> Result<ChunkIn, CodecError> {
    let mut cursor = Cursor::new(payload);
    let chunk = decode_chunk_in(&mut cursor, fields, messages)?;
    if cursor.left() > 0 {
        return Err(CodecError::TrailingBytes(cursor.left()));
    }
    Ok(chunk)
}

/// A chunk's string table: its size, and the strings themselves unless
/// only [`Fields::Timing`] was asked for.
pub(super) struct Strings {
    kept: Vec<Arc<str>>,
    count: usize,
    keep: bool,
}

impl Strings {
    /// Whether everything is decoded ([`Fields::All`]): strings and the
    /// boxed details.
    pub(super) fn keep(&self) -> bool {
        self.keep
    }

    /// The string at `index` (`None` when not kept); an error out of range.
    pub(super) fn get(&self, index: u32) -> Result<Option<Arc<str>>, DecodeError> {
        if index as usize >= self.count {
            return Err(DecodeError::Other("string index out of range"));
        }
        Ok(self.kept.get(index as usize).cloned())
    }
}

fn decode_chunk_in(
    cursor: &mut Cursor<'_>,
    fields: Fields,
    mut messages: Vec<Message>,
) -> Result<ChunkIn, DecodeError> {
    let dropped = cursor.u64()?;
    let strings = decode_strings(cursor, fields == Fields::All)?;
    let count = bounded_count(cursor, 5, MAX_CHUNK_MESSAGES)?;
    // Decoded in place: no copy of a message once built. A reused batch's
    // messages are overwritten (and so dropped) one by one as they are
    // decoded, in the same pass; new ones start blank.
    let reused = messages.len().min(count);
    messages.truncate(count);
    messages.resize_with(count, || Message::new(0, EventType(0), Action::Notify, 0));
    let (old, blank) = messages.split_at_mut(reused);
    let mut state = DeltaState::new();
    for message in old {
        decode_record::<true>(cursor, &strings, &mut state, message)?;
    }
    for message in blank {
        decode_record::<false>(cursor, &strings, &mut state, message)?;
    }
    Ok(ChunkIn { dropped, messages })
}

/// Sets every field a record may leave out as [`Message::new`] does (the
/// rest every record sets), dropping what `message` held there: field by
/// field, inline, as the record is decoded.
#[inline(always)]
fn reset(message: &mut Message) {
    message.action = Action::Notify;
    for number in [
        &mut message.deadline_ns,
        &mut message.received_ns,
        &mut message.service_ns,
        &mut message.thread_id,
        &mut message.response_ns,
    ] {
        *number = None;
    }
    (message.pid, message.is_es_client) = (None, None);
    for path in [&mut message.process_path, &mut message.target_path] {
        *path = None;
    }
    message.details = None;
}

/// The string table: every string is read and checked (UTF-8), kept only
/// when `keep`.
fn decode_strings(cursor: &mut Cursor<'_>, keep: bool) -> Result<Strings, DecodeError> {
    let count = bounded_count(cursor, 1, MAX_CHUNK_STRINGS)?;
    let mut strings = Strings {
        kept: Vec::with_capacity(if keep { count } else { 0 }),
        count,
        keep,
    };
    let not_utf8 = || DecodeError::Other("string is not UTF-8");
    for _ in 0..count {
        let len = bounded_count(cursor, 1, usize::MAX)?;
        let bytes = cursor.take(len)?;
        if keep {
            let text = std::str::from_utf8(bytes).map_err(|_| not_utf8())?;
            strings.kept.push(Arc::from(text));
        } else if !bytes.is_ascii() {
            // Checked all the same (paths are mostly ASCII: the quick test).
            std::str::from_utf8(bytes).map_err(|_| not_utf8())?;
        }
    }
    Ok(strings)
}

/// Reads a count and checks that `count × min_bytes` bytes fit in the
/// payload and that it is at most `max`, so that nothing is allocated for
/// items that cannot be there.
fn bounded_count(
    cursor: &mut Cursor<'_>,
    min_bytes: u64,
    max: usize,
) -> Result<usize, DecodeError> {
    let count = cursor.u64()?;
    if count.saturating_mul(min_bytes) > cursor.payload_len() as u64 {
        return Err(DecodeError::Other("count larger than the payload can hold"));
    }
    if count > max as u64 {
        return Err(DecodeError::Other("count over the per-chunk limit"));
    }
    usize::try_from(count).map_err(|_| DecodeError::LimitExceeded)
}

/// Decodes a record into `message`: one as [`Message::new`] leaves it, or
/// with `REPLACE` any message, every field of which is replaced.
fn decode_record<const REPLACE: bool>(
    cursor: &mut Cursor<'_>,
    strings: &Strings,
    state: &mut DeltaState,
    message: &mut Message,
) -> Result<(), DecodeError> {
    let bits = cursor.u8()?;
    let event = EventType(cursor.u16()?);
    let has = |bit: u8| bits & bit != 0;
    let global_seq = cursor.delta(state.next_global_seq)?;
    let seq = cursor.delta(state.seq_base(event))?;
    let arrival_ns = cursor.delta(state.prev_arrival)?;
    if REPLACE {
        reset(message);
    }
    message.global_seq = global_seq;
    message.seq = seq;
    message.event = event;
    message.arrival_ns = arrival_ns;
    if has(flags::AUTH) {
        message.action = Action::Auth;
    }
    if has(flags::DEADLINE) {
        let budget = cursor.delta(state.budget_base(event))?;
        state.set_budget(event, budget);
        message.deadline_ns = Some(arrival_ns.wrapping_add(budget));
    }
    if has(flags::RECEIVED) {
        message.received_ns = Some(cursor.delta(arrival_ns)?);
    }
    if has(flags::SERVICE) {
        message.service_ns = Some(cursor.u64()?);
    }
    if has(flags::PID) {
        message.pid = Some(cursor.u32()?);
    }
    if has(flags::PROCESS) {
        message.process_path = strings.get(cursor.u32()?)?;
    }
    if has(flags::TARGET) {
        message.target_path = strings.get(cursor.u32()?)?;
    }
    if has(flags::DETAILS) {
        decode_details(cursor, message, strings)?;
    }
    state.advance(event, global_seq, seq, arrival_ns);
    Ok(())
}
