//! The eslogger JSON line, as far as esreplay reads it: serde structs for
//! the fields that map to the model, everything else skipped unread.
//!
//! Tolerated, as seen across ES message versions 7 to 11: keys in any
//! order, unknown keys, `glob_seq_num` for `global_seq_num`, audit tokens
//! as objects or as arrays of 8 (`[auid, euid, egid, ruid, rgid, pid, asid,
//! pidversion]`), slashes escaped (`\/`) or not, `team_id` null, a
//! `deadline` key (dumps modelled on `es_message_t`, 0 for NOTIFY).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One line, borrowed from the input where it has no escapes.
#[derive(Deserialize)]
pub struct Line<'a> {
    /// ES message version.
    pub version: Option<u32>,
    /// eslogger's own JSON schema version (1 on macOS 13 to 15).
    pub schema_version: Option<u32>,
    /// Wall clock, RFC 3339.
    #[serde(borrow)]
    pub time: Option<Cow<'a, str>>,
    /// `mach_absolute_time` ticks at dispatch.
    pub mach_time: Option<u64>,
    /// Per-type sequence number.
    pub seq_num: Option<u64>,
    /// Client-wide sequence number.
    #[serde(alias = "glob_seq_num")]
    pub global_seq_num: Option<u64>,
    /// ES event type number.
    pub event_type: Option<u64>,
    /// 0 AUTH, 1 NOTIFY.
    pub action_type: Option<u64>,
    /// Absolute deadline in ticks (not written by eslogger itself).
    pub deadline: Option<u64>,
    /// The process that caused the event.
    #[serde(borrow)]
    pub process: Option<Process<'a>>,
    /// The thread that caused the event.
    pub thread: Option<Thread>,
    /// `{"<short name>": {...}}`.
    #[serde(borrow)]
    pub event: Option<Event<'a>>,
}

/// Just the clocks of a line: what the first pass needs.
#[derive(Deserialize)]
pub struct Clocks<'a> {
    /// Wall clock, RFC 3339.
    #[serde(borrow)]
    pub time: Option<Cow<'a, str>>,
    /// `mach_absolute_time` ticks.
    pub mach_time: Option<u64>,
    /// ES event type number (to tell an ES record from anything else).
    pub event_type: Option<u64>,
}

/// `process`.
#[derive(Deserialize)]
pub struct Process<'a> {
    /// Object or array form.
    pub audit_token: Option<AuditToken>,
    /// The executable.
    #[serde(borrow)]
    pub executable: Option<File<'a>>,
    /// Parent pid.
    pub ppid: Option<u32>,
    /// Code-signing id.
    #[serde(borrow)]
    pub signing_id: Option<Cow<'a, str>>,
    /// Team id (null for Apple's).
    #[serde(borrow)]
    pub team_id: Option<Cow<'a, str>>,
    /// Apple platform binary.
    pub is_platform_binary: Option<bool>,
    /// The process is itself an ES client.
    pub is_es_client: Option<bool>,
}

/// An audit token: an object, or (one macOS 26 beta) an array of 8.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum AuditToken {
    /// `{asid, auid, egid, euid, pid, pidversion, rgid, ruid}`.
    Object {
        /// Process id.
        pid: Option<u32>,
        /// Process id version.
        pidversion: Option<u32>,
        /// Effective uid.
        euid: Option<u32>,
    },
    /// `[auid, euid, egid, ruid, rgid, pid, asid, pidversion]`.
    Array([u64; 8]),
}

impl AuditToken {
    /// (pid, pidversion, euid).
    pub fn ids(&self) -> (Option<u32>, Option<u32>, Option<u32>) {
        match self {
            AuditToken::Object {
                pid,
                pidversion,
                euid,
            } => (*pid, *pidversion, *euid),
            AuditToken::Array(fields) => {
                let narrow = |value: u64| u32::try_from(value).ok();
                (narrow(fields[5]), narrow(fields[7]), narrow(fields[1]))
            }
        }
    }
}

/// `thread`.
#[derive(Deserialize)]
pub struct Thread {
    /// Thread id.
    pub thread_id: Option<u64>,
}

/// An `es_file_t`: path and stat.
#[derive(Deserialize)]
pub struct File<'a> {
    /// Path.
    #[serde(borrow)]
    pub path: Option<Cow<'a, str>>,
    /// `stat`, of which only the cache key is read.
    pub stat: Option<Stat>,
}

/// The ES cache key of a file.
#[derive(Deserialize, Clone, Copy)]
pub struct Stat {
    /// Device.
    pub st_dev: Option<u64>,
    /// Inode.
    pub st_ino: Option<u64>,
}

/// The fields of an event body that name its target file.
#[derive(Deserialize, Default)]
pub struct EventBody<'a> {
    /// A file (unlink, write, close, ...) or a process (exec, signal, ...).
    #[serde(borrow)]
    pub target: Option<Target<'a>>,
    /// open, mmap-less file events.
    #[serde(borrow)]
    pub file: Option<File<'a>>,
    /// rename, link, clone, copyfile, readlink, mmap.
    #[serde(borrow)]
    pub source: Option<File<'a>>,
    /// exchangedata.
    #[serde(borrow)]
    pub file1: Option<File<'a>>,
    /// create.
    #[serde(borrow)]
    pub destination: Option<Destination<'a>>,
    /// open: the `fflag` of the open.
    pub fflag: Option<u32>,
    /// close: whether the file was modified while open.
    pub modified: Option<bool>,
}

/// A target: a file (`path`, `stat`) or a process (`executable`).
#[derive(Deserialize)]
pub struct Target<'a> {
    /// A file's path.
    #[serde(borrow)]
    pub path: Option<Cow<'a, str>>,
    /// A file's stat.
    pub stat: Option<Stat>,
    /// A process's executable.
    #[serde(borrow)]
    pub executable: Option<File<'a>>,
}

/// create's destination: an existing file, or a directory and a name.
#[derive(Deserialize)]
pub struct Destination<'a> {
    /// The file exists already.
    #[serde(borrow)]
    pub existing_file: Option<File<'a>>,
    /// A new file: directory and file name.
    #[serde(borrow)]
    pub new_path: Option<NewPath<'a>>,
}

/// A path to be created.
#[derive(Deserialize)]
pub struct NewPath<'a> {
    /// The directory.
    #[serde(borrow)]
    pub dir: Option<File<'a>>,
    /// The name in it.
    #[serde(borrow)]
    pub filename: Option<Cow<'a, str>>,
}

/// Event kinds whose body names a target file (the rest are not parsed).
pub const FILE_EVENTS: &[&str] = &[
    "exec",
    "open",
    "create",
    "rename",
    "unlink",
    "write",
    "close",
    "truncate",
    "link",
    "clone",
    "copyfile",
    "readlink",
    "mmap",
    "exchangedata",
    "setattrlist",
    "setextattr",
    "setflags",
    "setmode",
    "setowner",
    "getextattr",
    "listextattr",
    "deleteextattr",
    "setacl",
    "utimes",
    "stat",
    "access",
    "chdir",
    "chroot",
    "getattrlist",
    "readdir",
    "fsgetpath",
    "dup",
    "fcntl",
    "file_provider_update",
    "file_provider_materialize",
];

/// `event`: `{"<short name>": {...}}`, decoded in one go: the name, and the
/// body unparsed for the kinds in [`FILE_EVENTS`] (others are skipped).
pub struct Event<'a> {
    /// The short name (`exec`, `open`, ...).
    pub name: String,
    /// The body, when the kind names a target file and the object has no
    /// other key.
    pub body: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Event<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor(PhantomData))
    }
}

struct EventVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for EventVisitor<'a> {
    type Value = Event<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object keyed by the event's name")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Event<'a>, M::Error> {
        // The key is a few letters: a copy costs next to nothing.
        let Some(name) = map.next_key::<String>()? else {
            return Ok(Event {
                name: String::new(),
                body: None,
            });
        };
        let mut body = if FILE_EVENTS.contains(&name.as_str()) {
            Some(map.next_value::<&'de RawValue>()?)
        } else {
            map.next_value::<IgnoredAny>()?;
            None
        };
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
            body = None;
        }
        Ok(Event { name, body })
    }
}

/// The target file of an event: (path, stat), by the rules of its kind.
pub fn target_of(name: &str, body: &EventBody<'_>) -> Option<(String, Option<Stat>)> {
    let file = |file: &File<'_>| {
        file.path
            .as_deref()
            .map(|path| (path.to_owned(), file.stat))
    };
    match name {
        "exec" => body.target.as_ref()?.executable.as_ref().and_then(file),
        "create" => {
            let destination = body.destination.as_ref()?;
            if let Some(existing) = &destination.existing_file {
                return file(existing);
            }
            let new_path = destination.new_path.as_ref()?;
            let dir = new_path.dir.as_ref()?.path.as_deref()?;
            let name = new_path.filename.as_deref()?;
            Some((format!("{}/{name}", dir.trim_end_matches('/')), None))
        }
        _ => {
            let target = body.target.as_ref().and_then(|target| {
                target
                    .path
                    .as_deref()
                    .map(|path| (path.to_owned(), target.stat))
            });
            target
                .or_else(|| body.file.as_ref().and_then(file))
                .or_else(|| body.source.as_ref().and_then(file))
                .or_else(|| body.file1.as_ref().and_then(file))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Result<(String, Option<String>), serde_json::Error> {
        let event: Event<'_> = serde_json::from_str(json)?;
        Ok((event.name, event.body.map(|b| b.get().to_owned())))
    }

    #[test]
    fn the_event_object_gives_its_name_and_the_body_of_file_events_only() {
        let open = r#"{"open":{"fflag":1}}"#;
        assert_eq!(
            event(open).unwrap(),
            ("open".into(), Some(r#"{"fflag":1}"#.into()))
        );
        let fork = r#"{"fork":{"child":{"ppid":1}}}"#;
        assert_eq!(event(fork).unwrap(), ("fork".into(), None));
        let escaped = r#"{"\u0065xec":{"target":{}}}"#;
        assert_eq!(
            event(escaped).unwrap(),
            ("exec".into(), Some("{\"target\":{}}".into()))
        );
        let two = r#"{"open":{"fflag":1},"close":{}}"#;
        assert_eq!(
            event(two).unwrap(),
            ("open".into(), None),
            "ambiguous: no body"
        );
        assert_eq!(event("{}").unwrap(), (String::new(), None));
        assert!(event("[1]").is_err() && event("5").is_err());
    }
}
