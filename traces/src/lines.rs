//! Reading text one line at a time with a bound on the line length, so
//! that a file without newlines is an error, not an allocation the size of
//! the file. Shared by the JSONL and eslogger importers.

use std::io::{self, BufRead, Read};

/// A line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line is longer than the limit; reading stops there.
    #[error("line {line}: longer than {max} bytes")]
    TooLong {
        /// 1-based line number.
        line: u64,
        /// The limit.
        max: usize,
    },
    /// The input failed.
    #[error("reading line {line}: {source}")]
    Io {
        /// 1-based line number.
        line: u64,
        /// The I/O error.
        source: io::Error,
    },
}

/// Lines of at most `max` bytes (without the newline), read into one
/// reused buffer.
pub struct BoundedLines<R> {
    input: R,
    max: usize,
    line: u64,
    bytes: u64,
    failed: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> BoundedLines<R> {
    /// Reads lines of at most `max` bytes from `input`.
    pub fn new(input: R, max: usize) -> Self {
        BoundedLines {
            input,
            max,
            line: 0,
            bytes: 0,
            failed: false,
            buf: Vec::new(),
        }
    }

    /// Bytes consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The next line's 1-based number and bytes (without `\n` or `\r\n`),
    /// or `None` at the end. After an error, always `None`.
    pub fn next_line(&mut self) -> Option<Result<(u64, &[u8]), LineError>> {
        if self.failed {
            return None;
        }
        self.line += 1;
        self.buf.clear();
        // +2: room for the newline (and a \r) of a line exactly at the limit.
        let limit = self.max as u64 + 2;
        match (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
        {
            Ok(0) => None,
            Ok(read) => {
                self.bytes += read as u64;
                let text = trim_newline(&self.buf);
                if text.len() > self.max {
                    self.failed = true;
                    return Some(Err(LineError::TooLong {
                        line: self.line,
                        max: self.max,
                    }));
                }
                Some(Ok((self.line, text)))
            }
            Err(source) => {
                self.failed = true;
                Some(Err(LineError::Io {
                    line: self.line,
                    source,
                }))
            }
        }
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &[u8], max: usize) -> Vec<Result<(u64, Vec<u8>), String>> {
        let mut lines = BoundedLines::new(text, max);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line() {
            out.push(
                line.map(|(n, l)| (n, l.to_vec()))
                    .map_err(|e| e.to_string()),
            );
        }
        out
    }

    #[test]
    fn numbers_lines_and_strips_newlines() {
        let lines = collect(b"a\r\nbb\n\nccc", 3);
        let expected: Vec<Result<(u64, Vec<u8>), String>> = vec![
            Ok((1, b"a".to_vec())),
            Ok((2, b"bb".to_vec())),
            Ok((3, b"".to_vec())),
            Ok((4, b"ccc".to_vec())),
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn a_long_line_is_an_error_and_ends_the_reading() {
        let lines = collect(b"ok\nthis is too long\nok\n", 5);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], Err("line 2: longer than 5 bytes".to_owned()));
        let endless = io::repeat(b'x').take(1 << 24);
        let mut reader = BoundedLines::new(io::BufReader::new(endless), 1000);
        assert!(matches!(
            reader.next_line(),
            Some(Err(LineError::TooLong { .. }))
        ));
        assert!(reader.next_line().is_none());
    }
}
