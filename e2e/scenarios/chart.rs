//! The Helm chart installs into a real apiserver with a real Helm, and the operator's
//! ServiceAccount gets the permissions the operator needs (checked with `kubectl auth can-i`
//! as that account).

use backrunner_e2e::chart::install_chart;
use backrunner_e2e::error::ensure;
use backrunner_e2e::service_account::operator_kubeconfig;
use backrunner_e2e::system::NAMESPACE;
use backrunner_e2e::{ControlPlane, Result};

#[tokio::test]
async fn helm_chart_installs_with_least_privilege_rbac() -> Result<()> {
    let cp = ControlPlane::start().await?;
    let result = scenario(&cp).await;
    if let Err(e) = &result {
        eprintln!("e2e: FAILED: {e}\n{}", cp.log_tails(30).await);
    }
    cp.keep_if_asked();
    result
}

async fn scenario(cp: &ControlPlane) -> Result<()> {
    cp.kubectl(&["create", "namespace", NAMESPACE]).await?;
    let out = install_chart(cp, NAMESPACE).await?;
    eprintln!("helm: {out}");
    let objects = cp
        .kubectl(&[
            "get",
            "deploy,svc,cm,sa,role,rolebinding",
            "-n",
            NAMESPACE,
            "-o",
            "name",
        ])
        .await?;
    eprintln!("installed:\n{objects}");
    ensure(
        objects.contains("deployment.apps/backrunner-operator"),
        || format!("no operator Deployment among:\n{objects}"),
    )?;
    ensure(objects.contains("deployment.apps/backrunner-proxy"), || {
        format!("no proxy Deployment among:\n{objects}")
    })?;
    let kubeconfig = operator_kubeconfig(cp, NAMESPACE).await?;
    let kc = kubeconfig.display().to_string();
    // What the operator does, as the operator's ServiceAccount.
    let must = [
        ("watch", "buckets.backrunner.io"),
        ("patch", "buckets.backrunner.io/status"),
        ("patch", "buckets.backrunner.io"),
        ("watch", "aclpolicies.backrunner.io"),
        ("patch", "aclpolicies.backrunner.io/status"),
        ("watch", "ellipticsclusters.backrunner.io"),
        ("patch", "ellipticsclusters.backrunner.io/status"),
        ("create", "secrets"),
        ("patch", "secrets"),
        ("watch", "secrets"),
        ("create", "jobs.batch"),
        ("watch", "jobs.batch"),
        ("create", "events"),
        ("create", "leases.coordination.k8s.io"),
        ("update", "leases.coordination.k8s.io/backrunner-operator"),
    ];
    for (verb, resource) in must {
        let answer = can_i(cp, &kc, verb, resource).await?;
        ensure(answer == "yes", || {
            format!("operator ServiceAccount cannot {verb} {resource}: {answer}")
        })?;
    }
    // Least privilege: nothing cluster-wide it does not need.
    for (verb, resource) in [
        ("delete", "namespaces"),
        ("create", "clusterrolebindings"),
        ("create", "pods/exec"),
        ("update", "leases.coordination.k8s.io/someone-else"),
    ] {
        let answer = can_i(cp, &kc, verb, resource).await?;
        ensure(answer == "no", || {
            format!("operator ServiceAccount may {verb} {resource}, which it does not need")
        })?;
    }
    Ok(())
}

async fn can_i(cp: &ControlPlane, kubeconfig: &str, verb: &str, resource: &str) -> Result<String> {
    let out = tokio::process::Command::new(backrunner_e2e::control_plane::kubectl_bin())
        .args([
            "--kubeconfig",
            kubeconfig,
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            NAMESPACE,
        ])
        .output()
        .await
        .map_err(backrunner_e2e::error::io("kubectl auth can-i"))?;
    let _ = cp;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
