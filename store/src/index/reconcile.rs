//! [`BucketIndex::reconcile`]: what is on the disks of a bucket's groups that its key
//! index does not name — objects uploaded before the index existed (by an original
//! Backrunner, or by a proxy with `key_index = false`), or by any other Elliptics client.
//!
//! 1. The names the index knows: every listed key's id, and the ids of the index's own
//!    records (root, shard states, the segments they name, the live journal lanes).
//! 2. An ITERATOR over every backend of the bucket's groups (key, size, user flags only).
//!    Each id on disk is *named* (the index knows it) or *unnamed*, the unnamed ones counted
//!    by the kind their user flags say (plain data, checked data, manifest, part, upload
//!    record, tombstone), with their bytes and a few ids as a sample. Ids are hashes of
//!    names, so an unnamed id cannot be turned back into its key; the backends are shared
//!    by every bucket in those groups, so other buckets' objects count as unnamed too.
//! 3. Candidate names (`candidates`: e.g. from an application's own records): each one's id
//!    on disk but not in the index is *unindexed*; with `apply`, it is logged in the index
//!    at the object's own timestamp and size (an intent and its commit), so listings show
//!    it from then on.
//!
//! It never removes anything.

use std::collections::{BTreeMap, HashMap, HashSet};

use elliptics::client::{IteratorOptions, IteratorTarget};
use elliptics::proto::Id;
use futures_util::StreamExt;
use serde::Serialize;

use super::bucket_index::{BucketIndex, IndexError, journal_key, segment_key, shard_key};
use super::list::ListRequest;
use crate::object::{RecordKind, head};

/// Unnamed ids kept as a sample in the report.
const SAMPLE: usize = 20;

/// What a reconcile pass found (see the module docs).
#[derive(Debug, Default, Serialize)]
pub struct ReconcileReport {
    /// Records the iterators returned (every group, duplicates included).
    pub scanned: u64,
    /// Keys the index lists.
    pub indexed_keys: u64,
    /// Distinct ids on disk.
    pub ids_on_disk: u64,
    /// Distinct ids on disk the index names.
    pub named: u64,
    /// Distinct ids on disk the index does not name, by record kind.
    pub unnamed: BTreeMap<&'static str, u64>,
    /// Their bytes (the largest copy of each).
    pub unnamed_bytes: u64,
    /// A few unnamed ids of data (plain, checked or manifest records), hex.
    pub unnamed_sample: Vec<String>,
    /// Candidate names given.
    pub candidates: u64,
    /// Candidates with a record on disk.
    pub candidates_on_disk: u64,
    /// Candidates on disk that the index does not list.
    pub candidates_unindexed: u64,
    /// Of those, how many were logged in the index (`apply`).
    pub candidates_logged: u64,
    /// Candidates that could not be read or logged.
    pub errors: u64,
}

/// Why a reconcile pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading the index failed.
    #[error("key index: {0}")]
    Index(#[from] IndexError),
    /// A group of the bucket has no backend in the route table.
    #[error("no backend of group {0} is known")]
    NoBackends(u32),
    /// An iterator failed.
    #[error("listing backend {backend} on {addr}: {source}")]
    Listing {
        /// The node.
        addr: String,
        /// The backend.
        backend: i32,
        /// What failed.
        source: elliptics::Error,
    },
}

/// The name of a record kind in the report.
fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Data => "data",
        RecordKind::CheckedData(_) => "checked_data",
        RecordKind::Manifest => "manifest",
        RecordKind::Part => "part",
        RecordKind::Upload => "upload_record",
        RecordKind::Tombstone => "tombstone",
        RecordKind::Journal => "journal",
    }
}

impl BucketIndex {
    /// Compares the disks of the bucket's groups with the index (see the module docs);
    /// `client` reaches every node of those groups.
    pub async fn reconcile(
        &self,
        client: &elliptics::Client,
        candidates: &[Vec<u8>],
        apply: bool,
    ) -> Result<ReconcileReport, ReconcileError> {
        let mut report = ReconcileReport::default();
        let inner = &self.inner;
        let named = self.named_ids(&mut report).await?;

        // Every record of every backend of the bucket's groups: id → (kind, largest size).
        let mut on_disk: HashMap<Id, (RecordKind, u64)> = HashMap::new();
        let routes = client.route_table();
        let backends = routes.backends();
        for group in &inner.objects.options().groups {
            let mine: Vec<_> = backends.iter().filter(|b| b.group == *group).collect();
            if mine.is_empty() {
                return Err(ReconcileError::NoBackends(*group));
            }
            for b in mine {
                let listing = |source| ReconcileError::Listing {
                    addr: b.addr.to_string(),
                    backend: b.backend_id,
                    source,
                };
                let target = IteratorTarget::Backend {
                    addr: b.addr,
                    backend_id: b.backend_id,
                };
                let mut entries = client
                    .session()
                    .groups(vec![*group])
                    .iterate(target, IteratorOptions::new())
                    .await
                    .map_err(listing)?;
                while let Some(entry) = entries.next().await {
                    let entry = entry.map_err(listing)?;
                    report.scanned += 1;
                    let seen = on_disk
                        .entry(entry.key)
                        .or_insert((RecordKind::of(entry.user_flags), 0));
                    seen.1 = seen.1.max(entry.size);
                }
            }
        }
        report.ids_on_disk = on_disk.len() as u64;
        let mut ids: Vec<_> = on_disk.iter().collect();
        ids.sort_by_key(|(id, _)| **id);
        for (id, (kind, size)) in ids {
            if named.contains(id) {
                report.named += 1;
                continue;
            }
            *report.unnamed.entry(kind_name(*kind)).or_default() += 1;
            report.unnamed_bytes += size;
            let data = matches!(
                kind,
                RecordKind::Data | RecordKind::CheckedData(_) | RecordKind::Manifest
            );
            if data && report.unnamed_sample.len() < SAMPLE {
                report.unnamed_sample.push(id.to_hex());
            }
        }

        // Candidate names.
        report.candidates = candidates.len() as u64;
        for key in candidates {
            let id = inner.objects.id(key);
            if !on_disk.contains_key(&id) {
                continue;
            }
            report.candidates_on_disk += 1;
            if named.contains(&id) {
                continue;
            }
            report.candidates_unindexed += 1;
            if !apply {
                continue;
            }
            match head(&inner.objects, key).await {
                Ok(h) => {
                    let logged = async {
                        self.intent_put(key, h.timestamp).await?;
                        self.commit(key, h.timestamp, h.size, None).await
                    };
                    match logged.await {
                        Ok(()) => report.candidates_logged += 1,
                        Err(e) => {
                            tracing::warn!(key = %String::from_utf8_lossy(key), error = %e, "could not log a candidate");
                            report.errors += 1;
                        }
                    }
                }
                // A tombstone: deleted, nothing to list.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    tracing::warn!(key = %String::from_utf8_lossy(key), error = %e, "candidate unreadable");
                    report.errors += 1;
                }
            }
        }
        Ok(report)
    }

    /// Ids of every key the index lists and of the index's own live records.
    async fn named_ids(&self, report: &mut ReconcileReport) -> Result<HashSet<Id>, IndexError> {
        let inner = &self.inner;
        let mut named = HashSet::new();
        let mut request = ListRequest::default();
        loop {
            let page = self.list(&request).await?;
            report.indexed_keys += page.entries.len() as u64;
            named.extend(page.entries.iter().map(|e| inner.objects.id(&e.key)));
            match page.next_continuation_token {
                Some(t) => request.continuation_token = Some(t),
                None => break,
            }
        }
        let index = &inner.index;
        named.insert(index.id(super::bucket_index::ROOT_KEY));
        let root = inner.root().await?;
        for range in &root.shards {
            named.insert(index.id(&shard_key(range.shard)));
            let states = inner.read_states(range.shard, false).await?;
            for s in &states.union.segments {
                named.insert(index.id(&segment_key(s.id)));
            }
            for g in states.union.live_generations() {
                for lane in (0..inner.options.lanes)
                    .map(|l| l.to_string())
                    .chain([super::bucket_index::CARRY_LANE.to_string()])
                {
                    named.insert(index.id(&journal_key(range.shard, g, &lane)));
                }
            }
        }
        Ok(named)
    }
}
