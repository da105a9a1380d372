//! Reads: object lookup, ranged reads, and chunk-by-chunk checksum verification.

use super::BlobStore;
use super::error::StoreError;
use super::file::BlobFile;
use super::format;
use super::stats::Counters;
use super::types::{KeyId, RecordInfo};

/// Where [`read_area`] gets its bytes: a blob file read normally (may block on the disk), or
/// [`CachedOnly`] (page cache only, never blocks).
pub trait ReadAt {
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact(&self, buf: &mut [u8], offset: u64) -> Result<(), StoreError>;
    /// The blob the bytes come from (for corruption errors).
    fn blob(&self) -> &BlobFile;
}

impl ReadAt for BlobFile {
    fn read_exact(&self, buf: &mut [u8], offset: u64) -> Result<(), StoreError> {
        self.read_exact_at(buf, offset)
    }
    fn blob(&self) -> &BlobFile {
        self
    }
}

/// A blob read from the page cache only: [`StoreError::WouldBlock`] instead of waiting.
pub struct CachedOnly<'a>(pub &'a BlobFile);

impl ReadAt for CachedOnly<'_> {
    fn read_exact(&self, buf: &mut [u8], offset: u64) -> Result<(), StoreError> {
        self.0.read_exact_cached_at(buf, offset)
    }
    fn blob(&self) -> &BlobFile {
        self.0
    }
}

/// How long a read retries while appends extend its record in place under it.
const EXTENDED_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Bytes read per piece when streaming whole objects (a multiple of any checksum chunk).
pub const PIECE: u64 = 1 << 20;

/// The data area of one record.
#[derive(Debug, Clone, Copy)]
pub struct Area {
    /// Offset of the record.
    pub record: u64,
    /// Reserved data bytes.
    pub reserved: u64,
    /// Object data size (bytes covered by checksums).
    pub size: u64,
    /// Checksum chunk size.
    pub chunk: u32,
}

impl Area {
    /// Offset of the data inside the blob.
    pub fn data(&self) -> u64 {
        format::data_offset(self.record, self.reserved, self.chunk)
    }

    /// Reads checksum table entries `first..last`.
    pub fn read_table(
        &self,
        blob: &(impl ReadAt + ?Sized),
        first: u64,
        last: u64,
    ) -> Result<Vec<u32>, StoreError> {
        let mut raw = vec![0u8; ((last - first) * 4) as usize];
        blob.read_exact(&mut raw, format::table_offset(self.record, first))?;
        Ok(format::decode_table(&raw))
    }
}

/// Reads `out.len()` data bytes starting at `from` (within `area.size`). With `verify`, every
/// checksum chunk the range touches is read whole and checked; bytes of fully covered chunks
/// go straight into `out`.
pub fn read_area(
    blob: &(impl ReadAt + ?Sized),
    area: &Area,
    from: u64,
    out: &mut [u8],
    verify: bool,
) -> Result<(), StoreError> {
    let len = out.len() as u64;
    if len == 0 {
        return Ok(());
    }
    let data = area.data();
    if !verify {
        return blob.read_exact(out, data + from);
    }
    let c = u64::from(area.chunk);
    let end = from + len;
    let first = from / c;
    let last = (end - 1) / c;
    let table = area.read_table(blob, first, last + 1)?;
    let chunk_end = |i: u64| ((i + 1) * c).min(area.size);
    let check = |i: u64, bytes: &[u8]| {
        if crc32fast::hash(bytes) == table[(i - first) as usize] {
            Ok(())
        } else {
            Err(blob.blob().corrupted_at(data + i * c))
        }
    };
    let mut scratch = Vec::new();
    let mut partial = |i: u64, out: &mut [u8]| -> Result<(), StoreError> {
        let (cs, ce) = (i * c, chunk_end(i));
        scratch.resize((ce - cs) as usize, 0);
        blob.read_exact(&mut scratch, data + cs)?;
        check(i, &scratch)?;
        let (a, b) = (from.max(cs), end.min(ce));
        out[(a - from) as usize..(b - from) as usize]
            .copy_from_slice(&scratch[(a - cs) as usize..(b - cs) as usize]);
        Ok(())
    };
    let covered = |i: u64| i * c >= from && chunk_end(i) <= end;
    let mut i = first;
    if !covered(first) {
        partial(first, out)?;
        i += 1;
    }
    let tail = last >= i && !covered(last);
    let mid_end = if tail { last } else { last + 1 };
    if i < mid_end {
        let (ms, me) = (i * c, chunk_end(mid_end - 1));
        let mid = &mut out[(ms - from) as usize..(me - from) as usize];
        blob.read_exact(mid, data + ms)?;
        for (k, piece) in mid.chunks(c as usize).enumerate() {
            check(i + k as u64, piece)?;
        }
    }
    if tail {
        partial(last, out)?;
    }
    Ok(())
}

impl BlobStore {
    /// Reads `size` bytes (0 = to the end) at `offset` of the committed object `key`.
    ///
    /// Errors: `NotFound` (missing, removed or only prepared), `TooBig` (`offset != 0` and
    /// `offset >= size`), `Corrupted` when `verify` is set and a touched checksum chunk does
    /// not match.
    pub fn read(
        &self,
        key: &KeyId,
        offset: u64,
        size: u64,
        verify: bool,
    ) -> Result<(RecordInfo, Vec<u8>), StoreError> {
        let mut out = Vec::new();
        let info = self.read_into(key, offset, size, verify, &mut out)?;
        Ok((info, out))
    }

    /// Like [`read`](Self::read) but appends the data to `out` (lets callers reuse buffers).
    pub fn read_into(
        &self,
        key: &KeyId,
        offset: u64,
        size: u64,
        verify: bool,
        out: &mut Vec<u8>,
    ) -> Result<RecordInfo, StoreError> {
        self.read_inner(key, offset, size, verify, out, None)
    }

    /// Like [`read`](Self::read), but only from the page cache and only up to `max` bytes:
    /// [`StoreError::WouldBlock`] when the read is larger or a byte would need the disk (the
    /// caller then reads through the blocking path). Never blocks on storage.
    pub fn read_cached(
        &self,
        key: &KeyId,
        offset: u64,
        size: u64,
        verify: bool,
        max: u64,
    ) -> Result<(RecordInfo, Vec<u8>), StoreError> {
        let mut out = Vec::new();
        let info = self.read_inner(key, offset, size, verify, &mut out, Some(max))?;
        Ok((info, out))
    }

    fn read_inner(
        &self,
        key: &KeyId,
        offset: u64,
        size: u64,
        verify: bool,
        out: &mut Vec<u8>,
        cached_max: Option<u64>,
    ) -> Result<RecordInfo, StoreError> {
        let started = std::time::Instant::now();
        loop {
            let (e, blob) = self.resolve(key).ok_or(StoreError::NotFound)?;
            match self.read_entry(&e, &blob, offset, size, verify, out, cached_max) {
                // An append extended the record in place meanwhile: the last chunk's
                // checksum now covers bytes past the size read. Read the new version
                // (for as long as appends keep winning the race, within a bound).
                Err(StoreError::Corrupted { .. })
                    if started.elapsed() < EXTENDED_RETRY && self.extended(&e, &blob) =>
                {
                    std::thread::yield_now();
                }
                r => return r,
            }
        }
    }

    /// Whether the record of `e` now holds more than `e.size` bytes (extended in place).
    fn extended(&self, e: &super::index::Entry, blob: &BlobFile) -> bool {
        let mut raw = [0u8; format::HEADER_LEN as usize];
        blob.read_exact_at(&mut raw, e.offset).is_ok()
            && format::RecordHeader::decode(&raw).is_ok_and(|h| h.seq == e.seq && h.size != e.size)
    }

    #[allow(clippy::too_many_arguments)]
    fn read_entry(
        &self,
        e: &super::index::Entry,
        blob: &BlobFile,
        offset: u64,
        size: u64,
        verify: bool,
        out: &mut Vec<u8>,
        cached_max: Option<u64>,
    ) -> Result<RecordInfo, StoreError> {
        if offset != 0 && offset >= e.size {
            return Err(StoreError::TooBig);
        }
        let rest = e.size.saturating_sub(offset);
        let n = if size == 0 { rest } else { size.min(rest) };
        if cached_max.is_some_and(|max| n > max) {
            return Err(StoreError::WouldBlock);
        }
        let n = usize::try_from(n).map_err(|_| StoreError::InvalidArgument("read too large"))?;
        let start = out.len();
        out.resize(start + n, 0);
        let area = self.area(e);
        let target = &mut out[start..];
        let read = match cached_max {
            Some(_) => read_area(&CachedOnly(blob), &area, offset, target, verify),
            None => read_area(blob, &area, offset, target, verify),
        };
        if let Err(err) = read {
            out.truncate(start);
            return Err(err);
        }
        Counters::bump(
            &self.counters.reads,
            Some((&self.counters.read_bytes, n as u64)),
        );
        Ok(self.info(e, blob))
    }

    /// Metadata of the committed object `key` (no data is read).
    pub fn lookup(&self, key: &KeyId) -> Result<RecordInfo, StoreError> {
        Counters::bump(&self.counters.lookups, None);
        let (e, blob) = self.resolve(key).ok_or(StoreError::NotFound)?;
        Ok(self.info(&e, &blob))
    }
}
