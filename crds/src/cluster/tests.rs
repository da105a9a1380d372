//! Unit tests of the `cluster` module: example manifests, defaults and the policy helpers.

use super::*;
use crate::test_support::{parse, round_trip_json};

const FULL: &str = r#"
apiVersion: backrunner.io/v1alpha1
kind: EllipticsCluster
metadata:
  name: storage
  namespace: backrunner
spec:
  remotes: ["10.0.0.5:1025:2", "[::1]:1026:10", "node-0.elliptics:1025:2"]
  metadataGroups: [1, 2]
  protocolVersion: "3.0"
  allowedNamespaces:
    from: Selector
    selector:
      matchLabels:
        backrunner.io/storage: allowed
  bucketListKey: bucket-list
  defragPolicy:
    removedRatioThreshold: 0.25
    minFreeRatio: 0.5
    window: {start: "22:00", end: "04:00"}
    maxPerNode: 2
    maxBucketGroupFraction: 0.34
    suspend: true
  placement:
    reportIntervalSeconds: 10
    stalenessSeconds: 60
status:
  observedGeneration: 3
  reportingProxies: 2
  groups:
    - {group: 1, freeBytes: 1000, removedRatio: 0.1, state: Ok}
    - {group: 2, freeBytes: 0, removedRatio: 0.5, state: ReadOnly}
  conditions:
    - type: Ready
      status: "True"
      reason: Available
      message: ""
      lastTransitionTime: "2026-01-02T03:04:05Z"
"#;

const MINIMAL: &str = r#"
apiVersion: backrunner.io/v1alpha1
kind: EllipticsCluster
metadata: {name: dev}
spec:
  remotes: ["127.0.0.1:1025:2"]
  metadataGroups: [1]
"#;

#[test]
fn full_example_round_trips() {
    let ec: EllipticsCluster = parse(FULL);
    assert_eq!(ec.spec.protocol_version, ProtocolVersion::V3_0);
    assert_eq!(ec.spec.allowed_namespaces.from, NamespacesFrom::Selector);
    assert_eq!(ec.spec.bucket_list_key.as_deref(), Some("bucket-list"));
    assert_eq!(ec.spec.defrag_policy.max_per_node, 2);
    let window = ec.spec.defrag_policy.window.as_ref().expect("window");
    assert_eq!(window.start, "22:00");
    let status = ec.status.as_ref().expect("status");
    assert_eq!(status.groups[1].state, GroupState::ReadOnly);
    assert_eq!(status.conditions[0].type_, "Ready");

    let json = round_trip_json(&ec);
    assert_eq!(json["spec"]["protocolVersion"], "3.0");
    assert_eq!(json["spec"]["defragPolicy"]["maxBucketGroupFraction"], 0.34);
    assert_eq!(json["status"]["reportingProxies"], 2);
}

#[test]
fn minimal_example_gets_defaults() {
    let ec: EllipticsCluster = parse(MINIMAL);
    let spec = &ec.spec;
    assert_eq!(spec.protocol_version, ProtocolVersion::V2_26);
    assert_eq!(spec.allowed_namespaces, AllowedNamespaces::default());
    assert_eq!(spec.allowed_namespaces.from, NamespacesFrom::Same);
    assert_eq!(spec.bucket_list_key, None);
    assert_eq!(spec.defrag_policy, DefragPolicy::default());
    assert_eq!(spec.defrag_policy.max_per_node, 1);
    assert_eq!(spec.defrag_policy.max_bucket_group_fraction, 0.5);
    assert!(!spec.defrag_policy.suspend);
    assert_eq!(spec.placement.report_interval_seconds, 5);
    assert_eq!(spec.placement.staleness_seconds, 30);
    assert!(ec.status.is_none());
    assert_eq!(ProtocolVersion::V2_26.as_str(), "2.26");
    assert_eq!(ProtocolVersion::V3_0.as_str(), "3.0");
}

#[test]
fn allowed_namespaces() {
    let no_labels = BTreeMap::new();
    let same = AllowedNamespaces::default();
    assert!(same.permits("ops", "ops", &no_labels));
    assert!(!same.permits("ops", "team-a", &no_labels));

    let all = AllowedNamespaces {
        from: NamespacesFrom::All,
        ..Default::default()
    };
    assert!(all.permits("ops", "team-a", &no_labels));

    let list = AllowedNamespaces {
        from: NamespacesFrom::List,
        names: vec!["team-a".into()],
        selector: None,
    };
    assert!(list.permits("ops", "team-a", &no_labels));
    assert!(!list.permits("ops", "team-b", &no_labels));

    let ec: EllipticsCluster = parse(FULL);
    let sel = &ec.spec.allowed_namespaces;
    let labels = BTreeMap::from([("backrunner.io/storage".to_owned(), "allowed".to_owned())]);
    assert!(sel.permits("backrunner", "team-a", &labels));
    assert!(!sel.permits("backrunner", "team-a", &no_labels));
    let missing = AllowedNamespaces {
        from: NamespacesFrom::Selector,
        ..Default::default()
    };
    assert!(!missing.permits("ops", "team-a", &labels));
}

#[test]
fn needs_defrag_thresholds() {
    let p = DefragPolicy::default();
    assert!(p.needs_defrag(0.3, 0.9));
    assert!(!p.needs_defrag(0.29, 0.0));
    let p = DefragPolicy {
        removed_ratio_threshold: 0.1,
        min_free_ratio: 0.2,
        ..Default::default()
    };
    assert!(p.needs_defrag(0.15, 0.2));
    assert!(!p.needs_defrag(0.15, 0.21));
    let zero = DefragPolicy {
        removed_ratio_threshold: 0.0,
        ..Default::default()
    };
    assert!(
        !zero.needs_defrag(0.0, 0.0),
        "nothing removed, nothing to reclaim"
    );
}

#[test]
fn bucket_group_limit_never_exceeds_half() {
    let p = DefragPolicy::default();
    assert_eq!(p.max_bucket_groups(0), 0);
    assert_eq!(p.max_bucket_groups(1), 0);
    assert_eq!(p.max_bucket_groups(2), 1);
    assert_eq!(p.max_bucket_groups(3), 1);
    assert_eq!(p.max_bucket_groups(4), 2);
    let small = DefragPolicy {
        max_bucket_group_fraction: 0.1,
        ..Default::default()
    };
    assert_eq!(small.max_bucket_groups(3), 1);
    assert_eq!(small.max_bucket_groups(20), 2);
}

#[test]
fn windows_wrap_midnight() {
    let w = |start: &str, end: &str| DefragWindow {
        start: start.into(),
        end: end.into(),
    };
    let night = w("22:00", "04:00");
    assert!(night.contains(22 * 60));
    assert!(night.contains(0));
    assert!(night.contains(4 * 60 - 1));
    assert!(!night.contains(4 * 60));
    assert!(!night.contains(12 * 60));
    let day = w("09:30", "17:00");
    assert!(day.contains(9 * 60 + 30));
    assert!(!day.contains(17 * 60));
    assert!(w("05:00", "05:00").contains(123));
    assert!(!w("25:00", "05:00").contains(123));

    let mut p = DefragPolicy::default();
    assert!(p.in_window(0));
    p.window = Some(day);
    assert!(!p.in_window(0));
}

#[test]
fn hh_mm_parsing() {
    assert_eq!(parse_hh_mm("00:00"), Some(0));
    assert_eq!(parse_hh_mm("23:59"), Some(1439));
    assert_eq!(parse_hh_mm("24:00"), None);
    assert_eq!(parse_hh_mm("7:00"), None);
    assert_eq!(parse_hh_mm("07:60"), None);
    assert_eq!(parse_hh_mm("0700"), None);
}
