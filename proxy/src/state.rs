//! The state every request handler shares: the Elliptics client, the bucket cache, the
//! validated configuration in the forms handlers need, and the readiness flags.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use elliptics::client::Client;
use http::HeaderMap;
use tokio::sync::Semaphore;

use backrunner_store::MetadataStore;
use backrunner_store::index::IndexOptions;

use crate::buckets::BucketCache;
use crate::cluster_view::{self, ClusterView};
use crate::config::{ConfigError, ProxyConfig};
use crate::content_type::ContentTypes;
use crate::key_index::BucketIndexes;
use crate::metrics::ProxyMetrics;
use crate::placement::{self, HubClient};
use crate::proxy_stat::ProxyStats;
use crate::selection::{BlendConfig, SelectionConfig, WriteStatsConfig};
use crate::static_files::StaticRoot;

/// Shared proxy state; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<StateInner>,
}

/// What [`AppState`] holds.
pub struct StateInner {
    /// The storage client.
    pub client: Client,
    /// The configuration as given.
    pub config: ProxyConfig,
    /// Bucket metadata.
    pub buckets: Arc<BucketCache>,
    /// Extension → Content-Type.
    pub content_types: ContentTypes,
    /// Headers added to every reply.
    pub extra_headers: HeaderMap,
    /// Requests served at once; a request that finds no permit gets a fast 503.
    pub request_slots: Arc<Semaphore>,
    /// Storage timeout of uploads.
    pub upload_timeout: Duration,
    /// The in-flight upload byte budget, in KiB permits.
    pub upload_budget: Arc<Semaphore>,
    /// Polled backend statistics and own write timings.
    pub cluster: Arc<ClusterView>,
    /// Bucket choice settings of `/nobucket_upload`.
    pub selection: SelectionConfig,
    /// Prometheus metrics.
    pub metrics: ProxyMetrics,
    /// Per-handler counters and recent errors for `/proxy_stat`.
    pub stats: ProxyStats,
    /// Every bucket's key index handle.
    pub indexes: BucketIndexes,
    /// Static files root, if configured.
    pub static_root: Option<StaticRoot>,
    draining: AtomicBool,
}

impl AppState {
    /// Builds the state from a validated configuration and a connected client. The bucket
    /// cache starts empty: call [`AppState::load_buckets`] (readiness waits for it).
    pub fn new(config: ProxyConfig, client: Client) -> Result<AppState, ConfigError> {
        config.validate()?;
        let metrics = ProxyMetrics::new().map_err(|e| ConfigError {
            field: "metrics".into(),
            message: e.to_string(),
        })?;
        let store = MetadataStore::new(&client, config.metadata_groups.clone());
        let buckets = Arc::new(
            BucketCache::new(
                store,
                config.bucket_list_key.clone(),
                config.buckets.clone(),
                Duration::from_secs(config.unknown_bucket_ttl_secs),
            )
            .with_lookup_counter(metrics.metadata_cache.clone()),
        );
        let static_root = match &config.static_root {
            Some(dir) => Some(StaticRoot::new(dir).map_err(|e| ConfigError {
                field: "static_root".into(),
                message: format!("{}: {e}", dir.display()),
            })?),
            None => None,
        };
        let stale_after = Duration::from_secs(config.stats_interval_secs.saturating_mul(3));
        let blend = BlendConfig {
            hub_staleness: Duration::from_secs(config.placement_staleness_secs),
            ..BlendConfig::default()
        };
        let inner = StateInner {
            cluster: Arc::new(
                ClusterView::new(WriteStatsConfig::default(), stale_after).with_blend(blend),
            ),
            selection: SelectionConfig::default(),
            metrics,
            stats: ProxyStats::default(),
            static_root,
            indexes: BucketIndexes::new(
                config.key_index,
                client.clone(),
                IndexOptions {
                    read_timeout: Duration::from_secs(config.storage_timeout_secs),
                    ..IndexOptions::default()
                },
            ),
            content_types: ContentTypes::with_overrides(&config.content_types),
            extra_headers: config.extra_header_map()?,
            request_slots: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            upload_timeout: Duration::from_secs(config.upload_timeout_secs),
            upload_budget: Arc::new(Semaphore::new(
                usize::try_from(config.max_inflight_upload_bytes >> 10).unwrap_or(usize::MAX),
            )),
            client,
            buckets,
            config,
            draining: AtomicBool::new(false),
        };
        Ok(AppState {
            inner: Arc::new(inner),
        })
    }

    /// Starts the background metadata refresher, then loads bucket metadata once. When
    /// that first load fails the refresher keeps trying; readiness waits for it.
    pub async fn load_buckets(&self) -> Result<usize, backrunner_store::MetadataError> {
        self.buckets.spawn_refresher(self.config.metadata_refresh());
        let n = self.buckets.refresh().await?;
        tracing::info!(buckets = n, "bucket metadata loaded");
        Ok(n)
    }

    /// Polls storage statistics every `stats_interval_secs` for as long as the state
    /// lives (the first poll is immediate); with a `placement_hub` configured, also starts
    /// the placement exchange ([`AppState::spawn_placement_exchange`]).
    pub fn spawn_stats_poller(&self) -> tokio::task::JoinHandle<()> {
        let client = self.client.clone();
        let view = self.cluster.clone();
        let every = Duration::from_secs(self.config.stats_interval_secs);
        self.spawn_placement_exchange();
        tokio::spawn(cluster_view::poll(client, view, every, self.dropped()))
    }

    /// Reports own write timings to the placement hub and fetches its view every
    /// `placement_report_interval_secs` for as long as the state lives; `None` without a
    /// hub configured (local measurements only).
    pub fn spawn_placement_exchange(&self) -> Option<tokio::task::JoinHandle<()>> {
        let uri = self.config.placement_hub_uri().ok().flatten()?;
        let interval = Duration::from_secs(self.config.placement_report_interval_secs);
        let settings = self.config.placement_settings();
        let hub = HubClient::new(
            &uri,
            interval.clamp(Duration::from_secs(1), placement::MAX_EXCHANGE_TIMEOUT),
        );
        tracing::info!(hub = %uri, proxy = %settings.proxy_id, "placement hub exchange started");
        Some(tokio::spawn(placement::run(
            hub,
            settings,
            self.client.clone(),
            self.cluster.clone(),
            self.metrics.placement.clone(),
            self.dropped(),
        )))
    }

    /// Resolves once the state is dropped (checked every second).
    fn dropped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let alive = Arc::downgrade(&self.inner);
        async move {
            while alive.strong_count() > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// Ready to serve: storage connected, bucket metadata loaded, not draining.
    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::Acquire)
            && self.buckets.is_loaded()
            && !self.client.nodes().is_empty()
    }

    /// Marks the proxy as shutting down (`/readyz` turns false).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }
}

impl std::fmt::Debug for StateInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateInner")
            .field("client", &self.client)
            .field("listen", &self.config.listen)
            .field("buckets_loaded", &self.buckets.is_loaded())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for AppState {
    type Target = StateInner;

    fn deref(&self) -> &StateInner {
        &self.inner
    }
}
