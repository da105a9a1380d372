//! A 200 MiB object through the proxy with bounded memory: the body is generated on the
//! fly by the client, streamed through the proxy to two groups, read back streaming and
//! compared by hash; the process's peak resident memory grows far less than the object.

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::payload;
use crate::proxy_support::{ProxyFixture, json, public_bucket};

const SIZE: usize = 200 << 20;
const PIECE: usize = 1 << 20;

/// `VmHWM` of this process in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_large_upload_and_read_in_bounded_memory() {
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let piece = payload(99, PIECE);
    let mut expected = Sha256::new();
    for _ in 0..SIZE / PIECE {
        expected.update(&piece);
    }
    let expected = expected.finalize();
    let before = peak_rss();

    let body = futures_util::stream::iter(0..SIZE / PIECE)
        .map(move |_| Ok::<_, std::io::Error>(piece.clone()));
    let r = fx
        .http
        .put(fx.url("/upload/b/large.bin"))
        .header("content-length", SIZE.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reply = json(r).await;
    assert_eq!(reply["reply"]["success-groups"], serde_json::json!([1, 2]));

    let r = fx
        .http
        .get(fx.url("/get/b/large.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], SIZE.to_string().as_str());
    let mut stream = r.bytes_stream();
    let (mut got, mut n) = (Sha256::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        n += chunk.len();
        got.update(&chunk);
    }
    assert_eq!(n, SIZE);
    assert!(got.finalize() == expected, "content differs");
    let growth = peak_rss().saturating_sub(before);
    eprintln!("peak RSS growth: {} MiB", growth >> 20);
    assert!(
        growth < (128 << 20),
        "peak RSS grew by {} MiB for a {} MiB object",
        growth >> 20,
        SIZE >> 20
    );
}
