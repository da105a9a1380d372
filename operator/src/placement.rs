//! The placement hub: proxies `POST /v1/reports` their per-backend write timings and errors;
//! `GET /v1/placement` returns the merged, staleness-filtered view.
//!
//! Reports are stored per (cluster, proxy), stamped with the operator's clock when they
//! arrive (proxy clocks may skew), and dropped from the view once older than the cluster's
//! `placement.stalenessSeconds`. The merge ([`merge_reports`]) is a pure function: per
//! backend, the mean time-per-byte over the proxies that have evidence, the highest error
//! rate, and how many proxies contributed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use backrunner_placement::wire::{BackendKey, MergedBackend, PlacementReport, PlacementView};

/// Staleness used for a cluster the hub has not been told about (the CRD default).
pub const DEFAULT_STALENESS_SECONDS: u32 = 30;
/// Largest number of backends one report may carry.
pub const MAX_BACKENDS_PER_REPORT: usize = 16_384;
/// Largest number of proxies remembered per cluster (stale ones are evicted first).
pub const MAX_PROXIES_PER_CLUSTER: usize = 4_096;
/// Largest accepted report body, bytes (the server enforces it).
pub const MAX_REPORT_BYTES: usize = 4 << 20;

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// A field is out of range or malformed (the message names it).
    #[error("invalid report: {0}")]
    Invalid(String),
    /// The hub already tracks [`MAX_PROXIES_PER_CLUSTER`] fresh proxies of this cluster.
    #[error("too many proxies report for cluster {0:?}")]
    TooManyProxies(String),
    /// No `EllipticsCluster` of that key exists (yet): reports for it are not stored, so
    /// made-up cluster names cannot grow the hub without bound.
    #[error("unknown cluster {0:?}")]
    UnknownCluster(String),
}

/// Checks a report: proxy identity, cluster key shape, and every number finite and in range.
pub fn validate_report(report: &PlacementReport) -> Result<(), ReportError> {
    let bad = |m: String| Err(ReportError::Invalid(m));
    if report.proxy.is_empty() || report.proxy.len() > 253 {
        return bad("proxy: must be 1..=253 characters".into());
    }
    if report.proxy.chars().any(char::is_control) {
        return bad("proxy: control characters".into());
    }
    if report.cluster.len() > 317 || report.cluster.chars().any(char::is_control) {
        return bad("cluster: must be `namespace/name`".into());
    }
    if !report.cluster.is_empty() && report.cluster.split('/').count() != 2 {
        return bad("cluster: must be `namespace/name`".into());
    }
    if report.backends.len() > MAX_BACKENDS_PER_REPORT {
        return bad(format!(
            "backends: at most {MAX_BACKENDS_PER_REPORT} entries"
        ));
    }
    for (i, b) in report.backends.iter().enumerate() {
        if b.key.node.is_empty() || b.key.node.len() > 64 {
            return bad(format!("backends[{i}].node: must be ip:port:family"));
        }
        if let Some(t) = b.time_per_byte_ns {
            if !t.is_finite() || t < 0.0 {
                return bad(format!(
                    "backends[{i}].time_per_byte_ns: must be finite and >= 0"
                ));
            }
        }
        if !b.error_rate.is_finite() || !(0.0..=1.0).contains(&b.error_rate) {
            return bad(format!("backends[{i}].error_rate: must be within 0..=1"));
        }
    }
    Ok(())
}

/// One stored report and when it arrived (operator clock, Unix milliseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredReport {
    /// Arrival time, Unix milliseconds.
    pub received_at_ms: u64,
    /// The report as sent.
    pub report: PlacementReport,
}

impl StoredReport {
    /// Whether the report is younger than `staleness_seconds` at `now_ms`.
    pub fn is_fresh(&self, now_ms: u64, staleness_seconds: u32) -> bool {
        now_ms.saturating_sub(self.received_at_ms) < u64::from(staleness_seconds) * 1000
    }
}

/// Merges the fresh reports into one view (pure; `reports` may include stale ones).
pub fn merge_reports(
    reports: &[&StoredReport],
    now_ms: u64,
    staleness_seconds: u32,
) -> PlacementView {
    #[derive(Default)]
    struct Acc {
        group: u32,
        tpb_sum: f64,
        tpb_n: u32,
        error_rate: f64,
        reporters: u32,
    }
    let fresh: Vec<&StoredReport> = reports
        .iter()
        .copied()
        .filter(|r| r.is_fresh(now_ms, staleness_seconds))
        .collect();
    let mut acc: BTreeMap<BackendKey, Acc> = BTreeMap::new();
    for r in &fresh {
        for b in &r.report.backends {
            let a = acc.entry(b.key.clone()).or_default();
            a.group = b.group;
            if let Some(t) = b.time_per_byte_ns {
                a.tpb_sum += t;
                a.tpb_n += 1;
            }
            a.error_rate = a.error_rate.max(b.error_rate);
            a.reporters += 1;
        }
    }
    let proxies: std::collections::BTreeSet<&str> =
        fresh.iter().map(|r| r.report.proxy.as_str()).collect();
    PlacementView {
        generated_at_ms: now_ms,
        staleness_seconds,
        reporting_proxies: u32::try_from(proxies.len()).unwrap_or(u32::MAX),
        backends: acc
            .into_iter()
            .map(|(key, a)| MergedBackend {
                key,
                group: a.group,
                time_per_byte_ns: (a.tpb_n > 0).then(|| a.tpb_sum / f64::from(a.tpb_n)),
                error_rate: a.error_rate,
                reporters: a.reporters,
            })
            .collect(),
    }
}

#[derive(Default)]
struct HubState {
    /// cluster key → proxy → latest report.
    reports: HashMap<String, HashMap<String, StoredReport>>,
    /// cluster key → `placement.stalenessSeconds`.
    staleness: HashMap<String, u32>,
}

/// Reports of every proxy and their merged view.
#[derive(Default)]
pub struct PlacementHub {
    state: Mutex<HubState>,
}

impl PlacementHub {
    /// An empty hub.
    pub fn new() -> PlacementHub {
        PlacementHub::default()
    }

    /// Tells the hub a cluster exists and its staleness (the cluster controller calls this).
    pub fn set_cluster(&self, cluster: &str, staleness_seconds: u32) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.staleness.insert(cluster.to_string(), staleness_seconds);
    }

    /// Forgets a deleted cluster and its reports.
    pub fn remove_cluster(&self, cluster: &str) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.staleness.remove(cluster);
        s.reports.remove(cluster);
    }

    /// Clusters the hub knows, sorted.
    pub fn clusters(&self) -> Vec<String> {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<String> = s.staleness.keys().cloned().collect();
        v.sort();
        v
    }

    /// The cluster key a report or query means: `cluster` itself, or — when empty — the
    /// only cluster the hub knows (else the empty key).
    fn resolve(s: &HubState, cluster: &str) -> String {
        if !cluster.is_empty() || s.staleness.len() != 1 {
            return cluster.to_string();
        }
        s.staleness.keys().next().cloned().unwrap_or_default()
    }

    fn staleness_of(s: &HubState, cluster: &str) -> u32 {
        s.staleness
            .get(cluster)
            .copied()
            .unwrap_or(DEFAULT_STALENESS_SECONDS)
    }

    /// Validates and stores a report received at `now_ms`; returns the cluster key it was
    /// filed under.
    pub fn submit(&self, report: PlacementReport, now_ms: u64) -> Result<String, ReportError> {
        validate_report(&report)?;
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let key = Self::resolve(&s, &report.cluster);
        if !s.staleness.contains_key(&key) {
            return Err(ReportError::UnknownCluster(key));
        }
        let staleness = Self::staleness_of(&s, &key);
        let per_cluster = s.reports.entry(key.clone()).or_default();
        if !per_cluster.contains_key(&report.proxy) && per_cluster.len() >= MAX_PROXIES_PER_CLUSTER
        {
            per_cluster.retain(|_, r| r.is_fresh(now_ms, staleness));
            if per_cluster.len() >= MAX_PROXIES_PER_CLUSTER {
                return Err(ReportError::TooManyProxies(key));
            }
        }
        per_cluster.insert(
            report.proxy.clone(),
            StoredReport {
                received_at_ms: now_ms,
                report,
            },
        );
        Ok(key)
    }

    /// The merged view of `cluster` (empty = the only one) at `now_ms`; stale reports are
    /// dropped from the store on the way.
    pub fn view(&self, cluster: &str, now_ms: u64) -> PlacementView {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let key = Self::resolve(&s, cluster);
        let staleness = Self::staleness_of(&s, &key);
        let Some(per_cluster) = s.reports.get_mut(&key) else {
            return merge_reports(&[], now_ms, staleness);
        };
        per_cluster.retain(|_, r| r.is_fresh(now_ms, staleness));
        let reports: Vec<&StoredReport> = per_cluster.values().collect();
        merge_reports(&reports, now_ms, staleness)
    }

    /// Proxies with a fresh report for `cluster` at `now_ms`.
    pub fn reporting_proxies(&self, cluster: &str, now_ms: u64) -> u32 {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let key = Self::resolve(&s, cluster);
        let staleness = Self::staleness_of(&s, &key);
        let n = s.reports.get(&key).map_or(0, |m| {
            m.values().filter(|r| r.is_fresh(now_ms, staleness)).count()
        });
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// The current time as Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
