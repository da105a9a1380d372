//! Decoded journal lanes kept between listing pages.
//!
//! A lane is only ever appended to, so once a reader has decoded its first `n` bytes (whole
//! entries with good checksums) those entries stay true: the next page reads the lane from
//! byte `n - 1` on (the overlapping byte checks that the record is still the one decoded)
//! and decodes only what was appended since. Without it every page read and decoded every
//! live lane whole, which costs in proportion to the unmerged journal while writers outrun
//! compaction.
//!
//! One cache per bucket index. Bounded by entries: past [`MAX_CACHED_ENTRIES`] the lanes
//! used longest ago are dropped (a dropped lane is read whole again), and a listing drops
//! the lanes that are no longer live (merged generations) with
//! [`LaneCache::retain_lanes`], so the cache holds at most the bucket's unmerged journal.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::journal::JournalEntry;

/// Most entries kept, over every lane and group (about 100 B each).
pub const MAX_CACHED_ENTRIES: usize = 500_000;

/// Chunks a lane's entries are kept in before they are joined into one.
const MAX_CHUNKS: usize = 32;

/// The entries of one lane in one group, as decoded so far: chunks in log order, shared
/// with readers (appending a chunk never copies the entries before it).
#[derive(Debug, Clone, Default)]
pub struct LaneEntries {
    chunks: Vec<Arc<Vec<JournalEntry>>>,
}

impl LaneEntries {
    /// Entries in log order.
    pub fn iter(&self) -> impl Iterator<Item = &JournalEntry> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.chunks.iter().all(|c| c.is_empty())
    }

    /// These entries followed by `more`.
    pub fn with(&self, more: Vec<JournalEntry>) -> LaneEntries {
        let mut chunks = self.chunks.clone();
        if !more.is_empty() {
            chunks.push(Arc::new(more));
        }
        if chunks.len() > MAX_CHUNKS {
            let joined: Vec<JournalEntry> = chunks.iter().flat_map(|c| c.iter().cloned()).collect();
            chunks = vec![Arc::new(joined)];
        }
        LaneEntries { chunks }
    }
}

impl From<Vec<JournalEntry>> for LaneEntries {
    fn from(entries: Vec<JournalEntry>) -> LaneEntries {
        LaneEntries::default().with(entries)
    }
}

/// What is known of one lane in one group.
#[derive(Debug, Clone)]
pub struct CachedLane {
    /// Bytes decoded: the lane's first `len` bytes are exactly `entries`.
    pub len: u64,
    /// The byte at `len - 1` (checked against the next read's first byte).
    pub last: u8,
    /// The entries of those bytes.
    pub entries: LaneEntries,
}

#[derive(Debug)]
struct Slot {
    lane: CachedLane,
    used: Instant,
}

/// Lanes by (group, key).
#[derive(Debug, Default)]
pub struct LaneCache {
    map: HashMap<(u32, Vec<u8>), Slot>,
    entries: usize,
}

impl LaneCache {
    /// The lane `key` of group `group`, if known.
    pub fn get(&mut self, group: u32, key: &[u8]) -> Option<CachedLane> {
        let slot = self.map.get_mut(&(group, key.to_vec()))?;
        slot.used = Instant::now();
        Some(slot.lane.clone())
    }

    /// Records what is known of a lane (replacing what was), then drops the lanes used
    /// longest ago while over [`MAX_CACHED_ENTRIES`].
    pub fn put(&mut self, group: u32, key: &[u8], lane: CachedLane) {
        let n = lane.entries.len();
        let slot = Slot {
            lane,
            used: Instant::now(),
        };
        if let Some(old) = self.map.insert((group, key.to_vec()), slot) {
            self.entries -= old.lane.entries.len();
        }
        self.entries += n;
        while self.entries > MAX_CACHED_ENTRIES && self.map.len() > 1 {
            let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(s) = self.map.remove(&oldest) {
                self.entries -= s.lane.entries.len();
            }
        }
    }

    /// Forgets lane `key` of group `group`.
    pub fn forget(&mut self, group: u32, key: &[u8]) {
        if let Some(s) = self.map.remove(&(group, key.to_vec())) {
            self.entries -= s.lane.entries.len();
        }
    }

    /// Drops the lanes whose key starts with `prefix` (one shard's lanes) but is not in
    /// `live`.
    pub fn retain_lanes(&mut self, prefix: &[u8], live: &[Vec<u8>]) {
        let mut dropped = 0;
        self.map.retain(|(_, key), slot| {
            let keep = !key.starts_with(prefix) || live.contains(key);
            if !keep {
                dropped += slot.lane.entries.len();
            }
            keep
        });
        self.entries -= dropped;
    }

    /// Entries kept.
    pub fn entries(&self) -> usize {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::journal::JournalOp;
    use elliptics::proto::DnetTime;

    fn entry(i: u64) -> JournalEntry {
        JournalEntry {
            op: JournalOp::PutIntent,
            stamp: DnetTime { tsec: i, tnsec: 0 },
            key: format!("k{i}").into_bytes(),
            size: 0,
            etag: None,
        }
    }

    #[test]
    fn lane_entries_keep_log_order_across_chunks_and_joins() {
        let mut lane = LaneEntries::default();
        let mut want = Vec::new();
        for c in 0..(MAX_CHUNKS as u64 * 3) {
            let more: Vec<JournalEntry> = (c * 3..c * 3 + 3).map(entry).collect();
            want.extend(more.clone());
            lane = lane.with(more);
            assert!(lane.chunks.len() <= MAX_CHUNKS);
        }
        assert_eq!(lane.iter().cloned().collect::<Vec<_>>(), want);
        assert_eq!(lane.len(), want.len());
    }

    #[test]
    fn the_cache_counts_entries_and_drops_the_oldest_lanes() {
        let mut cache = LaneCache::default();
        let lane = |n: u64| CachedLane {
            len: n,
            last: 0,
            entries: LaneEntries::from((0..n).map(entry).collect::<Vec<_>>()),
        };
        cache.put(1, b"a", lane(3));
        cache.put(2, b"a", lane(4));
        assert_eq!(cache.entries(), 7);
        cache.put(1, b"a", lane(5));
        assert_eq!(cache.entries(), 9);
        assert_eq!(cache.get(1, b"a").map(|l| l.len), Some(5));
        cache.forget(2, b"a");
        assert_eq!(cache.entries(), 5);
        assert!(cache.get(2, b"a").is_none());
        cache.put(2, b"b", lane(2));
        cache.put(1, b"other", lane(1));
        cache.retain_lanes(b"", &[b"b".to_vec(), b"other".to_vec()]);
        cache.retain_lanes(b"o", &[]);
        assert_eq!(cache.entries(), 2);
        assert!(cache.get(1, b"a").is_none());
        assert_eq!(cache.get(2, b"b").map(|l| l.len), Some(2));
        assert!(cache.get(1, b"other").is_none());
    }
}
