//! The placement-hub wire contract between proxies and the operator (JSON over HTTP):
//! what a proxy reports with `POST /v1/reports`, and the merged view `GET /v1/placement`
//! returns. Plain serde types, shared so both sides agree by construction; the proxy uses
//! them without compiling any Kubernetes crate.

use serde::{Deserialize, Serialize};

/// Path of the report endpoint on the operator.
pub const REPORTS_PATH: &str = "/v1/reports";
/// Path of the merged-view endpoint on the operator.
pub const PLACEMENT_PATH: &str = "/v1/placement";

/// One backend, as `node` (`ip:port:family`) plus `backend_id`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BackendKey {
    /// Address of the node, `ip:port:family`.
    pub node: String,
    /// Backend id on that node.
    pub backend_id: i32,
}

/// A proxy's live write measurements of one backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendWriteReport {
    /// Which backend.
    #[serde(flatten)]
    pub key: BackendKey,
    /// Group the backend serves.
    pub group: u32,
    /// Decayed write time per byte, nanoseconds; `None` when the proxy has too little evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_per_byte_ns: Option<f64>,
    /// Decayed error rate, 0..1.
    pub error_rate: f64,
    /// Writes since the proxy started (for dashboards).
    pub writes: u64,
    /// Failed writes since the proxy started.
    pub errors: u64,
}

/// What one proxy sends every `reportIntervalSeconds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacementReport {
    /// Stable identity of the proxy (pod name or host:port).
    pub proxy: String,
    /// `namespace/name` of the `EllipticsCluster` the proxy serves; empty = the only one.
    #[serde(default)]
    pub cluster: String,
    /// When the measurements were taken, Unix milliseconds (proxy clock).
    pub sent_at_ms: u64,
    /// Every backend the proxy has measured.
    pub backends: Vec<BackendWriteReport>,
}

/// The merged view of one backend across every fresh report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergedBackend {
    /// Which backend.
    #[serde(flatten)]
    pub key: BackendKey,
    /// Group the backend serves.
    pub group: u32,
    /// Write time per byte across proxies (mean of those with evidence), nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_per_byte_ns: Option<f64>,
    /// Highest error rate any fresh proxy reports, 0..1.
    pub error_rate: f64,
    /// How many proxies contributed.
    pub reporters: u32,
}

/// `GET /v1/placement`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlacementView {
    /// When the operator built this view, Unix milliseconds (operator clock).
    pub generated_at_ms: u64,
    /// Reports older than this were left out; proxies treat the whole view as stale past it.
    pub staleness_seconds: u32,
    /// Proxies with a fresh report.
    pub reporting_proxies: u32,
    /// One entry per backend.
    pub backends: Vec<MergedBackend>,
}
