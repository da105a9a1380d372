//! Opening a store: finish an interrupted defragmentation, scan every blob file, truncate
//! torn tails, and rebuild the index and the prepared records.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::error::StoreError;
use super::file::{BlobFile, sync_dir};
use super::format::{
    self, FILE_HEADER_LEN, HEADER_LEN, HeaderError, RECORD_MAGIC, RecordHeader, RecordKind,
};
use super::index::{Entry, FLAG_MARKER, FLAG_TOMBSTONE, Index};
use super::pending::Pending;
use super::read::{Area, PIECE, read_area};
use super::types::{KeyId, Timestamp};

/// Unsealed blobs get the data checksums of the records in their last this-many bytes (and of
/// their last record, whatever its size) verified at open.
pub const TAIL_VERIFY: u64 = 8 << 20;
const WINDOW: usize = 1 << 20;

/// What the scan rebuilt.
pub struct Recovered {
    /// Checksum chunk size of the store.
    pub chunk: u32,
    /// Committed records by key.
    pub index: Index,
    /// Prepared, not yet committed records by key.
    pub pending: HashMap<KeyId, Pending>,
    /// Every blob file, by number.
    pub blobs: BTreeMap<u32, Arc<BlobFile>>,
    /// The blob new records are appended to.
    pub active: Arc<BlobFile>,
    /// Highest record sequence number found.
    pub max_seq: u64,
    /// Number for the next new blob file.
    pub next_blob: u32,
}

/// Scans `dir` and rebuilds the store state.
pub fn recover(
    dir: &Path,
    chunk: u32,
    blob_size: u64,
    fsync: bool,
) -> Result<Recovered, StoreError> {
    finish_defrag(dir)?;
    let mut opened = Vec::new();
    let mut store_chunk = None;
    for number in list_blobs(dir)? {
        let (blob, len, header) = BlobFile::open(dir, number)?;
        match &header {
            Some(h) => {
                if h.number != number {
                    tracing::warn!(file = %blob.path.display(), header = h.number, "blob number in header differs from file name");
                }
                if *store_chunk.get_or_insert(h.chunk) != h.chunk {
                    return Err(blob.corrupted_at(16));
                }
            }
            None if len <= FILE_HEADER_LEN => {
                tracing::warn!(file = %blob.path.display(), len, "removing blob file without records");
                std::fs::remove_file(&blob.path).map_err(|e| StoreError::io(&blob.path, e))?;
                continue;
            }
            None => {
                tracing::warn!(file = %blob.path.display(), "damaged blob file header; scanning anyway")
            }
        }
        opened.push((blob, len, header));
    }
    let chunk = store_chunk.unwrap_or(chunk);
    let mut res = Resolver {
        chunk,
        index: Index::new(),
        prepares: HashMap::new(),
        max_seq: 0,
    };
    let mut blobs = BTreeMap::new();
    for (blob, len, header) in opened {
        let blob = Arc::new(blob);
        let sealed = header.and_then(|h| h.sealed_len) == Some(len);
        let verify_from = if sealed {
            u64::MAX
        } else {
            len.saturating_sub(TAIL_VERIFY)
        };
        let end = scan_blob(&blob, len, verify_from, chunk, &mut |off, h| {
            res.record(&blob, off, h)
        })?;
        if end < len {
            tracing::warn!(file = %blob.path.display(), offset = end, len, "truncating torn tail");
            blob.set_file_len(end)?;
        }
        blob.set_len(end);
        if sealed && end == len {
            blob.mark_sealed();
        }
        blobs.insert(blob.number, blob);
    }
    let (index, pending, max_seq) = res.finish(&blobs)?;
    let mut next_blob = blobs.keys().next_back().map_or(1, |n| n + 1);
    let active = match blobs.values().next_back() {
        Some(b) if !b.is_sealed() && b.len() < blob_size => Arc::clone(b),
        _ => {
            let b = Arc::new(BlobFile::create(dir, next_blob, chunk)?);
            if fsync {
                b.sync_data()?;
                sync_dir(dir)?;
            }
            blobs.insert(next_blob, Arc::clone(&b));
            next_blob += 1;
            b
        }
    };
    for b in blobs.values() {
        if !b.is_sealed() && !Arc::ptr_eq(b, &active) {
            b.seal(chunk, fsync)?;
        }
    }
    Ok(Recovered {
        chunk,
        index,
        pending,
        blobs,
        active,
        max_seq,
        next_blob,
    })
}

/// Completes a defragmentation whose manifest survived: its copies are durable, so the old
/// blobs it names are deleted before anything is scanned.
fn finish_defrag(dir: &Path) -> Result<(), StoreError> {
    let tmp = dir.join(format::MANIFEST_TMP);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(StoreError::io(&tmp, e)),
        _ => {}
    }
    let path = dir.join(format::MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let doomed = format::decode_manifest(&text).ok_or(StoreError::Corrupted {
        path: path.clone(),
        offset: 0,
    })?;
    tracing::warn!(blobs = ?doomed, "finishing an interrupted defragmentation");
    for n in doomed {
        let p = dir.join(format::blob_file_name(n));
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::io(&p, e));
            }
            _ => {}
        }
    }
    sync_dir(dir)?;
    std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
    sync_dir(dir)
}

/// Blob numbers present in `dir`, ascending.
fn list_blobs(dir: &Path) -> Result<Vec<u32>, StoreError> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let ent = ent.map_err(|e| StoreError::io(dir, e))?;
        if let Some(n) = ent
            .file_name()
            .to_str()
            .and_then(format::parse_blob_file_name)
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// A read window over a blob for header-only scanning.
struct Window {
    buf: Vec<u8>,
    start: u64,
    len: usize,
}

impl Window {
    /// Up to [`HEADER_LEN`] bytes at `pos` (fewer only at the end of the file).
    fn header(&mut self, blob: &BlobFile, pos: u64, file_len: u64) -> Result<&[u8], StoreError> {
        if pos < self.start || pos + HEADER_LEN > self.start + self.len as u64 {
            let want = (WINDOW as u64).min(file_len - pos) as usize;
            self.buf.resize(WINDOW, 0);
            self.len = blob.read_some_at(&mut self.buf[..want], pos)?;
            self.start = pos;
        }
        let at = (pos - self.start) as usize;
        Ok(&self.buf[at..self.len.min(at + HEADER_LEN as usize)])
    }
}

/// Calls `on` for every valid record of `blob`; returns the end of the last good record.
fn scan_blob(
    blob: &BlobFile,
    file_len: u64,
    verify_from: u64,
    chunk: u32,
    on: &mut dyn FnMut(u64, &RecordHeader),
) -> Result<u64, StoreError> {
    let mut win = Window {
        buf: Vec::new(),
        start: 0,
        len: 0,
    };
    let mut pos = FILE_HEADER_LEN;
    while pos < file_len {
        let decoded = if pos + HEADER_LEN <= file_len {
            RecordHeader::decode(win.header(blob, pos, file_len)?)
        } else {
            Err(HeaderError::Magic)
        };
        let h = match decoded {
            Ok(h) if pos + h.record_len(chunk) <= file_len => h,
            Ok(_) => return Ok(pos),
            Err(_) => match find_header(blob, pos + 8, file_len, chunk)? {
                Some(next) => {
                    tracing::warn!(file = %blob.path.display(), offset = pos, next, "damaged record header; skipping to the next valid record");
                    blob.add_corrupted();
                    pos = next;
                    continue;
                }
                None => return Ok(pos),
            },
        };
        let len = h.record_len(chunk);
        let last = pos + len == file_len;
        if h.kind == RecordKind::Data
            && (pos >= verify_from || (last && verify_from != u64::MAX))
            && !data_ok(blob, pos, &h, chunk)?
        {
            if last {
                return Ok(pos);
            }
            tracing::warn!(file = %blob.path.display(), offset = pos, "record data fails its checksum; skipping it");
            blob.add_corrupted();
            blob.add_record(len, true);
        } else {
            on(pos, &h);
        }
        pos += len;
    }
    Ok(pos)
}

/// The next offset ≥ `from` (8-aligned) holding a valid header of a record that fits the file.
fn find_header(
    blob: &BlobFile,
    from: u64,
    file_len: u64,
    chunk: u32,
) -> Result<Option<u64>, StoreError> {
    let mut pos = format::align8(from);
    let mut buf = vec![0u8; WINDOW + HEADER_LEN as usize];
    while pos + HEADER_LEN <= file_len {
        let want = (buf.len() as u64).min(file_len - pos) as usize;
        let n = blob.read_some_at(&mut buf[..want], pos)?;
        let mut i = 0;
        while i + HEADER_LEN as usize <= n {
            if buf[i..i + 4] == RECORD_MAGIC {
                if let Ok(h) = RecordHeader::decode(&buf[i..]) {
                    if pos + i as u64 + h.record_len(chunk) <= file_len {
                        return Ok(Some(pos + i as u64));
                    }
                }
            }
            i += 8;
        }
        if i == 0 {
            break;
        }
        pos += i as u64;
    }
    Ok(None)
}

/// Whether the data of the DATA record at `pos` matches its checksums.
fn data_ok(blob: &BlobFile, pos: u64, h: &RecordHeader, chunk: u32) -> Result<bool, StoreError> {
    let area = Area {
        record: pos,
        reserved: h.reserved,
        size: h.size,
        chunk,
    };
    let mut buf = vec![0u8; h.size.min(PIECE) as usize];
    let mut at = 0;
    while at < h.size {
        let n = (h.size - at).min(PIECE) as usize;
        match read_area(blob, &area, at, &mut buf[..n], true) {
            Ok(()) => {}
            Err(StoreError::Corrupted { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
        at += n as u64;
    }
    Ok(true)
}

/// Resolves the records of all blobs into the index: for each key the highest sequence
/// number wins (on a tie a DATA copy beats a COMMIT marker, then the newer blob wins).
struct Resolver {
    chunk: u32,
    index: Index,
    prepares: HashMap<KeyId, Pending>,
    max_seq: u64,
}

fn wins(new: &Entry, cur: &Entry) -> bool {
    let rank = |e: &Entry| (e.seq, e.flags & FLAG_MARKER == 0, e.blob, e.offset);
    rank(new) > rank(cur)
}

impl Resolver {
    fn record(&mut self, blob: &BlobFile, off: u64, h: &RecordHeader) {
        // Every record starts out reclaimable; `finish` revives the winners.
        blob.add_record(h.record_len(self.chunk), true);
        self.max_seq = self.max_seq.max(h.seq);
        let (b, o, flags) = match h.kind {
            RecordKind::Data => (blob.number, off, 0),
            RecordKind::Commit => (h.ref_blob, h.ref_offset, FLAG_MARKER),
            RecordKind::Tombstone => (blob.number, off, FLAG_TOMBSTONE),
            RecordKind::Prepare => {
                let ts = Timestamp {
                    tsec: h.tsec,
                    tnsec: h.tnsec,
                };
                let p = Pending::recovered(blob.number, off, h.reserved, h.seq, ts, h.user_flags);
                let newer =
                    |cur: &Pending| (p.seq, p.blob, p.offset) > (cur.seq, cur.blob, cur.offset);
                if self.prepares.get(&h.key).is_none_or(newer) {
                    self.prepares.insert(h.key, p);
                }
                return;
            }
        };
        let e = Entry {
            seq: h.seq,
            offset: o,
            size: h.size,
            reserved: h.reserved,
            tsec: h.tsec,
            tnsec: h.tnsec,
            user_flags: h.user_flags,
            blob: b,
            flags,
        };
        self.index.upsert(h.key, e, |cur| wins(&e, cur));
    }

    fn finish(
        mut self,
        blobs: &BTreeMap<u32, Arc<BlobFile>>,
    ) -> Result<(Index, HashMap<KeyId, Pending>, u64), StoreError> {
        let markers: Vec<(KeyId, Entry)> = self
            .index
            .iter()
            .filter(|(_, e)| e.flags & FLAG_MARKER != 0)
            .map(|(k, e)| (*k, *e))
            .collect();
        for (key, e) in markers {
            let ok = target_ok(blobs.get(&e.blob), &key, &e, self.chunk)?;
            if let Some(cur) = self.index.get_mut(&key) {
                if ok {
                    cur.flags = 0;
                } else {
                    tracing::warn!(
                        blob = e.blob,
                        offset = e.offset,
                        "commit marker points at a missing or damaged record; dropping the object"
                    );
                    cur.flags = FLAG_TOMBSTONE;
                }
            }
        }
        let mut pending = HashMap::new();
        for (key, p) in self.prepares {
            if self.index.get(&key).is_none_or(|e| e.seq < p.seq) {
                if let Some(b) = blobs.get(&p.blob) {
                    b.mark_live(format::record_len(
                        RecordKind::Prepare,
                        p.reserved,
                        self.chunk,
                    ));
                    pending.insert(key, p);
                }
            }
        }
        for (_, e) in self
            .index
            .iter()
            .filter(|(_, e)| e.flags & FLAG_TOMBSTONE == 0)
        {
            if let Some(b) = blobs.get(&e.blob) {
                b.mark_live(format::record_len(RecordKind::Data, e.reserved, self.chunk));
            }
        }
        let dead: Vec<KeyId> = self
            .index
            .iter()
            .filter(|(_, e)| e.flags & FLAG_TOMBSTONE != 0)
            .map(|(k, _)| *k)
            .collect();
        if dead.len() * 8 > self.index.len() {
            // Many removed keys: rebuild to give their memory back (briefly twice the index).
            self.index
                .retain_compact(|_, e| e.flags & FLAG_TOMBSTONE == 0);
        } else {
            for k in &dead {
                self.index.remove(k);
            }
        }
        Ok((self.index, pending, self.max_seq))
    }
}

/// Whether a COMMIT marker's target record exists and belongs to `key`.
fn target_ok(
    blob: Option<&Arc<BlobFile>>,
    key: &KeyId,
    e: &Entry,
    chunk: u32,
) -> Result<bool, StoreError> {
    let Some(blob) = blob else { return Ok(false) };
    if e.offset + HEADER_LEN > blob.len() {
        return Ok(false);
    }
    let mut buf = [0u8; HEADER_LEN as usize];
    blob.read_exact_at(&mut buf, e.offset)?;
    Ok(RecordHeader::decode(&buf).is_ok_and(|h| {
        h.key == *key
            && h.kind.has_area()
            && h.reserved == e.reserved
            && e.size <= h.reserved
            && e.offset + h.record_len(chunk) <= blob.len()
    }))
}
