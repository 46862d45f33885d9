//! [`TraceWriter`]: streams messages into a trace, one chunk at a time.
//!
//! Crash safety: a chunk goes to the output in one `write_all` (with its
//! sync frame and any CPU samples added since the previous chunk), followed
//! by a flush, so that a writer killed at any moment leaves every earlier
//! chunk complete. The footer is written only by [`TraceWriter::finish`];
//! a trace without one was cut short.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::codec::sync::{self, SyncPoint};
use super::codec::{self, ChunkOut, CodecError, MAX_CHUNK_MESSAGES, StringTable, cpu};
use super::{
    FORMAT_MAJOR, FORMAT_MINOR, KIND_CHUNK, KIND_CPU, KIND_FOOTER, KIND_HEADER, KIND_SYNC, MAGIC,
    MAX_FRAME_LEN, TraceError, frame_crc,
};
use crate::cpu::CpuSample;
use crate::model::{ClockAnchor, Footer, Header, Message};

/// Messages per chunk unless told otherwise.
pub const DEFAULT_CHUNK_MESSAGES: usize = 4096;
/// A chunk is also closed when its strings reach this many bytes.
const CHUNK_STRING_BYTES: usize = 8 << 20;

/// Writes a trace: the preamble and header at once, then chunks, then the
/// footer on [`finish`](TraceWriter::finish).
pub struct TraceWriter<W: Write> {
    out: W,
    chunk_messages: usize,
    pending: Vec<Message>,
    strings: StringTable,
    dropped_since_chunk: u64,
    footer: Footer,
    scratch: Vec<u8>,
    /// The frames of the next write: sync, CPU samples, chunk.
    frames: Vec<u8>,
    cpu_pending: Vec<CpuSample>,
    cpu_period_ns: u64,
}

impl TraceWriter<BufWriter<File>> {
    /// Creates (or truncates) the file at `path` and writes the header.
    pub fn create(path: impl AsRef<Path>, header: &Header) -> Result<Self, TraceError> {
        TraceWriter::new(BufWriter::new(File::create(path)?), header)
    }
}

impl<W: Write> TraceWriter<W> {
    /// Writes the magic, version and header to `out`.
    pub fn new(mut out: W, header: &Header) -> Result<Self, TraceError> {
        let mut preamble = MAGIC.to_vec();
        preamble.extend_from_slice(&FORMAT_MAJOR.to_le_bytes());
        preamble.extend_from_slice(&FORMAT_MINOR.to_le_bytes());
        out.write_all(&preamble)?;
        let mut scratch = Vec::new();
        codec::encode_header(header, &mut scratch).map_err(encoding)?;
        let mut frames = Vec::new();
        push_frame(&mut frames, KIND_HEADER, &scratch)?;
        out.write_all(&frames)?;
        Ok(TraceWriter {
            out,
            chunk_messages: DEFAULT_CHUNK_MESSAGES,
            pending: Vec::with_capacity(DEFAULT_CHUNK_MESSAGES),
            strings: StringTable::default(),
            dropped_since_chunk: 0,
            footer: Footer::default(),
            scratch,
            frames,
            cpu_pending: Vec::new(),
            cpu_period_ns: 0,
        })
    }

    /// Sets how many messages go into one chunk (1 to
    /// [`MAX_CHUNK_MESSAGES`]).
    pub fn with_chunk_messages(mut self, messages: usize) -> Self {
        self.chunk_messages = messages.clamp(1, MAX_CHUNK_MESSAGES);
        self
    }

    /// Sets the nominal period of the CPU samples, ns (written with them).
    pub fn set_cpu_period(&mut self, period_ns: u64) {
        self.cpu_period_ns = period_ns;
    }

    /// Adds a CPU track sample (format 1.1). Samples go out just before the
    /// next chunk (or with [`flush`](Self::flush) and the footer): add them
    /// as time passes, in time order, and a reader has every sample up to
    /// the arrival of the messages it yields.
    pub fn add_cpu_sample(&mut self, sample: CpuSample) {
        self.cpu_pending.push(sample);
    }

    /// Adds a message; a full chunk is written out.
    pub fn write(&mut self, message: &Message) -> Result<(), TraceError> {
        codec::intern_message(&mut self.strings, message);
        self.pending.push(message.clone());
        if self.pending.len() >= self.chunk_messages || self.strings.bytes() >= CHUNK_STRING_BYTES {
            self.write_chunk()?;
        }
        Ok(())
    }

    /// Counts messages the producer lost; they are written with the next
    /// chunk and in the footer.
    pub fn add_dropped(&mut self, dropped: u64) {
        self.dropped_since_chunk += dropped;
        self.footer.dropped += dropped;
    }

    /// Sets the count of messages ES never delivered, for the footer.
    pub fn set_es_gaps(&mut self, gaps: u64) {
        self.footer.es_gaps = Some(gaps);
    }

    /// Sets the end-of-recording clock anchors for the footer.
    pub fn set_end(&mut self, end: ClockAnchor) {
        self.footer.end = Some(end);
    }

    /// Free-form facts for the footer.
    pub fn footer_meta(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.footer.meta
    }

    /// Messages written so far (including the pending chunk).
    pub fn messages_written(&self) -> u64 {
        self.footer.messages + self.pending.len() as u64
    }

    /// The output, as written so far.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Writes the pending chunk, if any, and the pending CPU samples, and
    /// flushes the output.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        if !self.pending.is_empty() || self.dropped_since_chunk > 0 {
            self.write_chunk()?;
        } else if !self.cpu_pending.is_empty() {
            self.start_frames()?;
            self.out.write_all(&self.frames)?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// Writes the pending chunk and the footer; returns the output.
    pub fn finish(mut self) -> Result<W, TraceError> {
        if !self.pending.is_empty() || self.dropped_since_chunk > 0 {
            self.write_chunk()?;
        }
        self.start_frames()?;
        codec::encode_footer(&self.footer, &mut self.scratch).map_err(encoding)?;
        push_frame(&mut self.frames, KIND_FOOTER, &self.scratch)?;
        self.out.write_all(&self.frames)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Starts the next write: a sync frame naming the chunk that follows,
    /// then the CPU samples pending.
    fn start_frames(&mut self) -> Result<(), TraceError> {
        self.frames.clear();
        let point = SyncPoint {
            chunk_index: self.footer.chunks,
            first_message: self.footer.messages,
        };
        push_frame(&mut self.frames, KIND_SYNC, &sync::encode_sync(point))?;
        for samples in self.cpu_pending.chunks(cpu::MAX_SAMPLES) {
            cpu::encode_cpu(self.cpu_period_ns, samples, &mut self.scratch).map_err(encoding)?;
            push_frame(&mut self.frames, KIND_CPU, &self.scratch)?;
        }
        self.cpu_pending.clear();
        Ok(())
    }

    fn write_chunk(&mut self) -> Result<(), TraceError> {
        self.start_frames()?;
        let chunk = ChunkOut {
            dropped: self.dropped_since_chunk,
            strings: &self.strings,
            messages: &self.pending,
        };
        codec::encode_chunk(&chunk, &mut self.scratch).map_err(encoding)?;
        push_frame(&mut self.frames, KIND_CHUNK, &self.scratch)?;
        self.out.write_all(&self.frames)?;
        self.out.flush()?;
        self.footer.messages += self.pending.len() as u64;
        self.footer.chunks += 1;
        self.pending.clear();
        self.strings.clear();
        self.dropped_since_chunk = 0;
        Ok(())
    }
}

/// A payload that could not be encoded, as the writer reports it.
fn encoding(error: CodecError) -> TraceError {
    TraceError::Encode(error.to_string())
}

/// Appends one frame to `frames` (written with a single `write_all`, so
/// that it lands whole or is cut at the end of the file).
fn push_frame(frames: &mut Vec<u8>, kind: u8, payload: &[u8]) -> Result<(), TraceError> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&len| len <= MAX_FRAME_LEN)
        .ok_or_else(|| {
            TraceError::Encode(format!(
                "frame of {} bytes exceeds the limit of {MAX_FRAME_LEN}",
                payload.len()
            ))
        })?;
    frames.push(kind);
    frames.extend_from_slice(&len.to_le_bytes());
    frames.extend_from_slice(&frame_crc(kind, payload).to_le_bytes());
    frames.extend_from_slice(payload);
    Ok(())
}
