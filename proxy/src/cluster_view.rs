//! The proxy's live view of the storage cluster: per-backend statistics polled from every
//! node (MONITOR_STAT, categories 0x54) and per-backend write timings and errors this
//! proxy observed. It answers two questions: in which order to try a bucket's groups for
//! a read (healthy first, defragmenting next, unknown last), and what each candidate
//! bucket looks like for the selection of uploads without a bucket. The placement hub's
//! view ([`HubView`]), when one was received recently, is blended into the latter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use backrunner_store::bucket::BucketMetadata;
use elliptics::client::{Client, RouteOwner, RouteTable};
use elliptics::proto::{Id, NodeAddr};
use elliptics::stats::{BackendStat, MonitorCategories};

use crate::selection::{
    BackendView, BlendConfig, Candidate, DecayingWriteStats, GroupState, HubView, WriteEvidence,
    WriteStatsConfig, blend,
};
use crate::ticker::Ticker;

/// This proxy's own write measurements of one backend, as reported to the placement hub.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnWrites {
    /// The backend.
    pub owner: RouteOwner,
    /// Its group, from the polled statistics (`None` when there are none).
    pub group: Option<u32>,
    /// Live time per byte, seconds; `None` without enough recent evidence.
    pub time_per_byte: Option<f64>,
    /// Decayed error rate, 0..1.
    pub error_rate: f64,
    /// Writes since start.
    pub writes: u64,
    /// Failed writes since start.
    pub errors: u64,
}

/// Statistics of one backend and when they were taken.
#[derive(Debug, Clone)]
struct Polled {
    stat: BackendStat,
    at: Instant,
}

/// How usable a group is for reads, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadClass {
    /// Stats present, enabled, not defragmenting, no error.
    Healthy,
    /// Defragmenting: reads are slow there.
    Defragmenting,
    /// No route or no statistics.
    Unknown,
    /// Reports an error.
    Erroring,
}

/// Live statistics and write timings per (node, backend).
pub struct ClusterView {
    stats: RwLock<Arc<HashMap<RouteOwner, Polled>>>,
    writes: Mutex<HashMap<RouteOwner, DecayingWriteStats>>,
    write_config: WriteStatsConfig,
    stale_after: Duration,
    polled_once: std::sync::atomic::AtomicBool,
    hub: RwLock<Option<Arc<HubView>>>,
    blend: BlendConfig,
}

impl ClusterView {
    /// An empty view; statistics older than `stale_after` are ignored.
    pub fn new(write_config: WriteStatsConfig, stale_after: Duration) -> ClusterView {
        ClusterView {
            stats: RwLock::new(Arc::new(HashMap::new())),
            writes: Mutex::new(HashMap::new()),
            write_config,
            stale_after,
            polled_once: std::sync::atomic::AtomicBool::new(false),
            hub: RwLock::new(None),
            blend: BlendConfig::default(),
        }
    }

    /// Uses `blend` to mix own measurements with the placement hub's view.
    pub fn with_blend(mut self, blend: BlendConfig) -> ClusterView {
        self.blend = blend;
        self
    }

    /// Replaces the placement hub's view with a newly received one.
    pub fn set_hub_view(&self, view: HubView) {
        *self.hub.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(view));
    }

    /// Age of the last hub view at `now`, `None` when none was ever received.
    pub fn hub_view_age(&self, now: Instant) -> Option<Duration> {
        let hub = self.hub.read().unwrap_or_else(PoisonError::into_inner);
        hub.as_ref()
            .map(|h| now.saturating_duration_since(h.received))
    }

    /// Whether a hub view fresh enough to count was received.
    pub fn hub_view_is_fresh(&self, now: Instant) -> bool {
        let hub = self.hub.read().unwrap_or_else(PoisonError::into_inner);
        hub.as_ref().is_some_and(|h| h.is_fresh(now, &self.blend))
    }

    /// Own write measurements of every backend this proxy wrote to, by backend.
    pub fn own_writes(&self, now: Instant) -> Vec<OwnWrites> {
        let stats = self
            .stats
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let w = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<OwnWrites> = w
            .iter()
            .map(|(owner, t)| OwnWrites {
                owner: *owner,
                group: stats.get(owner).map(|p| p.stat.group),
                time_per_byte: t.time_per_byte(now),
                error_rate: t.recent_errors(now),
                writes: t.writes_total(),
                errors: t.failures_total(),
            })
            .collect();
        out.sort_by_key(|o| o.owner);
        out
    }

    /// Whether at least one statistics poll has completed.
    pub fn is_loaded(&self) -> bool {
        self.polled_once.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Folds one round of per-node statistics in, taken at `now`. Nodes that failed to
    /// answer keep their previous entries until those go stale.
    pub fn update(&self, now: Instant, reports: Vec<(NodeAddr, Option<Vec<BackendStat>>)>) {
        let mut next: HashMap<RouteOwner, Polled> = {
            let cur = self.stats.read().unwrap_or_else(PoisonError::into_inner);
            cur.iter()
                .filter(|(_, p)| now.saturating_duration_since(p.at) < self.stale_after)
                .map(|(k, p)| (*k, p.clone()))
                .collect()
        };
        for (addr, stats) in reports {
            let Some(stats) = stats else { continue };
            next.retain(|(a, _), _| *a != addr);
            for stat in stats {
                next.insert((addr, stat.backend_id), Polled { stat, at: now });
            }
        }
        *self.stats.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        self.polled_once
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Records the outcome of a write of `bytes` to one backend.
    pub fn record_write(
        &self,
        owner: RouteOwner,
        now: Instant,
        bytes: u64,
        elapsed: Duration,
        ok: bool,
    ) {
        let mut w = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        w.entry(owner)
            .or_insert_with(|| DecayingWriteStats::new(self.write_config))
            .observe(now, bytes, elapsed, ok);
    }

    /// Statistics of one backend, if fresh.
    pub fn stat(&self, owner: &RouteOwner, now: Instant) -> Option<BackendStat> {
        let s = self.stats.read().unwrap_or_else(PoisonError::into_inner);
        s.get(owner)
            .filter(|p| now.saturating_duration_since(p.at) < self.stale_after)
            .map(|p| p.stat.clone())
    }

    /// The selection view of one backend: statistics plus own write timings.
    pub fn backend_view(&self, owner: &RouteOwner, now: Instant) -> Option<BackendView> {
        let stat = self.stat(owner, now)?;
        if !stat.has_usable_stats() && stat.error_code == 0 && stat.state == 1 {
            return None;
        }
        let own = {
            let w = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
            w.get(owner)
                .map_or(WriteEvidence::default(), |t| WriteEvidence {
                    time_per_byte: t.time_per_byte(now),
                    error_rate: t.error_rate_evidence(now),
                })
        };
        let hub = self
            .hub
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|h| h.evidence(owner, now, &self.blend));
        let blended = blend(own, hub, &self.blend);
        Some(BackendView {
            read_only: stat.read_only,
            error: stat.error_code != 0 || stat.state != 1,
            defragmenting: stat.defrag_state != 0,
            total_limit: stat.total_size_limit,
            used: stat.used_size,
            avail: stat.vfs_avail,
            records_live: stat.records_total.saturating_sub(stat.records_removed),
            write_time_per_byte: blended.time_per_byte,
            recent_errors: blended.error_rate.unwrap_or(0.0),
        })
    }

    fn class(&self, routes: &RouteTable, id: &Id, group: u32, now: Instant) -> ReadClass {
        let Some(owner) = routes.owner(id, group) else {
            return ReadClass::Unknown;
        };
        match self.stat(&owner, now) {
            None => ReadClass::Unknown,
            Some(s) if s.error_code != 0 || s.state != 1 => ReadClass::Erroring,
            Some(s) if s.defrag_state != 0 => ReadClass::Defragmenting,
            Some(_) => ReadClass::Healthy,
        }
    }

    /// `groups` ordered for a read of `id`: healthy first, then defragmenting, unknown and
    /// erroring last; the bucket's order is kept within a class.
    pub fn read_order(
        &self,
        routes: &RouteTable,
        id: &Id,
        groups: &[u32],
        now: Instant,
    ) -> Vec<u32> {
        let mut v: Vec<(ReadClass, usize, u32)> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (self.class(routes, id, *g, now), i, *g))
            .collect();
        v.sort();
        v.into_iter().map(|(_, _, g)| g).collect()
    }

    /// Whether every group of the key is defragmenting or unknown (reads deserve a longer
    /// timeout then).
    pub fn all_slow(&self, routes: &RouteTable, id: &Id, groups: &[u32], now: Instant) -> bool {
        groups
            .iter()
            .all(|g| self.class(routes, id, *g, now) != ReadClass::Healthy)
    }

    /// The selection candidate of `bucket` for the key `id`.
    pub fn candidate(
        &self,
        routes: &RouteTable,
        bucket: &BucketMetadata,
        id: &Id,
        now: Instant,
    ) -> Candidate {
        Candidate {
            bucket: bucket.name.clone(),
            groups: bucket
                .groups
                .iter()
                .map(|g| GroupState {
                    group: *g,
                    backend: routes
                        .owner(id, *g)
                        .and_then(|owner| self.backend_view(&owner, now)),
                })
                .collect(),
        }
    }
}

/// Polls MONITOR_STAT on every node every `every` until `shutdown` resolves.
pub async fn poll(
    client: Client,
    view: Arc<ClusterView>,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut ticker = Ticker::new(every, shutdown);
    while ticker.tick().await {
        let reports = client.monitor_stat(MonitorCategories::BACKRUNNER.0).await;
        let round = reports
            .into_iter()
            .map(|(addr, r)| match r {
                Ok(report) => (addr, Some(report.backend_stats())),
                Err(e) => {
                    tracing::warn!(node = %addr, error = %e, "statistics poll failed");
                    (addr, None)
                }
            })
            .collect();
        view.update(Instant::now(), round);
    }
}

#[cfg(test)]
mod tests;
