//! The latest polled statistics per cluster: [`ClusterStats`] (every backend that answered,
//! the nodes that did not) in a [`StatsCache`]. Plain data with no dependency on the rest of
//! the operator: the operator's `Context` holds the cache, the poller (`stats`) fills it,
//! and the health rules, defrag planning and controllers read it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use elliptics::proto::NodeAddr;
use elliptics::stats::BackendStat;

/// One backend as last reported by its node.
#[derive(Clone, Debug)]
pub struct BackendSample {
    /// Address of the node serving it.
    pub node: NodeAddr,
    /// Its statistics.
    pub stat: BackendStat,
}

/// The latest statistics of one cluster.
#[derive(Clone, Debug)]
pub struct ClusterStats {
    /// When the poll finished.
    pub polled_at: SystemTime,
    /// Every enabled backend that answered.
    pub backends: Vec<BackendSample>,
    /// Nodes in the route table that did not answer.
    pub unreachable_nodes: Vec<NodeAddr>,
}

/// Latest [`ClusterStats`] per cluster key (`namespace/name`).
#[derive(Default)]
pub struct StatsCache {
    inner: RwLock<HashMap<String, Arc<ClusterStats>>>,
    rounds: AtomicU64,
}

impl StatsCache {
    /// An empty cache.
    pub fn new() -> StatsCache {
        StatsCache::default()
    }

    /// The latest statistics of cluster `key`, if any were polled.
    pub fn get(&self, key: &str) -> Option<Arc<ClusterStats>> {
        self.inner.read().ok()?.get(key).cloned()
    }

    /// Replaces the statistics of cluster `key`.
    pub fn put(&self, key: &str, stats: ClusterStats) {
        if let Ok(mut m) = self.inner.write() {
            m.insert(key.to_string(), Arc::new(stats));
        }
    }

    /// Forgets a deleted cluster.
    pub fn remove(&self, key: &str) {
        if let Ok(mut m) = self.inner.write() {
            m.remove(key);
        }
    }

    /// Keys of every cluster in the cache.
    pub fn keys(&self) -> Vec<String> {
        self.inner
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Completed polling rounds (over every cluster) since start; 0 = caches not warm yet.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Acquire)
    }

    /// Counts one completed polling round (the poller calls it).
    pub fn round_done(&self) {
        self.rounds.fetch_add(1, Ordering::AcqRel);
    }
}
