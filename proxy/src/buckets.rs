//! The proxy's cache of bucket metadata ([`BucketCache`]), read through
//! [`backrunner_store::MetadataStore`]: loaded at start, refreshed every N seconds, and
//! loaded on demand for names it does not know, with negative caching so a flood of unknown
//! names cannot hammer storage. Each bucket's token alias record ([`crate::token_aliases`])
//! is loaded and refreshed with its metadata; a malformed one is logged and means no
//! aliases (the bucket keeps working with its current tokens).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use backrunner_store::bucket::{BucketMetadata, valid_bucket_name};
use backrunner_store::{MetadataError, MetadataStore, TokenAliases};
use futures_util::StreamExt;
use prometheus::IntCounterVec;
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::ticker::Ticker;
use crate::token_aliases::LiveAliases;

/// Most unknown names remembered as missing; older entries are dropped beyond it.
const MAX_NEGATIVE_ENTRIES: usize = 10_000;

/// On-demand metadata reads running at once; further unknown names get a 503.
const ON_DEMAND_LOADS: usize = 8;

/// The proxy's view of bucket metadata.
#[derive(Debug)]
pub struct BucketCache {
    store: MetadataStore,
    list_key: String,
    static_names: Vec<String>,
    entries: RwLock<HashMap<String, Arc<BucketMetadata>>>,
    aliases: RwLock<HashMap<String, Arc<TokenAliases>>>,
    missing: Mutex<HashMap<String, Instant>>,
    missing_ttl: Duration,
    loaded: AtomicBool,
    on_demand: Semaphore,
    lookups: Option<IntCounterVec>,
}

impl BucketCache {
    /// An empty cache reading from `store`: the bucket list under `list_key` (empty = none)
    /// plus `static_names`; unknown names stay missing for `missing_ttl`.
    pub fn new(
        store: MetadataStore,
        list_key: String,
        static_names: Vec<String>,
        missing_ttl: Duration,
    ) -> BucketCache {
        BucketCache {
            store,
            list_key,
            static_names,
            entries: RwLock::new(HashMap::new()),
            aliases: RwLock::new(HashMap::new()),
            missing: Mutex::new(HashMap::new()),
            missing_ttl,
            loaded: AtomicBool::new(false),
            on_demand: Semaphore::new(ON_DEMAND_LOADS),
            lookups: None,
        }
    }

    /// Counts every [`BucketCache::get`] in `counter` by result (`hit`, `loaded`,
    /// `missing`, `negative`, `busy`, `error`).
    pub fn with_lookup_counter(mut self, counter: IntCounterVec) -> BucketCache {
        self.lookups = Some(counter);
        self
    }

    fn count(&self, result: &str) {
        if let Some(c) = &self.lookups {
            c.with_label_values(&[result]).inc();
        }
    }

    /// The metadata store the cache reads from (RIFT's management endpoints write
    /// through it).
    pub fn store(&self) -> &MetadataStore {
        &self.store
    }

    /// The key of the bucket list object (empty = none).
    pub fn list_key(&self) -> &str {
        &self.list_key
    }

    /// Whether one full load succeeded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The cached buckets, by name.
    pub fn snapshot(&self) -> Vec<Arc<BucketMetadata>> {
        let map = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = map.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Reads the bucket list and every listed bucket. Buckets that fail to load keep their
    /// previous entry; the cache counts as loaded once the list was read.
    pub async fn refresh(&self) -> Result<usize, MetadataError> {
        let mut names = self.static_names.clone();
        if !self.list_key.is_empty() {
            let list = self.store.read_list(&self.list_key).await?;
            names.extend(list.names().iter().cloned());
        }
        names.sort();
        names.dedup();
        type Loaded = (
            String,
            Result<Option<BucketMetadata>, MetadataError>,
            Result<TokenAliases, MetadataError>,
        );
        let loaded: Vec<Loaded> = futures_util::stream::iter(names)
            .map(|name| async move {
                let (meta, aliases) = tokio::join!(
                    self.store.read_bucket(&name),
                    read_aliases(&self.store, &name)
                );
                (name, meta, aliases)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut fresh = HashMap::new();
        let mut fresh_aliases = HashMap::new();
        {
            let old = self.entries.read().unwrap_or_else(|p| p.into_inner());
            let old_aliases = self.aliases.read().unwrap_or_else(|p| p.into_inner());
            for (name, result, aliases) in loaded {
                match aliases {
                    Ok(a) if a.is_empty() => {}
                    Ok(a) => {
                        fresh_aliases.insert(name.clone(), Arc::new(a));
                    }
                    Err(e) => {
                        tracing::warn!(bucket = %name, error = %e, "token alias refresh failed");
                        if let Some(prev) = old_aliases.get(&name) {
                            fresh_aliases.insert(name.clone(), prev.clone());
                        }
                    }
                }
                match result {
                    Ok(Some(meta)) => {
                        fresh.insert(name, Arc::new(meta));
                    }
                    Ok(None) => tracing::warn!(bucket = %name, "listed bucket has no metadata"),
                    Err(e) => {
                        tracing::warn!(bucket = %name, error = %e, "bucket metadata refresh failed");
                        if let Some(prev) = old.get(&name) {
                            fresh.insert(name, prev.clone());
                        }
                    }
                }
            }
        }
        let count = fresh.len();
        *self.entries.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        *self.aliases.write().unwrap_or_else(|p| p.into_inner()) = fresh_aliases;
        self.loaded.store(true, Ordering::Release);
        Ok(count)
    }

    /// Bucket `name`: from the cache, else loaded from storage (unless recently found
    /// missing). 404 when it does not exist, 503 when storage cannot say.
    pub async fn get(&self, name: &str) -> Result<Arc<BucketMetadata>, ApiError> {
        let not_found = || ApiError::BucketNotFound(name.to_owned());
        let Some(name) = valid_bucket_name(name) else {
            return Err(not_found());
        };
        if let Some(meta) = self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            self.count("hit");
            return Ok(meta.clone());
        }
        if self.recently_missing(name) {
            self.count("negative");
            return Err(not_found());
        }
        let Ok(_permit) = self.on_demand.try_acquire() else {
            self.count("busy");
            return Err(ApiError::Unavailable(
                "too many unknown buckets requested at once".into(),
            ));
        };
        let (meta, aliases) = tokio::join!(
            self.store.read_bucket(name),
            read_aliases(&self.store, name)
        );
        match meta {
            Ok(Some(meta)) => {
                let meta = Arc::new(meta);
                match aliases {
                    Ok(a) if !a.is_empty() => {
                        self.aliases
                            .write()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(name.to_owned(), Arc::new(a));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(bucket = name, error = %e, "token alias read failed"),
                }
                self.entries
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_owned(), meta.clone());
                self.count("loaded");
                Ok(meta)
            }
            Ok(None) => {
                self.remember_missing(name);
                self.count("missing");
                Err(not_found())
            }
            Err(e) => {
                self.count("error");
                tracing::warn!(bucket = name, error = %e, "on-demand bucket metadata read failed");
                Err(ApiError::Unavailable(
                    "bucket metadata is unavailable".into(),
                ))
            }
        }
    }

    /// Puts `meta` in the cache at once (this proxy just wrote it), so the proxy's own
    /// requests see a bucket it created or changed before the next refresh.
    pub fn insert(&self, meta: BucketMetadata) {
        let name = meta.name.clone();
        self.missing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, Arc::new(meta));
    }

    /// Drops bucket `name` and its token aliases from the cache at once (this proxy just
    /// deleted it); it is remembered as missing like any unknown name.
    pub fn forget(&self, name: &str) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.aliases
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.remember_missing(name);
    }

    /// The extra tokens of bucket `name` still valid at `now_unix` (seconds): the previous
    /// tokens of a rotation, from its alias record. Expiry is checked here, per request,
    /// so an alias stops working on time whatever the refresh period.
    pub fn live_aliases(&self, name: &str, now_unix: u64) -> LiveAliases {
        let map = self.aliases.read().unwrap_or_else(|p| p.into_inner());
        map.get(name)
            .map(|record| LiveAliases::at(record, now_unix))
            .unwrap_or_default()
    }

    fn recently_missing(&self, name: &str) -> bool {
        let missing = self.missing.lock().unwrap_or_else(|p| p.into_inner());
        missing
            .get(name)
            .is_some_and(|since| since.elapsed() < self.missing_ttl)
    }

    fn remember_missing(&self, name: &str) {
        let mut missing = self.missing.lock().unwrap_or_else(|p| p.into_inner());
        if missing.len() >= MAX_NEGATIVE_ENTRIES {
            let ttl = self.missing_ttl;
            missing.retain(|_, since| since.elapsed() < ttl);
            if missing.len() >= MAX_NEGATIVE_ENTRIES {
                missing.clear();
            }
        }
        missing.insert(name.to_owned(), Instant::now());
    }

    /// Refreshes every `period` until the returned task is aborted.
    pub fn spawn_refresher(self: &Arc<Self>, period: Duration) -> tokio::task::JoinHandle<()> {
        let cache = Arc::downgrade(self);
        tokio::spawn(async move {
            // Stopped by aborting the task; the first tick (at once) is skipped.
            let mut ticker = Ticker::new(period, std::future::pending());
            ticker.tick().await;
            while ticker.tick().await {
                let Some(cache) = cache.upgrade() else { return };
                match cache.refresh().await {
                    Ok(n) => tracing::debug!(buckets = n, "bucket metadata refreshed"),
                    Err(e) => tracing::warn!(error = %e, "bucket list refresh failed"),
                }
            }
        })
    }
}

/// The alias record of bucket `name`: empty when there is none, and empty (with a warning)
/// when it is malformed. Storage errors are returned.
async fn read_aliases(store: &MetadataStore, name: &str) -> Result<TokenAliases, MetadataError> {
    match store.read_record::<TokenAliases>(name).await {
        Ok(record) => Ok(record.unwrap_or_default()),
        Err(MetadataError::Malformed { reason, .. }) => {
            tracing::warn!(bucket = name, error = %reason, "ignoring the token alias record");
            Ok(TokenAliases::new())
        }
        Err(e) => Err(e),
    }
}
