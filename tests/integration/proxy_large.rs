//! A 200 MiB object through the proxy with bounded memory: the body is generated on the
//! fly by the client, streamed through the proxy to two groups, read back streaming and
//! compared by hash; the process's peak resident memory grows far less than the object.

use crate::payload;
use crate::proxy_support::{
    ProxyFixture, assert_bounded_rss_growth, assert_streamed_get, json, peak_rss, public_bucket,
    repeated_body,
};

const SIZE: usize = 200 << 20;
const PIECE: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_large_upload_and_read_in_bounded_memory() {
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let (body, expected) = repeated_body(payload(99, PIECE), SIZE / PIECE);
    let before = peak_rss();

    let r = fx
        .http
        .put(fx.url("/upload/b/large.bin"))
        .header("content-length", SIZE.to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reply = json(r).await;
    assert_eq!(reply["reply"]["success-groups"], serde_json::json!([1, 2]));

    assert_streamed_get(&fx, "/get/b/large.bin", SIZE, &expected).await;
    assert_bounded_rss_growth(before, SIZE, "object");
}
