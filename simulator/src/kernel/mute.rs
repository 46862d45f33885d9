//! ES muting (`--mute TYPE:PATH`, `--mute-invert process|target`): which
//! messages never reach the client.
//!
//! ES's four path mute types: `process-prefix` and `process-literal` match
//! the executable path of the process that caused the event,
//! `target-prefix` and `target-literal` the event's target file. A prefix
//! is a plain string prefix (`/usr/libexec` also matches
//! `/usr/libexecfoo`, as in ES). A message without the path a mute looks
//! at never matches it. With `es_invert_muting` for a kind, that kind's
//! mutes select instead of exclude: only matching messages reach the
//! client (so with no mute of an inverted kind, nothing does).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use esreplay_traces::Message;

/// Which path a mute looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MuteSide {
    /// The executable of the process that caused the event.
    Process,
    /// The file the event is about.
    Target,
}

impl FromStr for MuteSide {
    type Err = MuteError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "process" => Ok(MuteSide::Process),
            "target" => Ok(MuteSide::Target),
            other => Err(MuteError::Side(other.to_owned())),
        }
    }
}

/// One `--mute TYPE:PATH`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mute {
    /// Process or target path.
    pub side: MuteSide,
    /// A string prefix (`true`) or the exact path.
    pub prefix: bool,
    /// The path or prefix.
    pub path: String,
}

/// A malformed `--mute` or `--mute-invert`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MuteError {
    /// No `TYPE:` before the path.
    #[error(
        "expected TYPE:PATH (TYPE: process-prefix, process-literal, target-prefix or target-literal), got {0:?}"
    )]
    Syntax(String),
    /// An unknown TYPE.
    #[error(
        "unknown mute type {0:?} (expected process-prefix, process-literal, target-prefix or target-literal)"
    )]
    Kind(String),
    /// An empty path.
    #[error("a mute needs a non-empty path")]
    Empty,
    /// An unknown inversion kind.
    #[error("unknown mute inversion {0:?} (expected process or target)")]
    Side(String),
}

impl FromStr for Mute {
    type Err = MuteError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, path) = text
            .split_once(':')
            .ok_or_else(|| MuteError::Syntax(text.to_owned()))?;
        let (side, prefix) = match kind.trim() {
            "process-prefix" => (MuteSide::Process, true),
            "process-literal" => (MuteSide::Process, false),
            "target-prefix" => (MuteSide::Target, true),
            "target-literal" => (MuteSide::Target, false),
            other => return Err(MuteError::Kind(other.to_owned())),
        };
        if path.is_empty() {
            return Err(MuteError::Empty);
        }
        Ok(Mute {
            side,
            prefix,
            path: path.to_owned(),
        })
    }
}

impl fmt::Display for Mute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.side {
            MuteSide::Process => "process",
            MuteSide::Target => "target",
        };
        let kind = if self.prefix { "prefix" } else { "literal" };
        write!(f, "{side}-{kind}:{}", self.path)
    }
}

/// The mutes of one side: literal paths in a set, prefixes in a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SideMutes {
    literal: HashSet<String>,
    prefixes: Vec<String>,
    inverted: bool,
}

impl SideMutes {
    fn matches(&self, path: Option<&str>) -> bool {
        path.is_some_and(|path| {
            self.literal.contains(path)
                || self.prefixes.iter().any(|p| path.starts_with(p.as_str()))
        })
    }

    /// Whether this side keeps the message from the client.
    fn mutes(&self, path: Option<&str>) -> bool {
        self.matches(path) != self.inverted
    }

    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.prefixes.is_empty() && !self.inverted
    }
}

/// A client's mute set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mutes {
    process: SideMutes,
    target: SideMutes,
}

impl Mutes {
    /// No mutes: every message reaches the client.
    pub fn new() -> Mutes {
        Mutes::default()
    }

    /// The mutes `--mute` gave, in any order.
    pub fn parse<'a>(mutes: impl IntoIterator<Item = &'a str>) -> Result<Mutes, MuteError> {
        let mut set = Mutes::new();
        for text in mutes {
            set.add(text.parse()?);
        }
        Ok(set)
    }

    fn side_mut(&mut self, side: MuteSide) -> &mut SideMutes {
        match side {
            MuteSide::Process => &mut self.process,
            MuteSide::Target => &mut self.target,
        }
    }

    /// Adds one mute.
    pub fn add(&mut self, mute: Mute) {
        let side = self.side_mut(mute.side);
        if mute.prefix {
            if !side.prefixes.contains(&mute.path) {
                side.prefixes.push(mute.path);
            }
        } else {
            side.literal.insert(mute.path);
        }
    }

    /// `es_invert_muting` for one side: its mutes select instead of exclude.
    pub fn invert(&mut self, side: MuteSide) {
        self.side_mut(side).inverted = true;
    }

    /// Whether nothing is muted.
    pub fn is_empty(&self) -> bool {
        self.process.is_empty() && self.target.is_empty()
    }

    /// Whether `message` never reaches the client.
    pub fn mutes(&self, message: &Message) -> bool {
        self.process.mutes(message.process_path.as_deref())
            || self.target.mutes(message.target_path.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esreplay_traces::{Action, EventType};
    use std::sync::Arc;

    fn open(process: Option<&str>, target: Option<&str>) -> Message {
        let mut message = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 0);
        message.process_path = process.map(Arc::from);
        message.target_path = target.map(Arc::from);
        message
    }

    #[test]
    fn the_four_types_parse_and_print_back() {
        for text in [
            "process-prefix:/usr/libexec",
            "process-literal:/bin/ls",
            "target-prefix:/private/tmp/",
            "target-literal:/etc/hosts",
        ] {
            assert_eq!(text.parse::<Mute>().unwrap().to_string(), text);
        }
        let with_colon: Mute = "target-literal:/a:b".parse().unwrap();
        assert_eq!(with_colon.path, "/a:b");
        assert!(matches!(
            "/usr/lib".parse::<Mute>(),
            Err(MuteError::Syntax(_))
        ));
        assert!(matches!("path:/x".parse::<Mute>(), Err(MuteError::Kind(_))));
        assert_eq!("process-prefix:".parse::<Mute>(), Err(MuteError::Empty));
        assert!("both".parse::<MuteSide>().is_err());
    }

    #[test]
    fn prefixes_are_plain_string_prefixes_and_literals_exact() {
        let mutes =
            Mutes::parse(["process-prefix:/usr/libexec", "target-literal:/etc/hosts"]).unwrap();
        assert!(mutes.mutes(&open(Some("/usr/libexec/xpcproxy"), None)));
        assert!(mutes.mutes(&open(Some("/usr/libexecfoo"), None)));
        assert!(!mutes.mutes(&open(Some("/usr/lib"), Some("/etc/hosts2"))));
        assert!(mutes.mutes(&open(Some("/bin/cat"), Some("/etc/hosts"))));
        assert!(!mutes.mutes(&open(None, None)), "no path never matches");
        assert!(Mutes::new().is_empty() && !mutes.is_empty());
    }

    #[test]
    fn inversion_selects_only_matching_messages() {
        let mut mutes = Mutes::parse(["target-prefix:/Users/alex/Secret/"]).unwrap();
        mutes.invert(MuteSide::Target);
        assert!(!mutes.mutes(&open(Some("/bin/cat"), Some("/Users/alex/Secret/a"))));
        assert!(mutes.mutes(&open(Some("/bin/cat"), Some("/Users/alex/b"))));
        assert!(
            mutes.mutes(&open(Some("/bin/cat"), None)),
            "no target never matches"
        );
        // Process mutes still exclude.
        mutes.add("process-literal:/bin/cat".parse().unwrap());
        assert!(mutes.mutes(&open(Some("/bin/cat"), Some("/Users/alex/Secret/a"))));
        let mut nothing = Mutes::new();
        nothing.invert(MuteSide::Process);
        assert!(!nothing.is_empty());
        assert!(nothing.mutes(&open(Some("/bin/ls"), None)));
    }
}
