//! The deletion pass of a Bucket (run by the finalizer while `deletionTimestamp` is set).
//!
//! 1. [`FORCE_RELEASE_ANNOTATION`] `"true"`: let go at once, Elliptics untouched.
//! 2. `deletionProtection`: DeletionBlocked=True `DeletionProtected`, finalizer kept.
//! 3. Never applied (no digest in status, so nothing was written): let go.
//! 4. Cluster missing or unreachable: DeletionBlocked=True `ClusterUnavailable`, retried with
//!    backoff (the force-release annotation is the way out when it is gone for good).
//! 5. The ownership record is not ours: let go without touching the bucket.
//! 6. `Retain`: keep metadata, alias record and list entry; mark the record released.
//!    `Delete`: remove the alias record, the list entry, the metadata and the record; with
//!    `purgeData` (its `confirm` equal to the Elliptics bucket name) every object the
//!    bucket's key index lists is removed first ([`super::purge`]), DeletionBlocked=True
//!    `Purging` showing the count as it goes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backrunner_crds::EllipticsCluster;
use backrunner_crds::bucket::{Bucket, FORCE_RELEASE_ANNOTATION, ReclaimPolicy, reasons};
use backrunner_crds::condition::{ConditionStatus, types};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;

use super::purge::{Purge, PurgeStep};
use super::status::StatusDraft;
use super::{Error, Reconciler};
use crate::controller::events::{self, reasons as event_reasons};
use crate::controller::{object_key, unix_now};
use crate::metadata::{MetadataStore, OwnerRecord};
use backrunner_store::TokenAliases;

/// The deletion pass (see the module docs). `Ok` lets the finalizer go; `Err` keeps it.
pub async fn cleanup(bucket: Arc<Bucket>, r: &Reconciler) -> Result<Action, Error> {
    let namespace = super::namespace_of(&bucket)?;
    let mut draft = StatusDraft::new(&bucket);
    let result = release(&bucket, &namespace, r, &mut draft).await;
    match &result {
        Ok(_) => {
            r.ctx
                .metrics
                .forget_bucket(&namespace, &bucket.name_any(), &bucket.spec.groups);
            r.numbers_written.forget(&object_key(bucket.as_ref()));
        }
        Err(e) => {
            let reason = match e {
                Error::DeletionBlocked(_) => draft
                    .reason(types::DELETION_BLOCKED)
                    .unwrap_or(reasons::CLEANUP_FAILED)
                    .to_owned(),
                _ => reasons::CLEANUP_FAILED.to_owned(),
            };
            if !draft.is_true(types::DELETION_BLOCKED) {
                draft.set(
                    types::DELETION_BLOCKED,
                    ConditionStatus::True,
                    &reason,
                    e.to_string(),
                );
            }
        }
    }
    draft.derive_ready();
    // The object may be gone by the time the status is written; that is fine.
    if let Err(e) = draft
        .publish(&r.buckets(&namespace), &r.recorder, &bucket)
        .await
    {
        tracing::debug!(error = %e, "status write during deletion");
    }
    result
}

fn block(draft: &mut StatusDraft, reason: &str, message: String) -> Error {
    draft.set(
        types::DELETION_BLOCKED,
        ConditionStatus::True,
        reason,
        message.clone(),
    );
    Error::DeletionBlocked(message)
}

/// Runs a [`Purge`] to the end, writing the count into DeletionBlocked=True `Purging` at
/// most every [`PROGRESS_INTERVAL`].
async fn purge_with_progress(
    bucket: &Bucket,
    namespace: &str,
    r: &Reconciler,
    draft: &mut StatusDraft,
    client: &elliptics::Client,
    name: &str,
    groups: &[u32],
) -> Result<(), Error> {
    let api = r.buckets(namespace);
    let started = Instant::now();
    let mut reported = Instant::now();
    let mut purge = Purge::new(client, name, groups);
    let removed = loop {
        let step = purge
            .step()
            .await
            .map_err(|e| Error::DeletionBlocked(format!("purgeData: {e}")))?;
        let removed = match step {
            PurgeStep::Done(n) => break n,
            PurgeStep::More(n) => n,
        };
        if reported.elapsed() >= PROGRESS_INTERVAL {
            reported = Instant::now();
            draft.set(
                types::DELETION_BLOCKED,
                ConditionStatus::True,
                reasons::PURGING,
                format!("purgeData: {removed} objects of {name} removed so far"),
            );
            if let Err(e) = draft.publish(&api, &r.recorder, bucket).await {
                tracing::debug!(error = %e, "purge progress status");
            }
        }
    };
    let note = format!(
        "purgeData: {removed} objects of {name} removed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    events::publish(&r.recorder, bucket, false, event_reasons::DATA_PURGED, note).await;
    Ok(())
}

/// How often purge progress is written to the status.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

async fn release(
    bucket: &Bucket,
    namespace: &str,
    r: &Reconciler,
    draft: &mut StatusDraft,
) -> Result<Action, Error> {
    if bucket.force_release_requested() {
        let msg =
            format!("{FORCE_RELEASE_ANNOTATION} set: finalizer released, Elliptics not touched");
        draft.set(
            types::DELETION_BLOCKED,
            ConditionStatus::False,
            reasons::FORCE_RELEASED,
            msg,
        );
        return Ok(Action::await_change());
    }
    if bucket.spec.deletion_protection {
        return Err(block(
            draft,
            reasons::DELETION_PROTECTED,
            "deletionProtection is set; clear it to delete".into(),
        ));
    }
    let applied = bucket
        .status
        .as_ref()
        .is_some_and(|s| s.metadata_digest.is_some());
    let name = bucket
        .status
        .as_ref()
        .and_then(|s| s.bucket_name.clone())
        .unwrap_or_else(|| bucket.bucket_name().to_owned());
    let cref = &bucket.spec.cluster_ref;
    let cluster_ns = cref.namespace.as_deref().unwrap_or(namespace);
    let api: Api<EllipticsCluster> = Api::namespaced(r.ctx.client.clone(), cluster_ns);
    let cluster = match api.get_opt(&cref.name).await {
        Ok(Some(c)) => c,
        Ok(None) if !applied => return Ok(Action::await_change()),
        Ok(None) => {
            let msg = format!(
                "EllipticsCluster {cluster_ns}/{} not found; set annotation {FORCE_RELEASE_ANNOTATION}: \"true\" to delete without cleanup",
                cref.name
            );
            return Err(block(draft, reasons::CLUSTER_UNAVAILABLE, msg));
        }
        Err(e) => return Err(e.into()),
    };
    let client = match r.ctx.storage.client(&cluster).await {
        Ok(c) => c,
        Err(e) => {
            let msg = format!(
                "{e}; retrying (annotation {FORCE_RELEASE_ANNOTATION}: \"true\" deletes without cleanup)"
            );
            return Err(block(draft, reasons::CLUSTER_UNAVAILABLE, msg));
        }
    };
    let store = MetadataStore::new(&client, cluster.spec.metadata_groups.clone());
    let me = r.owner_record(bucket, namespace, unix_now())?;
    let record = match store.read_record::<OwnerRecord>(&name).await {
        Ok(rec) => rec,
        Err(e) if e.is_transient() => {
            return Err(block(draft, reasons::CLUSTER_UNAVAILABLE, e.to_string()));
        }
        Err(_) => None,
    };
    if !record.as_ref().is_some_and(|rec| rec.is_same_owner(&me)) {
        let note = format!("Elliptics bucket {name} is not owned by this Bucket; left untouched");
        events::publish(
            &r.recorder,
            bucket,
            false,
            event_reasons::OWNERSHIP_RELEASED,
            note,
        )
        .await;
        return Ok(Action::await_change());
    }
    let cleanup = async {
        match bucket.spec.reclaim_policy {
            ReclaimPolicy::Retain => {
                store
                    .write_record(&name, &me.released(unix_now()))
                    .await
                    .check()?;
                let note =
                    format!("reclaimPolicy Retain: metadata of {name} kept, ownership released");
                events::publish(
                    &r.recorder,
                    bucket,
                    false,
                    event_reasons::METADATA_RETAINED,
                    note,
                )
                .await;
            }
            ReclaimPolicy::Delete => {
                if let Some(purge) = &bucket.spec.purge_data {
                    if purge.confirm != name {
                        return Err(Error::DeletionBlocked(format!(
                            "purgeData.confirm is {:?}; it must be the Elliptics bucket name {name:?} to remove its objects",
                            purge.confirm
                        )));
                    }
                    let groups = match store.read_bucket(&name).await? {
                        Some(meta) => meta.groups,
                        None => bucket.spec.groups.clone(),
                    };
                    purge_with_progress(bucket, namespace, r, draft, &client, &name, &groups)
                        .await?;
                }
                store.move_to_directory(&name, None, false).await?;
                store.remove_record::<TokenAliases>(&name).await.check()?;
                if let Some(key) = cluster
                    .spec
                    .bucket_list_key
                    .as_deref()
                    .filter(|k| !k.is_empty())
                {
                    store.remove_from_list(key, &name).await?;
                }
                store.remove_bucket(&name).await.check()?;
                r.ctx
                    .metrics
                    .bucket_metadata_writes
                    .with_label_values(&["removed"])
                    .inc();
                store.remove_record::<OwnerRecord>(&name).await.check()?;
                let note = format!(
                    "reclaimPolicy Delete: metadata of {name} removed (data left in place)"
                );
                events::publish(
                    &r.recorder,
                    bucket,
                    false,
                    event_reasons::METADATA_REMOVED,
                    note,
                )
                .await;
            }
        }
        Ok::<(), Error>(())
    };
    match cleanup.await {
        Ok(()) => Ok(Action::await_change()),
        Err(e) => Err(block(draft, reasons::CLEANUP_FAILED, e.to_string())),
    }
}
