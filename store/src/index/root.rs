//! The root (`root`): the bucket's shard map — sorted lower bounds of key ranges, each
//! naming its shard. Changes only when a shard splits; self-checking (CRC) and rewritten
//! with compare-and-swap. A bucket whose root was never written has one shard,
//! [`ShardId::FIRST`], covering every key ([`Root::initial`]).
//!
//! ```text
//! magic    8 bytes "BRIXROT1"
//! version  varint
//! shards   varint count; each: lower bound (varint length, bytes), shard id (16 bytes)
//! crc      u32 LE
//! ```
//!
//! This slice never splits, so the root stays the initial one; the format and the lookups
//! ([`Root::shard_for`]) are in place so splits need no format change.

use super::codec::{IndexFormatError, Reader, put_bytes, put_varint, seal, unseal};
use super::journal::MAX_KEY_BYTES;
use super::shard_state::ShardId;

const MAGIC: &[u8; 8] = b"BRIXROT1";
const RECORD: &str = "root";
const MAX_SHARDS: usize = 1 << 20;

/// One range of the shard map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    /// First key of the range (inclusive); the range ends where the next one starts.
    pub lower: Vec<u8>,
    /// The shard holding it.
    pub shard: ShardId,
}

/// The shard map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Bumped on every rewrite.
    pub version: u64,
    /// Ranges sorted by lower bound; the first starts at the empty key.
    pub shards: Vec<ShardRange>,
}

impl Root {
    /// The root of a bucket never split: one shard covering every key.
    pub fn initial() -> Root {
        Root {
            version: 0,
            shards: vec![ShardRange {
                lower: Vec::new(),
                shard: ShardId::FIRST,
            }],
        }
    }

    /// The index of the range holding `key`.
    pub fn shard_for(&self, key: &[u8]) -> usize {
        self.shards
            .partition_point(|r| r.lower.as_slice() <= key)
            .saturating_sub(1)
    }

    /// The (exclusive) end of range `i`; `None` for the last.
    pub fn upper(&self, i: usize) -> Option<&[u8]> {
        self.shards.get(i + 1).map(|r| r.lower.as_slice())
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.shards.len() * 32);
        out.extend_from_slice(MAGIC);
        put_varint(&mut out, self.version);
        put_varint(&mut out, self.shards.len() as u64);
        for r in &self.shards {
            put_bytes(&mut out, &r.lower);
            out.extend_from_slice(&r.shard.0);
        }
        seal(&mut out);
        out
    }

    /// Checks and decodes a record.
    pub fn decode(bytes: &[u8]) -> Result<Root, IndexFormatError> {
        let body = unseal(RECORD, bytes)?;
        let mut r = Reader::new(RECORD, body);
        r.magic(MAGIC)?;
        let version = r.varint("version")?;
        let n = r.len(MAX_SHARDS, "shards")?;
        let mut shards: Vec<ShardRange> = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let lower = r.string(MAX_KEY_BYTES, "lower bound")?.to_vec();
            let shard = ShardId(r.array("shard id")?);
            match shards.last() {
                None if !lower.is_empty() => {
                    return Err(r.error("the first range does not start at the empty key"));
                }
                Some(p) if p.lower >= lower => return Err(r.error("ranges out of order")),
                _ => {}
            }
            shards.push(ShardRange { lower, shard });
        }
        if shards.is_empty() {
            return Err(r.error("no shards"));
        }
        r.finish()?;
        Ok(Root { version, shards })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn root_strategy() -> impl Strategy<Value = Root> {
        (
            any::<u64>(),
            proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 1..8), 0..10),
        )
            .prop_map(|(version, bounds)| {
                let mut shards = vec![ShardRange {
                    lower: Vec::new(),
                    shard: ShardId::FIRST,
                }];
                for (i, lower) in bounds.into_iter().enumerate() {
                    shards.push(ShardRange {
                        lower,
                        shard: ShardId([i as u8 + 1; 16]),
                    });
                }
                Root { version, shards }
            })
    }

    proptest! {
        #[test]
        fn roots_round_trip(root in root_strategy(), key in proptest::collection::vec(any::<u8>(), 0..8)) {
            let back = Root::decode(&root.encode()).unwrap();
            prop_assert_eq!(&back, &root);
            let i = root.shard_for(&key);
            prop_assert!(root.shards[i].lower <= key);
            prop_assert!(root.upper(i).is_none_or(|u| key.as_slice() < u));
        }

        #[test]
        fn any_damage_is_detected(root in root_strategy(), at in any::<proptest::sample::Index>(), flip in 1u8..=255) {
            let mut bytes = root.encode();
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            prop_assert!(Root::decode(&bytes).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = Root::decode(&bytes);
        }
    }
}
