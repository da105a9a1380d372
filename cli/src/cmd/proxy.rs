//! `backrunner proxy`: runs the HTTP proxy from `proxy.toml`, with environment variables and
//! flags overriding the file's listen address, remotes, metadata groups and placement hub
//! settings.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use backrunner_proxy::config::{AdminConfig, S3Config};
use backrunner_proxy::server::serve_tls;
use backrunner_proxy::tls::{ReloadingTls, TlsFiles};
use backrunner_proxy::{AppState, ProxyConfig, ServeOptions, app, serve};
use elliptics::Client;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Arguments of `backrunner proxy`.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Configuration file (TOML; see README "HTTP proxy"). Without it, defaults plus flags.
    #[arg(long, short, env = "BACKRUNNER_PROXY_CONFIG")]
    config: Option<PathBuf>,
    /// Plain HTTP listen address (overrides `listen`).
    #[arg(long, env = "BACKRUNNER_PROXY_LISTEN")]
    listen: Option<SocketAddr>,
    /// Storage nodes, `ip:port[:family]`, comma-separated (overrides `remotes`).
    #[arg(long = "remote", env = "BACKRUNNER_REMOTES", value_delimiter = ',')]
    remotes: Vec<String>,
    /// Metadata groups, comma-separated (overrides `metadata_groups`).
    #[arg(long, env = "BACKRUNNER_METADATA_GROUPS", value_delimiter = ',')]
    metadata_groups: Vec<u32>,
    /// Bucket list key (overrides `bucket_list_key`; empty = none).
    #[arg(long, env = "BACKRUNNER_BUCKET_LIST_KEY")]
    bucket_list_key: Option<String>,
    /// Placement hub of the operator, `http://host:port` (overrides `placement_hub`).
    #[arg(long, env = "BACKRUNNER_PLACEMENT_HUB")]
    placement_hub: Option<String>,
    /// Identity in placement reports (overrides `proxy_id`; default `$HOSTNAME`, else the
    /// listen address).
    #[arg(long, env = "BACKRUNNER_PROXY_ID")]
    proxy_id: Option<String>,
    /// `namespace/name` of the EllipticsCluster, passed in placement reports (overrides
    /// `placement_cluster`).
    #[arg(long, env = "BACKRUNNER_PLACEMENT_CLUSTER")]
    placement_cluster: Option<String>,
    /// Seconds between placement reports (overrides `placement_report_interval_secs`).
    #[arg(long, env = "BACKRUNNER_PLACEMENT_REPORT_INTERVAL_SECS")]
    placement_report_interval_secs: Option<u64>,
    /// Seconds after which the hub's view is ignored (overrides `placement_staleness_secs`).
    #[arg(long, env = "BACKRUNNER_PLACEMENT_STALENESS_SECS")]
    placement_staleness_secs: Option<u64>,
    /// The bootstrap admin's user name (overrides `admin.user`; needs a token).
    #[arg(long, env = "BACKRUNNER_ADMIN_USER")]
    admin_user: Option<String>,
    /// The bootstrap admin's token (overrides `admin.token`). Prefer the environment (a
    /// Kubernetes Secret) to the flag: command lines are visible to every local user.
    #[arg(long, env = "BACKRUNNER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// S3 listen address (sets `[s3] listen`, enabling the S3 front).
    #[arg(long, env = "BACKRUNNER_S3_LISTEN")]
    s3_listen: Option<SocketAddr>,
}

/// Builds the configuration: file (or defaults), then environment and flags.
pub fn config_from(args: &ProxyArgs) -> anyhow::Result<ProxyConfig> {
    let mut config = super::config_file(args.config.as_deref(), ProxyConfig::from_toml)?;
    super::override_with(&mut config.listen, &args.listen);
    if !args.remotes.is_empty() {
        config.remotes = args.remotes.clone();
    }
    if !args.metadata_groups.is_empty() {
        config.metadata_groups = args.metadata_groups.clone();
    }
    super::override_with(&mut config.bucket_list_key, &args.bucket_list_key);
    if let Some(hub) = &args.placement_hub {
        config.placement_hub = Some(hub.clone()).filter(|h| !h.trim().is_empty());
    }
    if let Some(id) = &args.proxy_id {
        config.proxy_id = Some(id.clone());
    }
    super::override_with(&mut config.placement_cluster, &args.placement_cluster);
    super::override_with(
        &mut config.placement_report_interval_secs,
        &args.placement_report_interval_secs,
    );
    super::override_with(
        &mut config.placement_staleness_secs,
        &args.placement_staleness_secs,
    );
    config.admin = admin_from(config.admin.take(), args)?;
    if let Some(listen) = args.s3_listen {
        match &mut config.s3 {
            Some(s3) => s3.listen = listen,
            None => {
                config.s3 = Some(S3Config {
                    listen,
                    https_listen: None,
                    region: "us-east-1".into(),
                });
            }
        }
    }
    config.validate()?;
    Ok(config)
}

/// The bootstrap admin: `[admin]` of the file with the user and token from the
/// environment or flags over it; a user without a token (or the reverse) is an error.
fn admin_from(file: Option<AdminConfig>, args: &ProxyArgs) -> anyhow::Result<Option<AdminConfig>> {
    let user = args
        .admin_user
        .clone()
        .or_else(|| file.as_ref().map(|a| a.user.clone()));
    let token = args
        .admin_token
        .clone()
        .or_else(|| file.as_ref().map(|a| a.token.clone()));
    match (user, token) {
        (Some(user), Some(token)) => Ok(Some(AdminConfig { user, token })),
        (None, None) => Ok(None),
        (Some(_), None) => anyhow::bail!(
            "admin.user is set but admin.token is not (set BACKRUNNER_ADMIN_TOKEN or [admin] token)"
        ),
        (None, Some(_)) => anyhow::bail!(
            "admin.token is set but admin.user is not (set BACKRUNNER_ADMIN_USER or [admin] user)"
        ),
    }
}

/// Runs the proxy until SIGINT/SIGTERM.
pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let config = config_from(&args)?;
    let listener = super::bind_announced(config.listen, "backrunner proxy", "http").await?;
    run_on(config, listener, super::shutdown_signal()).await
}

/// Connects to storage, loads bucket metadata and serves on `listener` (and on the
/// HTTPS listener when configured) until `shutdown`.
pub async fn run_on(
    mut config: ProxyConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if config.proxy_id.is_none() {
        // Default identity with the port actually bound (the configured one may be 0).
        config.proxy_id = Some(config.placement_proxy_id(listener.local_addr()?));
    }
    let client = Client::connect(config.resolved_client_config().await?)
        .await
        .context("connecting to storage")?;
    let state = AppState::new(config.clone(), client.clone())?;
    state.spawn_stats_poller();
    if let Err(e) = state.load_buckets().await {
        tracing::warn!(error = %e, "bucket metadata not loaded yet; retrying in the background");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let router = app(state.clone());
    let options = ServeOptions::from_config(&config);
    let tls = match &config.https {
        None => None,
        Some(h) => {
            let tls = ReloadingTls::load(TlsFiles {
                cert: h.cert.clone(),
                key: h.key.clone(),
            })?;
            tokio::spawn(tls.clone().watch(Duration::from_secs(10), stopped()));
            Some((h.listen, tls))
        }
    };
    let mut tasks = Vec::new();
    if let Some((listen, tls)) = &tls {
        let tls_listener = super::bind_announced(*listen, "backrunner proxy", "https").await?;
        tasks.push(tokio::spawn(serve_tls(
            tls_listener,
            router.clone(),
            options.clone(),
            tls.clone(),
            stopped(),
        )));
    }
    // The S3 front: its own listeners, the same state (buckets, ACLs, objects).
    if let Some(s3) = &config.s3 {
        let s3_router = backrunner_s3::router(state.clone());
        let listener = super::bind_announced(s3.listen, "backrunner s3", "http").await?;
        tasks.push(tokio::spawn(serve(
            listener,
            s3_router.clone(),
            options.clone(),
            stopped(),
        )));
        if let (Some(listen), Some((_, tls))) = (s3.https_listen, &tls) {
            let listener = super::bind_announced(listen, "backrunner s3", "https").await?;
            tasks.push(tokio::spawn(serve_tls(
                listener,
                s3_router,
                options.clone(),
                tls.clone(),
                stopped(),
            )));
        }
    }
    let draining = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        draining.start_draining();
        let _ = stop_tx.send(true);
    });
    serve(listener, router, options, stopped()).await?;
    for task in tasks {
        task.await??;
    }
    client.shutdown().await;
    Ok(())
}
