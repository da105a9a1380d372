//! Unit tests of the `bucket` module: example manifests, defaults and the rules the operator re-checks.

use super::*;
use crate::test_support::{parse, round_trip_json};

const FULL: &str = r#"
apiVersion: backrunner.io/v1alpha1
kind: Bucket
metadata:
  name: videos
  namespace: team-a
  annotations:
    backrunner.io/force-release: "true"
spec:
  clusterRef: {name: storage, namespace: backrunner}
  bucketName: videos-2026
  groups: [1, 2, 3]
  quota: {maxSize: 10737418240, maxObjects: 1000000}
  aclPolicyRefs: [uploaders, readers]
  publicRead: true
  autoSelect: {enabled: true, weight: 250, drain: false}
  reclaimPolicy: Delete
  purgeData: {confirm: videos-2026}
  deletionProtection: true
status:
  observedGeneration: 4
  bucketName: videos-2026
  resolvedGroups:
    - {group: 1, health: Ok, records: 10, usedBytes: 4096}
    - {group: 2, health: Unreachable}
  aclUsers:
    - {name: alice, flags: 2, policy: uploaders}
  metadataDigest: 9f86d081884c7d65
  placement: {selectable: true, freeBytes: 123, weight: 250}
  conditions:
    - type: Synced
      status: "True"
      reason: MetadataWritten
      message: ""
      lastTransitionTime: "2026-01-02T03:04:05Z"
      observedGeneration: 4
"#;

const MINIMAL: &str = r#"
apiVersion: backrunner.io/v1alpha1
kind: Bucket
metadata: {name: logs, namespace: team-a}
spec:
  clusterRef: {name: storage}
  groups: [1, 2]
"#;

#[test]
fn full_example_round_trips() {
    let b: Bucket = parse(FULL);
    assert_eq!(b.bucket_name(), "videos-2026");
    assert_eq!(b.spec.cluster_ref.namespace.as_deref(), Some("backrunner"));
    assert_eq!(b.spec.quota.max_size, 10 << 30);
    assert_eq!(b.spec.auto_select.effective_weight(), 250);
    assert!(b.spec.auto_select.selectable());
    assert_eq!(b.spec.reclaim_policy, ReclaimPolicy::Delete);
    assert!(b.force_release_requested());
    let status = b.status.as_ref().expect("status");
    assert_eq!(status.resolved_groups[1].health, GroupState::Unreachable);
    assert_eq!(status.acl_users[0].flags, 2);

    let json = round_trip_json(&b);
    assert_eq!(json["spec"]["purgeData"]["confirm"], "videos-2026");
    assert_eq!(json["spec"]["aclPolicyRefs"][1], "readers");
    assert_eq!(json["status"]["resolvedGroups"][0]["usedBytes"], 4096);
    assert!(b.violations().is_empty(), "{:?}", b.violations());
}

#[test]
fn minimal_example_gets_defaults() {
    let b: Bucket = parse(MINIMAL);
    assert_eq!(b.bucket_name(), "logs");
    assert_eq!(b.spec.bucket_name, None);
    assert_eq!(b.spec.cluster_ref.namespace, None);
    assert_eq!(b.spec.quota, Quota::default());
    assert!(b.spec.acl_policy_refs.is_empty());
    assert!(!b.spec.public_read);
    assert_eq!(b.spec.auto_select, AutoSelect::default());
    assert!(!b.spec.auto_select.selectable());
    assert_eq!(
        b.spec.auto_select.effective_weight(),
        AutoSelect::DEFAULT_WEIGHT
    );
    assert_eq!(b.spec.reclaim_policy, ReclaimPolicy::Retain);
    assert_eq!(b.spec.purge_data, None);
    assert!(!b.spec.deletion_protection);
    assert!(!b.force_release_requested());
    assert!(b.violations().is_empty());

    // Optional fields stay out of the serialized form.
    let json = serde_json::to_value(&b.spec).expect("serializes");
    assert!(json.get("bucketName").is_none());
    assert!(json.get("purgeData").is_none());
    assert!(json.get("aclPolicyRefs").is_none());
}

#[test]
fn draining_is_not_selectable() {
    let a = AutoSelect {
        enabled: true,
        weight: None,
        drain: true,
    };
    assert!(!a.selectable());
}

#[test]
fn spec_rules() {
    let mut b: Bucket = parse(MINIMAL);
    b.spec.groups = vec![];
    assert_eq!(b.violations(), vec![SpecViolation::NoGroups]);
    b.spec.groups = vec![1, 2, 1, 1];
    assert_eq!(b.violations(), vec![SpecViolation::DuplicateGroup(1)]);
    b.spec.groups = vec![1, 2];

    b.spec.purge_data = Some(PurgeData {
        confirm: "logs".into(),
    });
    assert_eq!(b.violations(), vec![SpecViolation::PurgeWithoutDelete]);
    b.spec.reclaim_policy = ReclaimPolicy::Delete;
    assert!(b.violations().is_empty());
    b.spec.purge_data = Some(PurgeData {
        confirm: "other".into(),
    });
    assert_eq!(b.violations(), vec![SpecViolation::PurgeNotConfirmed]);
    assert_eq!(
        SpecViolation::PurgeNotConfirmed.reason(),
        reasons::INVALID_SPEC
    );
}

#[test]
fn quota_above_int64_is_refused() {
    let mut b: Bucket = parse(MINIMAL);
    b.spec.quota.max_size = crate::bucket::Quota::MAX;
    assert!(b.violations().is_empty(), "i64::MAX is the largest allowed");
    b.spec.quota.max_size = u64::MAX;
    b.spec.quota.max_objects = crate::bucket::Quota::MAX + 1;
    let v = b.violations();
    assert_eq!(
        v,
        vec![
            SpecViolation::QuotaTooLarge("maxSize", u64::MAX),
            SpecViolation::QuotaTooLarge("maxObjects", crate::bucket::Quota::MAX + 1),
        ]
    );
    assert_eq!(v[0].reason(), reasons::INVALID_SPEC);
    assert!(v[0].to_string().contains("9223372036854775807"));
}

#[test]
fn transition_rules_against_status() {
    let mut b: Bucket = parse(MINIMAL);
    b.status = Some(BucketStatus {
        bucket_name: Some("logs".into()),
        resolved_groups: [1, 2]
            .map(|group| ResolvedGroup {
                group,
                health: GroupState::Ok,
                records: None,
                used_bytes: None,
            })
            .to_vec(),
        ..Default::default()
    });
    assert!(b.violations().is_empty());

    // Adding a group is fine; removing one is not.
    b.spec.groups = vec![1, 2, 3];
    assert!(b.violations().is_empty());
    b.spec.groups = vec![2, 3];
    let v = b.violations();
    assert_eq!(v, vec![SpecViolation::GroupsRemoved(vec![1])]);
    assert_eq!(v[0].reason(), reasons::IMMUTABLE_FIELD_CHANGED);
    assert!(v[0].to_string().contains("[1]"));
    b.spec.groups = vec![1, 2];

    // Setting bucketName to the defaulted name changes nothing; another name does.
    b.spec.bucket_name = Some("logs".into());
    assert!(b.violations().is_empty());
    b.spec.bucket_name = Some("logs2".into());
    let v = b.violations();
    assert_eq!(
        v,
        vec![SpecViolation::BucketNameChanged {
            applied: "logs".into(),
            requested: "logs2".into()
        }]
    );
    assert_eq!(v[0].reason(), reasons::IMMUTABLE_FIELD_CHANGED);
}
