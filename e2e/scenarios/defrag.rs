//! Defragmentation: after many deletions a backend's removed ratio passes the policy's
//! threshold, the operator creates a Job (owned by the EllipticsCluster) and never more than
//! the safety limits allow; the harness runs the Job's command locally (no kubelet here) and
//! sees the backend's disk space reclaimed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use backrunner_e2e::error::{E2eError, ensure, io};
use backrunner_e2e::storage::DATA_GROUPS;
use backrunner_e2e::system::NAMESPACE;
use backrunner_e2e::wait::{Probe, wait_for};
use backrunner_e2e::{Result, SystemOptions, backrunner_bin};
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use serde_json::json;

use crate::support::{self, bucket_and_writer, edit_doc, elliptics_name, proxies};

const OBJECTS: usize = 200;
const DELETED: usize = 160;
const OBJECT_SIZE: usize = 16 << 10;

#[tokio::test]
async fn defrag_job_appears_and_its_command_reclaims_space() -> Result<()> {
    let system = support::start(SystemOptions::default()).await?;
    system
        .run(async |system| {
            support::apply_examples_and_wait(system, |docs| {
                edit_doc(docs, "EllipticsCluster", "local", |d| {
                    d["spec"]["defragPolicy"]["removedRatioThreshold"] = json!(0.2);
                });
            })
            .await?;
            let (bucket, creds) = bucket_and_writer(system, "uploads").await?;
            let b = elliptics_name(&bucket);
            let client = &proxies(system)[0];
            for i in 0..OBJECTS {
                let r = client
                    .upload(
                        &b,
                        &format!("obj-{i}"),
                        vec![i as u8; OBJECT_SIZE],
                        creds.as_ref(),
                    )
                    .await?;
                ensure(r.status.is_success(), || format!("upload obj-{i}: {r}"))?;
            }
            for i in 0..DELETED {
                let r = client
                    .delete(&b, &format!("obj-{i}"), creds.as_ref())
                    .await?;
                ensure(r.status.is_success(), || format!("delete obj-{i}: {r}"))?;
            }
            let jobs: Api<Job> = Api::namespaced(system.client(), NAMESPACE);
            // The metadata group may qualify too (the operator rewrites metadata); wait for a
            // run on a data backend of the bucket.
            let job = wait_for(
                "a defrag Job on a data backend, owned by the EllipticsCluster",
                Duration::from_secs(120),
                async || {
                    let list = jobs.list(&Default::default()).await?;
                    let seen: Vec<String> = list.items.iter().filter_map(|j| j.metadata.name.clone()).collect();
                    Ok(match list.items.into_iter().find(|j| {
                        owned_by_cluster(j) && backend_of(j).is_some_and(|b| DATA_GROUPS.contains(&b))
                    }) {
                        Some(j) => Probe::Done(j),
                        None => Probe::Pending(format!("Jobs {seen:?}")),
                    })
                },
            )
            .await?;
            // Safety limits: at most one backend per node, and at most one of the bucket's two
            // groups at once (backend id = group id in the harness's storage layout).
            let running: Vec<Job> = jobs
                .list(&Default::default())
                .await?
                .items
                .into_iter()
                .filter(owned_by_cluster)
                .collect();
            let mut per_node = std::collections::BTreeMap::<String, usize>::new();
            for j in &running {
                let remote = job_argv(j).and_then(|a| flag(&a, "--remote"))?;
                *per_node.entry(remote).or_default() += 1;
            }
            ensure(per_node.values().all(|n| *n <= 1), || {
                format!("more than one defrag Job on a node: {per_node:?}")
            })?;
            let bucket_groups = running
                .iter()
                .filter(|j| backend_of(j).is_some_and(|b| DATA_GROUPS.contains(&b)))
                .count();
            ensure(bucket_groups <= 1, || {
                format!("{bucket_groups} of the bucket's 2 groups defragment at once; the policy allows 1")
            })?;

            let argv = job_argv(&job)?;
            let backend = flag(&argv, "--backend")?;
            let remote = flag(&argv, "--remote")?;
            let dir = backend_dir(system, &remote, &backend)?;
            let before = dir_size(&dir).await?;
            let out = tokio::process::Command::new(backrunner_bin()?)
                .args(&argv[1..])
                .output()
                .await
                .map_err(io("running the Job's command"))?;
            ensure(out.status.success(), || {
                format!(
                    "Job command {argv:?} failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
            let after = dir_size(&dir).await?;
            ensure(after < before, || {
                format!(
                    "backend {backend} on {remote}: {before} bytes before defrag, {after} after"
                )
            })?;
            eprintln!("defrag of backend {backend} on {remote}: {before} -> {after} bytes");
            // The surviving objects are intact.
            for i in DELETED..OBJECTS {
                let r = client.get(&b, &format!("obj-{i}"), creds.as_ref()).await?;
                ensure(
                    r.status.is_success() && r.body == vec![i as u8; OBJECT_SIZE],
                    || format!("obj-{i} after defrag: {r}"),
                )?;
            }
            Ok(())
        })
        .await
}

/// The `--backend` of a Job's command.
fn backend_of(job: &Job) -> Option<u32> {
    job_argv(job)
        .and_then(|a| flag(&a, "--backend"))
        .ok()
        .and_then(|b| b.parse().ok())
}

fn owned_by_cluster(job: &Job) -> bool {
    job.metadata
        .owner_references
        .as_ref()
        .is_some_and(|rs| rs.iter().any(|r| r.kind == "EllipticsCluster"))
}

/// The Job's command line, with the image's `backrunner` replaced by the local binary path
/// (argv[0]); the container's `command` is the image entrypoint when unset.
fn job_argv(job: &Job) -> Result<Vec<String>> {
    let container = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .ok_or_else(|| E2eError::Check("Job without a container".into()))?;
    let mut argv: Vec<String> = container.command.clone().unwrap_or_default();
    argv.extend(container.args.clone().unwrap_or_default());
    if argv.first().is_some_and(|a| a.ends_with("backrunner")) {
        argv.remove(0);
    }
    ensure(argv.first().is_some_and(|a| a == "defrag"), || {
        format!("Job command is not `backrunner defrag …`: {argv:?}")
    })?;
    argv.insert(0, "backrunner".into());
    Ok(argv)
}

fn flag(argv: &[String], name: &str) -> Result<String> {
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1).cloned())
        .or_else(|| {
            argv.iter()
                .find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_owned))
        })
        .ok_or_else(|| E2eError::Check(format!("Job command has no {name}: {argv:?}")))
}

/// The data directory of `backend` on the node at `remote`.
fn backend_dir(system: &backrunner_e2e::System, remote: &str, backend: &str) -> Result<PathBuf> {
    let node = system
        .storage
        .nodes
        .iter()
        .find(|n| {
            let a = n.addr.to_string();
            a == remote
                || a.rsplit_once(':')
                    .is_some_and(|(host_port, _)| host_port == remote)
        })
        .ok_or_else(|| E2eError::Check(format!("no node at {remote}")))?;
    let dir = node
        .config
        .parent()
        .map(|p| p.join(format!("b{backend}")))
        .ok_or_else(|| E2eError::Check("node config without a directory".into()))?;
    Ok(dir)
}

async fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries = tokio::fs::read_dir(&d)
            .await
            .map_err(io(format!("listing {}", d.display())))?;
        while let Ok(Some(e)) = entries.next_entry().await {
            let meta = e.metadata().await.map_err(io("stat"))?;
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}
