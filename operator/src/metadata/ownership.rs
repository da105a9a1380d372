//! The pure rule deciding who may manage an Elliptics bucket, over the ownership record
//! ([`backrunner_store::OwnerRecord`]) beside its metadata.
//!
//! # Adoption rule ([`decide`])
//!
//! | stored record | metadata | decision |
//! |---|---|---|
//! | none | none | claim (new bucket) |
//! | none | present | conflict `UnmanagedMetadata`, unless the Bucket carries [`ADOPT_ANNOTATION`]`: "true"` |
//! | released (any install) | any | claim (a Retain deletion handed it back) |
//! | ours (install, namespace, name, uid) | any | owned |
//! | same install, same namespace/name, other uid | any | claim (the object was re-created; the apiserver allows one object per name) |
//! | same install, another object | any | ask the apiserver: if that object is gone (or has another uid) claim, else conflict `OwnedByOther` |
//! | another install | any | conflict `OwnedByOther` |
//!
//! The record is written *before* the metadata, so a crash in between never leaves metadata
//! that looks unmanaged.

use backrunner_crds::bucket::reasons;
pub use backrunner_store::ownership::{OWNER_NAMESPACE, OWNER_RECORD_VERSION, OwnerRecord};

/// Annotation on a Bucket that, set to `"true"`, lets the operator take over metadata that
/// exists without an ownership record (created by `backrunner bucket put` or an original
/// Backrunner). The existing ACL and quota are replaced by the Bucket's.
pub const ADOPT_ANNOTATION: &str = "backrunner.io/adopt";

/// Why the operator takes (or re-takes) ownership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimReason {
    /// Neither metadata nor a record exist.
    NewBucket,
    /// The previous owner released it.
    Released,
    /// The same Bucket name was re-created (new uid).
    Recreated,
    /// Unmanaged metadata adopted through [`ADOPT_ANNOTATION`].
    Adopted,
    /// The recorded owner object no longer exists.
    StaleOwner,
}

/// Outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnershipDecision {
    /// The record is ours; nothing to write.
    Owned,
    /// Write our record, for this reason.
    Claim(ClaimReason),
    /// Another Bucket of this install holds the record: ask the apiserver whether it still
    /// exists with that uid, then call [`decide_after_lookup`].
    CheckOther(OwnerRecord),
    /// Someone else manages the bucket: do not touch it.
    Conflict {
        /// `OwnedByOther` or `UnmanagedMetadata`.
        reason: &'static str,
        /// Human message naming the owner.
        message: String,
    },
}

/// The adoption rule of the module docs. `me` is the record we would write.
pub fn decide(
    record: Option<&OwnerRecord>,
    metadata_exists: bool,
    me: &OwnerRecord,
    adopt_requested: bool,
) -> OwnershipDecision {
    let Some(record) = record else {
        return match (metadata_exists, adopt_requested) {
            (false, _) => OwnershipDecision::Claim(ClaimReason::NewBucket),
            (true, true) => OwnershipDecision::Claim(ClaimReason::Adopted),
            (true, false) => OwnershipDecision::Conflict {
                reason: reasons::UNMANAGED_METADATA,
                message: format!(
                    "bucket metadata exists without an ownership record; set annotation {ADOPT_ANNOTATION}: \"true\" to take it over"
                ),
            },
        };
    };
    if record.released {
        return OwnershipDecision::Claim(ClaimReason::Released);
    }
    if record.is_same_owner(me) {
        return OwnershipDecision::Owned;
    }
    if record.install_id != me.install_id {
        return OwnershipDecision::Conflict {
            reason: reasons::OWNED_BY_OTHER,
            message: format!(
                "owned by install {:?} (Bucket {}/{})",
                record.install_id, record.namespace, record.name
            ),
        };
    }
    if record.namespace == me.namespace && record.name == me.name {
        return OwnershipDecision::Claim(ClaimReason::Recreated);
    }
    OwnershipDecision::CheckOther(record.clone())
}

/// Second step of [`decide`] for [`OwnershipDecision::CheckOther`]: `other_uid` is the uid of
/// the recorded Bucket object as the apiserver has it now (`None` = it does not exist).
pub fn decide_after_lookup(record: &OwnerRecord, other_uid: Option<&str>) -> OwnershipDecision {
    match other_uid {
        Some(uid) if uid == record.uid => OwnershipDecision::Conflict {
            reason: reasons::OWNED_BY_OTHER,
            message: format!("owned by Bucket {}/{}", record.namespace, record.name),
        },
        _ => OwnershipDecision::Claim(ClaimReason::StaleOwner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> OwnerRecord {
        OwnerRecord::new("prod", "team-a", "photos", "uid-1", 10)
    }

    #[test]
    fn fresh_and_unmanaged_buckets() {
        assert_eq!(
            decide(None, false, &me(), false),
            OwnershipDecision::Claim(ClaimReason::NewBucket)
        );
        assert!(matches!(
            decide(None, true, &me(), false),
            OwnershipDecision::Conflict { reason, .. } if reason == reasons::UNMANAGED_METADATA
        ));
        assert_eq!(
            decide(None, true, &me(), true),
            OwnershipDecision::Claim(ClaimReason::Adopted)
        );
    }

    #[test]
    fn own_released_and_recreated() {
        let mine = me();
        assert_eq!(
            decide(Some(&mine), true, &me(), false),
            OwnershipDecision::Owned
        );
        let other_install_released = OwnerRecord::new("staging", "x", "y", "u", 1).released(2);
        assert_eq!(
            decide(Some(&other_install_released), true, &me(), false),
            OwnershipDecision::Claim(ClaimReason::Released)
        );
        let mut older = me();
        older.uid = "uid-0".into();
        assert_eq!(
            decide(Some(&older), true, &me(), false),
            OwnershipDecision::Claim(ClaimReason::Recreated)
        );
    }

    #[test]
    fn other_owners() {
        let other_install = OwnerRecord::new("staging", "team-a", "photos", "uid-1", 1);
        assert!(matches!(
            decide(Some(&other_install), true, &me(), true),
            OwnershipDecision::Conflict { reason, .. } if reason == reasons::OWNED_BY_OTHER
        ));
        let sibling = OwnerRecord::new("prod", "team-b", "pics", "uid-9", 1);
        assert_eq!(
            decide(Some(&sibling), true, &me(), false),
            OwnershipDecision::CheckOther(sibling.clone())
        );
        assert!(matches!(
            decide_after_lookup(&sibling, Some("uid-9")),
            OwnershipDecision::Conflict { reason, .. } if reason == reasons::OWNED_BY_OTHER
        ));
        assert_eq!(
            decide_after_lookup(&sibling, Some("uid-10")),
            OwnershipDecision::Claim(ClaimReason::StaleOwner)
        );
        assert_eq!(
            decide_after_lookup(&sibling, None),
            OwnershipDecision::Claim(ClaimReason::StaleOwner)
        );
    }
}
