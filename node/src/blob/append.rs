//! Appending records to the active blob, rotating it, and the bookkeeping shared by the
//! write paths (sequence numbers, reclaimable-space accounting, sync policy).

use std::sync::Arc;

use super::error::StoreError;
use super::file::{BlobFile, sync_dir};
use super::format::{self, FILE_HEADER_LEN, RecordHeader, RecordKind};
use super::index::Entry;
use super::types::{KeyId, RecordInfo, SyncPolicy, Timestamp, record_flags};
use super::{BlobStore, lock, wlock};

impl BlobStore {
    /// Appends one record of `rec_len` bytes to the active blob. `write` puts the bytes at the
    /// given offset; `install` then publishes the record, still under the append lock.
    /// `limited`: subject to the size limit; `dead`: the record is reclaimable at once.
    pub(crate) fn append(
        &self,
        rec_len: u64,
        limited: bool,
        dead: bool,
        write: impl FnOnce(&BlobFile, u64) -> Result<(), StoreError>,
        install: impl FnOnce(&Arc<BlobFile>, u64),
    ) -> Result<(Arc<BlobFile>, u64), StoreError> {
        let mut sealed = None;
        let res = (|| {
            let mut active = lock(&self.active);
            let len = active.len();
            let rotate = len > FILE_HEADER_LEN && len + rec_len > self.cfg.blob_size;
            if limited && self.cfg.size_limit > 0 {
                let extra = rec_len + if rotate { FILE_HEADER_LEN } else { 0 };
                if self.total_bytes() + extra > self.cfg.size_limit {
                    return Err(StoreError::NoSpace);
                }
            }
            if rotate {
                sealed = Some(self.rotate_locked(&mut active)?);
            }
            let blob = Arc::clone(&active);
            let off = blob.len();
            if let Err(e) = write(&blob, off) {
                // Drop whatever part of the record landed so the next append starts clean.
                let _ = blob.set_file_len(off);
                return Err(e);
            }
            blob.set_len(off + rec_len);
            blob.add_record(rec_len, dead);
            self.add_total(rec_len);
            install(&blob, off);
            Ok((blob, off))
        })();
        if let Some(old) = sealed {
            self.seal(&old);
        }
        res
    }

    /// Replaces the active blob with a new one; returns the old one (to be sealed).
    pub(crate) fn rotate_locked(
        &self,
        active: &mut Arc<BlobFile>,
    ) -> Result<Arc<BlobFile>, StoreError> {
        let blob = self.create_blob()?;
        Ok(std::mem::replace(active, blob))
    }

    /// Creates a new blob file and registers it.
    pub(crate) fn create_blob(&self) -> Result<Arc<BlobFile>, StoreError> {
        let number = self
            .next_blob
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let blob = Arc::new(BlobFile::create(&self.cfg.dir, number, self.chunk)?);
        if self.cfg.sync != SyncPolicy::Never {
            blob.sync_data()?;
            sync_dir(&self.cfg.dir)?;
        }
        wlock(&self.blobs).insert(number, Arc::clone(&blob));
        self.add_total(FILE_HEADER_LEN);
        Ok(blob)
    }

    /// Seals a blob that takes no more appends (failures only cost open-time verification).
    pub(crate) fn seal(&self, blob: &BlobFile) {
        if let Err(e) = blob.seal(self.chunk, self.cfg.sync != SyncPolicy::Never) {
            tracing::warn!(file = %blob.path.display(), error = %e, "sealing blob failed");
        }
    }

    /// Applies the sync policy after a write to `blob`.
    pub(crate) fn after_write(&self, blob: &BlobFile) -> Result<(), StoreError> {
        if self.cfg.sync == SyncPolicy::Always {
            blob.sync_data()?;
        }
        Ok(())
    }

    /// Counts the record of a replaced or removed index entry as reclaimable.
    pub(crate) fn retire(&self, old: Option<Entry>) {
        if let Some(o) = old {
            self.kill(
                o.blob,
                format::record_len(RecordKind::Data, o.reserved, self.chunk),
            );
        }
    }

    /// Forgets the prepared record of `key`, counting it reclaimable.
    pub(crate) fn discard_pending(&self, key: &KeyId) {
        let old = lock(&self.pending).remove(key);
        if let Some(p) = old {
            self.kill(
                p.blob,
                format::record_len(RecordKind::Prepare, p.reserved, self.chunk),
            );
        }
    }

    /// A header with a fresh sequence number.
    pub(crate) fn header(
        &self,
        kind: RecordKind,
        key: &KeyId,
        reserved: u64,
        size: u64,
        ts: Timestamp,
        user_flags: u64,
    ) -> RecordHeader {
        RecordHeader {
            kind,
            key: *key,
            seq: self.next_seq(),
            size,
            reserved,
            tsec: ts.tsec,
            tnsec: ts.tnsec,
            user_flags,
            ref_offset: 0,
            ref_blob: 0,
        }
    }

    /// The index entry a header describes (location filled in by the caller).
    pub(crate) fn entry_of(&self, h: &RecordHeader) -> Entry {
        Entry {
            seq: h.seq,
            offset: 0,
            size: h.size,
            reserved: h.reserved,
            tsec: h.tsec,
            tnsec: h.tnsec,
            user_flags: h.user_flags,
            blob: 0,
            flags: 0,
        }
    }

    /// The description of a prepared (not yet committed) record.
    pub(crate) fn pending_info(&self, e: &Entry, blob: &BlobFile) -> RecordInfo {
        RecordInfo {
            record_flags: record_flags::PREPARED,
            ..self.info(e, blob)
        }
    }
}
