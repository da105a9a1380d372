//! Kubernetes Events of every controller. Publishing is best effort: a
//! failed event is logged and never fails a reconcile.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};

/// Stable `reason` values of the Events (besides the condition reasons, which are reused).
pub mod reasons {
    /// Bucket: the metadata was written (new bucket or spec change).
    pub const METADATA_WRITTEN: &str = "MetadataWritten";
    /// Bucket: someone changed the metadata; the operator wrote it back.
    pub const DRIFT_CORRECTED: &str = "DriftCorrected";
    /// Bucket: the operator took ownership of the Elliptics bucket.
    pub const OWNERSHIP_CLAIMED: &str = "OwnershipClaimed";
    /// Bucket: the ownership record was released (Retain) or removed (Delete).
    pub const OWNERSHIP_RELEASED: &str = "OwnershipReleased";
    /// Bucket: the token-alias record was written or removed.
    pub const TOKEN_ALIASES_UPDATED: &str = "TokenAliasesUpdated";
    /// Bucket: the bucket was added to the bucket list.
    pub const LISTED: &str = "AddedToBucketList";
    /// Bucket: metadata removed on deletion (reclaimPolicy Delete).
    pub const METADATA_REMOVED: &str = "MetadataRemoved";
    /// `purgeData` removed the bucket's objects (how many, how long).
    pub const DATA_PURGED: &str = "DataPurged";
    /// Bucket: metadata kept on deletion (reclaimPolicy Retain).
    pub const METADATA_RETAINED: &str = "MetadataRetained";
    /// AclPolicy: a user's first token.
    pub const TOKEN_CREATED: &str = "TokenCreated";
    /// AclPolicy: a user's token was rotated.
    pub const TOKEN_ROTATED: &str = "TokenRotated";
    /// AclPolicy: the overlap ended; the previous token no longer works.
    pub const ROTATION_COMPLETED: &str = "RotationCompleted";
}

/// Publishes one event about `obj`; `warning` selects the Warning type.
pub async fn publish<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    obj: &K,
    warning: bool,
    reason: &str,
    note: String,
) {
    let reference: ObjectReference = obj.object_ref(&());
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_owned(),
        note: Some(truncate(note)),
        action: "Reconcile".into(),
        secondary: None,
    };
    tracing::info!(
        kind = K::kind(&()).as_ref(),
        name = reference.name.as_deref().unwrap_or_default(),
        namespace = reference.namespace.as_deref().unwrap_or_default(),
        reason,
        note = event.note.as_deref().unwrap_or_default(),
        "event"
    );
    if let Err(e) = recorder.publish(&event, &reference).await {
        tracing::warn!(error = %e, reason, "publishing an event failed");
    }
}

/// Event notes are limited to 1 KiB by the apiserver.
fn truncate(mut note: String) -> String {
    if note.len() > 1000 {
        let mut cut = 1000;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
    }
    note
}
