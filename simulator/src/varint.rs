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
//! past what it holds, so the load never runs past it. Fields whose
//! width the writer knows are also written as they are, 1 to 8 bytes
//! ([`Writer::fixed`]), and so is a step up below 2²⁴ (a packed run's
//! next time, [`short_step`]): 3 bytes, no length to find or zigzag.

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

    /// Appends the low `len` bytes of `value` (at most 8), as they are.
    #[inline(always)]
    pub(crate) fn fixed(&mut self, value: u64, len: usize) {
        self.bytes[self.at..self.at + 8].copy_from_slice(&value.to_le_bytes());
        self.at += len;
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
        let len = length(value);
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
        self.put(zigzag(value, base));
    }

    /// Appends `value` as a step from `base`: its [`STEP_BYTES`] bytes
    /// as they are if it is [`short`](short_step) (the reader must be
    /// told, by a flag), else as [`put_delta`](Writer::put_delta).
    #[inline(always)]
    pub(crate) fn put_step(&mut self, value: u64, base: u64, short: bool) {
        match short {
            true => self.fixed(value.wrapping_sub(base), STEP_BYTES),
            false => self.put_delta(value, base),
        }
    }

    /// Appends two deltas (`value − base` each, as
    /// [`put_delta`](Writer::put_delta)) and a flag: one byte when both
    /// deltas are within −4..=3 (numbers a step or two apart), else a
    /// byte for the flag and both deltas in full.
    #[inline(always)]
    pub(crate) fn put_pair(&mut self, first: (u64, u64), second: (u64, u64), flag: bool) {
        let (first, second) = (zigzag(first.0, first.1), zigzag(second.0, second.1));
        let flag = u64::from(flag);
        if first < PAIR_STEPS && second < PAIR_STEPS {
            self.put(first | second << 3 | flag << 6);
        } else {
            self.put(FULL_PAIR | flag);
            self.put(first);
            self.put(second);
        }
    }
}

/// Bytes of a short step (see [`short_step`]).
const STEP_BYTES: usize = 3;

/// Whether `value` lies less than 2²⁴ above `base` (wrapping), so that
/// [`Writer::put_step`] writes it in 3 bytes as they are: the step
/// between neighbours of an ascending run of times (a deadline or timer
/// 16 ms or less after the one before it), which a varint would write
/// in as many bytes or more.
#[inline(always)]
pub(crate) fn short_step(value: u64, base: u64) -> bool {
    value.wrapping_sub(base) < 1 << (8 * STEP_BYTES)
}

/// The bytes `value` takes (for a value of 2⁷ or more; below, one): its
/// significant bits, 7 to a byte, up to 8 bytes, else 9 (the marker and
/// all eight). min(⌈bits/7⌉, 9) is ⌊(9·bits + 63)/64⌋ for every bits up
/// to 64 (a test checks each): a multiplication and a shift instead of a
/// division.
#[inline(always)]
fn length(value: u64) -> u32 {
    let bits = 64 - value.leading_zeros();
    (bits * 9 + 63) >> 6
}

/// A zigzag delta of [`Writer::put_pair`] below this shares its byte.
const PAIR_STEPS: u64 = 8;
/// The first value of a pair written in full (with its flag).
const FULL_PAIR: u64 = 1 << 7;

/// `value − base` (wrapping), zigzag-encoded: small either way.
#[inline(always)]
fn zigzag(value: u64, base: u64) -> u64 {
    let delta = value.wrapping_sub(base) as i64;
    ((delta << 1) ^ (delta >> 63)) as u64
}

/// `base` plus a zigzag-encoded delta.
#[inline(always)]
fn unzigzag(zigzag: u64, base: u64) -> u64 {
    let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
    base.wrapping_add(delta as u64)
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

    /// The next `len` bytes (1 to 8) as [`Writer::fixed`] wrote them.
    #[inline(always)]
    pub(crate) fn fixed(&mut self, len: usize) -> u64 {
        let word = self.word(self.at);
        self.at += len;
        word & (u64::MAX >> (64 - 8 * len))
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
        unzigzag(self.get(), base)
    }

    /// What [`Writer::put_step`] wrote against `base`, told whether it
    /// was short.
    #[inline(always)]
    pub(crate) fn step(&mut self, base: u64, short: bool) -> u64 {
        match short {
            true => base.wrapping_add(self.fixed(STEP_BYTES)),
            false => self.delta(base),
        }
    }

    /// What [`Writer::put_pair`] wrote against these bases: both values
    /// and the flag.
    #[inline(always)]
    pub(crate) fn pair(&mut self, first_base: u64, second_base: u64) -> (u64, u64, bool) {
        let head = self.get();
        let (first, second, flag) = if head < FULL_PAIR {
            let (first, second) = (head % PAIR_STEPS, head / PAIR_STEPS % PAIR_STEPS);
            (first, second, head >> 6 != 0)
        } else {
            (self.get(), self.get(), head & 1 != 0)
        };
        let (first, second) = (unzigzag(first, first_base), unzigzag(second, second_base));
        (first, second, flag)
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
                    writer.fixed(u64::from(shift) | value << 8, 1);
                });
            }
            let mut reader = buffer.reader(0);
            for &(value, base, shift) in &pairs {
                prop_assert_eq!(reader.get(), value >> shift);
                prop_assert_eq!(reader.delta(base), value);
                prop_assert_eq!(reader.fixed(1), u64::from(shift as u8), "a raw byte");
            }
            prop_assert_eq!(reader.at, buffer.used());
        }
    }

    proptest! {
        #[test]
        fn pairs_read_back(pairs in prop::collection::vec(
            (any::<u64>(), -6i64..6, any::<u64>(), prop_oneof![-6i64..6, any::<i64>()], any::<bool>()),
            0..12,
        )) {
            let mut buffer = Buffer::new(12 * 21 + PAD);
            let value = |base: u64, delta: i64| base.wrapping_add(delta as u64);
            for &(first, step, second, jump, flag) in &pairs {
                buffer.append(|writer| {
                    writer.put_pair((value(first, step), first), (value(second, jump), second), flag);
                });
            }
            let mut reader = buffer.reader(0);
            for &(first, step, second, jump, flag) in &pairs {
                let start = reader.at;
                let read = reader.pair(first, second);
                prop_assert_eq!(read, (value(first, step), value(second, jump), flag));
                let small = (-4..=3).contains(&step) && (-4..=3).contains(&jump);
                prop_assert_eq!(reader.at - start == 1, small, "one byte when both are small");
            }
            prop_assert_eq!(reader.at, buffer.used());
        }
    }

    #[test]
    fn a_length_is_seven_bits_a_byte_for_every_width() {
        for bits in 1..=64u32 {
            let value = u64::MAX >> (64 - bits);
            assert_eq!(length(value), bits.div_ceil(7).min(9), "{bits} bits");
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
