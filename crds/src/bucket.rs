//! `Bucket`: one Elliptics bucket (name, groups, quota, ACL policies) and its lifecycle.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cluster::GroupState;
use crate::condition::{Condition, conditions_list_schema};

mod rules;
pub use rules::SpecViolation;

/// Pattern of an Elliptics bucket name: no `/` (it is a URL path segment) and no newline
/// (the bucket list is newline-separated).
pub const BUCKET_NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]*$";

/// Finalizer the operator puts on every Bucket so deletion honours `reclaimPolicy`.
pub const FINALIZER: &str = "backrunner.io/bucket-cleanup";

/// Annotation that, set to `"true"`, lets the finalizer go without touching Elliptics (for a
/// cluster that is gone for good). The metadata, if any, is left behind.
pub const FORCE_RELEASE_ANNOTATION: &str = "backrunner.io/force-release";

/// Stable `reason` values of `Bucket` conditions (grouped by the condition they explain).
pub mod reasons {
    /// Ready=True: everything below is in order.
    pub const RECONCILED: &str = "Reconciled";
    /// Any condition: the controller has not finished its first pass.
    pub const PENDING: &str = "Pending";

    /// Synced=True: the metadata in Elliptics matches the spec.
    pub const METADATA_WRITTEN: &str = "MetadataWritten";
    /// Synced=True: someone rewrote the metadata; the operator wrote it back.
    pub const DRIFT_CORRECTED: &str = "DriftCorrected";
    /// Synced=False: writing the metadata or bucket list failed.
    pub const METADATA_WRITE_FAILED: &str = "MetadataWriteFailed";
    /// Synced=False: `clusterRef` names no EllipticsCluster.
    pub const CLUSTER_NOT_FOUND: &str = "ClusterNotFound";
    /// Synced=False: the EllipticsCluster exists but is not Ready.
    pub const CLUSTER_NOT_READY: &str = "ClusterNotReady";
    /// Synced=False: the cluster's `allowedNamespaces` excludes this namespace.
    pub const NAMESPACE_NOT_ALLOWED: &str = "NamespaceNotAllowed";
    /// Synced=False: an `aclPolicyRefs` entry names no AclPolicy.
    pub const ACL_POLICY_NOT_FOUND: &str = "AclPolicyNotFound";
    /// Synced=False: a referenced AclPolicy has unresolved tokens.
    pub const ACL_POLICY_NOT_READY: &str = "AclPolicyNotReady";
    /// Synced=False: two referenced policies define the same user.
    pub const DUPLICATE_USER: &str = "DuplicateUser";
    /// Synced=False: the spec breaks a rule (details in the message).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Synced=False: `bucketName` changed or groups were removed (see [`super::SpecViolation`]).
    pub const IMMUTABLE_FIELD_CHANGED: &str = "ImmutableFieldChanged";

    /// GroupsHealthy=True.
    pub const ALL_GROUPS_HEALTHY: &str = "AllGroupsHealthy";
    /// GroupsHealthy=False: some group is read-only, defragmenting or unreachable.
    pub const GROUPS_DEGRADED: &str = "GroupsDegraded";
    /// GroupsHealthy=False: no group answers.
    pub const GROUPS_UNREACHABLE: &str = "GroupsUnreachable";
    /// GroupsHealthy/ReplicasInSync=Unknown: no statistics yet.
    pub const NO_STATS: &str = "NoStats";

    /// Conflict=False.
    pub const NO_CONFLICT: &str = "NoConflict";
    /// Conflict=True: another Bucket object or installation owns the Elliptics bucket.
    pub const OWNED_BY_OTHER: &str = "OwnedByOther";
    /// Conflict=True: metadata exists without an ownership record (created outside the operator).
    pub const UNMANAGED_METADATA: &str = "UnmanagedMetadata";

    /// DeletionBlocked=False.
    pub const NOT_BLOCKED: &str = "NotBlocked";
    /// DeletionBlocked=True: `deletionProtection` is set.
    pub const DELETION_PROTECTED: &str = "DeletionProtected";
    /// DeletionBlocked=True: the cluster cannot be reached; see [`super::FORCE_RELEASE_ANNOTATION`].
    pub const CLUSTER_UNAVAILABLE: &str = "ClusterUnavailable";
    /// DeletionBlocked=True: removing metadata or purging data failed (retrying).
    pub const CLEANUP_FAILED: &str = "CleanupFailed";
    /// DeletionBlocked=True: `purgeData` is removing the bucket's objects (progress in the
    /// message); the metadata goes once none is left.
    pub const PURGING: &str = "Purging";
    /// DeletionBlocked=False: released by the force-release annotation, Elliptics untouched.
    pub const FORCE_RELEASED: &str = "ForceReleased";

    /// ReplicasInSync=True: record counts and used bytes agree within tolerance.
    pub const REPLICAS_MATCH: &str = "ReplicasMatch";
    /// ReplicasInSync=False: live record counts diverge past the threshold.
    pub const RECORD_COUNTS_DIVERGED: &str = "RecordCountsDiverged";
    /// ReplicasInSync=False: used bytes diverge past the threshold.
    pub const USED_BYTES_DIVERGED: &str = "UsedBytesDiverged";
    /// ReplicasInSync=False: a group of the bucket has no backend in the route table.
    pub const GROUP_MISSING: &str = "GroupMissing";
    /// ReplicasInSync=False: a group is read-only, so it falls behind on writes.
    pub const GROUP_READ_ONLY: &str = "GroupReadOnly";
}

/// Desired state of a `Bucket`.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "backrunner.io",
    version = "v1alpha1",
    kind = "Bucket",
    namespaced,
    status = "BucketStatus",
    derive = "PartialEq",
    shortname = "bkt",
    category = "backrunner",
    doc = "An Elliptics bucket served by the Backrunner proxies.",
    validation = Rule::new("!has(self.spec.purgeData) || self.spec.purgeData.confirm == (has(self.spec.bucketName) ? self.spec.bucketName : self.metadata.name)").message("purgeData.confirm must equal the bucket name").field_path(".spec.purgeData.confirm"),
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Bucket","type":"string","description":"Elliptics bucket name","jsonPath":".status.bucketName"}"#,
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.clusterRef.name"}"#,
    printcolumn = r#"{"name":"Groups","type":"string","jsonPath":".spec.groups"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Replicas","type":"string","description":"ReplicasInSync","priority":1,"jsonPath":".status.conditions[?(@.type==\"ReplicasInSync\")].status"}"#,
    printcolumn = r#"{"name":"Reclaim","type":"string","priority":1,"jsonPath":".spec.reclaimPolicy"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.bucketName) == has(oldSelf.bucketName)", "message": "bucketName cannot be added or removed after creation"},
    {"rule": "!has(self.purgeData) || self.reclaimPolicy == 'Delete'", "message": "purgeData requires reclaimPolicy: Delete"},
]))]
#[schemars(transform = crate::schema::kubernetes_formats)]
pub struct BucketSpec {
    /// The EllipticsCluster holding the bucket.
    pub cluster_ref: ClusterRef,
    /// Name of the bucket in Elliptics (defaults to `metadata.name`); immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), pattern(BUCKET_NAME_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "bucketName is immutable"}]))]
    pub bucket_name: Option<String>,
    /// Groups holding the bucket's data, one replica each; groups may be added, never removed.
    #[schemars(length(min = 1, max = 32), inner(range(min = 1)))]
    #[schemars(extend(
        "x-kubernetes-list-type" = "set",
        "x-kubernetes-validations" = [{"rule": "oldSelf.all(g, g in self)", "message": "groups may be added but never removed"}]
    ))]
    pub groups: Vec<u32>,
    /// Size and object limits, editable any time.
    #[serde(default)]
    pub quota: Quota,
    /// Names of AclPolicies (same namespace) whose users get access; none: public bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "set"))]
    pub acl_policy_refs: Vec<String>,
    /// Allow reads without a signature even when the bucket has ACL users.
    #[serde(default)]
    pub public_read: bool,
    /// Membership in the set of buckets that no-bucket uploads choose from.
    #[serde(default)]
    pub auto_select: AutoSelect,
    /// What deleting the Bucket object does to the Elliptics bucket.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
    /// Also remove the data on deletion (needs `reclaimPolicy: Delete` and the confirmation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_data: Option<PurgeData>,
    /// Refuse deletion while set (DeletionBlocked=True, finalizer kept).
    #[serde(default)]
    pub deletion_protection: bool,
    /// The bucket directory (RIFT) the bucket is in; the operator creates it (with no ACL:
    /// only the proxies' bootstrap admin manages it) and keeps its member list. None: in no
    /// directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), pattern(BUCKET_NAME_PATTERN))]
    pub directory: Option<String>,
}

/// Reference to an EllipticsCluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    /// Name of the EllipticsCluster.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Its namespace; the Bucket's own when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// Bucket limits written into the metadata (`max_size`, `max_key_num`); 0 means unlimited.
///
/// Both are `int64` in the schema: the apiserver takes nothing above [`Quota::MAX`], and
/// [`BucketSpec::check`] refuses larger values built on the Rust side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Quota {
    /// Maximum stored size in bytes, as a plain integer (`10737418240` for 10 GiB).
    pub max_size: u64,
    /// Maximum number of objects.
    pub max_objects: u64,
}

impl Quota {
    /// The largest value of either limit: `i64::MAX`, the largest `int64` the apiserver takes.
    pub const MAX: u64 = i64::MAX as u64;
}

/// No-bucket upload participation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AutoSelect {
    /// The bucket is a candidate for `/nobucket_upload`.
    pub enabled: bool,
    /// Relative weight multiplied into the placement choice (100 when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub weight: Option<u32>,
    /// Stop choosing it for new no-bucket uploads; it stays readable and writable by name.
    pub drain: bool,
}

impl AutoSelect {
    /// Weight used when `weight` is unset.
    pub const DEFAULT_WEIGHT: u32 = 100;

    /// Whether no-bucket uploads may pick this bucket now.
    pub fn selectable(&self) -> bool {
        self.enabled && !self.drain
    }

    /// The effective weight.
    pub fn effective_weight(&self) -> u32 {
        self.weight.unwrap_or(Self::DEFAULT_WEIGHT)
    }
}

/// What deletion of the Bucket object does in Elliptics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ReclaimPolicy {
    /// Leave metadata and data; only the ownership record is released.
    #[default]
    Retain,
    /// Remove the metadata and the bucket-list entry (data too with `purgeData`).
    Delete,
}

/// Confirmation that deleting the Bucket also removes its data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PurgeData {
    /// Must equal the Elliptics bucket name.
    #[schemars(length(max = 128))]
    pub confirm: String,
}

/// Observed state of a `Bucket`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::kubernetes_formats)]
pub struct BucketStatus {
    /// `metadata.generation` last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Synced, GroupsHealthy, Conflict, DeletionBlocked, ReplicasInSync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions_list_schema)]
    pub conditions: Vec<Condition>,
    /// Elliptics bucket name in effect (set once applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    /// Groups written into the metadata, with coarse health.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_groups: Vec<ResolvedGroup>,
    /// ACL users written into the metadata: names and flags, never tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl_users: Vec<AclUserSummary>,
    /// Hex SHA-256 of the metadata object as written, to detect drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_digest: Option<String>,
    /// How no-bucket uploads see the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementSummary>,
    /// Objects and bytes from the bucket's key index, coarse (exact figures: the proxies'
    /// `/stat`), refreshed at most once per status interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ObjectUsage>,
}

/// A bucket's objects and their bytes, as its key index counts them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectUsage {
    /// Objects (coarse).
    pub objects: u64,
    /// Their bytes (coarse).
    pub bytes: u64,
}

/// One group of a bucket, as resolved by the operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedGroup {
    /// Group id.
    pub group: u32,
    /// Coarse health.
    pub health: GroupState,
    /// Live records in the group (replica comparison), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// Used bytes in the group, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
}

/// One ACL user of a bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclUserSummary {
    /// User name.
    pub name: String,
    /// Elliptics ACL flags (1 no-token, 2 write, 4 admin).
    pub flags: u64,
    /// AclPolicy the user comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// Placement summary of a bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSummary {
    /// No-bucket uploads may pick it now (auto-select enabled, not draining, writable).
    pub selectable: bool,
    /// Free bytes of its fullest group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    /// Effective weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

#[cfg(test)]
mod tests;
