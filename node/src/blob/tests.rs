//! Tests of the blob store: round trips, recovery, defragmentation, a model-based property
//! test, and (ignored) measurements.

mod basic;
mod defrag;
mod measure;
mod model;
mod recovery;

use std::path::{Path, PathBuf};

use super::{
    BlobStore, KeyId, RecordInfo, StoreConfig, SyncPolicy, Timestamp, WriteKind, WriteRequest,
};

/// Checksum chunk used by tests: tiny, so small objects span many chunks.
pub const CHUNK: u32 = 64;

/// A store in `dir`: 1 MiB blobs, no size limit, no fsync.
pub fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        dir: dir.to_path_buf(),
        blob_size: 1 << 20,
        size_limit: 0,
        sync: SyncPolicy::Never,
    }
}

/// [`config`] in `dir` with blobs of `blob_size` bytes (small ones rotate often).
pub fn config_blob_size(dir: &Path, blob_size: u64) -> StoreConfig {
    StoreConfig {
        blob_size,
        ..config(dir)
    }
}

/// Opens a blob file for writing in place, to damage bytes of it.
pub fn open_to_damage(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new().write(true).open(path).unwrap()
}

/// Opens a store with the test [`CHUNK`].
pub fn open_cfg(cfg: StoreConfig) -> BlobStore {
    BlobStore::open_with_chunk(cfg, CHUNK).unwrap()
}

/// Opens the store of [`config`] in `dir`.
pub fn open(dir: &Path) -> BlobStore {
    open_cfg(config(dir))
}

/// A new temporary directory and the store of [`config`] opened in it (keep the directory
/// alive as long as the store, and to reopen it).
pub fn temp_store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    (dir, store)
}

/// Key number `i`.
pub fn key(i: u64) -> KeyId {
    let mut k = [0u8; 64];
    k[..8].copy_from_slice(&i.to_le_bytes());
    k[63] = 0xA5;
    k
}

/// Timestamp number `n`.
pub fn ts(n: u64) -> Timestamp {
    Timestamp {
        tsec: 1_700_000_000 + n,
        tnsec: n * 1000,
    }
}

/// Deterministic bytes for (seed, len).
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A write request of `kind` at `offset`, with timestamp `ts(offset)` and user flags 7.
pub fn req(kind: WriteKind, offset: u64, data: &[u8]) -> WriteRequest<'_> {
    WriteRequest {
        data,
        offset,
        kind,
        timestamp: ts(offset),
        user_flags: 7,
    }
}

/// A plain write of the whole object `k`.
pub fn put(store: &BlobStore, k: u64, data: &[u8]) -> RecordInfo {
    store
        .write(&key(k), req(WriteKind::Plain, 0, data))
        .unwrap()
}

/// A PREPARE of object `k` reserving `reserve` bytes, with `data` as its first chunk at
/// offset 0.
pub fn prepare(store: &BlobStore, k: u64, reserve: u64, data: &[u8]) -> RecordInfo {
    store
        .write(&key(k), req(WriteKind::Prepare { reserve }, 0, data))
        .unwrap()
}

/// A COMMIT of object `k` to its final `size`, with `data` as its last chunk at `offset`.
pub fn commit(store: &BlobStore, k: u64, size: u64, offset: u64, data: &[u8]) -> RecordInfo {
    store
        .write(&key(k), req(WriteKind::Commit { size }, offset, data))
        .unwrap()
}

/// The whole object, verified; `None` if it is not found.
pub fn get(store: &BlobStore, k: u64) -> Option<Vec<u8>> {
    match store.read(&key(k), 0, 0, true) {
        Ok((_, d)) => Some(d),
        Err(super::StoreError::NotFound) => None,
        Err(e) => panic!("read of key {k} failed: {e}"),
    }
}

/// Blob files in `dir` with their sizes, by name.
pub fn blob_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut v: Vec<(PathBuf, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "blob"))
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .collect();
    v.sort();
    v
}

/// Total bytes of blob files on disk.
pub fn disk_bytes(dir: &Path) -> u64 {
    blob_files(dir).iter().map(|(_, l)| l).sum()
}
