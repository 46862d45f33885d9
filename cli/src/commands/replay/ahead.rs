//! Reading ahead: a trace decoded on a thread of its own while one
//! simulation runs on the caller's, so that on two cores a run takes the
//! engine's time, not the engine's plus the decoder's.
//!
//! The reader thread sends each decoded chunk (a `Vec<Message>` moved
//! through the channel, never copied or shared) and then the first error,
//! if any, through a channel holding at most [`IN_FLIGHT`] chunks, and
//! stops. [`ReadAhead`] yields the messages in file order and the error
//! where the reader met it, exactly as the [`TraceReader`] itself would;
//! once drained, [`ReadAhead::finish`] gives the reader back for what the
//! read found (losses, completeness). A consumer that stops early drops
//! the channel, and the reader thread ends at its next chunk.
//!
//! A consumer of whole batches hands each back when done
//! ([`ReadAhead::recycle`]): the reader thread decodes a later chunk over
//! it, dropping its messages as it goes, so the consumer's thread drops no
//! message and frees no batch, and the reader's allocates no batch once
//! [`IN_FLIGHT`] + 2 are out.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use esreplay_traces::{Message, TraceError, TraceReader};

/// Decoded chunks waiting for the consumer, at most.
const IN_FLIGHT: usize = 2;

/// A chunk's messages, or the error that ended the read.
type Batch = Result<Vec<Message>, TraceError>;

/// A trace's messages, decoded ahead on another thread.
pub(in crate::commands) struct ReadAhead<R: Read> {
    batches: Receiver<Batch>,
    /// Batches handed back, for the reader thread to reuse.
    spares: SyncSender<Vec<Message>>,
    current: std::vec::IntoIter<Message>,
    reader: JoinHandle<TraceReader<R>>,
}

impl<R: Read + Send + 'static> ReadAhead<R> {
    /// Starts decoding `reader` on a new thread (an error if the system
    /// has no thread to give).
    pub(in crate::commands) fn spawn(reader: TraceReader<R>) -> std::io::Result<Self> {
        let (sender, batches) = sync_channel(IN_FLIGHT);
        // Room for every batch that can be out at once.
        let (spares, returned) = sync_channel(IN_FLIGHT + 2);
        let reader = std::thread::Builder::new()
            .name("trace reader".into())
            .spawn(move || decode(reader, sender, returned))?;
        Ok(ReadAhead {
            batches,
            spares,
            current: Vec::new().into_iter(),
            reader,
        })
    }
}

impl<R: Read> ReadAhead<R> {
    /// The rest of the current chunk, or the next chunk whole; then the
    /// error, if any; `None` at the end (as [`TraceReader::next_batch`]).
    pub(in crate::commands) fn next_batch(&mut self) -> Option<Result<Vec<Message>, TraceError>> {
        if self.current.len() > 0 {
            return Some(Ok(std::mem::take(&mut self.current).collect()));
        }
        self.batches.recv().ok()
    }

    /// Hands back a batch from [`ReadAhead::next_batch`] that the caller
    /// is done with, for the reader thread to drop and reuse (dropped
    /// here only if the reader has gone or holds enough already).
    pub(in crate::commands) fn recycle(&self, batch: Vec<Message>) {
        drop(self.spares.try_send(batch));
    }

    /// The reader, once the iterator has ended (its summary is then
    /// complete). A panic of the reader thread is passed on.
    pub(in crate::commands) fn finish(self) -> TraceReader<R> {
        drop(self.batches);
        self.reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// The reader thread: every chunk, then the first error; stops when the
/// consumer has gone. Each chunk is decoded into a batch handed back, if
/// one has come back: those are kept until used, so no more batches are
/// ever allocated than can be out at once.
fn decode<R: Read>(
    mut reader: TraceReader<R>,
    sender: SyncSender<Batch>,
    returned: Receiver<Vec<Message>>,
) -> TraceReader<R> {
    // In the order they came back, so that every one is used in turn.
    let mut spares = VecDeque::new();
    loop {
        spares.extend(returned.try_iter());
        if let Some(spare) = spares.pop_front() {
            reader.recycle(spare);
        }
        let Some(batch) = reader.next_batch() else {
            break;
        };
        let failed = batch.is_err();
        if sender.send(batch).is_err() || failed {
            break;
        }
    }
    reader
}

impl<R: Read> Iterator for ReadAhead<R> {
    type Item = Result<Message, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(message) = self.current.next() {
                return Some(Ok(message));
            }
            match self.next_batch()? {
                Ok(batch) => self.current = batch.into_iter(),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use esreplay_traces::{Action, EventType, Header, TraceWriter};

    use super::*;

    /// A trace of 20 chunks of 100 messages, cut inside its last one.
    fn cut_trace() -> Vec<u8> {
        let header = Header::default();
        let mut writer = TraceWriter::new(Vec::new(), &header)
            .unwrap()
            .with_chunk_messages(100);
        for i in 0..2_000 {
            let message = Message::new(i, EventType::AUTH_OPEN, Action::Auth, i * 10);
            writer.write(&message).unwrap();
        }
        let mut bytes = writer.finish().unwrap();
        bytes.truncate(bytes.len() - 100);
        bytes
    }

    #[test]
    fn reading_ahead_yields_what_the_reader_yields_and_stops_with_its_consumer() {
        let bytes = cut_trace();
        let open = || TraceReader::new(Cursor::new(bytes.clone())).unwrap();
        let words = |item: Result<Message, TraceError>| item.map_err(|e| e.to_string());
        let mut direct = open();
        let want: Vec<_> = direct.by_ref().map(words).collect();
        let mut ahead = ReadAhead::spawn(open()).unwrap();
        let got: Vec<_> = ahead.by_ref().map(words).collect();
        assert_eq!(want.len(), 1_900, "whole chunks");
        assert_eq!(got, want);
        let summary = ahead.finish().summary().clone();
        assert_eq!(&summary, direct.summary());
        assert!(summary.truncated_bytes > 0 && !summary.is_intact());
        // A consumer that stops after one message: the reader stops too.
        let mut ahead = ReadAhead::spawn(open()).unwrap();
        assert!(ahead.next().is_some_and(|m| m.is_ok()));
        let decoded = ahead.finish().summary().messages;
        assert!(decoded <= 100 * (IN_FLIGHT as u64 + 2), "{decoded}");
    }

    #[test]
    fn batches_handed_back_are_refilled_with_what_comes_next() {
        let bytes = cut_trace();
        let open = || TraceReader::new(Cursor::new(bytes.clone())).unwrap();
        let mut direct = open();
        let want: Vec<_> = direct
            .by_ref()
            .map(|item| item.map_err(|e| e.to_string()))
            .collect();
        let mut ahead = ReadAhead::spawn(open()).unwrap();
        // A batch of another trace's messages, with room for 1 000: a
        // later chunk (of 100) is decoded into it, over those messages.
        let mut other = Vec::with_capacity(1_000);
        other.resize(
            300,
            Message::new(7, EventType::AUTH_EXEC, Action::Notify, 9),
        );
        ahead.recycle(other);
        let mut got = Vec::new();
        let mut refilled = 0;
        while let Some(batch) = ahead.next_batch() {
            match batch {
                Ok(batch) => {
                    refilled += usize::from(batch.capacity() >= 1_000);
                    got.extend(batch.iter().cloned().map(Ok));
                    ahead.recycle(batch);
                }
                Err(error) => got.push(Err(error.to_string())),
            }
        }
        assert_eq!(got, want);
        assert_eq!(ahead.finish().summary(), direct.summary());
        assert!(refilled >= 1, "the batch handed back never came back");
    }
}
