//! Installing Backrunner into the e2e apiserver: the Helm chart with a real Helm
//! (`e2e/helm/install.py` over the `helm-sdkpy` library), or — when the chart or Helm is
//! unavailable — the generated CRDs alone with `kubectl apply --validate=false` (1.20 does
//! not know `x-kubernetes-validations`). Either way it waits until the CRDs are Established.

use std::path::{Path, PathBuf};
use std::time::Duration;

use backrunner_crds::CustomResourceDefinition;
use kube::Api;

use crate::control_plane::ControlPlane;
use crate::error::{E2eError, Result, io};
use crate::wait::{Probe, wait_for};

/// Release name of the chart in every scenario.
pub const RELEASE: &str = "backrunner";

/// How Backrunner got installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// `helm install` of `charts/backrunner` succeeded; Helm's output.
    Chart(String),
    /// Only the CRDs were applied, for this reason.
    CrdsOnly(String),
}

/// The workspace root (parent of `e2e/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `charts/backrunner`.
pub fn chart_dir() -> PathBuf {
    workspace_root().join("charts").join("backrunner")
}

/// Installs the chart into `namespace` with `charts/backrunner/ci/e2e-values.yaml`; fails
/// with Helm's output when Helm fails. Waits for the CRDs.
pub async fn install_chart(cp: &ControlPlane, namespace: &str) -> Result<String> {
    let chart = chart_dir();
    if tokio::fs::metadata(chart.join("Chart.yaml")).await.is_err() {
        return Err(E2eError::Missing(format!(
            "no chart at {}",
            chart.display()
        )));
    }
    let mut args = vec![
        helm_script().display().to_string(),
        "--kubeconfig".into(),
        cp.kubeconfig().display().to_string(),
        "--namespace".into(),
        namespace.into(),
        "--release".into(),
        RELEASE.into(),
        "--chart".into(),
        chart.display().to_string(),
    ];
    let values_yaml = chart.join("ci").join("e2e-values.yaml");
    if let Ok(text) = tokio::fs::read_to_string(&values_yaml).await {
        let values: serde_json::Value = yaml_serde::from_str(&text)?;
        let json = cp.dir().join("e2e-values.json");
        tokio::fs::write(&json, serde_json::to_vec(&values)?)
            .await
            .map_err(io("writing the values JSON"))?;
        args.push("--values-json".into());
        args.push(json.display().to_string());
    }
    let out = tokio::process::Command::new(python())
        .args(&args)
        .output()
        .await
        .map_err(io("running e2e/helm/install.py"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(E2eError::Check(format!(
            "helm install failed ({}):\n{text}",
            out.status
        )));
    }
    wait_crds(cp).await?;
    Ok(text)
}

/// Applies `crds/yaml/*.yaml` with kubectl and waits for them.
pub async fn apply_crds(cp: &ControlPlane) -> Result<()> {
    let dir = workspace_root().join("crds").join("yaml");
    cp.kubectl(&[
        "apply",
        "--validate=false",
        "-f",
        &dir.display().to_string(),
    ])
    .await?;
    wait_crds(cp).await
}

/// The chart if it installs, else the CRDs alone (the reason is returned and logged).
pub async fn install_or_crds(cp: &ControlPlane, namespace: &str) -> Result<Installed> {
    match install_chart(cp, namespace).await {
        Ok(out) => Ok(Installed::Chart(out)),
        Err(e) => {
            let reason = e.to_string();
            eprintln!("e2e: chart not installed, applying the CRDs alone: {reason}");
            apply_crds(cp).await?;
            Ok(Installed::CrdsOnly(reason))
        }
    }
}

/// Waits until every Backrunner CRD is Established.
pub async fn wait_crds(cp: &ControlPlane) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(cp.client());
    for file in backrunner_crds::crds() {
        let name = file.crd.metadata.name.clone().unwrap_or_default();
        wait_for(
            &format!("CRD {name} Established"),
            Duration::from_secs(60),
            async || {
                let Some(crd) = api.get_opt(&name).await? else {
                    return Ok(Probe::Pending("absent".into()));
                };
                let established = crd
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                Ok(Probe::done_if(established, || format!("{:?}", crd.status)))
            },
        )
        .await?;
    }
    Ok(())
}

fn helm_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("helm")
        .join("install.py")
}

fn python() -> String {
    std::env::var("E2E_PYTHON").unwrap_or_else(|_| "python3".into())
}
