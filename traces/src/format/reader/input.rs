//! The reader's input: any `Read`, plus bytes put back in front of it (a
//! salvaging reader re-reads the bytes of a damaged frame while looking
//! for the next sync frame); and the buffer a frame's payload is read
//! into.

use std::io::{self, Read};

/// A `Read` with put-back bytes.
pub(super) struct Input<R> {
    inner: R,
    /// The put-back bytes, last to be read first: a stack, so that putting
    /// bytes back costs their length, not what is already there.
    back: Vec<u8>,
}

impl<R> Input<R> {
    pub(super) fn new(inner: R) -> Input<R> {
        Input {
            inner,
            back: Vec::new(),
        }
    }

    /// Puts `parts` (in order) in front of what is left to read.
    pub(super) fn unread(&mut self, parts: &[&[u8]]) {
        for part in parts.iter().rev() {
            self.back.extend(part.iter().rev());
        }
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.back.is_empty() {
            return self.inner.read(buf);
        }
        let n = buf.len().min(self.back.len());
        let rest = self.back.len() - n;
        for (slot, byte) in buf[..n].iter_mut().zip(self.back[rest..].iter().rev()) {
            *slot = *byte;
        }
        self.back.truncate(rest);
        Ok(n)
    }
}

/// A frame's payload, in a buffer that only grows: reading a frame zeroes
/// only bytes no earlier frame used (a chunk after a small sync frame
/// costs no clearing).
#[derive(Default)]
pub(super) struct Payload {
    buffer: Vec<u8>,
    len: usize,
}

impl Payload {
    /// The payload read last.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buffer[..self.len]
    }

    /// Empties the payload (the buffer stays).
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// The buffer's capacity (for tests of allocation limits).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.buffer.capacity()
    }

    /// Reads up to `len` bytes of `input` as the payload, allocating only
    /// as bytes arrive beyond the first MiB (a forged length costs
    /// nothing); how many were read (fewer at the end of the input).
    pub(super) fn read(&mut self, input: &mut impl Read, len: usize) -> io::Result<usize> {
        const EAGER: usize = 1 << 20;
        self.len = if len <= EAGER {
            if self.buffer.len() < len {
                self.buffer.resize(len, 0);
            }
            match fill(input, &mut self.buffer[..len])? {
                Fill::Full => len,
                Fill::Eof(got) => got,
            }
        } else {
            self.buffer.clear();
            input.take(len as u64).read_to_end(&mut self.buffer)?
        };
        Ok(self.len)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_back_bytes_come_first_in_order() {
        let mut input = Input::new(&b"xyz"[..]);
        let mut two = [0u8; 2];
        input.read_exact(&mut two).unwrap();
        input.unread(&[b"ab", b"c"]);
        input.unread(&[b"0"]);
        let mut rest = Vec::new();
        input.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"0abcz");
    }
}
