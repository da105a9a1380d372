//! `EllipticsCluster`: how to reach one Elliptics storage cluster, who may use it, and its defrag policy.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::CustomResource;
use kube::core::{Selector, SelectorExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::{Condition, conditions_list_schema};

/// Pattern of one remote: `host:port[:family]`, host an IPv4 address, a DNS name or a
/// bracketed IPv6 address; family 2 (IPv4) or 10 (IPv6), as in Elliptics configs.
pub const REMOTE_PATTERN: &str =
    r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):[0-9]{1,5}(:(2|10))?$";

/// Pattern of a time of day, `HH:MM` (24-hour clock, UTC).
pub const TIME_OF_DAY_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// Stable `reason` values of `EllipticsCluster` conditions.
pub mod reasons {
    /// Ready/Reachable/MetadataWritable: everything checked out.
    pub const AVAILABLE: &str = "Available";
    /// Reachable=False: no remote answered.
    pub const NO_REMOTE_ANSWERED: &str = "NoRemoteAnswered";
    /// Reachable=True but some remotes failed (details in the message).
    pub const PARTIALLY_REACHABLE: &str = "PartiallyReachable";
    /// MetadataWritable=False: a metadata group refused or failed a write.
    pub const METADATA_WRITE_FAILED: &str = "MetadataWriteFailed";
    /// MetadataWritable=False: a metadata group has no backend in the route table.
    pub const METADATA_GROUP_MISSING: &str = "MetadataGroupMissing";
    /// Any condition: the spec is invalid (details in the message).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Any condition: the controller has not finished its first pass.
    pub const PENDING: &str = "Pending";
}

/// Desired state of an `EllipticsCluster`.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "backrunner.io",
    version = "v1alpha1",
    kind = "EllipticsCluster",
    namespaced,
    status = "EllipticsClusterStatus",
    derive = "PartialEq",
    shortname = "ec",
    category = "backrunner",
    doc = "An Elliptics storage cluster that Buckets place their data in.",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reachable","type":"string","jsonPath":".status.conditions[?(@.type==\"Reachable\")].status"}"#,
    printcolumn = r#"{"name":"Metadata","type":"string","description":"Metadata groups","jsonPath":".spec.metadataGroups"}"#,
    printcolumn = r#"{"name":"Proxies","type":"integer","description":"Proxies reporting placement metrics","jsonPath":".status.reportingProxies"}"#,
    printcolumn = r#"{"name":"Protocol","type":"string","priority":1,"jsonPath":".spec.protocolVersion"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::kubernetes_formats)]
pub struct EllipticsClusterSpec {
    /// Storage nodes to bootstrap from, as `host:port:family` (`10.0.0.5:1025:2`); the
    /// client learns the rest of the cluster from their route tables.
    #[schemars(length(min = 1, max = 64), inner(pattern(REMOTE_PATTERN)))]
    pub remotes: Vec<String>,
    /// Groups that hold bucket metadata and the bucket list (each is one full replica).
    #[schemars(length(min = 1, max = 16), inner(range(min = 1)), extend("x-kubernetes-list-type" = "set"))]
    pub metadata_groups: Vec<u32>,
    /// Elliptics protocol generation the nodes speak.
    #[serde(default)]
    pub protocol_version: ProtocolVersion,
    /// Namespaces whose Buckets may reference this cluster (default: its own namespace only).
    #[serde(default)]
    pub allowed_namespaces: AllowedNamespaces,
    /// Key (in the `bucket` namespace of the metadata groups) of the newline-separated
    /// bucket list that original Backrunner proxies read; no list is kept when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub bucket_list_key: Option<String>,
    /// When and how much to defragment.
    #[serde(default)]
    pub defrag_policy: DefragPolicy,
    /// Placement-metrics exchange between proxies and the operator.
    #[serde(default)]
    pub placement: PlacementSettings,
}

/// Elliptics protocol generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProtocolVersion {
    /// 2.26, the line Backrunner-era clusters run.
    #[default]
    #[serde(rename = "2.26")]
    V2_26,
    /// 3.0.
    #[serde(rename = "3.0")]
    V3_0,
}

impl ProtocolVersion {
    /// The wire form, `"2.26"` or `"3.0"` (parseable by `elliptics::proto::ProtocolVersion`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2_26 => "2.26",
            ProtocolVersion::V3_0 => "3.0",
        }
    }
}

/// Which namespaces may reference a cluster, in the style of Gateway API's `allowedRoutes`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.from != 'Selector' || has(self.selector)", "message": "from: Selector needs a selector"},
    {"rule": "self.from != 'List' || (has(self.names) && size(self.names) > 0)", "message": "from: List needs names"},
]))]
pub struct AllowedNamespaces {
    /// Which rule applies.
    #[serde(default)]
    pub from: NamespacesFrom,
    /// Namespace names, for `from: List`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), extend("x-kubernetes-list-type" = "set"))]
    pub names: Vec<String>,
    /// Namespace label selector, for `from: Selector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// The rule of [`AllowedNamespaces`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NamespacesFrom {
    /// Only the cluster's own namespace.
    #[default]
    Same,
    /// Every namespace.
    All,
    /// The cluster's namespace and those listed in `names`.
    List,
    /// The cluster's namespace and those whose labels match `selector`.
    Selector,
}

impl AllowedNamespaces {
    /// Whether a Bucket in namespace `ns` (with labels `ns_labels`) may use a cluster living
    /// in `cluster_ns`. An unparsable selector permits nothing but the cluster's namespace.
    pub fn permits(
        &self,
        cluster_ns: &str,
        ns: &str,
        ns_labels: &BTreeMap<String, String>,
    ) -> bool {
        if ns == cluster_ns {
            return true;
        }
        match self.from {
            NamespacesFrom::Same => false,
            NamespacesFrom::All => true,
            NamespacesFrom::List => self.names.iter().any(|n| n == ns),
            NamespacesFrom::Selector => match &self.selector {
                Some(sel) => Selector::try_from(sel.clone()).is_ok_and(|s| s.matches(ns_labels)),
                None => false,
            },
        }
    }
}

/// When a backend gets defragmented, and the safety limits on doing so.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct DefragPolicy {
    /// A backend needs defragmentation once removed (dead) bytes are at least this share of
    /// its used bytes (and its free-space ratio is at most `minFreeRatio`).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub removed_ratio_threshold: f64,
    /// Only backends whose free-space ratio is at most this value qualify (1.0, the default:
    /// regardless of free space).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_free_ratio: f64,
    /// Daily UTC window in which runs may start; any time when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<DefragWindow>,
    /// At most this many backends of one node defragment at once.
    #[schemars(range(min = 1, max = 64))]
    pub max_per_node: u32,
    /// Never defragment more than this share of any bucket's groups at once (at least one
    /// group of a bucket always stays untouched, whatever the value).
    #[schemars(range(min = 0.0, max = 0.5))]
    pub max_bucket_group_fraction: f64,
    /// Start no new runs (running ones finish).
    pub suspend: bool,
}

impl Default for DefragPolicy {
    fn default() -> Self {
        DefragPolicy {
            removed_ratio_threshold: 0.3,
            min_free_ratio: 1.0,
            window: None,
            max_per_node: 1,
            max_bucket_group_fraction: 0.5,
            suspend: false,
        }
    }
}

impl DefragPolicy {
    /// Whether a backend with these ratios (each 0..1) needs defragmentation, ignoring the
    /// window, `suspend` and the concurrency limits.
    pub fn needs_defrag(&self, removed_ratio: f64, free_ratio: f64) -> bool {
        removed_ratio > 0.0
            && removed_ratio >= self.removed_ratio_threshold
            && free_ratio <= self.min_free_ratio
    }

    /// How many of a bucket's `groups` may defragment at once: `floor(groups × fraction)`,
    /// but at least 1 for buckets of two groups or more, and 0 for a single-group bucket.
    pub fn max_bucket_groups(&self, groups: usize) -> usize {
        if groups < 2 {
            return 0;
        }
        let n = (groups as f64 * self.max_bucket_group_fraction).floor() as usize;
        n.clamp(1, groups - 1)
    }

    /// Whether a run may start at `minute_of_day` (0..1440, UTC).
    pub fn in_window(&self, minute_of_day: u32) -> bool {
        self.window
            .as_ref()
            .is_none_or(|w| w.contains(minute_of_day))
    }
}

/// A daily time window, `HH:MM` to `HH:MM` UTC; `end` before `start` wraps past midnight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefragWindow {
    /// First minute of the window, `HH:MM` UTC.
    #[schemars(pattern(TIME_OF_DAY_PATTERN))]
    pub start: String,
    /// End of the window (exclusive), `HH:MM` UTC.
    #[schemars(pattern(TIME_OF_DAY_PATTERN))]
    pub end: String,
}

impl DefragWindow {
    /// Whether `minute_of_day` (0..1440) falls in the window. A window whose start equals its
    /// end covers the whole day; an unparsable bound covers nothing.
    pub fn contains(&self, minute_of_day: u32) -> bool {
        let (Some(start), Some(end)) = (parse_hh_mm(&self.start), parse_hh_mm(&self.end)) else {
            return false;
        };
        match start.cmp(&end) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => (start..end).contains(&minute_of_day),
            std::cmp::Ordering::Greater => minute_of_day >= start || minute_of_day < end,
        }
    }
}

/// Parses `HH:MM` into minutes after midnight.
pub fn parse_hh_mm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Placement-metrics exchange settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.stalenessSeconds > self.reportIntervalSeconds", "message": "stalenessSeconds must exceed reportIntervalSeconds"},
]))]
pub struct PlacementSettings {
    /// How often each proxy reports its per-backend timings to the operator.
    #[schemars(range(min = 1, max = 3600))]
    pub report_interval_seconds: u32,
    /// Reports (and the merged view) older than this are ignored; proxies fall back to their
    /// own measurements.
    #[schemars(range(min = 2, max = 86400))]
    pub staleness_seconds: u32,
}

impl Default for PlacementSettings {
    fn default() -> Self {
        PlacementSettings {
            report_interval_seconds: 5,
            staleness_seconds: 30,
        }
    }
}

/// Observed state of an `EllipticsCluster`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::kubernetes_formats)]
pub struct EllipticsClusterStatus {
    /// `metadata.generation` last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reachable, MetadataWritable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions_list_schema)]
    pub conditions: Vec<Condition>,
    /// One entry per group seen in the route table, ordered by group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSummary>,
    /// Proxies whose placement report is fresher than `stalenessSeconds`.
    #[serde(default)]
    pub reporting_proxies: u32,
    /// Defragmentation runs in progress and the most recent finished ones (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defrag_runs: Vec<DefragRun>,
    /// When statistics were last summarised into this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stats_time: Option<Time>,
}

/// Coarse health of one group, summed over its backends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupSummary {
    /// Group id.
    pub group: u32,
    /// Free bytes left.
    pub free_bytes: u64,
    /// Removed bytes / used bytes (0..1).
    pub removed_ratio: f64,
    /// Worst state of its backends.
    pub state: GroupState,
}

/// State of a group or backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GroupState {
    /// Reachable and writable.
    Ok,
    /// Reachable but read-only.
    ReadOnly,
    /// A backend is being defragmented.
    Defragmenting,
    /// No backend answered.
    Unreachable,
    /// No statistics yet.
    #[default]
    Unknown,
}

/// One defragmentation run (a `batch/v1` Job owned by the cluster).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefragRun {
    /// Node running the backend, `host:port:family`.
    pub remote: String,
    /// Backend id on that node.
    pub backend: u32,
    /// Group the backend serves.
    pub group: u32,
    /// Name of the Job.
    pub job_name: String,
    /// When the Job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When it finished; unset while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Running, Succeeded or Failed.
    pub result: DefragResult,
}

/// Outcome of a [`DefragRun`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DefragResult {
    /// The Job is running.
    Running,
    /// Defragmentation completed.
    Succeeded,
    /// The Job failed.
    Failed,
}

#[cfg(test)]
mod tests;
