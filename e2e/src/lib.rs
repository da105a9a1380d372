//! End-to-end harness for Backrunner on a real Kubernetes control plane (no mocks).
//!
//! [`control_plane::ControlPlane`] starts etcd, kube-apiserver and kube-controller-manager
//! (built by `e2e/setup.sh` from Debian's `kubernetes` source) on loopback ports;
//! [`storage::Storage`] starts `backrunner node` processes; [`chart`] installs the Helm
//! chart with a real Helm (the `helm-sdkpy` library); [`operator::OperatorProcess`] and
//! [`proxy::ProxyProcess`] run `backrunner operator` and `backrunner proxy` against them;
//! [`system::System`] wires it all together for the scenarios in `e2e/scenarios/`.
//!
//! Every wait polls with a deadline ([`wait::wait_for`]); every process is killed when its
//! handle drops, and its log stays in the control plane's temporary directory.

pub mod certs;
pub mod chart;
pub mod control_plane;
pub mod error;
pub mod manifests;
pub mod operator;
pub mod process;
pub mod proxy;
pub mod resources;
pub mod service_account;
pub mod storage;
pub mod system;
pub mod wait;

use std::path::{Path, PathBuf};

pub use control_plane::ControlPlane;
pub use error::{E2eError, Result};
pub use system::{System, SystemOptions};

/// The `backrunner` binary: `$BACKRUNNER_BIN` (as `test.sh` sets), else
/// `target/{debug,release}/backrunner`.
pub fn backrunner_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BACKRUNNER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let target = chart::workspace_root().join("target");
    ["debug", "release"]
        .iter()
        .map(|profile| target.join(profile).join("backrunner"))
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            E2eError::Missing(
                "backrunner binary: cargo build --bin backrunner, or set BACKRUNNER_BIN".into(),
            )
        })
}

/// Writes `toml` to `<dir>/<name>.toml` and starts `backrunner <command> --config <file>` as
/// process `name` with `envs`, its log in `log_dir`.
pub async fn spawn_backrunner(
    command: &str,
    name: &str,
    toml: String,
    dir: &Path,
    envs: &[(&str, String)],
    log_dir: &Path,
) -> Result<process::Proc> {
    let config = dir.join(format!("{name}.toml"));
    tokio::fs::write(&config, toml)
        .await
        .map_err(error::io(format!("writing {}", config.display())))?;
    let args = [
        command.to_owned(),
        "--config".to_owned(),
        config.display().to_string(),
    ];
    process::Proc::spawn(name, backrunner_bin()?, &args, envs, log_dir).await
}
