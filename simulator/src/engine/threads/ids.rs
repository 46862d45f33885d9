//! Dense thread ids: the closed loop's one lookup per message.
//!
//! A thread (pid, thread id) gets the next dense id at its first message.
//! The table is open addressing with linear probing over a power-of-two
//! array at most half full: a hit costs a multiply, a shift and usually
//! one comparison of the slot found (a general hash map, even with a cheap
//! hasher, spends about three times that on its group probing). Ids are
//! given in order of first appearance, whatever the table's layout, so
//! nothing observable depends on the hash.

/// An empty slot.
const EMPTY: u32 = u32::MAX;

/// One slot: a thread key and its dense id ([`EMPTY`]: none).
#[derive(Clone, Copy)]
struct Slot {
    tid: u64,
    pid: u32,
    id: u32,
}

const FREE: Slot = Slot {
    tid: 0,
    pid: 0,
    id: EMPTY,
};

/// The thread ids seen, by key.
pub(super) struct ThreadIds {
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`: the hash's top bits index the table.
    shift: u32,
    len: u32,
}

impl Default for ThreadIds {
    fn default() -> Self {
        ThreadIds {
            slots: vec![FREE; 64],
            shift: 64 - 6,
            len: 0,
        }
    }
}

/// The home slot of (pid, tid) in a table indexed by the top `64 - shift`
/// bits (Fibonacci hashing of both words).
#[inline]
fn home(pid: u32, tid: u64, shift: u32) -> usize {
    let mixed = (tid ^ (u64::from(pid) << 40)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> shift) as usize
}

impl ThreadIds {
    /// The dense id of (pid, tid), given now (the next one) if it is new.
    #[inline]
    pub(super) fn id(&mut self, (pid, tid): (u32, u64)) -> u32 {
        let mask = self.slots.len() - 1;
        let mut at = home(pid, tid, self.shift);
        loop {
            let slot = self.slots[at];
            if slot.id == EMPTY {
                return self.insert(at, pid, tid);
            }
            if slot.tid == tid && slot.pid == pid {
                return slot.id;
            }
            at = (at + 1) & mask;
        }
    }

    /// A new thread in the empty slot `at`.
    #[cold]
    fn insert(&mut self, at: usize, pid: u32, tid: u64) -> u32 {
        let id = self.len;
        self.slots[at] = Slot { tid, pid, id };
        self.len += 1;
        if 2 * self.len as usize > self.slots.len() {
            self.grow();
        }
        id
    }

    /// Doubles the table.
    fn grow(&mut self) {
        let doubled = vec![FREE; 2 * self.slots.len()];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.shift -= 1;
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|slot| slot.id != EMPTY) {
            let mut at = home(slot.pid, slot.tid, self.shift);
            while self.slots[at].id != EMPTY {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn ids_follow_first_appearance_like_a_hash_map_through_growth() {
        let mut ids = ThreadIds::default();
        let mut reference: HashMap<(u32, u64), u32> = HashMap::new();
        // Keys that share tids across pids, extremes, and enough threads
        // for the table to grow several times; each seen many times.
        let keys: Vec<(u32, u64)> = (0..5_000u64)
            .map(|i| ((i % 7) as u32 * (u32::MAX / 7), (i * 7919) % 1_300))
            .chain([(u32::MAX, u64::MAX), (0, 0), (u32::MAX, 0), (0, u64::MAX)])
            .collect();
        for &key in keys.iter().chain(keys.iter().rev()) {
            let next = reference.len() as u32;
            let expected = *reference.entry(key).or_insert(next);
            assert_eq!(ids.id(key), expected, "{key:?}");
        }
        assert_eq!(ids.len as usize, reference.len());
        assert!(ids.slots.len() > 2_048, "the table grew");
    }
}
