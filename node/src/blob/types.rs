//! Public value types of the blob store: configuration, requests and record descriptions.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A 64-byte Elliptics object id (`dnet_raw_id`).
pub type KeyId = [u8; 64];

/// Elliptics record flags (`DNET_RECORD_FLAGS_*`) reported for stored records.
pub mod record_flags {
    /// The record data starts with an extension header (eblob reports it for every record
    /// written by Elliptics; we keep the same metadata in our record header).
    pub const EXTHDR: u64 = 0x40;
    /// Prepared but not committed: invisible to read and lookup.
    pub const UNCOMMITTED: u64 = 0x80;
    /// Checksummed by chunks: partial reads are verified chunk by chunk.
    pub const CHUNKED_CSUM: u64 = 0x100;
    /// Flags of a committed record (what a real eblob backend reports: `0x140`).
    pub const COMMITTED: u64 = EXTHDR | CHUNKED_CSUM;
    /// Flags of a prepared, not yet committed record.
    pub const PREPARED: u64 = COMMITTED | UNCOMMITTED;
}

/// When written data is forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `fdatasync` before every write or remove is acknowledged.
    Always,
    /// The owner calls [`BlobStore::sync`](super::BlobStore::sync) at this period.
    Interval(Duration),
    /// Never sync explicitly (the kernel writes back on its own schedule).
    Never,
}

/// A sync policy string that is not `always`, `never` or `interval:<ms>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sync policy {0:?}: expected \"always\", \"never\" or \"interval:<milliseconds>\"")]
pub struct ParseSyncPolicyError(pub String);

impl FromStr for SyncPolicy {
    type Err = ParseSyncPolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseSyncPolicyError(s.to_string());
        match s {
            "always" => Ok(SyncPolicy::Always),
            "never" => Ok(SyncPolicy::Never),
            _ => {
                let ms = s.strip_prefix("interval:").ok_or_else(bad)?;
                if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                match ms.parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(SyncPolicy::Interval(Duration::from_millis(ms))),
                    _ => Err(bad()),
                }
            }
        }
    }
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPolicy::Always => f.write_str("always"),
            SyncPolicy::Never => f.write_str("never"),
            SyncPolicy::Interval(d) => write!(f, "interval:{}", d.as_millis()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SyncPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for SyncPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Configuration of one store (one backend directory).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory holding the blob files and the LOCK file (created if missing).
    pub dir: PathBuf,
    /// The active blob file is rotated before an append would grow it past this size.
    pub blob_size: u64,
    /// Most total bytes of blob files; writes beyond fail with `NoSpace` (0 = unlimited).
    pub size_limit: u64,
    /// When data is synced to disk.
    pub sync: SyncPolicy,
}

/// Record timestamp (`dnet_time`): seconds and nanoseconds, stored as given by the writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since the epoch.
    pub tsec: u64,
    /// Nanoseconds.
    pub tnsec: u64,
}

/// What the store knows about one record (the Elliptics "file info").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInfo {
    /// Data size of the object (for a prepared record: its reservation).
    pub size: u64,
    /// Bytes reserved for data in the record (≥ `size`).
    pub reserved: u64,
    /// Timestamp stored by the last write.
    pub timestamp: Timestamp,
    /// Opaque user flags stored by the last write.
    pub user_flags: u64,
    /// `DNET_RECORD_FLAGS_*` (see [`record_flags`]).
    pub record_flags: u64,
    /// Blob file holding the data.
    pub path: PathBuf,
    /// Byte offset of the data inside `path`.
    pub data_offset: u64,
}

/// How a write request treats the object (Elliptics `PREPARE`/`COMMIT`/`PLAIN_WRITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// New committed object of size `offset + data.len()`; bytes `[0, offset)` come from the
    /// current object (zero-filled where it is shorter).
    Plain,
    /// Reserve `reserve` data bytes in a new uncommitted record, then write the chunk.
    Prepare {
        /// Bytes to reserve (the final object size).
        reserve: u64,
    },
    /// Write the chunk in place into the prepared record (or a committed record with room).
    PlainChunk,
    /// Write the chunk in place, then commit the record with data size `size`.
    Commit {
        /// Final object size.
        size: u64,
    },
    /// `PREPARE|COMMIT` in one request: a new committed object of size `offset + data.len()`
    /// whose bytes before `offset` are zero.
    PrepareCommit,
}

/// One write request.
#[derive(Debug, Clone, Copy)]
pub struct WriteRequest<'a> {
    /// The chunk to write.
    pub data: &'a [u8],
    /// Offset of the chunk inside the object.
    pub offset: u64,
    /// What to do.
    pub kind: WriteKind,
    /// Timestamp stored with the record.
    pub timestamp: Timestamp,
    /// User flags stored with the record.
    pub user_flags: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_policy_parses_and_prints() {
        for s in ["always", "never", "interval:250"] {
            let p: SyncPolicy = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
        }
        assert_eq!(
            "interval:1000".parse::<SyncPolicy>().unwrap(),
            SyncPolicy::Interval(Duration::from_secs(1))
        );
        for bad in [
            "",
            "sometimes",
            "interval:",
            "interval:0",
            "interval:-1",
            "interval:1s",
        ] {
            assert!(bad.parse::<SyncPolicy>().is_err(), "{bad}");
        }
        let p: SyncPolicy = serde_json::from_str("\"interval:5\"").unwrap();
        assert_eq!(p, SyncPolicy::Interval(Duration::from_millis(5)));
        assert!(serde_json::from_str::<SyncPolicy>("\"x\"").is_err());
        assert_eq!(
            serde_json::to_string(&SyncPolicy::Never).unwrap(),
            "\"never\""
        );
    }
}
