//! Property test: random operation sequences against the store and a `HashMap` model,
//! compared after every step, after reopens and after defragmentation.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::blob::StoreError;
use crate::blob::write::append_reserve;

#[derive(Debug, Clone)]
enum Op {
    /// A plain write at the key's current end (an APPEND as the node runs it).
    Append {
        k: u8,
        len: u16,
    },
    Plain {
        k: u8,
        off: u16,
        len: u16,
    },
    PrepareCommit {
        k: u8,
        off: u16,
        len: u16,
    },
    Prepare {
        k: u8,
        reserve: u16,
        off: u16,
        len: u16,
    },
    Chunk {
        k: u8,
        off: u16,
        len: u16,
    },
    Commit {
        k: u8,
        size: u16,
        off: u16,
        len: u16,
    },
    Remove {
        k: u8,
    },
    Read {
        k: u8,
        off: u16,
        size: u16,
    },
    Reopen,
    Defrag,
}

fn op() -> impl Strategy<Value = Op> {
    let k = || 0u8..4;
    prop_oneof![
        4 => (k(), 0u16..150, 0u16..300).prop_map(|(k, off, len)| Op::Plain { k, off, len }),
        4 => (k(), 1u16..120).prop_map(|(k, len)| Op::Append { k, len }),
        1 => (k(), 0u16..100, 0u16..200).prop_map(|(k, off, len)| Op::PrepareCommit { k, off, len }),
        3 => (k(), 0u16..400, 0u16..200, 0u16..200)
            .prop_map(|(k, reserve, off, len)| Op::Prepare { k, reserve, off, len }),
        3 => (k(), 0u16..300, 0u16..150).prop_map(|(k, off, len)| Op::Chunk { k, off, len }),
        3 => (k(), 0u16..400, 0u16..300, 0u16..100)
            .prop_map(|(k, size, off, len)| Op::Commit { k, size, off, len }),
        2 => k().prop_map(|k| Op::Remove { k }),
        2 => (k(), 0u16..300, 0u16..200).prop_map(|(k, off, size)| Op::Read { k, off, size }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Defrag),
    ]
}

/// A record in the model: its whole reserved area, visible size and metadata.
#[derive(Debug, Clone)]
struct Obj {
    area: Vec<u8>,
    size: usize,
    ts: Timestamp,
    uf: u64,
}

#[derive(Debug, Default)]
struct Model {
    committed: HashMap<u8, Obj>,
    pending: HashMap<u8, Obj>,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    NotFound,
    Invalid,
    TooBig,
    Data(Vec<u8>),
}

fn outcome<T>(r: Result<T, StoreError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(StoreError::NotFound) => Outcome::NotFound,
        Err(StoreError::InvalidArgument(_)) => Outcome::Invalid,
        Err(StoreError::TooBig) => Outcome::TooBig,
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn write_at(area: &mut [u8], off: usize, data: &[u8]) {
    area[off..off + data.len()].copy_from_slice(data);
}

impl Model {
    /// Applies `op`; `reserved` is the reservation the store reports afterwards (the store
    /// chooses it for a write at an object's end: the same record extended in place when
    /// the data fits, else a copy with [`append_reserve`] bytes).
    fn apply(
        &mut self,
        op: &Op,
        data: &[u8],
        ts: Timestamp,
        uf: u64,
        reserved: Option<u64>,
    ) -> Outcome {
        match *op {
            Op::Append { .. } => unreachable!("appends run as plain writes"),
            Op::Plain { k, off, .. } | Op::PrepareCommit { k, off, .. } => {
                let off = off as usize;
                let end = off + data.len();
                let mut area = vec![0u8; end];
                let extends = matches!(op, Op::Plain { .. })
                    && off > 0
                    && self.committed.get(&k).is_some_and(|o| o.size == off);
                if extends && !data.is_empty() {
                    let o = &self.committed[&k];
                    let reserved = reserved.expect("the store holds the key") as usize;
                    if reserved == o.area.len() && end <= reserved {
                        area = o.area.clone();
                    } else {
                        assert_eq!(
                            reserved as u64,
                            append_reserve(end as u64),
                            "an append either extends in place or copies with room"
                        );
                        area[..off].copy_from_slice(&o.area[..off]);
                        area.resize(reserved, 0);
                    }
                } else if let (Op::Plain { .. }, Some(o)) = (op, self.committed.get(&k)) {
                    let n = off.min(o.size);
                    area[..n].copy_from_slice(&o.area[..n]);
                }
                write_at(&mut area, off, data);
                let size = end;
                self.committed.insert(k, Obj { area, size, ts, uf });
                self.pending.remove(&k);
                Outcome::Ok
            }
            Op::Prepare {
                k, reserve, off, ..
            } => {
                let (reserve, off) = (reserve as usize, off as usize);
                if off + data.len() > reserve {
                    return Outcome::Invalid;
                }
                let mut area = vec![0u8; reserve];
                write_at(&mut area, off, data);
                self.pending.insert(
                    k,
                    Obj {
                        area,
                        size: reserve,
                        ts,
                        uf,
                    },
                );
                Outcome::Ok
            }
            Op::Chunk { k, off, .. } | Op::Commit { k, off, .. } => {
                let commit = match *op {
                    Op::Commit { size, .. } => Some(size as usize),
                    _ => None,
                };
                let off = off as usize;
                let pending = self.pending.contains_key(&k);
                let Some(o) = self.pending.get_mut(&k).or(self.committed.get_mut(&k)) else {
                    return Outcome::NotFound;
                };
                if off + data.len() > o.area.len() || commit.is_some_and(|s| s > o.area.len()) {
                    return Outcome::Invalid;
                }
                write_at(&mut o.area, off, data);
                if !pending {
                    (o.ts, o.uf) = (ts, uf);
                }
                if let Some(size) = commit {
                    o.size = size;
                    (o.ts, o.uf) = (ts, uf);
                    if pending {
                        if let Some(p) = self.pending.remove(&k) {
                            self.committed.insert(k, p);
                        }
                    }
                }
                Outcome::Ok
            }
            Op::Remove { k } => {
                if self.committed.remove(&k).is_none() {
                    return Outcome::NotFound;
                }
                self.pending.remove(&k);
                Outcome::Ok
            }
            Op::Read { k, off, size } => {
                let Some(o) = self.committed.get(&k) else {
                    return Outcome::NotFound;
                };
                let (off, size) = (off as usize, size as usize);
                if off != 0 && off >= o.size {
                    return Outcome::TooBig;
                }
                let end = if size == 0 {
                    o.size
                } else {
                    (off + size).min(o.size)
                };
                Outcome::Data(o.area[off..end].to_vec())
            }
            Op::Defrag => {
                for o in self.committed.values_mut() {
                    o.area.truncate(o.size);
                }
                Outcome::Ok
            }
            Op::Reopen => Outcome::Ok,
        }
    }
}

fn run(s: &BlobStore, op: &Op, data: &[u8], ts: Timestamp, uf: u64) -> Outcome {
    let w = |k: u8, kind: WriteKind, off: u16| {
        outcome(s.write(
            &key(k.into()),
            WriteRequest {
                data,
                offset: off.into(),
                kind,
                timestamp: ts,
                user_flags: uf,
            },
        ))
    };
    match *op {
        Op::Append { .. } => unreachable!("appends run as plain writes"),
        Op::Plain { k, off, .. } => w(k, WriteKind::Plain, off),
        Op::PrepareCommit { k, off, .. } => w(k, WriteKind::PrepareCommit, off),
        Op::Prepare {
            k, reserve, off, ..
        } => w(
            k,
            WriteKind::Prepare {
                reserve: reserve.into(),
            },
            off,
        ),
        Op::Chunk { k, off, .. } => w(k, WriteKind::PlainChunk, off),
        Op::Commit { k, size, off, .. } => w(k, WriteKind::Commit { size: size.into() }, off),
        Op::Remove { k } => outcome(s.remove(&key(k.into()))),
        Op::Read { k, off, size } => match s.read(&key(k.into()), off.into(), size.into(), true) {
            Ok((_, d)) => Outcome::Data(d),
            Err(e) => outcome::<()>(Err(e)),
        },
        Op::Defrag => outcome(s.defrag()),
        Op::Reopen => Outcome::Ok,
    }
}

fn compare(s: &BlobStore, m: &Model, when: &str) {
    for k in 0..4u8 {
        let got = s.read(&key(k.into()), 0, 0, true);
        match (m.committed.get(&k), got) {
            (None, Err(StoreError::NotFound)) => {}
            (Some(o), Ok((info, d))) => {
                assert_eq!(d, o.area[..o.size], "{when}: data of key {k}");
                assert_eq!(
                    (info.size, info.reserved, info.timestamp, info.user_flags),
                    (o.size as u64, o.area.len() as u64, o.ts, o.uf),
                    "{when}: info of key {k}"
                );
            }
            (want, got) => panic!("{when}: key {k}: model {want:?}, store {got:?}"),
        }
    }
    let st = s.stats();
    assert_eq!(
        (st.keys, st.pending),
        (m.committed.len() as u64, m.pending.len() as u64),
        "{when}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_blob_size(dir.path(), 2048);
        let mut s = open_cfg(cfg.clone());
        let mut m = Model::default();
        for (step, op) in ops.iter().enumerate() {
            // An append is a plain write at the key's current end.
            let op = &match *op {
                Op::Append { k, len } => Op::Plain {
                    k,
                    off: m.committed.get(&k).map_or(0, |o| o.size) as u16,
                    len,
                },
                ref other => other.clone(),
            };
            let len = match *op {
                Op::Plain { len, .. } | Op::PrepareCommit { len, .. } | Op::Prepare { len, .. }
                | Op::Chunk { len, .. } | Op::Commit { len, .. } => len as usize,
                _ => 0,
            };
            let data = bytes(step as u64 + 1, len);
            let (ts, uf) = (ts(step as u64), step as u64);
            if let Op::Reopen = op {
                drop(s);
                s = open_cfg(cfg.clone());
            }
            let got = run(&s, op, &data, ts, uf);
            let reserved = match *op {
                Op::Plain { k, .. } => s.lookup(&key(k.into())).ok().map(|i| i.reserved),
                _ => None,
            };
            let want = m.apply(op, &data, ts, uf, reserved);
            prop_assert_eq!(got, want, "step {} {:?}", step, op);
            compare(&s, &m, &format!("after step {step} {op:?}"));
        }
        drop(s);
        let s = open_cfg(cfg);
        compare(&s, &m, "after the final reopen");
    }
}
