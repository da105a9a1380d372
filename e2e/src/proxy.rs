//! `backrunner proxy` processes and a small HTTP client that signs its requests the way the
//! proxy checks them (`proxy::signature`, DESIGN contract 4).

use std::path::Path;
use std::time::Duration;

use backrunner_proxy::signature::{DEFAULT_AUTH_SCHEME, authorization_header, sign};
use reqwest::{Method, StatusCode};

use crate::error::Result;
use crate::process::{Proc, free_port};

/// Credentials of one ACL user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Token (HMAC key).
    pub token: String,
}

/// What a proxy is configured with.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Storage nodes, `ip:port:family`.
    pub remotes: Vec<String>,
    /// Metadata groups.
    pub metadata_groups: Vec<u32>,
    /// Bucket list key (the EllipticsCluster's `bucketListKey`).
    pub bucket_list_key: String,
    /// Operator placement hub URL, when the proxy should report to it.
    pub placement_hub: Option<String>,
}

/// A running `backrunner proxy`.
#[derive(Debug)]
pub struct ProxyProcess {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl ProxyProcess {
    /// Writes `<dir>/<name>.toml` and starts the proxy; returns once `/ping` answers.
    pub async fn start(
        name: &str,
        settings: &ProxySettings,
        dir: &Path,
        log_dir: &Path,
    ) -> Result<ProxyProcess> {
        let port = free_port()?;
        let mut toml = format!(
            "listen = \"127.0.0.1:{port}\"\nremotes = [{}]\nmetadata_groups = [{}]\nbucket_list_key = \"{}\"\nmetadata_refresh_secs = 1\nunknown_bucket_ttl_secs = 1\nstats_interval_secs = 1\nstorage_timeout_secs = 5\nshutdown_grace_secs = 1\n",
            settings
                .remotes
                .iter()
                .map(|r| format!("\"{r}\""))
                .collect::<Vec<_>>()
                .join(", "),
            settings
                .metadata_groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            settings.bucket_list_key,
        );
        if let Some(hub) = &settings.placement_hub {
            // Both proxies run on one host: name them, or the hub sees one `$HOSTNAME`.
            toml += &format!(
                "placement_hub = \"{hub}\"\nproxy_id = \"{name}\"\nplacement_report_interval_secs = 1\n"
            );
        }
        let envs = [("BACKRUNNER_LOG", "info".to_owned())];
        let mut proc = crate::spawn_backrunner("proxy", name, toml, dir, &envs, log_dir).await?;
        let url = format!("http://127.0.0.1:{port}");
        proc.wait_http_ok(&url, "/ping", Duration::from_secs(60))
            .await?;
        Ok(ProxyProcess { proc, url })
    }

    /// A client of this proxy.
    pub fn client(&self) -> ProxyClient {
        ProxyClient::new(&self.url)
    }
}

/// A reply: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as (lossy) text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.text();
        let short: String = text.chars().take(300).collect();
        write!(f, "{} {short}", self.status)
    }
}

/// Signed requests to one proxy.
#[derive(Debug, Clone)]
pub struct ProxyClient {
    base: String,
    http: reqwest::Client,
}

impl ProxyClient {
    /// A client of the proxy at `base` (`http://host:port`).
    pub fn new(base: &str) -> ProxyClient {
        ProxyClient {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// `POST /upload/{bucket}/{key}` with `body`.
    pub async fn upload(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        creds: Option<&Credentials>,
    ) -> Result<Reply> {
        let path = format!("/upload/{bucket}/{key}");
        self.send(Method::POST, &path, body, creds).await
    }

    /// `GET /get/{bucket}/{key}`.
    pub async fn get(&self, bucket: &str, key: &str, creds: Option<&Credentials>) -> Result<Reply> {
        let path = format!("/get/{bucket}/{key}");
        self.send(Method::GET, &path, Vec::new(), creds).await
    }

    /// `POST /delete/{bucket}/{key}`.
    pub async fn delete(
        &self,
        bucket: &str,
        key: &str,
        creds: Option<&Credentials>,
    ) -> Result<Reply> {
        let path = format!("/delete/{bucket}/{key}");
        self.send(Method::POST, &path, Vec::new(), creds).await
    }

    /// Any request; signed with `creds` when given. `path` is already URL-safe.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        creds: Option<&Credentials>,
    ) -> Result<Reply> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(c) = creds {
            let (p, q) = match path.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (path, None),
            };
            let signature = sign(method.as_str(), p.as_bytes(), q, [], &c.token);
            req = req.header(
                http::header::AUTHORIZATION,
                authorization_header(DEFAULT_AUTH_SCHEME, &c.user, &signature),
            );
        }
        if !body.is_empty() || method == Method::POST {
            req = req.body(body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.bytes().await?.to_vec();
        Ok(Reply { status, body })
    }
}
