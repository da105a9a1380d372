//! Pure parts of the `EllipticsCluster` status: the Reachable / MetadataWritable / Ready
//! conditions from what the storage checks found, and the per-group summary of the
//! statistics with its coarse rounding and "at most once per interval, only when a value
//! moved" rule.

use std::collections::BTreeSet;
use std::time::Duration;

use backrunner_crds::cluster::{EllipticsClusterStatus, GroupState, GroupSummary, reasons};
use backrunner_crds::condition::{ConditionStatus, ConditionUpdate, Time, set_condition, types};
use k8s_openapi::chrono::{DateTime, Utc};

pub use crate::controller::status::{coarse_bytes, coarse_ratio};
use crate::health::{ConditionValue, group_list, group_totals};
use crate::stats_cache::ClusterStats;

/// What the storage checks found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// No client could be had: why.
    Down(String),
    /// Connected; remotes as written in the spec, split by whether they answered.
    Up {
        /// Remotes with a live connection.
        answered: Vec<String>,
        /// Remotes without one (or that do not resolve).
        silent: Vec<String>,
        /// Live connections in total (the route table reveals more nodes than remotes).
        nodes: usize,
    },
}

/// The Reachable condition.
pub fn reachable(reach: &Reach) -> ConditionValue {
    let cv = |status, reason, message| ConditionValue {
        type_: types::REACHABLE,
        status,
        reason,
        message,
    };
    match reach {
        Reach::Down(why) => cv(
            ConditionStatus::False,
            reasons::NO_REMOTE_ANSWERED,
            why.clone(),
        ),
        Reach::Up {
            answered,
            silent,
            nodes,
        } if silent.is_empty() => cv(
            ConditionStatus::True,
            reasons::AVAILABLE,
            format!(
                "remotes answered: {}; {nodes} nodes connected",
                answered.join(", ")
            ),
        ),
        Reach::Up {
            answered,
            silent,
            nodes,
        } => cv(
            ConditionStatus::True,
            reasons::PARTIALLY_REACHABLE,
            format!(
                "remotes answered: {}; not answering: {}; {nodes} nodes connected",
                answered.join(", "),
                silent.join(", ")
            ),
        ),
    }
}

/// The MetadataWritable condition: `routed` = groups in the route table (`None` when
/// unreachable), `probe` = the probe write's failures per group (`None` = not probed).
pub fn metadata_writable(
    metadata_groups: &[u32],
    routed: Option<&[u32]>,
    probe: Option<&[(u32, String)]>,
) -> ConditionValue {
    let cv = |status, reason, message| ConditionValue {
        type_: types::METADATA_WRITABLE,
        status,
        reason,
        message,
    };
    let Some(routed) = routed else {
        return cv(
            ConditionStatus::False,
            reasons::NO_REMOTE_ANSWERED,
            "storage unreachable".into(),
        );
    };
    let routed: BTreeSet<u32> = routed.iter().copied().collect();
    let missing = metadata_groups
        .iter()
        .copied()
        .filter(|g| !routed.contains(g));
    if let Some(missing) = group_list(missing) {
        return cv(
            ConditionStatus::False,
            reasons::METADATA_GROUP_MISSING,
            format!("metadata group {missing} has no backend in the route table"),
        );
    }
    let groups: Vec<String> = metadata_groups.iter().map(u32::to_string).collect();
    match probe {
        Some(failed) if !failed.is_empty() => cv(
            ConditionStatus::False,
            reasons::METADATA_WRITE_FAILED,
            failed
                .iter()
                .map(|(g, e)| format!("group {g}: {e}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Some(_) => cv(
            ConditionStatus::True,
            reasons::AVAILABLE,
            format!(
                "metadata groups {} accepted a probe write",
                groups.join(", ")
            ),
        ),
        None => cv(
            ConditionStatus::True,
            reasons::AVAILABLE,
            format!(
                "metadata groups {} are in the route table",
                groups.join(", ")
            ),
        ),
    }
}

/// The Ready condition from the other two.
pub fn ready(reachable: &ConditionValue, metadata: &ConditionValue) -> ConditionValue {
    let first_bad = [reachable, metadata]
        .into_iter()
        .find(|c| c.status != ConditionStatus::True);
    match first_bad {
        None => ConditionValue {
            type_: types::READY,
            status: ConditionStatus::True,
            reason: reasons::AVAILABLE,
            message: "storage reachable and metadata writable".into(),
        },
        Some(c) => ConditionValue {
            type_: types::READY,
            status: ConditionStatus::False,
            reason: c.reason,
            message: format!("{}: {}", c.type_, c.message),
        },
    }
}

/// Sets a condition value into `status`; returns whether its status or reason changed.
pub fn apply_condition(
    status: &mut EllipticsClusterStatus,
    value: &ConditionValue,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> bool {
    let transition = value.changed_from(&status.conditions);
    set_condition(
        &mut status.conditions,
        ConditionUpdate::new(value.type_, value.status, value.reason)
            .message(value.message.clone())
            .observed_generation(generation),
        Time(now),
    );
    transition
}

/// The group summary of the statistics, coarsely rounded; `routed` groups without any
/// backend answering are `Unreachable`.
pub fn summarize_groups(stats: &ClusterStats, routed: &[u32]) -> Vec<GroupSummary> {
    let totals = group_totals(stats);
    let mut groups: BTreeSet<u32> = totals.keys().copied().collect();
    groups.extend(routed.iter().copied());
    groups
        .into_iter()
        .map(|group| match totals.get(&group) {
            Some(t) => GroupSummary {
                group,
                free_bytes: coarse_bytes(t.free_bytes),
                removed_ratio: coarse_ratio(t.removed_ratio()),
                state: t.state,
            },
            None => GroupSummary {
                group,
                free_bytes: 0,
                removed_ratio: 0.0,
                state: GroupState::Unreachable,
            },
        })
        .collect()
}

/// Whether to write `next` over `current`: at once when the set of groups or a state
/// changed, otherwise only when a (coarse) number moved and `interval` has passed since
/// `last` (the previous summary time).
pub fn should_update_groups(
    current: &[GroupSummary],
    next: &[GroupSummary],
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval: Duration,
) -> bool {
    if current == next {
        return false;
    }
    let shape = |v: &[GroupSummary]| v.iter().map(|g| (g.group, g.state)).collect::<Vec<_>>();
    if shape(current) != shape(next) {
        return true;
    }
    match last {
        None => true,
        Some(t) => now
            .signed_duration_since(t)
            .to_std()
            .is_ok_and(|age| age >= interval),
    }
}
