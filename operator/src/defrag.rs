//! Defragmentation planning: which backends of a cluster start a defrag run now.
//!
//! [`plan`] is pure. A backend is chosen when the policy says it needs it
//! ([`DefragPolicy::needs_defrag`] on its removed and free ratios), the policy is not
//! suspended, the time is inside the window, it is not defragmenting already (node
//! statistics or a running Job), it did not just finish or fail a run (cool-down), its
//! node has fewer than `maxPerNode` runs, and no bucket holding its group would have more
//! than `max_bucket_groups` of its groups defragmenting at once. Backends with the highest
//! removed ratio go first. [`job`] turns a choice into a `batch/v1` Job.

pub mod job;
pub mod runs;

use std::collections::{BTreeMap, BTreeSet};

use backrunner_crds::cluster::DefragPolicy;

use crate::health::backend_free_bytes;
use crate::stats_cache::ClusterStats;

/// One backend, as the planner sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Node address, `ip:port:family`.
    pub node: String,
    /// Backend id on the node.
    pub backend: i32,
    /// Group it serves.
    pub group: u32,
    /// Removed bytes / used bytes.
    pub removed_ratio: f64,
    /// Free bytes / size limit.
    pub free_ratio: f64,
    /// The node reports a defrag in progress.
    pub defragmenting: bool,
}

/// Backends of a cluster from its latest statistics.
pub fn candidates(stats: &ClusterStats) -> Vec<Candidate> {
    stats
        .backends
        .iter()
        .map(|s| {
            let st = &s.stat;
            let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            Candidate {
                node: s.node.to_string(),
                backend: st.backend_id,
                group: st.group,
                removed_ratio: ratio(st.removed_size, st.used_size),
                free_ratio: ratio(backend_free_bytes(st), st.total_size_limit).min(1.0),
                defragmenting: st.defrag_state != 0,
            }
        })
        .collect()
}

/// Runs the planner must account for, from the cluster's Jobs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Busy {
    /// (node, backend, group) of every Job still running.
    pub running: Vec<(String, i32, u32)>,
    /// (node, backend) of runs that ended too recently to judge by statistics (cool-down).
    pub cooling: Vec<(String, i32)>,
}

/// Everything [`plan`] looks at.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    /// The cluster's policy.
    pub policy: &'a DefragPolicy,
    /// Minute of the day, UTC (0..1440).
    pub minute_of_day: u32,
    /// Every backend with statistics.
    pub candidates: &'a [Candidate],
    /// Running and recently finished runs.
    pub busy: &'a Busy,
    /// The groups of every bucket on this cluster.
    pub buckets: &'a [Vec<u32>],
}

/// Why nothing (more) was chosen, for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// `suspend: true`.
    Suspended,
    /// Outside the window.
    OutsideWindow,
}

/// The backends to start defragmenting now, best first; or why none may start.
pub fn plan(input: &PlanInput<'_>) -> Result<Vec<Candidate>, Skip> {
    let policy = input.policy;
    if policy.suspend {
        return Err(Skip::Suspended);
    }
    if !policy.in_window(input.minute_of_day) {
        return Err(Skip::OutsideWindow);
    }
    // Runs in progress: by statistics and by Jobs.
    let mut running: BTreeSet<(String, i32)> = BTreeSet::new();
    let mut busy_groups: BTreeSet<u32> = BTreeSet::new();
    for c in input.candidates.iter().filter(|c| c.defragmenting) {
        running.insert((c.node.clone(), c.backend));
        busy_groups.insert(c.group);
    }
    for (node, backend, group) in &input.busy.running {
        running.insert((node.clone(), *backend));
        busy_groups.insert(*group);
    }
    let mut per_node: BTreeMap<String, u32> = BTreeMap::new();
    for (node, _) in &running {
        *per_node.entry(node.clone()).or_default() += 1;
    }
    let cooling: BTreeSet<(String, i32)> = input.busy.cooling.iter().cloned().collect();

    let mut wanted: Vec<&Candidate> = input
        .candidates
        .iter()
        .filter(|c| policy.needs_defrag(c.removed_ratio, c.free_ratio))
        .filter(|c| {
            let key = (c.node.clone(), c.backend);
            !running.contains(&key) && !cooling.contains(&key)
        })
        .collect();
    wanted.sort_by(|a, b| {
        b.removed_ratio
            .total_cmp(&a.removed_ratio)
            .then_with(|| (&a.node, a.backend).cmp(&(&b.node, b.backend)))
    });

    let mut chosen = Vec::new();
    for c in wanted {
        if per_node.get(&c.node).copied().unwrap_or(0) >= policy.max_per_node {
            continue;
        }
        // Every bucket holding the group stays within its limit with this group busy.
        let allowed = input
            .buckets
            .iter()
            .filter(|b| b.contains(&c.group))
            .all(|b| {
                let busy_in_bucket = b
                    .iter()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .filter(|g| **g == c.group || busy_groups.contains(g))
                    .count();
                busy_in_bucket <= policy.max_bucket_groups(b.len())
            });
        if !allowed {
            continue;
        }
        *per_node.entry(c.node.clone()).or_default() += 1;
        busy_groups.insert(c.group);
        chosen.push(c.clone());
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests;
