//! Endpoint Security event types: ES numbering (`es_event_type_t`) and names.
//!
//! [`EventType`] wraps the raw number so that types the SDK adds after this
//! table was written are kept by number instead of being dropped. The table
//! below is the one place that turns numbers into names and names into
//! numbers; it follows the macOS SDK's `ESTypes.h` up to
//! `NOTIFY_TCC_MODIFY` (147).

use std::fmt;
use std::str::FromStr;

/// Whether the kernel waits for an answer (`Auth`) or not (`Notify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// The syscall is stalled until the client answers, up to the deadline.
    Auth,
    /// Informational: no answer, no deadline.
    Notify,
}

impl Action {
    /// The lower-case name used in JSONL (`"auth"` or `"notify"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Auth => "auth",
            Action::Notify => "notify",
        }
    }
}

/// An ES event type, by its `es_event_type_t` number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(pub u16);

/// `(number, name without the ES_EVENT_TYPE_ prefix)`, sorted by number,
/// numbers contiguous from 0.
const EVENT_NAMES: &[(u16, &str)] = &[
    (0, "AUTH_EXEC"),
    (1, "AUTH_OPEN"),
    (2, "AUTH_KEXTLOAD"),
    (3, "AUTH_MMAP"),
    (4, "AUTH_MPROTECT"),
    (5, "AUTH_MOUNT"),
    (6, "AUTH_RENAME"),
    (7, "AUTH_SIGNAL"),
    (8, "AUTH_UNLINK"),
    (9, "NOTIFY_EXEC"),
    (10, "NOTIFY_OPEN"),
    (11, "NOTIFY_FORK"),
    (12, "NOTIFY_CLOSE"),
    (13, "NOTIFY_CREATE"),
    (14, "NOTIFY_EXCHANGEDATA"),
    (15, "NOTIFY_EXIT"),
    (16, "NOTIFY_GET_TASK"),
    (17, "NOTIFY_KEXTLOAD"),
    (18, "NOTIFY_KEXTUNLOAD"),
    (19, "NOTIFY_LINK"),
    (20, "NOTIFY_MMAP"),
    (21, "NOTIFY_MPROTECT"),
    (22, "NOTIFY_MOUNT"),
    (23, "NOTIFY_UNMOUNT"),
    (24, "NOTIFY_IOKIT_OPEN"),
    (25, "NOTIFY_RENAME"),
    (26, "NOTIFY_SETATTRLIST"),
    (27, "NOTIFY_SETEXTATTR"),
    (28, "NOTIFY_SETFLAGS"),
    (29, "NOTIFY_SETMODE"),
    (30, "NOTIFY_SETOWNER"),
    (31, "NOTIFY_SIGNAL"),
    (32, "NOTIFY_UNLINK"),
    (33, "NOTIFY_WRITE"),
    (34, "AUTH_FILE_PROVIDER_MATERIALIZE"),
    (35, "NOTIFY_FILE_PROVIDER_MATERIALIZE"),
    (36, "AUTH_FILE_PROVIDER_UPDATE"),
    (37, "NOTIFY_FILE_PROVIDER_UPDATE"),
    (38, "AUTH_READLINK"),
    (39, "NOTIFY_READLINK"),
    (40, "AUTH_TRUNCATE"),
    (41, "NOTIFY_TRUNCATE"),
    (42, "AUTH_LINK"),
    (43, "NOTIFY_LOOKUP"),
    (44, "AUTH_CREATE"),
    (45, "AUTH_SETATTRLIST"),
    (46, "AUTH_SETEXTATTR"),
    (47, "AUTH_SETFLAGS"),
    (48, "AUTH_SETMODE"),
    (49, "AUTH_SETOWNER"),
    (50, "AUTH_CHDIR"),
    (51, "NOTIFY_CHDIR"),
    (52, "AUTH_GETATTRLIST"),
    (53, "NOTIFY_GETATTRLIST"),
    (54, "NOTIFY_STAT"),
    (55, "NOTIFY_ACCESS"),
    (56, "AUTH_CHROOT"),
    (57, "NOTIFY_CHROOT"),
    (58, "AUTH_UTIMES"),
    (59, "NOTIFY_UTIMES"),
    (60, "AUTH_CLONE"),
    (61, "NOTIFY_CLONE"),
    (62, "NOTIFY_FCNTL"),
    (63, "AUTH_GETEXTATTR"),
    (64, "NOTIFY_GETEXTATTR"),
    (65, "AUTH_LISTEXTATTR"),
    (66, "NOTIFY_LISTEXTATTR"),
    (67, "AUTH_READDIR"),
    (68, "NOTIFY_READDIR"),
    (69, "AUTH_DELETEEXTATTR"),
    (70, "NOTIFY_DELETEEXTATTR"),
    (71, "AUTH_FSGETPATH"),
    (72, "NOTIFY_FSGETPATH"),
    (73, "NOTIFY_DUP"),
    (74, "AUTH_SETTIME"),
    (75, "NOTIFY_SETTIME"),
    (76, "NOTIFY_UIPC_BIND"),
    (77, "AUTH_UIPC_BIND"),
    (78, "NOTIFY_UIPC_CONNECT"),
    (79, "AUTH_UIPC_CONNECT"),
    (80, "AUTH_EXCHANGEDATA"),
    (81, "AUTH_SETACL"),
    (82, "NOTIFY_SETACL"),
    (83, "NOTIFY_PTY_GRANT"),
    (84, "NOTIFY_PTY_CLOSE"),
    (85, "AUTH_PROC_CHECK"),
    (86, "NOTIFY_PROC_CHECK"),
    (87, "AUTH_GET_TASK"),
    (88, "AUTH_SEARCHFS"),
    (89, "NOTIFY_SEARCHFS"),
    (90, "AUTH_FCNTL"),
    (91, "AUTH_IOKIT_OPEN"),
    (92, "AUTH_PROC_SUSPEND_RESUME"),
    (93, "NOTIFY_PROC_SUSPEND_RESUME"),
    (94, "NOTIFY_CS_INVALIDATED"),
    (95, "NOTIFY_GET_TASK_NAME"),
    (96, "NOTIFY_TRACE"),
    (97, "NOTIFY_REMOTE_THREAD_CREATE"),
    (98, "AUTH_REMOUNT"),
    (99, "NOTIFY_REMOUNT"),
    (100, "AUTH_GET_TASK_READ"),
    (101, "NOTIFY_GET_TASK_READ"),
    (102, "NOTIFY_GET_TASK_INSPECT"),
    (103, "NOTIFY_SETUID"),
    (104, "NOTIFY_SETGID"),
    (105, "NOTIFY_SETEUID"),
    (106, "NOTIFY_SETEGID"),
    (107, "NOTIFY_SETREUID"),
    (108, "NOTIFY_SETREGID"),
    (109, "AUTH_COPYFILE"),
    (110, "NOTIFY_COPYFILE"),
    (111, "NOTIFY_AUTHENTICATION"),
    (112, "NOTIFY_XP_MALWARE_DETECTED"),
    (113, "NOTIFY_XP_MALWARE_REMEDIATED"),
    (114, "NOTIFY_LW_SESSION_LOGIN"),
    (115, "NOTIFY_LW_SESSION_LOGOUT"),
    (116, "NOTIFY_LW_SESSION_LOCK"),
    (117, "NOTIFY_LW_SESSION_UNLOCK"),
    (118, "NOTIFY_SCREENSHARING_ATTACH"),
    (119, "NOTIFY_SCREENSHARING_DETACH"),
    (120, "NOTIFY_OPENSSH_LOGIN"),
    (121, "NOTIFY_OPENSSH_LOGOUT"),
    (122, "NOTIFY_LOGIN_LOGIN"),
    (123, "NOTIFY_LOGIN_LOGOUT"),
    (124, "NOTIFY_BTM_LAUNCH_ITEM_ADD"),
    (125, "NOTIFY_BTM_LAUNCH_ITEM_REMOVE"),
    (126, "NOTIFY_PROFILE_ADD"),
    (127, "NOTIFY_PROFILE_REMOVE"),
    (128, "NOTIFY_SU"),
    (129, "NOTIFY_AUTHORIZATION_PETITION"),
    (130, "NOTIFY_AUTHORIZATION_JUDGEMENT"),
    (131, "NOTIFY_SUDO"),
    (132, "NOTIFY_OD_GROUP_ADD"),
    (133, "NOTIFY_OD_GROUP_REMOVE"),
    (134, "NOTIFY_OD_GROUP_SET"),
    (135, "NOTIFY_OD_MODIFY_PASSWORD"),
    (136, "NOTIFY_OD_DISABLE_USER"),
    (137, "NOTIFY_OD_ENABLE_USER"),
    (138, "NOTIFY_OD_ATTRIBUTE_VALUE_ADD"),
    (139, "NOTIFY_OD_ATTRIBUTE_VALUE_REMOVE"),
    (140, "NOTIFY_OD_ATTRIBUTE_SET"),
    (141, "NOTIFY_OD_CREATE_USER"),
    (142, "NOTIFY_OD_CREATE_GROUP"),
    (143, "NOTIFY_OD_DELETE_USER"),
    (144, "NOTIFY_OD_DELETE_GROUP"),
    (145, "NOTIFY_XPC_CONNECT"),
    (146, "NOTIFY_GATEKEEPER_USER_OVERRIDE"),
    (147, "NOTIFY_TCC_MODIFY"),
];

impl EventType {
    /// `ES_EVENT_TYPE_AUTH_EXEC`.
    pub const AUTH_EXEC: EventType = EventType(0);
    /// `ES_EVENT_TYPE_AUTH_OPEN`.
    pub const AUTH_OPEN: EventType = EventType(1);
    /// `ES_EVENT_TYPE_AUTH_RENAME`.
    pub const AUTH_RENAME: EventType = EventType(6);
    /// `ES_EVENT_TYPE_AUTH_UNLINK`.
    pub const AUTH_UNLINK: EventType = EventType(8);
    /// `ES_EVENT_TYPE_NOTIFY_EXEC`.
    pub const NOTIFY_EXEC: EventType = EventType(9);
    /// `ES_EVENT_TYPE_NOTIFY_OPEN`.
    pub const NOTIFY_OPEN: EventType = EventType(10);
    /// `ES_EVENT_TYPE_NOTIFY_FORK`.
    pub const NOTIFY_FORK: EventType = EventType(11);
    /// `ES_EVENT_TYPE_NOTIFY_CLOSE`.
    pub const NOTIFY_CLOSE: EventType = EventType(12);
    /// `ES_EVENT_TYPE_NOTIFY_CREATE`.
    pub const NOTIFY_CREATE: EventType = EventType(13);
    /// `ES_EVENT_TYPE_NOTIFY_EXIT`.
    pub const NOTIFY_EXIT: EventType = EventType(15);
    /// `ES_EVENT_TYPE_NOTIFY_RENAME`.
    pub const NOTIFY_RENAME: EventType = EventType(25);
    /// `ES_EVENT_TYPE_NOTIFY_UNLINK`.
    pub const NOTIFY_UNLINK: EventType = EventType(32);
    /// `ES_EVENT_TYPE_NOTIFY_WRITE`.
    pub const NOTIFY_WRITE: EventType = EventType(33);

    /// The name without the `ES_EVENT_TYPE_` prefix, if the table knows it.
    pub fn name(self) -> Option<&'static str> {
        EVENT_NAMES.get(usize::from(self.0)).map(|&(_, name)| name)
    }

    /// Looks a name up, with or without the `ES_EVENT_TYPE_` prefix,
    /// ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<EventType> {
        let bare = strip_prefix_ignore_case(name, "ES_EVENT_TYPE_");
        EVENT_NAMES
            .iter()
            .find(|(_, known)| known.eq_ignore_ascii_case(bare))
            .map(|&(number, _)| EventType(number))
    }

    /// The action the name says (`AUTH_*` or `NOTIFY_*`), for known types.
    pub fn action(self) -> Option<Action> {
        let name = self.name()?;
        if name.starts_with("AUTH_") {
            Some(Action::Auth)
        } else {
            Some(Action::Notify)
        }
    }

    /// The AUTH twin of a NOTIFY type (`NOTIFY_OPEN` → `AUTH_OPEN`), if ES has one.
    pub fn auth_twin(self) -> Option<EventType> {
        let rest = self.name()?.strip_prefix("NOTIFY_")?;
        EventType::from_name(&format!("AUTH_{rest}"))
    }

    /// Every event type the table knows, in numeric order.
    pub fn all_known() -> impl Iterator<Item = EventType> {
        EVENT_NAMES.iter().map(|&(number, _)| EventType(number))
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> &'a str {
    match text.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => &text[prefix.len()..],
        _ => text,
    }
}

impl fmt::Display for EventType {
    /// The name, or the number for a type the table does not know.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// An event name or number that is not an ES event type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?} (expected an ES name such as AUTH_OPEN, or a number)")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    /// Accepts a name (`AUTH_OPEN`, `ES_EVENT_TYPE_AUTH_OPEN`, any case) or a number.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(number) = text.parse::<u16>() {
            return Ok(EventType(number));
        }
        EventType::from_name(text).ok_or_else(|| UnknownEventType(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_contiguous_from_zero() {
        for (index, &(number, _)) in EVENT_NAMES.iter().enumerate() {
            assert_eq!(usize::from(number), index);
        }
    }

    #[test]
    fn names_and_numbers_round_trip() {
        for event in EventType::all_known() {
            let name = event.name().unwrap();
            assert_eq!(name.parse::<EventType>().unwrap(), event);
            assert_eq!(event.to_string(), name);
        }
        assert_eq!(EventType::AUTH_OPEN.name(), Some("AUTH_OPEN"));
        assert_eq!(EventType::NOTIFY_OPEN.name(), Some("NOTIFY_OPEN"));
        assert_eq!("es_event_type_auth_exec".parse(), Ok(EventType::AUTH_EXEC));
    }

    #[test]
    fn unknown_numbers_are_kept() {
        let future = EventType(4000);
        assert_eq!(future.name(), None);
        assert_eq!(future.to_string(), "4000");
        assert_eq!("4000".parse(), Ok(future));
        assert!("AUTH_BOGUS".parse::<EventType>().is_err());
    }

    #[test]
    fn auth_twins() {
        assert_eq!(
            EventType::NOTIFY_OPEN.auth_twin(),
            Some(EventType::AUTH_OPEN)
        );
        assert_eq!(
            EventType::NOTIFY_EXEC.auth_twin(),
            Some(EventType::AUTH_EXEC)
        );
        assert_eq!(EventType::NOTIFY_FORK.auth_twin(), None);
        assert_eq!(EventType::AUTH_OPEN.action(), Some(Action::Auth));
        assert_eq!(EventType::NOTIFY_EXIT.action(), Some(Action::Notify));
    }
}
