//! The sweep: removes parts no object names any more — uploads abandoned when a proxy
//! crashed mid-body, and the parts of objects that were overwritten or deleted while no
//! proxy stayed around to remove them.
//!
//! It walks every backend of the given groups with ITERATOR (keys and metadata only) and
//! keeps the [`UploadRecord`]s (told by their `user_flags`). For each record last written
//! longer than the grace period ago (a running upload rewrites its record every
//! [`REFRESH`](super::upload_record::REFRESH)), it reads the record, reads the head of the
//! object it names, and when that object's manifest names another upload (or there is no
//! such object) removes the upload's parts — part 0, 1, ... until one is absent from
//! every group — and then the record. A record that cannot be read or decoded is
//! counted and left alone: the sweep removes only what it can name.
//!
//! The same walk finds tombstones (deleted objects) and removes those older than the
//! retention period, in each group only while the record is still that tombstone.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use elliptics::client::{IteratorOptions, IteratorTarget};
use elliptics::proto::{DnetTime, Id};
use elliptics::{Client, Error, Session};
use futures_util::{StreamExt, TryStreamExt};

use super::cleanup::remove_upload;
use super::read::head;
use super::record_kind::RecordKind;
use super::upload_id::parts_namespace;
use super::upload_record::UploadRecord;

/// What a sweep is told.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Replica groups to walk and clean.
    pub groups: Vec<u32>,
    /// Uploads whose record was written more recently than this are left alone.
    pub grace: Duration,
    /// Tombstones (deleted objects) older than this are removed: recovery between the
    /// groups must have run within it, or a group that missed a delete brings the object
    /// back.
    pub tombstone_retention: Duration,
    /// Report only; remove nothing.
    pub dry_run: bool,
}

/// What a sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Records listed (all kinds, every backend of every group).
    pub scanned: u64,
    /// Distinct upload records found.
    pub uploads: u64,
    /// Uploads whose object's manifest names them.
    pub live: u64,
    /// Uploads written within the grace period.
    pub recent: u64,
    /// Uploads no object names (removed, unless a dry run).
    pub unnamed: u64,
    /// Parts removed.
    pub removed_parts: u64,
    /// Tombstones found (distinct keys).
    pub tombstones: u64,
    /// Tombstones past the retention period, removed (unless a dry run).
    pub expired_tombstones: u64,
    /// Upload records that could not be read or decoded, or removals that failed.
    pub errors: u64,
}

/// Why a sweep could not run.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A group has no backend in the route table.
    #[error("group {0} has no backend in the route table")]
    NoBackends(u32),
    /// Listing a backend failed.
    #[error("listing backend {backend} of {addr}: {source}")]
    Listing {
        /// Node.
        addr: String,
        /// Backend.
        backend: i32,
        /// Cause.
        #[source]
        source: Error,
    },
}

/// Runs one sweep over `options.groups`.
pub async fn sweep(client: &Client, options: &SweepOptions) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport::default();
    let Listed {
        uploads: records,
        tombstones,
    } = list_records(client, &options.groups, &mut report).await?;
    report.uploads = records.len() as u64;
    report.tombstones = tombstones.len() as u64;
    expire_tombstones(client, options, tombstones, &mut report).await;
    let now = SystemTime::now();
    let session = client.session().groups(options.groups.clone());
    for (id, written) in records {
        let age = now
            .duration_since(written.to_system_time())
            .unwrap_or_default();
        if age < options.grace {
            report.recent += 1;
            continue;
        }
        let record = match read_record(&session, id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(id = %id.to_hex(), error = %e, "unreadable upload record left alone");
                report.errors += 1;
                continue;
            }
        };
        let object = session.clone().namespace(record.namespace.clone());
        match head(&object, &record.key).await {
            Ok(h)
                if h.manifest
                    .as_ref()
                    .is_some_and(|m| m.upload == record.upload) =>
            {
                report.live += 1;
                continue;
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                tracing::warn!(upload = %record.upload, error = %e, "object unreadable; upload left alone");
                report.errors += 1;
                continue;
            }
        }
        report.unnamed += 1;
        if options.dry_run {
            continue;
        }
        let parts_session = session
            .clone()
            .namespace(parts_namespace(&record.namespace));
        let parts = count_parts(&parts_session, &record).await;
        let failed = remove_upload(&parts_session, record.upload, parts).await;
        report.removed_parts += u64::from(parts);
        report.errors += failed as u64;
        tracing::info!(upload = %record.upload, key = %String::from_utf8_lossy(&record.key), parts, "removed an unnamed upload");
    }
    Ok(report)
}

/// The records a sweep acts on: id → newest record timestamp, per kind.
#[derive(Default)]
struct Listed {
    uploads: BTreeMap<Id, DnetTime>,
    tombstones: BTreeMap<Id, DnetTime>,
}

/// Every upload record and tombstone of every backend of `groups`.
async fn list_records(
    client: &Client,
    groups: &[u32],
    report: &mut SweepReport,
) -> Result<Listed, SweepError> {
    let routes = client.route_table();
    let backends = routes.backends();
    let mut out = Listed::default();
    for group in groups {
        let mine: Vec<_> = backends.iter().filter(|b| b.group == *group).collect();
        if mine.is_empty() {
            return Err(SweepError::NoBackends(*group));
        }
        for b in mine {
            let listing = |source| SweepError::Listing {
                addr: b.addr.to_string(),
                backend: b.backend_id,
                source,
            };
            let session = client.session().groups(vec![*group]);
            let target = IteratorTarget::Backend {
                addr: b.addr,
                backend_id: b.backend_id,
            };
            let mut entries = session
                .iterate(target, IteratorOptions::new())
                .await
                .map_err(listing)?;
            while let Some(entry) = entries.next().await {
                let entry = entry.map_err(listing)?;
                report.scanned += 1;
                let map = match RecordKind::of(entry.user_flags) {
                    RecordKind::Upload => &mut out.uploads,
                    RecordKind::Tombstone => &mut out.tombstones,
                    _ => continue,
                };
                let newest = map.entry(entry.key).or_insert(entry.timestamp);
                *newest = (*newest).max(entry.timestamp);
            }
        }
    }
    Ok(out)
}

/// Removes the tombstones stamped before the retention period, group by group, each only
/// if it is still that tombstone (a write since then replaced it otherwise).
async fn expire_tombstones(
    client: &Client,
    options: &SweepOptions,
    tombstones: BTreeMap<Id, DnetTime>,
    report: &mut SweepReport,
) {
    let Some(cutoff) = SystemTime::now().checked_sub(options.tombstone_retention) else {
        return;
    };
    for (id, stamp) in tombstones {
        if stamp.to_system_time() >= cutoff {
            continue;
        }
        report.expired_tombstones += 1;
        if options.dry_run {
            continue;
        }
        for group in &options.groups {
            let one = client
                .session()
                .groups(vec![*group])
                .ioflags(elliptics::proto::IoFlags::NOCSUM);
            let still = match one.read_id(id, 0, 1).await {
                Ok(r) => {
                    RecordKind::of(r.user_flags()) == RecordKind::Tombstone
                        && r.timestamp() <= stamp
                }
                Err(_) => false,
            };
            if still
                && let Err(e) = one.remove_id(id).await
                && !e.is_not_found()
            {
                report.errors += 1;
            }
        }
    }
}

async fn read_record(session: &Session, id: Id) -> Result<UploadRecord, String> {
    let stream = session.read_id(id, 0, 0).await.map_err(|e| e.to_string())?;
    if stream.total_size() > 1 << 20 {
        return Err(format!("record of {} bytes", stream.total_size()));
    }
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.map_err(|e| e.to_string())?;
    UploadRecord::decode(&chunks.concat()).map_err(|e| e.to_string())
}

/// How many consecutive absent parts end the search for more.
const MISSES: u32 = 32;

/// Parts an unpublished upload may have: one past the highest part found in any group.
/// Parts are written in order and removed from the last one down (a few at a time), so a
/// run of [`MISSES`] absent parts means there are no more.
async fn count_parts(parts_session: &Session, record: &UploadRecord) -> u32 {
    let (mut n, mut end, mut misses) = (0u32, 0u32, 0u32);
    while n < super::manifest::MAX_PARTS && misses < MISSES {
        let found = parts_session
            .lookup(&record.upload.part_key(n))
            .await
            .is_ok_and(|groups| groups.iter().any(|g| g.is_ok()));
        match found {
            true => {
                end = n + 1;
                misses = 0;
            }
            false => misses += 1,
        }
        n += 1;
    }
    end
}
