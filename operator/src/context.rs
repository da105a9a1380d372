//! [`Context`]: what every controller shares (Kubernetes client, configuration, Elliptics
//! connections per cluster, metrics, event reporter, the statistics cache and the placement
//! hub), and [`StorageClients`], the cache of Elliptics clients keyed by `EllipticsCluster`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backrunner_crds::EllipticsCluster;
use elliptics::client::{Client, ClientConfig, Remote, VersionPolicy};
use elliptics::proto::{NodeAddr, ProtocolVersion};
use kube::ResourceExt;
use kube::runtime::events::Reporter;
use tokio::sync::Mutex;

use crate::config::OperatorConfig;
use crate::metrics::Metrics;
use crate::placement::PlacementHub;
use crate::stats_cache::StatsCache;

/// Shared state of every controller and of the HTTP server.
pub struct Context {
    /// Kubernetes API client.
    pub client: kube::Client,
    /// Validated configuration.
    pub config: OperatorConfig,
    /// Elliptics clients per cluster.
    pub storage: StorageClients,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Identity of this operator in Events.
    pub reporter: Reporter,
    /// Latest polled node statistics per cluster.
    pub stats: Arc<StatsCache>,
    /// Placement reports of the proxies and their merged view.
    pub placement: Arc<PlacementHub>,
}

/// Key of a cluster in the caches: `namespace/name`.
pub fn cluster_key(cluster: &EllipticsCluster) -> String {
    format!(
        "{}/{}",
        cluster.namespace().unwrap_or_default(),
        cluster.name_any()
    )
}

/// Why no Elliptics client could be had for a cluster.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A remote is not `host:port[:family]` or its host does not resolve.
    #[error("remote {remote:?}: {reason}")]
    BadRemote {
        /// The remote as written in the spec.
        remote: String,
        /// What went wrong.
        reason: String,
    },
    /// No remote answered the handshake.
    #[error("no remote answered: {0}")]
    Unreachable(#[source] elliptics::Error),
}

struct CachedClient {
    /// The spec fields the client was built from; a change rebuilds it.
    fingerprint: String,
    client: Client,
}

/// Elliptics clients, one per `EllipticsCluster`, rebuilt when its remotes or protocol
/// version change. Remotes may be DNS names (Service names in Kubernetes): they are resolved
/// at connect time.
#[derive(Default)]
pub struct StorageClients {
    clients: Mutex<HashMap<String, CachedClient>>,
    /// Per-request timeout of every client.
    pub wait_timeout: Option<Duration>,
}

impl StorageClients {
    /// An empty cache.
    pub fn new() -> StorageClients {
        StorageClients::default()
    }

    /// The client of `cluster`, connecting (or reconnecting after a spec change) as needed.
    pub async fn client(&self, cluster: &EllipticsCluster) -> Result<Client, StorageError> {
        let key = cluster_key(cluster);
        let fingerprint = format!(
            "{:?}/{}",
            cluster.spec.remotes,
            cluster.spec.protocol_version.as_str()
        );
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&key) {
            if c.fingerprint == fingerprint && !c.client.nodes().is_empty() {
                return Ok(c.client.clone());
            }
        }
        if let Some(old) = clients.remove(&key) {
            old.client.shutdown().await;
        }
        // Any remote that resolves will do; the error of the first is kept for when none does.
        let mut remotes = Vec::new();
        let mut first_error = None;
        for remote in &cluster.spec.remotes {
            match resolve_remote(remote).await {
                Ok(addrs) => remotes.extend(addrs),
                Err(e) => {
                    tracing::warn!(cluster = %key, error = %e, "remote does not resolve");
                    first_error.get_or_insert(e);
                }
            }
        }
        if remotes.is_empty() {
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        let version = cluster
            .spec
            .protocol_version
            .as_str()
            .parse::<ProtocolVersion>()
            .map(VersionPolicy::Fixed)
            .unwrap_or(VersionPolicy::Auto);
        let mut config = ClientConfig {
            remotes,
            protocol_version: version,
            ..ClientConfig::default()
        };
        if let Some(t) = self.wait_timeout {
            config.wait_timeout = t;
        }
        let client = Client::connect(config)
            .await
            .map_err(StorageError::Unreachable)?;
        clients.insert(
            key,
            CachedClient {
                fingerprint,
                client: client.clone(),
            },
        );
        Ok(client)
    }

    /// Drops the client of a deleted cluster.
    pub async fn forget(&self, cluster: &EllipticsCluster) {
        self.forget_key(&cluster_key(cluster)).await;
    }

    /// Drops the client of the cluster with key `namespace/name`.
    pub async fn forget_key(&self, key: &str) {
        let old = self.clients.lock().await.remove(key);
        if let Some(old) = old {
            old.client.shutdown().await;
        }
    }
}

/// Resolves `host:port[:family]` (IPv4, `[IPv6]` or a DNS name) into node addresses.
pub async fn resolve_remote(remote: &str) -> Result<Vec<NodeAddr>, StorageError> {
    let bad = |reason: String| StorageError::BadRemote {
        remote: remote.to_string(),
        reason,
    };
    Remote::parse(remote)
        .map_err(bad)?
        .resolve()
        .await
        .map_err(bad)
}
