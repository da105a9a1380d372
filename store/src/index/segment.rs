//! Segments: immutable sorted runs of index entries (`seg/{id}`), written once by a
//! compaction and never rewritten, so safe to cache forever.
//!
//! ```text
//! magic        8 bytes  "BRIXSEG1"
//! entries      varint
//! blocks       varint
//! block*       entries prefix-compressed against the previous entry of the same block:
//!              shared (varint), suffix (varint length, bytes), kind u8 (1 put, 2 delete),
//!              stamp (varint seconds, varint nanoseconds), and for a put: size (varint),
//!              etag (varint length, UTF-8 bytes)
//! block index  per block: first key (varint length, bytes), offset from the first block
//!              (varint), entries (varint)
//! index at     u32 LE   offset of the block index from the first block
//! crc          u32 LE   CRC-32 of everything before it
//! ```
//!
//! A reader holds the segment's bytes and its block index, binary-searches the index for
//! the block that may hold a key and decodes only from there ([`SegmentCursor::seek`]): a
//! listing that folds a sub-tree under a common prefix seeks past it instead of decoding
//! its keys.

use std::sync::Arc;

use elliptics::proto::DnetTime;

use super::codec::{IndexFormatError, Reader, put_bytes, put_stamp, put_varint, seal, unseal};
use super::journal::{MAX_ETAG_BYTES, MAX_KEY_BYTES};

const MAGIC: &[u8; 8] = b"BRIXSEG1";
const RECORD: &str = "segment";

/// Entries per block (at most).
const BLOCK_ENTRIES: usize = 32;
/// Encoded bytes per block before a new one starts.
const BLOCK_BYTES: usize = 4096;

/// What the index knows about a key at a stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// The object exists (size and etag are its).
    Put,
    /// The object was deleted (kept so an older put arriving late stays hidden).
    Delete,
}

/// One key's entry in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEntry {
    /// The object's key.
    pub key: Vec<u8>,
    /// Put or delete.
    pub kind: EntryKind,
    /// The stamp of the write this entry records.
    pub stamp: DnetTime,
    /// Object size (puts).
    pub size: u64,
    /// Object etag (puts, when known).
    pub etag: Option<String>,
}

/// Encodes `entries` (sorted by key, each key once) as a segment.
pub fn encode_segment(entries: &[SegmentEntry]) -> Result<Vec<u8>, IndexFormatError> {
    let error = |reason: String| IndexFormatError {
        record: RECORD,
        reason,
    };
    let mut blocks: Vec<u8> = Vec::new();
    let mut index: Vec<u8> = Vec::new();
    let mut block_count = 0u64;
    let mut block_start = 0usize;
    let mut in_block = 0usize;
    let mut previous: &[u8] = &[];
    for (i, e) in entries.iter().enumerate() {
        if i > 0 && e.key.as_slice() <= previous {
            return Err(error("entries not sorted by key, or a key twice".into()));
        }
        if e.key.len() > MAX_KEY_BYTES {
            return Err(error(format!("key of {} bytes", e.key.len())));
        }
        let etag = e.etag.as_deref().unwrap_or("");
        if etag.len() > MAX_ETAG_BYTES {
            return Err(error(format!("etag of {} bytes", etag.len())));
        }
        if in_block == 0 || in_block == BLOCK_ENTRIES || blocks.len() - block_start >= BLOCK_BYTES {
            if in_block > 0 {
                put_varint(&mut index, in_block as u64);
            }
            block_start = blocks.len();
            block_count += 1;
            in_block = 0;
            put_bytes(&mut index, &e.key);
            put_varint(&mut index, block_start as u64);
            previous = &[];
        }
        let shared = previous
            .iter()
            .zip(&e.key)
            .take_while(|(a, b)| a == b)
            .count();
        put_varint(&mut blocks, shared as u64);
        put_bytes(&mut blocks, &e.key[shared..]);
        match e.kind {
            EntryKind::Put => {
                blocks.push(1);
                put_stamp(&mut blocks, e.stamp);
                put_varint(&mut blocks, e.size);
                put_bytes(&mut blocks, etag.as_bytes());
            }
            EntryKind::Delete => {
                blocks.push(2);
                put_stamp(&mut blocks, e.stamp);
            }
        }
        in_block += 1;
        previous = &e.key;
    }
    if in_block > 0 {
        put_varint(&mut index, in_block as u64);
    }
    let mut out = Vec::with_capacity(blocks.len() + index.len() + 32);
    out.extend_from_slice(MAGIC);
    put_varint(&mut out, entries.len() as u64);
    put_varint(&mut out, block_count);
    let first_block = out.len();
    out.extend_from_slice(&blocks);
    let index_at =
        u32::try_from(out.len() - first_block).map_err(|_| error("segment over 4 GiB".into()))?;
    out.extend_from_slice(&index);
    out.extend_from_slice(&index_at.to_le_bytes());
    seal(&mut out);
    Ok(out)
}

/// One block of a decoded segment's index.
#[derive(Debug, Clone)]
struct BlockMeta {
    first_key: Vec<u8>,
    start: usize,
    end: usize,
    entries: usize,
}

/// A segment ready to be read: its blocks' bytes and block index (entries are decoded a
/// block at a time, on demand).
#[derive(Debug)]
pub struct Segment {
    blocks_bytes: Vec<u8>,
    blocks: Vec<BlockMeta>,
    entries: usize,
}

impl Segment {
    /// Checks and decodes a segment's bytes (its CRC, header and block index).
    pub fn decode(bytes: &[u8]) -> Result<Segment, IndexFormatError> {
        let body = unseal(RECORD, bytes)?;
        let mut r = Reader::new(RECORD, body);
        r.magic(MAGIC)?;
        let entries = r.len(usize::MAX, "entry count")?;
        let block_count = r.len(body.len(), "block count")?;
        let rest = r.bytes(r.remaining(), "blocks")?;
        let Some(split) = rest.len().checked_sub(4) else {
            return Err(r_error("truncated at the index offset"));
        };
        let mut at = [0u8; 4];
        at.copy_from_slice(&rest[split..]);
        let index_at = u32::from_le_bytes(at) as usize;
        if index_at > split {
            return Err(r_error("block index offset past the end"));
        }
        let blocks_bytes = rest[..index_at].to_vec();
        let mut ir = Reader::new(RECORD, &rest[index_at..split]);
        let mut blocks: Vec<BlockMeta> = Vec::with_capacity(block_count);
        let mut total = 0usize;
        for _ in 0..block_count {
            let first_key = ir.string(MAX_KEY_BYTES, "block first key")?.to_vec();
            let start = ir.len(index_at, "block offset")?;
            let count = ir.len(BLOCK_ENTRIES, "block entries")?;
            if let Some(prev) = blocks.last_mut() {
                if start <= prev.start || first_key <= prev.first_key {
                    return Err(r_error("block index out of order"));
                }
                prev.end = start;
            } else if start != 0 {
                return Err(r_error("first block does not start the blocks"));
            }
            total += count;
            blocks.push(BlockMeta {
                first_key,
                start,
                end: index_at,
                entries: count,
            });
        }
        ir.finish()?;
        if total != entries {
            return Err(r_error("block entry counts do not add up"));
        }
        Ok(Segment {
            blocks_bytes,
            blocks,
            entries,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the segment has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Decodes block `i`.
    fn block(&self, i: usize) -> Result<Vec<SegmentEntry>, IndexFormatError> {
        let Some(meta) = self.blocks.get(i) else {
            return Ok(Vec::new());
        };
        let mut r = Reader::new(RECORD, &self.blocks_bytes[meta.start..meta.end]);
        let mut out: Vec<SegmentEntry> = Vec::with_capacity(meta.entries);
        for n in 0..meta.entries {
            let shared = r.len(MAX_KEY_BYTES, "shared prefix")?;
            let suffix = r.string(MAX_KEY_BYTES, "key suffix")?;
            let mut key = match out.last() {
                Some(prev) if shared <= prev.key.len() => prev.key[..shared].to_vec(),
                None if shared == 0 => Vec::new(),
                _ => return Err(r.error("shared prefix longer than the previous key")),
            };
            key.extend_from_slice(suffix);
            if n == 0 && key != meta.first_key {
                return Err(r.error("block starts with another key than its index says"));
            }
            let kind = match r.u8("kind")? {
                1 => EntryKind::Put,
                2 => EntryKind::Delete,
                k => return Err(r.error(format!("entry kind {k}"))),
            };
            let stamp = r.stamp("stamp")?;
            let (size, etag) = match kind {
                EntryKind::Put => {
                    let size = r.varint("size")?;
                    let etag = r.string(MAX_ETAG_BYTES, "etag")?;
                    let etag =
                        std::str::from_utf8(etag).map_err(|_| r.error("etag is not UTF-8"))?;
                    (size, (!etag.is_empty()).then(|| etag.to_owned()))
                }
                EntryKind::Delete => (0, None),
            };
            out.push(SegmentEntry {
                key,
                kind,
                stamp,
                size,
                etag,
            });
        }
        r.finish()?;
        Ok(out)
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> Result<Vec<SegmentEntry>, IndexFormatError> {
        let mut out = Vec::with_capacity(self.entries);
        for i in 0..self.blocks.len() {
            out.extend(self.block(i)?);
        }
        Ok(out)
    }

    /// The block that holds the first key `>= key`'s neighbourhood: the last block whose
    /// first key is `<= key` (or the first block).
    fn block_for(&self, key: &[u8]) -> usize {
        self.blocks
            .partition_point(|b| b.first_key.as_slice() <= key)
            .saturating_sub(1)
    }
}

fn r_error(reason: &str) -> IndexFormatError {
    IndexFormatError {
        record: RECORD,
        reason: reason.into(),
    }
}

/// A position in a segment, moving forward in key order.
#[derive(Debug)]
pub struct SegmentCursor {
    segment: Arc<Segment>,
    block: usize,
    decoded: Vec<SegmentEntry>,
    pos: usize,
}

impl SegmentCursor {
    /// A cursor at the segment's first entry.
    pub fn new(segment: Arc<Segment>) -> Result<SegmentCursor, IndexFormatError> {
        let decoded = segment.block(0)?;
        Ok(SegmentCursor {
            segment,
            block: 0,
            decoded,
            pos: 0,
        })
    }

    /// Moves to the first entry whose key is `>= key` (never backwards).
    pub fn seek(&mut self, key: &[u8]) -> Result<(), IndexFormatError> {
        if self.peek().is_some_and(|e| e.key.as_slice() >= key) {
            return Ok(());
        }
        let target = self.segment.block_for(key);
        if target > self.block {
            self.block = target;
            self.decoded = self.segment.block(target)?;
            self.pos = 0;
        }
        loop {
            while self.pos < self.decoded.len() && self.decoded[self.pos].key.as_slice() < key {
                self.pos += 1;
            }
            if self.pos < self.decoded.len() || !self.next_block()? {
                return Ok(());
            }
        }
    }

    fn next_block(&mut self) -> Result<bool, IndexFormatError> {
        if self.block + 1 >= self.segment.blocks.len() {
            self.pos = self.decoded.len();
            return Ok(false);
        }
        self.block += 1;
        self.decoded = self.segment.block(self.block)?;
        self.pos = 0;
        Ok(true)
    }

    /// The entry at the cursor.
    pub fn peek(&self) -> Option<&SegmentEntry> {
        self.decoded.get(self.pos)
    }

    /// Moves past the entry at the cursor.
    pub fn advance(&mut self) -> Result<(), IndexFormatError> {
        self.pos += 1;
        if self.pos >= self.decoded.len() {
            self.next_block()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn entries_strategy() -> impl Strategy<Value = Vec<SegmentEntry>> {
        proptest::collection::btree_map(
            proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b'b'), Just(b'/'), any::<u8>()],
                0..12,
            ),
            (
                any::<bool>(),
                0u64..1 << 40,
                0u64..1_000_000_000,
                any::<u64>(),
                proptest::option::of("[a-f0-9]{1,32}"),
            ),
            0..300,
        )
        .prop_map(|m: BTreeMap<Vec<u8>, _>| {
            m.into_iter()
                .map(|(key, (put, tsec, tnsec, size, etag))| SegmentEntry {
                    key,
                    kind: if put {
                        EntryKind::Put
                    } else {
                        EntryKind::Delete
                    },
                    stamp: DnetTime { tsec, tnsec },
                    size: if put { size } else { 0 },
                    etag: if put { etag } else { None },
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn segments_round_trip_and_seek(entries in entries_strategy(), probe in proptest::collection::vec(any::<u8>(), 0..6)) {
            let bytes = encode_segment(&entries).unwrap();
            let seg = Arc::new(Segment::decode(&bytes).unwrap());
            prop_assert_eq!(seg.len(), entries.len());
            prop_assert_eq!(&seg.entries().unwrap(), &entries);
            let mut c = SegmentCursor::new(Arc::clone(&seg)).unwrap();
            c.seek(&probe).unwrap();
            let want = entries.iter().find(|e| e.key >= probe);
            prop_assert_eq!(c.peek(), want);
            // Walk the rest.
            let mut rest = Vec::new();
            while let Some(e) = c.peek() {
                rest.push(e.clone());
                c.advance().unwrap();
            }
            let want: Vec<_> = entries.iter().filter(|e| e.key >= probe).cloned().collect();
            prop_assert_eq!(rest, want);
        }

        #[test]
        fn any_damage_is_detected(entries in entries_strategy(), at in any::<proptest::sample::Index>(), flip in 1u8..=255) {
            let mut bytes = encode_segment(&entries).unwrap();
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            prop_assert!(Segment::decode(&bytes).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(seg) = Segment::decode(&bytes) {
                let _ = seg.entries();
            }
        }
    }

    #[test]
    fn unsorted_entries_are_refused() {
        let e = |k: &[u8]| SegmentEntry {
            key: k.to_vec(),
            kind: EntryKind::Delete,
            stamp: DnetTime::default(),
            size: 0,
            etag: None,
        };
        assert!(encode_segment(&[e(b"b"), e(b"a")]).is_err());
        assert!(encode_segment(&[e(b"a"), e(b"a")]).is_err());
    }
}
