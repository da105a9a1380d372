//! The client's background task (§4.6): every `check_interval` it refreshes route lists
//! (explicit remotes plus a few random nodes) and connects to new nodes; reconnects lost
//! or failed addresses with exponential backoff as they come due; pings connections whose
//! transactions keep timing out and resets them if the ping times out too.
//!
//! The task holds only a weak reference to the client, so dropping the last `Client`
//! stops it; [`super::Client::shutdown`] stops it explicitly.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::join_all;
use rand::seq::SliceRandom;
use tokio::time::Instant;

use super::conn::Conn;
use super::inner::ClientInner;
use crate::error::Error;
use crate::proto::request;

/// How often stalled connections and due reconnects are looked at, at least.
const TICK: Duration = Duration::from_secs(1);
/// Random non-remote nodes asked for their route list per refresh.
const RANDOM_REFRESH: usize = 5;

/// Starts the task and records its handle in the client.
pub(crate) fn spawn(inner: &Arc<ClientInner>) {
    let weak = Arc::downgrade(inner);
    let shutdown = inner.shutdown_tx.subscribe();
    let wake = inner.wake.clone();
    let handle = tokio::spawn(run(weak, shutdown, wake));
    *inner.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
}

async fn run(
    weak: Weak<ClientInner>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    wake: Arc<tokio::sync::Notify>,
) {
    let Some(interval) = weak.upgrade().map(|i| i.config.check_interval) else {
        return;
    };
    let mut next_refresh = Instant::now() + interval;
    loop {
        let wake_at = {
            let Some(inner) = weak.upgrade() else { return };
            let due = inner
                .reconnect
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .map(|b| b.due)
                .min();
            let mut at = next_refresh.min(Instant::now() + TICK);
            if let Some(d) = due {
                at = at.min(d);
            }
            at
        };
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep_until(wake_at) => {}
            _ = wake.notified() => {}
        }
        let Some(inner) = weak.upgrade() else { return };
        let refresh = Instant::now() >= next_refresh;
        if refresh {
            next_refresh = Instant::now() + interval;
        }
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => return,
            _ = pass(&inner, refresh) => {}
        }
    }
}

/// One maintenance pass.
async fn pass(inner: &ClientInner, refresh: bool) {
    check_stalls(inner).await;
    reconnect_due(inner).await;
    if refresh {
        refresh_routes(inner).await;
    }
}

async fn check_stalls(inner: &ClientInner) {
    let limit = inner.config.stall_count.max(1);
    let stalled: Vec<Conn> = inner
        .live_conns()
        .into_iter()
        .filter(|c| c.stall() >= limit)
        .collect();
    join_all(stalled.iter().map(|c| async move {
        let ping = async {
            c.request(request::ping(), inner.config.wait_timeout)
                .await?
                .final_reply()
                .await
        };
        match ping.await {
            Ok(_) | Err(Error::Remote { .. }) | Err(Error::NotFound) => c.reset_stall(),
            Err(e) => {
                tracing::warn!(addr = %c.addr(), error = %e, stall = c.stall(), "stalled connection did not answer a ping: resetting it");
                c.kill(Error::ConnectionClosed);
            }
        }
    }))
    .await;
}

async fn reconnect_due(inner: &ClientInner) {
    let now = Instant::now();
    let due: Vec<_> = inner
        .reconnect
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(_, b)| b.due <= now)
        .map(|(a, _)| *a)
        .collect();
    let results = join_all(due.iter().map(|a| inner.connect_node(*a))).await;
    for (addr, r) in due.iter().zip(results) {
        match r {
            Ok(_) => tracing::info!(%addr, "reconnected"),
            Err(e) => tracing::debug!(%addr, error = %e, "reconnect failed"),
        }
    }
}

/// ROUTE_LIST to the explicit remotes and a few random other nodes.
async fn refresh_routes(inner: &ClientInner) {
    let conns = inner.live_conns();
    let (mut ask, mut others): (Vec<Conn>, Vec<Conn>) = conns
        .into_iter()
        .partition(|c| inner.config.remotes.contains(&c.addr()));
    others.shuffle(&mut rand::thread_rng());
    ask.extend(others.into_iter().take(RANDOM_REFRESH));
    join_all(ask.iter().map(|c| inner.discover(c))).await;
}
