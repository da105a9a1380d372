//! One recovery run, start to end: resume a checkpoint or scan and plan, report, and
//! (unless it is a dry run) copy — returning the [`Summary`] whatever happened.

use std::path::PathBuf;

use elliptics::Session;
use tokio::sync::watch;

use crate::checkpoint::Checkpoint;
use crate::error::RecoveryError;
use crate::executor::{ExecuteOptions, Executed, execute};
use crate::plan::{Plan, PlanFlags, Report};
use crate::progress::Progress;
use crate::scan::{DEFAULT_SCAN_CONCURRENCY, rate, scan};
use crate::summary::{Summary, round3};

/// What to recover and how.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoverConfig {
    /// The groups to reconcile (at least two, each once).
    pub groups: Vec<u32>,
    /// Scan and report only; write nothing (not even a checkpoint).
    pub dry_run: bool,
    /// Backends listed at once.
    pub scan_concurrency: usize,
    /// The copy phase.
    pub execute: ExecuteOptions,
    /// The checkpoint file (and `<file>.plan` beside it).
    pub checkpoint: Option<PathBuf>,
    /// The `user_flags` of a delete tombstone, to report deletes carried (`removed`).
    pub tombstone_user_flags: Option<u64>,
    /// The `user_flags` of records readers merge across groups, never copied (the key
    /// index's journal lanes).
    pub merged_user_flags: Option<u64>,
}

impl RecoverConfig {
    /// Recovery of `groups` with the defaults: no caps, tranquility 1, one copy at a time,
    /// no checkpoint.
    pub fn new(groups: Vec<u32>) -> Self {
        Self {
            groups,
            dry_run: false,
            scan_concurrency: DEFAULT_SCAN_CONCURRENCY,
            execute: ExecuteOptions::default(),
            checkpoint: None,
            tombstone_user_flags: None,
            merged_user_flags: None,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), RecoveryError> {
        let bad = |m: String| Err(RecoveryError::InvalidConfig(m));
        if self.groups.len() < 2 {
            return bad(format!(
                "recovery needs at least two groups, got {:?}",
                self.groups
            ));
        }
        for (i, g) in self.groups.iter().enumerate() {
            if self.groups[..i].contains(g) {
                return bad(format!("group {g} is given twice"));
            }
        }
        if self.execute.concurrency == 0 || self.scan_concurrency == 0 {
            return bad("concurrency must be at least 1".into());
        }
        let l = &self.execute.limits;
        if l.bytes_per_sec == Some(0) || l.keys_per_sec == Some(0) {
            return bad("a rate cap must be at least 1".into());
        }
        if !(l.tranquility >= 0.0 && l.tranquility.is_finite()) {
            return bad(format!("tranquility {} is not a number ≥ 0", l.tranquility));
        }
        Ok(())
    }
}

/// Hooks for whoever runs a recovery (the CLI prints, the operator will record events).
pub trait Observer: Send + Sync {
    /// The plan is known (from a scan, or from a resumed checkpoint), before any copy.
    fn planned(&self, _report: &Report, _resumed: bool) {}
}

/// An observer that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// How a run ended: always a summary, and the error when it did not finish cleanly.
#[derive(Debug)]
pub struct RunOutcome {
    /// What the run found and did (the JSON line).
    pub summary: Summary,
    /// Why it failed.
    pub error: Option<RecoveryError>,
}

impl RunOutcome {
    fn failed(groups: &[u32], dry_run: bool, error: RecoveryError) -> RunOutcome {
        RunOutcome {
            summary: Summary {
                ok: false,
                error: Some(error.to_string()),
                dry_run,
                groups: groups.to_vec(),
                ..Summary::default()
            },
            error: Some(error),
        }
    }
}

/// Recovers `config.groups` through `session`'s client (its groups and flags are not
/// used): see the crate docs. `stop` turning true ends the run after the copies in flight.
pub async fn recover(
    session: &Session,
    config: &RecoverConfig,
    progress: &Progress,
    observer: &dyn Observer,
    stop: watch::Receiver<bool>,
) -> RunOutcome {
    let groups = &config.groups;
    if let Err(e) = config.validate() {
        return RunOutcome::failed(groups, config.dry_run, e);
    }
    let checkpoint = config.checkpoint.as_deref().filter(|_| !config.dry_run);
    if let Some(path) = checkpoint {
        match Checkpoint::resume(path, groups) {
            Err(e) => return RunOutcome::failed(groups, false, e),
            Ok(Some(r)) => {
                tracing::info!(checkpoint = %path.display(), done_through = ?r.cursor.done_through, "resuming");
                observer.planned(&r.report, true);
                let mut summary = Summary::of_report(groups, &r.report);
                summary.resumed = true;
                let decisions = r.decisions.map(|d| {
                    d.map_err(|e| RecoveryError::CheckpointInvalid {
                        path: Checkpoint::plan_path(path),
                        reason: e.to_string(),
                    })
                });
                let executed = execute(
                    session,
                    decisions,
                    &config.execute,
                    Some((&r.checkpoint, r.cursor)),
                    progress,
                    &stop,
                )
                .await;
                return finish(summary, executed);
            }
            Ok(None) => {}
        }
    }
    let (listings, stats) = match scan(session, groups, config.scan_concurrency, progress).await {
        Ok(s) => s,
        Err(e) => return RunOutcome::failed(groups, config.dry_run, e),
    };
    let plan = Plan::with_flags(
        listings,
        PlanFlags {
            tombstone: config.tombstone_user_flags,
            merged: config.merged_user_flags,
        },
    );
    let mut summary = Summary::of_report(groups, plan.report());
    summary.dry_run = config.dry_run;
    summary.scan_seconds = round3(stats.elapsed.as_secs_f64());
    summary.scan_records_per_sec = round3(stats.records_per_sec());
    tracing::info!(
        backends = stats.backends,
        records = stats.listed,
        seconds = summary.scan_seconds,
        divergent = plan.report().divergent,
        "scan done"
    );
    observer.planned(plan.report(), false);
    if config.dry_run {
        summary.ok = true;
        return RunOutcome {
            summary,
            error: None,
        };
    }
    let cp = match checkpoint {
        None => None,
        Some(path) => match Checkpoint::begin(path, groups, plan.report(), plan.decisions()) {
            Ok(cp) => Some(cp),
            Err(e) => {
                summary.error = Some(e.to_string());
                return RunOutcome {
                    summary,
                    error: Some(e),
                };
            }
        },
    };
    let executed = execute(
        session,
        plan.decisions().map(Ok),
        &config.execute,
        cp.as_ref().map(|c| (c, Default::default())),
        progress,
        &stop,
    )
    .await;
    finish(summary, executed)
}

/// The summary of a run whose copy phase ended with `executed`.
fn finish(mut summary: Summary, executed: Executed) -> RunOutcome {
    summary.set_totals(&executed.totals);
    summary.previous = executed.previous;
    summary.skipped = executed.skipped;
    let secs = executed.elapsed.as_secs_f64();
    summary.copy_seconds = round3(secs);
    summary.copy_keys_per_sec = round3(rate(executed.totals.copied_keys, executed.elapsed));
    summary.copy_bytes_per_sec = round3(rate(executed.totals.copied_bytes, executed.elapsed));
    summary.ok = executed.error.is_none();
    summary.error = executed.error.as_ref().map(ToString::to_string);
    RunOutcome {
        summary,
        error: executed.error,
    }
}
