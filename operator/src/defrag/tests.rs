//! Tests of the defrag planner and of the Job it creates.

use backrunner_crds::EllipticsCluster;
use backrunner_crds::cluster::{DefragPolicy, DefragResult, DefragWindow, EllipticsClusterSpec};
use k8s_openapi::chrono::{TimeZone, Utc};

use super::job::{build_job, label_value, run_of, runs_for_status, selector};
use super::*;

fn cand(node: &str, backend: i32, group: u32, removed: f64) -> Candidate {
    Candidate {
        node: node.into(),
        backend,
        group,
        removed_ratio: removed,
        free_ratio: 0.5,
        defragmenting: false,
    }
}

fn plan_with(
    policy: &DefragPolicy,
    cands: &[Candidate],
    busy: &Busy,
    buckets: &[Vec<u32>],
) -> Result<Vec<(String, i32)>, Skip> {
    plan(&PlanInput {
        policy,
        minute_of_day: 600,
        candidates: cands,
        busy,
        buckets,
    })
    .map(|v| v.into_iter().map(|c| (c.node, c.backend)).collect())
}

#[test]
fn thresholds_decide_need() {
    let p = DefragPolicy::default(); // 0.3 removed ratio
    let cands = [
        cand("a", 1, 1, 0.29),
        cand("a", 2, 2, 0.3),
        cand("b", 1, 3, 0.0),
    ];
    let got = plan_with(&p, &cands, &Busy::default(), &[]);
    assert_eq!(got, Ok(vec![("a".into(), 2)]));
    // min_free_ratio: only backends at most this free qualify.
    let p = DefragPolicy {
        min_free_ratio: 0.4,
        ..DefragPolicy::default()
    };
    assert_eq!(plan_with(&p, &cands, &Busy::default(), &[]), Ok(vec![]));
}

#[test]
fn suspend_and_window_stop_new_runs() {
    let cands = [cand("a", 1, 1, 0.9)];
    let p = DefragPolicy {
        suspend: true,
        ..DefragPolicy::default()
    };
    assert_eq!(
        plan_with(&p, &cands, &Busy::default(), &[]),
        Err(Skip::Suspended)
    );
    let p = DefragPolicy {
        window: Some(DefragWindow {
            start: "01:00".into(),
            end: "03:00".into(),
        }),
        ..DefragPolicy::default()
    };
    // minute 600 = 10:00, outside.
    assert_eq!(
        plan_with(&p, &cands, &Busy::default(), &[]),
        Err(Skip::OutsideWindow)
    );
    let inside = plan(&PlanInput {
        policy: &p,
        minute_of_day: 90,
        candidates: &cands,
        busy: &Busy::default(),
        buckets: &[],
    });
    assert_eq!(inside.map(|v| v.len()), Ok(1));
}

#[test]
fn at_most_max_per_node_counting_running_ones() {
    let p = DefragPolicy::default(); // max_per_node 1
    let cands = [
        cand("a", 1, 1, 0.5),
        cand("a", 2, 2, 0.9),
        cand("b", 1, 3, 0.4),
    ];
    // The worst backend of node a wins; node b gets its own.
    assert_eq!(
        plan_with(&p, &cands, &Busy::default(), &[]),
        Ok(vec![("a".into(), 2), ("b".into(), 1)])
    );
    // Node a already runs one (by Job): only b.
    let busy = Busy {
        running: vec![("a".into(), 7, 9)],
        cooling: vec![],
    };
    assert_eq!(plan_with(&p, &cands, &busy, &[]), Ok(vec![("b".into(), 1)]));
    let p2 = DefragPolicy {
        max_per_node: 2,
        ..DefragPolicy::default()
    };
    assert_eq!(
        plan_with(&p2, &cands, &Busy::default(), &[]).map(|v| v.len()),
        Ok(3)
    );
}

#[test]
fn never_a_backend_already_defragmenting_or_cooling() {
    let p = DefragPolicy {
        max_per_node: 4,
        ..DefragPolicy::default()
    };
    let mut running = cand("a", 1, 1, 0.9);
    running.defragmenting = true;
    let cands = [running, cand("a", 2, 2, 0.8), cand("a", 3, 3, 0.7)];
    let busy = Busy {
        running: vec![],
        cooling: vec![("a".into(), 3)],
    };
    assert_eq!(plan_with(&p, &cands, &busy, &[]), Ok(vec![("a".into(), 2)]));
    // A running Job for the backend blocks it too.
    let busy = Busy {
        running: vec![("a".into(), 2, 2)],
        cooling: vec![],
    };
    assert_eq!(plan_with(&p, &cands, &busy, &[]), Ok(vec![("a".into(), 3)]));
}

#[test]
fn never_more_than_half_of_a_bucket_groups() {
    let p = DefragPolicy {
        max_per_node: 10,
        ..DefragPolicy::default()
    };
    // Bucket [1, 2]: one group at a time. Bucket [3, 4, 5, 6]: two at a time.
    let buckets = vec![vec![1, 2], vec![3, 4, 5, 6]];
    let cands = [
        cand("a", 1, 1, 0.9),
        cand("b", 1, 2, 0.8),
        cand("a", 3, 3, 0.7),
        cand("b", 4, 4, 0.6),
        cand("c", 5, 5, 0.5),
        cand("c", 6, 6, 0.4),
    ];
    assert_eq!(
        plan_with(&p, &cands, &Busy::default(), &buckets),
        Ok(vec![("a".into(), 1), ("a".into(), 3), ("b".into(), 4)])
    );
    // Group 2 already defragmenting (statistics): group 1 must wait.
    let mut g2 = cand("b", 1, 2, 0.8);
    g2.defragmenting = true;
    let cands = [cand("a", 1, 1, 0.9), g2];
    assert_eq!(
        plan_with(&p, &cands, &Busy::default(), &buckets),
        Ok(vec![])
    );
    // A group shared by two buckets obeys both.
    let buckets = vec![vec![1, 2], vec![2, 3]];
    let cands = [
        cand("a", 1, 1, 0.9),
        cand("b", 1, 2, 0.8),
        cand("c", 1, 3, 0.7),
    ];
    assert_eq!(
        plan_with(&p, &cands, &Busy::default(), &buckets),
        Ok(vec![("a".into(), 1), ("c".into(), 1)])
    );
}

#[test]
fn single_group_buckets_never_defragment() {
    let p = DefragPolicy::default();
    let cands = [cand("a", 1, 1, 0.9), cand("b", 1, 2, 0.9)];
    assert_eq!(
        plan_with(&p, &cands, &Busy::default(), &[vec![1]]),
        Ok(vec![("b".into(), 1)])
    );
}

fn cluster() -> EllipticsCluster {
    let mut c = EllipticsCluster::new(
        "storage",
        EllipticsClusterSpec {
            remotes: vec!["10.0.0.1:1025:2".into()],
            metadata_groups: vec![1],
            protocol_version: Default::default(),
            allowed_namespaces: Default::default(),
            bucket_list_key: None,
            defrag_policy: Default::default(),
            placement: Default::default(),
        },
    );
    c.metadata.namespace = Some("ns".into());
    c.metadata.uid = Some("uid-1".into());
    c
}

#[test]
fn job_runs_the_defrag_command_owned_by_the_cluster() -> Result<(), String> {
    let now = Utc.timestamp_opt(1_700_000_000, 0).single().ok_or("time")?;
    let c = cand("10.0.0.1:1025:2", 3, 2, 0.9);
    let job = build_job(&cluster(), &c, "img:1", now);
    let name = job.metadata.name.clone().ok_or("name")?;
    assert!(
        name.len() <= 63 && name.starts_with("storage-defrag-"),
        "{name}"
    );
    let owner = job
        .metadata
        .owner_references
        .clone()
        .and_then(|o| o.into_iter().next())
        .ok_or("owner")?;
    assert_eq!(owner.kind, "EllipticsCluster");
    assert_eq!(owner.controller, Some(true));
    let spec = job.spec.clone().ok_or("spec")?;
    let pod = spec.template.spec.ok_or("pod")?;
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("img:1"));
    assert_eq!(container.command, Some(vec!["backrunner".to_string()]));
    assert_eq!(
        container.args,
        Some(
            [
                "defrag",
                "--remote",
                "10.0.0.1:1025:2",
                "--backend",
                "3",
                "--wait"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    let labels = job.metadata.labels.clone().ok_or("labels")?;
    assert_eq!(
        labels.get(job::LABEL_NODE).map(String::as_str),
        Some("10.0.0.1-1025-2")
    );
    assert!(selector("storage").contains("backrunner.io/cluster=storage"));
    // The Job reads back as a running run of that backend.
    let run = run_of(&job).ok_or("run")?;
    assert_eq!(
        (run.remote.as_str(), run.backend, run.group),
        ("10.0.0.1:1025:2", 3, 2)
    );
    assert_eq!(run.result, DefragResult::Running);
    Ok(())
}

#[test]
fn label_values_are_valid() {
    assert_eq!(label_value("[::1]:1025:10"), "1--1025-10");
    let long = label_value(&"x".repeat(100));
    assert!(long.len() <= 63);
}

#[test]
fn status_keeps_running_runs_and_the_newest_finished() {
    let run = |name: &str, secs: i64, result| backrunner_crds::cluster::DefragRun {
        remote: "n".into(),
        backend: 1,
        group: 1,
        job_name: name.into(),
        start_time: Utc
            .timestamp_opt(secs, 0)
            .single()
            .map(backrunner_crds::condition::Time),
        completion_time: None,
        result,
    };
    let mut runs: Vec<_> = (0..20)
        .map(|i| run(&format!("f{i}"), i, DefragResult::Succeeded))
        .collect();
    runs.push(run("r", 0, DefragResult::Running));
    let out = runs_for_status(runs);
    assert_eq!(out.len(), 1 + job::MAX_FINISHED_RUNS);
    assert_eq!(out[0].job_name, "r");
    assert_eq!(out[1].job_name, "f19");
}
