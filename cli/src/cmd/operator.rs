//! `backrunner operator`: runs the Kubernetes operator from an optional TOML file, with
//! environment variables and flags overriding it. It talks to the apiserver of the
//! kubeconfig (`KUBECONFIG`, `~/.kube/config`) or, inside a pod, of its service account.
//! Exits non-zero when it loses leadership, so Kubernetes restarts it as a follower.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use backrunner_operator::OperatorConfig;
use tokio::net::TcpListener;

/// Arguments of `backrunner operator`.
#[derive(Debug, clap::Args)]
pub struct OperatorArgs {
    /// Configuration file (TOML, the fields of `OperatorConfig`). Without it, defaults plus flags.
    #[arg(long, short, env = "BACKRUNNER_OPERATOR_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address of `/metrics`, `/healthz`, `/readyz` and the placement hub.
    #[arg(long, env = "BACKRUNNER_OPERATOR_LISTEN")]
    listen: Option<SocketAddr>,
    /// Namespace to watch (empty = every namespace).
    #[arg(long, env = "BACKRUNNER_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Identity of this install in the ownership records beside bucket metadata.
    #[arg(long, env = "BACKRUNNER_INSTALL_ID")]
    install_id: Option<String>,
    /// Image of the defragmentation Jobs.
    #[arg(long, env = "BACKRUNNER_DEFRAG_IMAGE")]
    defrag_image: Option<String>,
    /// Statistics poll interval, seconds.
    #[arg(long, env = "BACKRUNNER_STATS_INTERVAL_SECONDS")]
    stats_interval_seconds: Option<u32>,
    /// Minimum interval between statistics summaries in status, seconds.
    #[arg(long, env = "BACKRUNNER_STATUS_INTERVAL_SECONDS")]
    status_interval_seconds: Option<u32>,
    /// Leader election on a Lease (`false` = this replica always leads).
    #[arg(long, env = "BACKRUNNER_LEADER_ELECTION")]
    leader_election: Option<bool>,
    /// Namespace of the Lease (default: `POD_NAMESPACE`, else `default`).
    #[arg(long, env = "BACKRUNNER_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Identity in the Lease (default: `POD_NAME`, else `HOSTNAME`).
    #[arg(long, env = "BACKRUNNER_OPERATOR_IDENTITY")]
    identity: Option<String>,
}

/// Builds the configuration: file (or defaults), then environment and flags.
pub fn config_from(args: &OperatorArgs) -> anyhow::Result<OperatorConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            OperatorConfig::from_toml(&text)?
        }
        None => OperatorConfig::default(),
    };
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = &args.watch_namespace {
        config.watch_namespace = v.clone();
    }
    if let Some(v) = &args.install_id {
        config.install_id = v.clone();
    }
    if let Some(v) = &args.defrag_image {
        config.defrag_image = v.clone();
    }
    if let Some(v) = args.stats_interval_seconds {
        config.stats_interval_seconds = v;
    }
    if let Some(v) = args.status_interval_seconds {
        config.status_interval_seconds = v;
    }
    if let Some(v) = args.leader_election {
        config.leader_election.enabled = v;
    }
    if let Some(v) = &args.lease_namespace {
        config.leader_election.lease_namespace = v.clone();
    }
    if let Some(v) = &args.identity {
        config.leader_election.identity = v.clone();
    }
    config.validate()?;
    Ok(config)
}

/// Runs the operator until SIGINT/SIGTERM (exit 0) or lost leadership (error).
pub async fn run(args: OperatorArgs) -> anyhow::Result<()> {
    let config = config_from(&args)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    println!(
        "backrunner operator listening on http://{}",
        listener.local_addr()?
    );
    backrunner_operator::run_on(config, listener, super::shutdown_signal()).await?;
    Ok(())
}
