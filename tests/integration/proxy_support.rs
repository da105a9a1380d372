//! Proxy test fixture: two storage nodes (groups 1 and 2), bucket metadata written through
//! `MetadataStore`, and the proxy's router served on an ephemeral port by `serve`, talked
//! to over real sockets with reqwest.

use std::time::Duration;

use backrunner_node::Node;
use backrunner_proxy::server::serve_tls;
use backrunner_proxy::tls::{ReloadingTls, TlsFiles};
use backrunner_proxy::{AppState, ProxyConfig, ServeOptions, app, serve};
use backrunner_store::MetadataStore;
use backrunner_store::bucket::{AclEntry, AclFlags, BucketMetadata};
use backrunner_tests::{connect, start_two_groups, wait_until};
use tokio::sync::watch;

/// A running proxy over two nodes.
pub struct ProxyFixture {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// `https://localhost:port` when the configuration has an HTTPS listener.
    pub https_base: Option<String>,
    /// The HTTPS listener's address.
    pub https_addr: Option<std::net::SocketAddr>,
    /// HTTP client.
    pub http: reqwest::Client,
    /// A storage client of the test itself (for setup and checks behind the proxy).
    pub storage: elliptics::Client,
    /// The nodes (kept alive).
    nodes: Vec<Option<Node>>,
    shutdown: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// A bucket on groups 1 and 2 with no ACL (public).
pub fn public_bucket(name: &str) -> BucketMetadata {
    let mut meta = BucketMetadata::new(name);
    meta.groups = vec![1, 2];
    meta
}

/// Adds user `user` with `token` and `flags` to `meta`.
pub fn with_user(mut meta: BucketMetadata, user: &str, token: &str, flags: u64) -> BucketMetadata {
    meta.acl.insert(
        user.into(),
        AclEntry {
            version: 1,
            user: user.into(),
            token: token.into(),
            flags: AclFlags::from_bits_retain(flags),
        },
    );
    meta
}

impl ProxyFixture {
    /// Starts nodes, writes `buckets` and the bucket list, starts the proxy with `tweak`
    /// applied to its configuration.
    pub async fn start_with(
        buckets: &[BucketMetadata],
        tweak: impl FnOnce(&mut ProxyConfig),
    ) -> ProxyFixture {
        let dir = tempfile::tempdir().unwrap();
        let (n1, n2) = start_two_groups(dir.path()).await;
        let storage = connect(&[n1.addr(), n2.addr()]).await;
        assert!(wait_until(Duration::from_secs(10), async || storage.nodes().len() == 2).await);
        let mut config = ProxyConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            remotes: vec![n1.addr().to_string(), n2.addr().to_string()],
            metadata_groups: vec![1, 2],
            protocol_version: "2.26".into(),
            storage_timeout_secs: 10,
            ..ProxyConfig::default()
        };
        tweak(&mut config);
        let store = MetadataStore::new(&storage, config.metadata_groups.clone());
        for meta in buckets {
            store.write_bucket(meta).await.check().unwrap();
            store
                .add_to_list(&config.bucket_list_key, &meta.name)
                .await
                .unwrap();
        }

        let proxy_client =
            elliptics::Client::connect(config.resolved_client_config().await.unwrap())
                .await
                .unwrap();
        let state = AppState::new(config.clone(), proxy_client).unwrap();
        state.load_buckets().await.unwrap();
        state.spawn_stats_poller();
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let options = ServeOptions::from_config(&config);
        let router = app(state);
        let (mut https_base, mut https_addr) = (None, None);
        if let Some(h) = &config.https {
            let tls = ReloadingTls::load(TlsFiles {
                cert: h.cert.clone(),
                key: h.key.clone(),
            })
            .unwrap();
            let tls_listener = tokio::net::TcpListener::bind(h.listen).await.unwrap();
            let addr = tls_listener.local_addr().unwrap();
            https_base = Some(format!("https://localhost:{}", addr.port()));
            https_addr = Some(addr);
            tokio::spawn(tls.clone().watch(Duration::from_millis(100), stopped()));
            let (router, options, stop) = (router.clone(), options.clone(), stopped());
            tokio::spawn(async move {
                serve_tls(tls_listener, router, options, tls, stop)
                    .await
                    .unwrap();
            });
        }
        let stop = stopped();
        tokio::spawn(async move {
            serve(listener, router, options, stop).await.unwrap();
        });
        ProxyFixture {
            base,
            https_base,
            https_addr,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            storage,
            nodes: vec![Some(n1), Some(n2)],
            shutdown: tx,
            _dir: dir,
        }
    }

    /// [`ProxyFixture::start_with`] with the default configuration.
    pub async fn start(buckets: &[BucketMetadata]) -> ProxyFixture {
        Self::start_with(buckets, |_| {}).await
    }

    /// Addresses of the nodes: group 1's, then group 2's.
    pub fn node_addrs(&self) -> Vec<elliptics::proto::NodeAddr> {
        self.nodes.iter().flatten().map(Node::addr).collect()
    }

    /// Node `i` (0: group 1, 1: group 2), unless killed.
    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().unwrap()
    }

    /// Shuts node `i` down (connections close, as when the process dies).
    pub async fn kill_node(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            node.shutdown().await;
        }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `method path` (relative to [`ProxyFixture::base`]) without credentials.
    pub async fn request(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.http
            .request(method, self.url(path))
            .send()
            .await
            .unwrap()
    }

    /// `GET path` without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path).await
    }

    /// `GET path` with `headers`, without credentials.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// `method path` with `body`, without credentials.
    pub async fn request_with_body(
        &self,
        method: reqwest::Method,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let request = self.http.request(method, self.url(path)).body(body);
        request.send().await.unwrap()
    }

    /// `POST path` with `body`, without credentials.
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.request_with_body(reqwest::Method::POST, path, body)
            .await
    }

    /// `PUT path` with `body`, without credentials.
    pub async fn put(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.request_with_body(reqwest::Method::PUT, path, body)
            .await
    }

    /// Uploads `body` to `/upload/{bucket}/{key}` without credentials; returns the status.
    pub async fn upload(&self, bucket: &str, key: &str, body: &[u8]) -> reqwest::StatusCode {
        self.post(&format!("/upload/{bucket}/{key}"), body.to_vec())
            .await
            .status()
    }

    /// Uploads `body` to `/nobucket_upload/{key}` without credentials (the proxy picks
    /// the bucket), asserts a 200, and returns the bucket it picked.
    pub async fn upload_anywhere(&self, key: &str, body: &[u8]) -> String {
        let r = self
            .post(&format!("/nobucket_upload/{key}"), body.to_vec())
            .await;
        assert_eq!(r.status(), 200);
        json(r).await["bucket"].as_str().unwrap().to_owned()
    }

    /// Stops accepting and drains.
    pub fn stop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for ProxyFixture {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET url` with `Range: range` through `http`, a client of the test's own (HTTP/2 only,
/// no redirects, another TLS root…) rather than the fixture's.
pub async fn get_range(http: &reqwest::Client, url: String, range: &str) -> reqwest::Response {
    http.get(url).header("range", range).send().await.unwrap()
}

/// `POST url` with `body` through `http`, a client of the test's own (dev mode's, one that
/// trusts the test's certificate…).
pub async fn post_body(
    http: &reqwest::Client,
    url: String,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    http.post(url).body(body).send().await.unwrap()
}

/// Asserts that `response` is a JSON error with `status`, and returns its message.
pub async fn expect_json_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "error content type"
    );
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["status"], status, "status field of {body}");
    body["error"].as_str().unwrap().to_owned()
}

/// The body of `response` as JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// `VmHWM` (peak resident set size) of this process in bytes.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A streamed request body of `count` copies of `piece`, and the SHA-256 of all of it.
pub fn repeated_body(piece: bytes::Bytes, count: usize) -> (reqwest::Body, Vec<u8>) {
    use futures_util::StreamExt;
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    for _ in 0..count {
        digest.update(&piece);
    }
    let pieces =
        futures_util::stream::iter(0..count).map(move |_| Ok::<_, std::io::Error>(piece.clone()));
    (
        reqwest::Body::wrap_stream(pieces),
        digest.finalize().to_vec(),
    )
}

/// Streams `GET path` and asserts a 200 with `Content-Length: size` whose body is exactly
/// `size` bytes with SHA-256 `expected`, without holding the body in memory.
pub async fn assert_streamed_get(fx: &ProxyFixture, path: &str, size: usize, expected: &[u8]) {
    use futures_util::StreamExt;
    use sha2::Digest;
    let r = fx.get(path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], size.to_string().as_str());
    let mut stream = r.bytes_stream();
    let (mut got, mut n) = (sha2::Sha256::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        n += chunk.len();
        got.update(&chunk);
    }
    assert_eq!(n, size);
    assert!(got.finalize()[..] == *expected, "content differs");
}

/// Asserts that the peak RSS grew by less than 128 MiB since `before` while a `size`-byte
/// `what` (e.g. `"object"`) went through.
pub fn assert_bounded_rss_growth(before: u64, size: usize, what: &str) {
    let growth = peak_rss().saturating_sub(before);
    eprintln!("peak RSS growth: {} MiB", growth >> 20);
    assert!(
        growth < (128 << 20),
        "peak RSS grew by {} MiB for a {} MiB {what}",
        growth >> 20,
        size >> 20
    );
}
