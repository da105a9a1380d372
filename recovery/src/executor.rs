//! The copy phase: walks the decisions in ascending id order, copies each (several at a
//! time, finishing them in order), counts what happened, and keeps the checkpoint's
//! cursor up to date.
//!
//! A decision whose copies failed (after the retries of [`crate::copy`]) does not stop the
//! run: it is recorded in the cursor and the run goes on; the run fails at the end. Many
//! failures in a row — a target group that went away — stop it early. A stop request
//! (SIGTERM) lets the copies in flight finish, saves the cursor and ends the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use elliptics::Session;
use elliptics::proto::Id;
use futures_util::{StreamExt, future, stream};
use tokio::sync::watch;

use crate::checkpoint::{Checkpoint, Cursor};
use crate::copy::{KeyResult, copy_decision};
use crate::error::RecoveryError;
use crate::limiter::{Limits, Pacer};
use crate::plan::Decision;
use crate::progress::Progress;
use crate::summary::Totals;

/// Settings of the copy phase.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteOptions {
    /// Ids copied at once (≥ 1).
    pub concurrency: usize,
    /// Caps and back-off.
    pub limits: Limits,
    /// Save the cursor after this many decisions...
    pub checkpoint_every_keys: u64,
    /// ... or this much time, whichever comes first.
    pub checkpoint_every: Duration,
    /// Stop after this many ids in a row could not be copied.
    pub max_consecutive_failures: u64,
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        Self {
            concurrency: 1,
            limits: Limits::default(),
            checkpoint_every_keys: 1000,
            checkpoint_every: Duration::from_secs(1),
            max_consecutive_failures: 32,
        }
    }
}

/// What the copy phase did.
#[derive(Debug, Default)]
pub struct Executed {
    /// This run's totals.
    pub totals: Totals,
    /// Totals of earlier runs of the same checkpoint.
    pub previous: Totals,
    /// Decisions skipped as done by an earlier run.
    pub skipped: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Why the run did not finish cleanly.
    pub error: Option<RecoveryError>,
}

/// One handled decision.
enum Step {
    Skipped,
    Copied(Id, KeyResult),
}

/// Runs the copies of `decisions` (ascending by id). With a checkpoint, `cursor` says what
/// earlier runs did (those decisions are skipped) and is saved as the run goes.
pub async fn execute<I>(
    session: &Session,
    decisions: I,
    options: &ExecuteOptions,
    checkpoint: Option<(&Checkpoint, Cursor)>,
    progress: &Progress,
    stop: &watch::Receiver<bool>,
) -> Executed
where
    I: Iterator<Item = Result<Decision, RecoveryError>>,
{
    let start = Instant::now();
    let pacer = Arc::new(Pacer::new(&options.limits));
    let (checkpoint, mut cursor) = match checkpoint {
        Some((c, cursor)) => (Some(c), cursor),
        None => (None, Cursor::default()),
    };
    let earlier = cursor.clone();
    let mut out = Executed {
        previous: cursor.totals,
        ..Executed::default()
    };
    let cut = AtomicBool::new(false);
    let mut steps = stream::iter(decisions)
        .take_while(|_| {
            let stopping = *stop.borrow();
            cut.store(stopping, Ordering::Relaxed);
            future::ready(!stopping)
        })
        .map(|item| {
            let (pacer, earlier) = (&pacer, &earlier);
            async move {
                let d = item?;
                if earlier.is_done(&d.id) {
                    return Ok(Step::Skipped);
                }
                let r = copy_decision(session, &d, pacer).await;
                Ok(Step::Copied(d.id, r))
            }
        })
        .buffered(options.concurrency.max(1));
    let mut first_failure: Option<String> = None;
    let mut in_a_row = 0u64;
    let mut unsaved = 0u64;
    let mut saved_at = Instant::now();
    while let Some(step) = steps.next().await {
        match step {
            Err(e) => {
                out.error = Some(e);
                break;
            }
            Ok(Step::Skipped) => out.skipped += 1,
            Ok(Step::Copied(id, r)) => {
                let t = &mut out.totals;
                t.decided += 1;
                t.copied_keys += r.copied;
                t.copied_bytes += r.copied_bytes;
                t.already_newer += r.already_newer;
                t.source_gone += r.source_gone;
                t.failed += r.failed.len() as u64;
                progress.decided();
                progress.copied(r.copied, r.copied_bytes);
                cursor.done_through = Some(id);
                if r.failed.is_empty() {
                    cursor.failed.remove(&id);
                    in_a_row = 0;
                } else {
                    progress.failed(r.failed.len() as u64);
                    cursor.failed.insert(id);
                    in_a_row += 1;
                    for (group, why) in &r.failed {
                        tracing::warn!(%id, group, "copy failed: {why}");
                    }
                    if let Some((group, why)) = r.failed.first() {
                        first_failure
                            .get_or_insert_with(|| format!("{id} to group {group}: {why}"));
                        if in_a_row >= options.max_consecutive_failures {
                            out.error = Some(RecoveryError::TooManyFailures {
                                failures: in_a_row,
                                last: format!("{id} to group {group}: {why}"),
                            });
                            break;
                        }
                    }
                }
                unsaved += 1;
            }
        }
        if let Some(cp) = checkpoint {
            if unsaved >= options.checkpoint_every_keys
                || (unsaved > 0 && saved_at.elapsed() >= options.checkpoint_every)
            {
                cursor.totals = out.previous.add(&out.totals);
                if let Err(e) = cp.save(&cursor) {
                    out.error = Some(e);
                    break;
                }
                unsaved = 0;
                saved_at = Instant::now();
            }
        }
    }
    // Copies still in flight after an error are abandoned here.
    drop(steps);
    cursor.totals = out.previous.add(&out.totals);
    if out.error.is_none() && cut.load(Ordering::Relaxed) {
        out.error = Some(RecoveryError::Interrupted);
    }
    if out.error.is_none() && !cursor.failed.is_empty() {
        out.error = Some(RecoveryError::CopiesFailed {
            failed: out.totals.failed,
            first: first_failure.unwrap_or_else(|| "see the log".into()),
        });
    }
    if let Some(cp) = checkpoint {
        let saved = match out.error {
            None => cp.complete(&cursor),
            Some(_) => cp.save(&cursor),
        };
        if let Err(e) = saved {
            match out.error {
                None => out.error = Some(e),
                Some(_) => tracing::warn!("saving the checkpoint failed: {e}"),
            }
        }
    }
    out.elapsed = start.elapsed();
    out
}
