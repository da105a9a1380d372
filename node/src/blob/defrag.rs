//! Online defragmentation: copy the live records of every sealed blob into new blob files,
//! switch the index over record by record, then delete the old files.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use elliptics::proto::errno::code;

use super::error::StoreError;
use super::file::{BlobFile, sync_dir};
use super::format::{self, FILE_HEADER_LEN, RecordHeader, RecordKind};
use super::index::Entry;
use super::pending::Pending;
use super::read::{Area, PIECE};
use super::stats::{DefragReport, DefragState, unix_secs};
use super::types::KeyId;
use super::writer::RecordWriter;
use super::{BlobStore, FailPoint, lock, rlock, wlock};

/// Prepared records untouched for this long are dropped by defragmentation (default of
/// [`BlobStore::set_pending_idle_limit`]).
pub const PENDING_IDLE: Duration = Duration::from_secs(3600);

fn internal(store: &BlobStore, what: &str) -> StoreError {
    StoreError::io(&store.cfg.dir, std::io::Error::other(what.to_string()))
}

impl BlobStore {
    /// Defragments the store; blocks until done while reads and writes go on.
    ///
    /// 1. Rotate the active blob; every other blob (`S`) is compacted.
    /// 2. Under each key's stripe lock, copy its prepared record (dropped if idle for longer
    ///    than [`set_pending_idle_limit`](Self::set_pending_idle_limit)) and its live committed version into new blob files, keeping sequence
    ///    numbers, and point the index at the copy if it still points at the original (a
    ///    concurrent overwrite or remove wins).
    /// 3. Seal and sync the copies, durably write a manifest naming `S`, forget `S` (readers
    ///    holding a blob keep reading the unlinked file), delete `S`, delete the manifest.
    ///
    /// Everything in `S` that is not copied — overwritten versions, tombstones, commit markers,
    /// abandoned prepared records — is dropped. Dropping tombstones is safe because every
    /// older record of their keys is in `S` too, and the manifest makes the deletion of `S`
    /// all-or-nothing across a crash (open finishes it). A crash before the manifest leaves
    /// originals and copies side by side: same sequence numbers, so nothing is lost or
    /// resurrected, and the next run reclaims the duplicates.
    ///
    /// Fails with `DefragRunning` if a run is in progress.
    pub fn defrag(&self) -> Result<DefragReport, StoreError> {
        let started = unix_secs(SystemTime::now());
        {
            let mut st = lock(&self.defrag);
            if let DefragState::InProgress { .. } = *st {
                return Err(StoreError::DefragRunning);
            }
            *st = DefragState::InProgress { started };
            self.cancel.store(false, Ordering::Release);
        }
        let t0 = Instant::now();
        let res = self.defrag_run();
        let last_status = match &res {
            Ok(r) if r.cancelled => code::ECANCELED,
            Ok(_) => 0,
            Err(e) => e.errno(),
        };
        *lock(&self.defrag) = DefragState::NotStarted {
            last_started: started,
            last_completed: unix_secs(SystemTime::now()),
            last_status,
        };
        res.map(|mut r| {
            r.duration = t0.elapsed();
            r
        })
    }

    /// Asks a running defragmentation to stop early (it then deletes nothing). Returns whether
    /// one was running.
    pub fn cancel_defrag(&self) -> bool {
        let st = lock(&self.defrag);
        let running = matches!(*st, DefragState::InProgress { .. });
        if running {
            self.cancel.store(true, Ordering::Release);
        }
        running
    }

    /// Whether a defragmentation runs, and how the last one ended.
    pub fn defrag_state(&self) -> DefragState {
        *lock(&self.defrag)
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    fn defrag_run(&self) -> Result<DefragReport, StoreError> {
        let mut report = DefragReport::default();
        let old = self.rotate_for_defrag()?;
        if old.is_empty() {
            return Ok(report);
        }
        let set: HashSet<u32> = old.iter().map(|b| b.number).collect();
        report.blobs_compacted = old.len();
        report.bytes_before = old.iter().map(|b| b.len()).sum();
        let records_before: u64 = old.iter().map(|b| b.stats().records_total).sum();
        let mut out = Output {
            store: self,
            cur: None,
            written: Vec::new(),
        };
        let moved = self
            .move_pending(&set, &mut out, &mut report)
            .and_then(|()| self.move_live(&set, &mut out, &mut report));
        let sealed = out.finish();
        moved?;
        sealed?;
        report.blobs_written = out.written.len();
        report.bytes_after = out.written.iter().map(|b| b.len()).sum();
        report.records_dropped =
            records_before.saturating_sub(report.records_copied + report.pending_copied);
        self.inject(FailPoint::CopiesDurable)?;
        if self.cancelled() {
            report.cancelled = true;
            return Ok(report);
        }
        self.delete_blobs(&old)?;
        Ok(report)
    }

    /// Rotates the active blob; returns every other blob.
    fn rotate_for_defrag(&self) -> Result<Vec<Arc<BlobFile>>, StoreError> {
        let mut sealed = None;
        let old = {
            let mut active = lock(&self.active);
            if active.len() > FILE_HEADER_LEN {
                sealed = Some(self.rotate_locked(&mut active)?);
            }
            let current = active.number;
            rlock(&self.blobs)
                .values()
                .filter(|b| b.number != current)
                .cloned()
                .collect()
        };
        if let Some(b) = sealed {
            self.seal(&b);
        }
        Ok(old)
    }

    fn move_pending(
        &self,
        set: &HashSet<u32>,
        out: &mut Output<'_>,
        report: &mut DefragReport,
    ) -> Result<(), StoreError> {
        for _ in 0..3 {
            let keys: Vec<KeyId> = lock(&self.pending)
                .iter()
                .filter(|(_, p)| set.contains(&p.blob))
                .map(|(k, _)| *k)
                .collect();
            if keys.is_empty() {
                return Ok(());
            }
            for key in keys {
                if self.cancelled() {
                    return Ok(());
                }
                let _stripe = self.stripe(&key);
                let p = match lock(&self.pending).get(&key) {
                    Some(p) if set.contains(&p.blob) => p.clone(),
                    _ => continue,
                };
                if p.last_used.elapsed() > self.pending_idle_limit() {
                    lock(&self.pending).remove(&key);
                    report.pending_dropped += 1;
                    continue;
                }
                let Some(src) = rlock(&self.blobs).get(&p.blob).cloned() else {
                    continue;
                };
                let (blob, offset) = out.copy_prepare(&src, &key, &p)?;
                if let Some(q) = lock(&self.pending).get_mut(&key) {
                    q.blob = blob;
                    q.offset = offset;
                }
                report.pending_copied += 1;
            }
        }
        Err(internal(
            self,
            "defrag: prepared records still in old blobs",
        ))
    }

    fn move_live(
        &self,
        set: &HashSet<u32>,
        out: &mut Output<'_>,
        report: &mut DefragReport,
    ) -> Result<(), StoreError> {
        for _ in 0..3 {
            let mut todo: Vec<(u32, u64, u32)> = rlock(&self.index)
                .iter_slots()
                .filter(|(_, e)| set.contains(&e.blob))
                .map(|(id, e)| (e.blob, e.offset, id))
                .collect();
            if todo.is_empty() {
                return Ok(());
            }
            todo.sort_unstable();
            for (blob, offset, id) in todo {
                if self.cancelled() {
                    return Ok(());
                }
                let Some(key) = rlock(&self.index).slot_key(id).copied() else {
                    continue;
                };
                let _stripe = self.stripe(&key);
                let Some((e, src)) = self.resolve(&key) else {
                    continue;
                };
                if e.blob != blob || e.offset != offset {
                    continue;
                }
                let (nb, noff) = out.copy_data(&src, &key, &e)?;
                // The stripe lock already keeps writers of this key out; check anyway that
                // the entry still names the original so a concurrent change always wins.
                let mut idx = wlock(&self.index);
                match idx.get_mut(&key) {
                    Some(x) if *x == e => {
                        x.blob = nb;
                        x.offset = noff;
                        x.reserved = e.size;
                        report.records_copied += 1;
                    }
                    _ => {
                        drop(idx);
                        self.kill(nb, format::record_len(RecordKind::Data, e.size, self.chunk));
                    }
                }
            }
        }
        Err(internal(self, "defrag: live records still in old blobs"))
    }

    /// Makes the deletion of `old` durable through the manifest, then performs it.
    fn delete_blobs(&self, old: &[Arc<BlobFile>]) -> Result<(), StoreError> {
        let dir = &self.cfg.dir;
        let numbers: Vec<u32> = old.iter().map(|b| b.number).collect();
        let tmp = dir.join(format::MANIFEST_TMP);
        let manifest = dir.join(format::MANIFEST_FILE);
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
            f.write_all(format::encode_manifest(&numbers).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| StoreError::io(&tmp, e))?;
        }
        std::fs::rename(&tmp, &manifest).map_err(|e| StoreError::io(&manifest, e))?;
        sync_dir(dir)?;
        self.inject(FailPoint::ManifestDurable)?;
        {
            let mut blobs = wlock(&self.blobs);
            for n in &numbers {
                blobs.remove(n);
            }
        }
        let freed: u64 = old.iter().map(|b| b.len()).sum();
        self.total.fetch_sub(freed, Ordering::AcqRel);
        for (i, b) in old.iter().enumerate() {
            match std::fs::remove_file(&b.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StoreError::io(&b.path, e));
                }
                _ => {}
            }
            if i == 0 {
                self.inject(FailPoint::FirstDeleted)?;
            }
        }
        sync_dir(dir)?;
        std::fs::remove_file(&manifest).map_err(|e| StoreError::io(&manifest, e))?;
        sync_dir(dir)
    }
}

/// The blob files a defragmentation writes.
struct Output<'a> {
    store: &'a BlobStore,
    cur: Option<Arc<BlobFile>>,
    written: Vec<Arc<BlobFile>>,
}

impl Output<'_> {
    /// The output blob for the next record of `rec_len` bytes.
    fn place(&mut self, rec_len: u64) -> Result<Arc<BlobFile>, StoreError> {
        let blob_size = self.store.cfg.blob_size;
        if let Some(b) = &self.cur {
            if b.len() == FILE_HEADER_LEN || b.len() + rec_len <= blob_size {
                return Ok(Arc::clone(b));
            }
        }
        if let Some(b) = self.cur.take() {
            b.seal(self.store.chunk, true)?;
        }
        let b = self.store.create_blob()?;
        self.written.push(Arc::clone(&b));
        self.cur = Some(Arc::clone(&b));
        Ok(b)
    }

    /// Writes a record whose data area is `len` bytes copied from `src` at `from`.
    fn copy(
        &mut self,
        header: &RecordHeader,
        src: &BlobFile,
        from: u64,
        len: u64,
        table: Vec<u32>,
    ) -> Result<(u32, u64), StoreError> {
        let chunk = self.store.chunk;
        let rec_len = header.record_len(chunk);
        let blob = self.place(rec_len)?;
        let off = blob.len();
        let res = (|| {
            let mut w = RecordWriter::begin(&blob, off, header, len, chunk, false)?;
            let mut buf = vec![0u8; len.min(PIECE) as usize];
            let mut done = 0;
            while done < len {
                let n = (len - done).min(PIECE) as usize;
                src.read_exact_at(&mut buf[..n], from + done)?;
                w.push(&buf[..n])?;
                done += n as u64;
            }
            w.finish(Some(table))
        })();
        if let Err(e) = res {
            let _ = blob.set_file_len(off);
            return Err(e);
        }
        blob.set_len(off + rec_len);
        blob.add_record(rec_len, false);
        self.store.add_total(rec_len);
        Ok((blob.number, off))
    }

    /// Copies a committed object as a DATA record (checksums copied, not recomputed, so damage
    /// stays detectable); the reservation shrinks to the data size.
    fn copy_data(
        &mut self,
        src: &BlobFile,
        key: &KeyId,
        e: &Entry,
    ) -> Result<(u32, u64), StoreError> {
        let area = self.store.area(e);
        let table = area.read_table(src, 0, format::chunk_count(e.size, self.store.chunk))?;
        let header = RecordHeader {
            kind: RecordKind::Data,
            key: *key,
            seq: e.seq,
            size: e.size,
            reserved: e.size,
            tsec: e.tsec,
            tnsec: e.tnsec,
            user_flags: e.user_flags,
            ref_offset: 0,
            ref_blob: 0,
        };
        self.copy(&header, src, area.data(), e.size, table)
    }

    /// Copies a prepared record: the data written so far, the rest stays a hole.
    fn copy_prepare(
        &mut self,
        src: &BlobFile,
        key: &KeyId,
        p: &Pending,
    ) -> Result<(u32, u64), StoreError> {
        let header = RecordHeader {
            kind: RecordKind::Prepare,
            key: *key,
            seq: p.seq,
            size: 0,
            reserved: p.reserved,
            tsec: p.timestamp.tsec,
            tnsec: p.timestamp.tnsec,
            user_flags: p.user_flags,
            ref_offset: 0,
            ref_blob: 0,
        };
        let area = Area {
            record: p.offset,
            reserved: p.reserved,
            size: p.reserved,
            chunk: self.store.chunk,
        };
        self.copy(
            &header,
            src,
            area.data(),
            p.high_water.min(p.reserved),
            Vec::new(),
        )
    }

    /// Seals the last output blob.
    fn finish(&mut self) -> Result<(), StoreError> {
        match self.cur.take() {
            Some(b) => b.seal(self.store.chunk, true),
            None => Ok(()),
        }
    }
}
