//! Defragmentation: space reclaimed, concurrent readers and writers, crashes at every step.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use elliptics::proto::errno::code;

use super::*;
use crate::blob::{DefragState, FailPoint, StoreError};

/// 300 keys, 1/3 overwritten, 1/4 removed, spread over many blobs. Returns the expected data.
fn fragmented(s: &BlobStore) -> HashMap<u64, Vec<u8>> {
    let mut want = HashMap::new();
    for i in 0..300 {
        let d = bytes(i, 100 + (i as usize * 13) % 900);
        put(s, i, &d);
        want.insert(i, d);
    }
    for i in (0..300).step_by(3) {
        let d = bytes(i + 1000, 200);
        put(s, i, &d);
        want.insert(i, d);
    }
    for i in (1..300).step_by(4) {
        s.remove(&key(i)).unwrap();
        want.remove(&i);
    }
    want
}

fn check(s: &BlobStore, want: &HashMap<u64, Vec<u8>>) {
    for i in 0..300 {
        assert_eq!(get(s, i).as_ref(), want.get(&i), "key {i}");
    }
    assert_eq!(s.stats().keys, want.len() as u64);
}

fn cfg(dir: &Path) -> StoreConfig {
    config_blob_size(dir, 16 << 10)
}

/// A new temporary directory and the store of [`cfg`] (16 KiB blobs) opened in it.
fn temp_small_blobs() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_cfg(cfg(dir.path()));
    (dir, store)
}

/// Drops `store` (the last handle closes it) and opens the store of [`cfg`] in `dir` again.
fn reopen<S>(store: S, dir: &Path) -> BlobStore {
    drop(store);
    open_cfg(cfg(dir))
}

#[test]
fn defrag_reclaims_space_while_readers_and_writers_run() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open_cfg(cfg(dir.path())));
    let want = fragmented(&s);
    let before = s.stats();
    let disk_before = disk_bytes(dir.path());
    assert_eq!(disk_before, before.base_size);
    assert!(before.records_removed_size > 0);

    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for t in 0..3u64 {
        let (s, stop, want) = (Arc::clone(&s), Arc::clone(&stop), want.clone());
        readers.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) || n < 500 {
                let k = (n * 7 + t) % 300;
                if k % 5 != 4 {
                    // Keys ≡ 4 (mod 5) belong to the writer thread.
                    assert_eq!(get(&s, k).as_ref(), want.get(&k), "reader {t} key {k}");
                }
                n += 1;
            }
            n
        }));
    }
    let writer = {
        let (s, stop) = (Arc::clone(&s), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut last = HashMap::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) || n < 200 {
                let k = (n * 5 + 4) % 300;
                let d = bytes(n + 5000, (n % 300) as usize);
                put(&s, k, &d);
                last.insert(k, d);
                n += 1;
            }
            last
        })
    };
    let report = s.defrag().unwrap();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 500);
    }
    let written = writer.join().unwrap();
    let mut want = want;
    for (k, d) in written {
        want.insert(k, d);
    }
    assert!(
        report.blobs_compacted > 1 && report.records_copied > 0 && !report.cancelled,
        "{report:?}"
    );
    assert!(report.bytes_after < report.bytes_before);
    check(&s, &want);
    assert!(
        matches!(s.defrag_state(), DefragState::NotStarted { last_status: 0, last_completed, .. } if last_completed > 0)
    );

    // A second run with nothing else happening: only live data (plus file headers) is left,
    // and the disk shrank by at least the reclaimable bytes.
    let mid = s.stats();
    let disk_mid = disk_bytes(dir.path());
    s.defrag().unwrap();
    let after = s.stats();
    let disk_after = disk_bytes(dir.path());
    assert_eq!(disk_after, after.base_size);
    let headers = 64 * after.blobs.len() as u64;
    assert!(
        disk_after + mid.records_removed_size <= disk_mid + headers,
        "{disk_after} + {} > {disk_mid} + {headers}",
        mid.records_removed_size
    );
    assert_eq!(after.records_removed, 0);
    assert_eq!(after.records_total, want.len() as u64);
    let live: u64 = want
        .values()
        .map(|d| {
            crate::blob::format::record_len(
                crate::blob::format::RecordKind::Data,
                d.len() as u64,
                CHUNK,
            )
        })
        .sum();
    assert_eq!(disk_after, live + headers);
    assert!(disk_after < disk_before);
    let s = reopen(s, dir.path());
    check(&s, &want);
}

#[test]
fn removed_keys_stay_removed_after_defrag_and_reopen() {
    let (dir, s) = temp_small_blobs();
    let want = fragmented(&s);
    s.defrag().unwrap();
    check(&s, &want);
    // Remove more keys after the first run, then run again.
    let mut want = want;
    for i in (2..300).step_by(10) {
        if want.remove(&i).is_some() {
            s.remove(&key(i)).unwrap();
        }
    }
    s.defrag().unwrap();
    let s = reopen(s, dir.path());
    check(&s, &want);
    assert_eq!(s.stats().records_removed, 0);
}

#[test]
fn concurrent_changes_during_defrag_win() {
    let (dir, s) = temp_small_blobs();
    let mut want = fragmented(&s);
    let observed = Arc::new(Mutex::new(Vec::new()));
    let obs = Arc::clone(&observed);
    *crate::blob::lock(&s.hook) = Some(Box::new(move |store, at| {
        if at == FailPoint::CopiesDurable {
            obs.lock().unwrap().push(matches!(
                store.defrag_state(),
                DefragState::InProgress { .. }
            ));
            obs.lock()
                .unwrap()
                .push(matches!(store.defrag(), Err(StoreError::DefragRunning)));
            put(store, 0, b"overwritten during defrag");
            store.remove(&key(3)).unwrap();
        }
        Ok(())
    }));
    s.defrag().unwrap();
    assert_eq!(*observed.lock().unwrap(), [true, true]);
    want.insert(0, b"overwritten during defrag".to_vec());
    want.remove(&3);
    check(&s, &want);
    *crate::blob::lock(&s.hook) = None;
    let s = reopen(s, dir.path());
    check(&s, &want);
}

#[test]
fn crash_at_every_defrag_step_loses_and_resurrects_nothing() {
    for at in [
        FailPoint::CopiesDurable,
        FailPoint::ManifestDurable,
        FailPoint::FirstDeleted,
    ] {
        let (dir, s) = temp_small_blobs();
        let mut want = fragmented(&s);
        // After one run the live records sit in blobs numbered above the active one, so the
        // tombstones written next land in a lower-numbered blob than the records they kill:
        // deleting the old blobs one by one without the manifest would resurrect keys.
        s.defrag().unwrap();
        for i in (0..300).step_by(5) {
            if want.remove(&i).is_some() {
                s.remove(&key(i)).unwrap();
            }
        }
        for i in (2..300).step_by(7) {
            let d = bytes(i + 7000, 50);
            put(&s, i, &d);
            want.insert(i, d);
        }
        prepare(&s, 500, 300, &bytes(9, 100));
        *crate::blob::lock(&s.hook) = Some(Box::new(move |_, p| {
            if p == at {
                Err(StoreError::io(
                    "/",
                    std::io::Error::other("simulated crash"),
                ))
            } else {
                Ok(())
            }
        }));
        assert!(s.defrag().is_err(), "{at:?}");
        assert!(matches!(
            s.defrag_state(),
            DefragState::NotStarted {
                last_status: code::EIO,
                ..
            }
        ));
        // Whatever the in-memory state, the process "dies" here.
        let s = reopen(s, dir.path());
        check(&s, &want);
        // The prepared record survived too and still commits.
        commit(&s, 500, 300, 100, &bytes(10, 200));
        let mut full = bytes(9, 100);
        full.extend(bytes(10, 200));
        assert_eq!(get(&s, 500).unwrap(), full);
        s.remove(&key(500)).unwrap();
        s.defrag().unwrap();
        check(&s, &want);
        assert_eq!(s.stats().records_removed, 0, "{at:?}");
        let s = reopen(s, dir.path());
        check(&s, &want);
    }
}

#[test]
fn prepared_records_move_and_abandoned_ones_are_reclaimed() {
    let (dir, s) = temp_small_blobs();
    let data = bytes(1, 5000);
    prepare(&s, 1, 5000, &data[..2000]);
    prepare(&s, 2, 8000, b"abandoned");
    for i in 10..40 {
        put(&s, i, &bytes(i, 700));
    }
    let r = s.defrag().unwrap();
    assert_eq!((r.pending_copied, r.pending_dropped), (2, 0));
    s.write(&key(1), req(WriteKind::PlainChunk, 2000, &data[2000..4000]))
        .unwrap();
    commit(&s, 1, 5000, 4000, &data[4000..]);
    assert_eq!(get(&s, 1).unwrap(), data);

    let s = reopen(s, dir.path());
    let opened = Instant::now();
    assert_eq!(get(&s, 1).unwrap(), data);
    assert_eq!(s.stats().pending, 1);
    s.set_pending_idle_limit(Duration::ZERO);
    // A record counts as idle once strictly more than the limit has passed since it was
    // last touched (here: at open). With a coarse clock no time may have passed yet.
    // (Bounded by sleeps, not by the clock that is being waited for: about 5 s.)
    for _ in 0..5000 {
        if !opened.elapsed().is_zero() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        !opened.elapsed().is_zero(),
        "the clock did not advance in 5 s"
    );
    let disk = disk_bytes(dir.path());
    let r = s.defrag().unwrap();
    assert_eq!((r.pending_copied, r.pending_dropped), (0, 1));
    assert_eq!(s.stats().pending, 0);
    assert!(disk_bytes(dir.path()) + 8000 < disk);
    assert!(matches!(
        s.write(&key(2), req(WriteKind::Commit { size: 9 }, 0, b"")),
        Err(StoreError::NotFound)
    ));
    let s = reopen(s, dir.path());
    assert_eq!(s.stats().pending, 0);
    assert_eq!(get(&s, 1).unwrap(), data);
}

#[test]
fn cancel_deletes_nothing() {
    let (dir, s) = temp_small_blobs();
    let want = fragmented(&s);
    assert!(!s.cancel_defrag());
    *crate::blob::lock(&s.hook) = Some(Box::new(|store, _| {
        assert!(store.cancel_defrag());
        Ok(())
    }));
    let disk = disk_bytes(dir.path());
    let r = s.defrag().unwrap();
    assert!(r.cancelled);
    assert!(matches!(
        s.defrag_state(),
        DefragState::NotStarted {
            last_status: code::ECANCELED,
            ..
        }
    ));
    assert!(
        disk_bytes(dir.path()) > disk,
        "copies were added, nothing deleted"
    );
    check(&s, &want);
    *crate::blob::lock(&s.hook) = None;
    let r = s.defrag().unwrap();
    assert!(!r.cancelled);
    check(&s, &want);
    assert!(disk_bytes(dir.path()) < disk);
}
