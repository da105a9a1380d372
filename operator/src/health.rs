//! Pure rules for group health and replica sync of a bucket, from polled statistics.
//!
//! * A group's state is the worst state of its backends that answered the statistics poll:
//!   `Unreachable` (no backend of the group answered, or one reports an error) >
//!   `ReadOnly` > `Defragmenting` > `Ok`; `Unknown` before any poll.
//! * `GroupsHealthy` is True when every group is `Ok`, False with `GroupsUnreachable` when
//!   no group answers, False with `GroupsDegraded` otherwise, Unknown (`NoStats`) before any
//!   poll.
//! * `ReplicasInSync` compares the groups of a bucket (each group is one full replica), in
//!   this order: a group without any backend answering (`GroupMissing`), a read-only group
//!   (`GroupReadOnly`), live record counts (`records_total - records_removed`) whose spread
//!   exceeds [`ReplicaThresholds::records_ratio`] of the largest (`RecordCountsDiverged`),
//!   live bytes (`used - removed`) whose spread exceeds
//!   [`ReplicaThresholds::used_bytes_ratio`] of the largest (`UsedBytesDiverged`). Live
//!   bytes, not raw blob sizes, so replicas defragmented at different times still agree.
//!   Messages carry the numbers of every group, coarse ([`coarse_count`], [`coarse_bytes`]):
//!   they end up in status, which must not move with every write.
//!
//! [`ConditionValue::changed_from`] tells the Bucket controller when to emit an event and
//! [`BucketHealth::publish`] sets the gauges with the exact numbers.

use std::collections::BTreeMap;

use backrunner_crds::bucket::{ResolvedGroup, reasons};
use backrunner_crds::cluster::GroupState;
use backrunner_crds::condition::{Condition, ConditionStatus, types};
use elliptics::stats::BackendStat;

use crate::controller::status::{coarse_bytes, coarse_count};
use crate::metrics::{Metrics, clamp, tri};
use crate::stats_cache::ClusterStats;

/// A condition to set: type, status, reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionValue {
    /// Condition type (`GroupsHealthy`, `ReplicasInSync`).
    pub type_: &'static str,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// Stable reason (`backrunner_crds::bucket::reasons`).
    pub reason: &'static str,
    /// Human message with the numbers.
    pub message: String,
}

impl ConditionValue {
    /// Whether setting this value changes the status or reason of the matching condition in
    /// `current` (a new condition counts as a change): the moment to emit an event.
    /// Message-only changes (numbers moving) do not count.
    pub fn changed_from(&self, current: &[Condition]) -> bool {
        match current.iter().find(|c| c.type_ == self.type_) {
            None => true,
            Some(c) => c.status != self.status.as_str() || c.reason != self.reason,
        }
    }

    /// Whether an event about this value should be a Warning (status False).
    pub fn is_warning(&self) -> bool {
        self.status == ConditionStatus::False
    }
}

/// Thresholds past which replicas count as diverged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplicaThresholds {
    /// Live-record counts differ by more than this share of the largest (0..1).
    pub records_ratio: f64,
    /// Used bytes differ by more than this share of the largest (0..1).
    pub used_bytes_ratio: f64,
}

impl Default for ReplicaThresholds {
    fn default() -> Self {
        ReplicaThresholds {
            records_ratio: 0.05,
            used_bytes_ratio: 0.10,
        }
    }
}

/// Everything the Bucket controller publishes about its groups.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketHealth {
    /// One entry per group of the bucket, in bucket order.
    pub resolved_groups: Vec<ResolvedGroup>,
    /// The `GroupsHealthy` condition.
    pub groups_healthy: ConditionValue,
    /// The `ReplicasInSync` condition.
    pub replicas_in_sync: ConditionValue,
    /// Free bytes of the fullest group (the bucket's effective free space), if known.
    pub free_bytes: Option<u64>,
    /// Exact totals per group of the bucket, in bucket order (`None`: no backend answered),
    /// for the metrics; status carries them coarse.
    pub totals: Vec<(u32, Option<GroupTotals>)>,
}

impl BucketHealth {
    /// Sets the health gauges of one bucket (`namespace`, `bucket` = object name) with the
    /// exact numbers: conditions, per-group live records, live bytes and free bytes, and the
    /// bucket's free bytes.
    pub fn publish(&self, metrics: &Metrics, namespace: &str, bucket: &str) {
        metrics
            .bucket_replicas_in_sync
            .with_label_values(&[namespace, bucket])
            .set(tri(self.replicas_in_sync.status));
        metrics
            .bucket_groups_healthy
            .with_label_values(&[namespace, bucket])
            .set(tri(self.groups_healthy.status));
        for (group, totals) in &self.totals {
            let Some(t) = totals else { continue };
            let labels = [namespace, bucket, &group.to_string()];
            metrics
                .bucket_group_live_records
                .with_label_values(&labels)
                .set(clamp(t.live_records));
            metrics
                .bucket_group_live_bytes
                .with_label_values(&labels)
                .set(clamp(t.live_bytes()));
            metrics
                .bucket_group_free_bytes
                .with_label_values(&labels)
                .set(clamp(t.free_bytes));
        }
        if let Some(free) = self.free_bytes {
            metrics
                .bucket_free_bytes
                .with_label_values(&[namespace, bucket])
                .set(clamp(free));
        }
    }
}

/// Totals of one group over the backends that answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupTotals {
    /// Backends that answered.
    pub backends: usize,
    /// Worst state.
    pub state: GroupState,
    /// Live records (`records_total - records_removed`).
    pub live_records: u64,
    /// Raw used bytes (blob sizes, removed records included).
    pub used_bytes: u64,
    /// Bytes of removed records.
    pub removed_bytes: u64,
    /// Free bytes.
    pub free_bytes: u64,
}

impl GroupTotals {
    /// Live bytes: used minus removed.
    pub fn live_bytes(&self) -> u64 {
        self.used_bytes.saturating_sub(self.removed_bytes)
    }

    /// Removed bytes / used bytes (0 when nothing is used).
    pub fn removed_ratio(&self) -> f64 {
        ratio(self.removed_bytes, self.used_bytes)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Severity order of states, worst highest (`Unknown` ranks below `Ok`: it is only the
/// state of a group nothing is known about).
fn severity(s: GroupState) -> u8 {
    match s {
        GroupState::Unknown => 0,
        GroupState::Ok => 1,
        GroupState::Defragmenting => 2,
        GroupState::ReadOnly => 3,
        GroupState::Unreachable => 4,
    }
}

/// The state of one backend by its statistics.
pub fn backend_state(stat: &BackendStat) -> GroupState {
    if stat.error_code != 0 || stat.state != 1 {
        GroupState::Unreachable
    } else if stat.read_only {
        GroupState::ReadOnly
    } else if stat.defrag_state != 0 {
        GroupState::Defragmenting
    } else {
        GroupState::Ok
    }
}

/// Free bytes of one backend: the tighter of its size limit and the file system.
pub fn backend_free_bytes(stat: &BackendStat) -> u64 {
    let by_limit = stat.total_size_limit.saturating_sub(stat.used_size);
    by_limit.min(stat.vfs_avail)
}

/// Per group totals of every backend in `stats`.
pub fn group_totals(stats: &ClusterStats) -> BTreeMap<u32, GroupTotals> {
    let mut out: BTreeMap<u32, GroupTotals> = BTreeMap::new();
    for s in &stats.backends {
        let st = &s.stat;
        let t = out.entry(st.group).or_default();
        t.backends += 1;
        let b = backend_state(st);
        if t.backends == 1 || severity(b) > severity(t.state) {
            t.state = b;
        }
        t.live_records += st.records_total.saturating_sub(st.records_removed);
        t.used_bytes += st.used_size;
        t.removed_bytes += st.removed_size;
        t.free_bytes += backend_free_bytes(st);
    }
    out
}

/// The state of `group` given the totals (`None` totals = no backend answered).
pub fn group_state(totals: Option<&GroupTotals>) -> GroupState {
    totals.map_or(GroupState::Unreachable, |t| t.state)
}

/// The group ids as `1, 2`; `None` when there are none.
pub(crate) fn group_list(groups: impl IntoIterator<Item = u32>) -> Option<String> {
    let ids: Vec<String> = groups.into_iter().map(|g| g.to_string()).collect();
    (!ids.is_empty()).then(|| ids.join(", "))
}

fn list(groups: &[(u32, GroupState)]) -> String {
    groups
        .iter()
        .map(|(g, s)| format!("group {g}: {s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `GroupsHealthy` condition for groups and their states.
pub fn groups_healthy(states: &[(u32, GroupState)]) -> ConditionValue {
    let cv = |status, reason, message| ConditionValue {
        type_: types::GROUPS_HEALTHY,
        status,
        reason,
        message,
    };
    let bad: Vec<(u32, GroupState)> = states
        .iter()
        .copied()
        .filter(|(_, s)| *s != GroupState::Ok)
        .collect();
    if bad.is_empty() {
        let ids: Vec<String> = states.iter().map(|(g, _)| g.to_string()).collect();
        return cv(
            ConditionStatus::True,
            reasons::ALL_GROUPS_HEALTHY,
            format!("groups {} healthy", ids.join(", ")),
        );
    }
    if bad.iter().all(|(_, s)| *s == GroupState::Unreachable) && bad.len() == states.len() {
        return cv(
            ConditionStatus::False,
            reasons::GROUPS_UNREACHABLE,
            format!("no group answers: {}", list(&bad)),
        );
    }
    cv(
        ConditionStatus::False,
        reasons::GROUPS_DEGRADED,
        format!(
            "{} of {} groups degraded: {}",
            bad.len(),
            states.len(),
            list(&bad)
        ),
    )
}

/// The `ReplicasInSync` condition for a bucket's groups (`None` = no backend answered).
pub fn replicas_in_sync(
    groups: &[(u32, Option<GroupTotals>)],
    thresholds: &ReplicaThresholds,
) -> ConditionValue {
    let cv = |status, reason, message| ConditionValue {
        type_: types::REPLICAS_IN_SYNC,
        status,
        reason,
        message,
    };
    let present: Vec<(u32, GroupTotals)> = groups
        .iter()
        .filter_map(|(g, t)| t.map(|t| (*g, t)))
        .collect();
    let missing = groups.iter().filter(|(_, t)| t.is_none()).map(|(g, _)| *g);
    if let Some(missing) = group_list(missing) {
        return cv(
            ConditionStatus::False,
            reasons::GROUP_MISSING,
            format!(
                "group {missing} has no backend answering statistics ({} of {} groups present)",
                present.len(),
                groups.len()
            ),
        );
    }
    let read_only = present
        .iter()
        .filter(|(_, t)| t.state == GroupState::ReadOnly)
        .map(|(g, _)| *g);
    if let Some(read_only) = group_list(read_only) {
        return cv(
            ConditionStatus::False,
            reasons::GROUP_READ_ONLY,
            format!("group {read_only} is read-only and falls behind on writes"),
        );
    }
    let spread = |f: &dyn Fn(&GroupTotals) -> u64| {
        let vals: Vec<u64> = present.iter().map(|(_, t)| f(t)).collect();
        let max = vals.iter().copied().max().unwrap_or(0);
        let min = vals.iter().copied().min().unwrap_or(0);
        (max, min, ratio(max - min, max))
    };
    // Coarse in messages (status), exact in the comparison.
    let numbers = |f: &dyn Fn(&GroupTotals) -> u64, coarse: fn(u64) -> u64| {
        present
            .iter()
            .map(|(g, t)| format!("group {g}: {}", coarse(f(t))))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let records = |t: &GroupTotals| t.live_records;
    let bytes = |t: &GroupTotals| t.live_bytes();
    let (_, _, r) = spread(&records);
    if r > thresholds.records_ratio {
        return cv(
            ConditionStatus::False,
            reasons::RECORD_COUNTS_DIVERGED,
            format!(
                "live records differ by {:.1}% (> {:.1}%): {}",
                r * 100.0,
                thresholds.records_ratio * 100.0,
                numbers(&records, coarse_count)
            ),
        );
    }
    let (_, _, b) = spread(&bytes);
    if b > thresholds.used_bytes_ratio {
        return cv(
            ConditionStatus::False,
            reasons::USED_BYTES_DIVERGED,
            format!(
                "live bytes differ by {:.1}% (> {:.1}%): {}",
                b * 100.0,
                thresholds.used_bytes_ratio * 100.0,
                numbers(&bytes, coarse_bytes)
            ),
        );
    }
    cv(
        ConditionStatus::True,
        reasons::REPLICAS_MATCH,
        format!(
            "live records {}; live bytes {}",
            numbers(&records, coarse_count),
            numbers(&bytes, coarse_bytes)
        ),
    )
}

/// Health of a bucket with `groups` given the latest statistics (`None` = none polled yet).
pub fn bucket_health(
    stats: Option<&ClusterStats>,
    groups: &[u32],
    thresholds: &ReplicaThresholds,
) -> BucketHealth {
    let Some(stats) = stats else {
        let unknown = |type_| ConditionValue {
            type_,
            status: ConditionStatus::Unknown,
            reason: reasons::NO_STATS,
            message: "no statistics polled yet".into(),
        };
        return BucketHealth {
            resolved_groups: groups
                .iter()
                .map(|&group| ResolvedGroup {
                    group,
                    health: GroupState::Unknown,
                    records: None,
                    used_bytes: None,
                })
                .collect(),
            groups_healthy: unknown(types::GROUPS_HEALTHY),
            replicas_in_sync: unknown(types::REPLICAS_IN_SYNC),
            free_bytes: None,
            totals: groups.iter().map(|&g| (g, None)).collect(),
        };
    };
    let totals = group_totals(stats);
    let per_group: Vec<(u32, Option<GroupTotals>)> = groups
        .iter()
        .map(|g| (*g, totals.get(g).copied()))
        .collect();
    let states: Vec<(u32, GroupState)> = per_group
        .iter()
        .map(|(g, t)| (*g, group_state(t.as_ref())))
        .collect();
    let free_bytes = if per_group.iter().all(|(_, t)| t.is_some()) && !per_group.is_empty() {
        per_group
            .iter()
            .filter_map(|(_, t)| t.map(|t| t.free_bytes))
            .min()
    } else {
        None
    };
    BucketHealth {
        resolved_groups: per_group
            .iter()
            .map(|(g, t)| ResolvedGroup {
                group: *g,
                health: group_state(t.as_ref()),
                records: t.map(|t| t.live_records),
                used_bytes: t.map(|t| t.live_bytes()),
            })
            .collect(),
        groups_healthy: groups_healthy(&states),
        replicas_in_sync: replicas_in_sync(&per_group, thresholds),
        free_bytes,
        totals: per_group,
    }
}

#[cfg(test)]
mod tests;
