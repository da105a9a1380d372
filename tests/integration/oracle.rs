//! The product against a real Elliptics 3.0 cluster (`../shared/elliptics-oracle`, two
//! `dnet_ioserv` nodes, groups 1 and 2): bucket metadata written through `MetadataStore`
//! and the `backrunner bucket` CLI, and the Backrunner API served by a `backrunner proxy`
//! process — small and large (prepare/plain/commit) uploads, reads whole and by Range,
//! lookup, ACL refusals, delete, `/stat` — exactly as on our own node.

use std::process::Stdio;

use backrunner_proxy::signature::{authorization_header, sign};
use backrunner_store::{AclEntry, AclFlags, BucketMetadata, MetadataStore};
use backrunner_tests::backrunner_bin;
use backrunner_tests::oracle::OracleCluster;
use backrunner_tests::proxy_process::ProxyProcess;
use sha2::{Digest, Sha256};

use crate::payload;

const TOKEN: &str = "oracle-secret";

fn signed_bucket(name: &str) -> BucketMetadata {
    let mut meta = BucketMetadata::new(name);
    meta.groups = vec![1, 2];
    meta.acl.insert(
        "alice".into(),
        AclEntry {
            version: 1,
            user: "alice".into(),
            token: TOKEN.into(),
            flags: AclFlags::WRITE,
        },
    );
    meta
}

fn auth(method: &str, path: &str, token: &str) -> String {
    let sig = sign(method, path.as_bytes(), None, [], token);
    authorization_header("riftv1", "alice", &sig)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_proxy_serves_the_backrunner_api() {
    let Some(cluster) = OracleCluster::start(&[1, 2]).await else {
        return;
    };
    let client = cluster.connect().await;
    let store = MetadataStore::new(&client, vec![1, 2]);
    let mut public = BucketMetadata::new("media");
    public.groups = vec![1, 2];
    for meta in [&public, &signed_bucket("private")] {
        let report = store.write_bucket(meta).await;
        assert_eq!(report.ok, vec![1, 2], "{report:?}");
        store
            .add_to_list("backrunner-bucket-list", &meta.name)
            .await
            .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let remotes = cluster
        .remotes()
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let proxy = ProxyProcess::start(
        dir.path(),
        &format!("remotes = [{remotes}]\nmetadata_groups = [1, 2]\nprotocol_version = \"3.0\"\n"),
    )
    .await;
    let json = |body: &[u8]| -> serde_json::Value { serde_json::from_slice(body).unwrap() };

    // Small object: upload reaches both groups; read whole and by Range; lookup.
    let key = "/media/dir/a b.txt";
    let (status, reply) = proxy
        .post(&format!("/upload{key}"), &[], "hello, real elliptics")
        .await;
    assert_eq!(status, 200);
    let reply = json(&reply);
    assert_eq!(
        reply["reply"]["success-groups"],
        serde_json::json!([1, 2]),
        "{reply}"
    );
    let get = format!("/get{key}");
    assert_eq!(
        proxy.get(&get, &[]).await,
        (200, "hello, real elliptics".into())
    );
    assert_eq!(
        proxy.get(&get, &[("range", "bytes=7-10")]).await,
        (206, "real".into())
    );
    assert_eq!(proxy.get(&format!("/lookup{key}"), &[]).await.0, 200);

    // Large object (prepare/plain/commit in 4 MiB chunks): bytes come back exactly.
    let body = payload(7, 12 << 20);
    let (status, reply) = proxy
        .post("/upload/media/large.bin", &[], body.clone())
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let (status, got) = proxy.get("/get/media/large.bin", &[]).await;
    assert_eq!((status, got.len()), (200, body.len()));
    assert_eq!(Sha256::digest(&got), Sha256::digest(&body));
    let range = format!("bytes={}-{}", 5 << 20, (5 << 20) + 9);
    let (status, got) = proxy
        .get("/get/media/large.bin", &[("range", &range)])
        .await;
    assert_eq!((status, &got[..]), (206, &body[5 << 20..(5 << 20) + 10]));

    // ACL: unsigned writes to the private bucket are 401, a wrong token 403, signed 200.
    let path = "/upload/private/k";
    assert_eq!(proxy.post(path, &[], "x").await.0, 401);
    let forged = auth("POST", path, "wrong");
    assert_eq!(
        proxy.post(path, &[("authorization", &forged)], "x").await.0,
        403
    );
    let signed = auth("POST", path, TOKEN);
    assert_eq!(
        proxy.post(path, &[("authorization", &signed)], "x").await.0,
        200
    );

    // Delete: gone from both groups.
    assert_eq!(proxy.post(&format!("/delete{key}"), &[], "").await.0, 200);
    assert_eq!(proxy.get(&get, &[]).await.0, 404);

    // Statistics from the oracle's monitor.
    let (status, stat) = proxy.get("/stat/media", &[]).await;
    assert_eq!(status, 200);
    let stat = json(&stat);
    assert!(stat.to_string().contains("media"), "{stat}");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_cli_manages_buckets_and_reads_statistics() {
    let Some(cluster) = OracleCluster::start(&[1, 2]).await else {
        return;
    };
    let remote = cluster.remotes()[0].clone();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(backrunner_bin());
        cmd.arg(args[0])
            .arg("--remote")
            .arg(&remote)
            .args(&args[1..])
            .env("BACKRUNNER_LOG", "warn")
            .stdin(Stdio::null());
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "backrunner {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[
        "bucket",
        "put",
        "photos",
        "--groups",
        "1,2",
        "--acl",
        "alice:t:3",
    ]);
    assert_eq!(run(&["bucket", "list"]).trim(), "photos");
    let got: serde_json::Value = serde_json::from_str(&run(&["bucket", "get", "photos"])).unwrap();
    assert_eq!(got["groups"], serde_json::json!([1, 2]));
    assert_eq!(got["acl"]["alice"]["flags"], 3);
    run(&["bucket", "delete", "photos"]);
    assert_eq!(run(&["bucket", "list"]).trim(), "");

    // One JSON line per backend of every node.
    let stat = run(&["stat"]);
    let backends: Vec<serde_json::Value> = stat
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(backends.len() >= 2, "{stat}");
}

/// `protocol_version = "auto"` against a 3.0 cluster tries 2.26 once per client, not once
/// per connection: the node the client meets first logs one `VERSION MISMATCH`, the
/// nodes it discovers none. A fixed 2.26 says what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_auto_version_is_learnt_once_per_cluster() {
    use elliptics::client::VersionPolicy;
    use elliptics::proto::ProtocolVersion;
    use elliptics::{Client, ClientConfig};

    let Some(cluster) = OracleCluster::start(&[1, 2]).await else {
        return;
    };
    let mismatches = |i: usize| {
        std::fs::read_to_string(cluster.data_dir(i).join("node.log"))
            .unwrap_or_default()
            .matches("VERSION MISMATCH")
            .count()
    };
    let before = [mismatches(0), mismatches(1)];
    let client = Client::connect(ClientConfig {
        remotes: vec![cluster.addrs[0]],
        protocol_version: VersionPolicy::Auto,
        ..cluster.client_config()
    })
    .await
    .unwrap();
    assert!(
        backrunner_tests::wait_until(std::time::Duration::from_secs(30), async || client
            .nodes()
            .len()
            == 2)
        .await
    );
    assert!(
        backrunner_tests::wait_until(std::time::Duration::from_secs(10), async || mismatches(0)
            > before[0])
        .await,
        "the first node logged the 2.26 attempt"
    );
    assert_eq!(
        mismatches(1),
        before[1],
        "the discovered node saw a 2.26 attempt"
    );
    client.shutdown().await;

    let refused = Client::connect(ClientConfig {
        remotes: vec![cluster.addrs[0]],
        protocol_version: VersionPolicy::Fixed(ProtocolVersion::V2_26),
        ..cluster.client_config()
    })
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(refused.contains("protocol_version"), "{refused}");
}

/// A real Elliptics 3.0 node truncates a record overwritten with fewer bytes, by a plain
/// WRITE and by a compare-and-swap WRITE alike (the key index and the metadata store
/// shrink records with compare-and-swap). What a READ racing such an overwrite returns is
/// another matter: readers re-read what they cannot decode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_shorter_overwrites() {
    let Some(cluster) = OracleCluster::start(&[1]).await else {
        return;
    };
    let client = cluster.connect().await;
    let s = client.session().groups(vec![1]).namespace("quirks");
    let long = vec![b'L'; 300];
    let short = b"short".to_vec();
    s.write(b"plain", &long[..], long.len() as u64, 0)
        .await
        .unwrap();
    s.write(b"plain", &short[..], short.len() as u64, 0)
        .await
        .unwrap();
    let plain = s.read_bounded(b"plain", 1 << 20).await.unwrap();
    s.write(b"cas", &long[..], long.len() as u64, 0)
        .await
        .unwrap();
    s.write_cas(
        b"cas",
        short.clone().into(),
        elliptics::proto::Id::checksum(&long),
    )
    .await
    .unwrap();
    let cas = s.read_bounded(b"cas", 1 << 20).await.unwrap();
    eprintln!(
        "plain overwrite: {} bytes; compare-and-swap overwrite: {} bytes",
        plain.len(),
        cas.len()
    );
    assert_eq!(plain, short);
    assert_eq!(&cas[..short.len()], &short[..]);
}

/// Measurement (run with `--run-ignored only`; prints figures): what 2,000 APPENDs of 100
/// bytes to one record cost a real Elliptics 3.0 node in blob bytes, against our node in
/// the same run — the cost of one key-index journal lane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_append_cost() {
    let Some(cluster) = OracleCluster::start(&[1]).await else {
        return;
    };
    let ours_dir = tempfile::tempdir().unwrap();
    let (a, _b) = backrunner_tests::start_two_groups(ours_dir.path()).await;
    let ours = backrunner_tests::connect(&[a.addr()]).await;
    let theirs = cluster.connect().await;
    for (name, client, dir) in [
        ("real Elliptics 3.0", &theirs, cluster.data_dir(0)),
        ("our node", &ours, ours_dir.path().join("a")),
    ] {
        let s = client
            .session()
            .groups(vec![1])
            .namespace("appends")
            .ioflags(elliptics::proto::IoFlags::APPEND);
        let before = backrunner_tests::allocated_bytes(&dir);
        let t = std::time::Instant::now();
        for i in 0..2000u64 {
            let piece = payload(i, 100);
            s.write(b"lane", &piece[..], 100, 0).await.unwrap();
        }
        let took = t.elapsed();
        let after = backrunner_tests::allocated_bytes(&dir);
        let got = client
            .session()
            .groups(vec![1])
            .namespace("appends")
            .read_bounded(b"lane", 1 << 20)
            .await
            .unwrap();
        assert_eq!(got.len(), 200_000, "{name}");
        eprintln!(
            "{name}: 2,000 appends of 100 B in {:.2} s; blob bytes grew by {:.1} MB for a 0.2 MB record",
            took.as_secs_f64(),
            after.saturating_sub(before) as f64 / 1e6
        );
    }
}
