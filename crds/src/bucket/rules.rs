//! The `Bucket` rules the operator re-checks itself (CEL rules are ignored by apiservers before 1.25).

use std::fmt;

use super::{Bucket, BucketSpec, FORCE_RELEASE_ANNOTATION, ReclaimPolicy, reasons};

/// A spec rule broken, as the operator re-checks CEL rules that old apiservers ignore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecViolation {
    /// The Elliptics bucket name differs from the one already applied.
    BucketNameChanged {
        /// Name in effect.
        applied: String,
        /// Name the spec asks for now.
        requested: String,
    },
    /// Groups already applied are missing from the spec.
    GroupsRemoved(Vec<u32>),
    /// A group appears twice.
    DuplicateGroup(u32),
    /// `groups` is empty.
    NoGroups,
    /// `purgeData` is set but `reclaimPolicy` is not Delete.
    PurgeWithoutDelete,
    /// `purgeData.confirm` differs from the bucket name.
    PurgeNotConfirmed,
    /// A quota limit above [`super::Quota::MAX`] (the schema's `int64` maximum).
    QuotaTooLarge(&'static str, u64),
}

impl SpecViolation {
    /// The condition reason for this violation ([`reasons`]).
    pub fn reason(&self) -> &'static str {
        match self {
            SpecViolation::BucketNameChanged { .. } | SpecViolation::GroupsRemoved(_) => {
                reasons::IMMUTABLE_FIELD_CHANGED
            }
            _ => reasons::INVALID_SPEC,
        }
    }
}

impl fmt::Display for SpecViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecViolation::BucketNameChanged { applied, requested } => {
                write!(
                    f,
                    "bucketName is immutable: applied {applied:?}, spec asks for {requested:?}"
                )
            }
            SpecViolation::GroupsRemoved(g) => {
                write!(f, "groups may not be removed: {g:?} missing")
            }
            SpecViolation::DuplicateGroup(g) => write!(f, "group {g} is listed twice"),
            SpecViolation::NoGroups => f.write_str("groups must not be empty"),
            SpecViolation::PurgeWithoutDelete => {
                f.write_str("purgeData requires reclaimPolicy: Delete")
            }
            SpecViolation::PurgeNotConfirmed => {
                f.write_str("purgeData.confirm must equal the bucket name")
            }
            SpecViolation::QuotaTooLarge(field, v) => {
                write!(f, "quota.{field} {v} is above {}", super::Quota::MAX)
            }
        }
    }
}

impl std::error::Error for SpecViolation {}

impl BucketSpec {
    /// The Elliptics bucket name: `bucketName`, else the object's `metadata.name`.
    pub fn effective_name<'a>(&'a self, object_name: &'a str) -> &'a str {
        self.bucket_name.as_deref().unwrap_or(object_name)
    }

    /// Rules on the spec alone (the schema's and the root CEL rule's), for `object_name`.
    pub fn check(&self, object_name: &str) -> Vec<SpecViolation> {
        let mut out = Vec::new();
        if self.groups.is_empty() {
            out.push(SpecViolation::NoGroups);
        }
        for (i, g) in self.groups.iter().enumerate() {
            if self.groups[..i].contains(g) && !out.contains(&SpecViolation::DuplicateGroup(*g)) {
                out.push(SpecViolation::DuplicateGroup(*g));
            }
        }
        for (field, v) in [
            ("maxSize", self.quota.max_size),
            ("maxObjects", self.quota.max_objects),
        ] {
            if v > super::Quota::MAX {
                out.push(SpecViolation::QuotaTooLarge(field, v));
            }
        }
        if let Some(purge) = &self.purge_data {
            if self.reclaim_policy != ReclaimPolicy::Delete {
                out.push(SpecViolation::PurgeWithoutDelete);
            }
            if purge.confirm != self.effective_name(object_name) {
                out.push(SpecViolation::PurgeNotConfirmed);
            }
        }
        out
    }

    /// Transition rules against what was applied before (immutable name, add-only groups).
    pub fn check_update(
        &self,
        object_name: &str,
        applied_name: &str,
        applied_groups: &[u32],
    ) -> Vec<SpecViolation> {
        let mut out = Vec::new();
        let requested = self.effective_name(object_name);
        if requested != applied_name {
            out.push(SpecViolation::BucketNameChanged {
                applied: applied_name.to_owned(),
                requested: requested.to_owned(),
            });
        }
        let removed: Vec<u32> = applied_groups
            .iter()
            .filter(|g| !self.groups.contains(g))
            .copied()
            .collect();
        if !removed.is_empty() {
            out.push(SpecViolation::GroupsRemoved(removed));
        }
        out
    }
}

impl Bucket {
    /// The Elliptics bucket name (`spec.bucketName`, else `metadata.name`).
    pub fn bucket_name(&self) -> &str {
        self.spec
            .effective_name(self.metadata.name.as_deref().unwrap_or_default())
    }

    /// Every rule the operator enforces itself: [`BucketSpec::check`], plus
    /// [`BucketSpec::check_update`] against the name and groups recorded in status (when the
    /// bucket was applied before).
    pub fn violations(&self) -> Vec<SpecViolation> {
        let name = self.metadata.name.as_deref().unwrap_or_default();
        let mut out = self.spec.check(name);
        if let Some(applied) = self.status.as_ref().and_then(|s| s.bucket_name.as_deref()) {
            let groups: Vec<u32> = self
                .status
                .iter()
                .flat_map(|s| s.resolved_groups.iter().map(|g| g.group))
                .collect();
            out.extend(self.spec.check_update(name, applied, &groups));
        }
        out
    }

    /// Whether the force-release annotation is set to `"true"`.
    pub fn force_release_requested(&self) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(FORCE_RELEASE_ANNOTATION))
            .is_some_and(|v| v == "true")
    }
}
