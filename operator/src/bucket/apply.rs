//! The apply pass of a Bucket: validate, resolve the cluster and the policies' tokens, take
//! or check ownership, write what differs (token aliases, metadata, bucket list), publish
//! group health, and write status when it changed.
//!
//! Write order keeps every instant consistent for the proxies: ownership record first (so
//! metadata never looks unmanaged), then a new alias record (so the previous token keeps
//! working the moment the metadata switches to the new one), then the metadata, then the
//! removal of an emptied alias record, then the bucket list.
//!
//! Group health goes to the metrics exactly and to status coarsely, its moving numbers at
//! most once per status interval (see [`super::status`]).

use backrunner_store::index::{BucketIndex, IndexOptions};
use std::sync::Arc;
use std::time::Duration;

use backrunner_crds::EllipticsCluster;
use backrunner_crds::bucket::{Bucket, PlacementSummary, reasons};
use backrunner_crds::condition::{ConditionStatus, types};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;

use super::desired::{self, ResolvedUser};
use super::resolve::{resolve_cluster, resolve_policies};
use super::status::StatusDraft;
use super::{Error, Reconciler};
use crate::context::cluster_key;
use crate::controller::events::{self, reasons as event_reasons};
use crate::controller::{object_key, unix_now};
use crate::health::{ReplicaThresholds, bucket_health};
use crate::metadata::ownership::{self, ADOPT_ANNOTATION, OwnershipDecision};
use crate::metadata::{GroupCopy, MetadataStore, OwnerRecord};
use backrunner_store::TokenAliases;

/// The apply pass (see the module docs). Status is written once at the end, whatever the
/// outcome.
pub async fn apply(bucket: Arc<Bucket>, r: &Reconciler) -> Result<Action, Error> {
    let namespace = super::namespace_of(&bucket)?;
    let mut draft = StatusDraft::new(&bucket);
    let result = sync(&bucket, &namespace, r, &mut draft).await;
    if let Err(e) = &result {
        if !draft
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == types::SYNCED)
        {
            draft.set(
                types::SYNCED,
                ConditionStatus::False,
                reasons::PENDING,
                e.to_string(),
            );
        }
    }
    draft.derive_ready();
    draft
        .publish(&r.buckets(&namespace), &r.recorder, &bucket)
        .await?;
    if draft.health_moved() {
        r.numbers_written.written(&object_key(bucket.as_ref()));
    }
    result
}

/// Sets Synced=False with `reason` and returns the "wait for a change" action.
fn blocked(draft: &mut StatusDraft, r: &Reconciler, reason: &str, message: String) -> Action {
    draft.set(types::SYNCED, ConditionStatus::False, reason, message);
    Action::requeue(r.ctx.config.resync())
}

async fn sync(
    bucket: &Bucket,
    namespace: &str,
    r: &Reconciler,
    draft: &mut StatusDraft,
) -> Result<Action, Error> {
    let name = bucket.bucket_name().to_owned();
    if let Some(v) = bucket.violations().first() {
        return Ok(blocked(draft, r, v.reason(), v.to_string()));
    }
    let Some(cluster) = resolve_cluster(bucket, namespace, r, draft).await? else {
        return Ok(Action::requeue(r.ctx.config.resync()));
    };

    // Health needs only the statistics cache: publish it whatever happens next.
    let stats = r.ctx.stats.get(&cluster_key(&cluster));
    let health = bucket_health(
        stats.as_deref(),
        &bucket.spec.groups,
        &ReplicaThresholds::default(),
    );
    health.publish(&r.ctx.metrics, namespace, &bucket.name_any());
    let placement = PlacementSummary {
        selectable: bucket.spec.auto_select.selectable()
            && health.groups_healthy.status != ConditionStatus::False,
        free_bytes: health.free_bytes,
        weight: bucket
            .spec
            .auto_select
            .enabled
            .then(|| bucket.spec.auto_select.effective_weight()),
    };
    let due = r
        .numbers_written
        .due(&object_key(bucket), r.ctx.config.status_interval());
    draft.set_health(&health, placement, due);

    let now = unix_now();
    let policies = match resolve_policies(bucket, namespace, r).await? {
        Ok(p) => p,
        Err((reason, message)) => return Ok(blocked(draft, r, reason, message)),
    };
    let users = match desired::resolve_users(&policies, now) {
        Ok(u) => u,
        Err(e) => return Ok(blocked(draft, r, e.reason(), e.to_string())),
    };

    let client = match r.ctx.storage.client(&cluster).await {
        Ok(c) => c,
        Err(e) => {
            draft.set(
                types::SYNCED,
                ConditionStatus::False,
                reasons::CLUSTER_NOT_READY,
                e.to_string(),
            );
            return Err(e.into());
        }
    };
    let store = MetadataStore::new(&client, cluster.spec.metadata_groups.clone());

    let copies = store.read_bucket_copies(&name).await;
    let lock = r
        .locks
        .lock_for(&format!("{}/{name}", cluster_key(&cluster)));
    let guard = lock.lock().await;
    if let Some((reason, message)) =
        take_ownership(bucket, namespace, &name, &store, &copies, r, now).await?
    {
        drop(guard);
        draft.set(
            types::CONFLICT,
            ConditionStatus::True,
            reason,
            message.clone(),
        );
        return Ok(blocked(draft, r, reason, message));
    }
    drop(guard);
    draft.set(
        types::CONFLICT,
        ConditionStatus::False,
        reasons::NO_CONFLICT,
        "",
    );

    let write = write_records(bucket, &name, &cluster, &store, &copies, &users, draft, r).await;
    if let Err(e) = write {
        draft.set(
            types::SYNCED,
            ConditionStatus::False,
            reasons::METADATA_WRITE_FAILED,
            e.to_string(),
        );
        return Err(e);
    }
    // The directory (RIFT) the spec names: membership record and member lists.
    if let Err(e) = store
        .move_to_directory(&name, bucket.spec.directory.as_deref(), true)
        .await
    {
        draft.set(
            types::SYNCED,
            ConditionStatus::False,
            reasons::METADATA_WRITE_FAILED,
            format!("bucket directory: {e}"),
        );
        return Err(e.into());
    }
    // The key index's count, at most once per status interval (it costs a few reads).
    if due || draft.status.usage.is_none() {
        draft.set_usage(index_usage(&client, &name, &bucket.spec.groups).await);
    }
    draft.status.bucket_name = Some(name);
    draft.set(
        types::DELETION_BLOCKED,
        ConditionStatus::False,
        reasons::NOT_BLOCKED,
        match bucket.spec.deletion_protection {
            true => "deletionProtection is on: deleting the Bucket will be refused",
            false => "",
        },
    );
    let mut requeue = r.ctx.config.resync();
    if let Some(expiry) = desired::next_alias_expiry(&users) {
        requeue = requeue.min(Duration::from_secs(expiry.saturating_sub(now) + 1));
    }
    Ok(Action::requeue(requeue))
}

/// How long counting a bucket's objects may take in a reconcile.
const USAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// Objects and bytes of bucket `name` (in `groups`) from its key index; `None` when the
/// index could not be read in time (the status keeps its last count).
async fn index_usage(client: &elliptics::Client, name: &str, groups: &[u32]) -> Option<(u64, u64)> {
    let session = client
        .session()
        .groups(groups.to_vec())
        .namespace(name.as_bytes());
    let index = BucketIndex::new(&session, IndexOptions::default());
    match tokio::time::timeout(USAGE_TIMEOUT, index.usage()).await {
        Ok(Ok(u)) => Some((u.objects, u.bytes)),
        Ok(Err(e)) => {
            tracing::info!(bucket = name, error = %e, "object count unavailable");
            None
        }
        Err(_) => {
            tracing::info!(bucket = name, "object count timed out");
            None
        }
    }
}

/// Checks or takes the ownership record; `Some((reason, message))` on a conflict.
async fn take_ownership(
    bucket: &Bucket,
    namespace: &str,
    name: &str,
    store: &MetadataStore,
    copies: &[(u32, GroupCopy)],
    r: &Reconciler,
    now: u64,
) -> Result<Option<(&'static str, String)>, Error> {
    let me = r.owner_record(bucket, namespace, now)?;
    let record = match store.read_record::<OwnerRecord>(name).await {
        Ok(rec) => rec,
        Err(crate::metadata::MetadataError::Malformed { reason, .. }) => {
            return Ok(Some((
                reasons::OWNED_BY_OTHER,
                format!("unreadable ownership record: {reason}"),
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let exists = copies
        .iter()
        .any(|(_, c)| matches!(c, GroupCopy::Present(_)));
    if record.is_none() && !exists {
        if let Some((g, GroupCopy::Unreadable(e))) = copies
            .iter()
            .find(|(_, c)| matches!(c, GroupCopy::Unreadable(_)))
        {
            // Cannot tell whether unmanaged metadata exists: do not claim blindly.
            return Err(Error::Metadata(crate::metadata::MetadataError::Partial {
                namespace: backrunner_store::bucket::METADATA_NAMESPACE,
                key: name.to_owned(),
                failed: vec![(*g, e.clone())],
            }));
        }
    }
    let adopt = bucket
        .annotations()
        .get(ADOPT_ANNOTATION)
        .is_some_and(|v| v == "true");
    let mut decision = ownership::decide(record.as_ref(), exists, &me, adopt);
    if let OwnershipDecision::CheckOther(other) = &decision {
        let api: Api<Bucket> = Api::namespaced(r.ctx.client.clone(), &other.namespace);
        let live = api.get_opt(&other.name).await?;
        decision =
            ownership::decide_after_lookup(other, live.as_ref().and_then(|b| b.uid()).as_deref());
    }
    match decision {
        OwnershipDecision::Owned => Ok(None),
        OwnershipDecision::Conflict { reason, message } => Ok(Some((reason, message))),
        OwnershipDecision::CheckOther(_) => Ok(Some((
            reasons::OWNED_BY_OTHER,
            "owner check did not settle".into(),
        ))),
        OwnershipDecision::Claim(why) => {
            store.write_record(name, &me).await.check()?;
            // Another install may have written at the same moment: the record read back wins.
            let back = store.read_record::<OwnerRecord>(name).await?;
            if back.as_ref().is_some_and(|b| !b.is_same_owner(&me)) {
                let other = back.map(|b| b.describe()).unwrap_or_default();
                return Ok(Some((
                    reasons::OWNED_BY_OTHER,
                    format!("lost an ownership race to {other}"),
                )));
            }
            let note = format!("took ownership of Elliptics bucket {name} ({why:?})");
            events::publish(
                &r.recorder,
                bucket,
                false,
                event_reasons::OWNERSHIP_CLAIMED,
                note,
            )
            .await;
            Ok(None)
        }
    }
}

/// Writes what differs: alias record, metadata (drift correction), bucket list.
#[allow(clippy::too_many_arguments)]
async fn write_records(
    bucket: &Bucket,
    name: &str,
    cluster: &EllipticsCluster,
    store: &MetadataStore,
    copies: &[(u32, GroupCopy)],
    users: &[ResolvedUser],
    draft: &mut StatusDraft,
    r: &Reconciler,
) -> Result<(), Error> {
    let meta = desired::build_metadata(name, &bucket.spec, users);
    let digest = desired::metadata_digest(&meta);
    let bytes = meta.encode();
    let aliases = desired::build_aliases(users);
    let stored_aliases = store
        .read_record::<TokenAliases>(name)
        .await
        .unwrap_or(None);

    if !aliases.is_empty() && stored_aliases.as_ref() != Some(&aliases) {
        store.write_record(name, &aliases).await.check()?;
        let who: Vec<&String> = aliases.users.keys().collect();
        let note = format!("previous tokens of {who:?} accepted until their overlap ends");
        aliases_updated(r, bucket, note).await;
    }

    let stale: Vec<u32> = copies
        .iter()
        .filter(|(_, c)| !matches!(c, GroupCopy::Present(b) if *b == bytes))
        .map(|(g, _)| *g)
        .collect();
    if !stale.is_empty() {
        let previous = draft.original().and_then(|s| s.metadata_digest.clone());
        let drift = previous.as_deref() == Some(digest.as_str());
        store.write_bucket(&meta).await.check()?;
        let (reason, warning, note) = match drift {
            true => (
                event_reasons::DRIFT_CORRECTED,
                true,
                format!("metadata in groups {stale:?} differed from the spec; rewritten"),
            ),
            false => (
                event_reasons::METADATA_WRITTEN,
                false,
                format!(
                    "metadata written to groups {:?} (digest {})",
                    store.groups(),
                    &digest[..12]
                ),
            ),
        };
        events::publish(&r.recorder, bucket, warning, reason, note).await;
        let kind = if drift { "drift_corrected" } else { "written" };
        r.ctx
            .metrics
            .bucket_metadata_writes
            .with_label_values(&[kind])
            .inc();
        let condition_reason = if drift {
            reasons::DRIFT_CORRECTED
        } else {
            reasons::METADATA_WRITTEN
        };
        draft.set(
            types::SYNCED,
            ConditionStatus::True,
            condition_reason,
            format!("digest {digest}"),
        );
    } else {
        // In sync: keep the reason of the last write (MetadataWritten or DriftCorrected).
        let reason = match draft.reason(types::SYNCED) {
            Some(reasons::DRIFT_CORRECTED) if draft.is_true(types::SYNCED) => {
                reasons::DRIFT_CORRECTED
            }
            _ => reasons::METADATA_WRITTEN,
        };
        draft.set(
            types::SYNCED,
            ConditionStatus::True,
            reason,
            format!("digest {digest}"),
        );
    }

    if aliases.is_empty() && stored_aliases.is_some() {
        store.remove_record::<TokenAliases>(name).await.check()?;
        let note = "token rotation overlap over: previous tokens no longer accepted".to_owned();
        aliases_updated(r, bucket, note).await;
    }

    if let Some(key) = cluster
        .spec
        .bucket_list_key
        .as_deref()
        .filter(|k| !k.is_empty())
    {
        if store.add_to_list(key, name).await? {
            let note = format!("added to bucket list {key}");
            events::publish(&r.recorder, bucket, false, event_reasons::LISTED, note).await;
        }
    }
    draft.status.metadata_digest = Some(digest);
    draft.status.acl_users = desired::acl_summary(&meta, users);
    Ok(())
}

/// Publishes a TokenAliasesUpdated event on `bucket` with `note`.
async fn aliases_updated(r: &Reconciler, bucket: &Bucket, note: String) {
    events::publish(
        &r.recorder,
        bucket,
        false,
        event_reasons::TOKEN_ALIASES_UPDATED,
        note,
    )
    .await;
}
