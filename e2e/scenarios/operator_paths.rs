//! Operator paths beyond the happy ones: a second Bucket naming an owned Elliptics bucket gets
//! Conflict=True (OwnedByOther) and its deletion leaves the bucket alone; metadata rewritten
//! behind the operator's back is written back (DriftCorrected); deletionProtection blocks
//! deletion until the force-release annotation lets it go.

use std::time::Duration;

use backrunner_crds::Bucket;
use backrunner_e2e::Result;
use backrunner_e2e::error::{E2eError, ensure};
use backrunner_e2e::resources::{conditions, wait_condition, wait_deleted};
use backrunner_e2e::wait::{Probe, wait_for};
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

use crate::support::{self, elliptics_name};

fn reason_of(b: &Bucket, type_: &str) -> String {
    conditions(b)
        .into_iter()
        .find(|(t, _, _)| t == type_)
        .map(|(_, _, r)| r)
        .unwrap_or_default()
}

#[tokio::test]
async fn conflict_drift_and_force_release() -> Result<()> {
    support::run_on_examples(async |system, apis| {
        let videos = apis.buckets.get("videos").await?;
        let name = elliptics_name(&videos);
        let store = support::metadata_store(system).await;
        let storage = |e: backrunner_store::MetadataError| E2eError::Check(format!("storage: {e}"));
        let original = store.read_bucket(&name).await.map_err(storage)?;
        ensure(original.is_some(), || format!("metadata of {name} missing"))?;

        // A second Bucket naming the same Elliptics bucket.
        let mut dup = Bucket::new("videos-dup", videos.spec.clone());
        dup.spec.bucket_name = Some(name.clone());
        apis.buckets.create(&PostParams::default(), &dup).await?;
        let d = wait_condition(&apis.buckets, "videos-dup", "Conflict", "True").await?;
        ensure(reason_of(&d, "Conflict") == "OwnedByOther", || {
            format!("{:?}", conditions(&d))
        })?;

        // Drift: someone rewrites the metadata; a reconcile writes it back.
        let mut changed = original.clone().unwrap_or_default();
        changed.max_size = 12345;
        store
            .write_bucket(&changed)
            .await
            .check()
            .map_err(storage)?;
        let poke = json!({"metadata": {"annotations": {"e2e.backrunner.io/poke": "1"}}});
        support::merge_patch(&apis.buckets, "videos", &poke).await?;
        wait_for(
            "the drifted metadata to be written back",
            Duration::from_secs(60),
            async || {
                let now = store.read_bucket(&name).await.map_err(storage)?;
                Ok(Probe::done_if(now == original, || format!("{now:?}")))
            },
        )
        .await?;
        wait_for(
            "Synced reason DriftCorrected",
            Duration::from_secs(30),
            async || {
                let b = apis.buckets.get("videos").await?;
                let r = reason_of(&b, "Synced");
                Ok(Probe::done_if(r == "DriftCorrected", || r))
            },
        )
        .await?;

        // Deleting the conflicting Bucket leaves the owned metadata alone.
        support::delete_bucket(apis, "videos-dup").await?;
        let after = store.read_bucket(&name).await.map_err(storage)?;
        ensure(after == original, || {
            format!("metadata after deleting the duplicate: {after:?}")
        })?;

        // deletionProtection blocks; the force-release annotation lets go.
        let protect = json!({"spec": {"deletionProtection": true}});
        support::merge_patch(&apis.buckets, "uploads", &protect).await?;
        wait_for(
            "deletionProtection observed",
            Duration::from_secs(30),
            async || {
                let b = apis.buckets.get("uploads").await?;
                let seen =
                    b.status.as_ref().and_then(|s| s.observed_generation) == b.metadata.generation;
                Ok(Probe::done_if(seen, || "generation".into()))
            },
        )
        .await?;
        apis.buckets
            .delete("uploads", &DeleteParams::default())
            .await?;
        let blocked = wait_condition(&apis.buckets, "uploads", "DeletionBlocked", "True").await?;
        ensure(
            reason_of(&blocked, "DeletionBlocked") == "DeletionProtected",
            || format!("{:?}", conditions(&blocked)),
        )?;
        let release = json!({"metadata": {"annotations": {"backrunner.io/force-release": "true"}}});
        support::merge_patch(&apis.buckets, "uploads", &release).await?;
        wait_deleted(&apis.buckets, "uploads").await
    })
    .await
}
