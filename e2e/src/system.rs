//! The whole system for one scenario: control plane, Backrunner installed (chart or CRDs),
//! two storage nodes, operator replicas and two proxies as processes, and the example
//! manifests applied in one namespace. Dropping it stops everything.

use std::time::Duration;

use crate::chart::{Installed, install_or_crds};
use crate::control_plane::ControlPlane;
use crate::error::{Result, io};
use crate::manifests::{self, DEFAULT_BUCKET_LIST_KEY};
use crate::operator::{OperatorProcess, OperatorSettings};
use crate::proxy::{ProxyProcess, ProxySettings};
use crate::service_account::operator_kubeconfig;
use crate::storage::{METADATA_GROUP, Storage};

/// Namespace of every scenario's objects.
pub const NAMESPACE: &str = "backrunner-e2e";

/// What to start.
#[derive(Debug, Clone)]
pub struct SystemOptions {
    /// Operator replicas (0 = none yet).
    pub operators: usize,
    /// Leader election among them.
    pub leader_election: bool,
    /// Proxies point their placement reports at the first operator.
    pub placement_hub: bool,
    /// The operators' `status_interval_seconds` (1: status follows the statistics at once).
    pub status_interval_seconds: u32,
    /// The operators' `resync_seconds`.
    pub resync_seconds: u32,
}

impl Default for SystemOptions {
    fn default() -> Self {
        SystemOptions {
            operators: 1,
            leader_election: false,
            placement_hub: false,
            status_interval_seconds: 1,
            resync_seconds: 3,
        }
    }
}

/// A running system. Fields drop in order: proxies, operators, storage, control plane.
pub struct System {
    /// What was started.
    pub options: SystemOptions,
    /// The two proxies.
    pub proxies: Vec<ProxyProcess>,
    /// Operator replicas (`None` once killed).
    pub operators: Vec<Option<OperatorProcess>>,
    /// The storage nodes.
    pub storage: Storage,
    /// How Backrunner was installed.
    pub installed: Installed,
    /// Kubeconfig of the operators: the chart's operator ServiceAccount when the chart is
    /// installed (its RBAC is what the operator gets), else the admin's.
    pub operator_kubeconfig: std::path::PathBuf,
    /// The control plane.
    pub cp: ControlPlane,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("cp", &self.cp)
            .finish_non_exhaustive()
    }
}

impl System {
    /// Starts everything; manifests are applied separately ([`System::apply_examples`]).
    pub async fn start(options: SystemOptions) -> Result<System> {
        let cp = ControlPlane::start().await?;
        cp.kubectl(&["create", "namespace", NAMESPACE]).await?;
        let installed = install_or_crds(&cp, NAMESPACE).await?;
        let operator_kubeconfig = match &installed {
            Installed::Chart(_) => operator_kubeconfig(&cp, NAMESPACE).await?,
            Installed::CrdsOnly(_) => cp.kubeconfig().to_path_buf(),
        };
        let storage_dir = cp.dir().join("storage");
        tokio::fs::create_dir_all(&storage_dir)
            .await
            .map_err(io("creating the storage dir"))?;
        let storage = Storage::start(&storage_dir).await;
        let mut system = System {
            options: options.clone(),
            proxies: Vec::new(),
            operators: Vec::new(),
            storage,
            installed,
            operator_kubeconfig,
            cp,
        };
        for i in 0..options.operators {
            let op = system
                .start_operator(&format!("operator-{i}"), options.leader_election)
                .await?;
            system.operators.push(Some(op));
        }
        let hub = if options.placement_hub {
            system
                .operators
                .first()
                .and_then(|o| o.as_ref())
                .map(|o| o.url.clone())
        } else {
            None
        };
        let settings = ProxySettings {
            remotes: system.storage.remotes(),
            metadata_groups: vec![METADATA_GROUP],
            bucket_list_key: DEFAULT_BUCKET_LIST_KEY.into(),
            placement_hub: hub,
        };
        for i in 0..2 {
            let p = ProxyProcess::start(
                &format!("proxy-{i}"),
                &settings,
                system.cp.dir(),
                &system.cp.log_dir(),
            )
            .await?;
            system.proxies.push(p);
        }
        Ok(system)
    }

    /// Starts one operator replica (see [`System::operator_kubeconfig`]).
    pub async fn start_operator(
        &self,
        name: &str,
        leader_election: bool,
    ) -> Result<OperatorProcess> {
        let settings = OperatorSettings {
            name: name.to_owned(),
            kubeconfig: self.operator_kubeconfig.clone(),
            namespace: NAMESPACE.into(),
            install_id: "e2e".into(),
            leader_election,
            status_interval_seconds: self.options.status_interval_seconds,
            resync_seconds: self.options.resync_seconds,
        };
        OperatorProcess::start(&settings, self.cp.dir(), &self.cp.log_dir()).await
    }

    /// The example manifests patched for this system (see [`manifests::patch_for_harness`]).
    pub async fn examples(&self) -> Result<Vec<serde_json::Value>> {
        let mut docs = manifests::load_examples().await?;
        manifests::patch_for_harness(&mut docs, NAMESPACE, &self.storage.remotes());
        Ok(docs)
    }

    /// Applies the given documents with kubectl.
    pub async fn apply(&self, docs: &[serde_json::Value], file_name: &str) -> Result<String> {
        manifests::apply(&self.cp, docs, file_name).await
    }

    /// The kube client (admin).
    pub fn client(&self) -> kube::Client {
        self.cp.client()
    }

    /// `kubectl get {what} -n NAMESPACE -o {output}`; on failure, the error as text.
    async fn kubectl_get(&self, what: &str, output: &str) -> String {
        self.cp
            .kubectl(&["get", what, "-n", NAMESPACE, "-o", output])
            .await
            .unwrap_or_else(|e| e.to_string())
    }

    /// Tails of every log (control plane, operators, proxies) and the state of the
    /// Backrunner objects, Jobs and Leases, for a failure report.
    pub async fn log_tails(&self, lines: usize) -> String {
        let mut out = self.cp.log_tails(lines / 3).await;
        let state = self
            .kubectl_get("backrunner,jobs,leases,secrets", "wide")
            .await;
        out += &format!("----- kubectl get backrunner,jobs,leases,secrets -----\n{state}\n");
        let conditions = self
            .kubectl_get(
                "backrunner",
                "custom-columns=KIND:.kind,NAME:.metadata.name,CONDITIONS:.status.conditions[*].reason",
            )
            .await;
        out += &format!("----- condition reasons -----\n{conditions}\n");
        for op in self.operators.iter().flatten() {
            out += &format!(
                "----- {} -----\n{}\n",
                op.proc.name(),
                op.proc.tail(lines).await
            );
        }
        for p in &self.proxies {
            out += &format!(
                "----- {} -----\n{}\n",
                p.proc.name(),
                p.proc.tail(lines).await
            );
        }
        out
    }

    /// Runs `scenario`; on failure prints every log tail. Keeps the temp dir with `E2E_KEEP=1`.
    pub async fn run(self, scenario: impl AsyncFnOnce(&mut System) -> Result<()>) -> Result<()> {
        let mut system = self;
        let started = tokio::time::Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(600), scenario(&mut system))
            .await
            .unwrap_or_else(|_| Err(crate::E2eError::Check("scenario exceeded 600 s".into())));
        eprintln!(
            "e2e: scenario took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if let Err(e) = &result {
            eprintln!("e2e: FAILED: {e}\n{}", system.log_tails(80).await);
        }
        let System {
            proxies,
            operators,
            storage,
            cp,
            ..
        } = system;
        drop(proxies);
        drop(operators);
        drop(storage);
        cp.keep_if_asked();
        result
    }
}
