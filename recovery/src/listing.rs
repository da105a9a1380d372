//! The listing of one group: every committed record its backends hold, one entry per id
//! (96 bytes: the id and its [`Version`]), sorted by id so listings of several groups can
//! be merged in one pass.
//!
//! What ITERATOR sends is filtered here: prepared, uncommitted records (an upload in
//! progress or abandoned; invisible to READ) and records flagged removed (neither server
//! seen sends them) are counted and left out. An id listed twice in one group — by two
//! backends after a route change, or twice by one backend — keeps its newest version.

use elliptics::client::IteratorEntry;
use elliptics::proto::{Id, record_flags};

use crate::version::Version;

/// One id and the version a group holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Listed {
    /// The key id.
    pub id: Id,
    /// The version held.
    pub version: Version,
}

/// What was left out of a listing, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingStats {
    /// Prepared, uncommitted records (not copied: nothing can read them).
    pub uncommitted: u64,
    /// Records flagged removed.
    pub removed: u64,
    /// Older duplicates of an id listed more than once.
    pub duplicates: u64,
}

/// Collects the entries of one group's backends, in any order.
#[derive(Debug, Clone)]
pub struct ListingBuilder {
    group: u32,
    entries: Vec<Listed>,
    stats: ListingStats,
}

impl ListingBuilder {
    /// An empty listing of `group`.
    pub fn new(group: u32) -> Self {
        Self {
            group,
            entries: Vec::new(),
            stats: ListingStats::default(),
        }
    }

    /// Adds one iterator entry (uncommitted and removed records are only counted).
    pub fn push(&mut self, entry: &IteratorEntry) {
        if entry.record_flags & record_flags::UNCOMMITTED != 0 {
            self.stats.uncommitted += 1;
        } else if entry.record_flags & record_flags::REMOVE != 0 {
            self.stats.removed += 1;
        } else {
            self.push_version(entry.key, Version::of(entry));
        }
    }

    /// Adds a committed record.
    pub fn push_version(&mut self, id: Id, version: Version) {
        self.entries.push(Listed { id, version });
    }

    /// Adds everything another builder (another backend of the same group) collected.
    pub fn merge(&mut self, other: ListingBuilder) {
        self.entries.extend(other.entries);
        self.stats.uncommitted += other.stats.uncommitted;
        self.stats.removed += other.stats.removed;
        self.stats.duplicates += other.stats.duplicates;
    }

    /// Entries collected so far (duplicates included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sorts by id and keeps the newest version of each id.
    pub fn finish(mut self) -> GroupListing {
        // Newest first within an id, so `dedup` keeps it.
        self.entries
            .sort_unstable_by(|a, b| a.id.cmp(&b.id).then(b.version.cmp(&a.version)));
        let before = self.entries.len();
        self.entries.dedup_by_key(|e| e.id);
        self.stats.duplicates += (before - self.entries.len()) as u64;
        self.entries.shrink_to_fit();
        GroupListing {
            group: self.group,
            entries: self.entries,
            stats: self.stats,
        }
    }
}

/// The committed records of one group, one per id, ascending by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    group: u32,
    entries: Vec<Listed>,
    stats: ListingStats,
}

impl GroupListing {
    /// A listing of `group` from `(id, version)` pairs in any order (duplicates: the newest
    /// is kept).
    pub fn from_versions(group: u32, versions: impl IntoIterator<Item = (Id, Version)>) -> Self {
        let mut b = ListingBuilder::new(group);
        for (id, v) in versions {
            b.push_version(id, v);
        }
        b.finish()
    }

    /// The group.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// The records, ascending by id, one per id.
    pub fn entries(&self) -> &[Listed] {
        &self.entries
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the group holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Data bytes of the records.
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.version.size).sum()
    }

    /// What was left out.
    pub fn stats(&self) -> ListingStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use elliptics::proto::DnetTime;

    fn entry(key: u8, tsec: u64, size: u64, flags: u64) -> IteratorEntry {
        IteratorEntry {
            key: Id([key; 64]),
            timestamp: DnetTime { tsec, tnsec: 0 },
            user_flags: 0,
            size,
            record_flags: flags,
            data: None::<Bytes>,
        }
    }

    #[test]
    fn filters_sorts_and_keeps_the_newest_duplicate() {
        let mut a = ListingBuilder::new(1);
        a.push(&entry(3, 1, 10, record_flags::EXTHDR));
        a.push(&entry(1, 5, 10, 0));
        a.push(&entry(
            2,
            1,
            0,
            record_flags::UNCOMMITTED | record_flags::EXTHDR,
        ));
        let mut b = ListingBuilder::new(1);
        b.push(&entry(1, 7, 3, 0));
        b.push(&entry(4, 1, 1, record_flags::REMOVE));
        a.merge(b);
        let l = a.finish();
        let ids: Vec<u8> = l.entries().iter().map(|e| e.id.0[0]).collect();
        assert_eq!(ids, vec![1, 3]);
        assert_eq!(l.entries()[0].version.timestamp.tsec, 7);
        assert_eq!(
            l.stats(),
            ListingStats {
                uncommitted: 1,
                removed: 1,
                duplicates: 1
            }
        );
        assert_eq!(l.bytes(), 13);
        assert_eq!(l.group(), 1);
    }
}
