//! The `ControlPlane` fixture: etcd, kube-apiserver and kube-controller-manager as real
//! processes on free loopback ports, with a temporary data directory, static-token
//! authentication, RBAC authorization, and a kubeconfig for kubectl, kube-rs and Helm.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::certs::{CertFiles, write_certs};
use crate::error::{E2eError, Result, io};
use crate::process::{Proc, free_port};
use crate::wait::{Probe, wait_for};

/// Environment variable naming the directory with `kube-apiserver` and
/// `kube-controller-manager` (what `e2e/setup.sh` prints); the cache is searched otherwise.
pub const KUBE_BIN_ENV: &str = "E2E_KUBE_BIN";

/// Set to `1` to keep the temporary directory (data and logs) after the run.
pub const KEEP_ENV: &str = "E2E_KEEP";

/// How long each component gets to become ready.
const START_LIMIT: Duration = Duration::from_secs(90);

/// A running control plane. Dropping it kills every process and removes its directory.
pub struct ControlPlane {
    controller_manager: Proc,
    apiserver: Proc,
    etcd: Proc,
    /// `https://127.0.0.1:<port>`.
    server: String,
    token: String,
    certs: CertFiles,
    kubeconfig: PathBuf,
    client: kube::Client,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("server", &self.server)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// The directory holding `kube-apiserver` and `kube-controller-manager`: `$E2E_KUBE_BIN`, or
/// the newest `~/.cache/backrunner-e2e/kubernetes-*/bin` that `e2e/setup.sh` filled.
pub async fn kube_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(KUBE_BIN_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let cache = std::env::var_os("E2E_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/backrunner-e2e")))
        .ok_or_else(|| E2eError::Missing("neither E2E_KUBE_BIN nor HOME is set".into()))?;
    let mut found = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(&cache).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let bin = entry.path().join("bin");
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("kubernetes-")
                && tokio::fs::metadata(bin.join("kube-apiserver"))
                    .await
                    .is_ok()
                && tokio::fs::metadata(bin.join("kube-controller-manager"))
                    .await
                    .is_ok()
            {
                found.push(bin);
            }
        }
    }
    found.sort();
    found.pop().ok_or_else(|| {
        E2eError::Missing(format!(
            "no kube-apiserver under {}/kubernetes-*/bin: run e2e/setup.sh (or set {KUBE_BIN_ENV})",
            cache.display()
        ))
    })
}

impl ControlPlane {
    /// Starts etcd, the apiserver and the controller manager and waits until each serves.
    pub async fn start() -> Result<ControlPlane> {
        let bin = kube_bin_dir().await?;
        let dir = tempfile::Builder::new()
            .prefix("backrunner-e2e-")
            .tempdir()
            .map_err(io("creating the temp dir"))?;
        let root = dir.path().to_path_buf();
        let logs = root.join("logs");
        tokio::fs::create_dir_all(&logs)
            .await
            .map_err(io("creating the log dir"))?;
        let certs = write_certs(&root).await?;
        let token = format!("e2e-admin-{:016x}", rand_u64());
        let token_file = root.join("tokens.csv");
        tokio::fs::write(
            &token_file,
            format!("{token},e2e-admin,e2e-admin,\"system:masters\"\n"),
        )
        .await
        .map_err(io("writing the token file"))?;

        let etcd = start_etcd(&root, &logs).await?;
        let (etcd, etcd_url) = etcd;
        let api_port = free_port()?;
        let server = format!("https://127.0.0.1:{api_port}");
        let args = apiserver_args(&root, &certs, &token_file, &etcd_url, api_port);
        let mut apiserver = Proc::spawn(
            "kube-apiserver",
            bin.join("kube-apiserver"),
            &args,
            &[],
            &logs,
        )
        .await?;
        wait_ready(&mut apiserver, &server, &token, &certs).await?;

        let kubeconfig = root.join("kubeconfig");
        let kubeconfig_text = render_kubeconfig(&server, &certs.ca_cert, &token);
        tokio::fs::write(&kubeconfig, &kubeconfig_text)
            .await
            .map_err(io("writing the kubeconfig"))?;
        let client = client_from_kubeconfig(&kubeconfig_text).await?;

        let kcm_args = controller_manager_args(&certs, &kubeconfig)?;
        let mut controller_manager = Proc::spawn(
            "kube-controller-manager",
            bin.join("kube-controller-manager"),
            &kcm_args,
            &[],
            &logs,
        )
        .await?;
        // The service-account controller creates `default` in every namespace: proof that
        // the controller manager runs and reconciles.
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        wait_for(
            "kube-controller-manager to create ServiceAccount default/default",
            START_LIMIT,
            async || {
                controller_manager.check_running()?;
                Ok(match sas.get_opt("default").await? {
                    Some(sa) => Probe::Done(sa),
                    None => Probe::Pending("no ServiceAccount yet".into()),
                })
            },
        )
        .await?;
        Ok(ControlPlane {
            controller_manager,
            apiserver,
            etcd,
            server,
            token,
            certs,
            kubeconfig,
            client,
            dir,
        })
    }

    /// A kube-rs client authenticated as the admin (group `system:masters`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The kubeconfig file (admin token, CA-verified).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The apiserver URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The CA certificate file.
    pub fn ca_cert(&self) -> &Path {
        &self.certs.ca_cert
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &str {
        &self.token
    }

    /// The temporary directory (data, configs, `logs/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where component logs go.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// Writes a kubeconfig for another bearer token (a service account's) under the temp dir.
    pub async fn kubeconfig_for_token(&self, name: &str, token: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(format!("kubeconfig-{name}"));
        tokio::fs::write(
            &path,
            render_kubeconfig(&self.server, &self.certs.ca_cert, token),
        )
        .await
        .map_err(io(format!("writing {}", path.display())))?;
        Ok(path)
    }

    /// Runs `kubectl --kubeconfig <admin> args…`; returns stdout, or an error with stderr.
    pub async fn kubectl(&self, args: &[&str]) -> Result<String> {
        let out = tokio::process::Command::new(kubectl_bin())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .await
            .map_err(io("running kubectl"))?;
        if !out.status.success() {
            return Err(E2eError::Check(format!(
                "kubectl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The last `lines` lines of each control-plane log.
    pub async fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for p in [&self.etcd, &self.apiserver, &self.controller_manager] {
            out += &format!(
                "----- {} ({}) -----\n{}\n",
                p.name(),
                p.log_path().display(),
                p.tail(lines).await
            );
        }
        out
    }

    /// Fails when a control-plane process has died.
    pub fn check_running(&mut self) -> Result<()> {
        self.etcd.check_running()?;
        self.apiserver.check_running()?;
        self.controller_manager.check_running()
    }

    /// Keeps the temporary directory after drop when `E2E_KEEP=1` (prints where it is).
    pub fn keep_if_asked(self) {
        if std::env::var(KEEP_ENV).is_ok_and(|v| v == "1") {
            let ControlPlane { dir, .. } = self;
            let path = dir.keep();
            eprintln!("e2e: kept {}", path.display());
        }
    }
}

/// `kubectl`: `$KUBECTL` or `kubectl` on the PATH.
pub fn kubectl_bin() -> PathBuf {
    std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}

/// A kube-rs client from kubeconfig YAML text.
pub async fn client_from_kubeconfig(yaml: &str) -> Result<kube::Client> {
    let kubeconfig = Kubeconfig::from_yaml(yaml)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// A kubeconfig with one cluster (CA-verified), one token user and one context.
pub fn render_kubeconfig(server: &str, ca: &Path, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: e2e\n  user:\n    token: {token}\ncontexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: e2e\n    namespace: default\ncurrent-context: e2e\n",
        ca = ca.display()
    )
}

async fn start_etcd(root: &Path, logs: &Path) -> Result<(Proc, String)> {
    let client_port = free_port()?;
    let peer_port = free_port()?;
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let args: Vec<String> = [
        "--name=e2e".to_owned(),
        format!("--data-dir={}", root.join("etcd").display()),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=e2e={peer_url}"),
        "--unsafe-no-fsync".to_owned(),
        "--log-level=warn".to_owned(),
        "--logger=zap".to_owned(),
    ]
    .into();
    let mut etcd = Proc::spawn("etcd", "etcd", &args, &[], logs).await?;
    let http = reqwest::Client::new();
    let health = format!("{client_url}/health");
    wait_for("etcd /health", START_LIMIT, async || {
        etcd.check_running()?;
        let body = http.get(&health).send().await?.text().await?;
        Ok(Probe::done_if(body.contains("\"health\":\"true\""), || {
            body
        }))
    })
    .await?;
    Ok((etcd, client_url))
}

fn apiserver_args(
    root: &Path,
    certs: &CertFiles,
    token_file: &Path,
    etcd_url: &str,
    port: u16,
) -> Vec<String> {
    vec![
        format!("--etcd-servers={etcd_url}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        "--insecure-port=0".into(),
        format!("--cert-dir={}", root.join("apiserver-certs").display()),
        format!("--tls-cert-file={}", certs.serving_cert.display()),
        format!("--tls-private-key-file={}", certs.serving_key.display()),
        format!("--token-auth-file={}", token_file.display()),
        "--authorization-mode=RBAC".into(),
        format!("--service-account-key-file={}", certs.sa_pub.display()),
        format!(
            "--service-account-signing-key-file={}",
            certs.sa_key.display()
        ),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        "--api-audiences=https://kubernetes.default.svc.cluster.local".into(),
        "--service-cluster-ip-range=10.96.0.0/16".into(),
        "--enable-priority-and-fairness=false".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ]
}

fn controller_manager_args(certs: &CertFiles, kubeconfig: &Path) -> Result<Vec<String>> {
    let kc = kubeconfig.display();
    Ok(vec![
        format!("--kubeconfig={kc}"),
        format!("--authentication-kubeconfig={kc}"),
        format!("--authorization-kubeconfig={kc}"),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", free_port()?),
        "--port=0".into(),
        "--leader-elect=false".into(),
        "--use-service-account-credentials=false".into(),
        "--controllers=garbagecollector,job,serviceaccount,serviceaccount-token,namespace,replicaset,deployment".into(),
        format!("--service-account-private-key-file={}", certs.sa_key.display()),
        format!("--root-ca-file={}", certs.ca_cert.display()),
        "--profiling=false".into(),
        "--v=1".into(),
    ])
}

async fn wait_ready(
    apiserver: &mut Proc,
    server: &str,
    token: &str,
    certs: &CertFiles,
) -> Result<()> {
    let ca_pem = tokio::fs::read(&certs.ca_cert)
        .await
        .map_err(io("reading the CA"))?;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem)?)
        .build()?;
    let url = format!("{server}/readyz");
    wait_for("kube-apiserver /readyz", START_LIMIT, async || {
        apiserver.check_running()?;
        let resp = http.get(&url).bearer_auth(token).send().await?;
        let status = resp.status();
        let body = resp.text().await?;
        Ok(Probe::done_if(
            status.is_success() && body.trim() == "ok",
            || format!("{status}: {body}"),
        ))
    })
    .await
}

/// A random 64-bit value (token material) from the OS-seeded hasher: no extra dependency.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish()
}
