//! [`TraceReader`]: a streaming iterator over a trace's messages, memory
//! O(chunk).
//!
//! A file cut short (the likely death of a recorder) is not an error: the
//! iterator yields every complete chunk and ends, and [`ReadSummary`] says
//! how many bytes were lost and that the footer is missing. A chunk that
//! fails its CRC or does not decode is an error naming the chunk and its
//! byte offset; in salvage mode it is skipped and counted instead.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::codec;
use super::{
    FRAME_HEADER_LEN, FrameHeader, KIND_CHUNK, KIND_FOOTER, KIND_HEADER, PREAMBLE_LEN, TraceError,
    frame_crc, parse_frame_header, parse_preamble,
};
use crate::model::{Footer, Header, Message};

/// What a read found, beyond the messages: complete once the iterator ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Format version of the file (major, minor).
    pub version: (u16, u16),
    /// Chunks decoded.
    pub chunks: u64,
    /// Messages yielded.
    pub messages: u64,
    /// Drops the recorder wrote down in the chunks read.
    pub dropped: u64,
    /// Chunks skipped in salvage mode (bad CRC or undecodable).
    pub skipped_chunks: u64,
    /// Frames of kinds this version does not know, skipped.
    pub unknown_frames: u64,
    /// Bytes at the end that did not form a complete frame.
    pub truncated_bytes: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Whether the reader reached the end of the input.
    pub finished: bool,
}

/// Reads a trace as an iterator of messages.
pub struct TraceReader<R: Read> {
    input: R,
    header: Header,
    footer: Option<Footer>,
    summary: ReadSummary,
    salvage: bool,
    current: std::vec::IntoIter<Message>,
    payload: Vec<u8>,
    done: bool,
}

impl TraceReader<BufReader<File>> {
    /// Opens a trace file and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        TraceReader::new(BufReader::with_capacity(1 << 16, File::open(path)?))
    }
}

/// How a read of exactly `buf.len()` bytes ended.
enum Fill {
    Full,
    /// End of input after this many bytes (fewer than asked).
    Eof(usize),
}

fn fill(input: &mut impl Read, buf: &mut [u8]) -> io::Result<Fill> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => return Ok(Fill::Eof(filled)),
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(Fill::Full)
}

impl<R: Read> TraceReader<R> {
    /// Reads and checks the preamble and the header.
    pub fn new(mut input: R) -> Result<Self, TraceError> {
        let mut preamble = [0u8; PREAMBLE_LEN];
        match fill(&mut input, &mut preamble)? {
            Fill::Full => {}
            Fill::Eof(0) => return Err(TraceError::Empty),
            Fill::Eof(len) => {
                // Too short for a preamble: still say "not a trace" when
                // what is there is not the start of the magic.
                if preamble[..len.min(8)] != super::MAGIC[..len.min(8)] {
                    return Err(TraceError::BadMagic);
                }
                return Err(TraceError::TruncatedHeader { len: len as u64 });
            }
        }
        let version = parse_preamble(&preamble)?;
        let mut reader = TraceReader {
            input,
            header: Header::default(),
            footer: None,
            summary: ReadSummary {
                version,
                bytes_read: PREAMBLE_LEN as u64,
                ..ReadSummary::default()
            },
            salvage: false,
            current: Vec::new().into_iter(),
            payload: Vec::new(),
            done: false,
        };
        reader.header = reader.read_header()?;
        Ok(reader)
    }

    /// In salvage mode a corrupt chunk is skipped and counted, not an error.
    pub fn salvage(mut self, salvage: bool) -> Self {
        self.salvage = salvage;
        self
    }

    /// The trace header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The footer, once the iterator has reached it; `None` for a trace
    /// that was cut short.
    pub fn footer(&self) -> Option<&Footer> {
        self.footer.as_ref()
    }

    /// What the read found so far (complete once the iterator ends).
    pub fn summary(&self) -> &ReadSummary {
        &self.summary
    }

    fn read_header(&mut self) -> Result<Header, TraceError> {
        let offset = self.summary.bytes_read;
        let corrupt = |reason: String| TraceError::Corrupt {
            what: "header",
            index: 0,
            offset,
            reason,
        };
        match self.read_frame()? {
            None => Err(TraceError::TruncatedHeader {
                len: self.summary.bytes_read + self.summary.truncated_bytes,
            }),
            Some(Err(reason)) => Err(corrupt(reason)),
            Some(Ok(frame)) if frame.kind != KIND_HEADER => {
                Err(corrupt(format!("first frame has kind {}", frame.kind)))
            }
            Some(Ok(_)) => codec::decode_header(&self.payload).map_err(corrupt),
        }
    }

    /// Reads one frame into `self.payload`. `None` at the end of the input
    /// (a partial frame counts as truncated bytes); `Some(Err)` for a frame
    /// that fails its checks (its bytes are consumed when its length was
    /// sane, so that a salvaging caller can go on).
    fn read_frame(&mut self) -> Result<Option<Result<FrameHeader, String>>, TraceError> {
        let mut head = [0u8; FRAME_HEADER_LEN];
        match fill(&mut self.input, &mut head)? {
            Fill::Full => {}
            Fill::Eof(len) => {
                self.summary.truncated_bytes += len as u64;
                return Ok(None);
            }
        }
        let frame = match parse_frame_header(&head) {
            Ok(frame) => frame,
            Err(reason) => {
                self.summary.bytes_read += FRAME_HEADER_LEN as u64;
                return Ok(Some(Err(reason)));
            }
        };
        self.payload.resize(frame.len as usize, 0);
        match fill(&mut self.input, &mut self.payload)? {
            Fill::Full => {}
            Fill::Eof(len) => {
                self.summary.truncated_bytes += (FRAME_HEADER_LEN + len) as u64;
                return Ok(None);
            }
        }
        self.summary.bytes_read += (FRAME_HEADER_LEN + self.payload.len()) as u64;
        if frame_crc(frame.kind, &self.payload) != frame.crc {
            return Ok(Some(Err("CRC mismatch".to_owned())));
        }
        Ok(Some(Ok(frame)))
    }

    /// Reads frames until a chunk with messages, the footer or the end.
    fn next_chunk(&mut self) -> Result<(), TraceError> {
        loop {
            let offset = self.summary.bytes_read;
            let index = self.summary.chunks + self.summary.skipped_chunks;
            let frame = match self.read_frame()? {
                None => return self.end(),
                Some(frame) => frame,
            };
            let decoded = frame.and_then(|frame| match frame.kind {
                KIND_CHUNK => codec::decode_chunk(&self.payload).map(Decoded::Chunk),
                KIND_FOOTER => codec::decode_footer(&self.payload).map(Decoded::Footer),
                _ => Ok(Decoded::Unknown),
            });
            match decoded {
                Ok(Decoded::Chunk(chunk)) => {
                    self.summary.chunks += 1;
                    self.summary.dropped += chunk.dropped;
                    self.current = chunk.messages.into_iter();
                    if self.current.len() > 0 {
                        return Ok(());
                    }
                }
                Ok(Decoded::Footer(footer)) => self.footer = Some(footer),
                Ok(Decoded::Unknown) => self.summary.unknown_frames += 1,
                Err(_) if self.salvage => self.summary.skipped_chunks += 1,
                Err(reason) => {
                    self.done = true;
                    return Err(TraceError::Corrupt {
                        what: "chunk",
                        index,
                        offset,
                        reason,
                    });
                }
            }
        }
    }

    fn end(&mut self) -> Result<(), TraceError> {
        self.done = true;
        self.summary.finished = true;
        Ok(())
    }
}

/// A frame after the header, decoded.
enum Decoded {
    Chunk(codec::ChunkIn),
    Footer(Footer),
    Unknown,
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Message, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(message) = self.current.next() {
                self.summary.messages += 1;
                return Some(Ok(message));
            }
            if self.done {
                return None;
            }
            if let Err(error) = self.next_chunk() {
                return Some(Err(error));
            }
        }
    }
}
