//! `backrunner recover`: copies the newest version of every key the given groups hold to
//! the groups that miss it or hold an older one (the `backrunner-recovery` crate does the
//! work). Progress and the dry-run report go to stderr; the last line of stdout is one
//! JSON object (the run's summary), printed whether the run succeeded or not. With
//! `--progress-key`, the same progress also goes to a record in the metadata groups
//! (`backrunner_store::recovery_progress`), for the operator.

use std::path::PathBuf;
use std::time::Duration;

use backrunner_recovery::limiter::DEFAULT_TRANQUILITY;
use backrunner_recovery::{
    ExecuteOptions, Limits, Observer, Progress, ProgressSnapshot, RecoverConfig, Report, recover,
};
use backrunner_store::MetadataStore;
use backrunner_store::object::RecordKind;
use backrunner_store::recovery_progress::{
    RECOVERY_NAMESPACE, RECOVERY_PROGRESS_VERSION, RecoveryProgress, RunState,
};
use tokio::sync::watch;

use super::ConnectArgs;

/// Arguments of `backrunner recover`.
#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The groups to reconcile, comma-separated (at least two), e.g. `1,2`.
    #[arg(long, value_delimiter = ',', required = true)]
    groups: Vec<u32>,
    /// Scan and report missing / older / extra keys per group; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Cap on the bytes written per second (all target groups together).
    #[arg(long)]
    max_bytes_per_sec: Option<u64>,
    /// Cap on the record copies per second (one per key per target group).
    #[arg(long)]
    max_keys_per_sec: Option<u64>,
    /// Progress file: a killed run restarted with the same file resumes where it stopped
    /// (the scan's plan is kept beside it in `<FILE>.plan`).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// After each key, rest this many times as long as its copy took (0 = never rest).
    #[arg(long, default_value_t = DEFAULT_TRANQUILITY)]
    tranquility: f64,
    /// Keys copied at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Seconds between progress lines on stderr (0 = none).
    #[arg(long, default_value_t = 5)]
    progress_secs: u64,
    /// Also write progress (every 5 s and at the end) to the metadata groups under this
    /// key (namespace `backrunner.recovery`): how the operator follows a run it started.
    #[arg(long, requires = "metadata_groups")]
    progress_key: Option<String>,
    /// Metadata groups for `--progress-key`, comma-separated.
    #[arg(long, value_delimiter = ',')]
    metadata_groups: Vec<u32>,
}

/// Writes the run's progress record (`--progress-key`); failures are logged, never fatal:
/// the copy matters more than its report.
struct ProgressRecord {
    store: MetadataStore,
    key: String,
    groups: Vec<u32>,
    dry_run: bool,
}

impl ProgressRecord {
    async fn write(
        &self,
        state: RunState,
        p: &ProgressSnapshot,
        summary: Option<serde_json::Value>,
        error: Option<String>,
    ) {
        let record = RecoveryProgress {
            version: RECOVERY_PROGRESS_VERSION,
            state,
            groups: self.groups.clone(),
            dry_run: self.dry_run,
            updated: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            listed: p.listed,
            decided: p.decided,
            copied_keys: p.copied_keys,
            copied_bytes: p.copied_bytes,
            failed: p.failed,
            summary,
            error,
        };
        let report = self
            .store
            .write_object(RECOVERY_NAMESPACE, &self.key, &record.encode())
            .await;
        if report.ok.is_empty() {
            tracing::warn!(key = %self.key, failed = ?report.failed, "progress record not written");
        }
    }
}

/// How often the progress record is rewritten while a run goes on.
const RECORD_EVERY: Duration = Duration::from_secs(5);

/// Prints the plan's report on stderr.
struct Printer;

impl Observer for Printer {
    fn planned(&self, r: &Report, resumed: bool) {
        let from = if resumed {
            " (from the checkpoint)"
        } else {
            ""
        };
        eprintln!(
            "recover: {} ids, {} records, {} diverge{from}: {} copies to make ({} missing, {} older of which {} deletes), {} bytes",
            r.scanned,
            r.records,
            r.divergent,
            r.copies(),
            r.missing,
            r.older,
            r.removed,
            r.copy_bytes()
        );
        for g in &r.per_group {
            eprintln!(
                "recover:   group {}: {} records ({} B); missing {} ({} B), older {} ({} B, {} deletes), extra {} ({} B), uncommitted {}",
                g.group,
                g.records,
                g.bytes,
                g.missing,
                g.missing_bytes,
                g.older,
                g.older_bytes,
                g.removed,
                g.extra,
                g.extra_bytes,
                g.uncommitted
            );
        }
    }
}

/// Runs the recovery.
pub async fn run(args: RecoverArgs) -> anyhow::Result<()> {
    let config = RecoverConfig {
        dry_run: args.dry_run,
        checkpoint: args.checkpoint.clone(),
        execute: ExecuteOptions {
            concurrency: args.concurrency,
            limits: Limits {
                bytes_per_sec: args.max_bytes_per_sec,
                keys_per_sec: args.max_keys_per_sec,
                tranquility: args.tranquility,
            },
            ..ExecuteOptions::default()
        },
        // Backrunner's deletes are stamped tombstones: copied like any newer version; the
        // report counts the copies that delete a live object.
        tombstone_user_flags: Some(RecordKind::Tombstone.user_flags()),
        // The key index's journal lanes: each group keeps the appends it took; listings
        // read their union and compaction writes it everywhere.
        merged_user_flags: Some(RecordKind::Journal.user_flags()),
        ..RecoverConfig::new(args.groups.clone())
    };
    config.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, client) = args.connect.connect().await?;
    let session = client.session();
    let progress = Progress::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = tokio::spawn(async move {
        super::shutdown_signal().await;
        eprintln!("recover: stopping after the copies in flight");
        let _ = stop_tx.send(true);
    });
    let record = args.progress_key.as_ref().map(|key| ProgressRecord {
        store: MetadataStore::new(&client, args.metadata_groups.clone()),
        key: key.clone(),
        groups: args.groups.clone(),
        dry_run: args.dry_run,
    });
    if let Some(r) = &record {
        r.write(RunState::Running, &progress.snapshot(), None, None)
            .await;
    }
    let run = recover(&session, &config, &progress, &Printer, stop_rx);
    tokio::pin!(run);
    let every = Duration::from_secs(args.progress_secs.max(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut record_tick =
        tokio::time::interval_at(tokio::time::Instant::now() + RECORD_EVERY, RECORD_EVERY);
    let outcome = loop {
        tokio::select! {
            outcome = &mut run => break outcome,
            _ = tick.tick(), if args.progress_secs > 0 => {
                let p = progress.snapshot();
                eprintln!(
                    "recover: listed {} records; handled {} keys, copied {} ({} B), failed {}",
                    p.listed, p.decided, p.copied_keys, p.copied_bytes, p.failed
                );
            }
            _ = record_tick.tick(), if record.is_some() => {
                if let Some(r) = &record {
                    r.write(RunState::Running, &progress.snapshot(), None, None).await;
                }
            }
        }
    };
    signals.abort();
    let line = outcome.summary.to_json_line();
    if let Some(r) = &record {
        let (state, error) = match &outcome.error {
            None => (RunState::Succeeded, None),
            Some(e) => (RunState::Failed, Some(e.to_string())),
        };
        let summary = serde_json::from_str(&line).ok();
        r.write(state, &progress.snapshot(), summary, error).await;
    }
    println!("{line}");
    client.shutdown().await;
    match outcome.error {
        None => Ok(()),
        // One line: the error's own message says what its source said.
        Some(e) => Err(anyhow::anyhow!("recover: {e}")),
    }
}
