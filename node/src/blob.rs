//! Append-only blob store for one backend, with Elliptics/eblob write semantics (plain,
//! prepare / plain chunk / commit, remove), chunked data checksums, crash recovery by scanning,
//! and online defragmentation.
//!
//! # Design
//!
//! * **Files.** A directory holds numbered blob files (`data-00000007.blob`), a `LOCK` file and,
//!   briefly during defragmentation, a manifest. Records are appended to the single *active*
//!   blob, which is rotated once it would pass `blob_size`. See [`mod@format`] for the bytes.
//! * **Records.** DATA (a committed object), PREPARE (a reservation written in place by later
//!   chunks), COMMIT (a marker that makes a PREPARE record visible with a final size) and
//!   TOMBSTONE. Each carries a store-wide sequence number; on open the highest sequence number
//!   of a key wins, so the order of files does not matter (defragmentation copies records into
//!   newer files with their original numbers). Headers are never rewritten in place: commits
//!   and in-place updates of committed objects append a marker instead.
//! * **Checksums.** crc32 per 64 KiB data chunk in a table before the data, so ranged reads
//!   verify only the chunks they touch.
//! * **Index.** Key → 64-byte entry in a compact custom hash table (module `index`), about 140
//!   bytes per key; prepared records live in a separate small map.
//! * **Concurrency.** Reads take the index lock just long enough to copy an entry and clone the
//!   blob's `Arc`, then `pread` without locks. Mutations of one key are serialized by a striped
//!   lock; appends of whole records are serialized by the append lock.
//! * **Recovery.** Open scans record headers with large sequential reads, skipping data, and
//!   verifies data checksums only at the unsealed tails (the last record in full) where a crash
//!   can leave a torn record. A torn tail is truncated with a warning; a damaged header in the
//!   middle is skipped by searching for the next valid header.
//! * **Defragmentation.** See [`BlobStore::defrag`].
//!
//! # Limits
//!
//! * PLAIN_WRITE/COMMIT into an already *committed* record rewrite its data and checksums in
//!   place (as eblob does): a crash in the middle leaves that object failing its checksums, and
//!   a concurrent verified read may see `Corrupted`.
//! * A plain write at `offset > 0` copies the old prefix while holding the append lock, so
//!   appending to a huge object stalls other appends for the duration of the copy.
//! * Defragmentation shrinks every copied record's reservation to its data size, and its
//!   copies count against `size_limit` until the old blobs are deleted.
//! * Removes may exceed `size_limit` by their 136-byte tombstone (removing must work when full).
//! * Resynchronising after a damaged header could accept a record image stored *inside* an
//!   object's data (only after corruption, and only if that image has a valid header checksum).

mod append;
mod defrag;
mod error;
mod file;
pub mod format;
mod index;
mod iterate;
mod pending;
mod read;
mod scan;
mod stats;
mod types;
mod write;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use nix::fcntl::{Flock, FlockArg};

pub use error::StoreError;
pub use iterate::{IterRecord, KeySnapshot};
pub use stats::{BlobFileStats, DefragReport, DefragState, StoreStats};
pub use types::{
    KeyId, ParseSyncPolicyError, RecordInfo, StoreConfig, SyncPolicy, Timestamp, WriteKind,
    WriteRequest, record_flags,
};

use file::BlobFile;
use format::{FILE_HEADER_LEN, HEADER_LEN};
use index::{Entry, Index};
use pending::Pending;
use read::Area;
use stats::Counters;

const STRIPES: usize = 256;

/// Points where tests make defragmentation stop as if the process died there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailPoint {
    /// Copies are written and synced; no manifest yet.
    CopiesDurable,
    /// The manifest is durable; no old blob deleted yet.
    ManifestDurable,
    /// One old blob deleted, the others not.
    FirstDeleted,
}

/// An append-only blob store for one backend directory. `Send + Sync`; all methods take
/// `&self` and block, so async callers use `spawn_blocking`.
pub struct BlobStore {
    cfg: StoreConfig,
    chunk: u32,
    _lock: Flock<File>,
    index: RwLock<Index>,
    blobs: RwLock<BTreeMap<u32, Arc<BlobFile>>>,
    active: Mutex<Arc<BlobFile>>,
    pending: Mutex<HashMap<KeyId, Pending>>,
    stripes: Box<[Mutex<()>]>,
    next_seq: AtomicU64,
    next_blob: AtomicU32,
    total: AtomicU64,
    read_only: AtomicBool,
    counters: Counters,
    defrag: Mutex<DefragState>,
    cancel: AtomicBool,
    pending_idle_ms: AtomicU64,
    #[cfg(test)]
    hook: Mutex<Option<TestHook>>,
}

/// Test callback run at each [`FailPoint`]; an error aborts the defragmentation there.
#[cfg(test)]
pub(crate) type TestHook = Box<dyn Fn(&BlobStore, FailPoint) -> Result<(), StoreError> + Send>;

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("dir", &self.cfg.dir)
            .field("keys", &rlock(&self.index).len())
            .finish()
    }
}

/// Locks a mutex, ignoring poisoning (store state stays consistent across panics).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks, ignoring poisoning.
pub(crate) fn rlock<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks, ignoring poisoning.
pub(crate) fn wlock<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

impl BlobStore {
    /// Opens (creating if needed) the store in `cfg.dir`: takes the `LOCK` file, finishes an
    /// interrupted defragmentation, scans every blob file, truncates torn tails and rebuilds
    /// the index.
    pub fn open(cfg: StoreConfig) -> Result<BlobStore, StoreError> {
        BlobStore::open_with_chunk(cfg, format::DEFAULT_CHUNK)
    }

    /// [`open`](Self::open) with a checksum chunk size for new stores (tests use tiny chunks).
    pub(crate) fn open_with_chunk(cfg: StoreConfig, chunk: u32) -> Result<BlobStore, StoreError> {
        if cfg.blob_size < FILE_HEADER_LEN + HEADER_LEN {
            return Err(StoreError::InvalidArgument("blob_size is too small"));
        }
        std::fs::create_dir_all(&cfg.dir).map_err(|e| StoreError::io(&cfg.dir, e))?;
        let lock_path = cfg.dir.join(format::LOCK_FILE);
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| StoreError::io(&lock_path, e))?;
        let flock = match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Err(StoreError::Locked(lock_path)),
            Err((_, e)) => return Err(StoreError::io(&lock_path, std::io::Error::from(e))),
        };
        let fsync = cfg.sync != SyncPolicy::Never;
        let started = std::time::Instant::now();
        let rec = scan::recover(&cfg.dir, chunk, cfg.blob_size, fsync)?;
        let total = rec.blobs.values().map(|b| b.len()).sum();
        tracing::info!(
            dir = %cfg.dir.display(),
            keys = rec.index.len(),
            pending = rec.pending.len(),
            blobs = rec.blobs.len(),
            bytes = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "blob store opened"
        );
        Ok(BlobStore {
            chunk: rec.chunk,
            _lock: flock,
            index: RwLock::new(rec.index),
            blobs: RwLock::new(rec.blobs),
            active: Mutex::new(rec.active),
            pending: Mutex::new(rec.pending),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            next_seq: AtomicU64::new(rec.max_seq + 1),
            next_blob: AtomicU32::new(rec.next_blob),
            total: AtomicU64::new(total),
            read_only: AtomicBool::new(false),
            counters: Counters::default(),
            defrag: Mutex::new(DefragState::NEVER),
            cancel: AtomicBool::new(false),
            pending_idle_ms: AtomicU64::new(defrag::PENDING_IDLE.as_millis() as u64),
            #[cfg(test)]
            hook: Mutex::new(None),
            cfg,
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Makes the store read-only (writes and removes fail with `ReadOnly`) or writable.
    pub fn set_read_only(&self, ro: bool) -> Result<(), StoreError> {
        self.read_only.store(ro, Ordering::Release);
        Ok(())
    }

    /// Whether the store is read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::Acquire)
    }

    /// `fdatasync`s every blob written since its last sync (the active one, defragmentation
    /// output, and blobs whose prepared records received chunks).
    pub fn sync(&self) -> Result<(), StoreError> {
        let blobs: Vec<Arc<BlobFile>> = rlock(&self.blobs).values().cloned().collect();
        for b in blobs {
            b.sync_if_dirty()?;
        }
        Ok(())
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> StoreStats {
        let (keys, index_memory) = {
            let idx = rlock(&self.index);
            (idx.len() as u64, idx.memory_bytes() as u64)
        };
        let blobs = rlock(&self.blobs)
            .values()
            .map(|b| (format::blob_file_name(b.number), b.stats()))
            .collect();
        let c = &self.counters;
        let mut s = StoreStats {
            dir: self.cfg.dir.clone(),
            blob_size: self.cfg.blob_size,
            size_limit: self.cfg.size_limit,
            read_only: self.is_read_only(),
            records_total: 0,
            records_removed: 0,
            records_removed_size: 0,
            records_corrupted: 0,
            base_size: 0,
            blobs,
            keys,
            pending: lock(&self.pending).len() as u64,
            index_memory,
            writes: Counters::get(&c.writes),
            write_bytes: Counters::get(&c.write_bytes),
            reads: Counters::get(&c.reads),
            read_bytes: Counters::get(&c.read_bytes),
            lookups: Counters::get(&c.lookups),
            removes: Counters::get(&c.removes),
            defrag: self.defrag_state(),
        };
        s.summarize();
        s
    }

    fn stripe(&self, key: &KeyId) -> MutexGuard<'_, ()> {
        let i = key[..8].iter().chain(&key[56..]).fold(0usize, |a, &b| {
            a.wrapping_mul(131).wrapping_add(usize::from(b))
        });
        lock(&self.stripes[i % STRIPES])
    }

    fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::AcqRel)
    }

    fn total_bytes(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }

    fn add_total(&self, n: u64) {
        self.total.fetch_add(n, Ordering::AcqRel);
    }

    /// The committed entry of `key` and its blob, resolved under the index lock so that the
    /// blob cannot disappear in between.
    fn resolve(&self, key: &KeyId) -> Option<(Entry, Arc<BlobFile>)> {
        let idx = rlock(&self.index);
        let e = *idx.get(key)?;
        let blob = rlock(&self.blobs).get(&e.blob).cloned()?;
        Some((e, blob))
    }

    fn area(&self, e: &Entry) -> Area {
        Area {
            record: e.offset,
            reserved: e.reserved,
            size: e.size,
            chunk: self.chunk,
        }
    }

    fn info(&self, e: &Entry, blob: &BlobFile) -> RecordInfo {
        RecordInfo {
            size: e.size,
            reserved: e.reserved,
            timestamp: Timestamp {
                tsec: e.tsec,
                tnsec: e.tnsec,
            },
            user_flags: e.user_flags,
            record_flags: record_flags::COMMITTED,
            path: blob.path.clone(),
            data_offset: self.area(e).data(),
        }
    }

    /// Counts `len` bytes of blob `number` as reclaimable.
    fn kill(&self, number: u32, len: u64) {
        if let Some(b) = rlock(&self.blobs).get(&number) {
            b.mark_dead(len);
        }
    }

    /// How long a prepared record may go untouched before defragmentation drops it
    /// (default one hour; records found at open count as touched at open).
    pub fn set_pending_idle_limit(&self, limit: std::time::Duration) {
        let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        self.pending_idle_ms.store(ms, Ordering::Relaxed);
    }

    fn pending_idle_limit(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.pending_idle_ms.load(Ordering::Relaxed))
    }

    #[cfg(test)]
    fn inject(&self, at: FailPoint) -> Result<(), StoreError> {
        match &*lock(&self.hook) {
            Some(hook) => hook(self, at),
            None => Ok(()),
        }
    }

    #[cfg(not(test))]
    fn inject(&self, _at: FailPoint) -> Result<(), StoreError> {
        Ok(())
    }
}
