//! `backrunner operator`: runs the Kubernetes operator from an optional TOML file, with
//! environment variables and flags overriding it. It talks to the apiserver of the
//! kubeconfig (`KUBECONFIG`, `~/.kube/config`) or, inside a pod, of its service account.
//! Exits non-zero when it loses leadership, so Kubernetes restarts it as a follower.

use std::net::SocketAddr;
use std::path::PathBuf;

use backrunner_operator::OperatorConfig;

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
    let mut config = super::config_file(args.config.as_deref(), OperatorConfig::from_toml)?;
    super::override_with(&mut config.listen, &args.listen);
    super::override_with(&mut config.watch_namespace, &args.watch_namespace);
    super::override_with(&mut config.install_id, &args.install_id);
    super::override_with(&mut config.defrag_image, &args.defrag_image);
    super::override_with(
        &mut config.stats_interval_seconds,
        &args.stats_interval_seconds,
    );
    super::override_with(
        &mut config.status_interval_seconds,
        &args.status_interval_seconds,
    );
    let election = &mut config.leader_election;
    super::override_with(&mut election.enabled, &args.leader_election);
    super::override_with(&mut election.lease_namespace, &args.lease_namespace);
    super::override_with(&mut election.identity, &args.identity);
    config.validate()?;
    Ok(config)
}

/// Runs the operator until SIGINT/SIGTERM (exit 0) or lost leadership (error).
pub async fn run(args: OperatorArgs) -> anyhow::Result<()> {
    let config = config_from(&args)?;
    let listener = super::bind_announced(config.listen, "backrunner operator", "http").await?;
    backrunner_operator::run_on(config, listener, super::shutdown_signal()).await?;
    Ok(())
}
