//! [`BackendStat`]: the flat per-backend view Backrunner derives from a MONITOR_STAT
//! reply (§8.4), and the free-space ratio of bucket selection (§14.5).

use std::collections::BTreeMap;

use super::eblob::{EBLOB_NO_FREE_SPACE_CHECK, EblobStats};
use super::report::{BackendReport, CommandCounters, MonitorReport};
use crate::proto::backend::backend_state;

/// What Backrunner keeps of one enabled backend (keyed, by the caller, with the address
/// of the connection the reply came on and `backend_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendStat {
    /// `backend_id`.
    pub backend_id: i32,
    /// `backend.config.group`.
    pub group: u32,
    /// `status.state` (1 = enabled; other states are not reported by
    /// [`MonitorReport::backend_stats`]).
    pub state: i32,
    /// `status.defrag_state` (0 = not running).
    pub defrag_state: u32,
    /// `status.read_only`.
    pub read_only: bool,
    /// `status.delay`, milliseconds.
    pub delay: u32,
    /// `VFS.Total` = `vfs.frsize × vfs.blocks`.
    pub vfs_total: u64,
    /// `VFS.Avail` = `vfs.bfree × vfs.bsize` (bfree, not bavail, as Backrunner does).
    pub vfs_avail: u64,
    /// `VFS.TotalSizeLimit`: `config.blob_size_limit` if non-zero and
    /// `EBLOB_NO_FREE_SPACE_CHECK` is clear in `config.blob_flags`, else `vfs_total`.
    pub total_size_limit: u64,
    /// `VFS.BackendUsedSize` = `summary_stats.base_size`.
    pub used_size: u64,
    /// `VFS.BackendRemovedSize` = `summary_stats.records_removed_size`.
    pub removed_size: u64,
    /// `summary_stats.records_total`.
    pub records_total: u64,
    /// `summary_stats.records_removed`.
    pub records_removed: u64,
    /// `summary_stats.records_corrupted`.
    pub records_corrupted: u64,
    /// `backend.error.code`, 0 when there is no error.
    pub error_code: i64,
    /// `global_stats.datasort_start_time`.
    pub defrag_start_time: i64,
    /// `global_stats.datasort_completion_time`.
    pub defrag_completion_time: i64,
    /// `global_stats.datasort_completion_status`.
    pub defrag_completion_status: i64,
    /// The report's top-level `timestamp` as `(tv_sec, tv_usec)`.
    pub stat_time: (i64, i64),
    /// Per command name: counters summed over cache + disk × outside + internal.
    pub commands: BTreeMap<String, CommandCounters>,
}

impl BackendStat {
    /// Derives the view of one backend; `stat_time` is the report's timestamp.
    /// Missing sections read as zeros.
    pub fn from_report(backend: &BackendReport, stat_time: (i64, i64)) -> BackendStat {
        let eblob = backend.backend.as_ref();
        let config = eblob.and_then(|e| e.config.clone()).unwrap_or_default();
        let vfs = eblob.and_then(|e| e.vfs).unwrap_or_default();
        let summary = eblob
            .and_then(|e| e.summary_stats.clone())
            .unwrap_or_default();
        let global = eblob.and_then(|e| e.global_stats).unwrap_or_default();

        let vfs_total = vfs.frsize.saturating_mul(vfs.blocks);
        let vfs_avail = vfs.bfree.saturating_mul(vfs.bsize);
        let total_size_limit =
            if config.blob_size_limit != 0 && config.blob_flags & EBLOB_NO_FREE_SPACE_CHECK == 0 {
                config.blob_size_limit
            } else {
                vfs_total
            };

        BackendStat {
            backend_id: backend.backend_id,
            group: config.group,
            state: backend.status.state,
            defrag_state: backend.status.defrag_state,
            read_only: backend.status.read_only,
            delay: backend.status.delay,
            vfs_total,
            vfs_avail,
            total_size_limit,
            used_size: summary.base_size,
            removed_size: summary.records_removed_size,
            records_total: summary.records_total,
            records_removed: summary.records_removed,
            records_corrupted: summary.records_corrupted,
            error_code: eblob.map_or(0, EblobStats::error_code),
            defrag_start_time: global.datasort_start_time,
            defrag_completion_time: global.datasort_completion_time,
            defrag_completion_status: global.datasort_completion_status,
            stat_time,
            commands: backend
                .commands
                .iter()
                .flatten()
                .map(|(name, stats)| (name.clone(), stats.sum()))
                .collect(),
        }
    }

    /// Whether Backrunner can place data by these statistics: `vfs_total` and
    /// `total_size_limit` non-zero, the backend enabled, and no stats error.
    pub fn has_usable_stats(&self) -> bool {
        self.vfs_total != 0
            && self.total_size_limit != 0
            && self.state == backend_state::ENABLED
            && self.error_code == 0
    }

    /// The free-space ratio after writing `extra_bytes` more (§14.5):
    /// `1 − (used_size + extra) / total_size_limit`, except that when
    /// `vfs_avail ≤ total_size_limit` the file system is the tighter bound and the ratio
    /// is `(vfs_avail − extra) / total_size_limit` (0 if `vfs_avail < extra`). The first
    /// form may be negative. A zero limit (not [usable](Self::has_usable_stats)) gives 0.
    pub fn free_ratio_after(&self, extra_bytes: u64) -> f64 {
        if self.total_size_limit == 0 {
            return 0.0;
        }
        let limit = self.total_size_limit as f64;
        if self.vfs_avail <= self.total_size_limit {
            if self.vfs_avail < extra_bytes {
                return 0.0;
            }
            return (self.vfs_avail - extra_bytes) as f64 / limit;
        }
        1.0 - (self.used_size as f64 + extra_bytes as f64) / limit
    }
}

impl EblobStats {
    /// `error.code`, or 0 without an `error` object.
    pub fn error_code(&self) -> i64 {
        self.error.as_ref().map_or(0, |e| e.code)
    }
}

impl MonitorReport {
    /// The per-backend views Backrunner uses, sorted by backend id: nothing unless
    /// `monitor_status` is `"enabled"`; only backends whose `status.state` is 1
    /// (enabled) and that carry a `backend` section.
    pub fn backend_stats(&self) -> Vec<BackendStat> {
        if !self.is_enabled() {
            return Vec::new();
        }
        let stat_time = self.timestamp.unwrap_or_default().as_pair();
        let mut out: Vec<BackendStat> = self
            .backends
            .iter()
            .flat_map(BTreeMap::values)
            .filter(|b| b.status.state == backend_state::ENABLED && b.backend.is_some())
            .map(|b| BackendStat::from_report(b, stat_time))
            .collect();
        out.sort_by_key(|s| s.backend_id);
        out
    }
}
