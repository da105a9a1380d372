//! Token rotation: bumping `rotation.generation` makes the operator generate a new token;
//! during `overlapSeconds` both the old and the new one work through both proxies, then only
//! the new one does.

use std::time::Duration;

use backrunner_crds::AclPolicy;
use backrunner_crds::acl_policy::RotationPhase;
use backrunner_e2e::error::ensure;
use backrunner_e2e::proxy::{Credentials, ProxyClient};
use backrunner_e2e::resources::{user_token, wait_condition};
use backrunner_e2e::system::NAMESPACE;
use backrunner_e2e::wait::{Probe, wait_for};
use backrunner_e2e::{Result, SystemOptions};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{self, Apis, edit_doc, proxies};

/// Overlap used by the scenario: long enough to observe both tokens working through two
/// proxies that refresh metadata every second, short enough to wait out.
const OVERLAP_SECONDS: u64 = 20;

#[tokio::test]
async fn token_rotation_keeps_both_tokens_during_overlap() -> Result<()> {
    let system = support::start(SystemOptions::default()).await?;
    system
        .run(async |system| {
            support::apply_examples_and_wait(system, |docs| {
                edit_doc(docs, "AclPolicy", "media-team", |d| {
                    if let Some(users) = d["spec"]["users"].as_array_mut() {
                        for u in users {
                            u["rotation"] =
                                json!({"generation": 0, "overlapSeconds": OVERLAP_SECONDS});
                        }
                    }
                });
            })
            .await?;
            let apis = Apis::new(system);
            let client = system.client();
            let policy = apis.policies.get("media-team").await?;
            let old = Credentials {
                user: "writer".into(),
                token: user_token(&client, NAMESPACE, &policy, "writer").await?,
            };
            let clients = proxies(system);
            for c in &clients {
                expect_upload(c, &old, true).await?;
            }

            // Rotate: bump the writer's generation.
            let mut rotated: AclPolicy = policy.clone();
            for u in &mut rotated.spec.users {
                if u.name == "writer" {
                    u.rotation.generation += 1;
                }
            }
            let users = json!({"spec": {"users": rotated.spec.users}});
            support::merge_patch(&apis.policies, "media-team", &users).await?;
            let new_token = wait_for(
                "a new writer token in the Secret",
                Duration::from_secs(60),
                async || {
                    let t = user_token(&client, NAMESPACE, &policy, "writer").await?;
                    Ok(if t != old.token {
                        Probe::Done(t)
                    } else {
                        Probe::Pending("old token".into())
                    })
                },
            )
            .await?;
            let new = Credentials {
                user: "writer".into(),
                token: new_token,
            };
            // The new token reaches both proxies; the old one still works meanwhile.
            for (i, c) in clients.iter().enumerate() {
                let what = format!("proxy-{i} to accept the new token");
                let limit = Duration::from_secs(30);
                let accepted = |s: StatusCode| s.is_success();
                wait_upload(c, &what, limit, ("rotated", b"new"), &new, accepted).await?;
                expect_upload(c, &old, true).await?;
            }
            let during = wait_condition(&apis.policies, "media-team", "Ready", "True").await?;
            let writer = during
                .status
                .as_ref()
                .and_then(|s| s.users.iter().find(|u| u.name == "writer").cloned());
            ensure(
                writer.as_ref().is_some_and(|w| {
                    w.rotation_phase == RotationPhase::Overlap && w.previous_fingerprint.is_some()
                }),
                || format!("writer status during the overlap: {writer:?}"),
            )?;
            // After the overlap only the new token works.
            for (i, c) in clients.iter().enumerate() {
                let what = format!("proxy-{i} to refuse the old token after the overlap");
                let limit = Duration::from_secs(OVERLAP_SECONDS + 60);
                let refused = |s: StatusCode| s.is_client_error();
                wait_upload(c, &what, limit, ("late", b"old"), &old, refused).await?;
                expect_upload(c, &new, true).await?;
            }
            Ok(())
        })
        .await
}

/// Waits up to `limit` (`what` names the wait) until uploading `(key, body)` to `videos` as
/// `creds` through `c` gets a status `done` accepts.
async fn wait_upload(
    c: &ProxyClient,
    what: &str,
    limit: Duration,
    (key, body): (&str, &[u8]),
    creds: &Credentials,
    done: impl Fn(StatusCode) -> bool,
) -> Result<()> {
    wait_for(what, limit, async || {
        let r = c.upload("videos", key, body.to_vec(), Some(creds)).await?;
        Ok(Probe::done_if(done(r.status), || r.to_string()))
    })
    .await
}

async fn expect_upload(c: &ProxyClient, creds: &Credentials, ok: bool) -> Result<()> {
    let r = c
        .upload("videos", "probe", b"probe".to_vec(), Some(creds))
        .await?;
    ensure(r.status.is_success() == ok, || {
        format!(
            "upload as {} (token expected to work: {ok}): {r}",
            creds.user
        )
    })
}
