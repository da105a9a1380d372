//! Compaction: merges a shard's old journal generations into new immutable segments, so
//! journals stay small and a listing reads little.
//!
//! 1. Read the shard state in **every** group (compaction needs all of them: an entry may
//!    have reached one group only) and remove what earlier compactions retired more than
//!    `retire_grace` ago, once every group holds the same state.
//! 2. Switch: compare-and-swap the state to journal generation `g + 1` in every group.
//!    Writers see the switch within `state_ttl`; appends started before it end within
//!    `append_timeout`.
//! 3. Wait `switch_grace` after the switch, read the state again, then read the merged
//!    generations (every lane, the carry lane, every group) and the segments their keys
//!    fall in. Settle uncommitted intents by the object's head; an intent younger than
//!    `intent_grace` whose object is not there (yet) is appended to the carry lane of the
//!    current generation instead. Drop deletes older than `delete_retention`.
//! 4. Write the new segments (fresh ids) to every group, then compare-and-swap the state
//!    in every group: new segments named, replaced segments and merged generations
//!    retired, `first live = g + 1`.
//!
//! ## Crash points, and what repairs them
//! - Before or during the switch: some groups may hold `g + 1`, others `g`. Readers take
//!   the union of the groups' states (generations `[oldest first live, newest current]`),
//!   so nothing is missed; writers append to the newest generation they see. The next
//!   compaction finds the switch made and goes on from step 3.
//! - After the switch, before the state names the new segments: the old generation is
//!   still live and read by everyone. New segments already written are orphans no state
//!   names (a leak of at most one compaction's segments; not collected in this slice —
//!   an ITERATOR sweep of the index namespace for `seg/` records no state names would).
//!   Carried intents are duplicates of entries still live: entries are idempotent.
//! - The state compare-and-swap won in some groups only (a concurrent compaction won the
//!   others): the groups name different but equivalent segments; readers take the union
//!   (overlapping segments are allowed in a union), and the next compaction rewrites
//!   every overlapping segment into one set and writes it everywhere.
//! - After the state, before removing retired records: they stay until a later compaction
//!   removes them (removal is idempotent; a missing record is fine), then drops them from
//!   the state.
//!
//! Removal needs every group to hold the same state, and the retirement to be older than
//! `retire_grace`, so no group's state and no reader still names what is removed.

use elliptics::proto::errno::code::EBADFD;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use elliptics::proto::{DnetTime, Id, IoFlags};
use futures_util::future::join_all;
use futures_util::{StreamExt, stream};

use super::bucket_index::{
    BucketIndex, CARRY_LANE, GroupStates, IndexError, Inner, journal_key, segment_key, shard_key,
};
use super::journal::{JournalEntry, JournalOp};
use super::key_merge::{KeyMerge, Resolution};
use super::segment::{EntryKind, SegmentEntry, encode_segment};
use super::shard_state::{SegmentId, SegmentRef, ShardId, ShardState};

/// Heads in flight at once while settling intents.
const HEAD_CONCURRENCY: usize = 32;

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Shards compacted.
    pub shards: usize,
    /// Journal generations merged.
    pub generations_merged: u64,
    /// Journal entries read (all groups, duplicates included).
    pub journal_entries: usize,
    /// Segments written.
    pub segments_written: usize,
    /// Bytes of segments written.
    pub segment_bytes_written: u64,
    /// Segments kept as they were.
    pub segments_kept: usize,
    /// Uncommitted intents settled by the object.
    pub intents_settled: usize,
    /// Uncommitted intents carried to the current generation.
    pub intents_carried: usize,
    /// Delete entries dropped (older than the retention).
    pub deletes_dropped: usize,
    /// Retired records removed.
    pub records_removed: usize,
    /// Groups whose state a concurrent compaction changed first (they diverge until the
    /// next compaction).
    pub diverged_groups: Vec<u32>,
}

impl BucketIndex {
    /// Compacts every shard (see the module docs of [`super::compaction`]). Idempotent;
    /// needs every group of the bucket; takes at least `switch_grace`.
    pub async fn compact(&self) -> Result<CompactionReport, IndexError> {
        let root = self.inner.root().await?;
        let mut report = CompactionReport::default();
        for range in &root.shards {
            compact_shard(&self.inner, range.shard, &mut report).await?;
            report.shards += 1;
        }
        Ok(report)
    }
}

fn now() -> DnetTime {
    DnetTime::now()
}

fn older_than(stamp: DnetTime, age: Duration) -> bool {
    let at = UNIX_EPOCH + Duration::new(stamp.tsec, stamp.tnsec.min(999_999_999) as u32);
    SystemTime::now()
        .duration_since(at)
        .is_ok_and(|elapsed| elapsed > age)
}

async fn compact_shard(
    inner: &Inner,
    shard: ShardId,
    report: &mut CompactionReport,
) -> Result<(), IndexError> {
    let options = &inner.options;
    let mut states = inner.read_states(shard, true).await?;
    if remove_garbage(inner, &states, report).await? {
        states = inner.read_states(shard, true).await?;
    }
    if states.union.first_live == states.union.generation {
        let mut next = states.union.clone();
        next.generation += 1;
        next.version += 1;
        next.switched_at = now();
        let lost = cas_all(inner, &states, &next).await?;
        inner.forget_generation(shard);
        if !lost.is_empty() {
            return Err(IndexError::Busy);
        }
    }
    // Appends to the old generation end within the grace after the switch.
    loop {
        states = inner.read_states(shard, true).await?;
        if states.union.first_live == states.union.generation {
            return Ok(()); // another compaction merged it meanwhile
        }
        if older_than(states.union.switched_at, options.switch_grace) {
            break;
        }
        tokio::time::sleep(
            options
                .switch_grace
                .min(Duration::from_millis(200))
                .max(Duration::from_millis(5)),
        )
        .await;
    }
    merge(inner, shard, &states, report).await
}

async fn merge(
    inner: &Inner,
    shard: ShardId,
    states: &GroupStates,
    report: &mut CompactionReport,
) -> Result<(), IndexError> {
    let options = &inner.options;
    let union = &states.union;
    let merging = union.first_live..union.generation;
    let entries = inner
        .read_journals(&inner.journal_keys(shard, merging.clone()), true)
        .await?;
    report.journal_entries += entries.iter().map(|l| l.len()).sum::<usize>();
    report.generations_merged += merging.end - merging.start;
    let mut merged: BTreeMap<Vec<u8>, KeyMerge> = BTreeMap::new();
    for e in entries.iter().flat_map(|l| l.iter()) {
        merged.entry(e.key.clone()).or_default().add_journal(e);
    }
    // The segments the journal's keys fall in (all of them when diverged groups overlap).
    let segments = &union.segments;
    let mut affected = vec![union.segments_overlap(); segments.len()];
    if !segments.is_empty() {
        for key in merged.keys() {
            let i = segments
                .partition_point(|s| s.first_key.as_slice() <= key.as_slice())
                .saturating_sub(1);
            affected[i] = true;
        }
    }
    for (s, _) in segments.iter().zip(&affected).filter(|(_, a)| **a) {
        let seg = inner.segment(s).await?;
        for e in seg.entries()? {
            merged.entry(e.key.clone()).or_default().add_segment(&e);
        }
    }
    // Settle uncommitted intents by the object.
    let pending: Vec<Vec<u8>> = merged
        .iter()
        .filter(|(_, m)| matches!(m.resolve(), Resolution::Pending(_)))
        .map(|(k, _)| k.clone())
        .collect();
    let heads: Vec<(Vec<u8>, Result<_, IndexError>)> = stream::iter(pending)
        .map(|k| async move {
            let r = inner.object_head(&k).await;
            (k, r)
        })
        .buffer_unordered(HEAD_CONCURRENCY)
        .collect()
        .await;
    let mut head_of = HashMap::new();
    for (k, r) in heads {
        head_of.insert(k, r?);
    }
    let mut out: Vec<SegmentEntry> = Vec::with_capacity(merged.len());
    let mut carry: Vec<u8> = Vec::new();
    for (key, m) in merged {
        let keep = match m.resolve() {
            Resolution::Pending(p) => {
                let head = head_of.get(&key).copied().flatten();
                match head {
                    Some((size, stamp))
                        if stamp >= p.stamp || older_than(p.stamp, options.intent_grace) =>
                    {
                        report.intents_settled += 1;
                        Some(SegmentEntry {
                            key: key.clone(),
                            kind: EntryKind::Put,
                            stamp,
                            size,
                            etag: m.etag_at(stamp),
                        })
                    }
                    None if older_than(p.stamp, options.intent_grace) => {
                        report.intents_settled += 1;
                        Some(SegmentEntry {
                            key: key.clone(),
                            kind: EntryKind::Delete,
                            stamp: p.stamp,
                            size: 0,
                            etag: None,
                        })
                    }
                    _ => {
                        report.intents_carried += 1;
                        let op = match p.delete {
                            true => JournalOp::DeleteIntent,
                            false => JournalOp::PutIntent,
                        };
                        let intent = JournalEntry {
                            op,
                            key: key.clone(),
                            stamp: p.stamp,
                            size: 0,
                            etag: None,
                        };
                        carry.extend(intent.encode()?);
                        m.definite().map(|d| SegmentEntry {
                            key: key.clone(),
                            kind: d.kind,
                            stamp: d.stamp,
                            size: d.size,
                            etag: d.etag.clone(),
                        })
                    }
                }
            }
            _ => m.definite().map(|d| SegmentEntry {
                key: key.clone(),
                kind: d.kind,
                stamp: d.stamp,
                size: d.size,
                etag: d.etag.clone(),
            }),
        };
        match keep {
            Some(e)
                if e.kind == EntryKind::Delete && older_than(e.stamp, options.delete_retention) =>
            {
                report.deletes_dropped += 1;
            }
            Some(e) => out.push(e),
            None => {}
        }
    }
    if !carry.is_empty() {
        let key = journal_key(shard, union.generation, CARRY_LANE);
        write_everywhere(inner, &key, carry, IoFlags::APPEND).await?;
    }
    // New segments, cut at the target size.
    let mut new_refs = Vec::new();
    let mut start = 0;
    let mut approx = 0usize;
    for i in 0..out.len() {
        approx += out[i].key.len() + 24;
        if approx >= options.segment_bytes || i + 1 == out.len() {
            let chunk = &out[start..=i];
            let bytes = encode_segment(chunk)?;
            let id = SegmentId::random();
            let len = bytes.len() as u64;
            if let Err(e) =
                write_everywhere(inner, &segment_key(id), bytes, IoFlags::default()).await
            {
                remove_all(inner, &new_refs).await;
                return Err(e);
            }
            report.segments_written += 1;
            report.segment_bytes_written += len;
            let (objects, size) = chunk
                .iter()
                .filter(|e| e.kind == EntryKind::Put)
                .fold((0u64, 0u64), |(o, b), e| (o + 1, b + e.size));
            new_refs.push(SegmentRef {
                id,
                first_key: chunk[0].key.clone(),
                last_key: chunk[chunk.len() - 1].key.clone(),
                entries: chunk.len() as u64,
                objects,
                bytes: size,
                encoded_len: len,
            });
            start = i + 1;
            approx = 0;
        }
    }
    let at = now();
    let mut next = union.clone();
    next.segments = segments
        .iter()
        .zip(&affected)
        .filter(|(_, a)| !**a)
        .map(|(s, _)| s.clone())
        .chain(new_refs.iter().cloned())
        .collect();
    next.segments
        .sort_by(|a, b| (&a.first_key, a.id).cmp(&(&b.first_key, b.id)));
    report.segments_kept += next.segments.len() - new_refs.len();
    next.first_live = union.generation;
    next.version += 1;
    for (s, _) in segments.iter().zip(&affected).filter(|(_, a)| **a) {
        if !next.retired_segments.iter().any(|(id, _)| *id == s.id) {
            next.retired_segments.push((s.id, at));
        }
    }
    for g in merging {
        if !next.retired_generations.iter().any(|(o, _)| *o == g) {
            next.retired_generations.push((g, at));
        }
    }
    if !states.converged() {
        // Groups diverged: nobody knows when the others retired what; start the clock now.
        for (_, t) in next.retired_segments.iter_mut() {
            *t = at;
        }
        for (_, t) in next.retired_generations.iter_mut() {
            *t = at;
        }
    }
    let lost = cas_all(inner, states, &next).await?;
    if lost.len() == states.groups.len() {
        remove_all(inner, &new_refs).await;
        return Err(IndexError::Busy);
    }
    report.diverged_groups.extend(lost);
    Ok(())
}

/// Removes what was retired more than `retire_grace` ago, when every group holds the same
/// state, then drops it from the state. Returns whether the state changed.
async fn remove_garbage(
    inner: &Inner,
    states: &GroupStates,
    report: &mut CompactionReport,
) -> Result<bool, IndexError> {
    let grace = inner.options.retire_grace;
    let union = &states.union;
    if !states.converged() {
        return Ok(false);
    }
    let segments: Vec<SegmentId> = union
        .retired_segments
        .iter()
        .filter(|(id, at)| older_than(*at, grace) && !union.segments.iter().any(|s| s.id == *id))
        .map(|(id, _)| *id)
        .collect();
    let generations: Vec<u64> = union
        .retired_generations
        .iter()
        .filter(|(g, at)| older_than(*at, grace) && *g < union.first_live)
        .map(|(g, _)| *g)
        .collect();
    if segments.is_empty() && generations.is_empty() {
        return Ok(false);
    }
    let mut keys: Vec<Vec<u8>> = segments.iter().map(|id| segment_key(*id)).collect();
    keys.extend(inner.journal_keys(union.id, generations.iter().copied()));
    for key in &keys {
        remove_everywhere(inner, key).await?;
    }
    report.records_removed += keys.len();
    let mut next = union.clone();
    next.version += 1;
    next.retired_segments
        .retain(|(id, _)| !segments.contains(id));
    next.retired_generations
        .retain(|(g, _)| !generations.contains(g));
    cas_all(inner, states, &next).await?;
    Ok(true)
}

/// Compare-and-swaps `next` over each group's current state; returns the groups where
/// another writer changed it first.
async fn cas_all(
    inner: &Inner,
    states: &GroupStates,
    next: &ShardState,
) -> Result<Vec<u32>, IndexError> {
    let bytes = bytes::Bytes::from(next.encode());
    let key = shard_key(next.id);
    let writes = states.groups.iter().map(|(g, current, _)| {
        let expected = current.as_deref().map_or(Id::ZERO, Id::checksum);
        let bytes = bytes.clone();
        let key = key.clone();
        async move {
            (
                *g,
                inner.in_group(*g).write_cas(&key, bytes, expected).await,
            )
        }
    });
    let mut lost = Vec::new();
    for (g, r) in join_all(writes).await {
        match r {
            Ok(_) => {}
            Err(e) if e.status() == EBADFD => lost.push(g),
            Err(e) => {
                return Err(IndexError::GroupsUnavailable {
                    groups: vec![g],
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(lost)
}

/// Writes `data` at `key` in every group; fails unless every group stored it.
async fn write_everywhere(
    inner: &Inner,
    key: &[u8],
    data: Vec<u8>,
    flags: IoFlags,
) -> Result<(), IndexError> {
    let len = data.len() as u64;
    let outcome = inner
        .index
        .clone()
        .ioflags(flags)
        .write(key, &data[..], len, 0)
        .await?;
    let failed: Vec<_> = outcome.failed().iter().map(|r| r.group).collect();
    match failed.is_empty() {
        true => Ok(()),
        false => Err(IndexError::GroupsUnavailable {
            reason: outcome
                .failed()
                .first()
                .and_then(|r| r.result.as_ref().err())
                .map(|e| e.to_string())
                .unwrap_or_default(),
            groups: failed,
        }),
    }
}

/// Removes `key` in every group (a missing record is fine).
async fn remove_everywhere(inner: &Inner, key: &[u8]) -> Result<(), IndexError> {
    for g in inner.groups() {
        match inner.in_group(g).remove(key).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(IndexError::GroupsUnavailable {
                    groups: vec![g],
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Best-effort removal of segments no state names.
async fn remove_all(inner: &Inner, refs: &[SegmentRef]) {
    for r in refs {
        if let Err(e) = remove_everywhere(inner, &segment_key(r.id)).await {
            tracing::info!(error = %e, "could not remove an orphan segment");
        }
    }
}
