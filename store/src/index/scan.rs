//! Listing: a merged walk over a shard's segments and live journals in key order
//! ([`Scan`]), and the page built from it with S3 ListObjectsV2 semantics
//! ([`BucketIndex::list`]).
//!
//! A page reads the shard state in every group (one round trip, in parallel), then the
//! live journal lanes of every group (one round trip, in parallel) and the segment holding
//! the start (cached after the first read: segments never change). Segments are opened
//! only when the walk reaches their first key. With a delimiter, a common prefix is
//! emitted once and the walk seeks past it (the segments' block indexes skip the sub-tree
//! without decoding it). Keys whose newest entry is an uncommitted intent are settled by
//! the object's head, in concurrent batches of the next pending keys.

use std::collections::{BTreeMap, HashMap, VecDeque};

use futures_util::{StreamExt, stream};

use super::bucket_index::{BucketIndex, BucketUsage, IndexError, Inner, settle};
use super::key_merge::{Definite, KeyMerge, Resolution};
use super::list::{ListEntry, ListPage, ListRequest, Position, prefix_end};
use super::segment::{EntryKind, SegmentCursor};
use super::shard_state::{SegmentRef, ShardState};

/// Heads looked up at once when a walk meets an uncommitted intent.
const HEAD_BATCH: usize = 64;
/// Heads in flight at once.
const HEAD_CONCURRENCY: usize = 32;

/// A merged walk over one shard.
pub(crate) struct Scan<'a> {
    inner: &'a Inner,
    journal: BTreeMap<Vec<u8>, KeyMerge>,
    refs: VecDeque<SegmentRef>,
    open: Vec<SegmentCursor>,
    /// Inclusive lower bound of what the walk yields next.
    pos: Vec<u8>,
    /// Exclusive end (the shard's).
    upper: Option<Vec<u8>>,
    heads: HashMap<Vec<u8>, Option<(u64, elliptics::proto::DnetTime)>>,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(
        inner: &'a Inner,
        state: &ShardState,
        journal: BTreeMap<Vec<u8>, KeyMerge>,
        from: Vec<u8>,
        upper: Option<Vec<u8>>,
    ) -> Scan<'a> {
        let refs = state
            .segments
            .iter()
            .filter(|s| s.last_key >= from)
            .cloned()
            .collect();
        Scan {
            inner,
            journal,
            refs,
            open: Vec::new(),
            pos: from,
            upper,
            heads: HashMap::new(),
        }
    }

    /// Moves the walk to `key` (never backwards).
    pub(crate) fn seek(&mut self, key: &[u8]) {
        if key > self.pos.as_slice() {
            self.pos = key.to_vec();
        }
    }

    /// The next key and everything known about it.
    pub(crate) async fn next(&mut self) -> Result<Option<(Vec<u8>, KeyMerge)>, IndexError> {
        Ok(self
            .next_parts()
            .await?
            .map(|(key, mut segments, journal)| {
                if let Some(j) = journal {
                    segments.absorb(&j);
                }
                (key, segments)
            }))
    }

    /// The next key, what the segments know about it, and what the journals know.
    async fn next_parts(
        &mut self,
    ) -> Result<Option<(Vec<u8>, KeyMerge, Option<KeyMerge>)>, IndexError> {
        loop {
            for c in &mut self.open {
                c.seek(&self.pos)?;
            }
            self.open.retain(|c| c.peek().is_some());
            let from_journal = self
                .journal
                .range(self.pos.clone()..)
                .next()
                .map(|(k, _)| k);
            let from_segments = self
                .open
                .iter()
                .filter_map(|c| c.peek())
                .map(|e| &e.key)
                .min();
            let min = match (from_journal, from_segments) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
            .cloned();
            // Open the segments that may hold something before the smallest key seen.
            if let Some(r) = self.refs.front() {
                if min.as_ref().is_none_or(|m| r.first_key <= *m) {
                    let Some(r) = self.refs.pop_front() else {
                        continue;
                    };
                    if r.last_key < self.pos {
                        continue;
                    }
                    let seg = self.inner.segment(&r).await?;
                    let mut cursor = SegmentCursor::new(seg)?;
                    cursor.seek(&self.pos)?;
                    self.open.push(cursor);
                    continue;
                }
            }
            let Some(key) = min else {
                return Ok(None);
            };
            if self.upper.as_ref().is_some_and(|u| key >= *u) {
                return Ok(None);
            }
            let journal = self.journal.get(&key).cloned();
            let mut segments = KeyMerge::default();
            for c in &mut self.open {
                while let Some(e) = c.peek().filter(|e| e.key == key) {
                    segments.add_segment(e);
                    c.advance()?;
                }
            }
            let mut next = key.clone();
            next.push(0);
            self.pos = next;
            return Ok(Some((key, segments, journal)));
        }
    }

    /// What `merge` says about `key`, settling an uncommitted intent by the object (and
    /// the next pending keys of the journal with it, concurrently). `end` bounds the
    /// look-ahead.
    pub(crate) async fn resolve(
        &mut self,
        key: &[u8],
        merge: &KeyMerge,
        end: Option<&[u8]>,
    ) -> Result<Option<Definite>, IndexError> {
        let resolution = match merge.resolve() {
            Resolution::Pending(_) => {
                if !self.heads.contains_key(key) {
                    self.fetch_heads(key, end).await?;
                }
                settle(merge, self.heads.get(key).copied().flatten())
            }
            r => r,
        };
        Ok(match resolution {
            Resolution::Listed(d) => Some(d),
            _ => None,
        })
    }

    async fn fetch_heads(&mut self, key: &[u8], end: Option<&[u8]>) -> Result<(), IndexError> {
        let mut keys = vec![key.to_vec()];
        let mut after = key.to_vec();
        after.push(0);
        keys.extend(
            self.journal
                .range(after..)
                .take_while(|(k, _)| end.is_none_or(|e| k.as_slice() < e))
                .filter(|(k, m)| {
                    matches!(m.resolve(), Resolution::Pending(_)) && !self.heads.contains_key(*k)
                })
                .map(|(k, _)| k.clone())
                .take(HEAD_BATCH - 1),
        );
        let inner = self.inner;
        let found: Vec<(Vec<u8>, Result<_, IndexError>)> = stream::iter(keys)
            .map(|k| async move {
                let r = inner.object_head(&k).await;
                (k, r)
            })
            .buffer_unordered(HEAD_CONCURRENCY)
            .collect()
            .await;
        for (k, r) in found {
            self.heads.insert(k, r?);
        }
        Ok(())
    }

    /// Objects and bytes of everything the walk yields.
    pub(crate) async fn count_all(&mut self) -> Result<BucketUsage, IndexError> {
        let mut usage = BucketUsage::default();
        while let Some((key, merge)) = self.next().await? {
            if let Some(d) = self.resolve(&key, &merge, None).await? {
                usage.objects += 1;
                usage.bytes += d.size;
            }
        }
        Ok(usage)
    }

    /// Objects and bytes from the segments' totals, corrected key by key for the keys the
    /// journals name (the segments must not overlap).
    pub(crate) async fn count_journal_delta(
        &mut self,
        state: &ShardState,
    ) -> Result<BucketUsage, IndexError> {
        let (mut objects, mut bytes) = state.segment_totals();
        let keys: Vec<Vec<u8>> = self.journal.keys().cloned().collect();
        for key in keys {
            self.seek(&key);
            let Some((found, segments, journal)) = self.next_parts().await? else {
                break;
            };
            if found != key {
                continue;
            }
            if let Some(d) = segments.definite().filter(|d| d.kind == EntryKind::Put) {
                objects = objects.saturating_sub(1);
                bytes = bytes.saturating_sub(d.size);
            }
            let mut full = segments;
            if let Some(j) = journal {
                full.absorb(&j);
            }
            if let Some(d) = self.resolve(&key, &full, None).await? {
                objects += 1;
                bytes += d.size;
            }
        }
        Ok(BucketUsage { objects, bytes })
    }
}

impl BucketIndex {
    /// One page of the bucket's keys (S3 ListObjectsV2 semantics: byte order, `max-keys`
    /// default and cap 1000 counting common prefixes, `start-after` exclusive, an opaque
    /// continuation token that survives compactions).
    pub async fn list(&self, req: &ListRequest) -> Result<ListPage, IndexError> {
        let max = req.max_keys();
        let position = match (&req.continuation_token, &req.start_after) {
            (Some(t), _) => Position::from_token(t).ok_or(IndexError::InvalidToken)?,
            (None, Some(s)) => Position::AfterKey(s.clone()),
            (None, None) => Position::Start,
        };
        let mut page = ListPage::default();
        let Some(mut from) = position.first_key() else {
            return Ok(page);
        };
        if max == 0 {
            return Ok(page);
        }
        if from < req.prefix {
            from = req.prefix.clone();
        }
        let end = match req.prefix.is_empty() {
            true => None,
            false => prefix_end(&req.prefix),
        };
        let inner = &self.inner;
        let root = inner.root().await?;
        let mut shard = root.shard_for(&from);
        let mut last: Option<Position> = None;
        'shards: while shard < root.shards.len() {
            let range = &root.shards[shard];
            let upper = root.upper(shard).map(<[u8]>::to_vec);
            let states = inner.read_states(range.shard, false).await?;
            let journal_bound = match (&upper, &end) {
                (Some(u), Some(e)) => Some(u.min(e).clone()),
                (u, e) => u.clone().or_else(|| e.clone()),
            };
            let journal = inner
                .journal_map(&states.union, &from, journal_bound.as_deref(), false)
                .await?;
            let mut scan = Scan::new(inner, &states.union, journal, from.clone(), upper.clone());
            while let Some((key, merge)) = scan.next().await? {
                if end.as_ref().is_some_and(|e| key >= *e) || !key.starts_with(&req.prefix) {
                    break 'shards;
                }
                let Some(d) = scan.resolve(&key, &merge, journal_bound.as_deref()).await? else {
                    continue;
                };
                if page.entries.len() + page.common_prefixes.len() == max {
                    page.is_truncated = true;
                    break 'shards;
                }
                if !req.delimiter.is_empty() {
                    let rest = &key[req.prefix.len()..];
                    if let Some(i) = find(rest, &req.delimiter) {
                        let common = key[..req.prefix.len() + i + req.delimiter.len()].to_vec();
                        let past = prefix_end(&common);
                        page.common_prefixes.push(common.clone());
                        last = Some(Position::AfterPrefix(common));
                        match past {
                            Some(past) => scan.seek(&past),
                            None => break 'shards,
                        }
                        continue;
                    }
                }
                page.entries.push(ListEntry {
                    key: key.clone(),
                    size: d.size,
                    stamp: d.stamp,
                    etag: d.etag,
                });
                last = Some(Position::AfterKey(key));
            }
            // The next shard starts where this one ends (and past a common prefix the walk
            // skipped, which may run on into it).
            shard += 1;
            if let Some(next) = root.shards.get(shard) {
                from = next.lower.clone().max(scan.pos.clone());
            }
        }
        if page.is_truncated {
            page.next_continuation_token = last.map(|p| p.token());
        }
        Ok(page)
    }
}

/// The first position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
