//! The defrag step of an `EllipticsCluster` reconcile: read the cluster's Jobs back into
//! runs, note runs that finished since the last status, plan new runs from the latest
//! statistics and the groups of the cluster's Buckets, create their Jobs, and delete old
//! finished Jobs beyond a small history.

use std::time::Duration;

use backrunner_crds::cluster::{DefragResult, DefragRun};
use backrunner_crds::{Bucket, EllipticsCluster};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::chrono::{DateTime, Timelike, Utc};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use super::job::{build_job, finished_at, run_of, runs_for_status, selector};
use super::{Busy, PlanInput, candidates, plan};
use crate::context::Context;
use crate::stats_cache::ClusterStats;

/// Finished Jobs kept in the API (older ones are deleted with their pods).
pub const KEEP_FINISHED_JOBS: usize = 5;
/// A failed run's backend is not retried for this long.
pub const FAILED_RETRY_DELAY: Duration = Duration::from_secs(600);

/// What the step did, for status and events.
#[derive(Clone, Debug, Default)]
pub struct DefragOutcome {
    /// Runs for the status (bounded).
    pub runs: Vec<DefragRun>,
    /// Runs started by this step.
    pub started: Vec<DefragRun>,
    /// Runs seen finished since the previous status.
    pub finished: Vec<DefragRun>,
}

/// Groups of every Bucket that references `cluster`.
pub async fn bucket_groups(
    ctx: &Context,
    cluster: &EllipticsCluster,
) -> Result<Vec<Vec<u32>>, kube::Error> {
    let api: Api<Bucket> = if ctx.config.watch_namespace.is_empty() {
        Api::all(ctx.client.clone())
    } else {
        Api::namespaced(ctx.client.clone(), &ctx.config.watch_namespace)
    };
    let ns = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|b| {
            let bucket_ns = b.namespace().unwrap_or_default();
            b.spec.cluster_ref.name == name
                && b.spec
                    .cluster_ref
                    .namespace
                    .as_deref()
                    .unwrap_or(&bucket_ns)
                    == ns
        })
        .map(|b| b.spec.groups)
        .collect())
}

fn busy_from(runs: &[DefragRun], now: DateTime<Utc>, cooldown: Duration) -> Busy {
    let mut busy = Busy::default();
    for r in runs {
        let node = r.remote.clone();
        let backend = i32::try_from(r.backend).unwrap_or(i32::MAX);
        if r.result == DefragResult::Running {
            busy.running.push((node, backend, r.group));
            continue;
        }
        let delay = if r.result == DefragResult::Failed {
            FAILED_RETRY_DELAY
        } else {
            cooldown
        };
        let recent = finished_at(r).is_none_or(|t| {
            now.signed_duration_since(t)
                .to_std()
                .map_or(true, |age| age < delay)
        });
        if recent {
            busy.cooling.push((node, backend));
        }
    }
    busy
}

/// Runs the defrag step for `cluster` (`previous` = runs in its current status).
pub async fn reconcile(
    ctx: &Context,
    cluster: &EllipticsCluster,
    stats: Option<&ClusterStats>,
    previous: &[DefragRun],
    now: DateTime<Utc>,
) -> Result<DefragOutcome, kube::Error> {
    let ns = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let key = format!("{ns}/{name}");
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let mut listed = jobs
        .list(&ListParams::default().labels(&selector(&name)))
        .await?
        .items;
    let mut runs: Vec<DefragRun> = listed.iter().filter_map(run_of).collect();
    let mut out = DefragOutcome::default();
    for r in &runs {
        let was_running = previous
            .iter()
            .any(|p| p.job_name == r.job_name && p.result == DefragResult::Running);
        if was_running && r.result != DefragResult::Running {
            let result = if r.result == DefragResult::Succeeded {
                "succeeded"
            } else {
                "failed"
            };
            ctx.metrics
                .defrag_finished
                .with_label_values(&[&key, result])
                .inc();
            out.finished.push(r.clone());
        }
    }

    if let Some(stats) = stats {
        let cooldown = ctx.config.stats_interval() * 2;
        let busy = busy_from(&runs, now, cooldown);
        let buckets = bucket_groups(ctx, cluster).await?;
        let cands = candidates(stats);
        let minute = now.hour() * 60 + now.minute();
        let input = PlanInput {
            policy: &cluster.spec.defrag_policy,
            minute_of_day: minute,
            candidates: &cands,
            busy: &busy,
            buckets: &buckets,
        };
        match plan(&input) {
            Err(skip) => tracing::debug!(cluster = %key, ?skip, "no defrag runs start"),
            Ok(chosen) => {
                for c in chosen {
                    let job = build_job(cluster, &c, &ctx.config.defrag_image, now);
                    match jobs.create(&PostParams::default(), &job).await {
                        Ok(created) => {
                            tracing::info!(cluster = %key, node = %c.node, backend = c.backend, group = c.group,
                                removed_ratio = c.removed_ratio, job = %created.name_any(), "defrag run started");
                            ctx.metrics.defrag_started.with_label_values(&[&key]).inc();
                            if let Some(run) = run_of(&created) {
                                out.started.push(run.clone());
                                runs.push(run);
                            }
                            listed.push(created);
                        }
                        Err(kube::Error::Api(s)) if s.code == 409 => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    // History: delete finished Jobs beyond the newest few.
    let mut finished: Vec<&Job> = listed
        .iter()
        .filter(|j| run_of(j).is_some_and(|r| r.result != DefragResult::Running))
        .collect();
    finished.sort_by_key(|j| std::cmp::Reverse(j.metadata.creation_timestamp.clone().map(|t| t.0)));
    let dp = DeleteParams::background();
    for j in finished.into_iter().skip(KEEP_FINISHED_JOBS) {
        let job_name = j.name_any();
        match jobs.delete(&job_name, &dp).await {
            Ok(_) => tracing::debug!(cluster = %key, job = %job_name, "old defrag Job deleted"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                tracing::warn!(cluster = %key, job = %job_name, error = %e, "deleting old defrag Job failed")
            }
        }
    }

    let running = runs
        .iter()
        .filter(|r| r.result == DefragResult::Running)
        .count();
    ctx.metrics
        .defrag_running
        .with_label_values(&[&key])
        .set(i64::try_from(running).unwrap_or(i64::MAX));
    out.runs = runs_for_status(runs);
    Ok(out)
}
