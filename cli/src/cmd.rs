//! One module per subcommand.

pub mod bucket;
pub mod defrag;
pub mod dev;
pub mod node;
pub mod operator;
pub mod proxy;
pub mod reconcile;
pub mod recover;
pub mod sign;
pub mod stat;
pub mod sweep;

/// Reads and parses the configuration file at `path`, or gives the defaults when there is
/// none (environment variables and flags are laid over it by the caller).
pub(crate) fn config_file<T, E>(
    path: Option<&std::path::Path>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> anyhow::Result<T>
where
    T: Default,
    anyhow::Error: From<E>,
{
    use anyhow::Context;
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(parse(&text)?)
        }
        None => Ok(T::default()),
    }
}

/// Lays a flag over a configuration value: `setting` becomes `flag` when the flag is given.
pub(crate) fn override_with<T: Clone>(setting: &mut T, flag: &Option<T>) {
    if let Some(v) = flag {
        *setting = v.clone();
    }
}

/// Binds `addr` and prints `<what> listening on <scheme>://<bound address>` (the line
/// scripts and tests wait for).
pub(crate) async fn bind_announced(
    addr: std::net::SocketAddr,
    what: &str,
    scheme: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!("{what} listening on {scheme}://{}", listener.local_addr()?);
    Ok(listener)
}

/// Parses `--remote` (`ip:port[:family]`) and connects an Elliptics client to it; the
/// rest of the cluster is learnt from its route list.
pub async fn connect_remote(
    remote: &str,
) -> anyhow::Result<(elliptics::proto::NodeAddr, elliptics::Client)> {
    connect(remote, elliptics::client::VersionPolicy::Auto).await
}

async fn connect(
    remote: &str,
    protocol_version: elliptics::client::VersionPolicy,
) -> anyhow::Result<(elliptics::proto::NodeAddr, elliptics::Client)> {
    use anyhow::Context;
    let addr = elliptics::proto::NodeAddr::parse(remote)
        .map_err(anyhow::Error::msg)
        .context("--remote")?;
    let client = elliptics::Client::connect(elliptics::ClientConfig {
        remotes: vec![addr],
        protocol_version,
        ..elliptics::ClientConfig::default()
    })
    .await
    .with_context(|| format!("connecting to {addr}"))?;
    Ok((addr, client))
}

/// How an admin command reaches a cluster: `--remote` and `--protocol-version`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Any node of the cluster, `ip:port[:family]`; the rest is learnt from its route list.
    #[arg(long)]
    pub remote: String,
    /// Protocol version announced in the handshake: `auto` (2.26, then 3.0), `2.26` or
    /// `3.0` (a real Elliptics 3.0 cluster).
    #[arg(long, default_value = "auto")]
    pub protocol_version: String,
}

impl ConnectArgs {
    /// Connects an Elliptics client as the arguments say.
    pub async fn connect(&self) -> anyhow::Result<(elliptics::proto::NodeAddr, elliptics::Client)> {
        use anyhow::Context;
        use elliptics::client::VersionPolicy;
        let policy = match self.protocol_version.trim() {
            "" | "auto" => VersionPolicy::Auto,
            v => VersionPolicy::Fixed(
                v.parse()
                    .map_err(anyhow::Error::msg)
                    .context("--protocol-version")?,
            ),
        };
        connect(&self.remote, policy).await
    }
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
