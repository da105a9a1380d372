//! The statistics poller: MONITOR_STAT of every node of every `EllipticsCluster`, every
//! `stats_interval_seconds`, kept per cluster in [`StatsCache`] for the controllers and
//! published in full detail to Prometheus (per backend: free, used, removed bytes, records,
//! removed records, defrag state, read-only, error; labels cluster/group/node/backend).
//!
//! Deleted clusters are forgotten on the next round: their cache entry, Elliptics client,
//! placement reports and metric series.
//!
//! The cache and its types live below, in [`crate::stats_cache`] (re-exported here), so
//! that the [`Context`] and the health rules use them without depending on the poller.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use backrunner_crds::EllipticsCluster;
use elliptics::proto::NodeAddr;
use elliptics::stats::MonitorCategories;
use kube::Api;

use crate::context::{Context, StorageClients, cluster_key};
use crate::health::backend_free_bytes;
use crate::metrics::{Metrics, clamp};
pub use crate::stats_cache::{BackendSample, ClusterStats, StatsCache};

/// Metric series published per cluster, to remove those of vanished backends.
#[derive(Default)]
struct Series {
    per_cluster: Mutex<HashMap<String, HashSet<[String; 4]>>>,
}

impl Series {
    fn replace(&self, metrics: &Metrics, cluster: &str, now: HashSet<[String; 4]>) {
        let mut m = self
            .per_cluster
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = m
            .insert(cluster.to_string(), now.clone())
            .unwrap_or_default();
        for gone in old.difference(&now) {
            remove_series(metrics, gone);
        }
    }

    fn forget(&self, metrics: &Metrics, cluster: &str) {
        let mut m = self
            .per_cluster
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for gone in m.remove(cluster).unwrap_or_default() {
            remove_series(metrics, &gone);
        }
    }
}

fn remove_series(metrics: &Metrics, labels: &[String; 4]) {
    let l: Vec<&str> = labels.iter().map(String::as_str).collect();
    for g in [
        &metrics.backend_free_bytes,
        &metrics.backend_used_bytes,
        &metrics.backend_removed_bytes,
        &metrics.backend_records,
        &metrics.backend_removed_records,
        &metrics.backend_defrag_state,
        &metrics.backend_read_only,
        &metrics.backend_error,
    ] {
        let _ = g.remove_label_values(&l);
    }
}

/// Publishes one cluster's statistics; returns the label sets used.
fn publish(metrics: &Metrics, cluster: &str, stats: &ClusterStats) -> HashSet<[String; 4]> {
    let mut used = HashSet::new();
    for s in &stats.backends {
        let st = &s.stat;
        let labels = [
            cluster.to_string(),
            st.group.to_string(),
            s.node.to_string(),
            st.backend_id.to_string(),
        ];
        let l: Vec<&str> = labels.iter().map(String::as_str).collect();
        for (gauge, value) in [
            (&metrics.backend_free_bytes, clamp(backend_free_bytes(st))),
            (&metrics.backend_used_bytes, clamp(st.used_size)),
            (&metrics.backend_removed_bytes, clamp(st.removed_size)),
            (&metrics.backend_records, clamp(st.records_total)),
            (&metrics.backend_removed_records, clamp(st.records_removed)),
            (&metrics.backend_defrag_state, i64::from(st.defrag_state)),
            (&metrics.backend_read_only, i64::from(st.read_only)),
            (&metrics.backend_error, st.error_code),
        ] {
            gauge.with_label_values(&l).set(value);
        }
        used.insert(labels);
    }
    metrics
        .stats_unreachable_nodes
        .with_label_values(&[cluster])
        .set(clamp(stats.unreachable_nodes.len() as u64));
    used
}

/// Polls one cluster: every connected node, plus the route table's and configured nodes
/// that did not answer listed as unreachable.
pub async fn poll_cluster(
    storage: &StorageClients,
    cluster: &EllipticsCluster,
) -> Result<ClusterStats, String> {
    let client = storage.client(cluster).await.map_err(|e| e.to_string())?;
    let replies = client.monitor_stat(MonitorCategories::BACKRUNNER.0).await;
    let mut answered = BTreeSet::new();
    let mut backends = Vec::new();
    for (node, r) in replies {
        match r {
            Ok(report) => {
                answered.insert(node);
                backends.extend(
                    report
                        .backend_stats()
                        .into_iter()
                        .map(|stat| BackendSample { node, stat }),
                );
            }
            Err(e) => {
                tracing::warn!(cluster = %cluster_key(cluster), %node, error = %e, "statistics poll failed")
            }
        }
    }
    let mut expected: BTreeSet<NodeAddr> = client.route_table().nodes().into_iter().collect();
    expected.extend(client.config().remotes.iter().copied());
    let unreachable_nodes = expected.difference(&answered).copied().collect();
    Ok(ClusterStats {
        polled_at: SystemTime::now(),
        backends,
        unreachable_nodes,
    })
}

async fn list_clusters(ctx: &Context) -> Result<Vec<EllipticsCluster>, kube::Error> {
    let api: Api<EllipticsCluster> = if ctx.config.watch_namespace.is_empty() {
        Api::all(ctx.client.clone())
    } else {
        Api::namespaced(ctx.client.clone(), &ctx.config.watch_namespace)
    };
    Ok(api.list(&Default::default()).await?.items)
}

/// One round over every cluster; forgets clusters that are gone.
async fn round(ctx: &Context, series: &Series) -> Result<(), kube::Error> {
    let clusters = list_clusters(ctx).await?;
    let timeout = ctx.config.stats_interval().max(Duration::from_secs(5));
    let polls = clusters.iter().map(|c| async move {
        let key = cluster_key(c);
        let r = tokio::time::timeout(timeout, poll_cluster(&ctx.storage, c)).await;
        (key, c, r)
    });
    let results = futures_util::future::join_all(polls).await;
    let mut live = HashSet::new();
    for (key, cluster, r) in results {
        live.insert(key.clone());
        ctx.placement
            .set_cluster(&key, cluster.spec.placement.staleness_seconds);
        match r {
            Ok(Ok(stats)) => {
                ctx.metrics
                    .stats_polls
                    .with_label_values(&[&key, "ok"])
                    .inc();
                series.replace(&ctx.metrics, &key, publish(&ctx.metrics, &key, &stats));
                ctx.stats.put(&key, stats);
            }
            Ok(Err(e)) => {
                ctx.metrics
                    .stats_polls
                    .with_label_values(&[&key, "error"])
                    .inc();
                tracing::warn!(cluster = %key, error = %e, "statistics poll failed");
            }
            Err(_) => {
                ctx.metrics
                    .stats_polls
                    .with_label_values(&[&key, "timeout"])
                    .inc();
                tracing::warn!(cluster = %key, "statistics poll timed out");
            }
        }
    }
    for key in ctx.stats.keys().into_iter().chain(ctx.placement.clusters()) {
        if !live.contains(&key) {
            tracing::info!(cluster = %key, "cluster gone: forgetting its statistics");
            ctx.stats.remove(&key);
            ctx.placement.remove_cluster(&key);
            ctx.storage.forget_key(&key).await;
            series.forget(&ctx.metrics, &key);
        }
    }
    Ok(())
}

/// Polls every `stats_interval` until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl std::future::Future<Output = ()> + Send) {
    let series = Series::default();
    let mut tick = tokio::time::interval(ctx.config.stats_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        match round(&ctx, &series).await {
            Ok(()) => ctx.stats.round_done(),
            Err(e) => tracing::warn!(error = %e, "listing EllipticsClusters failed"),
        }
    }
}
