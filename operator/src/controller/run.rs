//! The run loop every controller shares: a kube-rs [`Controller`] driven until a shutdown
//! signal, then drained gracefully (reconciles in flight finish), with its errors logged at
//! debug level (each reconcile error is already logged by its `error_policy`).

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryFuture};
use kube::Resource;
use kube::runtime::controller::{Action, Controller};
use serde::de::DeserializeOwned;

/// Reconciles of one controller running at once.
pub const CONCURRENCY: u16 = 4;

/// Runs `controller` with `reconcile`, `error_policy` and `state` until `shutdown`
/// resolves, then lets the reconciles in flight finish. `name` labels the logs.
pub async fn run<K, S, Fut>(
    name: &'static str,
    controller: Controller<K>,
    reconcile: impl FnMut(Arc<K>, Arc<S>) -> Fut,
    error_policy: impl Fn(Arc<K>, &Fut::Error, Arc<S>) -> Action,
    state: Arc<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    K: Clone + Resource + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Debug + Unpin,
    Fut: TryFuture<Ok = Action> + Send + 'static,
    Fut::Error: std::error::Error + Send + 'static,
{
    // `graceful_shutdown_on` wants a `Sync` future; the caller's need not be.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(());
    });
    controller
        .graceful_shutdown_on(async move {
            let _ = stop_rx.await;
        })
        .run(reconcile, error_policy, state)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(controller = name, error = %e, "controller");
            }
        })
        .await;
    tracing::info!(controller = name, "controller stopped");
}

/// A stream yielding `()` every `every` (the first after one period), for
/// `Controller::reconcile_all_on`.
pub fn ticks(every: Duration) -> impl futures_util::Stream<Item = ()> + Send + Sync + 'static {
    futures_util::stream::unfold((), move |()| async move {
        tokio::time::sleep(every).await;
        Some(((), ()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ticks_come_once_per_period() {
        let start = tokio::time::Instant::now();
        let got: Vec<()> = ticks(Duration::from_secs(10)).take(3).collect().await;
        assert_eq!(got.len(), 3);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }
}
