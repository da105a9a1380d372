//! The in-memory index: key id → compact [`Entry`] (where the record is, its sizes and
//! metadata).
//!
//! A `std::collections::HashMap<[u8; 64], Entry>` costs 250–300 bytes per key at a million keys
//! (power-of-two bucket arrays are often half empty and every bucket holds key and value). Here
//! keys and entries live in a slab of fixed 4096-slot chunks (128 bytes per slot, no growth
//! slack beyond one chunk) and the hash table holds only a `u32` slot number and a one-byte
//! hash tag per position (open addressing, linear probing, backward-shift deletion, load
//! ≤ 3/4), so a key costs about 128 + 5/load bytes. The hash is SipHash with a per-process random key, so crafted ids cannot force long
//! probe chains.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use super::types::KeyId;

const CHUNK_SLOTS: usize = 4096;
const EMPTY: u32 = 0;

/// Entry flag used while scanning: the entry is a tombstone (removed key).
pub const FLAG_TOMBSTONE: u32 = 1;
/// Entry flag used while scanning: the entry comes from a COMMIT marker (target unchecked).
pub const FLAG_MARKER: u32 = 2;

/// Where a committed object lives and what it looks like (64 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number of the record that made this version visible.
    pub seq: u64,
    /// Offset of the record (header) inside its blob.
    pub offset: u64,
    /// Object data size.
    pub size: u64,
    /// Data area length of the record.
    pub reserved: u64,
    /// Timestamp seconds.
    pub tsec: u64,
    /// Timestamp nanoseconds.
    pub tnsec: u64,
    /// User flags.
    pub user_flags: u64,
    /// Blob number.
    pub blob: u32,
    /// `FLAG_*` bits (scan only; zero in a live index).
    pub flags: u32,
}

struct Slot {
    key: KeyId,
    entry: Entry,
}

/// Key → entry map with about 140 bytes of memory per key.
pub struct Index {
    /// Slot number + 1 per table position (0 = empty).
    table: Vec<u32>,
    /// Per table position: 0 = empty, else 7 bits of the key's hash with the top bit set, so
    /// most mismatches are rejected without touching the slab.
    tags: Vec<u8>,
    slots: Vec<Vec<Slot>>,
    free: Vec<u32>,
    len: usize,
    hasher: RandomState,
}

impl Default for Index {
    fn default() -> Self {
        Index::new()
    }
}

fn tag_of(hash: u64) -> u8 {
    (hash >> 57) as u8 | 0x80
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        Index::with_table(16, RandomState::new())
    }

    fn with_table(cap: usize, hasher: RandomState) -> Index {
        Index {
            table: vec![EMPTY; cap],
            tags: vec![0; cap],
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            hasher,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Approximate heap bytes used.
    pub fn memory_bytes(&self) -> usize {
        self.table.len() * 5
            + self.slots.len() * CHUNK_SLOTS * std::mem::size_of::<Slot>()
            + self.free.capacity() * 4
    }

    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    fn hash(&self, key: &KeyId) -> u64 {
        self.hasher.hash_one(key)
    }

    fn slot(&self, id: u32) -> &Slot {
        let i = (id - 1) as usize;
        &self.slots[i / CHUNK_SLOTS][i % CHUNK_SLOTS]
    }

    fn slot_mut(&mut self, id: u32) -> &mut Slot {
        let i = (id - 1) as usize;
        &mut self.slots[i / CHUNK_SLOTS][i % CHUNK_SLOTS]
    }

    /// `Ok(position)` of `key`, or `Err(position)` of the empty place where it would go.
    fn probe(&self, key: &KeyId, hash: u64) -> Result<usize, usize> {
        let mask = self.mask();
        let tag = tag_of(hash);
        let mut pos = hash as usize & mask;
        loop {
            let t = self.tags[pos];
            if t == 0 {
                return Err(pos);
            }
            if t == tag && self.slot(self.table[pos]).key == *key {
                return Ok(pos);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// The entry of `key`.
    pub fn get(&self, key: &KeyId) -> Option<&Entry> {
        let pos = self.probe(key, self.hash(key)).ok()?;
        Some(&self.slot(self.table[pos]).entry)
    }

    /// The entry of `key`, mutable.
    pub fn get_mut(&mut self, key: &KeyId) -> Option<&mut Entry> {
        let pos = self.probe(key, self.hash(key)).ok()?;
        let id = self.table[pos];
        Some(&mut self.slot_mut(id).entry)
    }

    /// Inserts or replaces; returns the previous entry.
    pub fn insert(&mut self, key: KeyId, entry: Entry) -> Option<Entry> {
        let mut old = None;
        self.upsert(key, entry, |cur| {
            old = Some(*cur);
            true
        });
        old
    }

    /// Inserts `entry`, or replaces the present entry if `replace` says so (one probe).
    pub fn upsert(&mut self, key: KeyId, entry: Entry, replace: impl FnOnce(&Entry) -> bool) {
        let hash = self.hash(&key);
        let pos = match self.probe(&key, hash) {
            Ok(pos) => {
                let id = self.table[pos];
                let cur = &mut self.slot_mut(id).entry;
                if replace(cur) {
                    *cur = entry;
                }
                return;
            }
            Err(pos) if (self.len + 1) * 4 <= self.table.len() * 3 => pos,
            Err(_) => {
                self.grow();
                match self.probe(&key, hash) {
                    Ok(pos) | Err(pos) => pos,
                }
            }
        };
        let id = self.alloc(Slot { key, entry });
        self.table[pos] = id;
        self.tags[pos] = tag_of(hash);
        self.len += 1;
    }

    fn alloc(&mut self, slot: Slot) -> u32 {
        if let Some(id) = self.free.pop() {
            *self.slot_mut(id) = slot;
            return id;
        }
        if self.slots.last().is_none_or(|c| c.len() == CHUNK_SLOTS) {
            self.slots.push(Vec::with_capacity(CHUNK_SLOTS));
        }
        let n = self.slots.len();
        let chunk = &mut self.slots[n - 1];
        chunk.push(slot);
        ((n - 1) * CHUNK_SLOTS + chunk.len()) as u32
    }

    /// Doubles the table, rehashing keys in slab order (sequential memory, unlike table order).
    fn grow(&mut self) {
        let cap = self.table.len() * 2;
        let mask = cap - 1;
        let mut table = vec![EMPTY; cap];
        let mut tags = vec![0u8; cap];
        let mut free = vec![
            false;
            if self.free.is_empty() {
                0
            } else {
                self.slots.len() * CHUNK_SLOTS
            }
        ];
        for &id in &self.free {
            free[(id - 1) as usize] = true;
        }
        for (c, chunk) in self.slots.iter().enumerate() {
            for (i, slot) in chunk.iter().enumerate() {
                let n = c * CHUNK_SLOTS + i;
                if free.get(n).copied().unwrap_or(false) {
                    continue;
                }
                let hash = self.hasher.hash_one(slot.key);
                let mut pos = hash as usize & mask;
                while tags[pos] != 0 {
                    pos = (pos + 1) & mask;
                }
                table[pos] = n as u32 + 1;
                tags[pos] = tag_of(hash);
            }
        }
        self.table = table;
        self.tags = tags;
    }

    /// Removes `key`; returns its entry.
    pub fn remove(&mut self, key: &KeyId) -> Option<Entry> {
        let mut hole = self.probe(key, self.hash(key)).ok()?;
        let id = self.table[hole];
        let entry = self.slot(id).entry;
        self.table[hole] = EMPTY;
        self.tags[hole] = 0;
        self.free.push(id);
        self.len -= 1;
        // Backward-shift deletion: pull later members of the probe run into the hole.
        let mask = self.mask();
        let mut pos = hole;
        loop {
            pos = (pos + 1) & mask;
            let next = self.table[pos];
            if next == EMPTY {
                break;
            }
            let home = self.hash(&self.slot(next).key) as usize & mask;
            // `next` may move to `hole` unless its home lies cyclically in (hole, pos].
            let stays = if hole <= pos {
                hole < home && home <= pos
            } else {
                hole < home || home <= pos
            };
            if !stays {
                self.table[hole] = next;
                self.tags[hole] = self.tags[pos];
                self.table[pos] = EMPTY;
                self.tags[pos] = 0;
                hole = pos;
            }
        }
        Some(entry)
    }

    /// Iterates over all keys and entries (unordered).
    pub fn iter(&self) -> impl Iterator<Item = (&KeyId, &Entry)> + '_ {
        self.table.iter().filter(|&&id| id != EMPTY).map(|&id| {
            let s = self.slot(id);
            (&s.key, &s.entry)
        })
    }

    /// Iterates over `(slot id, entry)` pairs; see [`slot_key`](Self::slot_key).
    pub fn iter_slots(&self) -> impl Iterator<Item = (u32, &Entry)> + '_ {
        self.table
            .iter()
            .filter(|&&id| id != EMPTY)
            .map(|&id| (id, &self.slot(id).entry))
    }

    /// The key last stored in slot `id` (the slot may since have been freed or reused: check
    /// the entry with [`get`](Self::get)).
    pub fn slot_key(&self, id: u32) -> Option<&KeyId> {
        let i = (id as usize).checked_sub(1)?;
        self.slots
            .get(i / CHUNK_SLOTS)?
            .get(i % CHUNK_SLOTS)
            .map(|s| &s.key)
    }

    /// Rebuilds the index without the entries `keep` rejects, releasing the memory of removed
    /// keys (used once after the open scan).
    pub fn retain_compact(&mut self, mut keep: impl FnMut(&KeyId, &Entry) -> bool) {
        let want = self.iter().filter(|(k, e)| keep(k, e)).count();
        let mut cap = 16;
        while want * 4 > cap * 3 {
            cap *= 2;
        }
        let fresh = Index::with_table(cap, self.hasher.clone());
        let old = std::mem::replace(self, fresh);
        for (k, e) in old.iter() {
            if keep(k, e) {
                self.insert(*k, *e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn key(i: u64) -> KeyId {
        let mut k = [0u8; 64];
        k[..8].copy_from_slice(&i.to_le_bytes());
        k
    }

    fn entry(i: u64) -> Entry {
        Entry {
            seq: i,
            offset: i * 2,
            size: i * 3,
            reserved: i * 3,
            tsec: 0,
            tnsec: 0,
            user_flags: i,
            blob: i as u32,
            flags: 0,
        }
    }

    #[test]
    fn entry_is_compact() {
        assert_eq!(std::mem::size_of::<Entry>(), 64);
        assert_eq!(std::mem::size_of::<Slot>(), 128);
    }

    #[test]
    fn behaves_like_a_hashmap() {
        let mut idx = Index::new();
        let mut model = HashMap::new();
        let mut x: u64 = 1;
        for step in 0..60_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = (x >> 33) % 5000;
            if x % 3 == 0 {
                assert_eq!(idx.remove(&key(k)), model.remove(&k), "step {step}");
            } else {
                assert_eq!(
                    idx.insert(key(k), entry(step)),
                    model.insert(k, entry(step))
                );
            }
            assert_eq!(idx.len(), model.len());
        }
        for k in 0..5000 {
            assert_eq!(idx.get(&key(k)), model.get(&k));
        }
        assert_eq!(idx.iter().count(), model.len());
        idx.retain_compact(|_, e| e.seq % 2 == 0);
        for k in 0..5000 {
            let want = model.get(&k).filter(|e| e.seq % 2 == 0);
            assert_eq!(idx.get(&key(k)), want);
        }
        let first = idx.iter().next().map(|(k, _)| *k);
        if let Some(e) = first {
            idx.get_mut(&e).unwrap().size = 1;
            assert_eq!(idx.get(&e).unwrap().size, 1);
        }
    }
}
