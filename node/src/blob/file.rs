//! One blob file: its open handle (positioned I/O only, shared by readers through `Arc`), its
//! logical length and its record statistics.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::error::StoreError;
use super::format::{self, FILE_HEADER_LEN, FileHeader};
use super::stats::BlobFileStats;

/// An open blob file.
#[derive(Debug)]
pub struct BlobFile {
    /// Blob number.
    pub number: u32,
    /// Path of the file.
    pub path: PathBuf,
    file: File,
    len: AtomicU64,
    records: AtomicU64,
    removed: AtomicU64,
    removed_size: AtomicU64,
    corrupted: AtomicU64,
    dirty: AtomicBool,
    sealed: AtomicBool,
}

impl BlobFile {
    fn new(number: u32, path: PathBuf, file: File, len: u64) -> BlobFile {
        BlobFile {
            number,
            path,
            file,
            len: AtomicU64::new(len),
            records: AtomicU64::new(0),
            removed: AtomicU64::new(0),
            removed_size: AtomicU64::new(0),
            corrupted: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            sealed: AtomicBool::new(false),
        }
    }

    /// Creates a new, empty blob file with its header.
    pub fn create(dir: &Path, number: u32, chunk: u32) -> Result<BlobFile, StoreError> {
        let path = dir.join(format::blob_file_name(number));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let blob = BlobFile::new(number, path, file, FILE_HEADER_LEN);
        let header = FileHeader {
            number,
            chunk,
            sealed_len: None,
        };
        blob.write_all_at(&header.encode(), 0)?;
        Ok(blob)
    }

    /// Opens an existing blob file; returns it with its file length and decoded header.
    pub fn open(
        dir: &Path,
        number: u32,
    ) -> Result<(BlobFile, u64, Option<FileHeader>), StoreError> {
        let path = dir.join(format::blob_file_name(number));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        let mut buf = [0u8; FILE_HEADER_LEN as usize];
        let header = if len >= FILE_HEADER_LEN {
            file.read_exact_at(&mut buf, 0)
                .map_err(|e| StoreError::io(&path, e))?;
            FileHeader::decode(&buf)
        } else {
            None
        };
        Ok((BlobFile::new(number, path, file, len), len, header))
    }

    /// Reads exactly `buf.len()` bytes at `offset`; a short file is reported as corruption.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), StoreError> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.corrupted_at(offset)
            } else {
                StoreError::io(&self.path, e)
            }
        })
    }

    /// Like [`read_exact_at`](Self::read_exact_at), but only from the page cache
    /// (`preadv2(RWF_NOWAIT)`): [`StoreError::WouldBlock`] when any byte would need the disk.
    /// Never blocks on storage, so async workers may call it.
    pub fn read_exact_cached_at(&self, buf: &mut [u8], offset: u64) -> Result<(), StoreError> {
        let mut done = 0usize;
        while done < buf.len() {
            let mut slices = [std::io::IoSliceMut::new(&mut buf[done..])];
            let at = offset + done as u64;
            match rustix::io::preadv2(
                &self.file,
                &mut slices,
                at,
                rustix::io::ReadWriteFlags::NOWAIT,
            ) {
                Ok(0) => return Err(self.corrupted_at(at)),
                Ok(n) => done += n,
                Err(rustix::io::Errno::AGAIN) => return Err(StoreError::WouldBlock),
                Err(rustix::io::Errno::INTR) => {}
                // Kernels or filesystems without RWF_NOWAIT: let the blocking path read it.
                Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::NOSYS) => {
                    return Err(StoreError::WouldBlock);
                }
                Err(e) => return Err(StoreError::io(&self.path, e.into())),
            }
        }
        Ok(())
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (short at EOF).
    pub fn read_some_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, StoreError> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StoreError::io(&self.path, e)),
            }
        }
        Ok(done)
    }

    /// Writes all of `buf` at `offset` and marks the file dirty.
    pub fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<(), StoreError> {
        let res = self
            .file
            .write_all_at(buf, offset)
            .map_err(|e| StoreError::io(&self.path, e));
        // Set after the write so a concurrent `sync_if_dirty` that cleared the flag before
        // this write landed cannot leave it unsynced and clean.
        self.dirty.store(true, Ordering::Release);
        res
    }

    /// Sets the file length (extends with a hole or truncates).
    pub fn set_file_len(&self, len: u64) -> Result<(), StoreError> {
        let res = self
            .file
            .set_len(len)
            .map_err(|e| StoreError::io(&self.path, e));
        self.dirty.store(true, Ordering::Release);
        res
    }

    /// `fdatasync`.
    pub fn sync_data(&self) -> Result<(), StoreError> {
        self.dirty.store(false, Ordering::Release);
        self.file
            .sync_data()
            .map_err(|e| StoreError::io(&self.path, e))
    }

    /// `fdatasync` if anything was written since the last sync.
    pub fn sync_if_dirty(&self) -> Result<(), StoreError> {
        if self.dirty.load(Ordering::Acquire) {
            self.sync_data()?;
        }
        Ok(())
    }

    /// Marks the blob sealed: syncs it (if `fsync`), then records the final length in the
    /// file header.
    pub fn seal(&self, chunk: u32, fsync: bool) -> Result<(), StoreError> {
        if fsync {
            self.sync_data()?;
        }
        let header = FileHeader {
            number: self.number,
            chunk,
            sealed_len: Some(self.len()),
        };
        self.write_all_at(&header.encode(), 0)?;
        if fsync {
            self.sync_data()?;
        }
        self.sealed.store(true, Ordering::Release);
        Ok(())
    }

    /// Marks the blob sealed in memory (its header already says so).
    pub fn mark_sealed(&self) {
        self.sealed.store(true, Ordering::Release);
    }

    /// Whether the blob was sealed.
    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// Logical length: end of the last complete record.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Sets the logical length.
    pub fn set_len(&self, len: u64) {
        self.len.store(len, Ordering::Release);
    }

    /// Counts a new record of `len` bytes, dead from the start if `dead`.
    pub fn add_record(&self, len: u64, dead: bool) {
        self.records.fetch_add(1, Ordering::Relaxed);
        if dead {
            self.mark_dead(len);
        }
    }

    /// Counts a record of `len` bytes as reclaimable.
    pub fn mark_dead(&self, len: u64) {
        self.removed.fetch_add(1, Ordering::Relaxed);
        self.removed_size.fetch_add(len, Ordering::Relaxed);
    }

    /// Takes back a [`mark_dead`](Self::mark_dead) (the open scan counts every record dead
    /// first, then revives the winners).
    pub fn mark_live(&self, len: u64) {
        self.removed.fetch_sub(1, Ordering::Relaxed);
        self.removed_size.fetch_sub(len, Ordering::Relaxed);
    }

    /// Counts a damaged record.
    pub fn add_corrupted(&self) {
        self.corrupted.fetch_add(1, Ordering::Relaxed);
    }

    /// The corruption error for `offset` in this file.
    pub fn corrupted_at(&self, offset: u64) -> StoreError {
        StoreError::Corrupted {
            path: self.path.clone(),
            offset,
        }
    }

    /// Statistics of this file.
    pub fn stats(&self) -> BlobFileStats {
        BlobFileStats {
            records_total: self.records.load(Ordering::Relaxed),
            records_removed: self.removed.load(Ordering::Relaxed),
            records_removed_size: self.removed_size.load(Ordering::Relaxed),
            records_corrupted: self.corrupted.load(Ordering::Relaxed),
            base_size: self.len(),
        }
    }
}

/// fsyncs a directory so that created, renamed and removed entries are durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}
