//! No torn objects, on our node and on a real Elliptics 3.0 cluster alike: `backrunner
//! proxy` processes in front of two groups.
//!
//! - Four writers upload different bodies to one key at once (12 MiB: parts and a
//!   manifest; 200 KiB: one WRITE), through one proxy and through two, while a reader
//!   keeps reading the key: every read is exactly one upload's bytes (the previous
//!   round's winner or one of this round's), every writer gets 200 or 409, and once the
//!   writes settle each group — read alone — holds the same acknowledged upload.
//! - A client that goes away mid-upload (sized and chunked) leaves the previous version
//!   readable, whole; a chunked 9 MiB upload costs each group about 9 MiB, not a reservation.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backrunner_store::object;
use backrunner_tests::proxy_process::ProxyProcess;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::join_all;
use sha2::{Digest, Sha256};

use crate::payload;
use crate::two_groups::Cluster;

fn digest(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// `rounds` rounds of four concurrent uploads of `size` bytes to one key through
/// `proxies` (writer `w` uses proxy `w % n`), with a reader on the key throughout.
async fn race(cluster: &Cluster, proxies: &[ProxyProcess], size: usize, rounds: u64, tag: &str) {
    let key = format!("race-{tag}-{size}");
    let path = format!("/upload/media/{key}");
    let get = format!("/get/media/{key}");
    let mut previous: Option<[u8; 32]> = None;
    for round in 0..rounds {
        let bodies: Vec<Bytes> = (0..4).map(|w| payload(round * 4 + w + 1, size)).collect();
        let mut allowed: HashSet<[u8; 32]> = bodies.iter().map(|b| digest(b)).collect();
        allowed.extend(previous);
        let allowed = Arc::new(allowed);

        // A reader on another proxy than writer 0, reading until the writers are done.
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (http, url) = (
                proxies[proxies.len() - 1].http.clone(),
                proxies[proxies.len() - 1].url(&get),
            );
            let (done, allowed) = (Arc::clone(&done), Arc::clone(&allowed));
            tokio::spawn(async move {
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) {
                    let r = http.get(&url).send().await.unwrap();
                    match r.status().as_u16() {
                        404 => {}
                        200 => {
                            let got = r.bytes().await.unwrap();
                            assert!(
                                allowed.contains(&digest(&got)),
                                "round {round}: a read of {} bytes is no upload's bytes",
                                got.len()
                            );
                            reads += 1;
                        }
                        s => panic!("round {round}: read answered {s}"),
                    }
                }
                reads
            })
        };

        let uploads = bodies.iter().enumerate().map(|(w, body)| {
            let proxy = &proxies[w % proxies.len()];
            let body = body.clone();
            let path = path.clone();
            async move { proxy.post(&path, &[], body).await }
        });
        let replies = join_all(uploads).await;
        done.store(true, Ordering::Relaxed);
        reader.await.unwrap();
        let mut acked = HashSet::new();
        for (w, (status, reply)) in replies.iter().enumerate() {
            match status {
                200 => {
                    acked.insert(digest(&bodies[w]));
                }
                409 => {}
                s => panic!(
                    "round {round}: writer {w} got {s}: {}",
                    String::from_utf8_lossy(reply)
                ),
            }
        }
        assert!(
            !acked.is_empty(),
            "round {round}: no upload was acknowledged"
        );

        // Settled: every group alone holds the same acknowledged upload, and so does a GET.
        let g1 = cluster.group_copy(1, &key).await.unwrap();
        let g2 = cluster.group_copy(2, &key).await.unwrap();
        assert!(
            acked.contains(&digest(&g1)),
            "round {round}: group 1 holds no acknowledged upload"
        );
        assert!(g1 == g2, "round {round}: the groups hold different uploads");
        let (status, got) = proxies[0].get(&get, &[]).await;
        assert_eq!(status, 200);
        assert!(got == g1, "round {round}: GET is not the settled upload");
        previous = Some(digest(&g1));
    }
}

async fn races(cluster: &Cluster, tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    let proxies = cluster.proxies(dir.path(), 2).await;
    race(cluster, &proxies[..1], 200 << 10, 20, &format!("{tag}-one")).await;
    race(cluster, &proxies, 200 << 10, 20, &format!("{tag}-two")).await;
    race(cluster, &proxies[..1], 12 << 20, 20, &format!("{tag}-one")).await;
    race(cluster, &proxies, 12 << 20, 20, &format!("{tag}-two")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_mix_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    races(&cluster, "ours").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_mix_on_real_elliptics() {
    let Some(cluster) = Cluster::oracle().await else {
        return;
    };
    races(&cluster, "oracle").await;
}

/// A body that yields `send` bytes of `body` in 1 MiB pieces, then fails: the client goes
/// away mid-upload.
fn broken_body(body: Bytes, send: usize) -> reqwest::Body {
    let pieces: Vec<Result<Bytes, std::io::Error>> = body[..send]
        .chunks(1 << 20)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .chain([Err(std::io::Error::other("client went away"))])
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(pieces).then(|p| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        p
    }))
}

/// A body of unknown length (chunked transfer encoding).
fn chunked_body(body: Bytes) -> reqwest::Body {
    let pieces: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(1 << 20)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(pieces))
}

async fn aborted_uploads_keep_the_previous_version(cluster: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let proxies = cluster.proxies(dir.path(), 1).await;
    let proxy = &proxies[0];
    for (key, previous_size) in [("small-then-big", 100 << 10), ("big-then-big", 12 << 20)] {
        let previous = payload(1, previous_size);
        let (status, _) = proxy
            .post(&format!("/upload/media/{key}"), &[], previous.clone())
            .await;
        assert_eq!(status, 200);
        let next = payload(2, 12 << 20);
        // Sized: Content-Length 12 MiB, 9 MiB sent. Then chunked: 9 MiB sent.
        let sized = proxy
            .http
            .post(proxy.url(&format!("/upload/media/{key}")))
            .header("content-length", (12 << 20).to_string())
            .body(broken_body(next.clone(), 9 << 20))
            .send()
            .await;
        let chunked = proxy
            .http
            .post(proxy.url(&format!("/upload/media/{key}")))
            .body(broken_body(next.clone(), 9 << 20))
            .send()
            .await;
        // The client sees its own failure, or an error reply; never a 200.
        for r in [sized, chunked].into_iter().flatten() {
            assert_ne!(r.status(), 200);
        }
        for group in [1, 2] {
            let got = cluster.group_copy(group, key).await.unwrap();
            assert!(
                got == previous,
                "{key}: group {group} lost the previous version"
            );
        }
        let (status, got) = proxy.get(&format!("/get/media/{key}"), &[]).await;
        assert_eq!(status, 200);
        assert!(got == previous, "{key}: GET is not the previous version");
    }

    // A chunked 9 MiB upload costs about 9 MiB per group (plus a manifest and a record).
    let before: Vec<u64> = (0..2).map(|i| cluster.disk_bytes(i)).collect();
    let body = payload(3, 9 << 20);
    let r = proxy
        .http
        .post(proxy.url("/upload/media/chunked-9"))
        .body(chunked_body(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (i, before) in before.iter().enumerate() {
        let grown = cluster.disk_bytes(i) - before;
        assert!(
            (9 << 20..=10 << 20).contains(&grown),
            "group {} grew by {grown} bytes for a 9 MiB chunked upload",
            i + 1
        );
    }
    let (status, got) = proxy.get("/get/media/chunked-9", &[]).await;
    assert_eq!(status, 200);
    assert!(got == body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_uploads_keep_the_previous_version_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    aborted_uploads_keep_the_previous_version(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_uploads_keep_the_previous_version_on_real_elliptics() {
    let Some(cluster) = Cluster::oracle().await else {
        return;
    };
    aborted_uploads_keep_the_previous_version(&cluster).await;
}

/// `backrunner sweep` against the cluster; its JSON report.
async fn run_sweep(cluster: &Cluster, dry_run: bool) -> serde_json::Value {
    run_sweep_with(cluster, dry_run, &[]).await
}

async fn run_sweep_with(cluster: &Cluster, dry_run: bool, extra: &[&str]) -> serde_json::Value {
    let mut cmd = backrunner_tests::backrunner_command("sweep");
    cmd.args([
        "--remote",
        &cluster.remotes[0],
        "--groups",
        "1,2",
        "--grace-secs",
        "0",
    ]);
    cmd.args(extra);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let out = cmd.output().await.unwrap();
    assert!(out.status.success(), "sweep failed: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// A proxy killed mid-upload leaves parts no object names; an overwrite by a small upload
/// leaves the big version's parts; the sweep removes exactly those, and the live objects
/// read back whole.
async fn sweep_removes_what_no_object_names(cluster: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let mut proxies = cluster.proxies(dir.path(), 1).await;
    let proxy = &proxies[0];
    let live = payload(7, 12 << 20);
    let (status, _) = proxy.post("/upload/media/live", &[], live.clone()).await;
    assert_eq!(status, 200);
    let (status, _) = proxy
        .post("/upload/media/replaced", &[], payload(8, 12 << 20))
        .await;
    assert_eq!(status, 200);
    let small = payload(9, 1000);
    let (status, _) = proxy
        .post("/upload/media/replaced", &[], small.clone())
        .await;
    assert_eq!(status, 200);

    // 9 MiB of a 12 MiB upload, then the proxy dies.
    let next = payload(10, 12 << 20);
    let pieces: Vec<Result<Bytes, std::io::Error>> = next[..9 << 20]
        .chunks(1 << 20)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let body = futures_util::stream::iter(pieces).chain(futures_util::stream::pending());
    let upload = proxy
        .http
        .post(proxy.url("/upload/media/live"))
        .header("content-length", (12 << 20).to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let upload = tokio::spawn(upload);
    // Wait until the proxy has stored some parts: a dry run sees two unnamed uploads.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let report = run_sweep(cluster, true).await;
        if report["unnamed"] == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxies.clear();
    let _ = upload.await;

    let report = run_sweep(cluster, false).await;
    assert_eq!(report["unnamed"], 2, "{report}");
    assert_eq!(report["live"], 1, "{report}");
    assert!(
        // The replaced object had three parts; the killed upload 0 to 2 (how far it got).
        report["removed_parts"].as_u64().unwrap() >= 3,
        "{report}"
    );
    assert_eq!(report["errors"], 0, "{report}");
    let again = run_sweep(cluster, false).await;
    assert_eq!(
        (again["uploads"].clone(), again["unnamed"].clone()),
        (1.into(), 0.into()),
        "{again}"
    );
    for group in [1, 2] {
        assert!(cluster.group_copy(group, "live").await.unwrap() == live);
        assert!(cluster.group_copy(group, "replaced").await.unwrap() == small);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_removes_what_no_object_names_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    sweep_removes_what_no_object_names(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_removes_what_no_object_names_on_real_elliptics() {
    let Some(cluster) = Cluster::oracle().await else {
        return;
    };
    sweep_removes_what_no_object_names(&cluster).await;
}

/// A delete leaves a stamped tombstone in every group (so recovery carries deletes); the
/// object reads 404 everywhere, a new upload replaces the tombstone, and a sweep removes
/// tombstones past their retention.
async fn deletes_leave_tombstones(cluster: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let proxies = cluster.proxies(dir.path(), 1).await;
    let proxy = &proxies[0];
    for (key, size) in [("gone-small", 1000), ("gone-big", 9 << 20)] {
        let (status, _) = proxy
            .post(&format!("/upload/media/{key}"), &[], payload(11, size))
            .await;
        assert_eq!(status, 200);
        let (status, _) = proxy.post(&format!("/delete/media/{key}"), &[], "").await;
        assert_eq!(status, 200, "{key}");
        for path in ["get", "lookup", "delete"] {
            let (status, _) = match path {
                "delete" => proxy.post(&format!("/delete/media/{key}"), &[], "").await,
                _ => proxy.get(&format!("/{path}/media/{key}"), &[]).await,
            };
            assert_eq!(status, 404, "{path} of deleted {key}");
        }
        for group in [1, 2] {
            let raw = cluster
                .client
                .session()
                .groups(vec![group])
                .namespace("media");
            let record = raw.read(key.as_bytes(), 0, 0).await.unwrap();
            assert_eq!(
                object::RecordKind::of(record.user_flags()),
                object::RecordKind::Tombstone,
                "{key}: group {group} holds no tombstone"
            );
        }
    }
    let again = payload(12, 1000);
    let (status, _) = proxy
        .post("/upload/media/gone-small", &[], again.clone())
        .await;
    assert_eq!(status, 200);
    let (status, got) = proxy.get("/get/media/gone-small", &[]).await;
    assert_eq!((status, got), (200, again));

    let kept = run_sweep_with(cluster, false, &[]).await;
    assert_eq!(
        (
            kept["tombstones"].clone(),
            kept["expired_tombstones"].clone()
        ),
        (1.into(), 0.into()),
        "{kept}"
    );
    let expired = run_sweep_with(cluster, false, &["--tombstone-retention-secs", "0"]).await;
    assert_eq!(expired["expired_tombstones"], 1, "{expired}");
    for group in [1, 2] {
        let raw = cluster
            .client
            .session()
            .groups(vec![group])
            .namespace("media");
        let gone = raw.read(b"gone-big", 0, 0).await;
        assert!(
            matches!(gone, Err(e) if e.is_not_found()),
            "group {group} kept the tombstone"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_leave_tombstones_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    deletes_leave_tombstones(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_leave_tombstones_on_real_elliptics() {
    let Some(cluster) = Cluster::oracle().await else {
        return;
    };
    deletes_leave_tombstones(&cluster).await;
}
