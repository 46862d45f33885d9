//! Prefix varints and zigzag deltas for the engine's in-memory compact
//! stores (parked jobs, packed queue runs). Bytes written here are read
//! back only by this process, never stored in a file (the trace format
//! lives in `esreplay_traces::format`).
//!
//! A value takes 1 to 9 bytes: the number of trailing zero bits of the
//! first byte says how many follow (a value below 2⁷ takes one byte,
//! below 2¹⁴ two, ..., below 2⁵⁶ eight; a first byte of 0 is followed by
//! all eight bytes). Unlike LEB128, a value is read with one unaligned
//! 8-byte load and a shift, not a loop over its bytes: a buffer of
//! varints always ends with [`PAD`] spare bytes, so the load never runs
//! past it.

/// Spare bytes at the end of every buffer of varints.
pub(crate) const PAD: usize = 8;

/// Fields being written: they go to a buffer on the stack, then onto the
/// end of a padded `Vec` in one copy ([`Writer::append_to`]). `N` must
/// leave 8 bytes past the most the fields can take.
pub(crate) struct Writer<const N: usize> {
    buffer: [u8; N],
    at: usize,
}

impl<const N: usize> Writer<N> {
    /// Nothing written yet.
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Writer {
            buffer: [0; N],
            at: 0,
        }
    }

    /// Appends one raw byte.
    #[inline(always)]
    pub(crate) fn byte(&mut self, byte: u8) {
        self.buffer[self.at] = byte;
        self.at += 1;
    }

    /// Appends `value`.
    #[inline(always)]
    pub(crate) fn put(&mut self, value: u64) {
        let bits = 64 - value.leading_zeros();
        let len = bits.div_ceil(7).max(1);
        if len <= 8 {
            let word = (value << len) | (1 << (len - 1));
            self.buffer[self.at..self.at + 8].copy_from_slice(&word.to_le_bytes());
            self.at += len as usize;
        } else {
            self.buffer[self.at] = 0;
            self.buffer[self.at + 1..self.at + 9].copy_from_slice(&value.to_le_bytes());
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

    /// Moves what was written onto the end of `bytes` (empty, or ending
    /// with [`PAD`] spare bytes, as it does after).
    #[inline(always)]
    pub(crate) fn append_to(&self, bytes: &mut Vec<u8>) {
        bytes.truncate(bytes.len().saturating_sub(PAD));
        // The buffer has room for PAD bytes past what was written (the
        // spare bytes need not be anything in particular).
        bytes.extend_from_slice(&self.buffer[..self.at + PAD]);
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
            let mut bytes = Vec::new();
            for &(value, base, shift) in &pairs {
                let mut writer = Writer::<40>::new();
                writer.put(value >> shift);
                writer.put_delta(value, base);
                writer.byte(shift as u8);
                writer.append_to(&mut bytes);
            }
            let mut reader = Reader { bytes: &bytes, at: 0 };
            for &(value, base, shift) in &pairs {
                prop_assert_eq!(reader.get(), value >> shift);
                prop_assert_eq!(reader.delta(base), value);
                prop_assert_eq!(bytes[reader.at], shift as u8, "a raw byte");
                reader.at += 1;
            }
            prop_assert_eq!(reader.at + PAD, bytes.len().max(PAD));
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
            let mut writer = Writer::<16>::new();
            writer.put(value);
            assert_eq!(writer.at, len, "{value}");
        }
        let mut writer = Writer::<16>::new();
        writer.put_delta(10, 73);
        writer.put_delta(73, 10);
        assert_eq!(writer.at, 2, "near values, either way");
    }
}
