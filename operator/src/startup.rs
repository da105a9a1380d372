//! [`run`]: builds the [`Context`], starts the HTTP server and leader election, and — once
//! this replica leads — the statistics poller and the controllers.
//!
//! Losing leadership ends the process with an error (the CLI exits non-zero and Kubernetes
//! restarts the pod as a follower): controllers that already acted cannot be recalled
//! safely, and a fresh process is the simplest state that is certainly consistent. A clean
//! shutdown (SIGTERM) releases the Lease so the other replica takes over at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::runtime::events::Reporter;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::OperatorConfig;
use crate::context::{Context, StorageClients};
use crate::leader::{LeaderElector, LeaderError, LeaderState};
use crate::metrics::Metrics;
use crate::placement::PlacementHub;
use crate::server::{Readiness, ServerState, serve};
use crate::stats_cache::StatsCache;
use crate::{ConfigError, cluster, stats};

/// Why the operator stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No Kubernetes client could be built (no kubeconfig, not in a cluster).
    #[error("kubernetes client")]
    Kube(#[from] kube::Error),
    /// Binding or serving the HTTP listener failed.
    #[error("http server")]
    Io(#[from] std::io::Error),
    /// Registering metrics failed.
    #[error("metrics registry")]
    Metrics(#[from] prometheus::Error),
    /// This replica lost leadership (the process must restart).
    #[error("leadership lost")]
    Leadership(#[from] LeaderError),
}

/// A cloneable "stop now" signal.
#[derive(Clone)]
struct Stop(watch::Receiver<bool>);

impl Stop {
    fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}

/// This replica's identity: configured, else `POD_NAME`, else `HOSTNAME`, else random.
fn identity(config: &OperatorConfig) -> String {
    let configured = &config.leader_election.identity;
    if !configured.is_empty() {
        return configured.clone();
    }
    for var in ["POD_NAME", "HOSTNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    format!("backrunner-operator-{:08x}", rand::random::<u32>())
}

fn lease_namespace(config: &OperatorConfig) -> String {
    let ns = &config.leader_election.lease_namespace;
    if !ns.is_empty() {
        return ns.clone();
    }
    std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// Binds `config.listen` and runs until `shutdown` (see [`run_on`]).
pub async fn run(
    config: OperatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let listener = TcpListener::bind(config.listen).await?;
    run_on(config, listener, shutdown).await
}

/// The URL followers forward placement-hub requests to while this replica leads:
/// `http://$POD_IP:<port>` in Kubernetes, else the listen address when it is a concrete
/// one (an unspecified `0.0.0.0` cannot be reached by others: no forwarding then).
fn hub_url(listen: std::net::SocketAddr) -> Option<String> {
    let ip = std::env::var("POD_IP")
        .ok()
        .and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .or_else(|| Some(listen.ip()).filter(|ip| !ip.is_unspecified()))?;
    Some(format!(
        "http://{}",
        std::net::SocketAddr::new(ip, listen.port())
    ))
}

/// Runs the operator with its HTTP server on `listener` until `shutdown` resolves (`Ok`) or
/// leadership is lost (`Err(RunError::Leadership)`).
pub async fn run_on(
    config: OperatorConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    config.validate()?;
    let client = kube::Client::try_default().await?;
    let metrics = Arc::new(Metrics::new()?);
    let id = identity(&config);
    let ctx = Arc::new(Context {
        client: client.clone(),
        config: config.clone(),
        storage: StorageClients::new(),
        metrics: metrics.clone(),
        reporter: Reporter {
            controller: "backrunner-operator".into(),
            instance: Some(id.clone()),
        },
        stats: Arc::new(StatsCache::new()),
        placement: Arc::new(PlacementHub::new()),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = Stop(stop_rx);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let (leader, elector) = if config.leader_election.enabled {
        let ns = lease_namespace(&config);
        let hub = hub_url(listener.local_addr()?);
        let (elector, state) = LeaderElector::new(
            client.clone(),
            &ns,
            &id,
            config.leader_election.clone(),
            hub,
        );
        tracing::info!(identity = %id, namespace = %ns, lease = %config.leader_election.lease_name, "leader election started");
        (state, Some(tokio::spawn(elector.run(stop.wait()))))
    } else {
        tracing::info!(identity = %id, "leader election disabled: this replica leads");
        (LeaderState::always_leader(&id), None)
    };

    let readiness = Arc::new(Readiness::default());
    let server_state = ServerState {
        metrics: metrics.clone(),
        hub: ctx.placement.clone(),
        stats: ctx.stats.clone(),
        leader: leader.clone(),
        readiness: readiness.clone(),
    };
    tracing::info!(listen = %listener.local_addr()?, "operator HTTP server listening");
    let server = tokio::spawn(serve(listener, server_state, stop.wait()));

    let mut elector = elector;
    let mut is_leader = leader.is_leader.clone();
    // Follow until leading (or stopped, or the election ended).
    let leads = tokio::select! {
        r = is_leader.wait_for(|l| *l) => r.is_ok(),
        _ = stop.wait() => false,
        r = async { match elector.as_mut() { Some(h) => h.await, None => std::future::pending().await } } => {
            elector = None;
            match r {
                Ok(Err(e)) => return Err(e.into()),
                _ => false,
            }
        }
    };
    if leads {
        metrics.leader.set(1);
        tracing::info!(identity = %id, "leading: starting the statistics poller and controllers");
        tokio::spawn(stats::run(ctx.clone(), stop.wait()));
        tokio::spawn(cluster::run(ctx.clone(), stop.wait()));
        tokio::spawn(crate::bucket::run(ctx.clone(), stop.wait()));
        tokio::spawn(crate::acl_policy::run(ctx.clone(), stop.wait()));
        readiness.controllers_started.store(true, Ordering::Release);
    }

    // Run until stopped or the election ends (leadership lost).
    let result = match elector {
        Some(mut h) => tokio::select! {
            r = &mut h => match r {
                Ok(Err(e)) => Err(RunError::Leadership(e)),
                _ => Ok(()),
            },
            _ = stop.wait() => {
                // The elector saw the same signal: let it release the Lease.
                let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
                Ok(())
            }
        },
        None => {
            stop.wait().await;
            Ok(())
        }
    };
    metrics.leader.set(0);
    result?;
    // Clean shutdown: the elector (still running) releases the Lease on the stop signal.
    if let Ok(Err(e)) = server.await {
        tracing::warn!(error = %e, "http server ended with an error");
    }
    Ok(())
}
