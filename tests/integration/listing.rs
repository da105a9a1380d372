//! `GET /list/{bucket}` through `backrunner proxy` processes, on our node and on a real
//! Elliptics 3.0 cluster alike (issue 11's API contract):
//!
//! - keys uploaded through one proxy are listed by another at once, in byte order, with
//!   RIFT's fields (`key`, `id` = `/lookup`'s id, `size`, `timestamp`, `time_seconds`) and
//!   the ETag `/get` sends; prefixes, delimiters, `start-after`, pages chained by
//!   continuation tokens; deletes and overwrites show at once too;
//! - uploads that fail (the client goes away) or whose proxy is killed mid-body list
//!   nothing new (a new key is absent, an overwritten one keeps its old size), and an
//!   acknowledged upload whose proxy is killed right after its `200` is listed;
//! - `/stat` counts objects and bytes; `max-keys` (`quota.maxObjects`) refuses new keys
//!   with a JSON error naming the limit and still allows overwrites;
//! - bad parameters are JSON 400s, an unknown bucket 404, a private bucket needs a reader.

use std::collections::BTreeMap;
use std::time::Duration;

use backrunner_store::BucketMetadata;
use backrunner_store::bucket::{AclEntry, AclFlags};
use backrunner_tests::proxy_process::ProxyProcess;
use backrunner_tests::wait_until;
use bytes::Bytes;
use serde_json::Value;

use crate::payload;
use crate::two_groups::{Cluster, list_get};

/// Write chunk of the proxies here: bodies above it are stored as parts and a manifest.
const CHUNK: usize = 64 << 10;

fn config() -> String {
    format!(
        "write_chunk_size = {CHUNK}\nmax_inflight_upload_bytes = {}\n",
        64 << 20
    )
}

fn media() -> BucketMetadata {
    let mut media = BucketMetadata::new("media");
    media.groups = vec![1, 2];
    media
}

/// `GET path` as JSON (status, body).
async fn get_json(proxy: &ProxyProcess, path: &str) -> (u16, Value) {
    let (status, body) = proxy.get(path, &[]).await;
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{path}: {status} reply is not JSON ({e}): {body:?}"));
    (status, json)
}

/// One listing page (must be 200).
async fn page(proxy: &ProxyProcess, bucket: &str, query: &str) -> Value {
    let path = format!("/list/{bucket}?{query}");
    let (status, body) = list_get(proxy, &path).await;
    let json: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{path}: {status} reply is not JSON ({e}): {body:?}"));
    assert_eq!(status, 200, "/list/{bucket}?{query}: {json}");
    let keys = json["indexes"].as_array().map_or(0, Vec::len);
    let prefixes = json["common-prefixes"].as_array().map_or(0, Vec::len);
    assert_eq!(json["key-count"], keys + prefixes, "{json}");
    assert_eq!(
        json["is-truncated"].as_bool(),
        Some(json.get("next-continuation-token").is_some()),
        "a token exactly when truncated: {json}"
    );
    json
}

/// The keys of a page.
fn keys(page: &Value) -> Vec<String> {
    page["indexes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["key"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn prefixes(page: &Value) -> Vec<String> {
    page["common-prefixes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every key of `bucket` with its size, paging `max` at a time through `proxy`.
async fn all_keys(proxy: &ProxyProcess, bucket: &str, max: usize) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut order = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10_000 {
        let query = match &token {
            Some(t) => format!("max-keys={max}&continuation-token={t}"),
            None => format!("max-keys={max}"),
        };
        let p = page(proxy, bucket, &query).await;
        let entries = p["indexes"].as_array().cloned().unwrap_or_default();
        assert!(entries.len() <= max);
        for e in entries {
            let key = e["key"].as_str().unwrap_or_default().to_owned();
            order.push(key.clone());
            out.insert(key, e["size"].as_u64().unwrap_or(u64::MAX));
        }
        match p["next-continuation-token"].as_str() {
            Some(t) => {
                assert_eq!(p["key-count"], max, "a truncated page is full");
                token = Some(t.to_owned());
            }
            None => {
                let mut sorted = order.clone();
                sorted.sort();
                sorted.dedup();
                assert_eq!(order, sorted, "pages list each key once, in byte order");
                return out;
            }
        }
    }
    panic!("listing never ended");
}

async fn upload(proxy: &ProxyProcess, bucket: &str, key: &str, body: Bytes) {
    let (status, reply) = proxy
        .post(&format!("/upload/{bucket}/{key}"), &[], body)
        .await;
    assert_eq!(
        status,
        200,
        "upload {key}: {}",
        String::from_utf8_lossy(&reply)
    );
}

async fn listing_follows_writes(cluster: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let proxies = cluster
        .proxies_with(dir.path(), 2, &[media()], &config())
        .await;
    let (p0, p1) = (&proxies[0], &proxies[1]);
    let sizes = [
        ("a/1", 10),
        ("a/2", 20),
        ("a/b/3", 30),
        ("b", 40),
        ("big", 3 * CHUNK + 5),
        ("c%20d", 50),
    ];
    for (i, (key, size)) in sizes.iter().enumerate() {
        let proxy = &proxies[i % 2];
        upload(proxy, "media", key, payload(i as u64 + 1, *size)).await;
    }
    // Listed at once by either proxy, whichever wrote.
    let expected: BTreeMap<String, u64> = sizes
        .iter()
        .map(|(k, s)| (k.replace("%20", " "), *s as u64))
        .collect();
    for proxy in [p0, p1] {
        assert_eq!(all_keys(proxy, "media", 1000).await, expected);
        assert_eq!(all_keys(proxy, "media", 2).await, expected);
    }

    // RIFT's fields, and the ETag /get sends.
    let p = page(p1, "media", "prefix=big").await;
    let entry = &p["indexes"][0];
    let (status, lookup) = get_json(p0, "/lookup/media/big").await;
    assert_eq!(status, 200, "{lookup}");
    assert_eq!(entry["id"], lookup["info"][0]["id"], "{entry} vs {lookup}");
    assert_eq!(entry["id"].as_str().map(str::len), Some(128));
    let reply = p0.http.get(p0.url("/get/media/big")).send().await.unwrap();
    let etag = reply.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(entry["etag"], etag.as_str());
    let seconds: u64 = entry["time_seconds"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(seconds.abs_diff(now) < 600, "{entry}");
    assert!(
        entry["timestamp"].as_str().unwrap().ends_with('Z'),
        "{entry}"
    );

    // Delimiters, prefixes, start-after.
    let top = page(p0, "media", "delimiter=%2F").await;
    assert_eq!(keys(&top), ["b", "big", "c d"]);
    assert_eq!(prefixes(&top), ["a/"]);
    let under_a = page(p0, "media", "prefix=a%2F&delimiter=%2F").await;
    assert_eq!(keys(&under_a), ["a/1", "a/2"]);
    assert_eq!(prefixes(&under_a), ["a/b/"]);
    assert_eq!(under_a["prefix"], "a/");
    assert_eq!(under_a["delimiter"], "/");
    let none = page(p0, "media", "delimiter=").await;
    assert_eq!(keys(&none).len(), 6, "an empty delimiter is none: {none}");
    let after = page(p0, "media", "start-after=a%2F2&max-keys=2").await;
    assert_eq!(keys(&after), ["a/b/3", "b"]);
    assert_eq!(after["is-truncated"], true);
    // A page of prefixes is cut by max-keys too, and resumes after the prefix.
    let first = page(p1, "media", "delimiter=%2F&max-keys=1").await;
    assert_eq!(prefixes(&first), ["a/"]);
    let token = first["next-continuation-token"].as_str().unwrap();
    let rest = page(
        p1,
        "media",
        &format!("delimiter=%2F&continuation-token={token}"),
    )
    .await;
    assert_eq!(keys(&rest), ["b", "big", "c d"]);
    assert_eq!(rest["is-truncated"], false);

    // Deletes and overwrites through one proxy show through the other at once.
    let (status, _) = p1.post("/delete/media/a/1", &[], Vec::new()).await;
    assert_eq!(status, 200);
    upload(p1, "media", "b", payload(9, 4 * CHUNK)).await;
    let now = all_keys(p0, "media", 1000).await;
    assert!(!now.contains_key("a/1"), "{now:?}");
    assert_eq!(now.get("b"), Some(&(4 * CHUNK as u64)));
    let (status, _) = p0
        .post("/bulk_delete/media", &[], r#"{"keys": ["a/2", "c d"]}"#)
        .await;
    assert_eq!(status, 200);
    let now = all_keys(p1, "media", 1000).await;
    assert_eq!(
        now.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a/b/3", "b", "big"]
    );

    // /stat counts them.
    let bytes = (30 + 4 * CHUNK + 3 * CHUNK + 5) as u64;
    let counted = wait_until(Duration::from_secs(20), async || {
        let (_, stat) = get_json(p0, "/stat/media").await;
        stat["buckets"][0]["objects"] == 3 && stat["buckets"][0]["bytes"] == bytes
    })
    .await;
    let (_, stat) = get_json(p0, "/stat/media").await;
    assert!(counted, "{}", stat["buckets"][0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_follows_writes_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    listing_follows_writes(&Cluster::ours(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_follows_writes_on_real_elliptics() {
    let Some(cluster) = Cluster::oracle().await else {
        return;
    };
    listing_follows_writes(&cluster).await;
}

/// A body that yields `send` bytes in pieces, then fails (the client goes away).
fn broken_body(body: Bytes, send: usize) -> reqwest::Body {
    let pieces: Vec<Result<Bytes, std::io::Error>> = body[..send]
        .chunks(CHUNK)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .chain([Err(std::io::Error::other("client went away"))])
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(pieces))
}

async fn failed_uploads_list_nothing_new(cluster: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let mut proxies = cluster
        .proxies_with(dir.path(), 3, &[media()], &config())
        .await;
    let reader = proxies.remove(0);
    upload(&reader, "media", "keep", payload(1, 1000)).await;

    // The client goes away mid-body: a new key is not listed, an old one keeps its size.
    for key in ["keep", "ghost"] {
        let sent = reader
            .http
            .post(reader.url(&format!("/upload/media/{key}")))
            .header("content-length", (8 * CHUNK).to_string())
            .body(broken_body(payload(2, 8 * CHUNK), 5 * CHUNK))
            .send()
            .await;
        if let Ok(reply) = sent {
            assert_ne!(reply.status(), 200);
        }
    }
    let listed = all_keys(&reader, "media", 1000).await;
    assert_eq!(listed, BTreeMap::from([("keep".to_owned(), 1000)]));

    // A proxy killed mid-body, once parts reached storage.
    let victim = proxies.remove(0);
    let before = cluster.disk_bytes(0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_of(rx));
    let request = victim
        .http
        .post(victim.url("/upload/media/killed"))
        .body(body)
        .send();
    let sender = async {
        for i in 0..6 {
            if tx.send(Ok(payload(10 + i, CHUNK))).await.is_err() {
                return;
            }
        }
        // Parts are on disk (so the upload was logged before them); the proxy dies.
        let grew = wait_until(Duration::from_secs(30), async || {
            cluster.disk_bytes(0) >= before + 3 * CHUNK as u64
        })
        .await;
        assert!(grew, "parts never reached storage");
        drop(victim);
    };
    let (sent, ()) = futures_util::future::join(request, sender).await;
    assert!(
        sent.map(|r| r.status() != 200).unwrap_or(true),
        "the killed proxy acknowledged the upload"
    );
    drop(tx);
    let listed = all_keys(&reader, "media", 1000).await;
    assert_eq!(listed, BTreeMap::from([("keep".to_owned(), 1000)]));

    // Acknowledged, then the proxy is killed before it may have committed: listed.
    let last = proxies.remove(0);
    upload(&last, "media", "acked", payload(3, 2 * CHUNK)).await;
    drop(last);
    let listed = all_keys(&reader, "media", 1000).await;
    assert_eq!(listed.get("acked"), Some(&(2 * CHUNK as u64)), "{listed:?}");
}

/// A stream of what `rx` receives.
fn tokio_stream_of(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_uploads_list_nothing_new_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    failed_uploads_list_nothing_new(&Cluster::ours(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_uploads_list_nothing_new_on_real_elliptics() {
    let Some(cluster) = Cluster::oracle().await else {
        return;
    };
    failed_uploads_list_nothing_new(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_keys_quota_refuses_new_keys_only() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    let mut capped = BucketMetadata::new("capped");
    capped.groups = vec![1, 2];
    capped.max_key_num = 3;
    let proxies = cluster
        .proxies_with(dir.path(), 1, &[capped], &config())
        .await;
    let proxy = &proxies[0];
    for key in ["k1", "k2", "k3"] {
        upload(proxy, "capped", key, payload(1, 100)).await;
    }
    let (status, body) = proxy.post("/upload/capped/k4", &[], payload(2, 100)).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let error: Value = serde_json::from_slice(&body).unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("limit of 3 objects") && message.contains("capped"),
        "{message}"
    );
    // Overwrites stay allowed; nothing was listed for the refused key.
    upload(proxy, "capped", "k2", payload(3, 200)).await;
    let listed = all_keys(proxy, "capped", 1000).await;
    assert_eq!(listed.keys().collect::<Vec<_>>(), ["k1", "k2", "k3"]);
    assert_eq!(listed["k2"], 200);
    // Once a key is deleted, a new one fits (the count is cached for a moment).
    let (status, _) = proxy.post("/delete/capped/k1", &[], Vec::new()).await;
    assert_eq!(status, 200);
    let fits = wait_until(Duration::from_secs(20), async || {
        proxy.post("/upload/capped/k4", &[], payload(4, 10)).await.0 == 200
    })
    .await;
    assert!(fits, "a new key never fit after a delete");
    let (status, _) = proxy.post("/upload/capped/k5", &[], payload(5, 10)).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_listing_requests_are_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    let mut private = BucketMetadata::new("private");
    private.groups = vec![1, 2];
    private.acl.insert(
        "reader".into(),
        AclEntry {
            version: 1,
            user: "reader".into(),
            token: "secret".into(),
            flags: AclFlags::NONE,
        },
    );
    let proxies = cluster
        .proxies_with(dir.path(), 1, &[media(), private], "")
        .await;
    let proxy = &proxies[0];
    for (path, status, says) in [
        ("/list/media?max-keys=ten", 400, "max-keys"),
        ("/list/media?max-keys=-1", 400, "max-keys"),
        (
            "/list/media?continuation-token=zz",
            400,
            "continuation-token",
        ),
        ("/list/media?prefix=a&prefix=b", 400, "prefix"),
        ("/list/media?encoding-type=xml", 400, "encoding-type"),
        ("/list/nosuch", 404, "nosuch"),
        ("/list/", 404, "not found"),
        ("/list/private", 401, "authorization"),
    ] {
        let (got, body) = get_json(proxy, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["status"], status, "{path}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{path}: {message}");
    }
    // An empty bucket lists nothing, not an error.
    let empty = page(proxy, "media", "").await;
    assert_eq!(keys(&empty), Vec::<String>::new());
    assert_eq!(empty["max-keys"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_key_index_listing_is_501() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    let proxies = cluster
        .proxies_with(dir.path(), 1, &[media()], "key_index = false\n")
        .await;
    let proxy = &proxies[0];
    upload(proxy, "media", "k", payload(1, 10)).await;
    let (status, body) = get_json(proxy, "/list/media").await;
    assert_eq!(status, 501, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("key_index = false"),
        "{body}"
    );
    let (status, stat) = get_json(proxy, "/stat/media").await;
    assert_eq!(status, 200);
    assert_eq!(stat["buckets"][0]["objects"], Value::Null, "{stat}");
    assert_eq!(proxy.post("/delete/media/k", &[], Vec::new()).await.0, 200);
}
