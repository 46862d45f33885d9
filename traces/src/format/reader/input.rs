//! The reader's input: any `Read`, plus bytes put back in front of it (a
//! salvaging reader re-reads the bytes of a damaged frame while looking
//! for the next sync frame).

use std::io::{self, Read};

/// A `Read` with put-back bytes.
pub(super) struct Input<R> {
    inner: R,
    back: Vec<u8>,
    pos: usize,
}

impl<R> Input<R> {
    pub(super) fn new(inner: R) -> Input<R> {
        Input {
            inner,
            back: Vec::new(),
            pos: 0,
        }
    }

    /// Puts `parts` (in order) in front of what is left to read.
    pub(super) fn unread(&mut self, parts: &[&[u8]]) {
        let mut back: Vec<u8> = parts.concat();
        back.extend_from_slice(&self.back[self.pos..]);
        self.back = back;
        self.pos = 0;
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.back.len() {
            let n = buf.len().min(self.back.len() - self.pos);
            buf[..n].copy_from_slice(&self.back[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.back.len() {
                self.back.clear();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// How a read of exactly `buf.len()` bytes ended.
pub(super) enum Fill {
    Full,
    /// End of input after this many bytes (fewer than asked).
    Eof(usize),
}

pub(super) fn fill(input: &mut impl Read, buf: &mut [u8]) -> io::Result<Fill> {
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
