//! The node's configuration file (`node.toml`): listen and advertised addresses, protocol
//! version, peers, limits, and the backends with their data directories and ring ids.
//! Parsed with serde from TOML and validated once at start, with errors naming the field.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use elliptics::proto::{Id, NodeAddr, ProtocolVersion};
pub use elliptics::remote::Remote;
use serde::Deserialize;

use crate::blob::SyncPolicy;

/// A configuration error naming the offending field.
#[derive(Debug, thiserror::Error)]
#[error("node config: {field}: {message}")]
pub struct ConfigError {
    /// Dotted path of the field, e.g. `backends[1].group`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// Node configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Address to listen on, e.g. `"127.0.0.1:1025"` (port 0 = any free port).
    pub listen: SocketAddr,
    /// Address announced to clients and peers (`ip:port[:family]`); defaults to the bound
    /// listen address. Clients must connect to exactly this address.
    #[serde(default)]
    pub advertise: Option<String>,
    /// Protocol version announced in the handshake, `"2.26"` or `"3.0"` (major.minor are
    /// compared; default 2.26.10.1).
    #[serde(default = "default_version")]
    pub protocol_version: String,
    /// Other nodes to join, so route lists name every node: `ip:port[:family]` or
    /// `name:port[:family]` (a DNS name, resolved on every peer check, so replaced pods
    /// behind a headless Service are found).
    #[serde(default)]
    pub remotes: Vec<String>,
    /// Cluster cookie sent in AUTH to peers and checked on AUTH from peers (empty = accept
    /// any).
    #[serde(default)]
    pub auth_cookie: String,
    /// Largest request payload accepted, in bytes (default 64 MiB).
    #[serde(default = "default_max_payload")]
    pub max_payload: u64,
    /// Most client connections served at once (default 4096).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Most requests processed concurrently per connection before the node stops reading
    /// from it (default 256).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_per_connection: usize,
    /// Seconds between route-list refreshes and reconnect attempts to peers (default 10).
    #[serde(default = "default_peer_interval")]
    pub peer_interval_secs: u64,
    /// Storage backends.
    pub backends: Vec<BackendConfig>,
}

/// One storage backend: a blob store serving one group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// Backend id on this node (unique per node, small non-negative number).
    pub id: u32,
    /// Replica group served.
    pub group: u32,
    /// Data directory (blob files, index lock, ring ids).
    pub dir: PathBuf,
    /// Most bytes of blob files; writes beyond fail with ENOSPC (0 = limited only by the
    /// disk).
    #[serde(default)]
    pub size_limit: u64,
    /// Size at which the active blob file is rotated (default 256 MiB).
    #[serde(default = "default_blob_size")]
    pub blob_size: u64,
    /// `always` | `interval:<ms>` | `never` (default `interval:1000`).
    #[serde(default = "default_sync")]
    pub sync: String,
    /// Ring ids as 128-hex-digit strings. When absent they are read from `<dir>/ids`, or
    /// generated (`ids_count` random ids) and persisted there on first start.
    #[serde(default)]
    pub ring_ids: Vec<String>,
    /// How many ring ids to generate when none exist (default 8).
    #[serde(default = "default_ids_count")]
    pub ids_count: usize,
    /// Start in read-only mode.
    #[serde(default)]
    pub read_only: bool,
}

fn default_version() -> String {
    "2.26.10.1".into()
}
fn default_max_payload() -> u64 {
    elliptics::proto::DEFAULT_MAX_PAYLOAD
}
fn default_max_connections() -> usize {
    4096
}
fn default_max_in_flight() -> usize {
    256
}
fn default_peer_interval() -> u64 {
    10
}
fn default_blob_size() -> u64 {
    256 << 20
}
fn default_sync() -> String {
    "interval:1000".into()
}
fn default_ids_count() -> usize {
    8
}

/// The configuration after validation, in typed form.
#[derive(Debug, Clone)]
pub struct ValidNodeConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Advertised address, if configured.
    pub advertise: Option<NodeAddr>,
    /// Handshake version.
    pub version: ProtocolVersion,
    /// Peers to join (names are resolved when links are checked).
    pub remotes: Vec<Remote>,
    /// AUTH cookie.
    pub auth_cookie: String,
    /// Request payload cap.
    pub max_payload: u64,
    /// Connection cap.
    pub max_connections: usize,
    /// Per-connection concurrency cap.
    pub max_in_flight: usize,
    /// Peer maintenance period.
    pub peer_interval: Duration,
    /// Backends.
    pub backends: Vec<ValidBackendConfig>,
}

/// A validated backend configuration.
#[derive(Debug, Clone)]
pub struct ValidBackendConfig {
    /// Backend id.
    pub id: u32,
    /// Group.
    pub group: u32,
    /// Data directory.
    pub dir: PathBuf,
    /// Size limit (0 = none).
    pub size_limit: u64,
    /// Blob rotation size.
    pub blob_size: u64,
    /// fsync policy.
    pub sync: SyncPolicy,
    /// Explicit ring ids (empty = from disk or generated).
    pub ring_ids: Vec<Id>,
    /// Ids to generate.
    pub ids_count: usize,
    /// Start read-only.
    pub read_only: bool,
}

impl NodeConfig {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<NodeConfig, ConfigError> {
        toml::from_str(text).map_err(|e| err("toml", e.to_string()))
    }

    /// Checks every field and converts to typed values.
    pub fn validate(&self) -> Result<ValidNodeConfig, ConfigError> {
        let version: ProtocolVersion = self
            .protocol_version
            .parse()
            .map_err(|e: String| err("protocol_version", e))?;
        let advertise = self
            .advertise
            .as_deref()
            .map(|a| NodeAddr::parse(a).map_err(|e| err("advertise", e)))
            .transpose()?;
        if let Some(a) = advertise {
            if a.0.ip().is_unspecified() || a.0.port() == 0 {
                return Err(err(
                    "advertise",
                    "must be a concrete ip:port clients can reach",
                ));
            }
        }
        let remotes = self
            .remotes
            .iter()
            .enumerate()
            .map(|(i, r)| Remote::parse(r).map_err(|e| err(format!("remotes[{i}]"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        if self.max_payload < 1 << 20 {
            return Err(err("max_payload", "must be at least 1 MiB"));
        }
        if self.max_connections == 0 {
            return Err(err("max_connections", "must be positive"));
        }
        if self.max_in_flight_per_connection == 0 {
            return Err(err("max_in_flight_per_connection", "must be positive"));
        }
        if self.backends.is_empty() {
            return Err(err("backends", "at least one backend is required"));
        }
        let mut ids = HashSet::new();
        let mut dirs = HashSet::new();
        let mut backends = Vec::new();
        for (i, b) in self.backends.iter().enumerate() {
            let f = |name: &str| format!("backends[{i}].{name}");
            if b.id > 1024 {
                return Err(err(f("id"), "must be at most 1024"));
            }
            if !ids.insert(b.id) {
                return Err(err(f("id"), format!("backend id {} is used twice", b.id)));
            }
            if !dirs.insert(b.dir.clone()) {
                return Err(err(f("dir"), "two backends cannot share a directory"));
            }
            if b.blob_size < 4096 {
                return Err(err(f("blob_size"), "must be at least 4096 bytes"));
            }
            let sync: SyncPolicy = b.sync.parse().map_err(|e| err(f("sync"), format!("{e}")))?;
            let ring_ids = b
                .ring_ids
                .iter()
                .enumerate()
                .map(|(j, h)| {
                    Id::from_hex(h).ok_or_else(|| {
                        err(
                            format!("backends[{i}].ring_ids[{j}]"),
                            "expected 128 hex digits",
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if b.ids_count == 0 || b.ids_count > 1024 {
                return Err(err(f("ids_count"), "must be between 1 and 1024"));
            }
            backends.push(ValidBackendConfig {
                id: b.id,
                group: b.group,
                dir: b.dir.clone(),
                size_limit: b.size_limit,
                blob_size: b.blob_size,
                sync,
                ring_ids,
                ids_count: b.ids_count,
                read_only: b.read_only,
            });
        }
        Ok(ValidNodeConfig {
            listen: self.listen,
            advertise,
            version,
            remotes,
            auth_cookie: self.auth_cookie.clone(),
            max_payload: self.max_payload,
            max_connections: self.max_connections,
            max_in_flight: self.max_in_flight_per_connection,
            peer_interval: Duration::from_secs(self.peer_interval_secs.max(1)),
            backends,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen = "127.0.0.1:0"
protocol_version = "3.0"
[[backends]]
id = 1
group = 1
dir = "/tmp/x1"
sync = "never"
"#;

    #[test]
    fn parses_and_validates() {
        let c = NodeConfig::from_toml(GOOD).unwrap().validate().unwrap();
        assert_eq!(c.version, ProtocolVersion([3, 0, 0, 0]));
        assert_eq!(c.backends[0].blob_size, 256 << 20);
    }

    #[test]
    fn errors_name_the_field() {
        let bad = GOOD.replace("\"never\"", "\"sometimes\"");
        let e = NodeConfig::from_toml(&bad).unwrap().validate().unwrap_err();
        assert_eq!(e.field, "backends[0].sync");
        let bad = GOOD.replace("\"3.0\"", "\"three\"");
        let e = NodeConfig::from_toml(&bad).unwrap().validate().unwrap_err();
        assert_eq!(e.field, "protocol_version");
        let e = NodeConfig::from_toml("listen = 1").unwrap_err();
        assert_eq!(e.field, "toml");
        let bad = format!("remotes = [\"127.0.0.1:1025\", \"storage:0\"]\n{GOOD}");
        let e = NodeConfig::from_toml(&bad).unwrap().validate().unwrap_err();
        assert_eq!(e.field, "remotes[1]");
    }

    #[test]
    fn remotes_are_addresses_or_names() {
        let text = format!(
            "remotes = [\"10.0.0.1:1025:2\", \"[::1]:1026:10\", \"storage-0.storage.ns.svc:1025\", \"storage:1027:10\"]\n{GOOD}"
        );
        let c = NodeConfig::from_toml(&text).unwrap().validate().unwrap();
        assert_eq!(
            c.remotes,
            [
                Remote::Addr(NodeAddr("10.0.0.1:1025".parse().unwrap())),
                Remote::Addr(NodeAddr("[::1]:1026".parse().unwrap())),
                Remote::Name {
                    host: "storage-0.storage.ns.svc".into(),
                    port: 1025,
                    ipv6: false
                },
                Remote::Name {
                    host: "storage".into(),
                    port: 1027,
                    ipv6: true
                },
            ]
        );
        // What a bad remote is, is elliptics::remote's business (tested there); here only
        // that the node's validation reports it by index (`errors_name_the_field`).
    }
}
