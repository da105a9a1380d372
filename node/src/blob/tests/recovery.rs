//! Reopen, torn tails, damaged records, prepared records across restarts, and a real
//! `kill -9` of a writer process.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};

use super::*;
use crate::blob::{StoreError, format};

/// Per key: the object and its info, if readable.
type Snapshot = Vec<(u64, Option<(RecordInfo, Vec<u8>)>)>;

/// Everything visible through the public API, for comparisons across reopen.
fn snapshot(s: &BlobStore, keys: impl Iterator<Item = u64>) -> Snapshot {
    keys.map(|k| (k, s.read(&key(k), 0, 0, true).ok()))
        .collect()
}

#[test]
fn reopen_rebuilds_the_same_index_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_blob_size(dir.path(), 8192);
    let s = open_cfg(cfg.clone());
    for i in 0..60u64 {
        match i % 6 {
            0 | 1 => {
                put(&s, i % 25, &bytes(i, (i * 37 % 900) as usize));
            }
            2 => {
                let _ = s.remove(&key(i % 25));
            }
            3 => {
                prepare(&s, i % 25, 500, &bytes(i, 100));
                commit(&s, i % 25, 300, 100, &bytes(i + 1, 200));
            }
            4 => {
                let _ = s.write(&key(i % 25), req(WriteKind::PlainChunk, 5, b"in place"));
            }
            _ => {
                prepare(&s, 100 + i, 50, b"pending");
            }
        }
    }
    let before = snapshot(&s, (0..25).chain(100..160));
    let stats = s.stats();
    drop(s);
    let s = open_cfg(cfg);
    assert_eq!(snapshot(&s, (0..25).chain(100..160)), before);
    let after = s.stats();
    assert_eq!((after.keys, after.pending), (stats.keys, stats.pending));
    for (name, b) in &stats.blobs {
        let a = after.blobs[name];
        assert_eq!(
            (
                a.records_total,
                a.records_removed,
                a.records_removed_size,
                a.base_size
            ),
            (
                b.records_total,
                b.records_removed,
                b.records_removed_size,
                b.base_size
            ),
            "{name}"
        );
    }
}

#[test]
fn torn_tail_is_truncated_at_every_cut() {
    let (dir, s) = temp_store();
    for i in 0..5 {
        put(&s, i, &bytes(i, 200));
    }
    put(&s, 1, &bytes(50, 300));
    drop(s);
    let (path, full) = blob_files(dir.path()).pop().unwrap();
    let pristine = std::fs::read(&path).unwrap();
    let last_len = format::record_len(format::RecordKind::Data, 300, CHUNK);
    let last_start = full - last_len;
    for cut in (last_start..full)
        .step_by(7)
        .chain([last_start + 1, full - 1])
    {
        std::fs::write(&path, &pristine[..cut as usize]).unwrap();
        let s = open(dir.path());
        // The torn overwrite is gone; the earlier version of key 1 is back.
        assert_eq!(get(&s, 1).unwrap(), bytes(1, 200), "cut {cut}");
        for i in [0, 2, 3, 4] {
            assert_eq!(get(&s, i).unwrap(), bytes(i, 200));
        }
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            last_start,
            "cut {cut}"
        );
        // Appends continue cleanly after the truncation.
        put(&s, 9, b"after");
        drop(s);
        let s = open(dir.path());
        assert_eq!(get(&s, 9).unwrap(), b"after");
        drop(s);
    }
}

#[test]
fn a_tail_record_whose_data_did_not_land_is_dropped() {
    let (dir, s) = temp_store();
    put(&s, 1, &bytes(1, 100));
    let info = put(&s, 1, &bytes(2, 100_000));
    drop(s);
    // Simulate a crash after the header and data but before the checksum table was written.
    let f = open_to_damage(&info.path);
    let table_at = info.data_offset - format::table_len(100_000, CHUNK);
    f.write_all_at(
        &vec![0u8; format::table_len(100_000, CHUNK) as usize],
        table_at,
    )
    .unwrap();
    let s = open(dir.path());
    assert_eq!(get(&s, 1).unwrap(), bytes(1, 100));
}

#[test]
fn damaged_records_in_the_middle_are_skipped() {
    let (dir, s) = temp_store();
    let infos: Vec<RecordInfo> = (0..10).map(|i| put(&s, i, &bytes(i, 150))).collect();
    drop(s);
    let f = open_to_damage(&infos[3].path);
    // Key 3: flip a byte of its header (key id area). Key 6: flip a data byte.
    let header_3 = infos[3].data_offset - format::table_len(150, CHUNK) - format::HEADER_LEN;
    f.write_all_at(&[0xEE], header_3 + 20).unwrap();
    f.write_all_at(&[0xEE], infos[6].data_offset + 10).unwrap();
    let s = open(dir.path());
    for i in 0..10 {
        let want = (i != 3 && i != 6).then(|| bytes(i, 150));
        assert_eq!(get(&s, i), want, "key {i}");
    }
    assert_eq!(s.stats().records_corrupted, 2);
}

#[test]
fn damage_in_sealed_blobs_is_caught_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_blob_size(dir.path(), 4096);
    let s = open_cfg(cfg.clone());
    let infos: Vec<RecordInfo> = (0..30).map(|i| put(&s, i, &bytes(i, 300))).collect();
    drop(s);
    let f = open_to_damage(&infos[0].path);
    f.write_all_at(&[0xEE], infos[0].data_offset + 5).unwrap();
    let s = open_cfg(cfg);
    assert!(matches!(
        s.read(&key(0), 0, 0, true),
        Err(StoreError::Corrupted { .. })
    ));
    for i in 1..30 {
        assert_eq!(get(&s, i).unwrap(), bytes(i, 300));
    }
}

#[test]
fn uncommitted_records_stay_invisible_and_can_still_commit_after_reopen() {
    let (dir, s) = temp_store();
    put(&s, 1, b"committed");
    let data = bytes(3, 400);
    prepare(&s, 1, 400, &data[..100]);
    prepare(&s, 2, 400, &data[..100]);
    drop(s);
    let s = open(dir.path());
    assert_eq!(get(&s, 1).unwrap(), b"committed");
    assert_eq!(get(&s, 2), None);
    assert_eq!(s.stats().pending, 2);
    commit(&s, 1, 400, 100, &data[100..]);
    assert_eq!(get(&s, 1).unwrap(), data);
    drop(s);
    let s = open(dir.path());
    assert_eq!(get(&s, 1).unwrap(), data);
    assert_eq!(get(&s, 2), None);
    assert_eq!(s.stats().pending, 1);
}

#[test]
fn interrupted_defrag_manifest_is_finished_at_open() {
    let (dir, s) = temp_store();
    put(&s, 1, b"x");
    drop(s);
    std::fs::write(dir.path().join(format::MANIFEST_TMP), "half written").unwrap();
    std::fs::write(
        dir.path().join(format::MANIFEST_FILE),
        format::encode_manifest(&[77]),
    )
    .unwrap();
    std::fs::write(dir.path().join(format::blob_file_name(77)), b"doomed").unwrap();
    let s = open(dir.path());
    assert_eq!(get(&s, 1).unwrap(), b"x");
    for name in [
        format::MANIFEST_FILE.to_string(),
        format::MANIFEST_TMP.to_string(),
        format::blob_file_name(77),
    ] {
        assert!(!dir.path().join(name).exists());
    }
}

/// What op `i` of the crash child does to its key.
#[derive(Debug, Clone)]
enum CrashOp {
    /// A plain write of the whole object (prepare/chunk/commit for every third op).
    Put(Vec<u8>),
    /// A plain write at the object's end (extends the record in place when it has room).
    Append(Vec<u8>),
    /// A remove.
    Remove,
}

impl CrashOp {
    /// The object after this op, given the object before it.
    fn after(&self, before: Option<&Vec<u8>>) -> Option<Vec<u8>> {
        match self {
            CrashOp::Put(d) => Some(d.clone()),
            CrashOp::Append(d) => Some([before.map_or(&[][..], |b| &b[..]), d].concat()),
            CrashOp::Remove => None,
        }
    }
}

/// Op `i` of the crash child: its key and what it does.
fn crash_op(i: u64) -> (u64, CrashOp) {
    let k = i * 7919 % 97;
    if i % 11 == 10 {
        (k, CrashOp::Remove)
    } else if i % 4 == 1 {
        (k, CrashOp::Append(bytes(i, (i * 37 % 500) as usize + 1)))
    } else {
        (k, CrashOp::Put(bytes(i, (i * 131 % 3000) as usize)))
    }
}

/// Not a test on its own: the writer process `kill_9_keeps_every_acknowledged_write` kills.
#[test]
#[ignore = "child process of kill_9_keeps_every_acknowledged_write"]
fn crash_child() {
    let Ok(dir) = std::env::var("BLOB_CRASH_DIR") else {
        return;
    };
    let start: u64 = std::env::var("BLOB_CRASH_START").unwrap().parse().unwrap();
    let s = open_cfg(config_blob_size(Path::new(&dir), 32 << 10));
    for i in start.. {
        let (k, op) = crash_op(i);
        match op {
            CrashOp::Put(d) if i % 3 == 0 && d.len() > 10 => {
                let n = d.len() as u64;
                prepare(&s, k, n, &d[..5]);
                s.write(&key(k), req(WriteKind::PlainChunk, 5, &d[5..10]))
                    .unwrap();
                commit(&s, k, n, 10, &d[10..]);
            }
            CrashOp::Put(d) => {
                put(&s, k, &d);
            }
            CrashOp::Append(d) => {
                let end = s.lookup(&key(k)).map_or(0, |i| i.size);
                s.write(&key(k), req(WriteKind::Plain, end, &d)).unwrap();
            }
            CrashOp::Remove => match s.remove(&key(k)) {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => panic!("{e}"),
            },
        }
        println!("ack {i}");
        if i % 400 == 399 {
            s.defrag().unwrap();
        }
    }
}

#[test]
fn kill_9_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut model: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut next = 0u64;
    for (round, acks) in [150u64, 700, 1300, 333].into_iter().enumerate() {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "blob::tests::recovery::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BLOB_CRASH_DIR", dir.path())
            .env("BLOB_CRASH_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut last = None;
        let mut killed = false;
        // Keep reading after the kill: acknowledgements still in the pipe count too.
        for line in out.lines() {
            let Some(i) = line
                .unwrap()
                .strip_prefix("ack ")
                .map(|n| n.parse::<u64>().unwrap())
            else {
                continue;
            };
            last = Some(i);
            if !killed && i + 1 >= next + acks {
                child.kill().unwrap();
                killed = true;
            }
        }
        child.wait().unwrap();
        assert!(killed, "child exited on its own");
        let last = last.expect("child acknowledged nothing");
        for i in next..=last {
            let (k, op) = crash_op(i);
            match op.after(model.get(&k)) {
                Some(d) => model.insert(k, d),
                None => model.remove(&k),
            };
        }
        next = last + 1;
        // The op in flight when the process died may or may not have landed.
        let (in_flight, op) = crash_op(next);
        let in_flight_op = op.after(model.get(&in_flight));
        let s = open_cfg(config_blob_size(dir.path(), 32 << 10));
        for k in 0..97 {
            let got = get(&s, k);
            if k == in_flight && got.as_ref() == in_flight_op.as_ref() {
                continue;
            }
            assert_eq!(
                got.as_ref(),
                model.get(&k),
                "round {round} key {k} (last ack {last})"
            );
        }
        if get(&s, in_flight).as_ref() == in_flight_op.as_ref() {
            match in_flight_op {
                Some(d) => model.insert(in_flight, d),
                None => model.remove(&in_flight),
            };
        }
        next += 1;
    }
}
