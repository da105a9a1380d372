//! A small cluster: two nodes, groups 1 and 2 on separate nodes plus group 3 spread over
//! both (the ring splits it). The client knows one node and learns the other through
//! route lists; writes, range reads, lookups, deletes and statistics go through it.

use std::time::Duration;

use backrunner_tests::{BackendSpec, connect, start_node, wait_until};
use elliptics::proto::Id;
use elliptics::stats::MonitorCategories;

use crate::{payload, read_all};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_and_a_spread_group() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_node(
        &dir.path().join("a"),
        &[BackendSpec::new(1, 1), BackendSpec::new(2, 3)],
        &[],
    )
    .await;
    let b = start_node(
        &dir.path().join("b"),
        &[BackendSpec::new(1, 2), BackendSpec::new(2, 3)],
        &[a.addr()],
    )
    .await;
    let client = connect(&[a.addr()]).await;
    assert!(
        wait_until(Duration::from_secs(10), async || client.nodes().len() == 2).await,
        "client learned node b from a's route list"
    );

    let session = client
        .session()
        .groups(vec![1, 2, 3])
        .namespace("cluster-test");
    let mut per_node_group3 = std::collections::HashMap::new();
    for i in 0..40u64 {
        let key = format!("key/{i}");
        let body = payload(i, 1000 + i as usize * 37);
        let out = session
            .write(key.as_bytes(), &body[..], body.len() as u64, 0)
            .await
            .unwrap();
        assert_eq!(out.results.len(), 3);
        for r in &out.results {
            let info = r
                .result
                .as_ref()
                .unwrap_or_else(|e| panic!("group {} failed: {e}", r.group));
            assert_eq!(info.info.size, body.len() as u64);
            if r.group == 3 {
                *per_node_group3.entry(info.addr).or_insert(0) += 1;
            }
            if r.group == 1 {
                assert_eq!(info.addr, a.addr());
            }
            if r.group == 2 {
                assert_eq!(info.addr, b.addr());
            }
        }
        // Whole object and a range, from the first group.
        assert_eq!(
            read_all(&session, key.as_bytes(), 0, 0).await.unwrap(),
            body
        );
        let (off, len) = (body.len() as u64 / 3, 100);
        assert_eq!(
            read_all(&session, key.as_bytes(), off, len).await.unwrap(),
            &body[off as usize..off as usize + len as usize]
        );
    }
    // The ring of group 3 spans both nodes, and each key went to its ring owner.
    let rt = client.route_table();
    for i in 0..40u64 {
        let id = Id::from_key(b"cluster-test", format!("key/{i}").as_bytes());
        assert!(rt.owner(&id, 3).is_some());
    }
    assert_eq!(
        per_node_group3.len(),
        2,
        "group 3 keys landed on both nodes: {per_node_group3:?}"
    );

    // Each group individually serves the data.
    for g in [1, 2, 3] {
        let s = client.session().groups(vec![g]).namespace("cluster-test");
        assert_eq!(
            read_all(&s, b"key/7", 0, 0).await.unwrap(),
            payload(7, 1000 + 7 * 37)
        );
    }

    let lookups = session.lookup(b"key/3").await.unwrap();
    assert_eq!(lookups.len(), 3);
    assert!(lookups.iter().all(|r| {
        r.result
            .as_ref()
            .is_ok_and(|i| i.info.size == 1000 + 3 * 37)
    }));

    let removed = session.remove(b"key/3").await.unwrap();
    assert!(removed.iter().all(|r| r.result.is_ok()));
    let err = read_all(&session, b"key/3", 0, 0).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        session
            .lookup(b"key/3")
            .await
            .map(|v| v.iter().all(|r| r.result.is_err()))
            .unwrap_or(true)
    );

    // Statistics: both nodes answer, groups and record counts add up.
    let reports = client.monitor_stat(MonitorCategories::BACKRUNNER.0).await;
    assert_eq!(reports.len(), 2);
    let mut live_by_group = std::collections::BTreeMap::new();
    let mut removed_by_group = std::collections::BTreeMap::new();
    for (_, r) in reports {
        for s in r.unwrap().backend_stats() {
            assert!(s.has_usable_stats(), "{s:?}");
            *live_by_group.entry(s.group).or_insert(0) += s.records_total - s.records_removed;
            *removed_by_group.entry(s.group).or_insert(0) += s.removed_size;
        }
    }
    // 40 written, one removed: 39 live objects in every group (a removed object and its
    // tombstone both count as removed records, so total - removed is the live count).
    for g in [1, 2, 3] {
        assert_eq!(
            live_by_group.get(&g),
            Some(&39),
            "group {g}: {live_by_group:?}"
        );
        assert!(
            removed_by_group[&g] >= 1000 + 3 * 37,
            "group {g} reclaimable bytes"
        );
    }

    client.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_a_remote_given_by_dns_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_node(&dir.path().join("a"), &[BackendSpec::new(1, 1)], &[]).await;
    // Node b knows node a only as `localhost:<port>:2`.
    let mut cfg = backrunner_tests::node_config(
        &dir.path().join("b"),
        0,
        &[BackendSpec::new(1, 2)],
        &[],
        "never",
    );
    cfg.remotes = vec![format!("localhost:{}:2", a.addr().socket_addr().port())];
    let b = backrunner_node::Node::start(cfg.validate().unwrap())
        .await
        .unwrap();
    // A client that knows only node a learns node b from a's route list, which lists b
    // only once b has joined a.
    let client = connect(&[a.addr()]).await;
    assert!(
        wait_until(Duration::from_secs(10), async || client.nodes().len() == 2).await,
        "node b joined node a by name"
    );
    drop(b);
}
