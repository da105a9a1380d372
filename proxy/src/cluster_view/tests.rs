//! Cluster view tests: read ordering by health, staleness, failed polls, and the
//! selection candidate built from statistics plus own write timings.

use elliptics::proto::{BackendIds, IdContainer};

use super::*;

fn addr(port: u16) -> NodeAddr {
    NodeAddr(([127, 0, 0, 1], port).into())
}

/// Groups 1, 2, 3 each served by one backend on its own node (ring id 0 owns all keys).
fn routes() -> RouteTable {
    let mut rt = RouteTable::default();
    for g in 1..=3u32 {
        rt.apply(
            addr(1000 + g as u16),
            &IdContainer {
                backends: vec![BackendIds {
                    backend_id: 1,
                    group_id: g,
                    flags: 0,
                    ids: vec![Id::ZERO],
                }],
            },
        );
    }
    rt
}

fn stat(group: u32) -> BackendStat {
    BackendStat {
        backend_id: 1,
        group,
        state: 1,
        vfs_total: 100 << 30,
        vfs_avail: 60 << 30,
        total_size_limit: 100 << 30,
        used_size: 10 << 30,
        records_total: 1000,
        records_removed: 10,
        ..BackendStat::default()
    }
}

#[test]
fn reads_go_to_healthy_groups_first() {
    let view = ClusterView::new(WriteStatsConfig::default(), Duration::from_secs(30));
    let now = Instant::now();
    let mut defrag = stat(1);
    defrag.defrag_state = 1;
    let mut broken = stat(3);
    broken.error_code = 110;
    view.update(
        now,
        vec![
            (addr(1001), Some(vec![defrag])),
            (addr(1002), Some(vec![stat(2)])),
            (addr(1003), Some(vec![broken])),
        ],
    );
    let rt = routes();
    let id = Id::from_key(b"b", b"k");
    assert_eq!(view.read_order(&rt, &id, &[1, 2, 3], now), vec![2, 1, 3]);
    assert_eq!(
        view.read_order(&rt, &id, &[3, 4, 1], now),
        vec![1, 4, 3],
        "group 4 has no route"
    );
    assert!(!view.all_slow(&rt, &id, &[1, 2], now));
    assert!(view.all_slow(&rt, &id, &[1, 3], now));
}

#[test]
fn stale_stats_are_ignored_and_failed_polls_keep_fresh_ones() {
    let view = ClusterView::new(WriteStatsConfig::default(), Duration::from_secs(10));
    let t0 = Instant::now();
    assert!(!view.is_loaded());
    view.update(
        t0,
        vec![
            (addr(1001), Some(vec![stat(1)])),
            (addr(1002), Some(vec![stat(2)])),
        ],
    );
    assert!(view.is_loaded());
    // Node 1002 fails the next poll: its entry survives while fresh.
    let t1 = t0 + Duration::from_secs(5);
    view.update(
        t1,
        vec![(addr(1001), Some(vec![stat(1)])), (addr(1002), None)],
    );
    assert!(view.stat(&(addr(1002), 1), t1).is_some());
    // ... and is gone once stale.
    let t2 = t0 + Duration::from_secs(11);
    view.update(
        t2,
        vec![(addr(1001), Some(vec![stat(1)])), (addr(1002), None)],
    );
    assert!(view.stat(&(addr(1002), 1), t2).is_none());
    assert!(view.stat(&(addr(1001), 1), t2).is_some());
}

#[test]
fn candidate_combines_stats_and_write_timings() {
    let view = ClusterView::new(WriteStatsConfig::default(), Duration::from_secs(30));
    let now = Instant::now();
    let mut ro = stat(2);
    ro.read_only = true;
    view.update(
        now,
        vec![
            (addr(1001), Some(vec![stat(1)])),
            (addr(1002), Some(vec![ro])),
        ],
    );
    // A 1 MiB write to the node's backend 1 that took 10 ms.
    let write_mib = |port, ok| {
        view.record_write((addr(port), 1), now, 1 << 20, Duration::from_millis(10), ok);
    };
    for _ in 0..10 {
        write_mib(1001, true);
    }
    write_mib(1002, false);
    let mut bucket = BucketMetadata::new("b");
    bucket.groups = vec![1, 2, 3];
    let c = view.candidate(&routes(), &bucket, &Id::from_key(b"b", b"k"), now);
    assert_eq!(c.bucket, "b");
    let g1 = c.groups[0].backend.as_ref().unwrap();
    assert_eq!(g1.records_live, 990);
    assert!(g1.write_time_per_byte.is_some_and(|t| t > 0.0));
    assert_eq!(g1.recent_errors, 0.0);
    let g2 = c.groups[1].backend.as_ref().unwrap();
    assert!(g2.read_only);
    assert!(g2.recent_errors > 0.0);
    assert!(c.groups[2].backend.is_none(), "no stats for group 3");
}
