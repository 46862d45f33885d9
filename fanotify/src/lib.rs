//! The one thin, safe wrapper of Linux fanotify *permission* events in
//! esreplay: the Linux twin of Endpoint Security AUTH messages (the opener
//! blocks in the kernel until a listener answers).
//!
//! - [`Fanotify`] ([`group`]): a notification group made with
//!   `FAN_CLASS_CONTENT | FAN_CLOEXEC`, event files opened
//!   `O_RDONLY | O_LARGEFILE | O_CLOEXEC`; [`Fanotify::mark`] adds a
//!   [`Mark`] (a directory and its children, a whole mount, or a whole
//!   filesystem) for an [`EventMask`] of `FAN_OPEN_PERM`,
//!   `FAN_OPEN_EXEC_PERM`, `FAN_ACCESS_PERM`; [`Fanotify::read`] waits
//!   (optionally with a timeout, through `poll`) for a [`Batch`] of events.
//! - [`Event`] ([`event`]): one event: the pid, the mask, the opened file
//!   (its path through `/proc/self/fd/N`); [`Event::respond`] answers a
//!   permission event with a [`Verdict`]. `Event` is `Send`: it can be
//!   answered from any thread.
//!
//! # Never leaving an opener blocked
//!
//! Two guarantees, both kept here rather than by callers:
//! - an [`Event`] that needs an answer and is dropped unanswered answers
//!   [`Verdict::Allow`] (so a panic or an early return releases its opener);
//! - every event shares the group's file descriptor; when the [`Fanotify`]
//!   and its last event are gone the descriptor is closed, and the kernel
//!   then allows every permission event still pending (also on a crash, when
//!   the process's descriptors are closed).
//!
//! Marking a mount or a filesystem stalls every opener on it, including
//! unrelated processes, while the listener is slow: prefer a directory mark
//! ([`Mark::Directory`]), which covers the directory's direct children.
//!
//! # Example
//!
//! ```no_run
//! # #[cfg(target_os = "linux")]
//! # fn main() -> Result<(), esreplay_fanotify::Error> {
//! use std::time::Duration;
//! use esreplay_fanotify::{EventMask, Fanotify, Mark, Verdict};
//!
//! let group = Fanotify::new()?; // EPERM unless root (CAP_SYS_ADMIN)
//! group.mark(&Mark::Directory("/tmp/watched".into()), EventMask::OPEN_PERM)?;
//! loop {
//!     let batch = group.read(Some(Duration::from_millis(100)))?;
//!     for event in batch.events {
//!         println!("pid {} opens {:?}", event.pid(), event.path());
//!         event.respond(Verdict::Allow)?;
//!     }
//! }
//! # }
//! # #[cfg(not(target_os = "linux"))]
//! # fn main() {}
//! ```
#![warn(missing_docs)]

#[cfg(target_os = "linux")]
pub mod event;
#[cfg(target_os = "linux")]
pub mod group;
#[cfg(target_os = "linux")]
mod mask;

#[cfg(target_os = "linux")]
pub use event::{Event, parse_metadata};
#[cfg(target_os = "linux")]
pub use group::{Batch, Fanotify, Mark};
#[cfg(target_os = "linux")]
pub use mask::{EventMask, Verdict};

/// A fanotify call that failed.
#[cfg(target_os = "linux")]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("{call}: {source}")]
    Sys {
        /// What was being done (`fanotify_init`, `fanotify_mark /tmp/x`, ...).
        call: String,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// The kernel returned event metadata this wrapper does not understand.
    #[error("malformed fanotify event at byte {offset}: {reason}")]
    Malformed {
        /// Offset of the event in the read buffer.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

#[cfg(target_os = "linux")]
impl Error {
    /// The last OS error, labelled with the call that failed.
    pub(crate) fn last(call: impl Into<String>) -> Error {
        Error::Sys {
            call: call.into(),
            source: std::io::Error::last_os_error(),
        }
    }

    /// Whether fanotify is not permitted here (not root, no CAP_SYS_ADMIN,
    /// a container without it, or a kernel without permission events):
    /// tests skip rather than fail on this.
    pub fn is_not_permitted(&self) -> bool {
        matches!(self, Error::Sys { source, .. }
            if matches!(source.raw_os_error(), Some(libc::EPERM | libc::ENOSYS | libc::EINVAL)))
    }
}
