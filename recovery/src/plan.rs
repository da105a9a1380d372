//! The planner (pure): listings of N groups → for each id the groups hold, which version
//! wins and which groups need it ([`Decision`]), in ascending id order, plus the dry-run
//! [`Report`] — missing / older / extra per group, counts and bytes.
//!
//! Rule per id: the newest [`Version`] any group lists wins (see [`crate::version`] for the
//! order); the groups listing exactly it are the holders (copy sources); every other group
//! is a target — *missing* when it lists nothing for the id, *older* when it lists an older
//! version. Ids on which all groups agree produce no decision.
//!
//! Deletes: a record removed by DEL is not listed by ITERATOR, so such a key is copied back
//! from a group that still has it. Backrunner deletes objects by writing a stamped
//! *tombstone* record instead (`store::object::RecordKind::Tombstone`): the newest version,
//! copied like any other, so the delete reaches every group. Given the tombstone's
//! `user_flags` ([`Plan::with_tombstone`]), the report counts as *removed* the targets
//! where such a copy deletes a live object (they are counted in *older* too).
//!
//! Merged records: a record that readers merge across groups instead of taking the newest
//! (the key index's journal lanes: each group holds the appends that reached it, and a
//! listing reads the union) must never be replaced by another group's copy, which would
//! drop the entries only it holds. Given their `user_flags` ([`PlanFlags::merged`]), ids
//! listed with them in any group are left alone (counted in [`Report::merged_skipped`]);
//! the index's compaction writes their union to every group.
//!
//! Memory: the listings (96 bytes per id per group) are borrowed; decisions are produced
//! one at a time while they are consumed.

use elliptics::proto::Id;
use serde::{Deserialize, Serialize};

use crate::listing::GroupListing;
use crate::version::Version;

/// A group that needs the newest version of an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The group.
    pub group: u32,
    /// What it holds now: `None` = missing, `Some` = an older version.
    pub have: Option<Version>,
}

/// What to do for one id on which the groups disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The key id.
    pub id: Id,
    /// The winning version.
    pub newest: Version,
    /// Groups holding it (copy sources), in listing order; never empty.
    pub holders: Vec<u32>,
    /// Groups that miss it or hold an older version, in listing order; never empty.
    pub targets: Vec<Target>,
}

impl Decision {
    /// Record copies this decision makes: one per target group.
    pub fn copies(&self) -> u64 {
        self.targets.len() as u64
    }

    /// Bytes those copies write.
    pub fn copy_bytes(&self) -> u64 {
        self.newest.size.saturating_mul(self.copies())
    }

    /// The target groups.
    pub fn target_groups(&self) -> Vec<u32> {
        self.targets.iter().map(|t| t.group).collect()
    }
}

/// The decision for one id given what each group lists (`versions[i]` for
/// `groups[i]`); `None` when every group holds the newest version.
pub fn decide(id: Id, groups: &[u32], versions: &[Option<Version>]) -> Option<Decision> {
    let newest = versions.iter().flatten().max().copied()?;
    let mut holders = Vec::new();
    let mut targets = Vec::new();
    for (&group, have) in groups.iter().zip(versions) {
        match have {
            Some(v) if *v == newest => holders.push(group),
            have => targets.push(Target { group, have: *have }),
        }
    }
    if targets.is_empty() {
        return None;
    }
    Some(Decision {
        id,
        newest,
        holders,
        targets,
    })
}

/// Per-group figures of a [`Report`]. "Bytes" of missing and older records are the bytes
/// recovery writes to the group (the newest version's size).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReport {
    /// The group.
    pub group: u32,
    /// Committed records (ids) listed.
    pub records: u64,
    /// Their data bytes.
    pub bytes: u64,
    /// Ids other groups hold and this one lacks.
    pub missing: u64,
    /// Bytes to write for them.
    pub missing_bytes: u64,
    /// Ids this group holds in an older version.
    pub older: u64,
    /// Bytes to write for them.
    pub older_bytes: u64,
    /// Ids this group holds that at least one other group lacks.
    pub extra: u64,
    /// This group's bytes of them.
    pub extra_bytes: u64,
    /// Ids whose newest version is a tombstone while this group holds a live, older one
    /// (among `older`): the copy deletes the object here.
    pub removed: u64,
    /// Prepared, uncommitted records left out of the listing.
    pub uncommitted: u64,
}

/// What a scan found: the dry-run report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Distinct ids listed by any group.
    pub scanned: u64,
    /// Records listed, all groups together.
    pub records: u64,
    /// (id, group) pairs where the group lacks the id.
    pub missing: u64,
    /// Bytes to write for them.
    pub missing_bytes: u64,
    /// (id, group) pairs where the group holds an older version.
    pub older: u64,
    /// Bytes to write for them.
    pub older_bytes: u64,
    /// (id, group) pairs where a tombstone replaces a live object (among `older`).
    pub removed: u64,
    /// Ids on which the groups disagree (decisions).
    pub divergent: u64,
    /// Ids left alone because readers merge them across groups (see the module docs).
    #[serde(default)]
    pub merged_skipped: u64,
    /// Per group, in the order the groups were given.
    pub per_group: Vec<GroupReport>,
}

impl Report {
    /// Record copies the plan makes (`missing + older`).
    pub fn copies(&self) -> u64 {
        self.missing + self.older
    }
    /// Bytes they write.
    pub fn copy_bytes(&self) -> u64 {
        self.missing_bytes + self.older_bytes
    }
}

/// The listings of the groups to reconcile, with their report.
#[derive(Debug, Clone)]
pub struct Plan {
    groups: Vec<u32>,
    listings: Vec<GroupListing>,
    report: Report,
    merged: Option<u64>,
}

/// What some `user_flags` mean to the planner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanFlags {
    /// A delete tombstone's: copies of it over live objects are reported as removed.
    pub tombstone: Option<u64>,
    /// A record readers merge across groups: never copied (see the module docs).
    pub merged: Option<u64>,
}

/// Whether any group lists the id with the merged records' flags.
fn is_merged(versions: &[Option<Version>], merged: Option<u64>) -> bool {
    merged.is_some_and(|m| versions.iter().flatten().any(|v| v.user_flags == m))
}

impl Plan {
    /// Plans over `listings` (one per group, each group once), without knowing tombstones
    /// (`removed` stays 0).
    pub fn new(listings: Vec<GroupListing>) -> Plan {
        Self::with_tombstone(listings, None)
    }

    /// Plans over `listings`; records whose `user_flags` equal `tombstone` are deletes.
    pub fn with_tombstone(listings: Vec<GroupListing>, tombstone: Option<u64>) -> Plan {
        Self::with_flags(
            listings,
            PlanFlags {
                tombstone,
                merged: None,
            },
        )
    }

    /// Plans over `listings` with `flags` telling deletes and merged records apart.
    pub fn with_flags(listings: Vec<GroupListing>, flags: PlanFlags) -> Plan {
        let tombstone = flags.tombstone;
        let is_tombstone = |v: &Version| Some(v.user_flags) == tombstone;
        let groups: Vec<u32> = listings.iter().map(GroupListing::group).collect();
        let mut per_group: Vec<GroupReport> = listings
            .iter()
            .map(|l| GroupReport {
                group: l.group(),
                records: l.len() as u64,
                bytes: l.bytes(),
                uncommitted: l.stats().uncommitted,
                ..GroupReport::default()
            })
            .collect();
        let mut report = Report {
            records: listings.iter().map(|l| l.len() as u64).sum(),
            ..Report::default()
        };
        let mut merge = Merge::new(&listings);
        while let Some(id) = merge.next_id() {
            report.scanned += 1;
            let versions = merge.versions();
            if is_merged(versions, flags.merged) {
                report.merged_skipped += 1;
                continue;
            }
            let held = versions.iter().filter(|v| v.is_some()).count();
            for (g, have) in per_group.iter_mut().zip(versions) {
                if let Some(v) = have {
                    if held < versions.len() {
                        g.extra += 1;
                        g.extra_bytes += v.size;
                    }
                }
            }
            let Some(d) = decide(id, &groups, versions) else {
                continue;
            };
            report.divergent += 1;
            for t in &d.targets {
                let Some(g) = per_group.iter_mut().find(|g| g.group == t.group) else {
                    continue;
                };
                match t.have {
                    None => {
                        g.missing += 1;
                        g.missing_bytes += d.newest.size;
                    }
                    Some(have) => {
                        g.older += 1;
                        g.older_bytes += d.newest.size;
                        if is_tombstone(&d.newest) && !is_tombstone(&have) {
                            g.removed += 1;
                        }
                    }
                }
            }
        }
        report.missing = per_group.iter().map(|g| g.missing).sum();
        report.missing_bytes = per_group.iter().map(|g| g.missing_bytes).sum();
        report.older = per_group.iter().map(|g| g.older).sum();
        report.older_bytes = per_group.iter().map(|g| g.older_bytes).sum();
        report.removed = per_group.iter().map(|g| g.removed).sum();
        report.per_group = per_group;
        Plan {
            groups,
            listings,
            report,
            merged: flags.merged,
        }
    }

    /// The groups, in the order given.
    pub fn groups(&self) -> &[u32] {
        &self.groups
    }

    /// The listings.
    pub fn listings(&self) -> &[GroupListing] {
        &self.listings
    }

    /// The dry-run report.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The decisions, ascending by id, computed as they are consumed.
    pub fn decisions(&self) -> Decisions<'_> {
        Decisions {
            groups: &self.groups,
            merge: Merge::new(&self.listings),
            merged: self.merged,
        }
    }
}

/// Iterator over a plan's decisions, ascending by id.
#[derive(Debug)]
pub struct Decisions<'a> {
    groups: &'a [u32],
    merge: Merge<'a>,
    merged: Option<u64>,
}

impl Iterator for Decisions<'_> {
    type Item = Decision;

    fn next(&mut self) -> Option<Decision> {
        while let Some(id) = self.merge.next_id() {
            if is_merged(self.merge.versions(), self.merged) {
                continue;
            }
            if let Some(d) = decide(id, self.groups, self.merge.versions()) {
                return Some(d);
            }
        }
        None
    }
}

/// A k-way merge of sorted listings: each step yields the smallest id not yet visited and
/// what every group lists for it.
#[derive(Debug)]
struct Merge<'a> {
    listings: &'a [GroupListing],
    pos: Vec<usize>,
    versions: Vec<Option<Version>>,
}

impl<'a> Merge<'a> {
    fn new(listings: &'a [GroupListing]) -> Self {
        Self {
            listings,
            pos: vec![0; listings.len()],
            versions: vec![None; listings.len()],
        }
    }

    /// Advances to the next id; [`Merge::versions`] then tells what each group lists.
    fn next_id(&mut self) -> Option<Id> {
        let id = self
            .listings
            .iter()
            .zip(&self.pos)
            .filter_map(|(l, &p)| l.entries().get(p).map(|e| e.id))
            .min()?;
        for ((l, p), v) in self
            .listings
            .iter()
            .zip(&mut self.pos)
            .zip(&mut self.versions)
        {
            *v = match l.entries().get(*p) {
                Some(e) if e.id == id => {
                    *p += 1;
                    Some(e.version)
                }
                _ => None,
            };
        }
        Some(id)
    }

    fn versions(&self) -> &[Option<Version>] {
        &self.versions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use elliptics::proto::DnetTime;

    fn v(tsec: u64, size: u64) -> Version {
        Version {
            timestamp: DnetTime { tsec, tnsec: 0 },
            size,
            user_flags: 0,
        }
    }

    fn id(b: u8) -> Id {
        Id([b; 64])
    }

    #[test]
    fn missing_older_extra_and_agreement() {
        let g1 = GroupListing::from_versions(
            1,
            [(id(1), v(5, 10)), (id(2), v(5, 10)), (id(3), v(9, 4))],
        );
        let g2 = GroupListing::from_versions(
            2,
            [(id(2), v(5, 10)), (id(3), v(8, 40)), (id(4), v(1, 7))],
        );
        let plan = Plan::new(vec![g1, g2]);
        let ds: Vec<Decision> = plan.decisions().collect();
        assert_eq!(ds.len(), 3);
        assert_eq!(ds[0].id, id(1));
        assert_eq!(ds[0].holders, vec![1]);
        assert_eq!(
            ds[0].targets,
            vec![Target {
                group: 2,
                have: None
            }]
        );
        assert_eq!(ds[1].id, id(3));
        assert_eq!(
            ds[1].targets,
            vec![Target {
                group: 2,
                have: Some(v(8, 40))
            }]
        );
        assert_eq!(
            ds[2].targets,
            vec![Target {
                group: 1,
                have: None
            }]
        );
        let r = plan.report();
        assert_eq!((r.scanned, r.records, r.divergent), (4, 6, 3));
        assert_eq!(
            (r.missing, r.missing_bytes, r.older, r.older_bytes),
            (2, 17, 1, 4)
        );
        let g1 = &r.per_group[0];
        assert_eq!(
            (g1.missing, g1.older, g1.extra, g1.extra_bytes),
            (1, 0, 1, 10)
        );
        let g2 = &r.per_group[1];
        assert_eq!(
            (g2.missing, g2.older, g2.extra, g2.extra_bytes),
            (1, 1, 1, 7)
        );
    }

    #[test]
    fn a_newer_tombstone_over_a_live_object_counts_as_removed() {
        const T: u64 = 0xdead;
        let tomb = |tsec| Version {
            user_flags: T,
            ..v(tsec, 4)
        };
        let g1 =
            GroupListing::from_versions(1, [(id(1), tomb(9)), (id(2), tomb(9)), (id(3), tomb(9))]);
        let g2 = GroupListing::from_versions(2, [(id(1), v(5, 10)), (id(3), tomb(2))]);
        let plan = Plan::with_tombstone(vec![g1.clone(), g2.clone()], Some(T));
        let r = plan.report();
        assert_eq!((r.missing, r.older, r.removed), (1, 2, 1));
        assert_eq!(r.per_group[1].removed, 1);
        assert_eq!(Plan::new(vec![g1, g2]).report().removed, 0);
    }

    #[test]
    fn same_timestamp_larger_size_wins() {
        let d = decide(id(1), &[1, 2], &[Some(v(5, 10)), Some(v(5, 11))]).unwrap();
        assert_eq!(d.holders, vec![2]);
        assert_eq!(d.copy_bytes(), 11);
        assert_eq!(
            decide(id(1), &[1, 2], &[Some(v(5, 10)), Some(v(5, 10))]),
            None
        );
    }
}
