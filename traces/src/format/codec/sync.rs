//! The sync frame (kind 4, format 1.1): a fixed 24-byte payload that marks
//! where the next chunk starts and which one it is.
//!
//! ```text
//! sync = SYNC_MAGIC[8], chunk_index u64 LE, first_message u64 LE
//! ```
//!
//! Fixed-width on purpose: the whole frame is 33 bytes whose first 5
//! (`kind 4, length 24`) and bytes 9..17 (the magic) are constant, so a
//! salvaging reader finds the next frame boundary after inserted or
//! deleted bytes by scanning for them, and checks the frame's CRC before
//! trusting it. `chunk_index` is the 0-based index of the chunk that
//! follows (the chunk count before the footer), `first_message` the number
//! of messages in all earlier chunks: a reader compares both with what it
//! has read, so duplicated, swapped or missing chunks are detected.

use super::CodecError;

/// The first 8 payload bytes of every sync frame. 0xFF and 0xFE never
/// occur in UTF-8 and 0xFF never starts a bincode varint, so the marker is
/// rare inside other payloads (and a false match still needs a valid CRC).
pub const SYNC_MAGIC: [u8; 8] = [0xFF, b'E', b'S', b'S', b'Y', b'N', b'C', 0xFE];
/// Payload length of a sync frame.
pub const SYNC_PAYLOAD_LEN: usize = 24;

/// Where a chunk sits in the trace (ordered by chunk index, then first
/// message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SyncPoint {
    /// 0-based index of the chunk that follows.
    pub chunk_index: u64,
    /// Messages in all earlier chunks.
    pub first_message: u64,
}

/// The sync payload for `point`.
pub fn encode_sync(point: SyncPoint) -> [u8; SYNC_PAYLOAD_LEN] {
    let mut out = [0u8; SYNC_PAYLOAD_LEN];
    out[..8].copy_from_slice(&SYNC_MAGIC);
    out[8..16].copy_from_slice(&point.chunk_index.to_le_bytes());
    out[16..].copy_from_slice(&point.first_message.to_le_bytes());
    out
}

/// Decodes a sync payload.
pub fn decode_sync(payload: &[u8]) -> Result<SyncPoint, CodecError> {
    let bytes: &[u8; SYNC_PAYLOAD_LEN] = payload
        .try_into()
        .map_err(|_| CodecError::SyncLength(payload.len()))?;
    if bytes[..8] != SYNC_MAGIC {
        return Err(CodecError::SyncMarker);
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    Ok(SyncPoint {
        chunk_index: word(8),
        first_message: word(16),
    })
}
