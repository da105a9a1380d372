//! Round trips of every write kind, reads, removes, limits and concurrency.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use elliptics::proto::errno::code;

use super::*;
use crate::blob::{StoreError, record_flags};

#[test]
fn plain_write_round_trip_and_file_info() {
    let (_dir, s) = temp_store();
    let data = bytes(1, 1000);
    let info = s
        .write(
            &key(1),
            WriteRequest {
                user_flags: 99,
                ..req(WriteKind::Plain, 0, &data)
            },
        )
        .unwrap();
    assert_eq!(info.size, 1000);
    assert_eq!(info.record_flags, record_flags::COMMITTED);
    assert_eq!(info.user_flags, 99);
    assert_eq!(info.timestamp, ts(0));
    assert_eq!(s.lookup(&key(1)).unwrap(), info);
    let (rinfo, got) = s.read(&key(1), 0, 0, true).unwrap();
    assert_eq!((rinfo, got), (info.clone(), data.clone()));
    // data_offset really points at the data inside path.
    let f = std::fs::File::open(&info.path).unwrap();
    let mut raw = vec![0u8; 1000];
    f.read_exact_at(&mut raw, info.data_offset).unwrap();
    assert_eq!(raw, data);
    assert!(matches!(s.lookup(&key(2)), Err(StoreError::NotFound)));
    let st = s.stats();
    assert_eq!(
        (st.keys, st.writes, st.write_bytes, st.reads, st.read_bytes),
        (1, 1, 1000, 1, 1000)
    );
}

#[test]
fn empty_object() {
    let (_dir, s) = temp_store();
    put(&s, 1, b"");
    let (info, d) = s.read(&key(1), 0, 0, true).unwrap();
    assert_eq!((info.size, d.len()), (0, 0));
    assert!(matches!(
        s.read(&key(1), 1, 0, true),
        Err(StoreError::TooBig)
    ));
}

#[test]
fn read_ranges() {
    let (_dir, s) = temp_store();
    let data = bytes(2, 1000);
    put(&s, 1, &data);
    for (off, size) in [
        (0, 0),
        (0, 10),
        (1, 63),
        (63, 2),
        (64, 64),
        (100, 0),
        (999, 0),
        (500, 10_000),
        (7, 900),
    ] {
        let want_end = if size == 0 {
            1000
        } else {
            (off + size).min(1000)
        };
        for verify in [true, false] {
            let (info, got) = s.read(&key(1), off, size, verify).unwrap();
            assert_eq!(info.size, 1000);
            assert_eq!(
                got,
                &data[off as usize..want_end as usize],
                "off {off} size {size}"
            );
        }
    }
    assert!(matches!(
        s.read(&key(1), 1000, 0, true),
        Err(StoreError::TooBig)
    ));
    assert!(matches!(
        s.read(&key(1), 5000, 1, false),
        Err(StoreError::TooBig)
    ));
    assert!(matches!(
        s.read(&key(9), 0, 0, true),
        Err(StoreError::NotFound)
    ));
    let mut buf = b"prefix".to_vec();
    s.read_into(&key(1), 10, 5, true, &mut buf).unwrap();
    assert_eq!(&buf[6..], &data[10..15]);
    assert_eq!(&buf[..6], b"prefix");
}

#[test]
fn offset_writes_copy_and_zero_fill() {
    let (_dir, s) = temp_store();
    put(&s, 1, b"hello world");
    let i = s.write(&key(1), req(WriteKind::Plain, 3, b"XYZ")).unwrap();
    assert_eq!(i.size, 6);
    assert_eq!(get(&s, 1).unwrap(), b"helXYZ");
    s.write(&key(1), req(WriteKind::Plain, 10, b"!")).unwrap();
    assert_eq!(get(&s, 1).unwrap(), b"helXYZ\0\0\0\0!");
    s.write(&key(2), req(WriteKind::Plain, 4, b"ab")).unwrap();
    assert_eq!(get(&s, 2).unwrap(), b"\0\0\0\0ab");
    // A long prefix copied across many checksum chunks.
    let big = bytes(3, 5000);
    put(&s, 3, &big);
    s.write(&key(3), req(WriteKind::Plain, 4321, b"tail"))
        .unwrap();
    let mut want = big[..4321].to_vec();
    want.extend_from_slice(b"tail");
    assert_eq!(get(&s, 3).unwrap(), want);
    // PREPARE|COMMIT in one request does not copy: zeros before the offset.
    let i = s
        .write(&key(3), req(WriteKind::PrepareCommit, 2, b"pc"))
        .unwrap();
    assert_eq!(i.size, 4);
    assert_eq!(get(&s, 3).unwrap(), b"\0\0pc");
}

#[test]
fn overwrite_and_remove() {
    let (_dir, s) = temp_store();
    put(&s, 1, &bytes(1, 100));
    put(&s, 1, &bytes(2, 50));
    assert_eq!(get(&s, 1).unwrap(), bytes(2, 50));
    let st = s.stats();
    assert_eq!((st.keys, st.records_total, st.records_removed), (1, 2, 1));
    s.remove(&key(1)).unwrap();
    assert_eq!(get(&s, 1), None);
    assert!(matches!(s.remove(&key(1)), Err(StoreError::NotFound)));
    assert!(matches!(s.lookup(&key(1)), Err(StoreError::NotFound)));
    let st = s.stats();
    assert_eq!((st.keys, st.records_total, st.records_removed), (0, 3, 3));
    assert_eq!(st.removes, 1);
    put(&s, 1, b"again");
    assert_eq!(get(&s, 1).unwrap(), b"again");
}

#[test]
fn prepare_chunks_commit() {
    let (_dir, s) = temp_store();
    put(&s, 1, b"old version");
    let data = bytes(5, 700);
    let p = s
        .write(
            &key(1),
            req(WriteKind::Prepare { reserve: 700 }, 0, &data[..250]),
        )
        .unwrap();
    assert_eq!(p.record_flags, record_flags::PREPARED);
    // The previous version stays visible until the commit.
    assert_eq!(get(&s, 1).unwrap(), b"old version");
    let c = s
        .write(&key(1), req(WriteKind::PlainChunk, 250, &data[250..600]))
        .unwrap();
    assert_eq!(c.record_flags, record_flags::PREPARED);
    assert!(matches!(
        s.write(&key(1), req(WriteKind::PlainChunk, 650, &data[..100])),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.write(
            &key(1),
            req(WriteKind::Commit { size: 701 }, 600, &data[600..])
        ),
        Err(StoreError::InvalidArgument(_))
    ));
    let info = s
        .write(
            &key(1),
            req(WriteKind::Commit { size: 700 }, 600, &data[600..]),
        )
        .unwrap();
    assert_eq!(
        (info.size, info.reserved, info.record_flags),
        (700, 700, record_flags::COMMITTED)
    );
    assert_eq!(info.timestamp, ts(600));
    assert_eq!(get(&s, 1).unwrap(), data);
    assert_eq!(s.lookup(&key(1)).unwrap(), info);
    assert_eq!(s.stats().pending, 0);

    // A never-prepared key: PLAIN_WRITE and COMMIT find nothing.
    for kind in [WriteKind::PlainChunk, WriteKind::Commit { size: 1 }] {
        assert!(matches!(
            s.write(&key(2), req(kind, 0, b"x")),
            Err(StoreError::NotFound)
        ));
    }
    // Prepare of a key without a committed version: invisible until commit.
    prepare(&s, 2, 10, b"");
    assert_eq!(get(&s, 2), None);
    assert!(matches!(
        s.read(&key(2), 0, 0, false),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.write(&key(2), req(WriteKind::Prepare { reserve: 1 }, 0, b"ab")),
        Err(StoreError::InvalidArgument(_))
    ));
    commit(&s, 2, 4, 2, b"cd");
    assert_eq!(get(&s, 2).unwrap(), b"\0\0cd");
}

#[test]
fn writes_into_committed_records_with_room() {
    let (_dir, s) = temp_store();
    prepare(&s, 1, 300, &bytes(1, 300));
    commit(&s, 1, 200, 0, b"");
    assert_eq!(get(&s, 1).unwrap(), bytes(1, 300)[..200]);
    // PLAIN_WRITE into the committed record: in place, size unchanged, metadata updated.
    let i = s
        .write(
            &key(1),
            req(WriteKind::PlainChunk, 190, b"0123456789ABCDEF"),
        )
        .unwrap();
    assert_eq!((i.size, i.reserved, i.timestamp), (200, 300, ts(190)));
    let mut want = bytes(1, 300);
    want[190..206].copy_from_slice(b"0123456789ABCDEF");
    assert_eq!(get(&s, 1).unwrap(), want[..200]);
    // COMMIT without PREPARE resizes within the reservation.
    commit(&s, 1, 250, 0, b"");
    assert_eq!(get(&s, 1).unwrap(), want[..250]);
    commit(&s, 1, 10, 0, b"");
    assert_eq!(get(&s, 1).unwrap(), want[..10]);
    assert!(matches!(
        s.write(&key(1), req(WriteKind::PlainChunk, 290, &[0; 20])),
        Err(StoreError::InvalidArgument(_))
    ));
}

#[test]
fn size_limit_gives_no_space_but_remove_works() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_cfg(StoreConfig {
        size_limit: 20_000,
        ..config(dir.path())
    });
    let mut n = 0;
    let err = loop {
        match s.write(&key(n), req(WriteKind::Plain, 0, &bytes(n, 1000))) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StoreError::NoSpace), "{err}");
    assert_eq!(err.errno(), code::ENOSPC);
    assert!(n > 10);
    assert!(s.stats().base_size <= 20_000);
    assert!(matches!(
        s.write(
            &key(999),
            req(WriteKind::Prepare { reserve: 100_000 }, 0, b"")
        ),
        Err(StoreError::NoSpace)
    ));
    s.remove(&key(0)).unwrap();
    for i in 1..n {
        assert_eq!(get(&s, i).unwrap(), bytes(i, 1000));
    }
}

#[test]
fn read_only_rejects_mutations() {
    let (_dir, s) = temp_store();
    put(&s, 1, b"x");
    s.set_read_only(true).unwrap();
    assert!(s.is_read_only() && s.stats().read_only);
    assert!(matches!(
        s.write(&key(2), req(WriteKind::Plain, 0, b"y")),
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(s.remove(&key(1)), Err(StoreError::ReadOnly)));
    assert_eq!(get(&s, 1).unwrap(), b"x");
    s.set_read_only(false).unwrap();
    put(&s, 2, b"y");
}

#[test]
fn rotation_and_second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_cfg(config_blob_size(dir.path(), 4096));
    for i in 0..40 {
        put(&s, i, &bytes(i, 500));
    }
    let files = blob_files(dir.path());
    assert!(files.len() >= 5, "{files:?}");
    for (p, len) in &files[..files.len() - 1] {
        assert!(*len <= 4096, "{p:?} {len}");
    }
    for i in 0..40 {
        assert_eq!(get(&s, i).unwrap(), bytes(i, 500));
    }
    assert_eq!(s.stats().blobs.len(), files.len());
    assert!(matches!(
        BlobStore::open(config(dir.path())),
        Err(StoreError::Locked(_))
    ));
    // One record bigger than blob_size gets a blob of its own.
    put(&s, 100, &bytes(100, 10_000));
    assert_eq!(get(&s, 100).unwrap(), bytes(100, 10_000));
}

#[test]
fn checksums_catch_damage_chunk_by_chunk() {
    let (_dir, s) = temp_store();
    let data = bytes(7, 10_000);
    let info = put(&s, 1, &data);
    // Damage one byte in chunk 50 (bytes 3200..3264).
    let f = open_to_damage(&info.path);
    f.write_all_at(&[data[3210] ^ 0xFF], info.data_offset + 3210)
        .unwrap();
    for (off, size) in [(0, 0), (3200, 64), (3263, 1), (3000, 300)] {
        match s.read(&key(1), off, size, true) {
            Err(StoreError::Corrupted { path, offset }) => {
                assert_eq!(path, info.path);
                assert_eq!(offset, info.data_offset + 3200);
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }
    // Ranges that do not touch the damaged chunk still verify.
    assert_eq!(s.read(&key(1), 0, 3200, true).unwrap().1, data[..3200]);
    assert_eq!(s.read(&key(1), 3264, 0, true).unwrap().1, data[3264..]);
    // Without verification the damaged bytes are returned.
    assert_eq!(
        s.read(&key(1), 3210, 1, false).unwrap().1,
        [data[3210] ^ 0xFF]
    );
}

#[test]
fn concurrent_writers_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open_cfg(config_blob_size(dir.path(), 64 << 10)));
    for i in 0..100 {
        put(&s, i, &bytes(i, 300));
    }
    let mut handles = Vec::new();
    for t in 0..4u64 {
        let s = Arc::clone(&s);
        handles.push(std::thread::spawn(move || {
            for n in 0..300u64 {
                let k = 1000 + t * 1000 + n % 50;
                let d = bytes(k * 7 + n, (n % 200) as usize);
                put(&s, k, &d);
                assert_eq!(get(&s, k).unwrap(), d);
                assert_eq!(get(&s, n % 100).unwrap(), bytes(n % 100, 300));
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.stats().keys, 100 + 4 * 50);
}

#[test]
fn sync_policies() {
    for sync in [
        SyncPolicy::Always,
        SyncPolicy::Interval(std::time::Duration::from_millis(5)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let s = open_cfg(StoreConfig {
            sync,
            blob_size: 4096,
            ..config(dir.path())
        });
        for i in 0..20 {
            put(&s, i, &bytes(i, 400));
        }
        prepare(&s, 99, 10, b"abc");
        commit(&s, 99, 3, 0, b"");
        s.remove(&key(0)).unwrap();
        s.sync().unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(get(&s, 99).unwrap(), b"abc");
        assert_eq!(get(&s, 0), None);
        assert_eq!(get(&s, 19).unwrap(), bytes(19, 400));
    }
}

#[test]
fn cached_reads_match_blocking_reads_and_respect_the_limit() {
    let (_dir, s) = temp_store();
    let data = bytes(5, 200_000);
    put(&s, 1, &data);
    // Just written: in the page cache, so the non-blocking path serves it (or, on a
    // filesystem without RWF_NOWAIT, says WouldBlock and the caller falls back).
    for (off, size) in [(0, 0), (0, 10), (65_530, 20), (199_990, 0)] {
        for verify in [true, false] {
            let want = s.read(&key(1), off, size, verify).unwrap();
            match s.read_cached(&key(1), off, size, verify, 1 << 20) {
                Ok(got) => assert_eq!(got, want),
                Err(StoreError::WouldBlock) => {}
                Err(e) => panic!("cached read failed: {e}"),
            }
        }
    }
    assert!(matches!(
        s.read_cached(&key(1), 0, 0, true, 100_000),
        Err(StoreError::WouldBlock)
    ));
    assert!(matches!(
        s.read_cached(&key(2), 0, 0, true, 100_000),
        Err(StoreError::NotFound)
    ));
}

/// Appends (plain writes at the object's end) copy the record only when it has no room
/// left, leaving room for as much again: 2,000 appends of 100 bytes write a few times the
/// final size, not the 200 MB that copying on every append would. The object, its size,
/// timestamp and user flags are those of the last append, also after a reopen.
#[test]
fn appends_extend_the_record_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_blob_size(dir.path(), 64 << 20);
    let s = open_cfg(cfg.clone());
    let mut want = Vec::new();
    for i in 0..2000u64 {
        let piece = bytes(i, 100);
        let info = s
            .write(
                &key(1),
                WriteRequest {
                    user_flags: i,
                    ..req(WriteKind::Plain, want.len() as u64, &piece)
                },
            )
            .unwrap();
        want.extend_from_slice(&piece);
        assert_eq!(info.size, want.len() as u64);
        assert!(info.reserved >= info.size);
    }
    assert_eq!(get(&s, 1).unwrap(), want);
    let written = disk_bytes(dir.path());
    assert!(
        written < 8 * want.len() as u64,
        "{written} bytes on disk for a {} byte object",
        want.len()
    );
    let before = s.lookup(&key(1)).unwrap();
    assert_eq!(
        (before.user_flags, before.timestamp),
        (1999, ts(want.len() as u64 - 100))
    );
    drop(s);
    let s = open_cfg(cfg);
    assert_eq!(get(&s, 1).unwrap(), want);
    let after = s.lookup(&key(1)).unwrap();
    assert_eq!(
        (
            after.size,
            after.reserved,
            after.user_flags,
            after.timestamp
        ),
        (
            before.size,
            before.reserved,
            before.user_flags,
            before.timestamp
        )
    );
}

/// Readers verifying checksums while a writer appends in place always get a whole
/// version: a prefix of the final object, never a checksum error.
#[test]
fn readers_racing_in_place_appends_see_whole_versions() {
    let (_dir, s) = temp_store();
    let s = Arc::new(s);
    let pieces: Vec<Vec<u8>> = (0..3000u64)
        .map(|i| bytes(i, 1 + (i % 97) as usize))
        .collect();
    let all: Vec<u8> = pieces.concat();
    put(&s, 1, &pieces[0]);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (s, done, all) = (Arc::clone(&s), Arc::clone(&done), all.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    let (info, got) = s.read(&key(1), 0, 0, true).unwrap();
                    assert_eq!(got.len() as u64, info.size);
                    assert_eq!(got, all[..got.len()], "a read is a prefix of the appends");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let mut at = pieces[0].len() as u64;
    for p in &pieces[1..] {
        s.write(&key(1), req(WriteKind::Plain, at, p)).unwrap();
        at += p.len() as u64;
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(get(&s, 1).unwrap(), all);
}
