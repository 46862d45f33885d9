//! fanotify's queue limit (Linux, root): a group made without
//! `FAN_UNLIMITED_QUEUE` (the lab's never sets it) holds at most
//! `/proc/sys/fs/fanotify/max_queued_events` events that its listener has
//! not read yet, a value read once, when the group is created. An event
//! arriving at a full queue is not queued: a permission event is then
//! allowed at once, without the listener ever seeing it, and the listener
//! gets one `FAN_Q_OVERFLOW` record instead (docs/fidelity.md cites the
//! kernel code).
//!
//! [`QueueLimit`] lowers the limit for as long as it lives and restores
//! the previous value when dropped: on success, on error and on panic.
//! The lab holds it only while creating its group.

use std::path::{Path, PathBuf};

use crate::LabError;

/// The sysctl behind the limit.
pub const MAX_QUEUED_EVENTS: &str = "/proc/sys/fs/fanotify/max_queued_events";

/// A lowered queue limit; dropping it restores the value it replaced.
#[derive(Debug)]
pub struct QueueLimit {
    path: PathBuf,
    previous: String,
}

impl QueueLimit {
    /// Sets `fs.fanotify.max_queued_events` to `limit` until dropped.
    pub fn lower(limit: u32) -> Result<QueueLimit, LabError> {
        QueueLimit::set_at(Path::new(MAX_QUEUED_EVENTS), limit)
    }

    /// As [`lower`](Self::lower), on any file holding one number.
    pub fn set_at(path: &Path, limit: u32) -> Result<QueueLimit, LabError> {
        let io = |what: &str, source| LabError::Io {
            what: format!("{what} {}", path.display()),
            source,
        };
        let previous = std::fs::read_to_string(path).map_err(|e| io("read", e))?;
        std::fs::write(path, format!("{limit}\n")).map_err(|e| io("write", e))?;
        Ok(QueueLimit {
            path: path.to_owned(),
            previous: previous.trim().to_owned(),
        })
    }

    /// The value restored on drop.
    pub fn previous(&self) -> &str {
        &self.previous
    }
}

impl Drop for QueueLimit {
    fn drop(&mut self) {
        if let Err(error) = std::fs::write(&self.path, format!("{}\n", self.previous)) {
            // Nothing to return an error to: say it, loudly.
            eprintln!(
                "esreplay lab: could not restore {} to {}: {error}",
                self.path.display(),
                self.previous
            );
        }
    }
}

/// The limit in force now (what a group created now would get).
pub fn current_limit() -> Option<u32> {
    std::fs::read_to_string(MAX_QUEUED_EVENTS)
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_restores_the_value_on_drop_and_on_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("max_queued_events");
        std::fs::write(&path, "16384\n").unwrap();
        {
            let guard = QueueLimit::set_at(&path, 8).unwrap();
            assert_eq!(guard.previous(), "16384");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "8\n");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "16384\n");
        let panicked = std::panic::catch_unwind(|| {
            let _guard = QueueLimit::set_at(&path, 4).unwrap();
            panic!("mid-run");
        });
        assert!(panicked.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "16384\n");
        let missing = QueueLimit::set_at(&dir.path().join("nope"), 1);
        assert!(missing.is_err());
    }
}
