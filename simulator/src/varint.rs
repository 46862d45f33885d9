//! Prefix varints and zigzag deltas for the engine's in-memory compact
//! stores (parked jobs, packed queue runs). Bytes written here are read
//! back only by this process, never stored in a file (the trace format
//! lives in `esreplay_traces::format`).
//!
//! A value takes 1 to 9 bytes: the number of trailing zero bits of the
//! first byte says how many follow (a value below 2⁷ takes one byte,
//! below 2¹⁴ two, ..., below 2⁵⁶ eight; a first byte of 0 is followed by
//! all eight bytes). Unlike LEB128, a value is read with one unaligned
//! 8-byte load and a shift, not a loop over its bytes (and a one-byte
//! value with one byte load): a [`Buffer`] keeps [`PAD`] spare bytes
//! past what it holds, so the load never runs past it.

/// Bytes a value's write or read may touch past its end (one 8-byte
/// store or load): a [`Buffer`] keeps this many spare.
pub(crate) const PAD: usize = 8;

/// A fixed-size buffer of varints, filled from the front and written in
/// place (pages of parked jobs, blocks of packed runs).
#[derive(Clone, Debug)]
pub(crate) struct Buffer {
    bytes: Box<[u8]>,
    used: usize,
}

impl Buffer {
    /// An empty buffer of `size` bytes.
    pub(crate) fn new(size: usize) -> Buffer {
        Buffer {
            bytes: vec![0; size].into_boxed_slice(),
            used: 0,
        }
    }

    /// Bytes written.
    #[inline(always)]
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    /// Whether `most` more bytes fit (with the spare [`PAD`]).
    #[inline(always)]
    pub(crate) fn has_room(&self, most: usize) -> bool {
        self.bytes.len() - self.used >= most + PAD
    }

    /// Forgets what was written from `used` on.
    #[inline(always)]
    pub(crate) fn truncate(&mut self, used: usize) {
        self.used = self.used.min(used);
    }

    /// Writes at the end with `write` (at most what
    /// [`has_room`](Buffer::has_room) said fits); returns where it began.
    #[inline(always)]
    pub(crate) fn append(&mut self, write: impl FnOnce(&mut Writer<'_>)) -> usize {
        let start = self.used;
        let mut writer = Writer {
            bytes: &mut self.bytes,
            at: start,
        };
        write(&mut writer);
        self.used = writer.at;
        start
    }

    /// Reads from `at` on.
    #[inline(always)]
    pub(crate) fn reader(&self, at: usize) -> Reader<'_> {
        Reader {
            bytes: &self.bytes,
            at,
        }
    }

    /// The bytes written (and the spare after them).
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, to change one written before.
    #[inline(always)]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

/// Writes varints into a [`Buffer`], in place.
pub(crate) struct Writer<'b> {
    bytes: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    /// Appends one raw byte.
    #[inline(always)]
    pub(crate) fn byte(&mut self, byte: u8) {
        self.bytes[self.at] = byte;
        self.at += 1;
    }

    /// Appends `value`.
    #[inline(always)]
    pub(crate) fn put(&mut self, value: u64) {
        if value < 0x80 {
            // Most fields: one byte, its low bit set.
            self.bytes[self.at] = (value as u8) << 1 | 1;
            self.at += 1;
            return;
        }
        let bits = 64 - value.leading_zeros();
        let len = bits.div_ceil(7);
        if len <= 8 {
            let word = (value << len) | (1 << (len - 1));
            self.bytes[self.at..self.at + 8].copy_from_slice(&word.to_le_bytes());
            self.at += len as usize;
        } else {
            self.bytes[self.at] = 0;
            self.bytes[self.at + 1..self.at + 9].copy_from_slice(&value.to_le_bytes());
            self.at += 9;
        }
    }

    /// Appends `value − base` (wrapping) zigzag-encoded: one byte when
    /// they are within 63 of each other, in either direction.
    #[inline(always)]
    pub(crate) fn put_delta(&mut self, value: u64, base: u64) {
        let delta = value.wrapping_sub(base) as i64;
        self.put(((delta << 1) ^ (delta >> 63)) as u64);
    }
}

/// Reads what a [`Writer`] wrote, from `at` on.
pub(crate) struct Reader<'b> {
    pub(crate) bytes: &'b [u8],
    pub(crate) at: usize,
}

impl Reader<'_> {
    /// The 8 bytes from `at`, little-endian.
    #[inline(always)]
    fn word(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"))
    }

    /// The next varint.
    #[inline(always)]
    pub(crate) fn get(&mut self) -> u64 {
        let first = self.bytes[self.at];
        if first & 1 != 0 {
            // Most fields: one byte.
            self.at += 1;
            return u64::from(first >> 1);
        }
        let word = self.word(self.at);
        let len = (word as u8).trailing_zeros() + 1;
        if len <= 8 {
            self.at += len as usize;
            // The len bytes of the value, without the len marker bits.
            let unused = 64 - 8 * len;
            (word << unused) >> (unused + len)
        } else {
            let value = self.word(self.at + 1);
            self.at += 9;
            value
        }
    }

    /// The next delta, added to `base`.
    #[inline(always)]
    pub(crate) fn delta(&mut self, base: u64) -> u64 {
        let zigzag = self.get();
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        base.wrapping_add(delta as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn values_and_deltas_read_back(pairs in prop::collection::vec((any::<u64>(), any::<u64>(), 0u32..64), 0..12)) {
            let mut buffer = Buffer::new(12 * 19 + PAD);
            for &(value, base, shift) in &pairs {
                prop_assert!(buffer.has_room(19));
                buffer.append(|writer| {
                    writer.put(value >> shift);
                    writer.put_delta(value, base);
                    writer.byte(shift as u8);
                });
            }
            let mut reader = buffer.reader(0);
            for &(value, base, shift) in &pairs {
                prop_assert_eq!(reader.get(), value >> shift);
                prop_assert_eq!(reader.delta(base), value);
                prop_assert_eq!(reader.bytes[reader.at], shift as u8, "a raw byte");
                reader.at += 1;
            }
            prop_assert_eq!(reader.at, buffer.used());
        }
    }

    #[test]
    fn each_seven_bits_take_a_byte_up_to_nine() {
        for (value, len) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (1 << 14, 3),
            ((1 << 56) - 1, 8),
            (1 << 56, 9),
            (u64::MAX, 9),
        ] {
            let mut buffer = Buffer::new(32);
            buffer.append(|writer| writer.put(value));
            assert_eq!(buffer.used(), len, "{value}");
        }
        let mut buffer = Buffer::new(32);
        buffer.append(|writer| {
            writer.put_delta(10, 73);
            writer.put_delta(73, 10);
        });
        assert_eq!(buffer.used(), 2, "near values, either way");
        assert!(buffer.has_room(32 - 2 - PAD) && !buffer.has_room(32 - 1 - PAD));
    }
}
