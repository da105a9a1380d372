//! The proxy's configuration (`proxy.toml`): listeners, storage remotes, bucket metadata
//! source, limits and timeouts, response decoration. Parsed with serde from TOML (the CLI
//! layers environment variables and flags on top) and validated once at start, with errors
//! naming the field.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use elliptics::client::{ClientConfig, Remote, VersionPolicy, resolve_all};
use elliptics::proto::{NodeAddr, ProtocolVersion};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

/// A configuration error naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("proxy config: {field}: {message}")]
pub struct ConfigError {
    /// The field, e.g. `https.cert`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

pub(crate) fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// Default key of the bucket list object in the metadata namespace.
pub const DEFAULT_BUCKET_LIST_KEY: &str = "backrunner-bucket-list";

/// The HTTPS listener.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpsConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The bootstrap administrator of RIFT's management endpoints (`[admin]`): requests signed
/// as `user` with `token` may create, change and delete every bucket and bucket directory.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// The admin's user name (not `*`).
    pub user: String,
    /// The admin's token (the HMAC key its requests are signed with).
    pub token: String,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token: configurations end up in logs.
        f.debug_struct("AdminConfig")
            .field("user", &self.user)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl AdminConfig {
    /// Checks the user and token (errors name `admin.user` / `admin.token`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let user = self.user.trim();
        if user.is_empty() || user == crate::signature::ANONYMOUS_USER || user.contains(':') {
            return Err(err(
                "admin.user",
                "must be a user name (not empty, not '*', no ':')",
            ));
        }
        if user != self.user {
            return Err(err("admin.user", "must not start or end with whitespace"));
        }
        if self.token.is_empty() {
            return Err(err("admin.token", "must not be empty"));
        }
        Ok(())
    }
}

/// The S3-compatible front (`[s3]`): its own listeners over the same buckets, ACLs and
/// objects as the Backrunner API.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Plain HTTP listen address, e.g. `127.0.0.1:9000`.
    pub listen: SocketAddr,
    /// Optional HTTPS listener, with the certificate pair of `[https]` (required then).
    #[serde(default)]
    pub https_listen: Option<SocketAddr>,
    /// The region GetBucketLocation answers and clients sign for (default `us-east-1`).
    #[serde(default = "default_s3_region")]
    pub region: String,
}

fn default_s3_region() -> String {
    "us-east-1".into()
}

/// Proxy configuration. Every field but `remotes` and `metadata_groups` has a default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Plain HTTP listen address (default `127.0.0.1:9090`).
    pub listen: SocketAddr,
    /// Optional HTTPS listener beside the plain one.
    pub https: Option<HttpsConfig>,
    /// Storage nodes to connect to first, `ip:port[:family]` or `name:port[:family]` (a
    /// DNS name, resolved at start to all its addresses).
    pub remotes: Vec<String>,
    /// Groups holding bucket metadata and the bucket list.
    pub metadata_groups: Vec<u32>,
    /// Key of the bucket list object in namespace `bucket`; empty = do not read one.
    pub bucket_list_key: String,
    /// Buckets always loaded, in addition to the bucket list.
    pub buckets: Vec<String>,
    /// Seconds between bucket metadata refreshes (default 30).
    pub metadata_refresh_secs: u64,
    /// Seconds an unknown bucket name stays known-missing before storage is asked again
    /// (default 5).
    pub unknown_bucket_ttl_secs: u64,
    /// Seconds between storage statistics polls (default 10).
    pub stats_interval_secs: u64,
    /// Handshake protocol version: `auto`, `2.26` or `3.0` (default `auto`).
    pub protocol_version: String,
    /// Storage request inactivity timeout in seconds (default 15).
    pub storage_timeout_secs: u64,
    /// Storage inactivity timeout of uploads in seconds (default 100, as Backrunner).
    pub upload_timeout_secs: u64,
    /// Seconds from a request's first byte (or from connecting) to its complete header
    /// (default 10): slowloris clients are closed; also bounds the TLS handshake.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stall (no byte read or written while the proxy waits on
    /// it) before it is closed (default 120), idle keep-alive connections included; slow
    /// but steady transfers are never cut.
    pub idle_timeout_secs: u64,
    /// Seconds in-flight requests get to finish on shutdown (default 30).
    pub shutdown_grace_secs: u64,
    /// Requests served at once; beyond, a fast 503 (default 1024).
    pub max_concurrent_requests: usize,
    /// Largest request header block in bytes (default 16 KiB; at least 8 KiB).
    pub max_header_bytes: usize,
    /// Largest upload in bytes, 0 = unlimited (default 0; buckets may set their own).
    pub max_body_size: u64,
    /// Largest upload without `Content-Length` (chunked transfer encoding) in bytes when
    /// neither the bucket's `max-size` nor `max_body_size` is smaller (default 1 GiB). Past
    /// it the upload is refused (413) and nothing is published. Nothing is reserved: a
    /// chunked body is stored as parts of `write_chunk_size` as it arrives.
    pub max_chunked_upload_size: u64,
    /// Largest `bulk_delete` request body in bytes (default 1 MiB).
    pub max_bulk_delete_body: usize,
    /// Groups that must store an upload for it to succeed (default 1).
    pub upload_quorum: usize,
    /// Whether uploads and deletes are logged in each bucket's key index (default true).
    /// `false` serves no listings (`/list` answers 501), no object counts and no
    /// `max-keys` quota; every proxy of a cluster must agree, or listings miss the writes
    /// of the proxies that do not log them. For measurements and legacy deployments.
    pub key_index: bool,
    /// Bytes fetched per storage READ while streaming (default 512 KiB: S2 1 MiB GETs cost
    /// 0.55 proxy CPU-s per GiB with 256 KiB, about 0.45 with 512 KiB; each streaming
    /// reader holds about one chunk).
    pub read_chunk_size: usize,
    /// The largest object stored as one record at its key, and the size of each part of a
    /// larger (or chunked) one (default 4 MiB); every part is one storage WRITE.
    pub write_chunk_size: usize,
    /// Upload bytes held in memory at once across all requests (default 256 MiB). Each
    /// upload reserves `min(length, write_chunk_size)` before reading its body; when the
    /// budget is spent, new uploads wait without reading their sockets (backpressure).
    pub max_inflight_upload_bytes: u64,
    /// Most ranges honoured in one request; beyond, the whole object is sent (default 16).
    pub max_ranges: usize,
    /// Directory served for GETs outside the API (none by default).
    pub static_root: Option<PathBuf>,
    /// Headers added to every reply.
    pub extra_headers: BTreeMap<String, String>,
    /// Extension → Content-Type overrides of the built-in table.
    pub content_types: HashMap<String, String>,
    /// Placement hub of the operator, `http://host:port[/prefix]`; none = local
    /// measurements only.
    pub placement_hub: Option<String>,
    /// This proxy's identity in placement reports (default: `$HOSTNAME`, else the listen
    /// address).
    pub proxy_id: Option<String>,
    /// Seconds between placement reports and view fetches (default 5).
    pub placement_report_interval_secs: u64,
    /// Seconds after which a received hub view is ignored (default 30).
    pub placement_staleness_secs: u64,
    /// `namespace/name` of the `EllipticsCluster`, passed in reports (default empty).
    pub placement_cluster: String,
    /// Port of the storage hosts' HTTP servers that `/redirect` points at (0 = redirects
    /// off, the default).
    pub redirect_port: u16,
    /// Prefix removed from blob paths in redirect URLs (default empty).
    pub redirect_root: String,
    /// Token of the HMAC-SHA512 signing redirect URLs (required with `redirect_port`).
    pub redirect_token: String,
    /// Seconds the storage side should accept a redirect (`X-Ell-Signature-Timeout`,
    /// default 60).
    pub redirect_signature_timeout_secs: u64,
    /// Scheme of redirect URLs, `http` (default) or `https`.
    pub redirect_scheme: String,
    /// The bootstrap administrator of the management endpoints (none by default: only
    /// admins named in bucket and directory ACLs).
    pub admin: Option<AdminConfig>,
    /// The S3-compatible front (`[s3]`, served by the `backrunner-s3` crate in the same
    /// process); none by default.
    pub s3: Option<S3Config>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            https: None,
            remotes: Vec::new(),
            metadata_groups: Vec::new(),
            bucket_list_key: DEFAULT_BUCKET_LIST_KEY.into(),
            buckets: Vec::new(),
            metadata_refresh_secs: 30,
            unknown_bucket_ttl_secs: 5,
            stats_interval_secs: 10,
            protocol_version: "auto".into(),
            storage_timeout_secs: 15,
            upload_timeout_secs: 100,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 120,
            shutdown_grace_secs: 30,
            max_concurrent_requests: 1024,
            max_header_bytes: 16 << 10,
            max_body_size: 0,
            max_chunked_upload_size: 1 << 30,
            max_bulk_delete_body: 1 << 20,
            upload_quorum: 1,
            key_index: true,
            read_chunk_size: 512 << 10,
            write_chunk_size: 4 << 20,
            max_inflight_upload_bytes: 256 << 20,
            max_ranges: crate::range::DEFAULT_MAX_RANGES,
            static_root: None,
            extra_headers: BTreeMap::new(),
            content_types: HashMap::new(),
            placement_hub: None,
            proxy_id: None,
            placement_report_interval_secs: 5,
            placement_staleness_secs: 30,
            placement_cluster: String::new(),
            redirect_port: 0,
            redirect_root: String::new(),
            redirect_token: String::new(),
            redirect_signature_timeout_secs: 60,
            redirect_scheme: "http".into(),
            admin: None,
            s3: None,
        }
    }
}

impl ProxyConfig {
    /// Parses TOML text (unknown fields are errors).
    pub fn from_toml(text: &str) -> Result<ProxyConfig, ConfigError> {
        toml::from_str(text).map_err(|e| err("toml", e.to_string()))
    }

    /// Checks `[s3]`: its listeners differ from the proxy's, HTTPS has a certificate pair.
    fn validate_s3(&self, s3: &S3Config) -> Result<(), ConfigError> {
        let taken = |addr: SocketAddr| {
            addr.port() != 0
                && (addr == self.listen || self.https.as_ref().is_some_and(|h| h.listen == addr))
        };
        if taken(s3.listen) {
            return Err(err("s3.listen", "must differ from the proxy's listeners"));
        }
        if let Some(https) = s3.https_listen {
            if taken(https) || (https == s3.listen && https.port() != 0) {
                return Err(err(
                    "s3.https_listen",
                    "must differ from the other listeners",
                ));
            }
            if self.https.is_none() {
                return Err(err(
                    "s3.https_listen",
                    "needs [https] (its cert and key serve S3 too)",
                ));
            }
        }
        if s3.region.trim().is_empty() || s3.region.contains(char::is_whitespace) {
            return Err(err("s3.region", "must be a region name, e.g. us-east-1"));
        }
        Ok(())
    }

    /// Checks every field; the typed views below only succeed on a valid configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.remotes.is_empty() {
            return Err(err("remotes", "at least one storage node is required"));
        }
        self.check_remotes()?;
        if self.metadata_groups.is_empty() {
            return Err(err("metadata_groups", "at least one group is required"));
        }
        self.version_policy()?;
        self.extra_header_map()?;
        let positive = [
            ("metadata_refresh_secs", self.metadata_refresh_secs),
            ("stats_interval_secs", self.stats_interval_secs),
            ("storage_timeout_secs", self.storage_timeout_secs),
            ("upload_timeout_secs", self.upload_timeout_secs),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            (
                "placement_report_interval_secs",
                self.placement_report_interval_secs,
            ),
            ("placement_staleness_secs", self.placement_staleness_secs),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(err(field, "must be positive"));
            }
        }
        if self.max_chunked_upload_size == 0 {
            return Err(err("max_chunked_upload_size", "must be positive"));
        }
        if self.max_concurrent_requests == 0 {
            return Err(err("max_concurrent_requests", "must be positive"));
        }
        if self.max_header_bytes < 8192 {
            return Err(err("max_header_bytes", "must be at least 8192"));
        }
        if self.upload_quorum == 0 {
            return Err(err("upload_quorum", "must be at least 1"));
        }
        if !(4096..=(16 << 20)).contains(&self.read_chunk_size) {
            return Err(err("read_chunk_size", "must be between 4 KiB and 16 MiB"));
        }
        if !(4096..=(32 << 20)).contains(&self.write_chunk_size) {
            return Err(err("write_chunk_size", "must be between 4 KiB and 32 MiB"));
        }
        if self.max_inflight_upload_bytes < self.write_chunk_size as u64 {
            return Err(err(
                "max_inflight_upload_bytes",
                "must hold at least one write chunk",
            ));
        }
        if self.max_inflight_upload_bytes > (u64::from(u32::MAX) << 10) {
            return Err(err("max_inflight_upload_bytes", "at most 4 TiB"));
        }
        if self.redirect_port != 0 && self.redirect_token.is_empty() {
            return Err(err(
                "redirect_token",
                "required when redirect_port is set (redirect URLs are signed)",
            ));
        }
        if !matches!(self.redirect_scheme.as_str(), "http" | "https") {
            return Err(err("redirect_scheme", "must be http or https"));
        }
        if self.max_ranges == 0 {
            return Err(err("max_ranges", "must be positive"));
        }
        if let Some(https) = &self.https {
            if https.listen == self.listen && https.listen.port() != 0 {
                return Err(err("https.listen", "must differ from listen"));
            }
        }
        self.placement_hub_uri()?;
        if self
            .proxy_id
            .as_ref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return Err(err("proxy_id", "must not be empty"));
        }
        if let Some(admin) = &self.admin {
            admin.validate()?;
        }
        if let Some(s3) = &self.s3 {
            self.validate_s3(s3)?;
        }
        for (i, name) in self.buckets.iter().enumerate() {
            if backrunner_store::valid_bucket_name(name).is_none() {
                return Err(err(format!("buckets[{i}]"), "not a valid bucket name"));
            }
        }
        Ok(())
    }

    /// Checks the form of every remote (`ip:port[:family]` or `name:port[:family]`).
    pub fn check_remotes(&self) -> Result<(), ConfigError> {
        for (i, r) in self.remotes.iter().enumerate() {
            Remote::parse(r).map_err(|e| err(format!("remotes[{i}]"), e))?;
        }
        Ok(())
    }

    /// The remotes as node addresses, when all are IP addresses (`:2` = IPv4 family when
    /// omitted); a DNS name needs [`ProxyConfig::resolved_client_config`].
    pub fn remote_addrs(&self) -> Result<Vec<NodeAddr>, ConfigError> {
        self.remotes
            .iter()
            .enumerate()
            .map(|(i, r)| match Remote::parse(r) {
                Ok(Remote::Addr(a)) => Ok(a),
                Ok(Remote::Name { .. }) => Err(err(
                    format!("remotes[{i}]"),
                    "a DNS name: resolve it first (resolved_client_config)",
                )),
                Err(e) => Err(err(format!("remotes[{i}]"), e)),
            })
            .collect()
    }

    /// The handshake version policy.
    pub fn version_policy(&self) -> Result<VersionPolicy, ConfigError> {
        match self.protocol_version.trim() {
            "" | "auto" => Ok(VersionPolicy::Auto),
            v => v
                .parse::<ProtocolVersion>()
                .map(VersionPolicy::Fixed)
                .map_err(|e: String| err("protocol_version", e)),
        }
    }

    /// The Elliptics client configuration, with DNS names in `remotes` resolved now (to
    /// every address of the requested family).
    pub async fn resolved_client_config(&self) -> Result<ClientConfig, ConfigError> {
        let remotes = resolve_all(&self.remotes, "remotes")
            .await
            .map_err(|e| err("remotes", e))?;
        Ok(ClientConfig {
            remotes,
            ..self.client_config_with(Vec::new())?
        })
    }

    /// The Elliptics client configuration (remotes must be IP addresses).
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        self.client_config_with(self.remote_addrs()?)
    }

    fn client_config_with(&self, remotes: Vec<NodeAddr>) -> Result<ClientConfig, ConfigError> {
        Ok(ClientConfig {
            remotes,
            protocol_version: self.version_policy()?,
            wait_timeout: Duration::from_secs(self.storage_timeout_secs),
            read_chunk_size: self.read_chunk_size,
            write_chunk_size: self.write_chunk_size,
            ..ClientConfig::default()
        })
    }

    /// The configured extra response headers.
    pub fn extra_header_map(&self) -> Result<HeaderMap, ConfigError> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.extra_headers {
            let field = format!("extra_headers.{name}");
            let n = HeaderName::try_from(name.as_str())
                .map_err(|_| err(&field, "not a valid header name"))?;
            let v = HeaderValue::try_from(value.as_str())
                .map_err(|_| err(&field, "not a valid header value"))?;
            map.append(n, v);
        }
        Ok(map)
    }

    /// Metadata refresh period.
    pub fn metadata_refresh(&self) -> Duration {
        Duration::from_secs(self.metadata_refresh_secs)
    }

    /// Header read timeout.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// Shutdown deadline for in-flight requests.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> ProxyConfig {
        ProxyConfig::from_toml("remotes = [\"127.0.0.1:1025\"]\nmetadata_groups = [1, 2]\n")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_and_minimal_file() {
        let cfg = minimal();
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(cfg.listen.port(), 9090);
        assert_eq!(cfg.bucket_list_key, DEFAULT_BUCKET_LIST_KEY);
        assert_eq!(cfg.upload_quorum, 1);
        let client = cfg.client_config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client.read_chunk_size, 512 << 10);
        assert_eq!(cfg.placement_hub_uri(), Ok(None));
        assert_eq!(cfg.placement_report_interval_secs, 5);
        assert_eq!(cfg.placement_staleness_secs, 30);
        assert_eq!(cfg.admin, None);
        let with_admin = ProxyConfig::from_toml(
            "remotes = [\"127.0.0.1:1025\"]\nmetadata_groups = [1]\n[admin]\nuser = \"root\"\ntoken = \"s3cret\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(with_admin.validate(), Ok(()));
        let admin = with_admin.admin.unwrap_or_else(|| panic!("no [admin]"));
        assert_eq!(admin.user, "root");
        assert!(!format!("{admin:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn remotes_may_be_dns_names() {
        let mut cfg = minimal();
        cfg.remotes = vec![
            "localhost:1025".into(),
            "storage-0.storage.ns.svc:1025:2".into(),
        ];
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(
            cfg.client_config().map(|_| ()).map_err(|e| e.field),
            Err("remotes[0]".into()),
            "names need resolving"
        );
        cfg.remotes.truncate(1);
        let client = cfg
            .resolved_client_config()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            client
                .remotes
                .iter()
                .any(|a| a.socket_addr().ip().is_loopback())
        );
    }

    #[test]
    fn errors_name_the_field() {
        type Edit = fn(&mut ProxyConfig);
        let cases: [(Edit, &str); 8] = [
            (|c| c.remotes = vec!["nonsense".into()], "remotes[0]"),
            (|c| c.metadata_groups.clear(), "metadata_groups"),
            (
                |c| {
                    c.extra_headers.insert("bad header".into(), "x".into());
                },
                "extra_headers.bad header",
            ),
            (|c| c.protocol_version = "banana".into(), "protocol_version"),
            (|c| c.upload_quorum = 0, "upload_quorum"),
            (
                |c| c.placement_hub = Some("https://op:8080".into()),
                "placement_hub",
            ),
            (
                |c| c.placement_hub = Some("not a url".into()),
                "placement_hub",
            ),
            (
                |c| c.placement_report_interval_secs = 0,
                "placement_report_interval_secs",
            ),
        ];
        for (edit, field) in cases {
            let mut cfg = minimal();
            edit(&mut cfg);
            assert_eq!(cfg.validate().map_err(|e| e.field), Err(field.into()));
        }
        let admin = |user: &str, token: &str| {
            let mut cfg = minimal();
            cfg.admin = Some(AdminConfig {
                user: user.into(),
                token: token.into(),
            });
            cfg.validate().map_err(|e| e.field)
        };
        assert_eq!(admin("root", "t"), Ok(()));
        assert_eq!(admin("*", "t"), Err("admin.user".into()));
        assert_eq!(admin("", "t"), Err("admin.user".into()));
        assert_eq!(admin("a:b", "t"), Err("admin.user".into()));
        assert_eq!(admin(" root", "t"), Err("admin.user".into()));
        assert_eq!(admin("root", ""), Err("admin.token".into()));
        let s3 = |toml: &str| {
            let mut cfg = ProxyConfig::from_toml(toml).map_err(|e| e.field)?;
            cfg.remotes = vec!["127.0.0.1:1025".into()];
            cfg.metadata_groups = vec![1];
            cfg.validate().map_err(|e| e.field)
        };
        assert_eq!(s3("[s3]\nlisten = \"127.0.0.1:9000\""), Ok(()));
        assert_eq!(
            s3("[s3]\nlisten = \"127.0.0.1:9090\""),
            Err("s3.listen".into())
        );
        assert_eq!(
            s3("[s3]\nlisten = \"127.0.0.1:9000\"\nhttps_listen = \"127.0.0.1:9001\""),
            Err("s3.https_listen".into())
        );
        assert_eq!(
            s3("[s3]\nlisten = \"127.0.0.1:9000\"\nregion = \"\""),
            Err("s3.region".into())
        );
        let parsed = ProxyConfig::from_toml("[s3]\nlisten = \"127.0.0.1:9000\"");
        assert_eq!(
            parsed.ok().and_then(|c| c.s3).map(|s| s.region),
            Some("us-east-1".to_owned())
        );
        let unknown = ProxyConfig::from_toml("remotez = []");
        assert_eq!(unknown.map_err(|e| e.field), Err("toml".into()));
    }
}
