//! The harness itself: the control plane serves, RBAC and token auth are on, and the
//! controller manager's garbage collector and Job controller run.

use std::time::Duration;

use backrunner_e2e::error::ensure;
use backrunner_e2e::wait::{Probe, wait_for};
use backrunner_e2e::{ControlPlane, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};

#[tokio::test]
async fn control_plane_serves_and_collects_garbage() -> Result<()> {
    let cp = ControlPlane::start().await?;
    let result = garbage_collection(&cp).await;
    if result.is_err() {
        eprintln!("{}", cp.log_tails(40).await);
    }
    cp.keep_if_asked();
    result
}

async fn garbage_collection(cp: &ControlPlane) -> Result<()> {
    let version = cp.kubectl(&["version", "-o", "json"]).await?;
    ensure(version.contains("\"serverVersion\""), || {
        format!("kubectl version: {version}")
    })?;
    let cms: Api<ConfigMap> = Api::namespaced(cp.client(), "default");
    let owner = cms
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("owner".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
    let uid = owner.metadata.uid.clone().unwrap_or_default();
    cms.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: ObjectMeta {
                name: Some("dependent".into()),
                owner_references: Some(vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    name: "owner".into(),
                    uid,
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await?;
    cms.delete("owner", &DeleteParams::background()).await?;
    wait_for(
        "the garbage collector to delete the dependent",
        Duration::from_secs(60),
        async || {
            Ok(match cms.get_opt("dependent").await? {
                None => Probe::Done(()),
                Some(_) => Probe::Pending("dependent still exists".into()),
            })
        },
    )
    .await
}

/// The rest of the harness without an operator: nodes, both proxies, the chart (or CRDs) and
/// the patched examples accepted by the apiserver; proxies know no bucket yet.
#[tokio::test]
async fn harness_applies_examples_and_runs_proxies() -> Result<()> {
    let system = backrunner_e2e::System::start(backrunner_e2e::SystemOptions {
        operators: 0,
        ..Default::default()
    })
    .await?;
    system
        .run(async |system| {
            let docs = system.examples().await?;
            let applied = system.apply(&docs, "examples.json").await?;
            for kind in [
                "ellipticscluster.backrunner.io/",
                "aclpolicy.backrunner.io/",
                "bucket.backrunner.io/",
                "secret/",
            ] {
                ensure(applied.contains(kind), || {
                    format!("kubectl apply output lacks a {kind}:\n{applied}")
                })?;
            }
            let listed = system
                .cp
                .kubectl(&[
                    "get",
                    "backrunner",
                    "-n",
                    backrunner_e2e::system::NAMESPACE,
                    "-o",
                    "name",
                ])
                .await?;
            ensure(listed.lines().count() == 6, || {
                format!("kubectl get backrunner:\n{listed}")
            })?;
            for p in &system.proxies {
                let r = p.client().get("videos", "nothing", None).await?;
                ensure(r.status == reqwest::StatusCode::NOT_FOUND, || {
                    format!("{} answered {r} for a bucket nobody created", p.url)
                })?;
            }
            Ok(())
        })
        .await
}
