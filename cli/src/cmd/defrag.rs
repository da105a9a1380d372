//! `backrunner defrag`: starts defragmentation of one backend of one node over the
//! Elliptics protocol (BACKEND_CONTROL) and, with `--wait`, polls BACKEND_STATUS until it
//! finishes. This is what the operator's defrag Jobs run.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use elliptics::proto::backend::defrag_state;
use elliptics::proto::{BackendCommand, BackendControl};

/// Arguments of `backrunner defrag`.
#[derive(Debug, clap::Args)]
pub struct DefragArgs {
    /// The node to defragment, `ip:port[:family]`.
    #[arg(long)]
    remote: String,
    /// Backend id on that node.
    #[arg(long)]
    backend: u32,
    /// Wait until defragmentation has finished.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 6 * 3600)]
    timeout_secs: u64,
}

/// Starts (and optionally waits for) defragmentation.
pub async fn run(args: DefragArgs) -> anyhow::Result<()> {
    let (addr, client) = super::connect_remote(&args.remote).await?;
    let st = client
        .backend_control(
            addr,
            BackendControl::new(args.backend, BackendCommand::StartDefrag),
        )
        .await
        .with_context(|| format!("starting defrag of backend {} on {addr}", args.backend))?;
    println!(
        "defragmentation of backend {} on {addr} started (state {})",
        st.backend_id, st.defrag_state
    );
    if !args.wait {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let list = client
            .backend_status(addr)
            .await
            .context("backend status")?;
        let Some(b) = list.iter().find(|b| b.backend_id == args.backend) else {
            bail!("backend {} disappeared from {addr}", args.backend);
        };
        if b.defrag_state == defrag_state::NOT_STARTED {
            println!(
                "defragmentation of backend {} on {addr} finished",
                args.backend
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "defragmentation still running after {} s",
                args.timeout_secs
            );
        }
    }
}
