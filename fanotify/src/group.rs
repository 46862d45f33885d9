//! A fanotify notification group ([`Fanotify`]): creating it, marking
//! what it watches ([`Mark`]), and reading [`Batch`]es of events.
//!
//! The group's descriptor is shared (`Arc`) with every [`Event`] read
//! from it, so an event can be answered from any thread; it is closed when
//! the group and its last event are dropped, which releases (allows) every
//! permission event still pending in the kernel.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Error;
use crate::event::{Event, parse_metadata};
use crate::mask::EventMask;

/// Bytes read at once: room for about 680 events.
const READ_BUFFER: usize = 16 * 1024;

/// What a [`Fanotify::mark`] covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// A directory and its direct children (`FAN_EVENT_ON_CHILD`;
    /// `FAN_ONDIR` too, so opening the directory itself is reported).
    Directory(PathBuf),
    /// Every file on the mount that holds this path (`FAN_MARK_MOUNT`).
    Mount(PathBuf),
    /// Every file on the filesystem that holds this path
    /// (`FAN_MARK_FILESYSTEM`).
    Filesystem(PathBuf),
}

impl Mark {
    fn path(&self) -> &Path {
        match self {
            Mark::Directory(path) | Mark::Mount(path) | Mark::Filesystem(path) => path,
        }
    }

    /// `fanotify_mark` flags and the extra mask bits for this kind.
    fn flags(&self) -> (libc::c_uint, EventMask) {
        match self {
            // Not `ON_DIR`: opening the directory itself (listing it,
            // removing it) must never wait for this listener, which may be
            // the very thread doing it.
            Mark::Directory(_) => (0, EventMask::ON_CHILD),
            Mark::Mount(_) => (libc::FAN_MARK_MOUNT, EventMask::default()),
            Mark::Filesystem(_) => (libc::FAN_MARK_FILESYSTEM, EventMask::default()),
        }
    }
}

/// Events read at once, with the moment the read returned.
#[derive(Debug)]
pub struct Batch {
    /// The events, in the kernel's queue order.
    pub events: Vec<Event>,
    /// `CLOCK_MONOTONIC` right after `read(2)` returned (`Instant` is
    /// `CLOCK_MONOTONIC` on Linux).
    pub read_at: Instant,
}

/// A fanotify group of class `FAN_CLASS_CONTENT` (permission events).
#[derive(Debug)]
pub struct Fanotify {
    fd: Arc<OwnedFd>,
}

impl Fanotify {
    /// `fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC,
    /// O_RDONLY | O_LARGEFILE | O_CLOEXEC)`. Needs CAP_SYS_ADMIN: see
    /// [`Error::is_not_permitted`].
    pub fn new() -> Result<Fanotify, Error> {
        Fanotify::init(libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC)
    }

    /// Like [`new`](Self::new), with `FAN_REPORT_TID`: an event's
    /// [`pid`](crate::Event::pid) is then the id of the *thread* whose
    /// syscall caused it (Linux 4.20 and later), the thread that blocks on
    /// the answer. Its process is the thread's `Tgid`.
    pub fn reporting_threads() -> Result<Fanotify, Error> {
        Fanotify::init(libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC | libc::FAN_REPORT_TID)
    }

    fn init(flags: libc::c_uint) -> Result<Fanotify, Error> {
        let event_flags = libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC;
        // Safety: plain syscall with integer arguments.
        let fd = unsafe { libc::fanotify_init(flags, event_flags as libc::c_uint) };
        if fd < 0 {
            return Err(Error::last("fanotify_init"));
        }
        // Safety: `fd` was just returned to us and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Fanotify { fd: Arc::new(fd) })
    }

    /// `fanotify_mark(FAN_MARK_ADD | kind, mask | kind bits, path)`.
    pub fn mark(&self, mark: &Mark, mask: EventMask) -> Result<(), Error> {
        let path = mark.path();
        let call = || format!("fanotify_mark {} ({mask})", path.display());
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|e| Error::Sys {
            call: call(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        })?;
        let (flags, extra) = mark.flags();
        let mask = mask | extra;
        // Safety: the group descriptor is open, `c_path` is a live
        // NUL-terminated string, and the kernel only reads it.
        let status = unsafe {
            libc::fanotify_mark(
                self.fd.as_raw_fd(),
                libc::FAN_MARK_ADD | flags,
                mask.0,
                libc::AT_FDCWD,
                c_path.as_ptr(),
            )
        };
        if status < 0 {
            return Err(Error::last(call()));
        }
        Ok(())
    }

    /// Waits for events: blocks until some arrive, or until `timeout`
    /// passes (then the batch is empty). A signal also returns an empty
    /// batch, so callers can check a stop flag.
    pub fn read(&self, timeout: Option<Duration>) -> Result<Batch, Error> {
        self.read_up_to(timeout, READ_BUFFER)
    }

    /// As [`read`](Self::read), but takes one event at a time off the
    /// kernel's queue: the rest stay queued (and count against the
    /// group's queue limit) until read.
    pub fn read_one(&self, timeout: Option<Duration>) -> Result<Batch, Error> {
        self.read_up_to(timeout, crate::event::METADATA_LEN)
    }

    fn read_up_to(&self, timeout: Option<Duration>, bytes: usize) -> Result<Batch, Error> {
        if !self.wait_readable(timeout)? {
            return Ok(Batch {
                events: Vec::new(),
                read_at: Instant::now(),
            });
        }
        let mut buffer = vec![0u8; bytes];
        // Safety: `buffer` is a live, writable allocation of `bytes` bytes.
        let length = unsafe { libc::read(self.fd.as_raw_fd(), buffer.as_mut_ptr().cast(), bytes) };
        let error = (length < 0).then(|| Error::last("read fanotify events"));
        let read_at = Instant::now();
        if let Some(error) = error {
            return match &error {
                Error::Sys { source, .. }
                    if matches!(source.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) =>
                {
                    Ok(Batch {
                        events: Vec::new(),
                        read_at,
                    })
                }
                _ => Err(error),
            };
        }
        let records = parse_metadata(&buffer[..length as usize])?;
        let events = records
            .into_iter()
            // Safety: each record's descriptor was just installed in our
            // table by this read and is owned by nothing else.
            .map(|raw| unsafe { Event::from_raw(Arc::clone(&self.fd), raw) })
            .collect();
        Ok(Batch { events, read_at })
    }

    /// `poll` for readability; `false` on timeout or signal.
    fn wait_readable(&self, timeout: Option<Duration>) -> Result<bool, Error> {
        let millis = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Safety: `poll` points to one live, initialised pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready < 0 {
            let error = Error::last("poll fanotify");
            return match &error {
                Error::Sys { source, .. } if source.raw_os_error() == Some(libc::EINTR) => {
                    Ok(false)
                }
                _ => Err(error),
            };
        }
        Ok(ready > 0)
    }
}

impl AsFd for Fanotify {
    /// The group descriptor, for an external `poll`/`epoll`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_add_the_bits_their_kind_needs() {
        let directory = Mark::Directory("/d".into());
        let (flags, extra) = directory.flags();
        assert_eq!(flags, 0);
        assert!(extra.contains(EventMask::ON_CHILD) && !extra.contains(EventMask::ON_DIR));
        assert_eq!(Mark::Mount("/".into()).flags().0, libc::FAN_MARK_MOUNT);
        assert_eq!(
            Mark::Filesystem("/".into()).flags().0,
            libc::FAN_MARK_FILESYSTEM
        );
        assert_eq!(Mark::Mount("/m".into()).path(), Path::new("/m"));
    }
}
