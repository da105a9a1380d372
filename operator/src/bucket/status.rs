//! The Bucket status being built during a reconcile ([`StatusDraft`]), the events derived
//! from its condition changes, and the server-side apply that writes it — only when it
//! differs from what the object already has.
//!
//! A Bucket nobody touches is not rewritten: what follows the polled statistics
//! ([`StatusDraft::set_health`]: per-group records and bytes, free bytes, the numbers in the
//! GroupsHealthy / ReplicasInSync messages) is coarse, and when only those numbers moved
//! they are written at most once per status interval. A change of state (a group's health,
//! a condition's status or reason, numbers appearing or vanishing) is written at once. The
//! exact numbers are Prometheus metrics ([`crate::health::BucketHealth::publish`]).

use backrunner_crds::bucket::{
    Bucket, BucketStatus, ObjectUsage, PlacementSummary, ResolvedGroup, reasons,
};
use backrunner_crds::cluster::GroupState;
use backrunner_crds::condition::{
    ConditionStatus, ConditionUpdate, Time, find_condition, set_condition, types,
};
use k8s_openapi::chrono::Utc;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::events::Recorder;

use crate::controller::events;
use crate::controller::status::{apply_status, coarse_bytes, coarse_count};
use crate::health::{BucketHealth, ConditionValue};

/// Condition types whose messages carry statistics.
const HEALTH_CONDITIONS: [&str; 2] = [types::GROUPS_HEALTHY, types::REPLICAS_IN_SYNC];

/// The groups of `health` with coarse numbers, as status carries them.
pub fn coarse_groups(groups: &[ResolvedGroup]) -> Vec<ResolvedGroup> {
    groups
        .iter()
        .map(|g| ResolvedGroup {
            group: g.group,
            health: g.health,
            records: g.records.map(coarse_count),
            used_bytes: g.used_bytes.map(coarse_bytes),
        })
        .collect()
}

/// The part of a status that follows the statistics, split into its state (written at
/// once when it changes) and the whole (numbers included).
#[derive(Debug, PartialEq)]
struct HealthPart {
    groups: Vec<ResolvedGroup>,
    placement: Option<PlacementSummary>,
    conditions: Vec<(String, String, String, String)>,
}

/// Group id, health, records known, bytes known.
type GroupShape = (u32, GroupState, bool, bool);
/// Selectable, free bytes known, weight.
type PlacementShape = (bool, bool, Option<u32>);

impl HealthPart {
    fn of(status: &BucketStatus) -> HealthPart {
        HealthPart {
            groups: status.resolved_groups.clone(),
            placement: status.placement.clone(),
            conditions: HEALTH_CONDITIONS
                .iter()
                .filter_map(|t| find_condition(&status.conditions, t))
                .map(|c| {
                    (
                        c.type_.clone(),
                        c.status.clone(),
                        c.reason.clone(),
                        c.message.clone(),
                    )
                })
                .collect(),
        }
    }

    /// Everything but the numbers.
    #[allow(clippy::type_complexity)]
    fn shape(
        &self,
    ) -> (
        Vec<GroupShape>,
        Option<PlacementShape>,
        Vec<(&str, &str, &str)>,
    ) {
        (
            self.groups
                .iter()
                .map(|g| {
                    (
                        g.group,
                        g.health,
                        g.records.is_some(),
                        g.used_bytes.is_some(),
                    )
                })
                .collect(),
            self.placement
                .as_ref()
                .map(|p| (p.selectable, p.free_bytes.is_some(), p.weight)),
            self.conditions
                .iter()
                .map(|(t, s, r, _)| (t.as_str(), s.as_str(), r.as_str()))
                .collect(),
        )
    }
}

/// A status being built from the object's current one.
#[derive(Debug, Clone)]
pub struct StatusDraft {
    /// The status to write.
    pub status: BucketStatus,
    original: Option<BucketStatus>,
    now: Time,
    generation: Option<i64>,
    health_moved: bool,
}

impl StatusDraft {
    /// Starts from `bucket`'s status, recording its generation as observed.
    pub fn new(bucket: &Bucket) -> StatusDraft {
        let original = bucket.status.clone();
        let mut status = original.clone().unwrap_or_default();
        status.observed_generation = bucket.metadata.generation;
        StatusDraft {
            status,
            original,
            now: Time(Utc::now()),
            generation: bucket.metadata.generation,
            health_moved: false,
        }
    }

    /// Sets one condition (observed generation = the object's). An empty message becomes
    /// the reason: the 1.20 apiserver's server-side apply turns `""` inside a list-map item
    /// into `null` and then refuses it as not a string.
    pub fn set(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
    ) {
        let mut message = message.into();
        if message.is_empty() {
            message = reason.to_owned();
        }
        let update = ConditionUpdate::new(type_, status, reason)
            .message(message)
            .observed_generation(self.generation);
        set_condition(&mut self.status.conditions, update, self.now.clone());
    }

    /// Sets a condition computed by [`crate::health`].
    pub fn set_value(&mut self, value: &ConditionValue) {
        self.set(
            value.type_,
            value.status,
            value.reason,
            value.message.clone(),
        );
    }

    /// Sets what follows the polled statistics: the GroupsHealthy and ReplicasInSync
    /// conditions, `resolvedGroups` and `placement`, with coarse numbers. When only numbers
    /// moved (same groups, states and condition reasons) and `numbers_due` is false (they
    /// were written less than a status interval ago), the object's numbers are kept, so
    /// the draft does not differ for them. Returns whether this part changes: the caller
    /// records the write once it succeeded.
    pub fn set_health(
        &mut self,
        health: &BucketHealth,
        mut placement: PlacementSummary,
        numbers_due: bool,
    ) -> bool {
        let was = self.original.clone().unwrap_or_default();
        self.set_value(&health.groups_healthy);
        self.set_value(&health.replicas_in_sync);
        self.status.resolved_groups = coarse_groups(&health.resolved_groups);
        placement.free_bytes = placement.free_bytes.map(coarse_bytes);
        self.status.placement = Some(placement);
        let (old, new) = (HealthPart::of(&was), HealthPart::of(&self.status));
        if old == new {
            return false;
        }
        if numbers_due || old.shape() != new.shape() {
            self.health_moved = true;
            return true;
        }
        // Only numbers moved, and too soon: keep those the object has.
        self.status.resolved_groups = was.resolved_groups.clone();
        if let (Some(p), Some(q)) = (self.status.placement.as_mut(), was.placement.as_ref()) {
            p.free_bytes = q.free_bytes;
        }
        for c in self.status.conditions.iter_mut() {
            if let Some(w) = HEALTH_CONDITIONS
                .contains(&c.type_.as_str())
                .then(|| find_condition(&was.conditions, &c.type_))
                .flatten()
            {
                c.message = w.message.clone();
            }
        }
        false
    }

    /// Sets `usage` (coarse) from the key index's count; `None` leaves what the object has.
    /// Returns whether it changes.
    pub fn set_usage(&mut self, usage: Option<(u64, u64)>) -> bool {
        let Some((objects, bytes)) = usage else {
            return false;
        };
        let coarse = ObjectUsage {
            objects: coarse_count(objects),
            bytes: coarse_bytes(bytes),
        };
        let changed = self.status.usage.as_ref() != Some(&coarse);
        self.status.usage = Some(coarse);
        if changed {
            self.health_moved = true;
        }
        changed
    }

    /// Whether [`StatusDraft::set_health`] changed the statistics part of the status.
    pub fn health_moved(&self) -> bool {
        self.health_moved
    }

    /// Whether condition `type_` is currently True in the draft.
    pub fn is_true(&self, type_: &str) -> bool {
        find_condition(&self.status.conditions, type_)
            .is_some_and(|c| c.status == ConditionStatus::True.as_str())
    }

    /// The draft's reason of condition `type_`.
    pub fn reason(&self, type_: &str) -> Option<&str> {
        find_condition(&self.status.conditions, type_).map(|c| c.reason.as_str())
    }

    /// The status the object had when the reconcile started.
    pub fn original(&self) -> Option<&BucketStatus> {
        self.original.as_ref()
    }

    /// Sets Ready from Synced and Conflict: True only when Synced is True and there is no
    /// conflict; otherwise False with the blocking condition's reason and message.
    pub fn derive_ready(&mut self) {
        let conflict = find_condition(&self.status.conditions, types::CONFLICT)
            .filter(|c| c.status == ConditionStatus::True.as_str())
            .map(|c| (c.reason.clone(), c.message.clone()));
        let synced = find_condition(&self.status.conditions, types::SYNCED).map(|c| {
            (
                c.status == ConditionStatus::True.as_str(),
                c.reason.clone(),
                c.message.clone(),
            )
        });
        let (status, reason, message) = match (conflict, synced) {
            (Some((reason, message)), _) => (ConditionStatus::False, reason, message),
            (None, Some((true, _, _))) => (
                ConditionStatus::True,
                reasons::RECONCILED.to_owned(),
                "metadata in sync".to_owned(),
            ),
            (None, Some((false, reason, message))) => (ConditionStatus::False, reason, message),
            (None, None) => (
                ConditionStatus::Unknown,
                reasons::PENDING.to_owned(),
                String::new(),
            ),
        };
        self.set(types::READY, status, &reason, message);
    }

    /// Whether the draft differs from the object's status.
    pub fn changed(&self) -> bool {
        self.original.as_ref() != Some(&self.status)
    }

    /// Condition types whose status or reason changed, with the new condition.
    pub fn condition_changes(&self) -> Vec<(String, String, String, String)> {
        let before = self
            .original
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default();
        self.status
            .conditions
            .iter()
            .filter(|c| {
                find_condition(before, &c.type_)
                    .is_none_or(|b| b.status != c.status || b.reason != c.reason)
            })
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect()
    }

    /// Publishes one event per condition change, then writes the status if it changed.
    pub async fn publish(
        &self,
        api: &Api<Bucket>,
        recorder: &Recorder,
        bucket: &Bucket,
    ) -> Result<(), kube::Error> {
        for (type_, status, reason, message) in self.condition_changes() {
            // Pending/Unknown first passes are noise.
            if status == ConditionStatus::Unknown.as_str() && reason == reasons::PENDING {
                continue;
            }
            let note = match message.is_empty() {
                true => format!("{type_} is {status}"),
                false => format!("{type_} is {status}: {message}"),
            };
            events::publish(recorder, bucket, is_bad(&type_, &status), &reason, note).await;
        }
        if !self.changed() {
            return Ok(());
        }
        apply_status::<Bucket, _>(api, &bucket.name_any(), &self.status).await
    }
}

/// Whether a condition value is a problem (Conflict/DeletionBlocked True, others False).
pub fn is_bad(type_: &str, status: &str) -> bool {
    match type_ {
        types::CONFLICT | types::DELETION_BLOCKED => status == ConditionStatus::True.as_str(),
        _ => status == ConditionStatus::False.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::test_spec;

    fn bucket() -> Bucket {
        let mut b = Bucket::new("b", test_spec("c", vec![1]));
        b.metadata.generation = Some(3);
        b
    }

    #[test]
    fn ready_follows_synced_and_conflict_and_no_change_means_no_write() {
        let mut d = StatusDraft::new(&bucket());
        d.set(
            types::SYNCED,
            ConditionStatus::True,
            reasons::METADATA_WRITTEN,
            "",
        );
        d.set(
            types::CONFLICT,
            ConditionStatus::False,
            reasons::NO_CONFLICT,
            "",
        );
        d.derive_ready();
        assert!(d.is_true(types::READY));
        assert!(d.changed());
        assert_eq!(d.status.observed_generation, Some(3));
        let changes: Vec<String> = d.condition_changes().into_iter().map(|c| c.0).collect();
        assert_eq!(changes, ["Synced", "Conflict", "Ready"]);

        // The same pass over the written status changes nothing.
        let mut b = bucket();
        b.status = Some(d.status.clone());
        let mut again = StatusDraft::new(&b);
        again.set(
            types::SYNCED,
            ConditionStatus::True,
            reasons::METADATA_WRITTEN,
            "",
        );
        again.set(
            types::CONFLICT,
            ConditionStatus::False,
            reasons::NO_CONFLICT,
            "",
        );
        again.derive_ready();
        assert!(!again.changed());
        assert!(again.condition_changes().is_empty());

        // A conflict makes Ready False with its reason.
        again.set(
            types::CONFLICT,
            ConditionStatus::True,
            reasons::OWNED_BY_OTHER,
            "owned by x",
        );
        again.derive_ready();
        assert!(!again.is_true(types::READY));
        assert_eq!(again.reason(types::READY), Some(reasons::OWNED_BY_OTHER));
        assert!(is_bad(types::CONFLICT, "True"));
        // Empty messages never reach the apiserver (1.20 SSA turns them into null).
        assert!(
            again
                .status
                .conditions
                .iter()
                .all(|c| !c.message.is_empty())
        );
        assert_eq!(
            find_condition(&again.status.conditions, types::SYNCED).map(|c| c.message.as_str()),
            Some(reasons::METADATA_WRITTEN)
        );
        assert!(!is_bad(types::SYNCED, "True"));
    }

    fn health(records: u64, free: u64, state: GroupState) -> BucketHealth {
        let (status, reason) = match state {
            GroupState::Ok => (ConditionStatus::True, reasons::ALL_GROUPS_HEALTHY),
            _ => (ConditionStatus::False, reasons::GROUPS_DEGRADED),
        };
        BucketHealth {
            resolved_groups: vec![ResolvedGroup {
                group: 1,
                health: state,
                records: Some(records),
                used_bytes: Some(records * 1000),
            }],
            groups_healthy: ConditionValue {
                type_: types::GROUPS_HEALTHY,
                status,
                reason,
                message: format!("group 1: {state:?}"),
            },
            replicas_in_sync: ConditionValue {
                type_: types::REPLICAS_IN_SYNC,
                status: ConditionStatus::True,
                reason: reasons::REPLICAS_MATCH,
                message: format!("live records group 1: {}", coarse_count(records)),
            },
            free_bytes: Some(free),
            totals: vec![],
        }
    }

    fn placement(free: u64) -> PlacementSummary {
        PlacementSummary {
            selectable: true,
            free_bytes: Some(free),
            weight: Some(100),
        }
    }

    /// A draft over `bucket` with health from `records` and `free` bytes.
    fn draft_with(
        b: &Bucket,
        records: u64,
        free: u64,
        state: GroupState,
        due: bool,
    ) -> (StatusDraft, bool) {
        let mut d = StatusDraft::new(b);
        let moved = d.set_health(&health(records, free, state), placement(free), due);
        (d, moved)
    }

    const FREE: u64 = 53_687_091_200; // 50 GiB

    #[test]
    fn health_numbers_are_coarse_in_status() {
        let (d, moved) = draft_with(&bucket(), 12_345, FREE, GroupState::Ok, false);
        assert!(
            moved && d.changed() && d.health_moved(),
            "first health is written"
        );
        let g = &d.status.resolved_groups[0];
        assert_eq!(g.records, Some(12_000));
        assert_eq!(g.used_bytes, Some(12_000_000));
        let p = d.status.placement.as_ref().map(|p| p.free_bytes);
        assert_eq!(p, Some(Some(53_000_000_000)));
        assert_eq!(
            coarse_groups(&health(99, 0, GroupState::Ok).resolved_groups)[0].records,
            Some(99)
        );
    }

    #[test]
    fn idle_bucket_is_not_rewritten_and_moving_numbers_wait_for_the_interval() {
        let (first, _) = draft_with(&bucket(), 12_345, FREE, GroupState::Ok, true);
        let mut b = bucket();
        b.status = Some(first.status.clone());

        // Disk activity: exact numbers moved, coarse ones did not. No write, even when due.
        let (d, moved) = draft_with(&b, 12_399, FREE - (7 << 20), GroupState::Ok, true);
        assert!(!moved && !d.changed() && !d.health_moved());

        // Coarse numbers moved, written less than an interval ago: keep the object's.
        let (d, moved) = draft_with(&b, 13_500, FREE / 2, GroupState::Ok, false);
        assert!(!moved && !d.changed(), "{:?}", d.status);
        assert_eq!(d.status.resolved_groups[0].records, Some(12_000));
        assert_eq!(
            find_condition(&d.status.conditions, types::REPLICAS_IN_SYNC)
                .map(|c| c.message.as_str()),
            Some("live records group 1: 12000")
        );

        // The same once the interval has passed: written.
        let (d, moved) = draft_with(&b, 13_500, FREE / 2, GroupState::Ok, true);
        assert!(moved && d.changed());
        assert_eq!(d.status.resolved_groups[0].records, Some(13_000));
        assert_eq!(
            d.status.placement.as_ref().and_then(|p| p.free_bytes),
            Some(26_000_000_000)
        );

        // A change of state is written at once, numbers and all.
        let (d, moved) = draft_with(&b, 13_500, FREE / 2, GroupState::ReadOnly, false);
        assert!(moved && d.changed());
        assert_eq!(d.status.resolved_groups[0].health, GroupState::ReadOnly);
        assert_eq!(d.status.resolved_groups[0].records, Some(13_000));
        assert_eq!(
            d.reason(types::GROUPS_HEALTHY),
            Some(reasons::GROUPS_DEGRADED)
        );
    }
}
