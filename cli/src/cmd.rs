//! One module per subcommand.

pub mod bucket;
pub mod defrag;
pub mod dev;
pub mod node;
pub mod operator;
pub mod proxy;
pub mod sign;
pub mod stat;

/// Parses `--remote` (`ip:port[:family]`) and connects an Elliptics client to it; the
/// rest of the cluster is learnt from its route list.
pub async fn connect_remote(
    remote: &str,
) -> anyhow::Result<(elliptics::proto::NodeAddr, elliptics::Client)> {
    use anyhow::Context;
    let addr = elliptics::proto::NodeAddr::parse(remote)
        .map_err(anyhow::Error::msg)
        .context("--remote")?;
    let client = elliptics::Client::connect(elliptics::ClientConfig {
        remotes: vec![addr],
        ..elliptics::ClientConfig::default()
    })
    .await
    .with_context(|| format!("connecting to {addr}"))?;
    Ok((addr, client))
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
