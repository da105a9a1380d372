//! `backrunner node`: runs a storage node from a TOML configuration file.

use std::path::PathBuf;

use anyhow::Context;
use backrunner_node::{Node, NodeConfig};

/// Arguments of `backrunner node`.
#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// Configuration file (TOML; see README "Storage node").
    #[arg(long, short, env = "BACKRUNNER_NODE_CONFIG")]
    config: PathBuf,
    /// Override the listen address of the file.
    #[arg(long, env = "BACKRUNNER_NODE_LISTEN")]
    listen: Option<std::net::SocketAddr>,
}

/// Runs the node until SIGINT/SIGTERM.
pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    let text = tokio::fs::read_to_string(&args.config)
        .await
        .with_context(|| format!("reading {}", args.config.display()))?;
    let mut config = NodeConfig::from_toml(&text)?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let config = config.validate()?;
    let node = Node::start(config).await?;
    println!("backrunner node listening on {}", node.addr());
    node.run_until(super::shutdown_signal()).await;
    Ok(())
}
