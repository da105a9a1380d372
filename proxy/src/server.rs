//! Serving the router over TCP: HTTP/1.1 and cleartext HTTP/2 on one listener (hyper-util's
//! auto builder), TCP_NODELAY on every accepted socket, the connection timeouts of
//! [`IdleTimeoutIo`] (activity-based idle timeout; request-header timeout from a request's
//! first byte, so slowloris clients are closed while idle keep-alive connections stay),
//! a header size limit (431), HTTPS through rustls on its own listener ([`serve_tls`]),
//! and graceful shutdown: stop accepting, let in-flight requests finish up to a deadline.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::config::ProxyConfig;
use crate::idle::{CountingService, IdleTimeoutIo, RequestCounter};
use crate::tls::ReloadingTls;

/// Transport settings of [`serve`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time a client has to send a request's headers.
    pub header_read_timeout: Duration,
    /// Largest header block (HTTP/1 read buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// Time in-flight requests get after the shutdown signal.
    pub shutdown_grace: Duration,
    /// Longest time a connection may go without a byte moving while the server waits on
    /// it (reading or writing).
    pub idle_timeout: Duration,
}

impl ServeOptions {
    /// The options of a (validated) configuration.
    pub fn from_config(config: &ProxyConfig) -> ServeOptions {
        ServeOptions {
            header_read_timeout: config.header_read_timeout(),
            max_header_bytes: config.max_header_bytes,
            shutdown_grace: config.shutdown_grace(),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
        }
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions::from_config(&ProxyConfig::default())
    }
}

/// Serves `router` over plain TCP on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    serve_with(listener, router, options, None, shutdown).await
}

/// Serves `router` over TLS on `listener` (certificate pair from `tls`, picked per new
/// connection so reloads apply without a restart) until `shutdown` resolves, then drains.
/// The TLS handshake must finish within the header read timeout.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    tls: Arc<ReloadingTls>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    serve_with(listener, router, options, Some(tls), shutdown).await
}

async fn serve_with(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    tls: Option<Arc<ReloadingTls>>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Enforced by IdleTimeoutIo from a request's first byte; hyper's own starts with
        // the wait for the next request and so also closes idle keep-alive connections.
        .header_read_timeout(None)
        .max_buf_size(options.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    let service = TowerToHyperService::new(router);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "TCP_NODELAY failed");
        }
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let requests = Arc::new(RequestCounter::default());
        let service = CountingService::new(service.clone(), Arc::clone(&requests));
        let handshake_timeout = options.header_read_timeout;
        let stream = IdleTimeoutIo::new(
            stream,
            options.idle_timeout,
            options.header_read_timeout,
            requests,
        );
        let tls = tls.as_ref().map(|t| t.acceptor());
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let accepted =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await;
                    let stream = match accepted {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(options.shutdown_grace) => {
            tracing::warn!("shutdown deadline reached with requests still in flight");
        }
    }
    Ok(())
}
