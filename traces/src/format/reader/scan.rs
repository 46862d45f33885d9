//! Finding frames in damaged bytes: the next valid sync frame (format
//! 1.1), or a frame that ends exactly at the end of the file (a footer
//! behind a length field that runs past the end).

use std::io::{self, Read};

use super::input::Input;
use crate::format::codec::sync::{SYNC_MAGIC, SYNC_PAYLOAD_LEN};
use crate::format::{FRAME_HEADER_LEN, KIND_FOOTER, KIND_SYNC, frame_crc};

/// Bytes of a whole sync frame.
const SYNC_FRAME_LEN: usize = FRAME_HEADER_LEN + SYNC_PAYLOAD_LEN;

/// How much of a sync frame starts at `bytes[at..]`.
enum Match {
    /// A whole sync frame with a valid CRC.
    Whole,
    /// The bytes there are a prefix of a sync frame: need more.
    Partial,
    No,
}

fn sync_at(bytes: &[u8], at: usize) -> Match {
    let mut expected = [0u8; FRAME_HEADER_LEN + 8];
    expected[0] = KIND_SYNC;
    expected[1..5].copy_from_slice(&(SYNC_PAYLOAD_LEN as u32).to_le_bytes());
    expected[FRAME_HEADER_LEN..].copy_from_slice(&SYNC_MAGIC);
    let have = &bytes[at..];
    // Bytes 5..9 are the CRC: anything.
    let fixed = |i: usize| !(5..FRAME_HEADER_LEN).contains(&i);
    let prefix_ok = have
        .iter()
        .zip(expected.iter())
        .enumerate()
        .all(|(i, (got, want))| !fixed(i) || got == want);
    if !prefix_ok {
        return Match::No;
    }
    if have.len() < SYNC_FRAME_LEN {
        return Match::Partial;
    }
    let crc = u32::from_le_bytes([have[5], have[6], have[7], have[8]]);
    let payload = &have[FRAME_HEADER_LEN..SYNC_FRAME_LEN];
    if frame_crc(KIND_SYNC, payload) == crc {
        Match::Whole
    } else {
        Match::No
    }
}

/// Reads from `input` up to the next valid sync frame, which is left to be
/// read next. Returns the bytes skipped and whether one was found (if not,
/// the input is exhausted and every byte was skipped).
pub(super) fn to_next_sync<R: Read>(input: &mut Input<R>) -> io::Result<(u64, bool)> {
    let mut window: Vec<u8> = Vec::new();
    let mut skipped = 0u64;
    let mut block = [0u8; 4096];
    loop {
        // The window is empty or starts with a partial match from the
        // previous block: scan it whole.
        let mut keep_from = window.len();
        for at in 0..window.len() {
            if window[at] != KIND_SYNC {
                continue;
            }
            match sync_at(&window, at) {
                Match::Whole => {
                    skipped += at as u64;
                    input.unread(&[&window[at..]]);
                    return Ok((skipped, true));
                }
                Match::Partial => {
                    keep_from = at;
                    break;
                }
                Match::No => {}
            }
        }
        skipped += keep_from as u64;
        window.drain(..keep_from);
        let n = loop {
            match input.read(&mut block) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == 0 {
            return Ok((skipped + window.len() as u64, false));
        }
        window.extend_from_slice(&block[..n]);
    }
}

/// In the tail of a file after a frame whose length runs past its end
/// (`tail[0]` is that frame's kind byte): the offset of the first valid
/// sync frame (if `synced`), or of a footer frame ending exactly at the
/// end; `None` when the tail holds neither (a file cut short).
pub(super) fn frame_in_tail(tail: &[u8], synced: bool) -> Option<usize> {
    if synced
        && let Some(at) = (1..tail.len())
            .find(|&at| tail[at] == KIND_SYNC && matches!(sync_at(tail, at), Match::Whole))
    {
        return Some(at);
    }
    (1..tail.len().saturating_sub(FRAME_HEADER_LEN - 1)).find(|&at| {
        let head = &tail[at..at + FRAME_HEADER_LEN];
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let crc = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
        head[0] == KIND_FOOTER
            && at + FRAME_HEADER_LEN + len == tail.len()
            && frame_crc(KIND_FOOTER, &tail[at + FRAME_HEADER_LEN..]) == crc
    })
}
