//! Placement hub: both proxies report their per-backend write timings to the operator, which
//! serves the merged view and counts the reporting proxies in the EllipticsCluster status.

use std::time::Duration;

use backrunner_e2e::storage::DATA_GROUPS;
use backrunner_e2e::wait::{Probe, wait_for};
use backrunner_e2e::{E2eError, Result, SystemOptions};
use backrunner_placement::wire::{PLACEMENT_PATH, PlacementView};

use crate::support::{self, Apis, bucket_and_writer, elliptics_name, round_trip};

#[tokio::test]
async fn placement_hub_merges_both_proxies_reports() -> Result<()> {
    let system = support::start(SystemOptions {
        operators: 1,
        leader_election: false,
        placement_hub: true,
        ..Default::default()
    })
    .await?;
    system
        .run(async |system| {
            support::apply_examples_and_wait(system, |docs| {
                crate::support::edit_doc(docs, "EllipticsCluster", "local", |d| {
                    d["spec"]["placement"] =
                        serde_json::json!({"reportIntervalSeconds": 1, "stalenessSeconds": 10});
                });
            })
            .await?;
            let (bucket, creds) = bucket_and_writer(system, "uploads").await?;
            let b = elliptics_name(&bucket);
            for i in 0..20 {
                round_trip(
                    system,
                    &b,
                    &format!("p{i}"),
                    &[1u8; 8192],
                    creds.as_ref(),
                    i % 2,
                )
                .await?;
            }
            let hub = system
                .operators
                .iter()
                .flatten()
                .next()
                .map(|o| format!("{}{PLACEMENT_PATH}", o.url))
                .ok_or_else(|| E2eError::Check("no operator".into()))?;
            let http = reqwest::Client::new();
            // Both proxies wrote to both data backends: each must appear with two reporters.
            wait_for(
                "a placement view with both data backends reported by both proxies",
                Duration::from_secs(60),
                async || {
                    let bytes = http.get(&hub).send().await?.bytes().await?;
                    let v: PlacementView = serde_json::from_slice(&bytes)?;
                    let both = |g: u32| v.backends.iter().any(|m| m.group == g && m.reporters >= 2);
                    Ok(
                        if v.reporting_proxies >= 2 && DATA_GROUPS.iter().all(|g| both(*g)) {
                            Probe::Done(v)
                        } else {
                            Probe::Pending(format!("{v:?}"))
                        },
                    )
                },
            )
            .await?;
            let apis = Apis::new(system);
            wait_for(
                "EllipticsCluster status.reportingProxies = 2",
                Duration::from_secs(60),
                async || {
                    let ec = apis.clusters.get("local").await?;
                    let n = ec.status.as_ref().map(|s| s.reporting_proxies).unwrap_or(0);
                    Ok(Probe::done_if(n >= 2, || format!("{n}")))
                },
            )
            .await
        })
        .await
}
