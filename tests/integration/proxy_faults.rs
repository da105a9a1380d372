//! Faults under the proxy: a node dies during a stream of reads (no read fails while a
//! replica lives) and during an upload (the reply reports the failed group; the data is
//! readable from the other).

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::payload;
use crate::proxy_support::{ProxyFixture, json, public_bucket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_reads_survive_a_node_dying() {
    let mut fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let body = payload(11, 3 << 20);
    assert_eq!(fx.upload("b", "big", &body).await, 200);

    // Slow group 1 down so a read is in flight when its node dies.
    for b in fx.node(0).backends() {
        b.set_delay_ms(20);
    }
    let url = fx.url("/get/b/big");
    let http = fx.http.clone();
    let expected = body.clone();
    let readers = tokio::spawn(async move {
        let mut ok = 0;
        for _ in 0..6 {
            let r = http.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let got = r.bytes().await.unwrap();
            assert!(got == expected, "a read returned wrong bytes");
            ok += 1;
        }
        ok
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    fx.kill_node(0).await;
    assert_eq!(readers.await.unwrap(), 6);
    let r = fx
        .get_with("/get/b/big", &[("range", "bytes=100-199")])
        .await;
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], &body[100..200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_upload_reports_a_group_lost_midway() {
    let mut fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let body = payload(12, 12 << 20);
    // Feed the body in 1 MiB pieces, slowly, so the node dies between chunks.
    let pieces: Vec<Bytes> = body.chunks(1 << 20).map(Bytes::copy_from_slice).collect();
    let stream = futures_util::stream::iter(pieces).then(|p| async move {
        tokio::time::sleep(Duration::from_millis(40)).await;
        Ok::<_, std::io::Error>(p)
    });
    let request = fx
        .http
        .post(fx.url("/upload/b/survivor"))
        .header("content-length", body.len().to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let upload = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(200)).await;
    fx.kill_node(1).await;
    let r = upload.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    let reply = json(r).await;
    assert_eq!(reply["reply"]["success-groups"], serde_json::json!([1]));
    assert_eq!(
        reply["reply"]["error-groups"],
        serde_json::json!([2]),
        "{reply}"
    );
    let failed = &reply["reply"]["info"][1];
    assert_eq!(failed["group"], 2);
    assert_ne!(failed["error"], "");
    let r = fx.get("/get/b/survivor").await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap() == body);
}
