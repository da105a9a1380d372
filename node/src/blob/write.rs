//! Writes and removes: appends to the active blob, in-place chunk writes, commits.
//!
//! Every mutation of a key holds that key's stripe lock, so operations on one key are
//! serialized (and defragmentation moves a record only under the same lock). Appends hold the
//! append lock (`active`) while the whole record is written and the index is updated, so a
//! record is never torn by a concurrent append and rotating the active blob is a barrier:
//! afterwards every record of the older blobs is visible in the index or the pending map.

use std::sync::Arc;

use super::error::StoreError;
use super::file::BlobFile;
use super::format::{self, HEADER_LEN, MAX_RESERVED, RecordHeader, RecordKind};
use super::index::Entry;
use super::pending::{self, Pending};
use super::read::{Area, PIECE, read_area};
use super::stats::Counters;
use super::types::{KeyId, RecordInfo, SyncPolicy, Timestamp, WriteKind, WriteRequest};
use super::writer::RecordWriter;
use super::{BlobStore, lock, rlock, wlock};

/// Records larger than this are not extended in place (their checksum table would make the
/// header rewrite more than one page).
const MAX_IN_PLACE_RESERVED: u64 = 64 << 20;

/// The data area of a record copied for an append of up to `end` bytes: room for as much
/// again (at least 4 KiB, at most 8 MiB), so appends copy the record O(log n) times.
pub(crate) fn append_reserve(end: u64) -> u64 {
    match end.saturating_add(end.clamp(4 << 10, 8 << 20)) {
        r if r <= MAX_IN_PLACE_RESERVED => r,
        _ => end,
    }
}

impl BlobStore {
    /// Writes `req` to object `key` (see [`WriteKind`] for the variants). Returns only after
    /// the bytes were handed to the kernel, and after `fdatasync` with [`SyncPolicy::Always`].
    pub fn write(&self, key: &KeyId, req: WriteRequest<'_>) -> Result<RecordInfo, StoreError> {
        if self.is_read_only() {
            return Err(StoreError::ReadOnly);
        }
        let end = req
            .offset
            .checked_add(req.data.len() as u64)
            .filter(|&e| e <= MAX_RESERVED)
            .ok_or(StoreError::InvalidArgument("offset + size too large"))?;
        let _stripe = self.stripe(key);
        let info = match req.kind {
            WriteKind::Plain => match self.extend_in_place(key, &req, end)? {
                Some(info) => Ok(info),
                None => self.write_new(key, &req, end, true),
            },
            WriteKind::PrepareCommit => self.write_new(key, &req, end, false),
            WriteKind::Prepare { reserve } => self.write_prepare(key, &req, reserve, end),
            WriteKind::PlainChunk => self.write_in_place(key, &req, end, None),
            WriteKind::Commit { size } => self.write_in_place(key, &req, end, Some(size)),
        }?;
        Counters::bump(
            &self.counters.writes,
            Some((&self.counters.write_bytes, req.data.len() as u64)),
        );
        Ok(info)
    }

    /// Removes object `key` (appends a tombstone). `NotFound` if it has no committed version.
    pub fn remove(&self, key: &KeyId) -> Result<(), StoreError> {
        if self.is_read_only() {
            return Err(StoreError::ReadOnly);
        }
        let _stripe = self.stripe(key);
        if rlock(&self.index).get(key).is_none() {
            return Err(StoreError::NotFound);
        }
        let header = self.header(RecordKind::Tombstone, key, 0, 0, Timestamp::default(), 0);
        let (blob, _) = self.append(
            HEADER_LEN,
            false,
            true,
            |b, off| b.write_all_at(&header.encode(), off),
            |_, _| {
                let old = wlock(&self.index).remove(key);
                self.retire(old);
                self.discard_pending(key);
            },
        )?;
        self.after_write(&blob)?;
        Counters::bump(&self.counters.removes, None);
        Ok(())
    }

    /// A new committed DATA record of `end` bytes: `[0, offset)` from the current object when
    /// `copy_prefix` (zero-filled past its end), else zeros; then the chunk.
    fn write_new(
        &self,
        key: &KeyId,
        req: &WriteRequest<'_>,
        end: u64,
        copy_prefix: bool,
    ) -> Result<RecordInfo, StoreError> {
        let old = if copy_prefix && req.offset > 0 {
            self.resolve(key)
        } else {
            None
        };
        // An append (a write at the object's end) is likely followed by more: leave room
        // so the next ones extend the record in place.
        let appending = old.as_ref().is_some_and(|(e, _)| e.size == req.offset);
        let reserved = if appending { append_reserve(end) } else { end };
        let header = self.header(
            RecordKind::Data,
            key,
            reserved,
            end,
            req.timestamp,
            req.user_flags,
        );
        let rec_len = header.record_len(self.chunk);
        let mut entry = self.entry_of(&header);
        let (blob, off) = self.append(
            rec_len,
            true,
            false,
            |b, off| {
                let mut w = RecordWriter::begin(b, off, &header, end, self.chunk, true)?;
                let mut done = 0;
                if let Some((e, src)) = &old {
                    let prefix = req.offset.min(e.size);
                    let area = self.area(e);
                    let mut buf = vec![0u8; prefix.min(PIECE) as usize];
                    while done < prefix {
                        let n = (prefix - done).min(PIECE) as usize;
                        read_area(src.as_ref(), &area, done, &mut buf[..n], true)?;
                        w.push(&buf[..n])?;
                        done += n as u64;
                    }
                }
                w.push_zeros(req.offset - done)?;
                w.push(req.data)?;
                w.finish(None)
            },
            |b, off| {
                entry.blob = b.number;
                entry.offset = off;
                let old = wlock(&self.index).insert(*key, entry);
                self.retire(old);
                self.discard_pending(key);
            },
        )?;
        entry.blob = blob.number;
        entry.offset = off;
        self.after_write(&blob)?;
        Ok(self.info(&entry, &blob))
    }

    /// An append (a plain write starting at the object's end) that fits the room left in a
    /// DATA record of the active blob: the bytes go into the record's data area past the
    /// current end, then the header (new size, timestamp, user flags) and the checksum table
    /// up to the new end are rewritten with one `pwrite`. The old bytes never change, so a
    /// crash before that `pwrite` leaves the old version whole; a reader holding the old
    /// size may see the last chunk's checksum change under it and reads again
    /// ([`BlobStore::read`]). `None`: not applicable, the caller copies the record.
    fn extend_in_place(
        &self,
        key: &KeyId,
        req: &WriteRequest<'_>,
        end: u64,
    ) -> Result<Option<RecordInfo>, StoreError> {
        if req.offset == 0 || req.data.is_empty() {
            return Ok(None);
        }
        let Some((e, blob)) = self.resolve(key) else {
            return Ok(None);
        };
        if e.size != req.offset || end > e.reserved || e.reserved > MAX_IN_PLACE_RESERVED {
            return Ok(None);
        }
        // Held so the blob is not sealed (and skipped by open-time checks) meanwhile.
        let active = lock(&self.active);
        if !Arc::ptr_eq(&blob, &active) {
            return Ok(None);
        }
        let mut raw = [0u8; HEADER_LEN as usize];
        blob.read_exact_at(&mut raw, e.offset)?;
        let Ok(mut header) = RecordHeader::decode(&raw) else {
            return Ok(None);
        };
        if header.kind != RecordKind::Data || header.seq != e.seq || header.reserved != e.reserved {
            return Ok(None);
        }
        let area = self.area(&e);
        blob.write_all_at(req.data, area.data() + req.offset)?;
        let grown = Area { size: end, ..area };
        let lo = e.size / u64::from(self.chunk);
        let hi = format::chunk_count(end, self.chunk);
        let kept = area.read_table(blob.as_ref(), 0, lo)?;
        let crcs = pending::chunk_crcs(lo, hi, &[], end, self.chunk, |at, buf| {
            read_area(blob.as_ref(), &grown, at, buf, false)
        })?;
        header.size = end;
        header.tsec = req.timestamp.tsec;
        header.tnsec = req.timestamp.tnsec;
        header.user_flags = req.user_flags;
        let mut head = header.encode().to_vec();
        head.extend_from_slice(&format::encode_table(&kept, kept.len() * 4));
        head.extend_from_slice(&format::encode_table(&crcs, crcs.len() * 4));
        if self.cfg.sync == SyncPolicy::Always {
            // The data must be durable before the header that makes it part of the object.
            blob.sync_data()?;
        }
        blob.write_all_at(&head, e.offset)?;
        let entry = Entry {
            size: end,
            tsec: header.tsec,
            tnsec: header.tnsec,
            user_flags: header.user_flags,
            ..e
        };
        wlock(&self.index).insert(*key, entry);
        drop(active);
        self.discard_pending(key);
        self.after_write(&blob)?;
        Ok(Some(self.info(&entry, &blob)))
    }

    /// A new PREPARE record reserving `reserve` bytes, then the chunk written in place.
    fn write_prepare(
        &self,
        key: &KeyId,
        req: &WriteRequest<'_>,
        reserve: u64,
        end: u64,
    ) -> Result<RecordInfo, StoreError> {
        if reserve > MAX_RESERVED {
            return Err(StoreError::InvalidArgument("reservation too large"));
        }
        if end > reserve {
            return Err(StoreError::InvalidArgument(
                "chunk does not fit the reservation",
            ));
        }
        let header = self.header(
            RecordKind::Prepare,
            key,
            reserve,
            0,
            req.timestamp,
            req.user_flags,
        );
        let rec_len = header.record_len(self.chunk);
        let (blob, off) = self.append(
            rec_len,
            true,
            false,
            |b, off| {
                let mut head = header.encode().to_vec();
                head.resize(
                    (HEADER_LEN + format::table_len(reserve, self.chunk)) as usize,
                    0,
                );
                b.write_all_at(&head, off)?;
                b.set_file_len(off + rec_len)
            },
            |b, off| {
                let p = Pending::new(
                    b.number,
                    off,
                    reserve,
                    header.seq,
                    req.timestamp,
                    req.user_flags,
                );
                let old = lock(&self.pending).insert(*key, p);
                if let Some(old) = old {
                    self.kill(
                        old.blob,
                        format::record_len(RecordKind::Prepare, old.reserved, self.chunk),
                    );
                }
            },
        )?;
        let entry = Entry {
            blob: blob.number,
            offset: off,
            size: reserve,
            ..self.entry_of(&header)
        };
        self.write_pending_chunk(key, &blob, &entry, req)?;
        self.after_write(&blob)?;
        Ok(self.pending_info(&entry, &blob))
    }

    /// PLAIN_WRITE and COMMIT: the chunk goes in place into the prepared record, or else into
    /// the committed one when it has room.
    fn write_in_place(
        &self,
        key: &KeyId,
        req: &WriteRequest<'_>,
        end: u64,
        commit: Option<u64>,
    ) -> Result<RecordInfo, StoreError> {
        let pend = lock(&self.pending).get(key).map(|p| Entry {
            seq: p.seq,
            offset: p.offset,
            size: p.reserved,
            reserved: p.reserved,
            tsec: p.timestamp.tsec,
            tnsec: p.timestamp.tnsec,
            user_flags: p.user_flags,
            blob: p.blob,
            flags: 0,
        });
        let (target, blob, pending) = match pend {
            Some(e) => {
                let blob = rlock(&self.blobs).get(&e.blob).cloned();
                (e, blob.ok_or(StoreError::NotFound)?, true)
            }
            None => {
                let (e, blob) = self.resolve(key).ok_or(StoreError::NotFound)?;
                (e, blob, false)
            }
        };
        if end > target.reserved {
            return Err(StoreError::InvalidArgument(
                "chunk does not fit the reserved space",
            ));
        }
        if commit.is_some_and(|s| s > target.reserved) {
            return Err(StoreError::InvalidArgument(
                "commit size exceeds the reserved space",
            ));
        }
        if pending {
            self.write_pending_chunk(key, &blob, &target, req)?;
            let Some(size) = commit else {
                self.after_write(&blob)?;
                return Ok(self.pending_info(&target, &blob));
            };
            let known = lock(&self.pending)
                .get_mut(key)
                .map(|p| p.take_known())
                .unwrap_or_default();
            let n = format::chunk_count(size, self.chunk);
            self.rewrite_table(&blob, &target, size, 0, n, &known)?;
        } else {
            let area = self.area(&target);
            blob.write_all_at(req.data, area.data() + req.offset)?;
            let size = commit.unwrap_or(target.size);
            let c = u64::from(self.chunk);
            let mut lo = req.offset / c;
            let mut hi = end.div_ceil(c);
            if size != target.size {
                lo = lo.min(size.min(target.size) / c);
                hi = hi.max(size.div_ceil(c));
            }
            let hi = hi.min(format::chunk_count(size, self.chunk));
            if lo < hi {
                self.rewrite_table(&blob, &target, size, lo, hi, &[])?;
            }
        }
        let size = commit.unwrap_or(target.size);
        self.commit_marker(key, &blob, &target, size, req)
    }

    /// Writes a chunk into a prepared record and teaches its checksum cache.
    fn write_pending_chunk(
        &self,
        key: &KeyId,
        blob: &BlobFile,
        target: &Entry,
        req: &WriteRequest<'_>,
    ) -> Result<(), StoreError> {
        if !req.data.is_empty() {
            blob.write_all_at(req.data, self.area(target).data() + req.offset)?;
        }
        if let Some(p) = lock(&self.pending).get_mut(key) {
            p.note_write(self.chunk, req.offset, req.data);
        }
        Ok(())
    }

    /// Computes checksum chunks `lo..hi` of `target` holding `size` bytes and writes them.
    fn rewrite_table(
        &self,
        blob: &BlobFile,
        target: &Entry,
        size: u64,
        lo: u64,
        hi: u64,
        known: &[(u32, u32)],
    ) -> Result<(), StoreError> {
        let area = Area {
            size,
            ..self.area(target)
        };
        let crcs = pending::chunk_crcs(lo, hi, known, size, self.chunk, |at, buf| {
            read_area(blob, &area, at, buf, false)
        })?;
        let bytes = format::encode_table(&crcs, crcs.len() * 4);
        blob.write_all_at(&bytes, format::table_offset(target.offset, lo))?;
        if self.cfg.sync == SyncPolicy::Always {
            // Data and checksums must be durable before the marker that makes them visible.
            blob.sync_data()?;
        }
        Ok(())
    }

    /// Appends a COMMIT marker making `target` (in `blob`) the object with data size `size`.
    fn commit_marker(
        &self,
        key: &KeyId,
        blob: &Arc<BlobFile>,
        target: &Entry,
        size: u64,
        req: &WriteRequest<'_>,
    ) -> Result<RecordInfo, StoreError> {
        let mut header = self.header(
            RecordKind::Commit,
            key,
            target.reserved,
            size,
            req.timestamp,
            req.user_flags,
        );
        header.ref_blob = blob.number;
        header.ref_offset = target.offset;
        let entry = Entry {
            blob: blob.number,
            offset: target.offset,
            ..self.entry_of(&header)
        };
        let (marker_blob, _) = self.append(
            HEADER_LEN,
            false,
            true,
            |b, off| b.write_all_at(&header.encode(), off),
            |_, _| {
                let mut pend = lock(&self.pending);
                if pend
                    .get(key)
                    .is_some_and(|p| p.blob == entry.blob && p.offset == entry.offset)
                {
                    pend.remove(key);
                }
                drop(pend);
                let old = wlock(&self.index).insert(*key, entry);
                if old.is_some_and(|o| o.blob != entry.blob || o.offset != entry.offset) {
                    self.retire(old);
                }
            },
        )?;
        self.after_write(&marker_blob)?;
        if !Arc::ptr_eq(&marker_blob, blob) {
            self.after_write(blob)?;
        }
        Ok(self.info(&entry, blob))
    }
}
