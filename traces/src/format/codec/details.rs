//! The details block of a record (present when the record's flags have
//! `DETAILS`).
//!
//! ```text
//! details = mask u16, then for each set bit, lowest first:
//!   0x0001 message_version u32      0x0100 ppid u32
//!   0x0002 thread_id u64            0x0200 signing_id u32 (string index)
//!   0x0004 handler_exit i64 (− arrival)   0x0400 team_id u32 (string index)
//!   0x0008 response i64 (− arrival) 0x0800 platform_binary u8 (0/1)
//!   0x0010 verdict u32              0x1000 target_dev u64
//!   0x0020 open_fflag u32           0x2000 target_ino u64
//!   0x0040 pidversion u32           0x4000 is_es_client u8 (0/1)   (1.1)
//!   0x0080 euid u32                 0x8000 close_modified u8 (0/1) (1.1)
//! ```
//!
//! `thread_id`, `response` and `is_es_client` are fields of the
//! [`Message`] (what a simulation reads, without an allocation); the
//! others are its boxed [`Details`]. A block with none of the boxed
//! fields decodes to no box, unless it is empty (mask 0: an empty box).
//!
//! Version 1.0 defined the bits up to 0x2000; a 1.0 reader rejects a
//! record with a higher bit, so a writer sets them only for messages that
//! carry those fields.

use bincode::Encode;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};

use super::chunk::{StringTable, Strings};
use super::cursor::Cursor;
use super::delta;
use crate::model::{Details, Message};

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
    pub const IS_ES_CLIENT: u16 = 1 << 14;
    pub const CLOSE_MODIFIED: u16 = 1 << 15;
}

/// The details block of a message: its boxed [`Details`] (or none) and
/// its inline facts, one view for the encoder.
struct Block<'a> {
    details: &'a Details,
    thread_id: Option<u64>,
    response_ns: Option<u64>,
    is_es_client: Option<bool>,
}

impl Block<'_> {
    fn mask(&self) -> u16 {
        use detail_bits::*;
        let details = self.details;
        let present = [
            (details.message_version.is_some(), MESSAGE_VERSION),
            (self.thread_id.is_some(), THREAD_ID),
            (details.handler_exit_ns.is_some(), HANDLER_EXIT),
            (self.response_ns.is_some(), RESPONSE),
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
            (self.is_es_client.is_some(), IS_ES_CLIENT),
            (details.close_modified.is_some(), CLOSE_MODIFIED),
        ];
        present
            .iter()
            .filter(|(is_present, _)| *is_present)
            .fold(0, |mask, (_, bit)| mask | bit)
    }
}

/// Encodes the details block of `message` (one with
/// [`Message::has_details`]).
pub(super) fn encode_details<E: Encoder>(
    message: &Message,
    strings: &StringTable,
    encoder: &mut E,
) -> Result<(), EncodeError> {
    let empty = Details::default();
    let block = Block {
        details: message.details.as_deref().unwrap_or(&empty),
        thread_id: message.thread_id,
        response_ns: message.response_ns,
        is_es_client: message.is_es_client,
    };
    let (details, arrival) = (block.details, message.arrival_ns);
    block.mask().encode(encoder)?;
    let u32s = |value: Option<u32>, encoder: &mut E| value.map_or(Ok(()), |v| v.encode(encoder));
    u32s(details.message_version, encoder)?;
    if let Some(thread_id) = block.thread_id {
        thread_id.encode(encoder)?;
    }
    for time in [details.handler_exit_ns, block.response_ns]
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
    for flag in [block.is_es_client, details.close_modified]
        .into_iter()
        .flatten()
    {
        u8::from(flag).encode(encoder)?;
    }
    Ok(())
}

/// The mask bits whose fields live in [`Message`], not in [`Details`].
const INLINE_BITS: u16 = detail_bits::THREAD_ID | detail_bits::RESPONSE | detail_bits::IS_ES_CLIENT;

/// A details block's mask, and the message's arrival (the base of its
/// times): reads each field whose bit is set.
struct Present {
    mask: u16,
    arrival: u64,
}

impl Present {
    fn has(&self, bit: u16) -> bool {
        self.mask & bit != 0
    }

    #[inline(always)]
    fn u32(&self, bit: u16, cursor: &mut Cursor<'_>) -> Result<Option<u32>, DecodeError> {
        self.has(bit).then(|| cursor.u32()).transpose()
    }

    #[inline(always)]
    fn u64(&self, bit: u16, cursor: &mut Cursor<'_>) -> Result<Option<u64>, DecodeError> {
        self.has(bit).then(|| cursor.u64()).transpose()
    }

    #[inline(always)]
    fn time(&self, bit: u16, cursor: &mut Cursor<'_>) -> Result<Option<u64>, DecodeError> {
        self.has(bit)
            .then(|| cursor.delta(self.arrival))
            .transpose()
    }

    #[inline(always)]
    fn flag(&self, bit: u16, cursor: &mut Cursor<'_>) -> Result<Option<bool>, DecodeError> {
        self.has(bit).then(|| Ok(cursor.u8()? != 0)).transpose()
    }
}

/// Decodes a details block into `message`: the inline facts always, the
/// boxed [`Details`] when the strings are kept ([`Strings::keep`]:
/// everything asked for) and the block has any of its fields (or none at
/// all: an empty block stays an empty box). Every field is read either
/// way. A block of inline facts only (a recording's thread ids) is
/// decoded here, inline in the record's loop; the rest out of line.
#[inline(always)]
pub(super) fn decode_details(
    cursor: &mut Cursor<'_>,
    message: &mut Message,
    strings: &Strings,
) -> Result<(), DecodeError> {
    use detail_bits::*;
    let present = Present {
        mask: cursor.u16()?,
        arrival: message.arrival_ns,
    };
    if present.mask != 0 && present.mask & !INLINE_BITS == 0 {
        // Only inline facts: no details built.
        message.thread_id = present.u64(THREAD_ID, cursor)?;
        message.response_ns = present.time(RESPONSE, cursor)?;
        message.is_es_client = present.flag(IS_ES_CLIENT, cursor)?;
        return Ok(());
    }
    decode_boxed(cursor, message, strings, &present)
}

/// [`decode_details`] of a block with fields of [`Details`], or none.
#[inline(never)]
fn decode_boxed(
    cursor: &mut Cursor<'_>,
    message: &mut Message,
    strings: &Strings,
    present: &Present,
) -> Result<(), DecodeError> {
    use detail_bits::*;
    let mut details = Details {
        message_version: present.u32(MESSAGE_VERSION, cursor)?,
        ..Details::default()
    };
    message.thread_id = present.u64(THREAD_ID, cursor)?;
    details.handler_exit_ns = present.time(HANDLER_EXIT, cursor)?;
    message.response_ns = present.time(RESPONSE, cursor)?;
    details.verdict = present.u32(VERDICT, cursor)?;
    details.open_fflag = present.u32(OPEN_FFLAG, cursor)?;
    details.pidversion = present.u32(PIDVERSION, cursor)?;
    details.euid = present.u32(EUID, cursor)?;
    details.ppid = present.u32(PPID, cursor)?;
    for (bit, slot) in [
        (SIGNING_ID, &mut details.signing_id),
        (TEAM_ID, &mut details.team_id),
    ] {
        if present.has(bit) {
            *slot = strings.get(cursor.u32()?)?;
        }
    }
    details.platform_binary = present.flag(PLATFORM_BINARY, cursor)?;
    details.target_dev = present.u64(TARGET_DEV, cursor)?;
    details.target_ino = present.u64(TARGET_INO, cursor)?;
    message.is_es_client = present.flag(IS_ES_CLIENT, cursor)?;
    details.close_modified = present.flag(CLOSE_MODIFIED, cursor)?;
    if strings.keep() && (present.mask & !INLINE_BITS != 0 || present.mask == 0) {
        message.details = Some(Box::new(details));
    }
    Ok(())
}
