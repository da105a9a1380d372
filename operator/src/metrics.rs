//! Prometheus metrics of the operator: reconciles by controller and result, node statistics
//! in full detail, replica health and the exact per-group numbers of every bucket (status
//! carries them coarse), defrag runs, placement reports and leadership.
//!
//! A leaf module: the code that knows a value sets its gauge (for a bucket's health,
//! `health::BucketHealth::publish`).

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Labels of the per-backend statistics gauges.
pub const BACKEND_LABELS: [&str; 4] = ["cluster", "group", "node", "backend"];

/// Every metric family of the operator, registered in one [`Registry`].
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// `backrunner_operator_reconciles_total{controller, result}`.
    pub reconciles: IntCounterVec,
    /// `backrunner_operator_reconcile_duration_seconds{controller}`.
    pub reconcile_duration: HistogramVec,
    /// `backrunner_operator_backend_free_bytes{cluster, group, node, backend}`.
    pub backend_free_bytes: IntGaugeVec,
    /// `backrunner_operator_backend_used_bytes{...}` (blob sizes, removed records included).
    pub backend_used_bytes: IntGaugeVec,
    /// `backrunner_operator_backend_removed_bytes{...}`.
    pub backend_removed_bytes: IntGaugeVec,
    /// `backrunner_operator_backend_records{...}` (records_total).
    pub backend_records: IntGaugeVec,
    /// `backrunner_operator_backend_removed_records{...}`.
    pub backend_removed_records: IntGaugeVec,
    /// `backrunner_operator_backend_defrag_state{...}` (0 = not running).
    pub backend_defrag_state: IntGaugeVec,
    /// `backrunner_operator_backend_read_only{...}` (1 = read-only).
    pub backend_read_only: IntGaugeVec,
    /// `backrunner_operator_backend_error{...}` (the backend's error code, 0 = none).
    pub backend_error: IntGaugeVec,
    /// `backrunner_operator_stats_polls_total{cluster, result}`.
    pub stats_polls: IntCounterVec,
    /// `backrunner_operator_stats_unreachable_nodes{cluster}`.
    pub stats_unreachable_nodes: IntGaugeVec,
    /// `backrunner_operator_bucket_replicas_in_sync{namespace, bucket}` (1 true, 0 false, -1 unknown).
    pub bucket_replicas_in_sync: IntGaugeVec,
    /// `backrunner_operator_bucket_groups_healthy{namespace, bucket}` (1, 0, -1).
    pub bucket_groups_healthy: IntGaugeVec,
    /// `backrunner_operator_bucket_group_live_records{namespace, bucket, group}`.
    pub bucket_group_live_records: IntGaugeVec,
    /// `backrunner_operator_bucket_group_live_bytes{namespace, bucket, group}` (used - removed).
    pub bucket_group_live_bytes: IntGaugeVec,
    /// `backrunner_operator_bucket_group_free_bytes{namespace, bucket, group}`.
    pub bucket_group_free_bytes: IntGaugeVec,
    /// `backrunner_operator_bucket_free_bytes{namespace, bucket}` (fullest group).
    pub bucket_free_bytes: IntGaugeVec,
    /// `backrunner_operator_defrag_runs_started_total{cluster}`.
    pub defrag_started: IntCounterVec,
    /// `backrunner_operator_defrag_runs_finished_total{cluster, result}`.
    pub defrag_finished: IntCounterVec,
    /// `backrunner_operator_defrag_runs_running{cluster}`.
    pub defrag_running: IntGaugeVec,
    /// `backrunner_operator_placement_reports_total{result}`.
    pub placement_reports: IntCounterVec,
    /// `backrunner_operator_placement_reporting_proxies{cluster}`.
    pub placement_proxies: GaugeVec,
    /// `backrunner_operator_leader` (1 on the replica that leads).
    pub leader: IntGauge,
    /// `backrunner_operator_bucket_metadata_writes_total{kind}` (written, drift_corrected, removed).
    pub bucket_metadata_writes: IntCounterVec,
    /// `backrunner_operator_token_changes_total{kind}` (created, rotated, overlap_ended).
    pub token_changes: IntCounterVec,
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

/// A condition status as a gauge value: True 1, False 0, Unknown -1.
pub fn tri(status: backrunner_crds::ConditionStatus) -> i64 {
    match status {
        backrunner_crds::ConditionStatus::True => 1,
        backrunner_crds::ConditionStatus::False => 0,
        backrunner_crds::ConditionStatus::Unknown => -1,
    }
}

/// A `u64` as a gauge value (saturating at `i64::MAX`).
pub fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    /// Records the duration of one reconcile of `controller` that started at `started`.
    pub fn observe_reconcile(&self, controller: &str, started: std::time::Instant) {
        self.reconcile_duration
            .with_label_values(&[controller])
            .observe(started.elapsed().as_secs_f64());
    }

    /// Counts one reconcile of `controller` ending with `result` (`ok` or an error label).
    pub fn count_reconcile(&self, controller: &str, result: &str) {
        self.reconciles
            .with_label_values(&[controller, result])
            .inc();
    }

    /// Creates and registers every family.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let r = Registry::new();
        let reconciles = counter(
            &r,
            "backrunner_operator_reconciles_total",
            "Reconciles by controller and result (ok or an error label)",
            &["controller", "result"],
        )?;
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new(
                "backrunner_operator_reconcile_duration_seconds",
                "Reconcile duration by controller",
            ),
            &["controller"],
        )?;
        r.register(Box::new(reconcile_duration.clone()))?;
        let b = &BACKEND_LABELS;
        let p = "backrunner_operator_backend_";
        Ok(Metrics {
            reconciles,
            reconcile_duration,
            backend_free_bytes: gauge(&r, &format!("{p}free_bytes"), "Free bytes of a backend", b)?,
            backend_used_bytes: gauge(
                &r,
                &format!("{p}used_bytes"),
                "Used bytes of a backend (removed records included)",
                b,
            )?,
            backend_removed_bytes: gauge(
                &r,
                &format!("{p}removed_bytes"),
                "Bytes of removed records of a backend",
                b,
            )?,
            backend_records: gauge(&r, &format!("{p}records"), "Records of a backend", b)?,
            backend_removed_records: gauge(
                &r,
                &format!("{p}removed_records"),
                "Removed records of a backend",
                b,
            )?,
            backend_defrag_state: gauge(
                &r,
                &format!("{p}defrag_state"),
                "Defragmentation state of a backend (0 = not running)",
                b,
            )?,
            backend_read_only: gauge(&r, &format!("{p}read_only"), "1 when read-only", b)?,
            backend_error: gauge(&r, &format!("{p}error"), "Backend error code (0 = none)", b)?,
            stats_polls: counter(
                &r,
                "backrunner_operator_stats_polls_total",
                "Statistics polls by cluster and result",
                &["cluster", "result"],
            )?,
            stats_unreachable_nodes: gauge(
                &r,
                "backrunner_operator_stats_unreachable_nodes",
                "Nodes that did not answer the last statistics poll",
                &["cluster"],
            )?,
            bucket_replicas_in_sync: gauge(
                &r,
                "backrunner_operator_bucket_replicas_in_sync",
                "ReplicasInSync of a bucket: 1 true, 0 false, -1 unknown",
                &["namespace", "bucket"],
            )?,
            bucket_groups_healthy: gauge(
                &r,
                "backrunner_operator_bucket_groups_healthy",
                "GroupsHealthy of a bucket: 1 true, 0 false, -1 unknown",
                &["namespace", "bucket"],
            )?,
            bucket_group_live_records: gauge(
                &r,
                "backrunner_operator_bucket_group_live_records",
                "Live records per group of a bucket",
                &["namespace", "bucket", "group"],
            )?,
            bucket_group_live_bytes: gauge(
                &r,
                "backrunner_operator_bucket_group_live_bytes",
                "Live bytes (used minus removed) per group of a bucket",
                &["namespace", "bucket", "group"],
            )?,
            bucket_group_free_bytes: gauge(
                &r,
                "backrunner_operator_bucket_group_free_bytes",
                "Free bytes per group of a bucket",
                &["namespace", "bucket", "group"],
            )?,
            bucket_free_bytes: gauge(
                &r,
                "backrunner_operator_bucket_free_bytes",
                "Free bytes of the fullest group of a bucket",
                &["namespace", "bucket"],
            )?,
            defrag_started: counter(
                &r,
                "backrunner_operator_defrag_runs_started_total",
                "Defragmentation Jobs created",
                &["cluster"],
            )?,
            defrag_finished: counter(
                &r,
                "backrunner_operator_defrag_runs_finished_total",
                "Defragmentation Jobs seen finished, by result",
                &["cluster", "result"],
            )?,
            defrag_running: gauge(
                &r,
                "backrunner_operator_defrag_runs_running",
                "Defragmentation Jobs running",
                &["cluster"],
            )?,
            placement_reports: counter(
                &r,
                "backrunner_operator_placement_reports_total",
                "Placement reports received, by result",
                &["result"],
            )?,
            placement_proxies: {
                let g = GaugeVec::new(
                    Opts::new(
                        "backrunner_operator_placement_reporting_proxies",
                        "Proxies with a fresh placement report",
                    ),
                    &["cluster"],
                )?;
                r.register(Box::new(g.clone()))?;
                g
            },
            leader: {
                let g = IntGauge::new("backrunner_operator_leader", "1 on the leading replica")?;
                r.register(Box::new(g.clone()))?;
                g
            },
            bucket_metadata_writes: counter(
                &r,
                "backrunner_operator_bucket_metadata_writes_total",
                "Bucket metadata writes by kind (written, drift_corrected, removed)",
                &["kind"],
            )?,
            token_changes: counter(
                &r,
                "backrunner_operator_token_changes_total",
                "AclPolicy token changes by kind (created, rotated, overlap_ended)",
                &["kind"],
            )?,
            registry: r,
        })
    }

    /// Removes the health gauges of a deleted bucket.
    pub fn forget_bucket(&self, namespace: &str, bucket: &str, groups: &[u32]) {
        let _ = self
            .bucket_replicas_in_sync
            .remove_label_values(&[namespace, bucket]);
        let _ = self
            .bucket_groups_healthy
            .remove_label_values(&[namespace, bucket]);
        let _ = self
            .bucket_free_bytes
            .remove_label_values(&[namespace, bucket]);
        for g in groups {
            let labels = [namespace, bucket, &g.to_string()];
            for gauge in [
                &self.bucket_group_live_records,
                &self.bucket_group_live_bytes,
                &self.bucket_group_free_bytes,
            ] {
                let _ = gauge.remove_label_values(&labels);
            }
        }
    }

    /// Renders every family in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode_utf8(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "rendering metrics failed");
        }
        out
    }
}
