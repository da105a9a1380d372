//! Uploads without `Content-Length` (chunked transfer encoding) through the proxy over
//! real sockets: sizes below, at and above the write chunk (4 MiB) read back byte-exact
//! with the right size in lookup; the bucket limit and `max_chunked_upload_size` give 413
//! with nothing committed; a client that aborts mid-body leaves no committed object (and
//! an older version readable); a 200 MiB chunked body in bounded memory.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::payload;
use crate::proxy_support::{
    ProxyFixture, assert_bounded_rss_growth, assert_streamed_get, expect_json_error, json,
    peak_rss, public_bucket, repeated_body,
};

/// A chunked request body sending `data` in pieces of `piece` bytes.
fn chunked(data: Bytes, piece: usize) -> reqwest::Body {
    let pieces: Vec<Result<Bytes, std::io::Error>> = (0..data.len())
        .step_by(piece.max(1))
        .map(|at| Ok(data.slice(at..data.len().min(at + piece))))
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(pieces))
}

/// GET of `/get/b/{key}`: status and body.
async fn get(fx: &ProxyFixture, key: &str) -> (u16, Bytes) {
    let r = fx.get(&format!("/get/b/{key}")).await;
    (r.status().as_u16(), r.bytes().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_chunked_uploads_read_back_exactly() {
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let cases = [
        ("one", 1usize, 1usize),
        ("mib3", (1 << 20) + 3, 64 << 10),
        ("twenty", 20 << 20, 1 << 20), // a multiple of the 4 MiB chunk
        ("nine", (9 << 20) + 5, 100_000), // ends inside a chunk
        ("exact", 4 << 20, (4 << 20) + 1), // exactly one chunk, one piece
    ];
    for (i, (key, len, piece)) in cases.into_iter().enumerate() {
        let data = payload(100 + i as u64, len);
        let r = fx
            .put(&format!("/upload/b/{key}"), chunked(data.clone(), piece))
            .await;
        assert_eq!(r.status(), 200, "{key}");
        let reply = json(r).await;
        assert_eq!(
            reply["reply"]["success-groups"],
            serde_json::json!([1, 2]),
            "{key}: {reply}"
        );
        assert_eq!(reply["reply"]["info"][0]["size"], len, "{key}: {reply}");
        let (status, body) = get(&fx, key).await;
        assert_eq!(status, 200, "{key}");
        assert_eq!(body.len(), len, "{key}");
        assert!(body == data, "{key}: content differs");
        let r = fx.get(&format!("/lookup/b/{key}")).await;
        let doc = json(r).await;
        assert_eq!(doc["success-groups"], serde_json::json!([1, 2]), "{key}");
        assert_eq!(doc["info"][0]["size"], len, "{key}: {doc}");
        assert_eq!(doc["info"][1]["size"], len, "{key}: {doc}");
    }
    // A chunked body at a write offset (Range start) keeps the bytes before it.
    let r = fx
        .put("/upload/b/one", chunked(Bytes::from_static(b"xyz"), 1))
        .await;
    assert_eq!(r.status(), 200);
    let r = fx
        .http
        .put(fx.url("/upload/b/one"))
        .header("range", "bytes=3-")
        .body(chunked(Bytes::from_static(b"45"), 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(get(&fx, "one").await, (200, Bytes::from_static(b"xyz45")));
    // An empty chunked body is refused like Content-Length: 0.
    let r = fx.put("/upload/b/empty", chunked(Bytes::new(), 1)).await;
    expect_json_error(r, 400).await;
    assert_eq!(get(&fx, "empty").await.0, 404);
    // /nobucket_upload takes chunked bodies too.
    let data = payload(7, (5 << 20) + 11);
    let r = fx
        .put("/nobucket_upload/nb", chunked(data.clone(), 1 << 20))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["bucket"], "b");
    assert_eq!(get(&fx, "nb").await, (200, data));
    // The range-amplification counters saw every object byte served above.
    let served: usize = cases.iter().map(|c| c.1).sum::<usize>() + 5 + (5 << 20) + 11;
    let text = fx.get("/metrics").await.text().await.unwrap();
    for name in [
        "backrunner_storage_read_bytes_total",
        "backrunner_http_object_bytes_served_total",
    ] {
        let value: usize = text
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(value, served, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_chunked_limits_give_413_and_commit_nothing() {
    let mut small = public_bucket("small");
    small.max_size = 6 << 20;
    let fx = ProxyFixture::start_with(&[public_bucket("b"), small], |c| {
        c.max_chunked_upload_size = 10 << 20;
    })
    .await;
    // Past the proxy's chunked limit (10 MiB), and past the bucket's max-size (6 MiB).
    for (bucket, len) in [("b", (10 << 20) + 1), ("small", (6 << 20) + 1)] {
        let r = fx
            .put(
                &format!("/upload/{bucket}/big"),
                chunked(payload(1, len), 1 << 20),
            )
            .await;
        let msg = expect_json_error(r, 413).await;
        assert!(msg.contains(&(len - 1).to_string()), "{bucket}: {msg}");
        let r = fx.get(&format!("/get/{bucket}/big")).await;
        assert_eq!(
            r.status(),
            404,
            "{bucket}: an over-limit upload became readable"
        );
        let lookup = fx
            .storage
            .session()
            .groups(vec![1, 2])
            .namespace(bucket.as_bytes())
            .lookup(b"big")
            .await;
        assert!(
            lookup.is_err_and(|e| e.status() == -2),
            "{bucket}: storage has a committed object"
        );
    }
    // Exactly at the limits is fine.
    for (bucket, len) in [("b", 10usize << 20), ("small", 6 << 20)] {
        let data = payload(2, len);
        let r = fx
            .put(
                &format!("/upload/{bucket}/fits"),
                chunked(data.clone(), 1 << 20),
            )
            .await;
        assert_eq!(r.status(), 200, "{bucket}");
        let r = fx.get(&format!("/get/{bucket}/fits")).await;
        assert_eq!(r.status(), 200);
        assert!(
            r.bytes().await.unwrap() == data,
            "{bucket}: content differs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_chunked_abort_commits_nothing() {
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let old = payload(3, 1000);
    assert_eq!(fx.upload("b", "kept", &old).await, 200);
    // 9 MiB sent (two full chunks written to storage, a third in progress), then the
    // client's body fails: the connection is cut mid-body.
    for key in ["kept", "fresh"] {
        let piece = payload(4, 1 << 20);
        let body = futures_util::stream::iter(0..10).then(move |i| {
            let piece = piece.clone();
            async move {
                if i == 9 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Err(std::io::Error::other("client gave up"))
                } else {
                    Ok(piece)
                }
            }
        });
        let sent = fx
            .http
            .put(fx.url(&format!("/upload/b/{key}")))
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await;
        match sent {
            Err(_) => {}
            Ok(r) => assert!(!r.status().is_success(), "{key}: aborted upload succeeded"),
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&fx, "kept").await, (200, old));
    assert_eq!(get(&fx, "fresh").await.0, 404);
    let r = fx.get("/lookup/b/kept").await;
    assert_eq!(json(r).await["info"][0]["size"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_chunked_200_mib_in_bounded_memory() {
    const SIZE: usize = 200 << 20;
    const PIECE: usize = 1 << 20;
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let (body, expected) = repeated_body(payload(5, PIECE), SIZE / PIECE);
    let before = peak_rss();
    let r = fx.put("/upload/b/large", body).await;
    assert_eq!(r.status(), 200);
    let reply = json(r).await;
    assert_eq!(reply["reply"]["success-groups"], serde_json::json!([1, 2]));
    assert_eq!(reply["reply"]["info"][0]["size"], SIZE);
    assert_streamed_get(&fx, "/get/b/large", SIZE, &expected).await;
    assert_bounded_rss_growth(before, SIZE, "chunked object");
}
