//! The Bucket status being built during a reconcile ([`StatusDraft`]), the events derived
//! from its condition changes, and the server-side apply that writes it — only when it
//! differs from what the object already has.

use backrunner_crds::bucket::{Bucket, BucketStatus, reasons};
use backrunner_crds::condition::{
    ConditionStatus, ConditionUpdate, Time, find_condition, set_condition, types,
};
use backrunner_crds::{API_VERSION, AclPolicy, AclPolicyStatus};
use k8s_openapi::chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::Recorder;
use kube::{Resource, ResourceExt};

use crate::bucket::events;
use crate::health::ConditionValue;

/// Field manager of every status write of the operator.
pub const FIELD_MANAGER: &str = "backrunner-operator";

/// A status being built from the object's current one.
#[derive(Debug, Clone)]
pub struct StatusDraft {
    /// The status to write.
    pub status: BucketStatus,
    original: Option<BucketStatus>,
    now: Time,
    generation: Option<i64>,
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

/// Server-side apply of `status` on the status subresource of `name` (fixed field manager,
/// forced: the operator is the only writer of status).
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize,
{
    let body = serde_json::json!({
        "apiVersion": API_VERSION,
        "kind": K::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(name, &params, &Patch::Apply(&body))
        .await?;
    Ok(())
}

/// [`apply_status`] for an AclPolicy, skipped when equal to `current`.
pub async fn apply_policy_status(
    api: &Api<AclPolicy>,
    name: &str,
    current: Option<&AclPolicyStatus>,
    next: &AclPolicyStatus,
) -> Result<bool, kube::Error> {
    if current == Some(next) {
        return Ok(false);
    }
    apply_status::<AclPolicy, _>(api, name, next).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backrunner_crds::bucket::{BucketSpec, ClusterRef};

    fn bucket() -> Bucket {
        let mut b = Bucket::new(
            "b",
            BucketSpec {
                cluster_ref: ClusterRef {
                    name: "c".into(),
                    namespace: None,
                },
                bucket_name: None,
                groups: vec![1],
                quota: Default::default(),
                acl_policy_refs: vec![],
                public_read: false,
                auto_select: Default::default(),
                reclaim_policy: Default::default(),
                purge_data: None,
                deletion_protection: false,
            },
        );
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
}
