//! Measurements (ignored by default): index memory per key and open-scan time.
//!
//! `cargo test --release -p backrunner-node --lib blob::tests::measure -- --ignored --nocapture`
//! (`BLOB_MEASURE_KEYS` sets the key count, default 200 000).

use std::time::Instant;

use super::*;
use crate::blob::format::DEFAULT_CHUNK;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
#[ignore = "measurement"]
fn index_memory_and_open_scan_time() {
    let n: u64 = std::env::var("BLOB_MEASURE_KEYS").map_or(200_000, |v| v.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_blob_size(dir.path(), 256 << 20);
    let keys: Vec<KeyId> = (0..n).map(|i| bytes(i, 64).try_into().unwrap()).collect();
    let data = bytes(0, 100);
    let t = Instant::now();
    {
        let s = BlobStore::open_with_chunk(cfg.clone(), DEFAULT_CHUNK).unwrap();
        for k in &keys {
            s.write(k, req(WriteKind::Plain, 0, &data)).unwrap();
        }
        s.sync().unwrap();
    }
    let write_time = t.elapsed();
    drop(keys);
    let rss0 = rss_bytes();
    let t = Instant::now();
    let s = BlobStore::open_with_chunk(cfg, DEFAULT_CHUNK).unwrap();
    let open_time = t.elapsed();
    let rss1 = rss_bytes();
    let st = s.stats();
    assert_eq!(st.keys, n);
    println!(
        "keys {n}: writes {:.0}/s; open scan {:?} ({:.0} records/s, {} MiB of blobs); \
         RSS delta {} bytes/key; index estimate {} bytes/key",
        n as f64 / write_time.as_secs_f64(),
        open_time,
        n as f64 / open_time.as_secs_f64(),
        st.base_size >> 20,
        (rss1.saturating_sub(rss0)) / n,
        st.index_memory / n,
    );
    let t = Instant::now();
    for i in 0..n.min(100_000) {
        let k: KeyId = bytes(i, 64).try_into().unwrap();
        s.read(&k, 0, 0, true).unwrap();
    }
    println!(
        "verified reads: {:.0}/s",
        n.min(100_000) as f64 / t.elapsed().as_secs_f64()
    );
}
