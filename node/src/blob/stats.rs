//! Statistics the store reports (the eblob `summary_stats`/`base_stats`/`global_stats` shape)
//! and the defragmentation state.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Record counts of one blob file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobFileStats {
    /// Records on disk, including removed ones, tombstones and commit markers.
    pub records_total: u64,
    /// Records whose space defragmentation reclaims: overwritten or removed versions,
    /// tombstones, commit markers and abandoned prepared records.
    pub records_removed: u64,
    /// Bytes of those records.
    pub records_removed_size: u64,
    /// Damaged records skipped when the blob was scanned.
    pub records_corrupted: u64,
    /// Bytes of the blob file(s).
    pub base_size: u64,
}

/// A snapshot of the store statistics.
#[derive(Debug, Clone)]
pub struct StoreStats {
    /// Store directory.
    pub dir: PathBuf,
    /// Rotation size of blob files.
    pub blob_size: u64,
    /// Size limit (0 = unlimited).
    pub size_limit: u64,
    /// Whether the store is read-only.
    pub read_only: bool,
    /// Records on disk, including removed ones (sum over [`blobs`](Self::blobs)).
    pub records_total: u64,
    /// Records whose space defragmentation reclaims.
    pub records_removed: u64,
    /// Bytes of those records.
    pub records_removed_size: u64,
    /// Damaged records skipped at open.
    pub records_corrupted: u64,
    /// Bytes of all blob files.
    pub base_size: u64,
    /// Per blob file, by file name.
    pub blobs: BTreeMap<String, BlobFileStats>,
    /// Live (committed, visible) keys.
    pub keys: u64,
    /// Prepared, not yet committed records.
    pub pending: u64,
    /// Approximate memory of the in-memory index in bytes.
    pub index_memory: u64,
    /// Successful writes (all kinds) since open.
    pub writes: u64,
    /// Bytes of data written by them.
    pub write_bytes: u64,
    /// Successful reads since open.
    pub reads: u64,
    /// Bytes returned by them.
    pub read_bytes: u64,
    /// Lookups since open.
    pub lookups: u64,
    /// Successful removes since open.
    pub removes: u64,
    /// Defragmentation state.
    pub defrag: DefragState,
}

impl StoreStats {
    /// Fills the store-wide totals from the per-blob statistics.
    pub(crate) fn summarize(&mut self) {
        let b = self.blobs.values();
        self.records_total = b.clone().map(|x| x.records_total).sum();
        self.records_removed = b.clone().map(|x| x.records_removed).sum();
        self.records_removed_size = b.clone().map(|x| x.records_removed_size).sum();
        self.records_corrupted = b.clone().map(|x| x.records_corrupted).sum();
        self.base_size = b.map(|x| x.base_size).sum();
    }
}

/// Operation counters since open.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Successful writes.
    pub writes: AtomicU64,
    /// Bytes written by them.
    pub write_bytes: AtomicU64,
    /// Successful reads.
    pub reads: AtomicU64,
    /// Bytes returned by them.
    pub read_bytes: AtomicU64,
    /// Lookups.
    pub lookups: AtomicU64,
    /// Successful removes.
    pub removes: AtomicU64,
}

impl Counters {
    /// Counts one operation, and its bytes in the second counter when given.
    pub fn bump(counter: &AtomicU64, bytes: Option<(&AtomicU64, u64)>) {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some((b, n)) = bytes {
            b.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The value of one counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Whether a defragmentation runs, and how the last one ended. Times are seconds since the
/// Unix epoch (0 = never), as eblob reports `datasort_*_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefragState {
    /// No defragmentation is running.
    NotStarted {
        /// Start of the last run since open.
        last_started: u64,
        /// End of the last run since open.
        last_completed: u64,
        /// 0 if the last run succeeded, else its negative errno (`ECANCELED` when cancelled).
        last_status: i32,
    },
    /// A defragmentation is running.
    InProgress {
        /// When it started.
        started: u64,
    },
}

impl DefragState {
    /// The state of a store that never defragmented.
    pub(crate) const NEVER: DefragState = DefragState::NotStarted {
        last_started: 0,
        last_completed: 0,
        last_status: 0,
    };
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What a defragmentation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefragReport {
    /// Blob files compacted (and deleted).
    pub blobs_compacted: usize,
    /// Blob files written.
    pub blobs_written: usize,
    /// Live records copied.
    pub records_copied: u64,
    /// Records dropped (removed or overwritten versions, tombstones, markers).
    pub records_dropped: u64,
    /// Prepared records copied (still waiting for their commit).
    pub pending_copied: u64,
    /// Prepared records abandoned for longer than the idle limit and dropped.
    pub pending_dropped: u64,
    /// Bytes of the compacted blob files.
    pub bytes_before: u64,
    /// Bytes of the blob files written.
    pub bytes_after: u64,
    /// Wall time.
    pub duration: Duration,
    /// Whether it was cancelled (nothing was deleted then).
    pub cancelled: bool,
}
