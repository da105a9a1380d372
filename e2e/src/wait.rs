//! Polling with deadlines: the harness never sleeps for a fixed time, it re-checks a
//! condition until it holds or its deadline passes, and then reports the last state seen.

use std::time::Duration;

use crate::error::{E2eError, Result};

/// How often conditions are re-checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// One look at a condition.
#[derive(Debug)]
pub enum Probe<T> {
    /// The condition holds; here is what it produced.
    Done(T),
    /// Not yet; this is what was seen (reported if the deadline passes).
    Pending(String),
}

impl Probe<()> {
    /// [`Probe::Done`] when `done`, else [`Probe::Pending`] with what `seen` describes.
    pub fn done_if(done: bool, seen: impl FnOnce() -> String) -> Probe<()> {
        if done {
            Probe::Done(())
        } else {
            Probe::Pending(seen())
        }
    }
}

/// Re-runs `probe` every [`POLL_INTERVAL`] until it returns [`Probe::Done`] or `limit`
/// passes. Errors of the probe count as "not yet" (the API may be briefly unavailable) and
/// are reported as the last state seen, except [`E2eError::Exited`]: a dead process ends
/// the wait at once.
pub async fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Result<Probe<T>>,
) -> Result<T> {
    let start = tokio::time::Instant::now();
    let deadline = start + limit;
    loop {
        let last = match probe().await {
            Ok(Probe::Done(v)) => {
                tracing::info!(what, secs = start.elapsed().as_secs_f64(), "condition met");
                return Ok(v);
            }
            Ok(Probe::Pending(seen)) => seen,
            Err(e @ E2eError::Exited(_)) => return Err(e),
            Err(e) => format!("error: {e}"),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(E2eError::Timeout {
                what: what.to_owned(),
                secs: limit.as_secs(),
                last,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
