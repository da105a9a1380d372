//! Status conditions (`metav1.Condition`) shared by every Backrunner resource, and their helpers.
//!
//! The condition type is k8s-openapi's own [`Condition`], so status objects serialize exactly
//! like any built-in Kubernetes condition. [`set_condition`] updates a list in place and only
//! moves `lastTransitionTime` when the status changes, which keeps status writes idempotent:
//! it returns `false` when nothing changed, so the caller can skip the write.

use std::fmt;

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types used by the Backrunner resources (the `type` field).
pub mod types {
    /// The object is fully reconciled and usable (every kind).
    pub const READY: &str = "Ready";
    /// `EllipticsCluster`: at least one remote answered and the route table is known.
    pub const REACHABLE: &str = "Reachable";
    /// `EllipticsCluster`: every metadata group accepted a write.
    pub const METADATA_WRITABLE: &str = "MetadataWritable";
    /// `Bucket`: the metadata in Elliptics matches the spec. `AclPolicy`: tokens resolved.
    pub const SYNCED: &str = "Synced";
    /// `Bucket`: every group of the bucket is reachable and writable.
    pub const GROUPS_HEALTHY: &str = "GroupsHealthy";
    /// `Bucket`: another object or installation owns the Elliptics bucket (True = problem).
    pub const CONFLICT: &str = "Conflict";
    /// `Bucket`: deletion is waiting on something (True = blocked).
    pub const DELETION_BLOCKED: &str = "DeletionBlocked";
    /// `Bucket`: the replicas (groups) hold the same records and bytes, within tolerance.
    pub const REPLICAS_IN_SYNC: &str = "ReplicasInSync";
}

/// The `status` of a condition: `True`, `False` or `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell (yet).
    Unknown,
}

impl ConditionStatus {
    /// The wire form: `"True"`, `"False"` or `"Unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    /// `True` for `true`, `False` for `false`.
    pub fn from_bool(b: bool) -> Self {
        if b {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

impl fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The desired state of one condition, applied with [`set_condition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate<'a> {
    /// Condition type, one of [`types`].
    pub type_: &'a str,
    /// New status.
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason (a `reasons::*` constant of the resource's module).
    pub reason: &'a str,
    /// Human-readable detail (may be empty).
    pub message: String,
    /// `metadata.generation` the controller acted on.
    pub observed_generation: Option<i64>,
}

impl<'a> ConditionUpdate<'a> {
    /// A condition with an empty message and no observed generation.
    pub fn new(type_: &'a str, status: ConditionStatus, reason: &'a str) -> Self {
        ConditionUpdate {
            type_,
            status,
            reason,
            message: String::new(),
            observed_generation: None,
        }
    }

    /// Sets the message.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Sets the observed generation.
    pub fn observed_generation(mut self, generation: Option<i64>) -> Self {
        self.observed_generation = generation;
        self
    }
}

/// Sets a condition in `conditions`, adding it at the end if its type is new.
///
/// `lastTransitionTime` becomes `now` only when the condition is new or its status changed;
/// reason, message and observed generation are updated in place otherwise. Returns `true`
/// when the list changed at all, so a controller can skip a status write that would change
/// nothing.
///
/// An empty message is replaced by the reason: apiservers of the 1.20 line turn `""` into
/// `null` under server-side apply and then reject the status as invalid (422).
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    mut update: ConditionUpdate<'_>,
    now: Time,
) -> bool {
    if update.message.is_empty() {
        update.message = update.reason.to_owned();
    }
    let status = update.status.as_str();
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            let mut changed = false;
            if existing.status != status {
                existing.status = status.to_owned();
                existing.last_transition_time = now;
                changed = true;
            }
            if existing.reason != update.reason {
                existing.reason = update.reason.to_owned();
                changed = true;
            }
            if existing.message != update.message {
                existing.message = update.message;
                changed = true;
            }
            if existing.observed_generation != update.observed_generation {
                existing.observed_generation = update.observed_generation;
                changed = true;
            }
            changed
        }
        None => {
            conditions.push(Condition {
                type_: update.type_.to_owned(),
                status: status.to_owned(),
                reason: update.reason.to_owned(),
                message: update.message,
                observed_generation: update.observed_generation,
                last_transition_time: now,
            });
            true
        }
    }
}

/// The condition of type `type_`, if present.
pub fn find_condition<'c>(conditions: &'c [Condition], type_: &str) -> Option<&'c Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition of type `type_` is present with status `True`.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True.as_str())
}

/// Removes the condition of type `type_`; returns `true` when one was removed.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

/// Schema extensions for a `conditions` list: a map keyed by `type` (like `+listType=map`
/// `+listMapKey=type` on built-in types), so server-side apply merges conditions by type.
pub(crate) fn conditions_list_schema(schema: &mut schemars::Schema) {
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::chrono::{TimeZone, Utc};

    fn at(secs: i64) -> Time {
        Time(Utc.timestamp_opt(secs, 0).unwrap())
    }

    fn ready(status: ConditionStatus, reason: &str) -> ConditionUpdate<'_> {
        ConditionUpdate::new(types::READY, status, reason)
    }

    /// A list holding one condition: Ready=False, reason `A`, set at 10.
    fn ready_false_a_at_10() -> Vec<Condition> {
        let mut list = Vec::new();
        set_condition(&mut list, ready(ConditionStatus::False, "A"), at(10));
        list
    }

    #[test]
    fn new_condition_is_appended_with_now() {
        let mut list = Vec::new();
        assert!(set_condition(
            &mut list,
            ready(ConditionStatus::False, "Pending").message("wait"),
            at(10)
        ));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].type_, "Ready");
        assert_eq!(list[0].status, "False");
        assert_eq!(list[0].reason, "Pending");
        assert_eq!(list[0].message, "wait");
        assert_eq!(list[0].last_transition_time, at(10));
    }

    #[test]
    fn same_status_keeps_transition_time() {
        let mut list = ready_false_a_at_10();
        let changed = set_condition(
            &mut list,
            ready(ConditionStatus::False, "B")
                .message("m")
                .observed_generation(Some(3)),
            at(20),
        );
        assert!(changed);
        assert_eq!(list[0].last_transition_time, at(10));
        assert_eq!(list[0].reason, "B");
        assert_eq!(list[0].observed_generation, Some(3));
    }

    #[test]
    fn status_change_bumps_transition_time() {
        let mut list = ready_false_a_at_10();
        assert!(set_condition(
            &mut list,
            ready(ConditionStatus::True, "A"),
            at(20)
        ));
        assert_eq!(list[0].last_transition_time, at(20));
        assert!(is_condition_true(&list, types::READY));
    }

    #[test]
    fn identical_update_reports_no_change() {
        let mut list = Vec::new();
        let update = ready(ConditionStatus::True, "Ok")
            .message("fine")
            .observed_generation(Some(1));
        assert!(set_condition(&mut list, update.clone(), at(10)));
        let before = list.clone();
        assert!(!set_condition(&mut list, update, at(99)));
        assert_eq!(list, before);
    }

    #[test]
    fn types_are_independent_and_removable() {
        let mut list = Vec::new();
        set_condition(&mut list, ready(ConditionStatus::True, "Ok"), at(1));
        set_condition(
            &mut list,
            ConditionUpdate::new(types::SYNCED, ConditionStatus::Unknown, "Pending"),
            at(2),
        );
        assert_eq!(list.len(), 2);
        assert_eq!(
            find_condition(&list, types::SYNCED).map(|c| c.status.as_str()),
            Some("Unknown")
        );
        assert!(!is_condition_true(&list, types::SYNCED));
        assert!(remove_condition(&mut list, types::SYNCED));
        assert!(!remove_condition(&mut list, types::SYNCED));
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn status_strings() {
        assert_eq!(ConditionStatus::from_bool(true).to_string(), "True");
        assert_eq!(ConditionStatus::from_bool(false).as_str(), "False");
        assert_eq!(ConditionStatus::Unknown.as_str(), "Unknown");
    }
}
