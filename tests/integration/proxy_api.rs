//! The proxy's API over real sockets: upload/get round trips of several sizes, HEAD,
//! upload refusals (400/413/404), lookup, delete then 404, bulk delete, keys with
//! slashes and UTF-8, trace ids, JSON error bodies, `?cflags=`/`?ioflags=`.

use futures_util::stream;

use crate::payload;
use crate::proxy_support::{ProxyFixture, expect_json_error, get_range, json, public_bucket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_upload_get_round_trip_sizes() {
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    for (i, size) in [1usize, 64 << 10, (10 << 20) + 1].into_iter().enumerate() {
        let body = payload(i as u64 + 1, size);
        let key = format!("round/{size}.bin");
        let r = fx.put(&format!("/upload/b/{key}"), body.to_vec()).await;
        assert_eq!(r.status(), 200, "upload {size}");
        let reply: serde_json::Value = json(r).await;
        assert_eq!(reply["bucket"], "b");
        assert_eq!(reply["key"], key.as_str());
        assert_eq!(reply["reply"]["success-groups"], serde_json::json!([1, 2]));
        assert_eq!(reply["reply"]["error-groups"], serde_json::json!([]));
        for info in reply["reply"]["info"].as_array().unwrap() {
            assert_eq!(info["size"], size as u64);
            assert_eq!(info["error"], "");
            assert_eq!(info["id"].as_str().unwrap().len(), 128);
        }

        let r = fx.get(&format!("/get/b/{key}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-length"], size.to_string().as_str());
        assert_eq!(r.headers()["accept-ranges"], "bytes");
        assert_eq!(r.headers()["content-type"], "application/octet-stream");
        assert!(r.headers().contains_key("etag"));
        assert!(r.headers().contains_key("last-modified"));
        let got = r.bytes().await.unwrap();
        assert!(got == body, "body of {size} bytes differs");

        let r = fx
            .request(reqwest::Method::HEAD, &format!("/get/b/{key}"))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-length"], size.to_string().as_str());
        assert!(r.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_upload_refusals_are_json() {
    let mut small = public_bucket("small");
    small.max_size = 100;
    let fx = ProxyFixture::start(&[public_bucket("b"), small]).await;
    let r = fx
        .http
        .post(fx.url("/upload/b/empty"))
        .header("content-length", "0")
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    expect_json_error(r, 400).await;
    let chunks = stream::iter([Ok::<_, std::io::Error>(b"abc".to_vec())]);
    let r = fx
        .post("/upload/b/chunked", reqwest::Body::wrap_stream(chunks))
        .await;
    assert_eq!(
        r.status(),
        200,
        "chunked uploads are accepted (proxy_chunked.rs)"
    );
    let r = fx.post("/upload/small/big", vec![0u8; 101]).await;
    let msg = expect_json_error(r, 413).await;
    assert!(msg.contains("100"), "{msg}");
    assert_eq!(fx.upload("small", "fits", &[1u8; 100]).await, 200);
    let r = fx.post("/upload/nosuch/k", vec![1u8]).await;
    let msg = expect_json_error(r, 404).await;
    assert!(msg.contains("nosuch"), "{msg}");
    let r = fx.post("/upload/b/", vec![1u8]).await;
    expect_json_error(r, 400).await;
    let r = fx.get("/upload/b/k").await;
    expect_json_error(r, 405).await;
    let r = fx.get("/no/such/route").await;
    expect_json_error(r, 404).await;
    let r = fx.get("/get/b/never-written").await;
    expect_json_error(r, 404).await;

    // A bucket created after start is loaded on demand.
    let store = backrunner_store::MetadataStore::new(&fx.storage, vec![1, 2]);
    store
        .write_bucket(&public_bucket("late"))
        .await
        .check()
        .unwrap();
    assert_eq!(fx.upload("late", "k", b"x").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_http2_and_extra_headers() {
    let fx = ProxyFixture::start_with(&[public_bucket("b")], |c| {
        c.extra_headers
            .insert("X-Served-By".into(), "backrunner-test".into());
    })
    .await;
    assert_eq!(fx.upload("b", "h2.txt", b"over h2c").await, 200);
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2.get(fx.url("/get/b/h2.txt")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-served-by"], "backrunner-test");
    assert_eq!(r.text().await.unwrap(), "over h2c");
    let r = get_range(&h2, fx.url("/get/b/h2.txt"), "bytes=5-7").await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.text().await.unwrap(), "h2c");
    // Extra headers decorate errors and 304s too.
    let r = fx.get("/get/b/missing").await;
    assert_eq!(r.headers()["x-served-by"], "backrunner-test");
    let first = fx.get("/get/b/h2.txt").await;
    let etag = first.headers()["etag"].clone();
    let r = fx
        .http
        .get(fx.url("/get/b/h2.txt"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["x-served-by"], "backrunner-test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_lookup_delete_and_bulk_delete() {
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    assert_eq!(fx.upload("b", "doomed", b"bye").await, 200);
    let r = fx.get("/lookup/b/doomed").await;
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = json(r).await;
    assert_eq!(doc["success-groups"], serde_json::json!([1, 2]));
    assert_eq!(doc["info"][0]["size"], 3);
    assert!(
        doc["info"][0]["server"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );

    let r = fx
        .request(reqwest::Method::DELETE, "/delete/b/doomed")
        .await;
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = json(r).await;
    assert_eq!(doc["success-groups"], serde_json::json!([1, 2]));
    let r = fx.get("/get/b/doomed").await;
    expect_json_error(r, 404).await;
    let r = fx.get("/lookup/b/doomed").await;
    expect_json_error(r, 404).await;
    let r = fx.request(reqwest::Method::POST, "/delete/b/doomed").await;
    expect_json_error(r, 404).await;

    for k in ["k1", "k2"] {
        assert_eq!(fx.upload("b", k, k.as_bytes()).await, 200);
    }
    let r = fx
        .post("/bulk_delete/b", r#"{"keys": ["k1", "k2", "missing"]}"#)
        .await;
    assert_eq!(r.status(), 200);
    let failures: serde_json::Value = json(r).await;
    let failures = failures.as_object().unwrap();
    assert_eq!(failures.keys().collect::<Vec<_>>(), ["missing"]);
    for k in ["k1", "k2"] {
        let r = fx.get(&format!("/get/b/{k}")).await;
        assert_eq!(r.status(), 404);
    }
    let r = fx.post("/bulk_delete/b", "not json").await;
    expect_json_error(r, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_keys_with_slashes_utf8_and_trace_ids() {
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let path = "/upload/b/dir/sub/%C3%A9t%C3%A9%20%2F%3F.txt";
    let r = fx.post(path, "summer").await;
    assert_eq!(r.status(), 200);
    let reply: serde_json::Value = json(r).await;
    assert_eq!(reply["key"], "dir/sub/été /?.txt");
    let r = fx
        .get_with(
            "/get/b/dir/sub/%C3%A9t%C3%A9%20%2F%3F.txt",
            &[("X-Request", "12345")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request"], "12345");
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "summer");
    // The key is stored under its decoded bytes: the storage client finds it too.
    let session = fx.storage.session().groups(vec![2]).namespace("b");
    let data = crate::read_all(&session, "dir/sub/été /?.txt".as_bytes(), 0, 0)
        .await
        .unwrap();
    assert_eq!(data, b"summer");
    let r = fx.get("/ping").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request"));
    let r = fx.get("/readyz").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_cflags_and_ioflags_from_the_query() {
    use sha2::Digest;
    let fx = ProxyFixture::start(&[public_bucket("b")]).await;
    let body = payload(77, 100_000);
    // cflags CHECKSUM: every group's file info carries the object's SHA-512.
    let r = fx.put("/upload/b/flagged?cflags=32", body.to_vec()).await;
    assert_eq!(r.status(), 200);
    let reply = json(r).await;
    let want = hex::encode(sha2::Sha512::digest(&body));
    let infos = reply["reply"]["info"].as_array().unwrap();
    assert_eq!(infos.len(), 2);
    for info in infos {
        assert_eq!(info["csum"], want.as_str(), "{info}");
    }
    // Without the flag the checksum is not computed (all zeros, as real eblob).
    let r = fx.put("/upload/b/plain", body.to_vec()).await;
    let reply = json(r).await;
    assert_eq!(reply["reply"]["info"][0]["csum"], "0".repeat(128).as_str());
    // ioflags on reads (hex accepted) still return the object.
    let r = fx.get("/get/b/flagged?ioflags=0x4100").await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap() == body);
    // Refused bits and garbage: 400 naming them; nothing written.
    let r = fx.get("/get/b/flagged?ioflags=2").await;
    let msg = expect_json_error(r, 400).await;
    assert!(msg.contains("ioflags 0x2 not allowed"), "{msg}");
    let r = fx.put("/upload/b/refused?cflags=0x202", "x").await;
    let msg = expect_json_error(r, 400).await;
    assert!(msg.contains("cflags 0x202 not allowed"), "{msg}");
    let r = fx.get("/lookup/b/refused?cflags=nope").await;
    let msg = expect_json_error(r, 400).await;
    assert!(msg.contains("cflags must be a number"), "{msg}");
    let r = fx.get("/lookup/b/refused").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_redirect_points_at_the_blob_region_and_is_signed() {
    use backrunner_proxy::signature::{CanonicalRequest, decode_path};
    use std::io::{Read, Seek, SeekFrom};
    let root = std::fs::canonicalize(std::env::temp_dir()).unwrap();
    let root = root.to_str().unwrap().to_owned();
    let fx = ProxyFixture::start_with(&[public_bucket("b")], |c| {
        c.redirect_port = 8081;
        c.redirect_token = "redirect-secret".into();
        c.redirect_root = root.clone();
    })
    .await;
    let no_follow = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let body = payload(9, 100_000);
    let r = fx.put("/upload/b/movie.mp4", body.to_vec()).await;
    assert_eq!(r.status(), 200);

    for (range, start, len) in [
        (None, 0usize, 100_000usize),
        (Some("bytes=1000-1999"), 1000, 1000),
        (Some("bytes=-10"), 99_990, 10),
    ] {
        let mut req = no_follow.get(fx.url("/redirect/b/movie.mp4"));
        if let Some(v) = range {
            req = req.header("Range", v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 302, "{range:?}");
        let h = r.headers();
        let location = h["location"].to_str().unwrap().to_owned();
        let url = reqwest::Url::parse(&location).unwrap();
        assert_eq!(url.scheme(), "http");
        assert_eq!(url.host_str(), Some("127.0.0.1"));
        assert_eq!(url.port(), Some(8081));
        // /<file minus root>:<offset>:<size>, and the X-Ell headers agree.
        let path = String::from_utf8(decode_path(url.path()).unwrap()).unwrap();
        let mut fields = path.rsplitn(3, ':');
        let size: usize = fields.next().unwrap().parse().unwrap();
        let offset: u64 = fields.next().unwrap().parse().unwrap();
        let file = fields.next().unwrap();
        assert_eq!(size, len);
        assert_eq!(h["x-ell-file"].to_str().unwrap(), file);
        assert_eq!(h["x-ell-total-size"], "100000");
        let file_offset: u64 = h["x-ell-file-offset"].to_str().unwrap().parse().unwrap();
        assert_eq!(offset, file_offset + start as u64);
        // The region of the blob file holds exactly the requested bytes.
        let mut f = std::fs::File::open(format!("{root}{file}")).unwrap();
        f.seek(SeekFrom::Start(offset)).unwrap();
        let mut got = vec![0u8; size];
        f.read_exact(&mut got).unwrap();
        assert!(got[..] == body[start..start + len], "region of {range:?}");
        // Signed with the redirect token over GET, the path and the X-Ell headers.
        let ell = h
            .iter()
            .filter(|(n, _)| n.as_str().starts_with("x-ell-"))
            .map(|(n, v)| (n.as_str(), v.as_bytes()));
        let canonical = CanonicalRequest::new("GET", path.as_bytes(), None, ell);
        let signature = h["authorization"].to_str().unwrap();
        assert!(canonical.verify("redirect-secret", signature));
        assert!(!canonical.verify("another-token", signature));
    }
    let r = get_range(&no_follow, fx.url("/redirect/b/movie.mp4"), "bytes=100000-").await;
    expect_json_error(r, 416).await;
    let r = no_follow
        .get(fx.url("/redirect/b/missing"))
        .send()
        .await
        .unwrap();
    expect_json_error(r, 404).await;

    // Off by default: 503 with a reason.
    let off = ProxyFixture::start(&[public_bucket("b")]).await;
    let r = off.get("/redirect/b/movie.mp4").await;
    let msg = expect_json_error(r, 503).await;
    assert!(msg.contains("redirect_port"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_remotes_by_dns_name() {
    // The fixture's nodes listen on 127.0.0.1; `localhost` resolves there.
    let fx = ProxyFixture::start_with(&[public_bucket("b")], |c| {
        c.remotes = c
            .remotes
            .iter()
            .map(|r| r.replace("127.0.0.1", "localhost"))
            .collect();
        assert!(c.remotes.iter().all(|r| r.starts_with("localhost:")));
    })
    .await;
    let r = fx.put("/upload/b/by-name", "hello").await;
    assert_eq!(r.status(), 200);
    let reply = json(r).await;
    assert_eq!(reply["reply"]["success-groups"], serde_json::json!([1, 2]));
}
