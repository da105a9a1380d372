//! Tests of the EllipticsCluster status rules.

use std::time::{Duration, SystemTime};

use backrunner_crds::cluster::{GroupState, GroupSummary, reasons};
use backrunner_crds::condition::ConditionStatus;
use elliptics::proto::NodeAddr;
use elliptics::stats::BackendStat;
use k8s_openapi::chrono::{TimeZone, Utc};

use super::status::*;
use crate::stats_cache::{BackendSample, ClusterStats};

#[test]
fn reachable_names_the_remotes() {
    let c = reachable(&Reach::Down("connection refused".into()));
    assert_eq!(
        (c.status, c.reason),
        (ConditionStatus::False, reasons::NO_REMOTE_ANSWERED)
    );
    let c = reachable(&Reach::Up {
        answered: vec!["a:1:2".into()],
        silent: vec![],
        nodes: 3,
    });
    assert_eq!(
        (c.status, c.reason),
        (ConditionStatus::True, reasons::AVAILABLE)
    );
    assert!(c.message.contains("a:1:2") && c.message.contains("3 nodes"));
    let c = reachable(&Reach::Up {
        answered: vec!["a:1:2".into()],
        silent: vec!["b:1:2".into()],
        nodes: 1,
    });
    assert_eq!(c.reason, reasons::PARTIALLY_REACHABLE);
    assert!(c.message.contains("not answering: b:1:2"));
}

#[test]
fn metadata_writable_needs_routes_and_a_good_probe() {
    let c = metadata_writable(&[1, 2], None, None);
    assert_eq!(c.status, ConditionStatus::False);
    let c = metadata_writable(&[1, 2], Some(&[1, 3]), None);
    assert_eq!(c.reason, reasons::METADATA_GROUP_MISSING);
    assert!(c.message.contains("group 2"));
    let c = metadata_writable(&[1, 2], Some(&[1, 2]), Some(&[(2, "EROFS".into())]));
    assert_eq!(c.reason, reasons::METADATA_WRITE_FAILED);
    assert!(c.message.contains("group 2: EROFS"));
    let c = metadata_writable(&[1, 2], Some(&[1, 2]), Some(&[]));
    assert_eq!(
        (c.status, c.reason),
        (ConditionStatus::True, reasons::AVAILABLE)
    );
    assert!(c.message.contains("probe write"));
}

#[test]
fn ready_takes_the_first_failing_reason() {
    let r = reachable(&Reach::Up {
        answered: vec!["a".into()],
        silent: vec![],
        nodes: 1,
    });
    let m = metadata_writable(&[1], Some(&[2]), None);
    let c = ready(&r, &m);
    assert_eq!(
        (c.status, c.reason),
        (ConditionStatus::False, reasons::METADATA_GROUP_MISSING)
    );
    assert!(c.message.starts_with("MetadataWritable: "));
    let m = metadata_writable(&[1], Some(&[1]), Some(&[]));
    assert_eq!(ready(&r, &m).status, ConditionStatus::True);
}

fn stats(backends: Vec<(u32, u64, u64, bool)>) -> ClusterStats {
    ClusterStats {
        polled_at: SystemTime::UNIX_EPOCH,
        backends: backends
            .into_iter()
            .enumerate()
            .map(|(i, (group, used, removed, ro))| BackendSample {
                node: NodeAddr(std::net::SocketAddr::from((
                    [127, 0, 0, 1],
                    1000 + i as u16,
                ))),
                stat: BackendStat {
                    backend_id: 1,
                    group,
                    state: 1,
                    read_only: ro,
                    vfs_total: 1 << 40,
                    vfs_avail: 1 << 40,
                    total_size_limit: 1_000_000_000,
                    used_size: used,
                    removed_size: removed,
                    ..BackendStat::default()
                },
            })
            .collect(),
        unreachable_nodes: vec![],
    }
}

#[test]
fn group_summary_is_coarse_and_lists_routed_groups_without_stats() {
    let s = stats(vec![(1, 100_000_000, 30_000_000, false), (2, 5, 0, true)]);
    let g = summarize_groups(&s, &[1, 2, 3]);
    assert_eq!(g.len(), 3);
    assert_eq!(g[0].free_bytes, 900_000_000);
    assert_eq!(g[0].removed_ratio, 0.3);
    assert_eq!(g[0].state, GroupState::Ok);
    assert_eq!(g[1].state, GroupState::ReadOnly);
    assert_eq!(g[2].state, GroupState::Unreachable);
}

#[test]
fn group_summary_updates_at_most_once_per_interval_unless_state_changes() {
    let t0 = Utc.timestamp_opt(1_000, 0).single();
    let g = |free: u64, state| {
        vec![GroupSummary {
            group: 1,
            free_bytes: free,
            removed_ratio: 0.1,
            state,
        }]
    };
    let minute = Duration::from_secs(60);
    let now = |s: i64| Utc.timestamp_opt(s, 0).single().unwrap_or_default();
    // Last written at t0, looked at `at` seconds.
    let update = |old: &[GroupSummary], new: &[GroupSummary], at: i64| {
        should_update_groups(old, new, t0, now(at), minute)
    };
    // Nothing moved: never.
    assert!(!update(
        &g(10, GroupState::Ok),
        &g(10, GroupState::Ok),
        5_000
    ));
    // A number moved: only once the interval has passed.
    assert!(!update(
        &g(10, GroupState::Ok),
        &g(20, GroupState::Ok),
        1_059
    ));
    assert!(update(
        &g(10, GroupState::Ok),
        &g(20, GroupState::Ok),
        1_060
    ));
    // A state changed: at once.
    assert!(update(
        &g(10, GroupState::Ok),
        &g(10, GroupState::ReadOnly),
        1_001
    ));
    // First summary: at once.
    assert!(should_update_groups(
        &[],
        &g(10, GroupState::Ok),
        None,
        now(1_001),
        minute
    ));
}
