//! Event masks ([`EventMask`]) and answers ([`Verdict`]): the fanotify
//! bit values under names, with nothing else to know.

use std::fmt;
use std::ops::BitOr;

/// A set of fanotify event bits (`FAN_*`), as marked or as reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventMask(pub u64);

impl EventMask {
    /// `FAN_OPEN_PERM`: a file is being opened.
    pub const OPEN_PERM: EventMask = EventMask(libc::FAN_OPEN_PERM);
    /// `FAN_OPEN_EXEC_PERM`: a file is being opened to be executed.
    pub const OPEN_EXEC_PERM: EventMask = EventMask(libc::FAN_OPEN_EXEC_PERM);
    /// `FAN_ACCESS_PERM`: a file is being read.
    pub const ACCESS_PERM: EventMask = EventMask(libc::FAN_ACCESS_PERM);
    /// Every permission event this wrapper knows.
    pub const ALL_PERM: EventMask =
        EventMask(libc::FAN_OPEN_PERM | libc::FAN_OPEN_EXEC_PERM | libc::FAN_ACCESS_PERM);
    /// `FAN_ONDIR`: also report events on directories themselves.
    pub const ON_DIR: EventMask = EventMask(libc::FAN_ONDIR);
    /// `FAN_EVENT_ON_CHILD`: report events on a marked directory's children.
    pub const ON_CHILD: EventMask = EventMask(libc::FAN_EVENT_ON_CHILD);

    /// Whether every bit of `other` is set here.
    pub fn contains(self, other: EventMask) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any permission bit is set: such an event must be answered.
    pub fn is_permission(self) -> bool {
        self.0 & EventMask::ALL_PERM.0 != 0
    }
}

impl BitOr for EventMask {
    type Output = EventMask;

    fn bitor(self, other: EventMask) -> EventMask {
        EventMask(self.0 | other.0)
    }
}

impl fmt::Display for EventMask {
    /// The permission bits by name (`OPEN_PERM|ACCESS_PERM`), else hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(EventMask, &str); 3] = [
            (EventMask::OPEN_PERM, "OPEN_PERM"),
            (EventMask::OPEN_EXEC_PERM, "OPEN_EXEC_PERM"),
            (EventMask::ACCESS_PERM, "ACCESS_PERM"),
        ];
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(bit, _)| self.contains(*bit))
            .map(|(_, name)| *name)
            .collect();
        if names.is_empty() {
            write!(f, "{:#x}", self.0)
        } else {
            f.write_str(&names.join("|"))
        }
    }
}

/// The answer to a permission event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `FAN_ALLOW`: the syscall goes on.
    Allow,
    /// `FAN_DENY`: the syscall fails with EPERM.
    Deny,
}

impl Verdict {
    /// The `response` value of `struct fanotify_response`.
    pub fn raw(self) -> u32 {
        match self {
            Verdict::Allow => libc::FAN_ALLOW,
            Verdict::Deny => libc::FAN_DENY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_combine_and_name_their_bits() {
        let mask = EventMask::OPEN_PERM | EventMask::ACCESS_PERM;
        assert!(mask.contains(EventMask::OPEN_PERM));
        assert!(!mask.contains(EventMask::OPEN_EXEC_PERM));
        assert!(mask.is_permission());
        assert_eq!(mask.to_string(), "OPEN_PERM|ACCESS_PERM");
        assert!(!EventMask::ON_CHILD.is_permission());
        assert_eq!(EventMask::ON_CHILD.to_string(), "0x8000000");
    }

    #[test]
    fn verdicts_are_the_kernel_values() {
        assert_eq!(Verdict::Allow.raw(), 1);
        assert_eq!(Verdict::Deny.raw(), 2);
    }
}
