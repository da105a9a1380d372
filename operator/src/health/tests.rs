//! Tests of the group-health and replica-sync rules, one per rule.

use std::time::SystemTime;

use backrunner_crds::bucket::reasons;
use backrunner_crds::cluster::GroupState;
use backrunner_crds::condition::{ConditionStatus, ConditionUpdate, set_condition};
use elliptics::proto::NodeAddr;
use elliptics::stats::BackendStat;

use super::*;
use crate::stats_cache::{BackendSample, ClusterStats};

/// A healthy backend of `group` with `live` live records of 1000 bytes each.
fn stat(group: u32, backend_id: i32, live: u64) -> BackendStat {
    BackendStat {
        backend_id,
        group,
        state: 1,
        vfs_total: 1 << 40,
        vfs_avail: 1 << 39,
        total_size_limit: 1 << 30,
        used_size: live * 1000 + 500,
        removed_size: 500,
        records_total: live + 1,
        records_removed: 1,
        ..BackendStat::default()
    }
}

fn cluster(stats: Vec<BackendStat>) -> ClusterStats {
    ClusterStats {
        polled_at: SystemTime::UNIX_EPOCH,
        backends: stats
            .into_iter()
            .enumerate()
            .map(|(i, stat)| BackendSample {
                node: NodeAddr(std::net::SocketAddr::from((
                    [127, 0, 0, 1],
                    1025 + i as u16,
                ))),
                stat,
            })
            .collect(),
        unreachable_nodes: Vec::new(),
    }
}

fn t() -> ReplicaThresholds {
    ReplicaThresholds::default()
}

#[test]
fn no_stats_is_unknown() {
    let h = bucket_health(None, &[1, 2], &t());
    assert_eq!(h.groups_healthy.status, ConditionStatus::Unknown);
    assert_eq!(h.groups_healthy.reason, reasons::NO_STATS);
    assert_eq!(h.replicas_in_sync.status, ConditionStatus::Unknown);
    assert_eq!(h.resolved_groups.len(), 2);
    assert_eq!(h.resolved_groups[0].health, GroupState::Unknown);
    assert_eq!(h.free_bytes, None);
}

#[test]
fn healthy_groups_in_sync() {
    let s = cluster(vec![stat(1, 1, 100), stat(2, 1, 100)]);
    let h = bucket_health(Some(&s), &[1, 2], &t());
    assert_eq!(h.groups_healthy.status, ConditionStatus::True);
    assert_eq!(h.groups_healthy.reason, reasons::ALL_GROUPS_HEALTHY);
    assert_eq!(h.replicas_in_sync.status, ConditionStatus::True);
    assert_eq!(h.replicas_in_sync.reason, reasons::REPLICAS_MATCH);
    assert_eq!(h.resolved_groups[1].records, Some(100));
    assert_eq!(h.resolved_groups[1].used_bytes, Some(100_000));
    // Limit 1 GiB minus used; the file system has more.
    assert_eq!(h.free_bytes, Some((1 << 30) - 100_500));
}

#[test]
fn group_state_is_the_worst_backend() {
    let mut ro = stat(1, 2, 10);
    ro.read_only = true;
    let mut defrag = stat(1, 3, 10);
    defrag.defrag_state = 1;
    let s = cluster(vec![stat(1, 1, 10), defrag.clone()]);
    assert_eq!(
        group_state(group_totals(&s).get(&1)),
        GroupState::Defragmenting
    );
    let s = cluster(vec![stat(1, 1, 10), ro.clone(), defrag]);
    assert_eq!(group_state(group_totals(&s).get(&1)), GroupState::ReadOnly);
    let mut err = stat(1, 4, 10);
    err.error_code = -5;
    let s = cluster(vec![ro, err]);
    assert_eq!(
        group_state(group_totals(&s).get(&1)),
        GroupState::Unreachable
    );
    assert_eq!(group_state(None), GroupState::Unreachable);
}

#[test]
fn degraded_and_unreachable_groups() {
    let mut ro = stat(2, 1, 10);
    ro.read_only = true;
    let s = cluster(vec![stat(1, 1, 10), ro]);
    let h = bucket_health(Some(&s), &[1, 2, 3], &t());
    assert_eq!(h.groups_healthy.status, ConditionStatus::False);
    assert_eq!(h.groups_healthy.reason, reasons::GROUPS_DEGRADED);
    assert!(h.groups_healthy.message.contains("group 2: ReadOnly"));
    assert!(h.groups_healthy.message.contains("group 3: Unreachable"));
    assert!(h.groups_healthy.message.starts_with("2 of 3"));
    assert_eq!(h.resolved_groups[2].health, GroupState::Unreachable);
    // A group missing: no effective free space can be claimed.
    assert_eq!(h.free_bytes, None);
    let h = bucket_health(Some(&s), &[7, 8], &t());
    assert_eq!(h.groups_healthy.reason, reasons::GROUPS_UNREACHABLE);
}

#[test]
fn missing_group_breaks_sync() {
    let s = cluster(vec![stat(1, 1, 100)]);
    let h = bucket_health(Some(&s), &[1, 2], &t());
    assert_eq!(h.replicas_in_sync.status, ConditionStatus::False);
    assert_eq!(h.replicas_in_sync.reason, reasons::GROUP_MISSING);
    assert!(h.replicas_in_sync.message.contains("group 2"));
    assert!(h.replicas_in_sync.message.contains("1 of 2"));
}

#[test]
fn read_only_group_breaks_sync() {
    let mut ro = stat(2, 1, 100);
    ro.read_only = true;
    let s = cluster(vec![stat(1, 1, 100), ro]);
    let h = bucket_health(Some(&s), &[1, 2], &t());
    assert_eq!(h.replicas_in_sync.reason, reasons::GROUP_READ_ONLY);
    assert!(h.replicas_in_sync.message.contains("group 2"));
}

#[test]
fn record_counts_diverge_past_the_threshold_only() {
    // 100 vs 95: 5% is not more than 5%.
    let s = cluster(vec![stat(1, 1, 100), stat(2, 1, 95)]);
    let mut th = t();
    th.used_bytes_ratio = 1.0;
    let h = bucket_health(Some(&s), &[1, 2], &th);
    assert_eq!(h.replicas_in_sync.status, ConditionStatus::True);
    // 100 vs 94: 6% is.
    let s = cluster(vec![stat(1, 1, 100), stat(2, 1, 94)]);
    let h = bucket_health(Some(&s), &[1, 2], &th);
    assert_eq!(h.replicas_in_sync.status, ConditionStatus::False);
    assert_eq!(h.replicas_in_sync.reason, reasons::RECORD_COUNTS_DIVERGED);
    let m = &h.replicas_in_sync.message;
    assert!(m.contains("6.0%"), "{m}");
    assert!(
        m.contains("group 1: 100") && m.contains("group 2: 94"),
        "{m}"
    );
}

#[test]
fn records_sum_over_backends_of_a_group() {
    // Group 1 spread over two backends (60 + 40) matches group 2 on one backend (100).
    let s = cluster(vec![stat(1, 1, 60), stat(1, 2, 40), stat(2, 1, 100)]);
    let h = bucket_health(Some(&s), &[1, 2], &t());
    assert_eq!(h.replicas_in_sync.status, ConditionStatus::True, "{h:?}");
    assert_eq!(h.resolved_groups[0].records, Some(100));
}

#[test]
fn used_bytes_diverge() {
    // Same records, group 2 holds 20% fewer live bytes.
    let mut small = stat(2, 1, 100);
    small.used_size = 80_000 + 500;
    let s = cluster(vec![stat(1, 1, 100), small]);
    let h = bucket_health(Some(&s), &[1, 2], &t());
    assert_eq!(h.replicas_in_sync.reason, reasons::USED_BYTES_DIVERGED);
    assert!(h.replicas_in_sync.message.contains("20.0%"));
    // Removed bytes alone (one replica not yet defragmented) do not count.
    let mut undefragged = stat(2, 1, 100);
    undefragged.used_size += 50_000;
    undefragged.removed_size += 50_000;
    let s = cluster(vec![stat(1, 1, 100), undefragged]);
    let h = bucket_health(Some(&s), &[1, 2], &t());
    assert_eq!(h.replicas_in_sync.status, ConditionStatus::True);
}

#[test]
fn changed_from_ignores_message_only_moves() {
    let s = cluster(vec![stat(1, 1, 100), stat(2, 1, 100)]);
    let v = bucket_health(Some(&s), &[1, 2], &t()).replicas_in_sync;
    assert!(v.changed_from(&[]));
    let mut conds = Vec::new();
    set_condition(
        &mut conds,
        ConditionUpdate::new(v.type_, v.status, v.reason).message("old numbers"),
        backrunner_crds::condition::Time(k8s_openapi::chrono::Utc::now()),
    );
    assert!(!v.changed_from(&conds));
    let s = cluster(vec![stat(1, 1, 100), stat(2, 1, 10)]);
    let w = bucket_health(Some(&s), &[1, 2], &t()).replicas_in_sync;
    assert!(w.changed_from(&conds));
    assert!(w.is_warning());
}
