//! The binary trace format (`.estrace`): framing, limits and errors.
//!
//! # Wire format (version 1.1)
//!
//! ```text
//! file   = MAGIC (8 bytes) major (u16 LE) minor (u16 LE) frame*
//! frame  = kind (u8) length (u32 LE) crc (u32 LE) payload (length bytes)
//!          crc = CRC-32C over kind, the 4 length bytes and the payload
//! kinds  = 1 header (exactly one, first)
//!        | 4 sync (1.1: before every chunk and before the footer)
//!        | 5 CPU track samples (1.1: any number, after a sync)
//!        | 2 chunk (any number)
//!        | 3 footer (last; missing when the writer did not finish)
//!        | anything else: skipped and counted (room for minor versions)
//! 1.1    = header (sync cpu* chunk)* (sync cpu* footer)?
//! 1.0    = header chunk* footer?
//! ```
//!
//! Payloads are bincode 2 with its standard configuration (little endian,
//! variable-length integers); the exact layout of each payload is in
//! [`codec`] and in `docs/trace-format.md`, which a reader in another
//! language can be written from. Every chunk decodes on its own: the delta
//! and string-table state restarts at each chunk, so a file cut anywhere
//! yields every complete chunk.
//!
//! Version 1.1 adds the sync frame (a constant marker, the chunk's index
//! and first message index: the reader detects duplicated, swapped and
//! missing chunks, and a salvaging reader re-finds frames after inserted or
//! deleted bytes), the CPU track frame, and two details fields
//! (`is_es_client`, `close_modified`). 1.0 files stay readable; a 1.0
//! reader skips the new frames as unknown kinds.
//!
//! Limits: a frame payload is at most [`MAX_FRAME_LEN`] bytes, and the
//! reader allocates for a payload only as its bytes arrive; every count
//! inside a payload is bounded by the bytes left in it and by a per-frame
//! cap, checked before anything is allocated.

pub mod codec;
mod reader;
mod writer;

pub use codec::Fields;
pub use reader::{ReadSummary, TraceReader, read_cpu_track, read_footer};
pub use writer::TraceWriter;

/// The first eight bytes of every trace.
pub const MAGIC: [u8; 8] = *b"ESTRACE\0";
/// Major format version: readers reject any other.
pub const FORMAT_MAJOR: u16 = 1;
/// Minor format version written: additions that older readers can skip.
pub const FORMAT_MINOR: u16 = 1;
/// Bytes of magic and version before the first frame.
pub const PREAMBLE_LEN: usize = 12;
/// Bytes of a frame's kind, length and CRC.
pub const FRAME_HEADER_LEN: usize = 9;
/// The largest frame payload a reader accepts (and a writer produces).
pub const MAX_FRAME_LEN: u32 = 64 << 20;

/// Frame kind of the header.
pub const KIND_HEADER: u8 = 1;
/// Frame kind of a chunk of messages.
pub const KIND_CHUNK: u8 = 2;
/// Frame kind of the footer.
pub const KIND_FOOTER: u8 = 3;
/// Frame kind of a sync marker (format 1.1).
pub const KIND_SYNC: u8 = 4;
/// Frame kind of CPU track samples (format 1.1).
pub const KIND_CPU: u8 = 5;

/// What went wrong reading or writing a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The input has no bytes at all.
    #[error("empty file: not an esreplay trace")]
    Empty,
    /// The input does not start with [`MAGIC`].
    #[error("not an esreplay trace (bad magic bytes)")]
    BadMagic,
    /// A major version this build does not read.
    #[error(
        "unsupported trace format version {major}.{minor} (this build reads version {FORMAT_MAJOR}.x)"
    )]
    UnsupportedVersion {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
    },
    /// The file ends before its header is complete.
    #[error("truncated trace: the file ends inside its header ({len} bytes)")]
    TruncatedHeader {
        /// Bytes in the file.
        len: u64,
    },
    /// A frame failed its CRC, length or decoding check, or the frames do
    /// not agree with each other (a chunk duplicated, swapped or missing, a
    /// footer whose counts differ from what the file holds).
    #[error("corrupt {what} {index} at byte offset {offset}: {reason}")]
    Corrupt {
        /// `"chunk"`, `"header"`, `"footer"`, `"sync frame"` or `"CPU
        /// track"`.
        what: &'static str,
        /// Index of the frame among frames of its kind (0-based).
        index: u64,
        /// Byte offset of the frame in the file.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// A value could not be encoded (e.g. a chunk over [`MAX_FRAME_LEN`]).
    #[error("cannot encode trace: {0}")]
    Encode(String),
}

/// The CRC of a frame: CRC-32C over kind, length (LE) and payload.
pub fn frame_crc(kind: u8, payload: &[u8]) -> u32 {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&len.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&head), payload)
}

/// A frame's fixed-size prefix, parsed without I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Frame kind.
    pub kind: u8,
    /// Payload length in bytes (already checked against [`MAX_FRAME_LEN`]).
    pub len: u32,
    /// Expected CRC-32C.
    pub crc: u32,
}

/// Parses a frame prefix. The length is validated before any payload is read.
pub(crate) fn parse_frame_header(bytes: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, String> {
    let len = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    if len > MAX_FRAME_LEN {
        return Err(format!(
            "frame length {len} exceeds the limit of {MAX_FRAME_LEN} bytes"
        ));
    }
    Ok(FrameHeader {
        kind: bytes[0],
        len,
        crc: u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]),
    })
}

/// Checks the magic and version of the first [`PREAMBLE_LEN`] bytes.
pub fn parse_preamble(bytes: &[u8; PREAMBLE_LEN]) -> Result<(u16, u16), TraceError> {
    if bytes[..8] != MAGIC {
        return Err(TraceError::BadMagic);
    }
    let major = u16::from_le_bytes([bytes[8], bytes[9]]);
    let minor = u16::from_le_bytes([bytes[10], bytes[11]]);
    if major != FORMAT_MAJOR {
        return Err(TraceError::UnsupportedVersion { major, minor });
    }
    Ok((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_covers_kind_and_length() {
        let payload = b"hello";
        assert_ne!(
            frame_crc(KIND_CHUNK, payload),
            frame_crc(KIND_FOOTER, payload)
        );
        assert_ne!(
            frame_crc(KIND_CHUNK, b"hello"),
            frame_crc(KIND_CHUNK, b"hellp")
        );
    }

    #[test]
    fn oversized_frames_are_rejected_before_reading() {
        let mut header = [0u8; FRAME_HEADER_LEN];
        header[0] = KIND_CHUNK;
        header[1..5].copy_from_slice(&(MAX_FRAME_LEN + 1).to_le_bytes());
        assert!(parse_frame_header(&header).is_err());
        header[1..5].copy_from_slice(&MAX_FRAME_LEN.to_le_bytes());
        assert_eq!(parse_frame_header(&header).unwrap().len, MAX_FRAME_LEN);
    }

    #[test]
    fn preamble_checks_magic_and_major() {
        let mut preamble = [0u8; PREAMBLE_LEN];
        preamble[..8].copy_from_slice(&MAGIC);
        preamble[8..10].copy_from_slice(&FORMAT_MAJOR.to_le_bytes());
        preamble[10..12].copy_from_slice(&7u16.to_le_bytes());
        assert_eq!(parse_preamble(&preamble).unwrap(), (FORMAT_MAJOR, 7));
        preamble[8] = 2;
        assert!(matches!(
            parse_preamble(&preamble),
            Err(TraceError::UnsupportedVersion { major: 2, .. })
        ));
        preamble[0] = b'X';
        assert!(matches!(
            parse_preamble(&preamble),
            Err(TraceError::BadMagic)
        ));
    }
}

#[cfg(test)]
mod roundtrip_tests;

#[cfg(test)]
mod damage_tests;
