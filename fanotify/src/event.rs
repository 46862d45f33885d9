//! One fanotify event ([`Event`]): parsing the kernel's
//! `struct fanotify_event_metadata` records ([`parse_metadata`], no I/O),
//! the event's file and path, and answering it exactly once.
//!
//! Invariant kept here: an event that needs an answer (a permission bit in
//! its mask) is answered exactly once, by [`Event::respond`] or, failing
//! that, with [`Verdict::Allow`] when it is dropped.

use std::ffi::c_int;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;

use crate::Error;
use crate::mask::{EventMask, Verdict};

/// Size of `struct fanotify_event_metadata` (version 3).
pub const METADATA_LEN: usize = 24;

/// One metadata record as the kernel wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawMetadata {
    /// The event bits.
    pub mask: EventMask,
    /// The event's file descriptor (`FAN_NOFD` = -1 on queue overflow).
    pub fd: RawFd,
    /// The pid (thread group id) of the process that caused the event.
    pub pid: i32,
}

/// Parses a buffer filled by `read(2)` on a fanotify descriptor into its
/// records. Lengths and the metadata version are checked before any field
/// is read; a malformed record stops the parse with its byte offset.
pub fn parse_metadata(buffer: &[u8]) -> Result<Vec<RawMetadata>, Error> {
    let mut records = Vec::with_capacity(buffer.len() / METADATA_LEN);
    let mut offset = 0;
    while offset < buffer.len() {
        let malformed = |reason: String| Error::Malformed { offset, reason };
        let rest = &buffer[offset..];
        if rest.len() < METADATA_LEN {
            return Err(malformed(format!("{} trailing bytes", rest.len())));
        }
        let u32_at = |at: usize| u32::from_ne_bytes(rest[at..at + 4].try_into().unwrap());
        let event_len = u32_at(0) as usize;
        let version = rest[4];
        if version != libc::FANOTIFY_METADATA_VERSION {
            return Err(malformed(format!("metadata version {version}")));
        }
        if event_len < METADATA_LEN || event_len > rest.len() {
            return Err(malformed(format!("event length {event_len}")));
        }
        records.push(RawMetadata {
            mask: EventMask(u64::from_ne_bytes(rest[8..16].try_into().unwrap())),
            fd: u32_at(16) as c_int,
            pid: u32_at(20) as i32,
        });
        offset += event_len;
    }
    Ok(records)
}

/// One event read from a [`Fanotify`](crate::Fanotify) group.
///
/// Owns the event's file descriptor (closed on drop). A permission event
/// not answered by [`respond`](Self::respond) is allowed when dropped.
#[derive(Debug)]
pub struct Event {
    group: Arc<OwnedFd>,
    file: Option<OwnedFd>,
    mask: EventMask,
    pid: i32,
    pending: bool,
}

impl Event {
    /// Takes ownership of a parsed record's descriptor.
    ///
    /// # Safety
    /// `raw.fd` must be an open descriptor that nothing else owns or closes
    /// (as a descriptor just read from the group is), or negative.
    pub(crate) unsafe fn from_raw(group: Arc<OwnedFd>, raw: RawMetadata) -> Event {
        // Safety: the caller hands over sole ownership of a valid descriptor.
        let file = (raw.fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw.fd) });
        Event {
            group,
            pending: raw.mask.is_permission() && file.is_some(),
            file,
            mask: raw.mask,
            pid: raw.pid,
        }
    }

    /// The event bits.
    pub fn mask(&self) -> EventMask {
        self.mask
    }

    /// The pid of the process whose syscall caused the event.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The file being opened, read or executed, opened by the kernel for
    /// the listener (`None` on a queue overflow record).
    pub fn file(&self) -> Option<&OwnedFd> {
        self.file.as_ref()
    }

    /// The file's path, through `readlink("/proc/self/fd/N")`.
    pub fn path(&self) -> Result<PathBuf, Error> {
        let fd = self.file.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        let link = format!("/proc/self/fd/{fd}");
        std::fs::read_link(&link).map_err(|source| Error::Sys {
            call: format!("readlink {link}"),
            source,
        })
    }

    /// Whether the event still needs an answer.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// Answers a permission event and releases its opener. Answering an
    /// event that needs no answer does nothing.
    pub fn respond(mut self, verdict: Verdict) -> Result<(), Error> {
        self.answer(verdict)
    }

    /// Answers like [`Event::respond`] but keeps the event, so that its
    /// file can still be looked at after the opener has been released.
    pub fn answer(&mut self, verdict: Verdict) -> Result<(), Error> {
        let Some(file) = self.file.as_ref().filter(|_| self.pending) else {
            return Ok(());
        };
        self.pending = false;
        let response = libc::fanotify_response {
            fd: file.as_raw_fd(),
            response: verdict.raw(),
        };
        let size = size_of::<libc::fanotify_response>();
        // Safety: `response` is a live, initialised `fanotify_response` of
        // `size` bytes, and the group descriptor is open (we hold an Arc).
        let written =
            unsafe { libc::write(self.group.as_raw_fd(), (&raw const response).cast(), size) };
        if written != size as isize {
            return Err(Error::last(format!(
                "answer {verdict:?} to pid {}",
                self.pid
            )));
        }
        Ok(())
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // Best effort: if even this fails, closing the group allows it.
        let _ = self.answer(Verdict::Allow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event_len: u32, version: u8, mask: u64, fd: i32, pid: i32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend(event_len.to_ne_bytes());
        bytes.extend([version, 0]);
        bytes.extend((METADATA_LEN as u16).to_ne_bytes());
        bytes.extend(mask.to_ne_bytes());
        bytes.extend(fd.to_ne_bytes());
        bytes.extend(pid.to_ne_bytes());
        bytes.resize(event_len.max(METADATA_LEN as u32) as usize, 0);
        bytes
    }

    #[test]
    fn parses_consecutive_records_with_their_lengths() {
        let mut buffer = record(24, 3, libc::FAN_OPEN_PERM, 7, 100);
        buffer.extend(record(32, 3, libc::FAN_ACCESS_PERM, 8, 200)); // info record
        buffer.extend(record(24, 3, 0x4000, -1, 0)); // overflow
        let records = parse_metadata(&buffer).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].mask, EventMask::OPEN_PERM);
        assert_eq!((records[0].fd, records[0].pid), (7, 100));
        assert_eq!(records[1].mask, EventMask::ACCESS_PERM);
        assert_eq!((records[1].fd, records[1].pid), (8, 200));
        assert_eq!(records[2].fd, -1);
        assert!(parse_metadata(&[]).unwrap().is_empty());
    }

    #[test]
    fn rejects_malformed_records_with_their_offset() {
        let good = record(24, 3, libc::FAN_OPEN_PERM, 7, 1);
        let cases = [
            (record(24, 2, 0, 7, 1), 0, "version 2"),
            (record(16, 3, 0, 7, 1), 0, "length 16"),
            (
                [good.clone(), record(99, 3, 0, 7, 1)[..40].to_vec()].concat(),
                24,
                "length 99",
            ),
            ([good.clone(), vec![0; 5]].concat(), 24, "5 trailing"),
        ];
        for (buffer, at, what) in cases {
            match parse_metadata(&buffer) {
                Err(Error::Malformed { offset, reason }) => {
                    assert_eq!(offset, at);
                    assert!(reason.contains(what), "{reason}");
                }
                other => panic!("{what}: {other:?}"),
            }
        }
    }
}
