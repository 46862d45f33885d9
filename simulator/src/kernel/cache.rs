//! The ES AUTH result cache as a what-if (`--es-cache`, `--es-cache-size`):
//! an LRU of [`CacheKey`]s with invalidation by target path, and the
//! [`PendingInserts`] that wait for their answer time.
//!
//! A key is (event, process executable, target file); the file is its
//! (device, inode) where the message has them (ES keys its cache by file,
//! not by name), else its path. Every entry also remembers the target path
//! it was inserted under, so that a NOTIFY_WRITE, NOTIFY_RENAME,
//! NOTIFY_UNLINK or NOTIFY_TRUNCATE of that path drops it. "Use" is an
//! insert or a hit; past the capacity the least recently used entry goes.
//! Memory is bounded by the capacity (entries) and by the answers not yet
//! due (pending inserts).
//!
//! Hashing: a key's hash is computed once, when the key is made, and a
//! path's once per insert or invalidation; the maps then hash a u64.

use std::cmp::{Ordering, Reverse};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use esreplay_traces::{EventType, Message};

/// How a cache key names the target file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FileId {
    /// (device, inode): the file itself, whatever its name.
    Inode {
        /// Device.
        dev: u64,
        /// Inode.
        ino: u64,
    },
    /// The path, when the trace has no inode.
    Path(Arc<str>),
}

/// One ES cache key: (event, process executable, target file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    /// The fields' hash, computed once (compared first: a fast mismatch).
    hash: u64,
    /// The AUTH event.
    pub event: EventType,
    /// The executable path of the process.
    pub process: Arc<str>,
    /// The target file.
    pub file: FileId,
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A stable 64-bit hash (SipHash with fixed keys: the same every run).
fn stable_hash(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Passes a precomputed u64 hash through.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by values that carry their own hash.
type PrehashedMap<K, V> = HashMap<K, V, BuildHasherDefault<Prehashed>>;

impl CacheKey {
    /// The key of `message` and the target path it is invalidated by, or
    /// `None` if the message has no process or no target path.
    pub fn of(message: &Message) -> Option<(CacheKey, Arc<str>)> {
        let process = message.process_path.clone()?;
        let path = message.target_path.clone()?;
        let inode = message
            .details
            .as_deref()
            .and_then(|d| Some((d.target_dev?, d.target_ino?)));
        let file = match inode {
            Some((dev, ino)) => FileId::Inode { dev, ino },
            None => FileId::Path(path.clone()),
        };
        let hash = stable_hash(&(message.event, &process, &file));
        let key = CacheKey {
            hash,
            event: message.event,
            process,
            file,
        };
        Some((key, path))
    }
}

/// One cache entry: when it was last used and under which path.
#[derive(Debug)]
struct Entry {
    stamp: u64,
    path: Arc<str>,
    path_hash: u64,
}

/// The LRU cache; capacity 0 holds nothing.
#[derive(Default)]
pub struct EsCache {
    capacity: usize,
    entries: PrehashedMap<CacheKey, Entry>,
    /// Use stamp → key, oldest first.
    recency: BTreeMap<u64, CacheKey>,
    /// Target path's hash → the keys inserted under it (or under another
    /// path with the same hash: [`invalidate`](Self::invalidate) checks).
    by_path: PrehashedMap<u64, Vec<CacheKey>>,
    clock: u64,
}

impl std::fmt::Debug for EsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsCache")
            .field("capacity", &self.capacity)
            .field("len", &self.entries.len())
            .finish()
    }
}

impl EsCache {
    /// An empty cache of `capacity` entries.
    pub fn new(capacity: usize) -> EsCache {
        EsCache {
            capacity,
            ..EsCache::default()
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Inserts (or refreshes) `key` under `path`, evicting the least
    /// recently used entry beyond the capacity.
    pub fn insert(&mut self, key: CacheKey, path: Arc<str>) {
        if self.capacity == 0 {
            return;
        }
        let stamp = self.tick();
        if let Some(entry) = self.entries.get_mut(&key) {
            self.recency.remove(&entry.stamp);
            entry.stamp = stamp;
            if entry.path != path {
                let path_hash = stable_hash(&path);
                let old = std::mem::replace(&mut entry.path_hash, path_hash);
                entry.path = path;
                unindex(&mut self.by_path, old, &key);
                self.by_path.entry(path_hash).or_default().push(key.clone());
            }
            self.recency.insert(stamp, key);
            return;
        }
        if self.entries.len() >= self.capacity
            && let Some((_, oldest)) = self.recency.pop_first()
            && let Some(entry) = self.entries.remove(&oldest)
        {
            unindex(&mut self.by_path, entry.path_hash, &oldest);
        }
        let path_hash = stable_hash(&path);
        self.by_path.entry(path_hash).or_default().push(key.clone());
        self.recency.insert(stamp, key.clone());
        let entry = Entry {
            stamp,
            path,
            path_hash,
        };
        self.entries.insert(key, entry);
    }

    /// Whether `key` is cached; a hit is a use.
    pub fn lookup(&mut self, key: &CacheKey) -> bool {
        let stamp = self.clock + 1;
        let Some(entry) = self.entries.get_mut(key) else {
            return false;
        };
        self.clock = stamp;
        let old = std::mem::replace(&mut entry.stamp, stamp);
        let key = self.recency.remove(&old).expect("every entry has a stamp");
        self.recency.insert(stamp, key);
        true
    }

    /// Drops every entry inserted under `path`; returns how many.
    pub fn invalidate(&mut self, path: &str) -> usize {
        let path_hash = stable_hash(&path);
        let Some(keys) = self.by_path.remove(&path_hash) else {
            return 0;
        };
        let mut dropped = 0;
        let mut others = Vec::new();
        for key in keys {
            match self.entries.get(&key) {
                Some(entry) if &*entry.path == path => {
                    self.recency.remove(&entry.stamp);
                    self.entries.remove(&key);
                    dropped += 1;
                }
                _ => others.push(key),
            }
        }
        if !others.is_empty() {
            self.by_path.insert(path_hash, others);
        }
        dropped
    }
}

fn unindex(by_path: &mut PrehashedMap<u64, Vec<CacheKey>>, path_hash: u64, key: &CacheKey) {
    if let Some(keys) = by_path.get_mut(&path_hash) {
        keys.retain(|k| k != key);
        if keys.is_empty() {
            by_path.remove(&path_hash);
        }
    }
}

/// An answer the cache learns at `at_ns` (the client's response time).
#[derive(Debug)]
struct Pending {
    at_ns: u64,
    /// Tie-break among answers at one instant: the message's position.
    order: u64,
    key: CacheKey,
    path: Arc<str>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at_ns, self.order).cmp(&(other.at_ns, other.order))
    }
}

/// Answers known before they happen, applied to the cache in time order
/// (then by message position) once the clock reaches them: a min-heap,
/// as large as the answers still in the future.
#[derive(Debug, Default)]
pub struct PendingInserts {
    heap: BinaryHeap<Reverse<Pending>>,
}

impl PendingInserts {
    /// `key` (under `path`) goes into the cache at `at_ns`; `order`
    /// breaks ties between answers at one instant.
    pub fn push(&mut self, at_ns: u64, order: u64, key: CacheKey, path: Arc<str>) {
        self.heap.push(Reverse(Pending {
            at_ns,
            order,
            key,
            path,
        }));
    }

    /// Inserts into `cache`, in time order, every answer at or before `now_ns`.
    pub fn apply(&mut self, now_ns: u64, cache: &mut EsCache) {
        while self.heap.peek().is_some_and(|p| p.0.at_ns <= now_ns) {
            let Reverse(pending) = self.heap.pop().expect("peeked");
            cache.insert(pending.key, pending.path);
        }
    }

    /// Answers not yet applied.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esreplay_traces::{Action, Details};
    use proptest::prelude::*;

    fn key(process: &str, file: &str) -> (CacheKey, Arc<str>) {
        let mut message = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 0);
        message.process_path = Some(Arc::from(process));
        message.target_path = Some(Arc::from(file));
        CacheKey::of(&message).unwrap()
    }

    #[test]
    fn size_one_with_two_alternating_keys_never_hits() {
        let mut cache = EsCache::new(1);
        let (a, b) = (key("/bin/p", "/a"), key("/bin/p", "/b"));
        for round in 0..10 {
            for (k, path) in [&a, &b] {
                assert!(!cache.lookup(k), "round {round}");
                cache.insert(k.clone(), path.clone());
            }
        }
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn lru_evicts_the_least_recently_used_and_hits_are_uses() {
        let mut cache = EsCache::new(2);
        let [a, b, c] = ["/a", "/b", "/c"].map(|f| key("/bin/p", f));
        cache.insert(a.0.clone(), a.1.clone());
        cache.insert(b.0.clone(), b.1.clone());
        assert!(cache.lookup(&a.0)); // a is now the most recent
        cache.insert(c.0.clone(), c.1.clone()); // evicts b
        assert!(cache.lookup(&a.0) && cache.lookup(&c.0) && !cache.lookup(&b.0));
        assert_eq!(
            cache.by_path.len(),
            2,
            "an evicted entry leaves the path index"
        );
        assert!(!EsCache::new(0).lookup(&a.0));
        let mut off = EsCache::new(0);
        off.insert(a.0.clone(), a.1.clone());
        assert!(off.is_empty());
    }

    #[test]
    fn invalidation_drops_every_process_and_event_for_the_path() {
        let mut cache = EsCache::new(8);
        for process in ["/bin/a", "/bin/b"] {
            let (k, path) = key(process, "/etc/hosts");
            cache.insert(k, path);
        }
        let (other, path) = key("/bin/a", "/etc/passwd");
        cache.insert(other.clone(), path);
        assert_eq!(cache.invalidate("/etc/hosts"), 2);
        assert_eq!(cache.invalidate("/etc/hosts"), 0);
        assert!(cache.lookup(&other) && cache.len() == 1);
    }

    #[test]
    fn files_are_keyed_by_inode_where_present_else_by_path() {
        let mut message = Message::new(0, EventType::AUTH_OPEN, Action::Auth, 0);
        message.process_path = Some(Arc::from("/bin/cat"));
        message.target_path = Some(Arc::from("/tmp/a"));
        let by_path = CacheKey::of(&message).unwrap().0;
        assert_eq!(by_path.file, FileId::Path(Arc::from("/tmp/a")));
        message.details = Some(Box::new(Details {
            target_dev: Some(1),
            target_ino: Some(42),
            ..Details::default()
        }));
        let (by_inode, path) = CacheKey::of(&message).unwrap();
        assert_eq!(by_inode.file, FileId::Inode { dev: 1, ino: 42 });
        // A hard link: another name, the same file, the same entry.
        message.target_path = Some(Arc::from("/tmp/link"));
        let mut cache = EsCache::new(4);
        cache.insert(by_inode.clone(), path);
        assert!(cache.lookup(&CacheKey::of(&message).unwrap().0));
        message.process_path = None;
        assert!(CacheKey::of(&message).is_none(), "no process, no key");
    }

    #[test]
    fn pending_inserts_apply_in_time_order_up_to_now() {
        let mut pending = PendingInserts::default();
        let mut cache = EsCache::new(1);
        let (a, b) = (key("/bin/p", "/a"), key("/bin/p", "/b"));
        pending.push(20, 1, a.0.clone(), a.1.clone());
        pending.push(10, 2, b.0.clone(), b.1.clone());
        pending.push(30, 0, b.0.clone(), b.1.clone());
        pending.apply(5, &mut cache);
        assert!(cache.is_empty() && pending.len() == 3);
        // b at 10, then a at 20: a is the one left in a cache of one.
        pending.apply(20, &mut cache);
        assert!(cache.lookup(&a.0) && !cache.lookup(&b.0));
        pending.apply(u64::MAX, &mut cache);
        assert!(pending.is_empty() && cache.lookup(&b.0));
    }

    proptest! {
        /// The cache never holds more than its capacity, and agrees with a
        /// naive LRU (a list, most recent last).
        #[test]
        fn agrees_with_a_naive_lru(
            capacity in 0usize..5,
            ops in proptest::collection::vec((0u8..3, 0u8..6), 0..200),
        ) {
            let mut cache = EsCache::new(capacity);
            let mut naive: Vec<u8> = Vec::new();
            // Two processes per file: invalidating a path drops both keys.
            let keys: Vec<_> = (0..6)
                .map(|i| key(["/bin/p", "/bin/q"][i / 3], &format!("/f{}", i % 3)))
                .collect();
            for (op, i) in ops {
                let (k, path) = &keys[usize::from(i)];
                match op {
                    0 => {
                        let hit = naive.contains(&i);
                        prop_assert_eq!(cache.lookup(k), hit);
                        if hit {
                            naive.retain(|&x| x != i);
                            naive.push(i);
                        }
                    }
                    1 => {
                        cache.insert(k.clone(), path.clone());
                        if capacity > 0 {
                            naive.retain(|&x| x != i);
                            if naive.len() >= capacity {
                                naive.remove(0);
                            }
                            naive.push(i);
                        }
                    }
                    _ => {
                        cache.invalidate(path);
                        naive.retain(|&x| keys[usize::from(x)].1 != *path);
                    }
                }
                prop_assert!(cache.len() <= capacity);
                prop_assert_eq!(cache.len(), naive.len());
            }
        }
    }
}
