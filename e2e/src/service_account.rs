//! Running a process as the chart's operator ServiceAccount: finds it through the operator
//! Deployment, waits for the token Secret the controller manager creates (Kubernetes 1.20
//! still makes one per ServiceAccount), and writes a kubeconfig with that token — so the
//! operator runs with exactly the RBAC the chart grants.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;

use crate::control_plane::ControlPlane;
use crate::error::{E2eError, Result};
use crate::wait::{Probe, wait_for};

/// The ServiceAccount of the chart's operator Deployment in `ns`.
pub async fn operator_service_account(cp: &ControlPlane, ns: &str) -> Result<String> {
    let deployments: Api<Deployment> = Api::namespaced(cp.client(), ns);
    let list = deployments.list(&Default::default()).await?;
    list.items
        .iter()
        .find(|d| {
            d.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.ends_with("-operator"))
        })
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.service_account_name.clone())
        .ok_or_else(|| {
            E2eError::Check(format!(
                "no operator Deployment with a serviceAccountName in {ns}"
            ))
        })
}

/// The bearer token of ServiceAccount `sa` (waits for its token Secret).
pub async fn service_account_token(cp: &ControlPlane, ns: &str, sa: &str) -> Result<String> {
    let sas: Api<ServiceAccount> = Api::namespaced(cp.client(), ns);
    let secrets: Api<Secret> = Api::namespaced(cp.client(), ns);
    wait_for(
        &format!("token Secret of ServiceAccount {ns}/{sa}"),
        Duration::from_secs(60),
        async || {
            let Some(account) = sas.get_opt(sa).await? else {
                return Ok(Probe::Pending("no ServiceAccount".into()));
            };
            for r in account.secrets.unwrap_or_default() {
                let Some(name) = r.name else { continue };
                if let Some(s) = secrets.get_opt(&name).await? {
                    if let Some(t) = s.data.as_ref().and_then(|d| d.get("token")) {
                        return Ok(Probe::Done(String::from_utf8_lossy(&t.0).into_owned()));
                    }
                }
            }
            Ok(Probe::Pending("no token Secret yet".into()))
        },
    )
    .await
}

/// A kubeconfig for the chart's operator ServiceAccount.
pub async fn operator_kubeconfig(cp: &ControlPlane, ns: &str) -> Result<PathBuf> {
    let sa = operator_service_account(cp, ns).await?;
    let token = service_account_token(cp, ns, &sa).await?;
    cp.kubeconfig_for_token(&sa, &token).await
}
