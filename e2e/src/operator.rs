//! `backrunner operator` processes: configuration file, kubeconfig and leader-election
//! identity per replica; started and awaited on `/healthz`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;
use crate::process::{Proc, free_port};

/// Name of the leader-election Lease the e2e operators share.
pub const LEASE_NAME: &str = "backrunner-operator";

/// What one operator replica runs with.
#[derive(Debug, Clone)]
pub struct OperatorSettings {
    /// Replica name: log file, Lease identity.
    pub name: String,
    /// Kubeconfig the process uses (admin, or the chart's service account).
    pub kubeconfig: PathBuf,
    /// Namespace of the Lease (and `POD_NAMESPACE`).
    pub namespace: String,
    /// Install id written into ownership records.
    pub install_id: String,
    /// Leader election on (HA scenario) or off (single replica).
    pub leader_election: bool,
    /// `status_interval_seconds` of the operator (moving numbers in status at most this often).
    pub status_interval_seconds: u32,
    /// `resync_seconds` of the operator (requeue of a reconciled object).
    pub resync_seconds: u32,
}

/// A running `backrunner operator`.
#[derive(Debug)]
pub struct OperatorProcess {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:<port>`: metrics, health and (on the leader) the placement hub.
    pub url: String,
    /// Its Lease identity.
    pub identity: String,
}

impl OperatorProcess {
    /// Writes `<dir>/<name>.toml` and starts the operator; returns once `/healthz` answers.
    pub async fn start(settings: &OperatorSettings, dir: &Path, log_dir: &Path) -> Result<Self> {
        let port = free_port()?;
        let toml = format!(
            "listen = \"127.0.0.1:{port}\"\ninstall_id = \"{install}\"\nstats_interval_seconds = 1\nstatus_interval_seconds = {status}\nresync_seconds = {resync}\ndefrag_image = \"backrunner:e2e\"\n\n[leader_election]\nenabled = {le}\nlease_name = \"{LEASE_NAME}\"\nlease_namespace = \"{ns}\"\nidentity = \"{name}\"\nlease_seconds = 4\nrenew_seconds = 1\n",
            install = settings.install_id,
            status = settings.status_interval_seconds,
            resync = settings.resync_seconds,
            le = settings.leader_election,
            ns = settings.namespace,
            name = settings.name,
        );
        let envs = [
            ("KUBECONFIG", settings.kubeconfig.display().to_string()),
            ("POD_NAMESPACE", settings.namespace.clone()),
            ("POD_NAME", settings.name.clone()),
            ("BACKRUNNER_LOG", "info,kube=warn".to_owned()),
        ];
        let name = &settings.name;
        let mut proc = crate::spawn_backrunner("operator", name, toml, dir, &envs, log_dir).await?;
        let url = format!("http://127.0.0.1:{port}");
        proc.wait_http_ok(&url, "/healthz", Duration::from_secs(60))
            .await?;
        Ok(OperatorProcess {
            proc,
            url,
            identity: settings.name.clone(),
        })
    }
}
