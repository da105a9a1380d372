//! `backrunner reconcile` on our node and on a real Elliptics 3.0 cluster: objects written
//! straight to storage (as an original Backrunner wrote them, no index) are reported as
//! unnamed data while the index names what the proxy uploaded; candidate names on disk but
//! not listed are reported, logged with `--apply` (then listed with their sizes), and
//! nothing is ever removed.

use std::process::Stdio;

use backrunner_tests::backrunner_command;
use serde_json::Value;

use crate::payload;
use crate::two_groups::Cluster;

/// Runs `backrunner reconcile` against `cluster` for bucket `media` with `args`; its JSON.
async fn reconcile(cluster: &Cluster, args: &[&str]) -> Value {
    let out = backrunner_command("reconcile")
        .args(["--remote", &cluster.remotes[0], "--bucket", "media"])
        .args(["--metadata-groups", "1,2"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run backrunner reconcile")
        .wait_with_output()
        .await
        .expect("wait for backrunner reconcile");
    assert!(out.status.success(), "reconcile failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().expect("a JSON line");
    serde_json::from_str(line).expect("JSON report")
}

async fn reconcile_finds_and_logs_legacy_objects(cluster: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let proxies = cluster.proxies(dir.path(), 1).await;
    let proxy = &proxies[0];
    for i in 0..5 {
        let (status, _) = proxy
            .post(&format!("/upload/media/new-{i}"), &[], payload(i, 100))
            .await;
        assert_eq!(status, 200);
    }
    // Written as an original Backrunner did: one plain WRITE per key, no index.
    let legacy = cluster
        .client
        .session()
        .groups(vec![1, 2])
        .namespace("media");
    for i in 0..10u64 {
        let body = payload(100 + i, 1000 + i as usize);
        legacy
            .write(
                format!("old-{i}").as_bytes(),
                &body[..],
                body.len() as u64,
                0,
            )
            .await
            .unwrap();
    }

    let report = reconcile(cluster, &[]).await;
    assert_eq!(report["indexed_keys"], 5, "{report}");
    assert!(report["named"].as_u64().unwrap() >= 5, "{report}");
    let unnamed_data = report["unnamed"]["data"].as_u64().unwrap_or(0);
    assert!(
        unnamed_data >= 10,
        "the legacy objects are unnamed data: {report}"
    );
    assert!(!report["unnamed_sample"].as_array().unwrap().is_empty());

    let keys = dir.path().join("keys.txt");
    let names: String = (0..10)
        .map(|i| format!("old-{i}\n"))
        .chain(["new-0\n".to_owned(), "never-written\n".to_owned()])
        .collect();
    std::fs::write(&keys, names).unwrap();
    let keys = keys.to_str().unwrap();
    let report = reconcile(cluster, &["--keys", keys]).await;
    assert_eq!(report["candidates"], 12, "{report}");
    assert_eq!(report["candidates_on_disk"], 11, "{report}");
    assert_eq!(report["candidates_unindexed"], 10, "{report}");
    assert_eq!(report["candidates_logged"], 0, "{report}");
    let (_, listing) = proxy.get("/list/media", &[]).await;
    let listing: Value = serde_json::from_slice(&listing).unwrap();
    assert_eq!(listing["key-count"], 5, "without --apply nothing is logged");

    let report = reconcile(cluster, &["--keys", keys, "--apply"]).await;
    assert_eq!(report["candidates_logged"], 10, "{report}");
    let (_, listing) = proxy.get("/list/media?prefix=old-", &[]).await;
    let listing: Value = serde_json::from_slice(&listing).unwrap();
    let sizes: Vec<u64> = listing["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["size"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sizes,
        (0..10).map(|i| 1000 + i).collect::<Vec<_>>(),
        "{listing}"
    );
    let report = reconcile(cluster, &["--keys", keys]).await;
    assert_eq!(report["candidates_unindexed"], 0, "{report}");
    assert_eq!(report["indexed_keys"], 15, "{report}");
    // Nothing was removed.
    for i in 0..10 {
        let (status, body) = proxy.get(&format!("/get/media/old-{i}"), &[]).await;
        assert_eq!((status, body.len()), (200, 1000 + i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_finds_and_logs_legacy_objects_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    reconcile_finds_and_logs_legacy_objects(&Cluster::ours(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_finds_and_logs_legacy_objects_on_real_elliptics() {
    let Some(cluster) = Cluster::oracle().await else {
        return;
    };
    reconcile_finds_and_logs_legacy_objects(&cluster).await;
}
