//! Versions of a record and which one wins.
//!
//! Every write of a key carries `CAS_TIMESTAMP` with a stamp (`store::object::stamp`), so a
//! group keeps the newest stamp it was sent, and recovery copies by the same rule: the
//! version with the greatest timestamp wins. Two versions with the same timestamp (two
//! writers stamped in the same nanosecond, or a writer without stamps) are ordered by size,
//! then by `user_flags` — both larger wins — so every run, in whatever order groups are
//! listed, picks the same winner, and `CAS_TIMESTAMP` lets that winner overwrite the loser
//! (an equal timestamp is accepted). Versions equal in all three are treated as the same
//! version: ITERATOR gives no checksum, so two different bodies of the same stamp, size and
//! flags are not told apart.

use elliptics::client::IteratorEntry;
use elliptics::proto::DnetTime;

/// What ITERATOR tells about one record, ordered so that the newest version is the
/// greatest (timestamp, then size, then user flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version {
    /// Record timestamp (the write's stamp).
    pub timestamp: DnetTime,
    /// Record data size in bytes.
    pub size: u64,
    /// Record user flags.
    pub user_flags: u64,
}

impl Version {
    /// Bytes one entry of a listing takes in memory: the 64-byte id and this version.
    pub const LISTED_BYTES: usize = 64 + std::mem::size_of::<Version>();

    /// The version an iterator entry describes.
    pub fn of(entry: &IteratorEntry) -> Version {
        Version {
            timestamp: entry.timestamp,
            size: entry.size,
            user_flags: entry.user_flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(tsec: u64, tnsec: u64, size: u64, user_flags: u64) -> Version {
        Version {
            timestamp: DnetTime { tsec, tnsec },
            size,
            user_flags,
        }
    }

    #[test]
    fn newer_timestamp_wins_then_size_then_flags() {
        assert!(v(2, 0, 1, 0) > v(1, 999, 100, 9));
        assert!(v(1, 2, 1, 0) > v(1, 1, 100, 9));
        assert!(v(1, 1, 2, 0) > v(1, 1, 1, 9));
        assert!(v(1, 1, 1, 2) > v(1, 1, 1, 1));
        assert_eq!(Version::LISTED_BYTES, 96);
    }
}
