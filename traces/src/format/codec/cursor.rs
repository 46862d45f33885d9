//! [`Cursor`]: reads a chunk payload in bincode's standard encoding (see
//! [`super`]) for the chunk decoder, the one loop that runs per message.
//!
//! The same bytes as bincode's decoder, a fraction of the instructions: a
//! one-byte varint is one compare and one step, and strings are borrowed
//! from the payload instead of copied. Errors are bincode's own
//! [`DecodeError`]s (an end of input says how many bytes were missing, a
//! tag too wide for the integer says which), so a reason reads as before.

use bincode::error::{DecodeError, IntegerType};

/// The largest value a varint holds in its tag byte.
const SINGLE_BYTE_MAX: u8 = 250;

/// A position in a payload: the bytes left as a slice iterator (a pointer
/// and an end), so that a one-byte step moves one pointer.
pub(super) struct Cursor<'a> {
    rest: std::slice::Iter<'a, u8>,
    len: usize,
}

impl<'a> Cursor<'a> {
    /// At the start of `payload`.
    pub(super) fn new(payload: &'a [u8]) -> Cursor<'a> {
        Cursor {
            rest: payload.iter(),
            len: payload.len(),
        }
    }

    /// The whole payload's length (the bound for every count in it).
    pub(super) fn payload_len(&self) -> usize {
        self.len
    }

    /// Bytes not read yet.
    pub(super) fn left(&self) -> usize {
        self.rest.len()
    }

    /// The next `len` bytes, borrowed.
    pub(super) fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let rest = self.rest.as_slice();
        if len > rest.len() {
            return Err(DecodeError::UnexpectedEnd {
                additional: len - rest.len(),
            });
        }
        let (taken, rest) = rest.split_at(len);
        self.rest = rest.iter();
        Ok(taken)
    }

    /// A raw byte (bincode's `u8`, and a `bool` as 0 or 1).
    #[inline(always)]
    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        match self.rest.next() {
            Some(&byte) => Ok(byte),
            None => Err(DecodeError::UnexpectedEnd { additional: 1 }),
        }
    }

    /// A varint of at most `width` ([`IntegerType::U16`], `U32` or `U64`):
    /// decoded inline when whole and of its width, else by
    /// [`Cursor::wide_varint`] (which also finds the error).
    #[inline(always)]
    fn varint(&mut self, width: IntegerType) -> Result<u64, DecodeError> {
        let mut after = self.rest.clone();
        if let Some(&tag) = after.next() {
            if tag <= SINGLE_BYTE_MAX {
                self.rest = after;
                return Ok(u64::from(tag));
            }
            let rest = after.as_slice();
            let wide = match tag {
                251 => rest
                    .split_first_chunk::<2>()
                    .map(|(bytes, rest)| (u64::from(u16::from_le_bytes(*bytes)), rest)),
                252 if width != IntegerType::U16 => rest
                    .split_first_chunk::<4>()
                    .map(|(bytes, rest)| (u64::from(u32::from_le_bytes(*bytes)), rest)),
                253 if width == IntegerType::U64 => rest
                    .split_first_chunk::<8>()
                    .map(|(bytes, rest)| (u64::from_le_bytes(*bytes), rest)),
                _ => None,
            };
            if let Some((value, rest)) = wide {
                self.rest = rest.iter();
                return Ok(value);
            }
        }
        self.wide_varint(width)
    }

    /// A varint read step by step, as bincode's slow path does: for input
    /// the inline path refuses (cut short, or a tag too wide), the error.
    #[cold]
    #[inline(never)]
    fn wide_varint(&mut self, width: IntegerType) -> Result<u64, DecodeError> {
        let tag = self.u8()?;
        let (bytes, found) = match tag {
            0..=SINGLE_BYTE_MAX => return Ok(u64::from(tag)),
            251 => (2, IntegerType::U16),
            252 => (4, IntegerType::U32),
            253 => (8, IntegerType::U64),
            254 => (16, IntegerType::U128),
            _ => (0, IntegerType::Reserved),
        };
        let fits = match width {
            IntegerType::U16 => bytes == 2,
            IntegerType::U32 => bytes == 2 || bytes == 4,
            _ => (2..=8).contains(&bytes),
        };
        if !fits {
            return Err(DecodeError::InvalidIntegerType {
                expected: width,
                found,
            });
        }
        let mut little_endian = [0u8; 8];
        little_endian[..bytes].copy_from_slice(self.take(bytes)?);
        Ok(u64::from_le_bytes(little_endian))
    }

    /// A bincode `u16`.
    #[inline(always)]
    pub(super) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(self.varint(IntegerType::U16)? as u16)
    }

    /// A bincode `u32`.
    #[inline(always)]
    pub(super) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(self.varint(IntegerType::U32)? as u32)
    }

    /// A bincode `u64`.
    #[inline(always)]
    pub(super) fn u64(&mut self) -> Result<u64, DecodeError> {
        self.varint(IntegerType::U64)
    }

    /// A delta written by [`super::delta`] (a bincode `i64`: the zigzag of
    /// the value as a `u64` varint), added to `base`.
    #[inline(always)]
    pub(super) fn delta(&mut self, base: u64) -> Result<u64, DecodeError> {
        let zigzag = self.u64()?;
        let value = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        Ok(base.wrapping_add(value as u64))
    }
}

#[cfg(test)]
mod tests {
    use bincode::config::standard;

    use super::*;

    /// What bincode itself reads from `bytes` as a `T`.
    fn bincode<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T, String> {
        bincode::decode_from_slice::<T, _>(bytes, standard())
            .map(|(value, _)| value)
            .map_err(|e| e.to_string())
    }

    fn widen<T: Into<u64>>(read: Result<T, String>) -> Result<u64, String> {
        read.map(Into::into)
    }

    #[test]
    fn varints_read_as_bincode_reads_them() {
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![250], vec![251], vec![251, 1]];
        for tag in 251..=255u8 {
            cases.push([&[tag][..], &[0xAB; 16]].concat());
        }
        for value in [0u64, 250, 251, 65_535, 65_536, u32::MAX.into(), u64::MAX] {
            cases.push(bincode::encode_to_vec(value, standard()).unwrap());
        }
        for bytes in cases {
            let read = |f: fn(&mut Cursor) -> Result<u64, DecodeError>| {
                f(&mut Cursor::new(&bytes)).map_err(|e| e.to_string())
            };
            let u64s = read(|c| c.u64());
            if bytes.first().is_none_or(|&tag| tag <= 253) {
                assert_eq!(u64s, bincode::<u64>(&bytes), "{bytes:?}");
            } else {
                // bincode's fast path names U32 as the type expected here
                // (its slow path, and this cursor, U64).
                assert!(u64s.is_err(), "{bytes:?}");
            }
            let u32s = read(|c| c.u32().map(u64::from));
            assert_eq!(u32s, widen(bincode::<u32>(&bytes)), "{bytes:?}");
            let u16s = read(|c| c.u16().map(u64::from));
            assert_eq!(u16s, widen(bincode::<u16>(&bytes)), "{bytes:?}");
        }
    }

    #[test]
    fn deltas_and_strings_read_back() {
        let mut bytes = Vec::new();
        for value in [0i64, -1, 1, i64::MIN, i64::MAX] {
            bytes.extend(bincode::encode_to_vec(value, standard()).unwrap());
        }
        let mut cursor = Cursor::new(&bytes);
        for value in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(cursor.delta(7).unwrap(), 7u64.wrapping_add(value as u64));
        }
        assert_eq!(cursor.left(), 0);
        assert_eq!(
            cursor.take(3).unwrap_err().to_string(),
            bincode::<[u8; 3]>(&[]).unwrap_err()
        );
    }
}
