//! The kernel side of delivery, before a client sees a message: ES muting
//! and the ES AUTH result cache as what-ifs (DESIGN.md, "ES cache and
//! mutes").
//!
//! [`Kernel::admit`] is the admission stage at a message's arrival t:
//!
//! 1. answers with r ≤ t are inserted into the cache (in time order);
//! 2. a NOTIFY_WRITE, NOTIFY_RENAME, NOTIFY_UNLINK, NOTIFY_TRUNCATE or a
//!    NOTIFY_CLOSE with `close_modified` drops every entry with its target
//!    path, muted or not (muting filters delivery; the kernel still sees
//!    the change);
//! 3. a muted message stops here ([`Admission::Muted`]);
//! 4. an AUTH message of a cached event whose key is in the cache is
//!    answered by the kernel at t ([`Admission::Cached`]);
//! 5. anything else reaches the client ([`Admission::Client`]); the
//!    engine reports its answer with [`Kernel::answered`], which schedules
//!    the insert of its key at r unless the answer was not the client's (a
//!    guard's default verdict, a kernel answer under fail-open/closed).
//!
//! Memory: the cache's capacity, plus one key per message the client has
//! not answered yet and one per answer not yet due.

pub mod cache;
pub mod mute;
pub mod sizes;

use std::collections::HashMap;
use std::sync::Arc;

use esreplay_traces::{Action, EventType, Message};

pub use cache::{CacheKey, EsCache, FileId, PendingInserts};
pub use mute::{Mute, MuteError, MuteSide, Mutes};

/// Apple does not document the kernel's cache size; this is the default.
pub const DEFAULT_CACHE_SIZE: usize = 4096;

/// ES_EVENT_TYPE_NOTIFY_TRUNCATE.
const NOTIFY_TRUNCATE: EventType = EventType(41);

/// The NOTIFY events that drop cache entries of their target path.
pub const INVALIDATING: [EventType; 4] = [
    EventType::NOTIFY_WRITE,
    EventType::NOTIFY_RENAME,
    EventType::NOTIFY_UNLINK,
    NOTIFY_TRUNCATE,
];

/// Whether `message` changes its target file, so that cached answers about
/// it no longer hold: one of [`INVALIDATING`], or a NOTIFY_CLOSE whose
/// `close_modified` flag is set (a close without the flag, or from a trace
/// without it, does not invalidate).
pub fn invalidates(message: &Message) -> bool {
    if message.action != Action::Notify {
        return false;
    }
    INVALIDATING.contains(&message.event)
        || (message.event == EventType::NOTIFY_CLOSE
            && message
                .details
                .as_deref()
                .is_some_and(|d| d.close_modified == Some(true)))
}

/// The client's kernel-side policy: `--mute`, `--mute-invert`,
/// `--es-cache`, `--es-cache-size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelOptions {
    /// What never reaches the client.
    pub mutes: Mutes,
    /// AUTH events the client answers with cache = true (NOTIFY ignored).
    pub cache_events: Vec<EventType>,
    /// LRU capacity; 0 turns the cache off.
    pub cache_size: usize,
}

impl Default for KernelOptions {
    fn default() -> Self {
        KernelOptions {
            mutes: Mutes::new(),
            cache_events: Vec::new(),
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }
}

impl KernelOptions {
    /// Whether the cache can answer anything.
    pub fn caches(&self) -> bool {
        self.cache_size > 0 && !self.cache_events.is_empty()
    }

    /// Whether the stage changes anything: without mutes or a cache, the
    /// engine skips it and its results are exactly those without it.
    pub fn is_active(&self) -> bool {
        !self.mutes.is_empty() || self.caches()
    }

    /// The events of `--es-cache EVENTS` (comma-separated names or
    /// numbers); NOTIFY events are dropped, as ES ignores cache = true for
    /// them.
    pub fn parse_events(
        text: &str,
    ) -> Result<Vec<EventType>, esreplay_traces::event::UnknownEventType> {
        let mut events = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let event: EventType = name.parse()?;
            if event.action() != Some(Action::Notify) && !events.contains(&event) {
                events.push(event);
            }
        }
        Ok(events)
    }
}

/// Where the admission stage sends a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Muted: counted only in `muted`.
    Muted,
    /// Answered by the kernel from its cache at arrival, latency 0.
    Cached,
    /// Delivered to the client.
    Client,
}

/// What the stage did, for results and warnings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounts {
    /// Messages muted.
    pub muted: u64,
    /// Unmuted AUTH messages of a cached event (looked up, or keyless).
    pub lookups: u64,
    /// Answered from the cache.
    pub cached: u64,
    /// Lookups without a key (no process or target path): never cached.
    pub keyless: u64,
    /// Entries dropped by invalidation.
    pub invalidated: u64,
}

impl KernelCounts {
    /// cached ÷ lookups (`None` without lookups).
    pub fn hit_rate(&self) -> Option<f64> {
        (self.lookups > 0).then(|| self.cached as f64 / self.lookups as f64)
    }
}

/// The admission stage of one run.
#[derive(Debug)]
pub struct Kernel {
    mutes: Mutes,
    events: Vec<EventType>,
    cache: EsCache,
    caching: bool,
    pending: PendingInserts,
    /// Keys of delivered messages awaiting the client's answer, by position.
    awaiting: HashMap<u64, (CacheKey, Arc<str>)>,
    counts: KernelCounts,
}

impl Kernel {
    /// A fresh stage (empty cache).
    pub fn new(options: &KernelOptions) -> Kernel {
        Kernel {
            mutes: options.mutes.clone(),
            events: options.cache_events.clone(),
            cache: EsCache::new(options.cache_size),
            caching: options.caches(),
            pending: PendingInserts::default(),
            awaiting: HashMap::new(),
            counts: KernelCounts::default(),
        }
    }

    /// Admits `message` arriving at `at_ns`, the position `index` it will
    /// have if it is not muted. Every answer at or before `at_ns` must have
    /// been reported through [`answered`](Self::answered) first.
    pub fn admit(&mut self, message: &Message, at_ns: u64, index: u64) -> Admission {
        self.pending.apply(at_ns, &mut self.cache);
        if self.caching
            && invalidates(message)
            && let Some(path) = message.target_path.as_deref()
        {
            self.counts.invalidated += self.cache.invalidate(path) as u64;
        }
        if self.mutes.mutes(message) {
            self.counts.muted += 1;
            return Admission::Muted;
        }
        if !self.caching || !message.is_auth() || !self.events.contains(&message.event) {
            return Admission::Client;
        }
        self.counts.lookups += 1;
        let Some((key, path)) = CacheKey::of(message) else {
            self.counts.keyless += 1;
            return Admission::Client;
        };
        if self.cache.lookup(&key) {
            self.counts.cached += 1;
            return Admission::Cached;
        }
        self.awaiting.insert(index, (key, path));
        Admission::Client
    }

    /// The message at position `index` was answered at `response_ns`;
    /// `by_client` says whether the client's own answer (cache = true)
    /// reached the kernel, rather than a default or kernel verdict.
    pub fn answered(&mut self, index: u64, response_ns: u64, by_client: bool) {
        if let Some((key, path)) = self.awaiting.remove(&index)
            && by_client
        {
            self.pending.push(response_ns, index, key, path);
        }
    }

    /// What the stage did so far.
    pub fn counts(&self) -> KernelCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64, event: EventType, at: u64, target: &str) -> Message {
        let action = event.action().unwrap_or(Action::Notify);
        let mut message = Message::new(seq, event, action, at);
        message.process_path = Some(Arc::from("/bin/cat"));
        message.target_path = Some(Arc::from(target));
        message
    }

    fn kernel(events: &str, size: usize, mutes: &[&str]) -> Kernel {
        Kernel::new(&KernelOptions {
            mutes: Mutes::parse(mutes.iter().copied()).unwrap(),
            cache_events: KernelOptions::parse_events(events).unwrap(),
            cache_size: size,
        })
    }

    #[test]
    fn a_write_between_two_opens_makes_the_second_reach_the_client() {
        let open = |seq, at| message(seq, EventType::AUTH_OPEN, at, "/tmp/f");
        let mut stage = kernel("AUTH_OPEN", 16, &[]);
        assert_eq!(stage.admit(&open(0, 0), 0, 0), Admission::Client);
        stage.answered(0, 10, true);
        assert_eq!(stage.admit(&open(1, 20), 20, 1), Admission::Cached);
        let write = message(2, EventType::NOTIFY_WRITE, 30, "/tmp/f");
        assert_eq!(stage.admit(&write, 30, 2), Admission::Client);
        assert_eq!(stage.admit(&open(3, 40), 40, 3), Admission::Client);
        assert_eq!(stage.counts().invalidated, 1);
    }

    #[test]
    fn only_a_modifying_close_and_the_notify_forms_invalidate() {
        let mut close = message(0, EventType::NOTIFY_CLOSE, 0, "/tmp/f");
        assert!(!invalidates(&close));
        close.details = Some(Box::new(esreplay_traces::Details {
            close_modified: Some(false),
            ..Default::default()
        }));
        assert!(!invalidates(&close));
        close.details.as_mut().unwrap().close_modified = Some(true);
        assert!(invalidates(&close));
        for event in INVALIDATING {
            assert!(invalidates(&message(0, event, 0, "/tmp/f")), "{event}");
        }
        for event in [
            EventType::AUTH_UNLINK,
            EventType::AUTH_RENAME,
            EventType::NOTIFY_OPEN,
        ] {
            assert!(!invalidates(&message(0, event, 0, "/tmp/f")), "{event}");
        }
    }

    #[test]
    fn order_at_one_instant_is_insert_then_invalidate_then_lookup() {
        let open = |seq, at| message(seq, EventType::AUTH_OPEN, at, "/tmp/f");
        let mut stage = kernel("AUTH_OPEN", 16, &[]);
        stage.admit(&open(0, 0), 0, 0);
        stage.answered(0, 10, true);
        // A write at 10 sees the answer inserted at 10 and drops it.
        let write = message(1, EventType::NOTIFY_WRITE, 10, "/tmp/f");
        stage.admit(&write, 10, 1);
        assert_eq!(stage.admit(&open(2, 10), 10, 2), Admission::Client);
        // An answer exactly at the lookup's instant is already in.
        stage.answered(2, 15, true);
        assert_eq!(stage.admit(&open(3, 15), 15, 3), Admission::Cached);
        // An answer after the lookup is not.
        let mut late = kernel("AUTH_OPEN", 16, &[]);
        late.admit(&open(0, 0), 0, 0);
        late.answered(0, 16, true);
        assert_eq!(late.admit(&open(1, 15), 15, 1), Admission::Client);
    }

    #[test]
    fn defaults_notify_and_unlisted_events_never_insert() {
        let mut stage = kernel("AUTH_OPEN,NOTIFY_OPEN", 16, &[]);
        assert_eq!(stage.events, vec![EventType::AUTH_OPEN]);
        let open = |seq, at| message(seq, EventType::AUTH_OPEN, at, "/tmp/f");
        stage.admit(&open(0, 0), 0, 0);
        stage.answered(0, 5, false);
        assert_eq!(stage.admit(&open(1, 10), 10, 1), Admission::Client);
        let exec = |seq, at| message(seq, EventType::AUTH_EXEC, at, "/tmp/f");
        stage.admit(&exec(2, 20), 20, 2);
        stage.answered(2, 21, true);
        assert_eq!(stage.admit(&exec(3, 30), 30, 3), Admission::Client);
        assert_eq!(stage.counts().lookups, 2);
    }

    #[test]
    fn without_paths_nothing_is_cached_and_it_is_counted() {
        let mut stage = kernel("AUTH_OPEN", 16, &[]);
        for seq in 0..3 {
            let bare = Message::new(seq, EventType::AUTH_OPEN, Action::Auth, seq * 10);
            assert_eq!(stage.admit(&bare, seq * 10, seq), Admission::Client);
            stage.answered(seq, seq * 10 + 1, true);
        }
        let counts = stage.counts();
        assert_eq!((counts.lookups, counts.keyless, counts.cached), (3, 3, 0));
        assert!(stage.awaiting.is_empty() && stage.pending.is_empty());
    }

    #[test]
    fn a_muted_write_still_invalidates_and_muted_messages_count() {
        let mut stage = kernel("AUTH_OPEN", 16, &["process-literal:/usr/bin/touch"]);
        let open = |seq, at| message(seq, EventType::AUTH_OPEN, at, "/tmp/f");
        stage.admit(&open(0, 0), 0, 0);
        stage.answered(0, 1, true);
        let mut write = message(1, EventType::NOTIFY_WRITE, 5, "/tmp/f");
        write.process_path = Some(Arc::from("/usr/bin/touch"));
        assert_eq!(stage.admit(&write, 5, 1), Admission::Muted);
        assert_eq!(stage.admit(&open(2, 9), 9, 1), Admission::Client);
        assert_eq!(stage.counts().muted, 1);
        let off = KernelOptions::default();
        assert!(!off.is_active());
        let zero = KernelOptions {
            cache_events: vec![EventType::AUTH_OPEN],
            cache_size: 0,
            ..KernelOptions::default()
        };
        assert!(!zero.is_active());
    }
}

#[cfg(test)]
mod engine_tests;
