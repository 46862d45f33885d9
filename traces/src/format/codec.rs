//! Every byte of a frame payload: the one module that encodes and decodes
//! them, in bincode's encoding (2.0.1, standard configuration: little
//! endian, unsigned integers as varints, signed integers zigzag-encoded
//! then varints). bincode encodes everything and decodes everything but
//! the chunks' records, which `cursor` reads by hand (the same bytes and
//! errors, in the loop that runs per message).
//!
//! bincode varint: a value below 251 is one byte; otherwise a tag byte
//! 251/252/253 followed by the value as u16/u32/u64 little endian. A signed
//! value v is first mapped to `(v << 1) ^ (v >> 63)` (zigzag).
//!
//! One submodule per thing encoded:
//!
//! | module | payload |
//! | --- | --- |
//! | [`meta`] | header (kind 1) and footer (kind 3) |
//! | [`chunk`] | chunk of messages (kind 2): string table, records, deltas |
//! | [`details`] | the optional details block of a record |
//! | [`sync`] | sync marker (kind 4, format 1.1) |
//! | [`cpu`] | CPU track samples (kind 5, format 1.1) |
//!
//! Every decoder bounds what it allocates by the bytes present: a count
//! read from a payload is checked against the bytes left before anything
//! is allocated for it, and against a fixed per-frame cap (see
//! [`MAX_CHUNK_MESSAGES`], [`MAX_CHUNK_STRINGS`], [`cpu::MAX_SAMPLES`]).
//!
//! Every function here fails with a [`CodecError`]; the reader turns it
//! into the reason of a [`TraceError::Corrupt`](super::TraceError), the
//! writer into [`TraceError::Encode`](super::TraceError), by its message.

pub mod chunk;
pub mod cpu;
mod cursor;
pub mod details;
pub mod meta;
pub mod sync;

pub use chunk::{ChunkIn, ChunkOut, MAX_CHUNK_MESSAGES, MAX_CHUNK_STRINGS, StringTable};
pub use chunk::{Fields, decode_chunk, decode_chunk_into, encode_chunk, intern_message};
pub use meta::{decode_footer, decode_header, encode_footer, encode_header};

use bincode::config::{Config, standard};
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};

/// Why a payload could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// bincode refused the bytes (a varint cut short, a limit, a count
    /// past the bytes left, a string that is not UTF-8, ...).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// bincode could not encode the value.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The payload goes on after the value it holds.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// More CPU samples than one frame may hold.
    #[error("{0} CPU samples in one frame (at most {max})", max = cpu::MAX_SAMPLES)]
    TooManySamples(usize),
    /// A sync payload of another length than [`sync::SYNC_PAYLOAD_LEN`].
    #[error("sync frame of {0} bytes, not {len}", len = sync::SYNC_PAYLOAD_LEN)]
    SyncLength(usize),
    /// A sync payload that does not start with [`sync::SYNC_MAGIC`].
    #[error("sync frame without its marker")]
    SyncMarker,
}

/// Encodes `value` into `out` (cleared first) with the standard
/// configuration.
fn encode_value<T: Encode>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    out.clear();
    bincode::encode_into_std_write(value, out, standard())?;
    Ok(())
}

/// Decodes a whole payload; trailing bytes are an error. bincode may
/// allocate up to its limit for what the payload claims, so the limit is
/// chosen by the payload's length: at most 16 × the bytes present up to
/// 1 MiB (64 KiB for a tiny payload), and never over [`super::MAX_FRAME_LEN`].
fn decode_value<T: Decode<()>>(payload: &[u8]) -> Result<T, CodecError> {
    const KIB: usize = 1 << 10;
    let len = payload.len();
    let decoded = if len <= 4 * KIB {
        decode_with(payload, standard().with_limit::<{ 64 * KIB }>())
    } else if len <= 64 * KIB {
        decode_with(payload, standard().with_limit::<{ 1024 * KIB }>())
    } else if len <= 1024 * KIB {
        decode_with(payload, standard().with_limit::<{ 16 * 1024 * KIB }>())
    } else {
        decode_with(
            payload,
            standard().with_limit::<{ super::MAX_FRAME_LEN as usize }>(),
        )
    };
    let (value, used) = decoded?;
    if used != len {
        return Err(CodecError::TrailingBytes(len - used));
    }
    Ok(value)
}

fn decode_with<T: Decode<()>>(
    payload: &[u8],
    config: impl Config,
) -> Result<(T, usize), DecodeError> {
    bincode::decode_from_slice(payload, config)
}

/// Wrapping difference read as signed: what the zigzag varint stores.
fn delta(value: u64, base: u64) -> i64 {
    value.wrapping_sub(base) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reasons users read in `corrupt ... at byte offset ...: REASON`.
    #[test]
    fn codec_errors_say_what_failed() {
        let reason = |error: CodecError| error.to_string();
        let short = sync::decode_sync(&[0; 3]).unwrap_err();
        assert_eq!(reason(short), "sync frame of 3 bytes, not 24");
        let unmarked = sync::decode_sync(&[0; sync::SYNC_PAYLOAD_LEN]).unwrap_err();
        assert_eq!(reason(unmarked), "sync frame without its marker");
        let mut footer = Vec::new();
        encode_footer(&crate::model::Footer::default(), &mut footer).unwrap();
        footer.extend([0, 0]);
        assert_eq!(
            reason(decode_footer(&footer).unwrap_err()),
            "2 trailing bytes"
        );
        let samples = vec![crate::cpu::CpuSample::default(); cpu::MAX_SAMPLES + 1];
        let many = cpu::encode_cpu(0, &samples, &mut Vec::new()).unwrap_err();
        assert_eq!(
            reason(many),
            "65537 CPU samples in one frame (at most 65536)"
        );
        let cut = decode_header(&[1]).unwrap_err();
        assert!(matches!(cut, CodecError::Decode(_)), "{cut:?}");
    }
}
