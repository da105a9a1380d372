//! The operator's statistics poller and health/defrag rules against real nodes: replicas
//! that drift apart (a key written to one group only) are reported with their numbers, a
//! dead remote is listed unreachable, a missing group is named, and a backend full of
//! removed records is what the defrag planner picks.

use std::time::Duration;

use backrunner_crds::EllipticsCluster;
use backrunner_crds::bucket::reasons;
use backrunner_crds::cluster::{DefragPolicy, EllipticsClusterSpec};
use backrunner_crds::condition::ConditionStatus;
use backrunner_operator::context::StorageClients;
use backrunner_operator::defrag::{Busy, PlanInput, candidates, plan};
use backrunner_operator::health::{ReplicaThresholds, bucket_health};
use backrunner_operator::stats::{ClusterStats, poll_cluster};
use backrunner_tests::{connect, start_two_groups, wait_until};

fn cluster(remotes: Vec<String>) -> EllipticsCluster {
    let mut c = EllipticsCluster::new(
        "local",
        EllipticsClusterSpec {
            remotes,
            metadata_groups: vec![1, 2],
            protocol_version: Default::default(),
            allowed_namespaces: Default::default(),
            bucket_list_key: None,
            defrag_policy: Default::default(),
            placement: Default::default(),
        },
    );
    c.metadata.namespace = Some("default".into());
    c
}

async fn poll_until(
    storage: &StorageClients,
    c: &EllipticsCluster,
    mut ok: impl FnMut(&ClusterStats) -> bool,
) -> ClusterStats {
    let mut last = None;
    for _ in 0..100 {
        let s = poll_cluster(storage, c).await.unwrap();
        if ok(&s) {
            return s;
        }
        last = Some(s);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("statistics never matched: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_poll_detects_diverged_replicas_and_plans_defrag() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = start_two_groups(dir.path()).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dead = format!("{dead}:2");
    let c = cluster(vec![
        a.addr().to_string(),
        b.addr().to_string(),
        dead.clone(),
    ]);

    // Three keys in both groups, a fourth in group 1 only.
    let client = connect(&[a.addr(), b.addr()]).await;
    assert!(
        wait_until(Duration::from_secs(10), async || client
            .route_table()
            .groups()
            == vec![1, 2])
        .await
    );
    let both = client.session().groups(vec![1, 2]).namespace("t");
    for k in ["k1", "k2", "k3"] {
        both.write(k.as_bytes(), &b"0123456789"[..], 10, 0)
            .await
            .unwrap();
    }
    let one = client.session().groups(vec![1]).namespace("t");
    one.write(b"k4", &b"0123456789"[..], 10, 0).await.unwrap();

    let storage = StorageClients::new();
    let stats = poll_until(&storage, &c, |s| s.backends.len() == 2).await;
    assert_eq!(
        stats
            .unreachable_nodes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec![dead.clone()]
    );
    let h = bucket_health(Some(&stats), &[1, 2], &ReplicaThresholds::default());
    assert_eq!(h.groups_healthy.status, ConditionStatus::True, "{h:?}");
    assert_eq!(h.replicas_in_sync.status, ConditionStatus::False, "{h:?}");
    assert_eq!(h.replicas_in_sync.reason, reasons::RECORD_COUNTS_DIVERGED);
    let m = &h.replicas_in_sync.message;
    assert!(m.contains("group 1: 4") && m.contains("group 2: 3"), "{m}");
    assert_eq!(h.resolved_groups[0].records, Some(4));

    // A group the cluster does not have.
    let h = bucket_health(Some(&stats), &[1, 3], &ReplicaThresholds::default());
    assert_eq!(h.replicas_in_sync.reason, reasons::GROUP_MISSING);
    assert!(h.groups_healthy.message.contains("group 3: Unreachable"));

    // The replica catches up: in sync again.
    client
        .session()
        .groups(vec![2])
        .namespace("t")
        .write(b"k4", &b"0123456789"[..], 10, 0)
        .await
        .unwrap();
    poll_until(&storage, &c, |s| {
        bucket_health(Some(s), &[1, 2], &ReplicaThresholds::default())
            .replicas_in_sync
            .status
            == ConditionStatus::True
    })
    .await;

    // Removing most keys from group 1 leaves removed bytes there: the planner picks that
    // backend, and only one group of the bucket at a time.
    for k in ["k1", "k2", "k3"] {
        one.remove(k.as_bytes()).await.unwrap();
    }
    let stats_after = poll_until(&storage, &c, |s| {
        s.backends
            .iter()
            .any(|b| b.stat.group == 1 && b.stat.records_removed >= 3)
    })
    .await;
    let cands = candidates(&stats_after);
    let g1 = cands.iter().find(|c| c.group == 1).unwrap();
    assert!(g1.removed_ratio > 0.3, "{g1:?}");
    let policy = DefragPolicy::default();
    let chosen = plan(&PlanInput {
        policy: &policy,
        minute_of_day: 0,
        candidates: &cands,
        busy: &Busy::default(),
        buckets: &[vec![1, 2]],
    })
    .unwrap();
    assert_eq!(chosen.len(), 1);
    assert_eq!(
        (chosen[0].node.as_str(), chosen[0].group),
        (a.addr().to_string().as_str(), 1)
    );
    storage.forget(&c).await;
}
