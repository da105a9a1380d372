//! One test per selection rule, plus a simulated slow-down and recovery.

use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// A healthy backend of 100 GiB with `used_gib` used and 1000 live records.
fn backend(used_gib: u64) -> BackendView {
    BackendView {
        total_limit: 100 * GIB,
        used: used_gib * GIB,
        avail: 1000 * GIB,
        records_live: 1000,
        ..Default::default()
    }
}

fn bucket(name: &str, backends: Vec<Option<BackendView>>) -> Candidate {
    let groups = backends
        .into_iter()
        .enumerate()
        .map(|(i, backend)| GroupState {
            group: i as u32 + 1,
            backend,
        })
        .collect();
    Candidate {
        bucket: name.into(),
        groups,
    }
}

fn healthy(name: &str) -> Candidate {
    bucket(name, vec![Some(backend(10)), Some(backend(10))])
}

fn names(weights: &[(String, f64)]) -> Vec<&str> {
    weights.iter().map(|(b, _)| b.as_str()).collect()
}

fn share(weights: &[(String, f64)], name: &str) -> f64 {
    let total: f64 = weights.iter().map(|(_, w)| w).sum();
    weights
        .iter()
        .filter(|(b, _)| b == name)
        .map(|(_, w)| w)
        .sum::<f64>()
        / total
}

/// The weights for a 1 MiB upload of bucket `name`, with these backends, beside one healthy
/// bucket `a`.
fn beside_healthy(name: &str, backends: Vec<Option<BackendView>>) -> Vec<(String, f64)> {
    weights(
        &[healthy("a"), bucket(name, backends)],
        MIB,
        &SelectionConfig::default(),
    )
}

fn exclusion_of(candidate: Candidate) -> Option<Exclusion> {
    let scores = score(
        &[candidate, healthy("ok")],
        MIB,
        &SelectionConfig::default(),
    );
    scores[0].exclusion.clone()
}

#[test]
fn excludes_unusable_buckets_while_another_qualifies() {
    let with = |edit: fn(&mut BackendView)| {
        let mut bad = backend(10);
        edit(&mut bad);
        bucket("bad", vec![Some(backend(10)), Some(bad)])
    };
    assert_eq!(
        exclusion_of(bucket("bad", vec![Some(backend(10)), None])),
        Some(Exclusion::Unreachable(2))
    );
    assert_eq!(
        exclusion_of(with(|b| b.read_only = true)),
        Some(Exclusion::ReadOnly(2))
    );
    assert_eq!(
        exclusion_of(with(|b| b.error = true)),
        Some(Exclusion::BackendError(2))
    );
    assert_eq!(
        exclusion_of(with(|b| b.total_limit = 0)),
        Some(Exclusion::UnknownCapacity(2))
    );
    assert!(matches!(
        exclusion_of(with(|b| b.used = 86 * GIB)),
        Some(Exclusion::Full { group: 2, .. })
    ));
    assert!(matches!(
        exclusion_of(with(|b| b.avail = 10 * GIB)),
        Some(Exclusion::Full { group: 2, .. })
    ));
    assert_eq!(
        exclusion_of(bucket("bad", vec![])),
        Some(Exclusion::NoGroups)
    );
    let weights = weights(
        &[with(|b| b.read_only = true), healthy("ok")],
        MIB,
        &SelectionConfig::default(),
    );
    assert_eq!(names(&weights), ["ok"]);
}

#[test]
fn the_write_itself_counts_against_free_space() {
    // 16 GiB free of 100: fine for 1 MiB, full for a 2 GiB upload (14% left < 15%).
    let tight = bucket("tight", vec![Some(backend(84))]);
    let scores = score(
        std::slice::from_ref(&tight),
        MIB,
        &SelectionConfig::default(),
    );
    assert!(scores[0].exclusion.is_none());
    let scores = score(&[tight], 2 * GIB, &SelectionConfig::default());
    assert!(matches!(scores[0].exclusion, Some(Exclusion::Full { .. })));
}

#[test]
fn nothing_qualifies_means_empty() {
    let candidates = [
        bucket("a", vec![None]),
        bucket(
            "b",
            vec![Some(BackendView {
                read_only: true,
                ..backend(1)
            })],
        ),
    ];
    let weights = weights(&candidates, MIB, &SelectionConfig::default());
    assert!(weights.is_empty());
    assert_eq!(choose(&weights, &mut StdRng::seed_from_u64(1)), None);
}

#[test]
fn prefers_more_free_space() {
    let candidates = [
        bucket("roomy", vec![Some(backend(20))]),
        bucket("crowded", vec![Some(backend(70))]),
    ];
    let by_space = weights(&candidates, MIB, &SelectionConfig::default());
    assert!(share(&by_space, "roomy") > 0.7, "{by_space:?}");
    // the fullest group decides for a bucket
    let mixed = [
        bucket("mixed", vec![Some(backend(0)), Some(backend(70))]),
        bucket("even", vec![Some(backend(20)); 2]),
    ];
    let by_fullest = weights(&mixed, MIB, &SelectionConfig::default());
    assert!(share(&by_fullest, "even") > 0.7, "{by_fullest:?}");
}

#[test]
fn soft_limit_buckets_only_when_nothing_else() {
    let soft = bucket("soft", vec![Some(backend(82))]); // 18% free: between hard and soft
    let scores = score(
        &[soft.clone(), healthy("ok")],
        MIB,
        &SelectionConfig::default(),
    );
    assert_eq!(scores[0].exclusion, Some(Exclusion::BelowSoftLimit));
    let weights = weights(&[soft], MIB, &SelectionConfig::default());
    assert_eq!(names(&weights), ["soft"]);
}

#[test]
fn slow_backend_loses_most_of_its_share_and_regains_it() {
    let timed = |t: f64| {
        Some(BackendView {
            write_time_per_byte: Some(t),
            ..backend(10)
        })
    };
    let candidates = |victim_time| {
        vec![
            bucket("a", vec![timed(10e-9), timed(10e-9)]),
            bucket("b", vec![timed(10e-9), timed(10e-9)]),
            bucket("victim", vec![timed(10e-9), timed(victim_time)]),
        ]
    };
    let config = SelectionConfig::default();
    let slow = weights(&candidates(1e-6), MIB, &config);
    assert!(share(&slow, "victim") < 0.01, "{slow:?}");
    let recovered = weights(&candidates(10e-9), MIB, &config);
    assert!((share(&recovered, "victim") - 1.0 / 3.0).abs() < 1e-9);
    // unknown timing is neutral
    let unknown = vec![
        bucket("a", vec![timed(10e-9)]),
        bucket("new", vec![Some(backend(10))]),
    ];
    assert!((share(&weights(&unknown, MIB, &config), "new") - 0.5).abs() < 1e-9);
}

#[test]
fn failing_backend_loses_most_of_its_share() {
    let erring = |rate: f64| {
        Some(BackendView {
            recent_errors: rate,
            ..backend(10)
        })
    };
    let failing = beside_healthy("victim", vec![erring(0.5), Some(backend(10))]);
    assert!(share(&failing, "victim") < 0.1, "{failing:?}");
    let recovered = beside_healthy("victim", vec![erring(0.0), Some(backend(10))]);
    assert!((share(&recovered, "victim") - 0.5).abs() < 1e-9);
}

#[test]
fn replica_discrepancy_is_penalised() {
    let records = |n: u64| {
        Some(BackendView {
            records_live: n,
            ..backend(10)
        })
    };
    let skewed = beside_healthy("skewed", vec![records(1000), records(500)]);
    assert!(share(&skewed, "skewed") < 0.2, "{skewed:?}");
    // a few writes in flight are within the tolerance
    let close = beside_healthy("close", vec![records(1000), records(990)]);
    assert!((share(&close, "close") - 0.5).abs() < 1e-9);
}

#[test]
fn defragmenting_backends_are_penalised() {
    let defrag = Some(BackendView {
        defragmenting: true,
        ..backend(10)
    });
    let weights = beside_healthy("defrag", vec![defrag, Some(backend(10))]);
    assert!(share(&weights, "defrag") < 0.1, "{weights:?}");
}

#[test]
fn choose_is_proportional_and_deterministic() {
    let weights = vec![
        ("a".to_owned(), 3.0),
        ("zero".to_owned(), 0.0),
        ("nan".to_owned(), f64::NAN),
        ("b".to_owned(), 1.0),
    ];
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..10_000)
            .filter_map(|_| choose(&weights, &mut rng))
            .collect::<Vec<_>>()
    };
    let picks = draw(42);
    assert_eq!(picks, draw(42));
    let a = picks.iter().filter(|b| *b == "a").count();
    assert!((7_200..7_800).contains(&a), "{a}");
    assert!(picks.iter().all(|b| b == "a" || b == "b"));
}

/// Two single-group buckets, 100 uploads of 1 MiB per second, live timings fed back through
/// [`DecayingWriteStats`]. The victim slows from 10 ns/B to 1 µs/B at 10 s and recovers at 25 s.
#[test]
fn simulated_slowdown_moves_writes_away_and_back() {
    let start = Instant::now();
    let config = SelectionConfig::default();
    let mut stats = [DecayingWriteStats::default(), DecayingWriteStats::default()];
    let names = ["steady", "victim"];
    let mut rng = StdRng::seed_from_u64(7);
    let mut victim_picks = vec![0u32; 45];
    for tick in 0..4_500u32 {
        let now = start + Duration::from_millis(u64::from(tick) * 10);
        let second = tick / 100;
        let candidates: Vec<Candidate> = (0..2)
            .map(|i| {
                let view = BackendView {
                    write_time_per_byte: stats[i].time_per_byte(now),
                    recent_errors: stats[i].recent_errors(now),
                    ..backend(10)
                };
                bucket(names[i], vec![Some(view)])
            })
            .collect();
        let chosen = choose(&weights(&candidates, MIB, &config), &mut rng).unwrap();
        let i = usize::from(chosen == "victim");
        let per_byte = if i == 1 && (10..25).contains(&second) {
            1e-6
        } else {
            10e-9
        };
        stats[i].observe(
            now,
            MIB,
            Duration::from_secs_f64(MIB as f64 * per_byte),
            true,
        );
        victim_picks[second as usize] += u32::from(i == 1);
    }
    let share = |from: usize, to: usize| {
        f64::from(victim_picks[from..to].iter().sum::<u32>()) / ((to - from) as f64 * 100.0)
    };
    assert!(share(0, 10) > 0.35, "before: {victim_picks:?}");
    assert!(share(11, 25) < 0.10, "slow: {victim_picks:?}");
    assert!(share(11, 12) < 0.10, "within 1 s: {victim_picks:?}");
    assert!(
        share(30, 45) > 0.35,
        "recovered within 5 s: {victim_picks:?}"
    );
}

/// The blend feeding selection: a backend the proxy has no timings for but the hub saw slow
/// loses its share; with own evidence the hub only nudges; a stale hub changes nothing.
#[test]
fn hub_evidence_moves_selection_until_it_is_stale() {
    use std::collections::HashMap;

    use elliptics::proto::NodeAddr;

    let config = BlendConfig::default();
    let t0 = Instant::now();
    let slow_owner = (NodeAddr(([127, 0, 0, 1], 1026).into()), 1);
    let hub = HubView {
        received: t0,
        backends: HashMap::from([(
            slow_owner,
            WriteEvidence {
                time_per_byte: Some(1e-6),
                error_rate: Some(0.0),
            },
        )]),
    };
    let fast_own = WriteEvidence {
        time_per_byte: Some(1e-8),
        error_rate: Some(0.0),
    };
    let with_time = |evidence: WriteEvidence| BackendView {
        write_time_per_byte: evidence.time_per_byte,
        recent_errors: evidence.error_rate.unwrap_or(0.0),
        ..backend(10)
    };
    let share_of_slow = |now: Instant, slow_own: WriteEvidence| {
        let slow = blend(slow_own, hub.evidence(&slow_owner, now, &config), &config);
        let fast = blend(fast_own, None, &config);
        let candidates = [
            bucket("fast", vec![Some(with_time(fast))]),
            bucket("slow", vec![Some(with_time(slow))]),
        ];
        share(
            &weights(&candidates, MIB, &SelectionConfig::default()),
            "slow",
        )
    };
    // hub fills the gap: no own timing for the slow backend
    assert!(share_of_slow(t0, WriteEvidence::default()) < 0.02);
    // own evidence says it is fast: 0.7 × 1e-8 + 0.3 × 1e-6 still slow, but less
    let mixed = share_of_slow(t0, fast_own);
    assert!(mixed > 0.02 && mixed < 0.1, "{mixed}");
    // stale hub view: local only, equal shares
    let late = t0 + config.hub_staleness + Duration::from_secs(1);
    assert!((share_of_slow(late, WriteEvidence::default()) - 0.5).abs() < 1e-9);
}
