//! Transport limits of the proxy: header size (431), header read timeout (slowloris),
//! the concurrency limit (fast 503 JSON instead of a queue), and graceful shutdown
//! (in-flight requests finish, new connections are refused).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::proxy_support::{ProxyFixture, expect_json_error, public_bucket};

/// Sends raw bytes, returns everything the server sent until it closed.
async fn raw(base: &str, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// An upload whose body the test feeds: returns the sender and the pending response.
fn held_upload(
    fx: &ProxyFixture,
    path: &str,
    len: usize,
) -> (
    mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let request = fx
        .http
        .post(fx.url(path))
        .header("content-length", len.to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    (tx, tokio::spawn(request))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_transport_limits() {
    let fx = ProxyFixture::start_with(&[public_bucket("b")], |c| {
        c.max_concurrent_requests = 1;
        c.header_read_timeout_secs = 1;
    })
    .await;

    let big = format!(
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let reply = raw(&fx.base, big.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");

    let start = Instant::now();
    let reply = raw(&fx.base, b"GET /ping HTTP/1.1\r\nHost: x\r\n").await;
    assert!(!reply.contains("200 OK"), "{reply}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "slowloris closed at the header timeout"
    );

    // An idle keep-alive connection is not a slowloris: a second request after more than
    // the header timeout of silence is still served on the same connection.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(fx.base.trim_start_matches("http://"))
            .await
            .unwrap();
        for round in 0..2 {
            conn.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                let n = conn.read(&mut buf).await.unwrap();
                assert!(n > 0, "connection closed in round {round}");
                got.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&got);
            assert!(head.starts_with("HTTP/1.1 200"), "round {round}: {head}");
            tokio::time::sleep(Duration::from_millis(1_500)).await;
        }
    }

    // One request holds the only slot: the next is refused at once with 503 JSON.
    let (tx, pending) = held_upload(&fx, "/upload/b/held", 4);
    tx.send(Bytes::from_static(b"ab")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let r = fx.get("/ping").await;
    let msg = expect_json_error(r, 503).await;
    assert!(msg.contains("busy"), "{msg}");
    assert!(start.elapsed() < Duration::from_millis(500));
    tx.send(Bytes::from_static(b"cd")).await.unwrap();
    drop(tx);
    assert_eq!(pending.await.unwrap().unwrap().status(), 200);
    let r = fx.get("/ping").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_graceful_shutdown_finishes_in_flight() {
    let mut fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let (tx, pending) = held_upload(&fx, "/upload/b/last", 6);
    tx.send(Bytes::from_static(b"abc")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    fx.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tokio::net::TcpStream::connect(fx.base.trim_start_matches("http://")).await;
    assert!(refused.is_err(), "no new connections after shutdown");
    tx.send(Bytes::from_static(b"def")).await.unwrap();
    drop(tx);
    let r = pending.await.unwrap().unwrap();
    assert_eq!(r.status(), 200, "the in-flight upload completes");
    let session = fx.storage.session().groups(vec![1]).namespace("b");
    assert_eq!(
        crate::read_all(&session, b"last", 0, 0).await.unwrap(),
        b"abcdef"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_idle_timeout_is_activity_based() {
    let fx = ProxyFixture::start_with(&[public_bucket("b")], |c| c.idle_timeout_secs = 1).await;
    // A stalled upload body is cut after the idle timeout.
    let start = Instant::now();
    let reply = raw(
        &fx.base,
        b"POST /upload/b/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
    )
    .await;
    assert!(!reply.contains("200 OK"), "{reply}");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    // A slow but steady one, taking longer than the timeout in total, completes.
    let (tx, pending) = held_upload(&fx, "/upload/b/steady", 8);
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.send(Bytes::from_static(b"s")).await.unwrap();
    }
    drop(tx);
    assert_eq!(pending.await.unwrap().unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_upload_budget_applies_backpressure() {
    let fx = ProxyFixture::start_with(&[public_bucket("b")], |c| {
        c.write_chunk_size = 1 << 20;
        c.max_inflight_upload_bytes = 1 << 20;
    })
    .await;
    let len = 2 << 20;
    let (tx_a, a) = held_upload(&fx, "/upload/b/a", len);
    tx_a.send(Bytes::from(vec![1u8; 1 << 20])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // B has its whole body ready but the budget is spent: it waits for A.
    let (tx_b, b) = held_upload(&fx, "/upload/b/b", len);
    tx_b.send(Bytes::from(vec![2u8; 1 << 20])).await.unwrap();
    tx_b.send(Bytes::from(vec![2u8; 1 << 20])).await.unwrap();
    drop(tx_b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!b.is_finished(), "the second upload waits for budget");
    tx_a.send(Bytes::from(vec![1u8; 1 << 20])).await.unwrap();
    drop(tx_a);
    assert_eq!(a.await.unwrap().unwrap().status(), 200);
    assert_eq!(b.await.unwrap().unwrap().status(), 200);
}
