//! The clock of the proxy's background loops (statistics polls, placement exchange, TLS
//! reloads): a tick every period until the loop is told to stop.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};

/// Ticks every `every`, the first at once; a late tick delays the next ones instead of
/// letting them bunch up. Ends when its stop future resolves.
pub(crate) struct Ticker<S> {
    interval: Interval,
    stop: Pin<Box<S>>,
}

impl<S: Future<Output = ()>> Ticker<S> {
    /// A ticker that runs until `stop` resolves.
    pub(crate) fn new(every: Duration, stop: S) -> Ticker<S> {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticker {
            interval,
            stop: Box::pin(stop),
        }
    }

    /// Waits for the next tick: `false` once the stop future resolved.
    pub(crate) async fn tick(&mut self) -> bool {
        self.tick_or(std::future::pending()).await
    }

    /// Waits for the next tick or for `early`, whichever comes first: `false` once the stop
    /// future resolved.
    pub(crate) async fn tick_or(&mut self, early: impl Future<Output = ()>) -> bool {
        tokio::select! {
            _ = self.interval.tick() => true,
            () = early => true,
            () = &mut self.stop => false,
        }
    }
}
