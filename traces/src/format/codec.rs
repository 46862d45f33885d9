//! Every byte of a frame payload: the one module that encodes and decodes
//! with bincode (2.0.1, standard configuration: little endian, unsigned
//! integers as varints, signed integers zigzag-encoded then varints).
//!
//! bincode varint: a value below 251 is one byte; otherwise a tag byte
//! 251/252/253 followed by the value as u16/u32/u64 little endian. A signed
//! value v is first mapped to `(v << 1) ^ (v >> 63)` (zigzag).
//!
//! # Chunk payload
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
//!           [details]           if flags & DETAILS
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
//! `details = mask u16` then, for each set bit in order, the field:
//! message_version u32, thread_id u64, handler_exit i64 (− arrival),
//! response i64 (− arrival), verdict u32, open_fflag u32, pidversion u32,
//! euid u32, ppid u32, signing_id u32 (string index), team_id u32 (string
//! index), platform_binary u8 (0/1), target_dev u64, target_ino u64.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use bincode::config::{Config, standard};
use bincode::de::Decoder;
use bincode::de::read::Reader;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};

use crate::event::{Action, EventType};
use crate::model::{ClockAnchor, Details, Footer, Header, Message, Source, Timebase};

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

/// bincode's standard configuration, with a limit so that no length read
/// from a payload can make bincode allocate more than a frame may hold.
fn config() -> impl Config {
    standard().with_limit::<{ super::MAX_FRAME_LEN as usize }>()
}

/// Turns a bincode decode error into a short reason.
fn reason(error: DecodeError) -> String {
    error.to_string()
}

/// The header as stored: see `docs/trace-format.md`.
#[derive(Encode, Decode)]
struct HeaderWire {
    source: u8,
    timebase_numer: u32,
    timebase_denom: u32,
    start: (u64, u64, u64),
    os_version: Option<String>,
    os_build: Option<String>,
    hardware_model: Option<String>,
    cpu_count: Option<u32>,
    subscribed: Vec<u16>,
    tool: String,
    tool_version: String,
    meta: Vec<(String, String)>,
}

/// The footer as stored.
#[derive(Encode, Decode)]
struct FooterWire {
    messages: u64,
    chunks: u64,
    dropped: u64,
    end: Option<(u64, u64, u64)>,
    meta: Vec<(String, String)>,
}

fn anchor_wire(anchor: &ClockAnchor) -> (u64, u64, u64) {
    (anchor.mach_absolute, anchor.mach_continuous, anchor.wall_ns)
}

fn anchor_model((mach_absolute, mach_continuous, wall_ns): (u64, u64, u64)) -> ClockAnchor {
    ClockAnchor {
        mach_absolute,
        mach_continuous,
        wall_ns,
    }
}

fn meta_wire(meta: &BTreeMap<String, String>) -> Vec<(String, String)> {
    meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn encode_value<T: Encode>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    bincode::encode_into_std_write(value, out, config())
        .map(drop)
        .map_err(|error| error.to_string())
}

/// Decodes a whole payload; trailing bytes are an error.
fn decode_value<T: Decode<()>>(payload: &[u8]) -> Result<T, String> {
    let (value, used) = bincode::decode_from_slice(payload, config()).map_err(reason)?;
    if used != payload.len() {
        return Err(format!("{} trailing bytes", payload.len() - used));
    }
    Ok(value)
}

/// Encodes a header payload into `out` (cleared first).
pub fn encode_header(header: &Header, out: &mut Vec<u8>) -> Result<(), String> {
    let wire = HeaderWire {
        source: header.source.map_or(0, Source::code),
        timebase_numer: header.timebase.numer,
        timebase_denom: header.timebase.denom,
        start: anchor_wire(&header.start),
        os_version: header.os_version.clone(),
        os_build: header.os_build.clone(),
        hardware_model: header.hardware_model.clone(),
        cpu_count: header.cpu_count,
        subscribed: header.subscribed.iter().map(|event| event.0).collect(),
        tool: header.tool.clone(),
        tool_version: header.tool_version.clone(),
        meta: meta_wire(&header.meta),
    };
    encode_value(&wire, out)
}

/// Decodes a header payload.
pub fn decode_header(payload: &[u8]) -> Result<Header, String> {
    let wire: HeaderWire = decode_value(payload)?;
    Ok(Header {
        source: (wire.source != 0).then(|| Source::from_code(wire.source)),
        timebase: Timebase {
            numer: wire.timebase_numer,
            denom: wire.timebase_denom,
        },
        start: anchor_model(wire.start),
        os_version: wire.os_version,
        os_build: wire.os_build,
        hardware_model: wire.hardware_model,
        cpu_count: wire.cpu_count,
        subscribed: wire.subscribed.into_iter().map(EventType).collect(),
        tool: wire.tool,
        tool_version: wire.tool_version,
        meta: wire.meta.into_iter().collect(),
    })
}

/// Encodes a footer payload into `out` (cleared first).
pub fn encode_footer(footer: &Footer, out: &mut Vec<u8>) -> Result<(), String> {
    let wire = FooterWire {
        messages: footer.messages,
        chunks: footer.chunks,
        dropped: footer.dropped,
        end: footer.end.as_ref().map(anchor_wire),
        meta: meta_wire(&footer_meta(footer)),
    };
    encode_value(&wire, out)
}

/// The footer meta key that stores [`Footer::es_gaps`] (so that the wire
/// stays as in version 1.0).
const ES_GAPS_KEY: &str = "es_gaps";

fn footer_meta(footer: &Footer) -> BTreeMap<String, String> {
    let mut meta = footer.meta.clone();
    if let Some(gaps) = footer.es_gaps {
        meta.insert(ES_GAPS_KEY.into(), gaps.to_string());
    }
    meta
}

/// Decodes a footer payload.
pub fn decode_footer(payload: &[u8]) -> Result<Footer, String> {
    let wire: FooterWire = decode_value(payload)?;
    let mut meta: BTreeMap<String, String> = wire.meta.into_iter().collect();
    let es_gaps = meta.remove(ES_GAPS_KEY).and_then(|gaps| gaps.parse().ok());
    Ok(Footer {
        messages: wire.messages,
        chunks: wire.chunks,
        dropped: wire.dropped,
        es_gaps,
        end: wire.end.map(anchor_model),
        meta,
    })
}

/// Per-chunk delta state, shared by encoder and decoder so that both
/// agree by construction.
struct DeltaState {
    next_global_seq: u64,
    prev_arrival: u64,
    next_seq: Box<[u64; TYPED_STATE]>,
    prev_budget: Box<[u64; TYPED_STATE]>,
}

impl DeltaState {
    fn new() -> DeltaState {
        DeltaState {
            next_global_seq: 0,
            prev_arrival: 0,
            next_seq: Box::new([0; TYPED_STATE]),
            prev_budget: Box::new([0; TYPED_STATE]),
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

/// Wrapping difference read as signed: what the zigzag varint stores.
fn delta(value: u64, base: u64) -> i64 {
    value.wrapping_sub(base) as i64
}

fn undelta(delta: i64, base: u64) -> u64 {
    base.wrapping_add(delta as u64)
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

    fn lookup(&self, text: &Arc<str>) -> u32 {
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
pub fn encode_chunk(chunk: &ChunkOut<'_>, out: &mut Vec<u8>) -> Result<(), String> {
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
    set(message.details.is_some(), flags::DETAILS);
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
    if let Some(details) = &message.details {
        encode_details(details, message.arrival_ns, strings, encoder)?;
    }
    state.advance(event, message.global_seq, message.seq, message.arrival_ns);
    Ok(())
}

/// The details mask bits, in field order.
mod detail_bits {
    pub const MESSAGE_VERSION: u16 = 1 << 0;
    pub const THREAD_ID: u16 = 1 << 1;
    pub const HANDLER_EXIT: u16 = 1 << 2;
    pub const RESPONSE: u16 = 1 << 3;
    pub const VERDICT: u16 = 1 << 4;
    pub const OPEN_FFLAG: u16 = 1 << 5;
    pub const PIDVERSION: u16 = 1 << 6;
    pub const EUID: u16 = 1 << 7;
    pub const PPID: u16 = 1 << 8;
    pub const SIGNING_ID: u16 = 1 << 9;
    pub const TEAM_ID: u16 = 1 << 10;
    pub const PLATFORM_BINARY: u16 = 1 << 11;
    pub const TARGET_DEV: u16 = 1 << 12;
    pub const TARGET_INO: u16 = 1 << 13;
    pub const KNOWN: u16 = (1 << 14) - 1;
}

fn details_mask(details: &Details) -> u16 {
    use detail_bits::*;
    let present = [
        (details.message_version.is_some(), MESSAGE_VERSION),
        (details.thread_id.is_some(), THREAD_ID),
        (details.handler_exit_ns.is_some(), HANDLER_EXIT),
        (details.response_ns.is_some(), RESPONSE),
        (details.verdict.is_some(), VERDICT),
        (details.open_fflag.is_some(), OPEN_FFLAG),
        (details.pidversion.is_some(), PIDVERSION),
        (details.euid.is_some(), EUID),
        (details.ppid.is_some(), PPID),
        (details.signing_id.is_some(), SIGNING_ID),
        (details.team_id.is_some(), TEAM_ID),
        (details.platform_binary.is_some(), PLATFORM_BINARY),
        (details.target_dev.is_some(), TARGET_DEV),
        (details.target_ino.is_some(), TARGET_INO),
    ];
    present
        .iter()
        .filter(|(is_present, _)| *is_present)
        .fold(0, |mask, (_, bit)| mask | bit)
}

fn encode_details<E: Encoder>(
    details: &Details,
    arrival: u64,
    strings: &StringTable,
    encoder: &mut E,
) -> Result<(), EncodeError> {
    details_mask(details).encode(encoder)?;
    let u32s = |value: Option<u32>, encoder: &mut E| value.map_or(Ok(()), |v| v.encode(encoder));
    u32s(details.message_version, encoder)?;
    if let Some(thread_id) = details.thread_id {
        thread_id.encode(encoder)?;
    }
    for time in [details.handler_exit_ns, details.response_ns]
        .into_iter()
        .flatten()
    {
        delta(time, arrival).encode(encoder)?;
    }
    for value in [
        details.verdict,
        details.open_fflag,
        details.pidversion,
        details.euid,
        details.ppid,
    ] {
        u32s(value, encoder)?;
    }
    for text in [&details.signing_id, &details.team_id]
        .into_iter()
        .flatten()
    {
        strings.lookup(text).encode(encoder)?;
    }
    if let Some(platform_binary) = details.platform_binary {
        u8::from(platform_binary).encode(encoder)?;
    }
    for value in [details.target_dev, details.target_ino]
        .into_iter()
        .flatten()
    {
        value.encode(encoder)?;
    }
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

/// Decodes a chunk payload. Every count is checked against the bytes left
/// before anything is allocated for it.
pub fn decode_chunk(payload: &[u8]) -> Result<ChunkIn, String> {
    // No bincode limit here (it would be checked on every varint): every
    // length in a chunk goes through `bounded_count` instead.
    let (chunk, used) =
        bincode::decode_from_slice_with_context(payload, standard(), PayloadLen(payload.len()))
            .map_err(reason)?;
    if used != payload.len() {
        return Err(format!("{} trailing bytes", payload.len() - used));
    }
    Ok(chunk)
}

/// The decoding context of a chunk: its payload length, the bound for
/// every count read from it.
struct PayloadLen(usize);

impl Decode<PayloadLen> for ChunkIn {
    fn decode<D: Decoder<Context = PayloadLen>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let dropped = u64::decode(decoder)?;
        let string_count = bounded_count(decoder, 1)?;
        let mut strings = Vec::with_capacity(string_count);
        for _ in 0..string_count {
            strings.push(decode_string(decoder)?);
        }
        let count = bounded_count(decoder, 5)?;
        let mut messages = Vec::with_capacity(count);
        let mut state = DeltaState::new();
        for _ in 0..count {
            messages.push(decode_record(decoder, &strings, &mut state)?);
        }
        Ok(ChunkIn { dropped, messages })
    }
}

/// Reads a count and checks that `count × min_bytes` bytes fit in the
/// payload, so that nothing is allocated for items that cannot be there.
fn bounded_count<D: Decoder<Context = PayloadLen>>(
    decoder: &mut D,
    min_bytes: u64,
) -> Result<usize, DecodeError> {
    let count = u64::decode(decoder)?;
    let payload_len = decoder.context().0 as u64;
    if count.saturating_mul(min_bytes) > payload_len {
        return Err(DecodeError::Other("count larger than the payload can hold"));
    }
    usize::try_from(count).map_err(|_| DecodeError::LimitExceeded)
}

/// A string whose length is checked against the payload before allocating.
fn decode_string<D: Decoder<Context = PayloadLen>>(
    decoder: &mut D,
) -> Result<Arc<str>, DecodeError> {
    let len = bounded_count(decoder, 1)?;
    let mut bytes = vec![0; len];
    decoder.reader().read(&mut bytes)?;
    let text = String::from_utf8(bytes).map_err(|_| DecodeError::Other("string is not UTF-8"))?;
    Ok(Arc::from(text))
}

fn string_at(strings: &[Arc<str>], index: u32) -> Result<Arc<str>, DecodeError> {
    strings
        .get(index as usize)
        .cloned()
        .ok_or(DecodeError::Other("string index out of range"))
}

fn decode_record<D: Decoder>(
    decoder: &mut D,
    strings: &[Arc<str>],
    state: &mut DeltaState,
) -> Result<Message, DecodeError> {
    let bits = u8::decode(decoder)?;
    let event = EventType(u16::decode(decoder)?);
    let has = |bit: u8| bits & bit != 0;
    let global_seq = undelta(i64::decode(decoder)?, state.next_global_seq);
    let seq = undelta(i64::decode(decoder)?, state.seq_base(event));
    let arrival_ns = undelta(i64::decode(decoder)?, state.prev_arrival);
    let mut message = Message::new(global_seq, event, Action::Notify, arrival_ns);
    message.seq = seq;
    if has(flags::AUTH) {
        message.action = Action::Auth;
    }
    if has(flags::DEADLINE) {
        let budget = undelta(i64::decode(decoder)?, state.budget_base(event));
        state.set_budget(event, budget);
        message.deadline_ns = Some(arrival_ns.wrapping_add(budget));
    }
    if has(flags::RECEIVED) {
        message.received_ns = Some(undelta(i64::decode(decoder)?, arrival_ns));
    }
    if has(flags::SERVICE) {
        message.service_ns = Some(u64::decode(decoder)?);
    }
    if has(flags::PID) {
        message.pid = Some(u32::decode(decoder)?);
    }
    if has(flags::PROCESS) {
        message.process_path = Some(string_at(strings, u32::decode(decoder)?)?);
    }
    if has(flags::TARGET) {
        message.target_path = Some(string_at(strings, u32::decode(decoder)?)?);
    }
    if has(flags::DETAILS) {
        message.details = Some(Box::new(decode_details(decoder, arrival_ns, strings)?));
    }
    state.advance(event, global_seq, seq, arrival_ns);
    Ok(message)
}

fn decode_details<D: Decoder>(
    decoder: &mut D,
    arrival: u64,
    strings: &[Arc<str>],
) -> Result<Details, DecodeError> {
    use detail_bits::*;
    let mask = u16::decode(decoder)?;
    if mask & !KNOWN != 0 {
        return Err(DecodeError::Other("unknown details field"));
    }
    let has = |bit: u16| mask & bit != 0;
    let u32_if = |bit, decoder: &mut D| -> Result<Option<u32>, DecodeError> {
        has(bit).then(|| u32::decode(decoder)).transpose()
    };
    let mut details = Details {
        message_version: u32_if(MESSAGE_VERSION, decoder)?,
        ..Details::default()
    };
    details.thread_id = has(THREAD_ID).then(|| u64::decode(decoder)).transpose()?;
    for (bit, slot) in [
        (HANDLER_EXIT, &mut details.handler_exit_ns),
        (RESPONSE, &mut details.response_ns),
    ] {
        if has(bit) {
            *slot = Some(undelta(i64::decode(decoder)?, arrival));
        }
    }
    details.verdict = u32_if(VERDICT, decoder)?;
    details.open_fflag = u32_if(OPEN_FFLAG, decoder)?;
    details.pidversion = u32_if(PIDVERSION, decoder)?;
    details.euid = u32_if(EUID, decoder)?;
    details.ppid = u32_if(PPID, decoder)?;
    for (bit, slot) in [
        (SIGNING_ID, &mut details.signing_id),
        (TEAM_ID, &mut details.team_id),
    ] {
        if has(bit) {
            *slot = Some(string_at(strings, u32::decode(decoder)?)?);
        }
    }
    if has(PLATFORM_BINARY) {
        details.platform_binary = Some(u8::decode(decoder)? != 0);
    }
    details.target_dev = has(TARGET_DEV).then(|| u64::decode(decoder)).transpose()?;
    details.target_ino = has(TARGET_INO).then(|| u64::decode(decoder)).transpose()?;
    Ok(details)
}
