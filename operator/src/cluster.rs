//! The `EllipticsCluster` controller: Reachable (which remotes answered), MetadataWritable
//! (metadata groups in the route table, plus a probe write of a small key in namespace
//! `backrunner.probe` at most once per `status_interval`), Ready; the per-group summary of
//! the polled statistics (at most once per `status_interval` and only when a coarse value
//! moved), reporting proxies from the placement hub, and the defrag runs (its owned Jobs).
//!
//! Status is written with server-side apply (field manager [`FIELD_MANAGER`]) and only when
//! it changed; events mark condition transitions and defrag runs starting and ending.
//! Failed reconciles back off exponentially per object (5 s doubling up to 5 min) with the
//! shared [`crate::controller::FailureBackoff`].

pub mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use backrunner_crds::cluster::DefragResult;
use backrunner_crds::{EllipticsCluster, EllipticsClusterStatus};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::chrono::Utc;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::watcher;
use serde_json::json;

use crate::context::{Context, cluster_key, resolve_remote};
use crate::controller::backoff::{BACKOFF_MAX, CLUSTER_BACKOFF_BASE};
use crate::controller::{FailureBackoff, events, scoped_api};
use crate::defrag;
use crate::health::ConditionValue;
use crate::placement::now_ms;
use status::{Reach, apply_condition, metadata_writable, reachable, ready};

/// Field manager of the status this controller applies.
pub const FIELD_MANAGER: &str = "backrunner-operator/cluster";
/// Namespace of the probe key written to the metadata groups.
pub const PROBE_NAMESPACE: &str = "backrunner.probe";

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A Kubernetes API call failed.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
}

/// Failed groups of a probe write (group, error), and when it was made.
type ProbeResult = (Instant, Vec<(u32, String)>);

/// Controller name in metrics and logs.
pub const CONTROLLER: &str = "cluster";

/// Controller state beyond [`Context`]: probe results and backoff per cluster.
pub struct ClusterController {
    ctx: Arc<Context>,
    recorder: Recorder,
    probes: Mutex<HashMap<String, ProbeResult>>,
    backoff: FailureBackoff,
}

impl ClusterController {
    /// A controller over the shared context.
    pub fn new(ctx: Arc<Context>) -> ClusterController {
        ClusterController {
            recorder: Recorder::new(ctx.client.clone(), ctx.reporter.clone()),
            ctx,
            probes: Mutex::new(HashMap::new()),
            backoff: FailureBackoff::new(CLUSTER_BACKOFF_BASE, BACKOFF_MAX),
        }
    }

    async fn event(&self, obj: &EllipticsCluster, warning: bool, reason: &str, note: String) {
        events::publish(&self.recorder, obj, warning, reason, note).await;
    }

    /// Reachability of the cluster and the groups in its route table.
    async fn check_storage(
        &self,
        obj: &EllipticsCluster,
    ) -> (Reach, Option<Vec<u32>>, Option<elliptics::Client>) {
        let client = match self.ctx.storage.client(obj).await {
            Ok(c) => c,
            Err(e) => return (Reach::Down(e.to_string()), None, None),
        };
        let live = client.nodes();
        let (mut answered, mut silent) = (Vec::new(), Vec::new());
        for remote in &obj.spec.remotes {
            let ok = resolve_remote(remote)
                .await
                .is_ok_and(|addrs| addrs.iter().any(|a| live.contains(a)));
            if ok {
                answered.push(remote.clone());
            } else {
                silent.push(remote.clone());
            }
        }
        let reach = if answered.is_empty() && live.is_empty() {
            Reach::Down(format!("no remote answered: {}", silent.join(", ")))
        } else {
            Reach::Up {
                answered,
                silent,
                nodes: live.len(),
            }
        };
        (reach, Some(client.route_table().groups()), Some(client))
    }

    /// Probe write to every metadata group, at most once per status interval; failures by group.
    async fn probe(
        &self,
        obj: &EllipticsCluster,
        client: &elliptics::Client,
    ) -> Vec<(u32, String)> {
        let key = cluster_key(obj);
        let interval = self.ctx.config.status_interval();
        if let Some((at, result)) = self
            .probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            if at.elapsed() < interval {
                return result.clone();
            }
        }
        let groups = obj.spec.metadata_groups.clone();
        let body = format!("{} {}", self.ctx.config.install_id, Utc::now().to_rfc3339());
        let probe_key = format!("probe/{}", self.ctx.config.install_id);
        let session = client
            .session()
            .groups(groups.clone())
            .namespace(PROBE_NAMESPACE);
        let failed: Vec<(u32, String)> = match session
            .write(probe_key.as_bytes(), body.as_bytes(), body.len() as u64, 0)
            .await
        {
            Ok(outcome) => outcome
                .failed()
                .into_iter()
                .map(|r| {
                    let e = r
                        .result
                        .as_ref()
                        .err()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    (r.group, e)
                })
                .collect(),
            Err(e) => groups.iter().map(|g| (*g, e.to_string())).collect(),
        };
        self.probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (Instant::now(), failed.clone()));
        failed
    }

    async fn reconcile_inner(&self, obj: &EllipticsCluster) -> Result<Action, ClusterError> {
        let ctx = &self.ctx;
        let key = cluster_key(obj);
        let now = Utc::now();
        let generation = obj.metadata.generation;
        ctx.placement
            .set_cluster(&key, obj.spec.placement.staleness_seconds);

        let current = obj.status.clone().unwrap_or_default();
        let mut next = current.clone();
        next.observed_generation = generation;

        let (reach, routed, client) = self.check_storage(obj).await;
        let probe = match &client {
            Some(c)
                if routed
                    .as_ref()
                    .is_some_and(|r| obj.spec.metadata_groups.iter().all(|g| r.contains(g))) =>
            {
                Some(self.probe(obj, c).await)
            }
            _ => None,
        };
        let reachable = reachable(&reach);
        let metadata = metadata_writable(
            &obj.spec.metadata_groups,
            routed.as_deref(),
            probe.as_deref(),
        );
        let ready = ready(&reachable, &metadata);
        let mut transitions: Vec<ConditionValue> = Vec::new();
        for c in [&reachable, &metadata, &ready] {
            if apply_condition(&mut next, c, generation, now) {
                transitions.push(c.clone());
            }
        }

        let stats = ctx.stats.get(&key);
        if let Some(stats) = &stats {
            let groups = status::summarize_groups(stats, routed.as_deref().unwrap_or_default());
            let last = current.last_stats_time.as_ref().map(|t| t.0);
            if status::should_update_groups(
                &current.groups,
                &groups,
                last,
                now,
                ctx.config.status_interval(),
            ) {
                next.groups = groups;
                next.last_stats_time = Some(backrunner_crds::condition::Time(now));
            }
        }
        next.reporting_proxies = ctx.placement.reporting_proxies(&key, now_ms());
        ctx.metrics
            .placement_proxies
            .with_label_values(&[&key])
            .set(f64::from(next.reporting_proxies));

        let defrag =
            defrag::runs::reconcile(ctx, obj, stats.as_deref(), &current.defrag_runs, now).await?;
        next.defrag_runs = defrag.runs.clone();

        if next != current {
            self.write_status(obj, &next).await?;
        }
        for c in &transitions {
            let reason = format!("{}{}", c.type_, c.status.as_str());
            self.event(
                obj,
                c.is_warning(),
                &reason,
                format!("{}: {}", c.reason, c.message),
            )
            .await;
        }
        for r in &defrag.started {
            let note = format!(
                "defragmenting backend {} of {} (group {}) in Job {}",
                r.backend, r.remote, r.group, r.job_name
            );
            self.event(obj, false, "DefragStarted", note).await;
        }
        for r in &defrag.finished {
            let ok = r.result == DefragResult::Succeeded;
            let note = format!(
                "defragmentation of backend {} of {} (group {}) {:?} (Job {})",
                r.backend, r.remote, r.group, r.result, r.job_name
            );
            self.event(
                obj,
                !ok,
                if ok {
                    "DefragSucceeded"
                } else {
                    "DefragFailed"
                },
                note,
            )
            .await;
        }
        Ok(Action::requeue(ctx.config.stats_interval()))
    }

    async fn write_status(
        &self,
        obj: &EllipticsCluster,
        status: &EllipticsClusterStatus,
    ) -> Result<(), ClusterError> {
        let api: Api<EllipticsCluster> = Api::namespaced(
            self.ctx.client.clone(),
            &obj.namespace().unwrap_or_default(),
        );
        let patch = json!({
            "apiVersion": backrunner_crds::API_VERSION,
            "kind": "EllipticsCluster",
            "status": status,
        });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
        Ok(())
    }
}

async fn reconcile(
    obj: Arc<EllipticsCluster>,
    cx: Arc<ClusterController>,
) -> Result<Action, ClusterError> {
    let start = Instant::now();
    let r = cx.reconcile_inner(&obj).await;
    let m = &cx.ctx.metrics;
    m.observe_reconcile(CONTROLLER, start);
    m.count_reconcile(CONTROLLER, if r.is_ok() { "ok" } else { "error" });
    if r.is_ok() {
        cx.backoff.succeeded(&cluster_key(&obj));
    }
    r
}

fn error_policy(
    obj: Arc<EllipticsCluster>,
    err: &ClusterError,
    cx: Arc<ClusterController>,
) -> Action {
    let key = cluster_key(&obj);
    let delay = cx.backoff.failed(&key);
    tracing::warn!(cluster = %key, error = %err, retry_in = ?delay, "EllipticsCluster reconcile failed");
    Action::requeue(delay)
}

/// Runs the controller (watching EllipticsClusters and their Jobs) until `shutdown`.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let ns = ctx.config.watch_namespace.clone();
    let clusters: Api<EllipticsCluster> = scoped_api(&ctx.client, &ns);
    let jobs: Api<Job> = scoped_api(&ctx.client, &ns);
    let job_filter = watcher::Config::default().labels(&format!(
        "{}=defrag,{}={}",
        defrag::job::LABEL_COMPONENT,
        defrag::job::LABEL_MANAGED_BY,
        defrag::job::MANAGED_BY
    ));
    let cx = Arc::new(ClusterController::new(ctx));
    let controller = Controller::new(clusters, watcher::Config::default()).owns(jobs, job_filter);
    crate::controller::run::run(
        CONTROLLER,
        controller,
        reconcile,
        error_policy,
        cx,
        shutdown,
    )
    .await;
}

#[cfg(test)]
mod tests;
