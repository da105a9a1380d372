//! The planner against a simple model: for random listings of 2–4 groups (small id and
//! version spaces, so shared ids, duplicates and ties are common), the decisions and the
//! report equal what a direct per-id computation over maps gives; applying the decisions
//! makes the groups agree; and the winner of an id does not depend on the order in which
//! the groups are given.

#![allow(clippy::unwrap_used)] // the model's own invariants

use std::collections::{BTreeMap, BTreeSet};

use backrunner_recovery::{Decision, GroupListing, Plan, Target, Version};
use elliptics::proto::{DnetTime, Id};
use proptest::prelude::*;

fn version() -> impl Strategy<Value = Version> {
    (0u64..3, 0u64..2, 0u64..4, 0u64..2).prop_map(|(tsec, tnsec, size, user_flags)| Version {
        timestamp: DnetTime { tsec, tnsec },
        size,
        user_flags,
    })
}

/// Per group: (id byte, version) pairs, duplicates allowed.
fn groups() -> impl Strategy<Value = Vec<Vec<(u8, Version)>>> {
    prop::collection::vec(prop::collection::vec((0u8..24, version()), 0..30), 2..5)
}

fn id(b: u8) -> Id {
    let mut a = [0u8; 64];
    a[0] = b;
    a[63] = b.wrapping_mul(31);
    Id(a)
}

/// What each group holds: the newest version listed per id.
fn model_maps(input: &[Vec<(u8, Version)>]) -> Vec<BTreeMap<Id, Version>> {
    input
        .iter()
        .map(|entries| {
            let mut m: BTreeMap<Id, Version> = BTreeMap::new();
            for (b, v) in entries {
                let e = m.entry(id(*b)).or_insert(*v);
                *e = (*e).max(*v);
            }
            m
        })
        .collect()
}

fn listings(group_ids: &[u32], maps: &[Vec<(u8, Version)>]) -> Vec<GroupListing> {
    group_ids
        .iter()
        .zip(maps)
        .map(|(g, entries)| {
            GroupListing::from_versions(*g, entries.iter().map(|(b, v)| (id(*b), *v)))
        })
        .collect()
}

/// Decisions by direct computation.
fn model_decisions(group_ids: &[u32], maps: &[BTreeMap<Id, Version>]) -> Vec<Decision> {
    let ids: BTreeSet<Id> = maps.iter().flat_map(|m| m.keys().copied()).collect();
    let mut out = Vec::new();
    for i in ids {
        let newest = maps
            .iter()
            .filter_map(|m| m.get(&i))
            .max()
            .copied()
            .unwrap();
        let holders: Vec<u32> = group_ids
            .iter()
            .zip(maps)
            .filter(|(_, m)| m.get(&i) == Some(&newest))
            .map(|(g, _)| *g)
            .collect();
        let targets: Vec<Target> = group_ids
            .iter()
            .zip(maps)
            .filter(|(_, m)| m.get(&i) != Some(&newest))
            .map(|(g, m)| Target {
                group: *g,
                have: m.get(&i).copied(),
            })
            .collect();
        if !targets.is_empty() {
            out.push(Decision {
                id: i,
                newest,
                holders,
                targets,
            });
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decisions_and_report_match_the_model(input in groups()) {
        let group_ids: Vec<u32> = (1..=input.len() as u32).map(|g| g * 10).collect();
        let maps = model_maps(&input);
        let plan = Plan::new(listings(&group_ids, &input));
        let got: Vec<Decision> = plan.decisions().collect();
        let want = model_decisions(&group_ids, &maps);
        prop_assert_eq!(&got, &want);

        let r = plan.report();
        let union: BTreeSet<Id> = maps.iter().flat_map(|m| m.keys().copied()).collect();
        prop_assert_eq!(r.scanned, union.len() as u64);
        prop_assert_eq!(r.records, maps.iter().map(|m| m.len() as u64).sum::<u64>());
        prop_assert_eq!(r.divergent, want.len() as u64);
        for (k, g) in group_ids.iter().enumerate() {
            let gr = &r.per_group[k];
            prop_assert_eq!(gr.group, *g);
            let mine = want.iter().filter_map(|d| d.targets.iter().find(|t| t.group == *g).map(|t| (d, t)));
            let (mut missing, mut missing_bytes, mut older, mut older_bytes) = (0, 0, 0, 0);
            for (d, t) in mine {
                match t.have {
                    None => { missing += 1; missing_bytes += d.newest.size; }
                    Some(_) => { older += 1; older_bytes += d.newest.size; }
                }
            }
            prop_assert_eq!((gr.missing, gr.missing_bytes, gr.older, gr.older_bytes), (missing, missing_bytes, older, older_bytes));
            let extra: Vec<&Version> = maps[k]
                .iter()
                .filter(|(i, _)| maps.iter().any(|m| !m.contains_key(*i)))
                .map(|(_, v)| v)
                .collect();
            prop_assert_eq!(gr.extra, extra.len() as u64);
            prop_assert_eq!(gr.extra_bytes, extra.iter().map(|v| v.size).sum::<u64>());
            prop_assert_eq!(gr.records, maps[k].len() as u64);
        }
        prop_assert_eq!(r.removed, 0);
        prop_assert_eq!(r.missing, r.per_group.iter().map(|g| g.missing).sum::<u64>());
        prop_assert_eq!(r.older, r.per_group.iter().map(|g| g.older).sum::<u64>());
        prop_assert_eq!(r.copies(), want.iter().map(Decision::copies).sum::<u64>());
        prop_assert_eq!(r.copy_bytes(), want.iter().map(Decision::copy_bytes).sum::<u64>());
    }

    #[test]
    fn removed_counts_tombstones_over_live_objects(input in groups(), tomb in 0u64..2) {
        let group_ids: Vec<u32> = (1..=input.len() as u32).collect();
        let maps = model_maps(&input);
        let plan = Plan::with_tombstone(listings(&group_ids, &input), Some(tomb));
        let want = model_decisions(&group_ids, &maps);
        for (k, g) in group_ids.iter().enumerate() {
            let removed = want
                .iter()
                .filter(|d| d.newest.user_flags == tomb)
                .filter(|d| d.targets.iter().any(|t| t.group == *g && t.have.is_some_and(|h| h.user_flags != tomb)))
                .count() as u64;
            prop_assert_eq!(plan.report().per_group[k].removed, removed);
        }
    }

    #[test]
    fn applying_the_decisions_makes_the_groups_agree(input in groups()) {
        let group_ids: Vec<u32> = (1..=input.len() as u32).collect();
        let mut maps = model_maps(&input);
        let plan = Plan::new(listings(&group_ids, &input));
        for d in plan.decisions() {
            for t in &d.targets {
                let k = group_ids.iter().position(|g| *g == t.group).unwrap();
                maps[k].insert(d.id, d.newest);
            }
        }
        prop_assert!(maps.windows(2).all(|w| w[0] == w[1]));
        let again = Plan::new(
            group_ids
                .iter()
                .zip(&maps)
                .map(|(g, m)| GroupListing::from_versions(*g, m.iter().map(|(i, v)| (*i, *v))))
                .collect(),
        );
        prop_assert_eq!(again.decisions().count(), 0);
        prop_assert_eq!((again.report().missing, again.report().older), (0, 0));
    }

    #[test]
    fn the_winner_does_not_depend_on_group_order(input in groups()) {
        let group_ids: Vec<u32> = (1..=input.len() as u32).collect();
        let forward = Plan::new(listings(&group_ids, &input));
        let rev_ids: Vec<u32> = group_ids.iter().rev().copied().collect();
        let rev_input: Vec<Vec<(u8, Version)>> = input.iter().rev().cloned().collect();
        let backward = Plan::new(listings(&rev_ids, &rev_input));
        let winners = |p: &Plan| -> BTreeMap<Id, Version> {
            p.decisions().map(|d| (d.id, d.newest)).collect()
        };
        prop_assert_eq!(winners(&forward), winners(&backward));
    }
}
