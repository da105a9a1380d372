//! Quiet status: 200 idle Buckets are not rewritten. With the operator running and nothing
//! written to them, a watch over every Bucket for two minutes sees no write that leaves the
//! status as it was, and only writes of moved (coarse) numbers, at most once per status
//! interval per Bucket. The write counts are printed (`--no-capture`) before the checks.
//!
//! It also checks that this apiserver (1.20) took the CRDs as generated: `int64` formats with
//! bounds, and the whole-object CEL rule with its `fieldPath` (which 1.20 drops with the
//! rest of `x-kubernetes-validations`).

use std::collections::HashMap;
use std::time::Duration;

use backrunner_crds::Bucket;
use backrunner_e2e::error::{E2eError, ensure};
use backrunner_e2e::manifests::{kind, name};
use backrunner_e2e::storage::DATA_GROUPS;
use backrunner_e2e::wait::{Probe, wait_for};
use backrunner_e2e::{Result, SystemOptions};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube::core::ObjectMeta;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{self, Apis};

/// Idle Buckets created.
const BUCKETS: usize = 200;
/// The operator's status interval in this scenario.
const STATUS_INTERVAL: Duration = Duration::from_secs(30);
/// How long writes are watched for.
const WINDOW: Duration = Duration::from_secs(120);
/// Label of the scenario's Buckets.
const LABEL: &str = "e2e.backrunner.io/quiet";

/// What a write changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// Nothing in the status (a rewrite of an untouched object).
    Nothing,
    /// Only numbers that follow the statistics.
    Numbers,
    /// Something else (a condition, a group's health, ...).
    State,
}

/// The status of `b` as JSON, and the same without the numbers that follow statistics.
fn status_parts(b: &Bucket) -> (Value, Value) {
    let full = serde_json::to_value(&b.status).unwrap_or_default();
    let mut shape = full.clone();
    if let Some(groups) = shape["resolvedGroups"].as_array_mut() {
        for g in groups {
            for k in ["records", "usedBytes"] {
                if let Some(v) = g.get_mut(k) {
                    *v = Value::Bool(true);
                }
            }
        }
    }
    if let Some(v) = shape["placement"].get_mut("freeBytes") {
        *v = Value::Bool(true);
    }
    if let Some(conds) = shape["conditions"].as_array_mut() {
        for c in conds {
            if matches!(c["type"].as_str(), Some("GroupsHealthy" | "ReplicasInSync")) {
                c["message"] = Value::Null;
            }
        }
    }
    (full, shape)
}

fn change(before: &Bucket, after: &Bucket) -> Change {
    let (a_full, a_shape) = status_parts(before);
    let (b_full, b_shape) = status_parts(after);
    if a_full == b_full {
        Change::Nothing
    } else if a_shape == b_shape {
        Change::Numbers
    } else {
        Change::State
    }
}

/// Ready, with group health from the statistics and a placement summary.
fn settled(b: &Bucket) -> bool {
    let Some(s) = &b.status else { return false };
    let cond = |t: &str| s.conditions.iter().find(|c| c.type_ == t);
    cond("Ready").is_some_and(|c| c.status == "True")
        && cond("GroupsHealthy").is_some_and(|c| c.reason != "NoStats" && c.reason != "Pending")
        && s.placement.is_some()
        && !s.resolved_groups.is_empty()
}

/// Idle Bucket `i` on `cluster`: its spec as a user writes it, every other field defaulted.
fn idle_bucket(i: usize, cluster: &str) -> Result<Bucket> {
    let spec =
        serde_json::from_value(json!({"clusterRef": {"name": cluster}, "groups": DATA_GROUPS}))?;
    let mut b = Bucket::new(&format!("idle-{i:03}"), spec);
    b.metadata = ObjectMeta {
        labels: Some([(LABEL.to_owned(), "1".to_owned())].into()),
        ..b.metadata
    };
    Ok(b)
}

#[tokio::test]
async fn idle_buckets_are_not_rewritten() -> Result<()> {
    let system = support::start(SystemOptions {
        status_interval_seconds: STATUS_INTERVAL.as_secs() as u32,
        resync_seconds: 10,
        ..Default::default()
    })
    .await?;
    system
        .run(async |system| {
            // The CRDs as generated are accepted and established.
            let crds: Api<CustomResourceDefinition> = Api::all(system.client());
            let crd = crds.get("buckets.backrunner.io").await?;
            let established = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            let v = serde_json::to_value(&crd).unwrap_or_default();
            let quota = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
                ["properties"]["quota"]["properties"]["maxSize"];
            ensure(established && quota["format"] == "int64", || {
                format!("Bucket CRD established: {established}; quota.maxSize: {quota}")
            })?;
            let mut docs = system.examples().await?;
            docs.retain(|d| kind(d) == "EllipticsCluster");
            system.apply(&docs, "cluster.json").await?;
            support::wait_all_ready(system, &docs).await?;
            let cluster = docs.first().map(|d| name(d).to_owned()).unwrap_or_default();
            let apis = Apis::new(system);
            for i in 0..BUCKETS {
                apis.buckets
                    .create(&PostParams::default(), &idle_bucket(i, &cluster)?)
                    .await?;
            }
            let lp = ListParams::default().labels(&format!("{LABEL}=1"));
            wait_for(
                "every idle Bucket Ready with group health",
                Duration::from_secs(300),
                async || {
                    let list = apis.buckets.list(&lp).await?;
                    let n = list.items.iter().filter(|b| settled(b)).count();
                    Ok(Probe::done_if(n == BUCKETS, || format!("{n} of {BUCKETS} settled")))
                },
            )
            .await?;

            // Watch every write for the window, from the list's resourceVersion.
            let list = apis.buckets.list(&lp).await?;
            let mut rv = list.metadata.resource_version.clone().unwrap_or_default();
            let mut last: HashMap<String, Bucket> = list
                .items
                .into_iter()
                .map(|b| (b.metadata.name.clone().unwrap_or_default(), b))
                .collect();
            let mut writes: HashMap<String, Vec<(Duration, Change)>> = HashMap::new();
            let start = Instant::now();
            let deadline = start + WINDOW;
            let wp = WatchParams::default()
                .labels(&format!("{LABEL}=1"))
                .timeout((WINDOW.as_secs() + 30) as u32);
            'window: while Instant::now() < deadline {
                let mut stream = apis.buckets.watch(&wp, &rv).await?.boxed();
                loop {
                    let next = match tokio::time::timeout_at(deadline, stream.try_next()).await {
                        Err(_) => break 'window,
                        Ok(next) => next?,
                    };
                    let Some(event) = next else { break };
                    match event {
                        WatchEvent::Modified(b) | WatchEvent::Added(b) => {
                            let key = b.metadata.name.clone().unwrap_or_default();
                            rv = b.metadata.resource_version.clone().unwrap_or(rv);
                            let kind = last.get(&key).map_or(Change::State, |old| change(old, &b));
                            writes.entry(key.clone()).or_default().push((start.elapsed(), kind));
                            last.insert(key, b);
                        }
                        WatchEvent::Deleted(b) => {
                            return Err(E2eError::Check(format!(
                                "Bucket {:?} deleted during the window",
                                b.metadata.name
                            )));
                        }
                        WatchEvent::Bookmark(b) => rv = b.metadata.resource_version,
                        WatchEvent::Error(e) => {
                            return Err(E2eError::Check(format!("watch: {e:?}")));
                        }
                    }
                }
            }

            let total: usize = writes.values().map(Vec::len).sum();
            let count = |c: Change| -> usize {
                writes
                    .values()
                    .map(|w| w.iter().filter(|(_, k)| *k == c).count())
                    .sum()
            };
            let per_bucket_minute = total as f64 / BUCKETS as f64 / (WINDOW.as_secs_f64() / 60.0);
            let report = format!(
                "{total} writes over {BUCKETS} idle Buckets in {}s ({per_bucket_minute:.2} per Bucket per minute; {} Buckets written): {} without any status change, {} of numbers only, {} of state",
                WINDOW.as_secs(),
                writes.len(),
                count(Change::Nothing),
                count(Change::Numbers),
                count(Change::State),
            );
            println!("quiet status: {report}");

            // No rewrite of an untouched object: every write changed something.
            ensure(count(Change::Nothing) == 0, || {
                format!("writes that changed nothing: {report}")
            })?;
            // Moving numbers at most once per status interval per Bucket (1 s of slack for
            // the apiserver), and no Bucket written more than the interval allows.
            let allowance = (WINDOW.as_secs() / STATUS_INTERVAL.as_secs()) as usize + 1;
            for (bucket, w) in &writes {
                ensure(w.len() <= allowance, || {
                    format!("{bucket}: {} writes (allowance {allowance}): {w:?}; {report}", w.len())
                })?;
                let numbers: Vec<Duration> = w
                    .iter()
                    .filter(|(_, k)| *k == Change::Numbers)
                    .map(|(t, _)| *t)
                    .collect();
                for pair in numbers.windows(2) {
                    ensure(
                        pair[1] - pair[0] + Duration::from_secs(1) >= STATUS_INTERVAL,
                        || format!("{bucket}: numbers written {pair:?} apart; {report}"),
                    )?;
                }
            }
            Ok(())
        })
        .await
}
