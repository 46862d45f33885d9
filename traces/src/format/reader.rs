//! [`TraceReader`]: a streaming iterator over a trace's messages, memory
//! O(chunk).
//!
//! A file cut short (the likely death of a recorder) is not an error: the
//! iterator yields every complete chunk and ends, and [`ReadSummary`] says
//! how many bytes were lost and that the footer is missing. Damage is an
//! error naming the frame and its byte offset: a frame that fails its CRC
//! or does not decode, a chunk duplicated, swapped or missing (1.1 sync
//! frames; in 1.0 the footer's counts), a footer whose counts differ from
//! what the file holds, a frame after the footer, a length field that runs
//! past the end of the file while a valid frame follows. In salvage mode
//! damage is counted instead, and in a 1.1 file the reader re-finds the next
//! sync frame byte by byte, counting the bytes it skips.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::codec::{self, Fields, cpu, sync};
use super::{
    FRAME_HEADER_LEN, FrameHeader, KIND_CHUNK, KIND_CPU, KIND_FOOTER, KIND_HEADER, KIND_SYNC,
    PREAMBLE_LEN, TraceError, frame_crc, parse_frame_header, parse_preamble,
};
use crate::cpu::CpuTrack;
use crate::model::{Footer, Header, Message};

mod input;
mod scan;

use input::{Fill, Input, Payload, fill};
use sync::SyncPoint;

/// What a read found, beyond the messages: complete once the iterator ends.
///
/// Commands that gate or decide should refuse a trace that is not
/// [`is_intact`](ReadSummary::is_intact) unless told otherwise, and say
/// [`lost_messages`](ReadSummary::lost_messages).
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
    /// Chunks skipped in salvage mode (bad CRC, undecodable, duplicated).
    pub skipped_chunks: u64,
    /// Frames of kinds this version does not know, skipped.
    pub unknown_frames: u64,
    /// Bytes at the end that did not form a complete frame.
    pub truncated_bytes: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Whether the reader reached the end of the input.
    pub finished: bool,
    /// Damage found: frames that failed a check, chunks out of place,
    /// footer counts that disagree (each one an error without salvage).
    pub damage: u64,
    /// The first damage, in words (offset and reason).
    pub first_damage: Option<String>,
    /// Bytes inside the file skipped while resynchronising (salvage).
    pub garbage_bytes: u64,
    /// Chunks known to be missing: the footer's count less the chunks
    /// read, or (no footer) the gaps the sync frames show.
    pub lost_chunks: u64,
    /// Messages known to be missing, likewise.
    pub lost_messages: u64,
    /// Whether `lost_chunks` and `lost_messages` are exact (a footer
    /// vouches for the totals); else they are lower bounds.
    pub loss_exact: bool,
    /// The read ended with the footer, every count agrees, nothing was
    /// damaged, skipped or cut off.
    pub complete: bool,
}

impl ReadSummary {
    /// Whether the trace was read whole and undamaged: footer present and
    /// agreeing, no damage, no bytes lost. Valid once the iterator ended.
    pub fn is_intact(&self) -> bool {
        self.complete
    }

    /// Messages known to be lost, and whether that count is exact (`false`:
    /// a lower bound, e.g. a trace cut short has lost an unknown tail).
    pub fn lost_messages(&self) -> (u64, bool) {
        (self.lost_messages, self.loss_exact)
    }
}

/// Reads a trace as an iterator of messages.
pub struct TraceReader<R: Read> {
    input: Input<R>,
    header: Header,
    footer: Option<Footer>,
    summary: ReadSummary,
    salvage: bool,
    /// What decoded messages carry ([`TraceReader::fields`]).
    fields: Fields,
    current: std::vec::IntoIter<Message>,
    /// A batch given back ([`TraceReader::recycle`]): the next chunk is
    /// decoded into its allocation.
    spare: Vec<Message>,
    head: [u8; FRAME_HEADER_LEN],
    payload: Payload,
    done: bool,
    /// The file has sync frames (format ≥ 1.1).
    synced: bool,
    /// The chunk expected next.
    expect: SyncPoint,
    /// A sync frame read and not yet followed by its chunk.
    pending_sync: Option<SyncPoint>,
    /// Salvage: the next chunk is a duplicate, skip it.
    skip_next_chunk: bool,
    /// Gaps the sync frames showed (salvage), for a trace without footer.
    gap: SyncPoint,
    /// A chunk was skipped since the last sync: the next gap is no news.
    gap_explained: bool,
    /// Bytes of damaged frames put back to be scanned again (salvage).
    reread: u64,
    cpu: CpuTrack,
}

impl TraceReader<BufReader<File>> {
    /// Opens a trace file and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        TraceReader::new(BufReader::with_capacity(1 << 16, File::open(path)?))
    }
}

/// How reading one frame ended.
enum Frame {
    /// A frame whose length and CRC check; payload in `self.payload`.
    Ok(FrameHeader),
    /// End of input at a frame boundary, or inside a frame (truncated).
    End,
    /// A frame that fails its checks: its bytes are consumed.
    Bad(String),
    /// A length running past the end of the file, with a valid frame
    /// `at` bytes into the tail `tail` (consumed).
    Overrun { tail: Vec<u8>, at: usize },
}

const ORIGIN: SyncPoint = SyncPoint {
    chunk_index: 0,
    first_message: 0,
};

impl<R: Read> TraceReader<R> {
    /// Reads and checks the preamble and the header.
    pub fn new(input: R) -> Result<Self, TraceError> {
        let mut input = Input::new(input);
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
            fields: Fields::All,
            current: Vec::new().into_iter(),
            spare: Vec::new(),
            head: [0; FRAME_HEADER_LEN],
            payload: Payload::default(),
            done: false,
            synced: version.1 >= 1,
            expect: ORIGIN,
            pending_sync: None,
            skip_next_chunk: false,
            gap: ORIGIN,
            gap_explained: false,
            reread: 0,
            cpu: CpuTrack::default(),
        };
        reader.header = reader.read_header()?;
        Ok(reader)
    }

    /// In salvage mode damage is skipped and counted, not an error.
    pub fn salvage(mut self, salvage: bool) -> Self {
        self.salvage = salvage;
        self
    }

    /// Decode only `fields` of every message: [`Fields::Timing`] leaves the
    /// strings (paths, signing and team ids) and the boxed details out and
    /// allocates nothing per message (thread id, response time and the
    /// ES-client flag stay), for readers that never look at the rest
    /// (simulations). Errors and losses are the same either way.
    pub fn fields(mut self, fields: Fields) -> Self {
        self.fields = fields;
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

    /// The CPU track read so far: every sample written before the chunk of
    /// the last message yielded (so every sample with a time up to that
    /// message's arrival, for a writer that adds samples as time passes);
    /// the whole track once the iterator has ended. Empty for a trace
    /// without one (and for every 1.0 trace).
    pub fn cpu_track(&self) -> &CpuTrack {
        &self.cpu
    }

    /// The capacity of the payload buffer (for tests of allocation limits).
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.payload.capacity()
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
            Frame::End => Err(TraceError::TruncatedHeader {
                len: self.summary.bytes_read + self.summary.truncated_bytes,
            }),
            Frame::Bad(reason) => Err(corrupt(reason)),
            Frame::Overrun { .. } => Err(corrupt("length runs past the end of the file".into())),
            Frame::Ok(frame) if frame.kind != KIND_HEADER => {
                Err(corrupt(format!("first frame has kind {}", frame.kind)))
            }
            Frame::Ok(_) => {
                codec::decode_header(self.payload.bytes()).map_err(|e| corrupt(e.to_string()))
            }
        }
    }

    /// Reads one frame into `self.head` and `self.payload`.
    fn read_frame(&mut self) -> Result<Frame, TraceError> {
        match fill(&mut self.input, &mut self.head)? {
            Fill::Full => {}
            Fill::Eof(len) => {
                self.summary.truncated_bytes += len as u64;
                return Ok(Frame::End);
            }
        }
        self.summary.bytes_read += FRAME_HEADER_LEN as u64;
        let frame = match parse_frame_header(&self.head) {
            Ok(frame) => frame,
            Err(reason) => {
                self.payload.clear();
                return Ok(Frame::Bad(reason));
            }
        };
        let got = self.payload.read(&mut self.input, frame.len as usize)?;
        if got < frame.len as usize {
            self.summary.bytes_read -= FRAME_HEADER_LEN as u64;
            let mut tail = self.head.to_vec();
            tail.extend_from_slice(self.payload.bytes());
            if let Some(at) = scan::frame_in_tail(&tail, self.synced) {
                self.summary.bytes_read += tail.len() as u64;
                return Ok(Frame::Overrun { tail, at });
            }
            self.summary.truncated_bytes += tail.len() as u64;
            return Ok(Frame::End);
        }
        self.summary.bytes_read += got as u64;
        if frame_crc(frame.kind, self.payload.bytes()) != frame.crc {
            return Ok(Frame::Bad("CRC mismatch".to_owned()));
        }
        Ok(Frame::Ok(frame))
    }

    /// Reads frames until a chunk with messages, the footer or the end.
    fn next_chunk(&mut self) -> Result<(), TraceError> {
        loop {
            let offset = self.summary.bytes_read;
            match self.read_frame()? {
                Frame::End => return self.end(),
                Frame::Bad(reason) => self.bad_frame(offset, reason)?,
                Frame::Overrun { tail, at } => self.overrun(offset, tail, at)?,
                Frame::Ok(frame) => {
                    if self.frame(frame.kind, offset)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Handles a frame that checks; `true` when a chunk with messages is
    /// ready.
    fn frame(&mut self, kind: u8, offset: u64) -> Result<bool, TraceError> {
        if self.footer.is_some() {
            self.damage(
                "footer",
                offset,
                format!("a frame of kind {kind} after the footer"),
            )?;
            return Ok(false);
        }
        match kind {
            KIND_HEADER => self.damage("header", offset, "a second header".into())?,
            KIND_SYNC => match sync::decode_sync(self.payload.bytes()) {
                Ok(point) => self.sync(point, offset)?,
                Err(error) => self.bad_payload("sync frame", offset, error.to_string())?,
            },
            KIND_CPU => match cpu::decode_cpu(self.payload.bytes()) {
                Ok(frame) => {
                    self.cpu.period_ns = frame.period_ns;
                    self.cpu.samples.extend(frame.samples);
                }
                Err(error) => self.bad_payload("CPU track", offset, error.to_string())?,
            },
            KIND_CHUNK => return self.chunk(offset),
            KIND_FOOTER => match codec::decode_footer(self.payload.bytes()) {
                Ok(footer) => self.check_footer(footer, offset)?,
                Err(error) => self.bad_payload("footer", offset, error.to_string())?,
            },
            _ => self.summary.unknown_frames += 1,
        }
        Ok(false)
    }

    /// Checks a sync frame against the chunk expected.
    fn sync(&mut self, point: SyncPoint, offset: u64) -> Result<(), TraceError> {
        let expect = self.expect;
        if point >= expect {
            // A chunk named by an earlier duplicate sync frame never came.
            self.skip_next_chunk = false;
        }
        if point == expect {
            self.gap_explained = false;
            self.pending_sync = Some(point);
            return Ok(());
        }
        if point.chunk_index > expect.chunk_index && point.first_message >= expect.first_message {
            let missing = point.chunk_index - expect.chunk_index;
            if !std::mem::take(&mut self.gap_explained) {
                self.damage(
                    "chunk",
                    offset,
                    format!(
                        "chunk {} where chunk {} was expected: {missing} chunks ({} messages) missing",
                        point.chunk_index,
                        expect.chunk_index,
                        point.first_message - expect.first_message
                    ),
                )?;
            }
            self.gap.chunk_index += missing;
            self.gap.first_message += point.first_message - expect.first_message;
            self.expect = point;
            self.pending_sync = Some(point);
            return Ok(());
        }
        self.damage(
            "chunk",
            offset,
            format!(
                "chunk {} (first message {}) where chunk {} (first message {}) was expected: duplicated or out of order",
                point.chunk_index, point.first_message, expect.chunk_index, expect.first_message
            ),
        )?;
        self.skip_next_chunk = true;
        Ok(())
    }

    /// Decodes a chunk frame; `true` when it has messages to yield.
    fn chunk(&mut self, offset: u64) -> Result<bool, TraceError> {
        if self.skip_next_chunk {
            self.skip_next_chunk = false;
            self.summary.skipped_chunks += 1;
            return Ok(false);
        }
        if self.synced && self.pending_sync.take().is_none() {
            self.damage("chunk", offset, "a chunk without its sync frame".into())?;
            self.chunk_lost();
            return Ok(false);
        }
        let spare = std::mem::take(&mut self.spare);
        let chunk = match codec::decode_chunk_into(self.payload.bytes(), self.fields, spare) {
            Ok(chunk) => chunk,
            Err(error) => {
                self.bad_payload("chunk", offset, error.to_string())?;
                return Ok(false);
            }
        };
        self.summary.chunks += 1;
        self.summary.dropped += chunk.dropped;
        self.expect.chunk_index += 1;
        self.expect.first_message += chunk.messages.len() as u64;
        self.current = chunk.messages.into_iter();
        Ok(self.current.len() > 0)
    }

    /// Checks the footer's counts against what was read.
    fn check_footer(&mut self, footer: Footer, offset: u64) -> Result<(), TraceError> {
        let claimed = (footer.messages, footer.chunks);
        let read = (
            self.summary.messages + self.current.len() as u64,
            self.summary.chunks,
        );
        self.footer = Some(footer);
        if self.synced && self.pending_sync.take().is_none() {
            self.damage("footer", offset, "a footer without its sync frame".into())?;
        }
        if claimed != read {
            self.damage(
                "footer",
                offset,
                format!(
                    "the footer says {} messages in {} chunks, the file holds {} in {}",
                    claimed.0, claimed.1, read.0, read.1
                ),
            )?;
        }
        Ok(())
    }

    /// A frame whose CRC checks but whose payload does not decode.
    fn bad_payload(
        &mut self,
        what: &'static str,
        offset: u64,
        reason: String,
    ) -> Result<(), TraceError> {
        let result = self.damage(what, offset, reason);
        if what == "chunk" {
            self.pending_sync = None;
            self.chunk_lost();
        }
        result
    }

    /// Counts a chunk frame skipped; a 1.0 file counts it as read so that
    /// later chunk indices stay right, a 1.1 file waits for the next sync.
    fn chunk_lost(&mut self) {
        self.summary.skipped_chunks += 1;
        if self.synced {
            self.gap_explained = true;
        } else {
            self.expect.chunk_index += 1;
        }
    }

    /// A frame that fails its length or CRC check: in salvage mode, the
    /// reader goes on from the next sync frame (1.1) or after the frame.
    fn bad_frame(&mut self, offset: u64, reason: String) -> Result<(), TraceError> {
        let what = match self.head[0] {
            KIND_FOOTER => "footer",
            KIND_SYNC => "sync frame",
            KIND_CPU => "CPU track",
            _ => "chunk",
        };
        self.damage(what, offset, reason)?;
        if what == "chunk" {
            self.chunk_lost();
        }
        if self.synced {
            // Bytes are read again after a damaged frame: bounded, so that
            // crafted nests of long frames cannot make salvage quadratic.
            self.reread += self.payload.bytes().len() as u64;
            if self.reread > 8 * self.summary.bytes_read + (1 << 26) {
                return self.give_up();
            }
            let (head, payload) = (self.head, std::mem::take(&mut self.payload));
            self.unread(&[&head[1..], payload.bytes()]);
            self.summary.garbage_bytes += 1;
            self.payload = payload;
            return self.resync();
        }
        self.summary.garbage_bytes += (FRAME_HEADER_LEN + self.payload.bytes().len()) as u64;
        Ok(())
    }

    /// A length past the end of the file with a valid frame after it.
    fn overrun(&mut self, offset: u64, tail: Vec<u8>, at: usize) -> Result<(), TraceError> {
        self.damage(
            "chunk",
            offset,
            format!(
                "frame length runs past the end of the file, but a valid frame follows at byte offset {}",
                offset + at as u64
            ),
        )?;
        self.chunk_lost();
        self.unread(&[&tail[at..]]);
        self.summary.garbage_bytes += at as u64;
        Ok(())
    }

    /// Puts bytes back in front of the input (they were read already).
    fn unread(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        self.summary.bytes_read -= len as u64;
        self.input.unread(parts);
    }

    /// Salvage stops resynchronising: the rest of the input is garbage.
    fn give_up(&mut self) -> Result<(), TraceError> {
        let offset = self.summary.bytes_read;
        self.damage(
            "chunk",
            offset,
            "too much damage: salvage stops resynchronising here".into(),
        )?;
        self.summary.garbage_bytes += (FRAME_HEADER_LEN + self.payload.bytes().len()) as u64;
        let rest = io::copy(&mut self.input, &mut io::sink())?;
        self.summary.bytes_read += rest;
        self.summary.garbage_bytes += rest;
        self.end()
    }

    /// Skips to the next valid sync frame, counting the bytes skipped.
    fn resync(&mut self) -> Result<(), TraceError> {
        let (skipped, found) = scan::to_next_sync(&mut self.input)?;
        self.summary.bytes_read += skipped;
        self.summary.garbage_bytes += skipped;
        if !found {
            self.end()?;
        }
        Ok(())
    }

    /// Counts damage; an error unless salvaging.
    fn damage(
        &mut self,
        what: &'static str,
        offset: u64,
        reason: String,
    ) -> Result<(), TraceError> {
        self.summary.damage += 1;
        if self.summary.first_damage.is_none() {
            self.summary.first_damage = Some(format!("{what} at byte offset {offset}: {reason}"));
        }
        if self.salvage {
            return Ok(());
        }
        self.done = true;
        Err(TraceError::Corrupt {
            what,
            index: if what == "chunk" {
                self.expect.chunk_index
            } else {
                0
            },
            offset,
            reason,
        })
    }

    fn end(&mut self) -> Result<(), TraceError> {
        self.done = true;
        self.summary.finished = true;
        let summary = &mut self.summary;
        match &self.footer {
            Some(footer) => {
                summary.lost_chunks = footer.chunks.saturating_sub(summary.chunks);
                summary.lost_messages = footer.messages.saturating_sub(summary.messages);
                summary.loss_exact = true;
                summary.complete = footer.messages == summary.messages
                    && footer.chunks == summary.chunks
                    && summary.damage == 0
                    && summary.truncated_bytes == 0
                    && summary.garbage_bytes == 0;
            }
            None if self.synced => {
                summary.lost_chunks = self.gap.chunk_index;
                summary.lost_messages = self.gap.first_message;
            }
            None => summary.lost_chunks = summary.skipped_chunks,
        }
        Ok(())
    }
}

/// Reads the whole CPU track of a seekable trace without decoding any
/// chunk (it seeks past them): for a consumer that wants the track before
/// it streams the messages. Frames are checked (CRC) only when they are
/// CPU frames; the header is skipped. A 1.0 trace has an empty track.
pub fn read_cpu_track<R: Read + Seek>(input: R) -> Result<CpuTrack, TraceError> {
    let mut track = CpuTrack::default();
    walk_frames(input, KIND_CPU, "CPU track", |payload| {
        let decoded = cpu::decode_cpu(payload).map_err(|e| e.to_string())?;
        track.period_ns = decoded.period_ns;
        track.samples.extend(decoded.samples);
        Ok(())
    })?;
    Ok(track)
}

/// Reads the footer of a seekable trace without decoding any chunk (it
/// seeks past them): what its writer counted (messages, chunks, drops),
/// for a consumer that wants to know before it streams the messages
/// (`sweep`, whether the trace fits its copy in memory). `None` when the
/// writer did not finish. Only the footer frame is checked (CRC), so a
/// footer says nothing of the chunks: a streaming read checks them.
pub fn read_footer<R: Read + Seek>(input: R) -> Result<Option<Footer>, TraceError> {
    let mut footer = None;
    walk_frames(input, KIND_FOOTER, "footer", |payload| {
        footer = Some(codec::decode_footer(payload).map_err(|e| e.to_string())?);
        Ok(())
    })?;
    Ok(footer)
}

/// Gives `each` the payload of every frame of `kind` in a seekable trace,
/// checked (CRC), in file order, seeking past the other frames; a frame
/// cut short ends the walk (the frames before stand). `what` names the
/// frames in errors.
fn walk_frames<R: Read + Seek>(
    mut input: R,
    kind: u8,
    what: &'static str,
    mut each: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), TraceError> {
    let mut preamble = [0u8; PREAMBLE_LEN];
    input.read_exact(&mut preamble)?;
    parse_preamble(&preamble)?;
    let mut offset = PREAMBLE_LEN as u64;
    let mut head = [0u8; FRAME_HEADER_LEN];
    let mut payload = Vec::new();
    while let Fill::Full = fill(&mut input, &mut head)? {
        let at = offset;
        let corrupt = move |reason: String| TraceError::Corrupt {
            what,
            index: 0,
            offset: at,
            reason,
        };
        let frame = parse_frame_header(&head).map_err(corrupt)?;
        offset += (FRAME_HEADER_LEN as u64) + u64::from(frame.len);
        if frame.kind != kind {
            input.seek(SeekFrom::Start(offset))?;
            continue;
        }
        payload.clear();
        (&mut input)
            .take(u64::from(frame.len))
            .read_to_end(&mut payload)?;
        if payload.len() < frame.len as usize {
            break; // cut short
        }
        if frame_crc(kind, &payload) != frame.crc {
            return Err(corrupt("CRC mismatch".into()));
        }
        each(&payload).map_err(corrupt)?;
    }
    Ok(())
}

impl<R: Read> TraceReader<R> {
    /// The messages of the next chunk at once, moved out of the decoder:
    /// what [`Iterator::next`] would yield one by one up to that chunk's
    /// end (the rest of the current chunk, if the iterator stopped inside
    /// one). `None` at the end; errors, losses and the summary as `next`
    /// gives them.
    pub fn next_batch(&mut self) -> Option<Result<Vec<Message>, TraceError>> {
        if let Err(error) = self.ready()? {
            return Some(Err(error));
        }
        let batch: Vec<Message> = std::mem::take(&mut self.current).collect();
        self.summary.messages += batch.len() as u64;
        Some(Ok(batch))
    }

    /// Gives back a batch from [`TraceReader::next_batch`] that the caller
    /// is done with: a later chunk is decoded into its allocation, over
    /// its messages (each dropped as it is overwritten; the larger batch
    /// is kept). What is read is the same with or without.
    pub fn recycle(&mut self, batch: Vec<Message>) {
        if batch.capacity() > self.spare.capacity() {
            self.spare = batch;
        }
    }

    /// Decodes chunks until one has messages left: `None` at the end.
    fn ready(&mut self) -> Option<Result<(), TraceError>> {
        while self.current.len() == 0 {
            if self.done {
                return None;
            }
            if let Err(error) = self.next_chunk() {
                return Some(Err(error));
            }
        }
        Some(Ok(()))
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Message, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(message) = self.current.next() {
                self.summary.messages += 1;
                return Some(Ok(message));
            }
            if let Err(error) = self.ready()? {
                return Some(Err(error));
            }
        }
    }
}
