//! Shard state (`shard/{id}`): a shard's key range, its immutable segments in key order,
//! its journal generations, and what compaction retired but has not removed yet.
//! Self-checking (CRC) and rewritten only with compare-and-swap, by compaction.
//!
//! ```text
//! magic        8 bytes "BRIXSHD1"
//! shard id     16 bytes
//! range        lower (varint length, bytes), upper: u8 0 (none) | 1 + (varint length, bytes)
//! version      varint, +1 on every rewrite
//! generation   varint, the journal generation writers append to
//! first live   varint, the oldest generation not merged yet (readers read [first live,
//!              generation])
//! switched at  stamp of the last generation switch
//! segments     varint count; each: id (16 bytes), first key, last key (varint length,
//!              bytes), entries, objects, bytes, encoded length (varints)
//! retired      varint count of segments; each: id (16 bytes), retired at (stamp);
//!              varint count of generations; each: generation (varint), retired at (stamp)
//! crc          u32 LE
//! ```

use elliptics::proto::DnetTime;

use super::codec::{IndexFormatError, Reader, put_bytes, put_stamp, put_varint, seal, unseal};
use super::journal::MAX_KEY_BYTES;

const MAGIC: &[u8; 8] = b"BRIXSHD1";
const RECORD: &str = "shard state";

/// Most segments a shard names (a shard splits long before).
const MAX_SEGMENTS: usize = 1 << 16;

/// A shard's id (16 bytes; the first shard of every bucket is all zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ShardId(pub [u8; 16]);

impl ShardId {
    /// The shard every bucket starts with, covering all keys.
    pub const FIRST: ShardId = ShardId([0; 16]);

    /// Lower-case hex, as used in record keys.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A segment's id (16 random bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId(pub [u8; 16]);

impl SegmentId {
    /// A fresh random id.
    pub fn random() -> SegmentId {
        SegmentId(rand::random())
    }

    /// Lower-case hex, as used in record keys.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// What a shard state says about one of its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    /// The segment's id (`seg/{id}`).
    pub id: SegmentId,
    /// Its first key.
    pub first_key: Vec<u8>,
    /// Its last key.
    pub last_key: Vec<u8>,
    /// Entries (puts and deletes).
    pub entries: u64,
    /// Objects (puts).
    pub objects: u64,
    /// Bytes of those objects.
    pub bytes: u64,
    /// Bytes of the segment record.
    pub encoded_len: u64,
}

/// A shard's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardState {
    /// The shard.
    pub id: ShardId,
    /// First key of the range (inclusive).
    pub lower: Vec<u8>,
    /// End of the range (exclusive); `None` = no end.
    pub upper: Option<Vec<u8>>,
    /// Bumped on every rewrite.
    pub version: u64,
    /// The journal generation writers append to.
    pub generation: u64,
    /// The oldest generation not merged into segments yet.
    pub first_live: u64,
    /// When the generation last switched.
    pub switched_at: DnetTime,
    /// Segments sorted by first key; disjoint except in a state merged from diverged
    /// groups ([`ShardState::union`]).
    pub segments: Vec<SegmentRef>,
    /// Segments replaced by a compaction, with when; removed after a grace period.
    pub retired_segments: Vec<(SegmentId, DnetTime)>,
    /// Generations merged by a compaction, with when; their journals are removed after a
    /// grace period.
    pub retired_generations: Vec<(u64, DnetTime)>,
}

impl ShardState {
    /// The state of a shard nothing was compacted into yet: generation 0, no segments.
    /// Deterministic, so every reader and writer agrees on it before it is ever written.
    pub fn initial(id: ShardId, lower: Vec<u8>, upper: Option<Vec<u8>>) -> ShardState {
        ShardState {
            id,
            lower,
            upper,
            version: 0,
            generation: 0,
            first_live: 0,
            switched_at: DnetTime::default(),
            segments: Vec::new(),
            retired_segments: Vec::new(),
            retired_generations: Vec::new(),
        }
    }

    /// Live journal generations, oldest first.
    pub fn live_generations(&self) -> std::ops::RangeInclusive<u64> {
        self.first_live..=self.generation
    }

    /// Objects and bytes in the segments.
    pub fn segment_totals(&self) -> (u64, u64) {
        self.segments
            .iter()
            .fold((0, 0), |(o, b), s| (o + s.objects, b + s.bytes))
    }

    /// What the states of several groups say together (each group's state is rewritten by
    /// compare-and-swap on its own, so they can differ): the newest version, the oldest
    /// live generation and the newest current one, every segment any of them names, every
    /// retired item. Nothing any group knows is lost by reading the union.
    pub fn union<'a>(states: impl IntoIterator<Item = &'a ShardState>) -> Option<ShardState> {
        let mut states = states.into_iter();
        let mut out = states.next()?.clone();
        for s in states {
            out.version = out.version.max(s.version);
            out.generation = out.generation.max(s.generation);
            out.first_live = out.first_live.min(s.first_live);
            out.switched_at = out.switched_at.max(s.switched_at);
            for seg in &s.segments {
                if !out.segments.iter().any(|o| o.id == seg.id) {
                    out.segments.push(seg.clone());
                }
            }
            for (id, at) in &s.retired_segments {
                match out.retired_segments.iter_mut().find(|(o, _)| o == id) {
                    Some((_, t)) => *t = (*t).max(*at),
                    None => out.retired_segments.push((*id, *at)),
                }
            }
            for (g, at) in &s.retired_generations {
                match out.retired_generations.iter_mut().find(|(o, _)| o == g) {
                    Some((_, t)) => *t = (*t).max(*at),
                    None => out.retired_generations.push((*g, *at)),
                }
            }
        }
        out.segments
            .sort_by(|a, b| (&a.first_key, a.id).cmp(&(&b.first_key, b.id)));
        Some(out)
    }

    /// Whether two of the segments overlap (only in a union of diverged groups).
    pub fn segments_overlap(&self) -> bool {
        self.segments
            .windows(2)
            .any(|w| w[0].last_key >= w[1].first_key)
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.segments.len() * 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.id.0);
        put_bytes(&mut out, &self.lower);
        match &self.upper {
            None => out.push(0),
            Some(u) => {
                out.push(1);
                put_bytes(&mut out, u);
            }
        }
        put_varint(&mut out, self.version);
        put_varint(&mut out, self.generation);
        put_varint(&mut out, self.first_live);
        put_stamp(&mut out, self.switched_at);
        put_varint(&mut out, self.segments.len() as u64);
        for s in &self.segments {
            out.extend_from_slice(&s.id.0);
            put_bytes(&mut out, &s.first_key);
            put_bytes(&mut out, &s.last_key);
            for v in [s.entries, s.objects, s.bytes, s.encoded_len] {
                put_varint(&mut out, v);
            }
        }
        put_varint(&mut out, self.retired_segments.len() as u64);
        for (id, at) in &self.retired_segments {
            out.extend_from_slice(&id.0);
            put_stamp(&mut out, *at);
        }
        put_varint(&mut out, self.retired_generations.len() as u64);
        for (g, at) in &self.retired_generations {
            put_varint(&mut out, *g);
            put_stamp(&mut out, *at);
        }
        seal(&mut out);
        out
    }

    /// Checks and decodes a record.
    pub fn decode(bytes: &[u8]) -> Result<ShardState, IndexFormatError> {
        let body = unseal(RECORD, bytes)?;
        let mut r = Reader::new(RECORD, body);
        r.magic(MAGIC)?;
        let id = ShardId(r.array("shard id")?);
        let lower = r.string(MAX_KEY_BYTES, "lower bound")?.to_vec();
        let upper = match r.u8("upper bound")? {
            0 => None,
            1 => Some(r.string(MAX_KEY_BYTES, "upper bound")?.to_vec()),
            b => return Err(r.error(format!("upper bound marker {b}"))),
        };
        let version = r.varint("version")?;
        let generation = r.varint("generation")?;
        let first_live = r.varint("first live generation")?;
        if first_live > generation {
            return Err(r.error("first live generation after the current one"));
        }
        let switched_at = r.stamp("switched at")?;
        let n = r.len(MAX_SEGMENTS, "segments")?;
        let mut segments: Vec<SegmentRef> = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let id = SegmentId(r.array("segment id")?);
            let first_key = r.string(MAX_KEY_BYTES, "first key")?.to_vec();
            let last_key = r.string(MAX_KEY_BYTES, "last key")?.to_vec();
            let entries = r.varint("entries")?;
            let objects = r.varint("objects")?;
            let bytes = r.varint("bytes")?;
            let encoded_len = r.varint("encoded length")?;
            // Sorted by first key. Overlaps are allowed: a state merged from groups that
            // diverged names both groups' segments until the next compaction rewrites them.
            if first_key > last_key || segments.last().is_some_and(|p| p.first_key > first_key) {
                return Err(r.error("segments out of order"));
            }
            segments.push(SegmentRef {
                id,
                first_key,
                last_key,
                entries,
                objects,
                bytes,
                encoded_len,
            });
        }
        let n = r.len(MAX_SEGMENTS, "retired segments")?;
        let mut retired_segments = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            retired_segments.push((SegmentId(r.array("segment id")?), r.stamp("retired at")?));
        }
        let n = r.len(MAX_SEGMENTS, "retired generations")?;
        let mut retired_generations = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            retired_generations.push((r.varint("generation")?, r.stamp("retired at")?));
        }
        r.finish()?;
        Ok(ShardState {
            id,
            lower,
            upper,
            version,
            generation,
            first_live,
            switched_at,
            segments,
            retired_segments,
            retired_generations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stamp() -> impl Strategy<Value = DnetTime> {
        (any::<u64>(), 0u64..1_000_000_000).prop_map(|(tsec, tnsec)| DnetTime { tsec, tnsec })
    }

    fn state_strategy() -> impl Strategy<Value = ShardState> {
        (
            any::<[u8; 16]>(),
            proptest::collection::vec(any::<u8>(), 0..8),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            any::<u64>(),
            0u64..1000,
            0u64..1000,
            stamp(),
            proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 1..6), 0..12),
            proptest::collection::vec((any::<[u8; 16]>(), stamp()), 0..4),
            proptest::collection::vec((any::<u64>(), stamp()), 0..4),
        )
            .prop_map(
                |(id, lower, upper, version, a, b, switched_at, keys, rs, rg)| {
                    let keys: Vec<Vec<u8>> = keys.into_iter().collect();
                    let segments = keys
                        .chunks(2)
                        .filter(|c| c.len() == 2)
                        .enumerate()
                        .map(|(i, c)| SegmentRef {
                            id: SegmentId([i as u8; 16]),
                            first_key: c[0].clone(),
                            last_key: c[1].clone(),
                            entries: i as u64 * 7,
                            objects: i as u64 * 5,
                            bytes: i as u64 * 1000,
                            encoded_len: 99,
                        })
                        .collect();
                    ShardState {
                        id: ShardId(id),
                        lower,
                        upper,
                        version,
                        generation: a.max(b),
                        first_live: a.min(b),
                        switched_at,
                        segments,
                        retired_segments: rs.into_iter().map(|(i, t)| (SegmentId(i), t)).collect(),
                        retired_generations: rg,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn states_round_trip(state in state_strategy()) {
            prop_assert_eq!(ShardState::decode(&state.encode()).unwrap(), state);
        }

        #[test]
        fn any_damage_is_detected(state in state_strategy(), at in any::<proptest::sample::Index>(), flip in 1u8..=255) {
            let mut bytes = state.encode();
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            prop_assert!(ShardState::decode(&bytes).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ShardState::decode(&bytes);
        }
    }

    #[test]
    fn the_initial_state_is_deterministic() {
        let a = ShardState::initial(ShardId::FIRST, Vec::new(), None);
        let b = ShardState::initial(ShardId::FIRST, Vec::new(), None);
        assert_eq!(a.encode(), b.encode());
        assert_eq!(a.live_generations(), 0..=0);
    }
}
