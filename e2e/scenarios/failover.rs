//! High availability: two operator replicas share a Lease; killing the leader hands the
//! Lease to the other, which keeps reconciling (a new Bucket becomes Ready); with every
//! operator down, reads and writes through the proxies go on. Before the kill, the follower
//! answers the placement hub by forwarding to the leader.

use std::time::Duration;

use backrunner_e2e::error::ensure;
use backrunner_e2e::operator::LEASE_NAME;
use backrunner_e2e::resources::{lease_holder, wait_condition};
use backrunner_e2e::system::NAMESPACE;
use backrunner_e2e::wait::{Probe, wait_for};
use backrunner_e2e::{E2eError, Result, SystemOptions};
use serde_json::json;

use crate::support::{self, Apis, bucket_and_writer, elliptics_name, round_trip};

#[tokio::test]
async fn leader_failover_and_data_path_without_operator() -> Result<()> {
    let system = support::start(SystemOptions {
        operators: 2,
        leader_election: true,
        placement_hub: false,
        ..Default::default()
    })
    .await?;
    system
        .run(async |system| {
            let docs = support::apply_examples_and_wait(system, |_| {}).await?;
            let client = system.client();
            let names: Vec<String> = system
                .operators
                .iter()
                .flatten()
                .map(|o| o.identity.clone())
                .collect();
            let leader = wait_for(
                "a Lease holder among the operators",
                Duration::from_secs(60),
                async || {
                    Ok(match lease_holder(&client, NAMESPACE, LEASE_NAME).await? {
                        Some(h) if names.contains(&h) => Probe::Done(h),
                        other => Probe::Pending(format!("holder {other:?}")),
                    })
                },
            )
            .await?;
            let index = names
                .iter()
                .position(|n| *n == leader)
                .ok_or_else(|| E2eError::Check(format!("unknown leader {leader}")))?;
            // The follower serves the placement hub by forwarding to the leader, whose URL
            // it reads from the Lease (proxies reach the hub through one Service).
            let follower_url = system.operators[1 - index]
                .as_ref()
                .map(|o| format!("{}{}", o.url, backrunner_placement::wire::PLACEMENT_PATH))
                .ok_or_else(|| E2eError::Check("no follower".into()))?;
            let http = reqwest::Client::new();
            wait_for(
                "the follower answering the placement hub through the leader",
                Duration::from_secs(30),
                async || {
                    let r = http.get(&follower_url).send().await?;
                    let status = r.status().as_u16();
                    let body = r.text().await?;
                    Ok(Probe::done_if(
                        status == 200 && body.contains("reporting_proxies"),
                        || format!("{status} {body}"),
                    ))
                },
            )
            .await?;
            let killed_at = tokio::time::Instant::now();
            if let Some(op) = system.operators[index].as_mut() {
                op.proc.kill().await;
            }
            system.operators[index] = None;
            let follower = names[1 - index].clone();
            wait_for(
                &format!("{follower} to take the Lease over"),
                Duration::from_secs(60),
                async || {
                    Ok(match lease_holder(&client, NAMESPACE, LEASE_NAME).await? {
                        Some(h) if h == follower => Probe::Done(()),
                        other => Probe::Pending(format!("holder {other:?}")),
                    })
                },
            )
            .await?;
            eprintln!(
                "failover: {follower} holds the Lease {:.1} s after {leader} was killed",
                killed_at.elapsed().as_secs_f64()
            );

            // The new leader reconciles: a new Bucket becomes Ready and serves.
            let template = docs
                .iter()
                .find(|d| d["kind"] == "Bucket" && d["metadata"]["name"] == "uploads")
                .cloned()
                .ok_or_else(|| E2eError::Check("no `uploads` Bucket in the examples".into()))?;
            let mut fresh = template;
            fresh["metadata"]["name"] = json!("after-failover");
            system.apply(&[fresh], "after-failover.json").await?;
            let apis = Apis::new(system);
            wait_condition(&apis.buckets, "after-failover", "Ready", "True").await?;
            round_trip(system, "after-failover", "k", b"after failover", None, 0).await?;

            // Every operator down: the data path does not notice.
            for op in system.operators.iter_mut().flatten() {
                op.proc.kill().await;
            }
            system.operators.iter_mut().for_each(|o| *o = None);
            for name in ["videos", "private", "uploads", "after-failover"] {
                let (bucket, creds) = bucket_and_writer(system, name).await?;
                let b = elliptics_name(&bucket);
                round_trip(system, &b, "no-operator", b"still here", creds.as_ref(), 1).await?;
            }
            let (_, creds) = bucket_and_writer(system, "after-failover").await?;
            let old = crate::support::proxies(system)[0]
                .get("after-failover", "k", creds.as_ref())
                .await?;
            ensure(
                old.status.is_success() && old.body == b"after failover",
                || format!("object written before the operators died: {old}"),
            )
        })
        .await
}
