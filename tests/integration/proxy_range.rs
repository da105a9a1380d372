//! Range and conditional GETs through the proxy: single, suffix and open ranges, several
//! ranges as multipart/byteranges, 416 with `Content-Range: bytes */N`, the
//! `offset`/`size` window, If-None-Match / If-Modified-Since → 304, If-Match → 412,
//! If-Range with a stale or current validator, HEAD with a range.

use crate::payload;
use crate::proxy_support::{ProxyFixture, expect_json_error, public_bucket};

const URL: &str = "/get/b/video.mp4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_ranges_and_conditionals() {
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let body = payload(7, 1000);
    assert_eq!(fx.upload("b", "video.mp4", &body).await, 200);

    let full = fx.get(URL).await;
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "video/mp4");
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    let modified = full.headers()["last-modified"].to_str().unwrap().to_owned();

    let cases: [(&str, u64, u64); 4] = [
        ("bytes=10-19", 10, 19),
        ("bytes=-100", 900, 999),
        ("bytes=900-", 900, 999),
        ("bytes=990-5000", 990, 999),
    ];
    for (range, start, end) in cases {
        let r = fx.get_with(URL, &[("range", range)]).await;
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {start}-{end}/1000").as_str(),
            "{range}"
        );
        assert_eq!(r.headers()["accept-ranges"], "bytes");
        let got = r.bytes().await.unwrap();
        assert_eq!(&got[..], &body[start as usize..=end as usize], "{range}");
    }

    // Several ranges: multipart/byteranges with exact framing.
    let r = fx.get_with(URL, &[("range", "bytes=0-9,20-29")]).await;
    assert_eq!(r.status(), 206);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ctype}"))
        .to_owned();
    let length: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let got = r.bytes().await.unwrap();
    assert_eq!(got.len(), length);
    let mut expected = Vec::new();
    for (i, (s, e)) in [(0usize, 9usize), (20, 29)].into_iter().enumerate() {
        let sep = if i == 0 { "" } else { "\r\n" };
        expected.extend_from_slice(
            format!("{sep}--{boundary}\r\nContent-Type: video/mp4\r\nContent-Range: bytes {s}-{e}/1000\r\n\r\n")
                .as_bytes(),
        );
        expected.extend_from_slice(&body[s..=e]);
    }
    expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(&got[..], &expected[..]);

    // Unsatisfiable.
    let r = fx.get_with(URL, &[("range", "bytes=5000-")]).await;
    assert_eq!(r.headers()["content-range"], "bytes */1000");
    expect_json_error(r, 416).await;

    // Conditionals.
    let r = fx.get_with(URL, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.bytes().await.unwrap().is_empty());
    let r = fx.get_with(URL, &[("if-modified-since", &modified)]).await;
    assert_eq!(r.status(), 304);
    let r = fx
        .get_with(
            URL,
            &[("if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 1000);
    let r = fx
        .get_with(URL, &[("if-none-match", "\"something-else\"")])
        .await;
    assert_eq!(r.status(), 200);
    let r = fx
        .get_with(URL, &[("if-match", "\"something-else\"")])
        .await;
    expect_json_error(r, 412).await;

    // If-Range: stale validator → the whole object; current → the range.
    let r = fx
        .get_with(URL, &[("range", "bytes=0-9"), ("if-range", "\"stale\"")])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), body);
    let r = fx
        .get_with(URL, &[("range", "bytes=0-9"), ("if-range", &etag)])
        .await;
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], &body[..10]);

    // Backrunner's offset/size window.
    let r = fx.get(&format!("{URL}?offset=100&size=50")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().await.unwrap()[..], &body[100..150]);

    // HEAD mirrors GET's headers.
    let r = fx
        .http
        .head(fx.url(URL))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(r.headers()["content-length"], "10");
}
