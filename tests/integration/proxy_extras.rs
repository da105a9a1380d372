//! The proxy beyond the core API: uploads without a bucket (only writable buckets are
//! chosen), `/stat`, `/proxy_stat`, `/metrics`, and static files with traversal attempts
//! sent as raw bytes (HTTP clients normalise `..` away).

use std::time::Duration;

use backrunner_tests::wait_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::proxy_support::{
    ProxyFixture, expect_json_error, json, post_body, public_bucket, with_user,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_nobucket_upload_stat_and_monitoring() {
    let private = with_user(public_bucket("private"), "reader", "tok", 1);
    let fx = ProxyFixture::start_with(&[public_bucket("a"), public_bucket("b"), private], |c| {
        c.stats_interval_secs = 1
    })
    .await;
    let stats_loaded = async || {
        let r = fx.get("/stat").await;
        json(r).await["stats_loaded"] == true
    };
    assert!(wait_until(Duration::from_secs(10), stats_loaded).await);

    let mut chosen = std::collections::BTreeSet::new();
    for i in 0..20 {
        let key = format!("auto/{i}");
        let r = fx
            .post(&format!("/nobucket_upload/{key}"), format!("body {i}"))
            .await;
        assert_eq!(r.status(), 200);
        let reply = json(r).await;
        let bucket = reply["bucket"].as_str().unwrap().to_owned();
        assert_ne!(bucket, "private", "anonymous users cannot write there");
        let r = fx.get(&format!("/get/{bucket}/{key}")).await;
        assert_eq!(r.text().await.unwrap(), format!("body {i}"));
        chosen.insert(bucket);
    }
    assert_eq!(
        chosen.len(),
        2,
        "both public buckets get uploads: {chosen:?}"
    );

    // /stat: buckets without tokens, backend statistics per group.
    let r = fx.get("/stat/a,private").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains("\"tok\""), "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["buckets"][0]["name"], "a");
    assert_eq!(doc["buckets"][1]["acl"][0]["user"], "reader");
    let backends = &doc["buckets"][0]["groups"][0]["backends"];
    assert!(
        backends[0]["total_size_limit"].as_u64().unwrap() > 0,
        "{doc}"
    );
    let r = fx.get("/stat/nosuch").await;
    expect_json_error(r, 404).await;

    // /proxy_stat counts handlers and remembers errors; /metrics renders Prometheus text.
    let r = fx.get("/proxy_stat").await;
    let doc = json(r).await;
    assert_eq!(doc["handlers"]["nobucket_upload"]["requests"], 20);
    assert_eq!(doc["recent_errors"][0]["path"], "/stat/nosuch");
    assert_eq!(doc["recent_errors"][0]["status"], 404);
    let r = fx.get("/metrics").await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("handler=\"nobucket_upload\",status=\"200\"} 20"),
        "{text}"
    );
    assert!(text.contains("selection_decisions_total"), "{text}");
    assert!(
        text.contains("metadata_cache_lookups_total{result=\"hit\"}"),
        "{text}"
    );
}

/// Sends `GET <raw_path>` as raw bytes and returns the status code.
async fn raw_status(base: &str, raw_path: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {raw_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_static_files_and_traversal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(root.join("sub/a.txt"), "static a").unwrap();
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link.txt")).unwrap();
    let static_root = root.clone();
    let fx = ProxyFixture::start_with(&[public_bucket("b")], move |c| {
        c.static_root = Some(static_root)
    })
    .await;

    let r = fx.get("/sub/a.txt").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "static a");
    let r = fx.get("/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "<h1>home</h1>");
    let r = fx.get("/missing.txt").await;
    expect_json_error(r, 404).await;

    for attempt in [
        "/../outside/secret.txt",
        "/sub/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E%2Foutside%2Fsecret.txt",
        "/..%5coutside%5csecret.txt",
        "/link.txt",
        "/sub/%00a.txt",
    ] {
        let status = raw_status(&fx.base, attempt).await;
        assert!(
            status == 403 || status == 404 || status == 400,
            "{attempt}: {status}"
        );
    }
    // The API still wins over static files.
    let r = fx.get("/ping").await;
    assert_eq!(r.status(), 200);
}

fn self_signed(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, &cert_pem).unwrap();
    std::fs::write(&k, cert.key_pair.serialize_pem()).unwrap();
    (c, k, cert_pem)
}

fn https_client(fx: &ProxyFixture, trusted_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(trusted_pem.as_bytes()).unwrap())
        .resolve("localhost", fx.https_addr.unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_https_and_certificate_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, first_pem) = self_signed(dir.path(), "live");
    let (cert2, key2, second_pem) = self_signed(dir.path(), "next");
    let (c, k) = (cert.clone(), key.clone());
    let fx = ProxyFixture::start_with(&[public_bucket("b")], move |cfg| {
        cfg.https = Some(backrunner_proxy::config::HttpsConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert: c,
            key: k,
        });
    })
    .await;
    let base = fx.https_base.clone().unwrap();
    let first = https_client(&fx, &first_pem);
    let r = post_body(&first, format!("{base}/upload/b/tls.txt"), "over tls").await;
    assert_eq!(r.status(), 200);
    let r = first
        .get(format!("{base}/get/b/tls.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN negotiates h2");
    assert_eq!(r.text().await.unwrap(), "over tls");
    // Plain HTTP keeps working beside HTTPS.
    let r = fx.get("/get/b/tls.txt").await;
    assert_eq!(r.status(), 200);

    // Rotate the pair in place (as cert-manager does): new connections get the new one.
    std::fs::copy(&cert2, &cert).unwrap();
    std::fs::copy(&key2, &key).unwrap();
    let second = https_client(&fx, &second_pem);
    let rotated = async || {
        second
            .get(format!("{base}/ping"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    };
    assert!(wait_until(Duration::from_secs(10), rotated).await);
    let stale = https_client(&fx, &first_pem);
    assert!(stale.get(format!("{base}/ping")).send().await.is_err());
}
