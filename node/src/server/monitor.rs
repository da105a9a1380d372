//! MONITOR_STAT for this node: builds the statistics document in the JSON shape of a real
//! Elliptics node (§8 of the protocol reference — every field Backrunner reads, with the
//! same names and units), filtered by the requested categories and zlib-compressed.

use std::collections::BTreeMap;
use std::path::Path;

use elliptics::proto::Command;
use elliptics::stats::{
    BackendReport, BackendStatusJson, BlobStats, CommandCounters, CommandSplit, CommandStats,
    CommandTotals, EblobConfig, EblobStats, GlobalStats, MonitorCategories, MonitorReport,
    NodeCommands, StatTime, SuccessFailure, Vfs, encode_monitor_payload,
};

use super::NodeState;
use crate::backend::Backend;
use crate::blob::{DefragState, SyncPolicy};

/// Builds the compressed statistics payload for `categories`.
pub(super) async fn report_payload(state: &NodeState, categories: u64) -> Result<Vec<u8>, String> {
    let categories = MonitorCategories(categories);
    let backends: Vec<_> = state.backends.values().cloned().collect();
    let counters = state.counters.snapshot();
    tokio::task::spawn_blocking(move || {
        let mut report = MonitorReport::enabled(StatTime::now());
        report.commands = Some(node_commands(&counters));
        report.backends = Some(
            backends
                .iter()
                .map(|b| (b.id.to_string(), backend_report(b)))
                .collect(),
        );
        report.retain_categories(categories);
        encode_monitor_payload(&report)
    })
    .await
    .map_err(|e| e.to_string())
}

fn counters(c: &super::counters::CommandCount) -> CommandCounters {
    CommandCounters {
        successes: c.successes,
        failures: c.failures,
        size: c.size,
        time: c.time_us,
    }
}

fn node_commands(
    snapshot: &BTreeMap<i32, (super::counters::CommandCount, super::counters::CommandCount)>,
) -> NodeCommands {
    let mut commands = BTreeMap::new();
    for (cmd, (outside, internal)) in snapshot {
        let Some(name) = Command::from_i32(*cmd).map(Command::name) else {
            continue;
        };
        commands.insert(
            name.to_string(),
            CommandStats {
                cache: CommandSplit::default(),
                disk: CommandSplit {
                    outside: counters(outside),
                    internal: counters(internal),
                },
                total: Some(CommandTotals {
                    storage: SuccessFailure::default(),
                    proxy: SuccessFailure {
                        successes: outside.successes + internal.successes,
                        failures: outside.failures + internal.failures,
                    },
                }),
            },
        );
    }
    NodeCommands {
        commands,
        clients: BTreeMap::new(),
    }
}

fn backend_report(b: &Backend) -> BackendReport {
    let status = b.status();
    let status_json = BackendStatusJson::new(
        status.state,
        status.defrag_state,
        StatTime::from(status.last_start),
        status.last_start_err,
        status.read_only,
        status.delay,
    );
    let mut report = BackendReport {
        backend_id: b.id as i32,
        status: status_json,
        ..BackendReport::default()
    };
    report.backend = Some(eblob_stats(b));
    report
}

fn eblob_stats(b: &Backend) -> EblobStats {
    let s = b.store.stats();
    let now = StatTime::now();
    let (start, completion, completion_status) = match b.store.defrag_state() {
        DefragState::InProgress { started } => (started as i64, 0, 0),
        DefragState::NotStarted {
            last_started,
            last_completed,
            last_status,
        } => (
            last_started as i64,
            last_completed as i64,
            last_status as i64,
        ),
    };
    let blob = |x: &crate::blob::BlobFileStats| BlobStats {
        records_total: x.records_total,
        records_removed: x.records_removed,
        records_removed_size: x.records_removed_size,
        records_corrupted: x.records_corrupted,
        base_size: x.base_size,
        want_defrag: 0,
        string_want_defrag: Some("not_needed".into()),
        ..BlobStats::default()
    };
    let summary = BlobStats {
        records_total: s.records_total,
        records_removed: s.records_removed,
        records_removed_size: s.records_removed_size,
        records_corrupted: s.records_corrupted,
        base_size: s.base_size,
        ..BlobStats::default()
    };
    EblobStats {
        global_stats: Some(GlobalStats {
            datasort_start_time: start,
            datasort_completion_time: completion,
            datasort_completion_status: completion_status,
            writes_number: s.writes,
            writes_size: s.write_bytes,
            data_reads_number: s.reads,
            reads_size: s.read_bytes,
            ..GlobalStats::default()
        }),
        summary_stats: Some(summary),
        base_stats: Some(
            s.blobs
                .iter()
                .map(|(name, x)| (name.clone(), blob(x)))
                .collect(),
        ),
        config: Some(EblobConfig {
            blob_flags: 0,
            string_blob_flags: "0x0 []".into(),
            sync: match b.config.sync {
                SyncPolicy::Always => 0,
                SyncPolicy::Interval(d) => d.as_secs().max(1) as i64,
                SyncPolicy::Never => -1,
            },
            data: b.config.dir.join("data").display().to_string(),
            blob_size: b.config.blob_size,
            records_in_blob: 0,
            defrag_percentage: 0,
            defrag_timeout: 0,
            index_block_size: 0,
            index_block_bloom_length: 0,
            blob_size_limit: b.config.size_limit,
            defrag_time: 0,
            defrag_splay: 0,
            group: b.group,
        }),
        vfs: Some(vfs(&b.config.dir, now)),
        timestamp: Some(now),
        ..EblobStats::default()
    }
}

fn vfs(dir: &Path, now: StatTime) -> Vfs {
    match nix::sys::statvfs::statvfs(dir) {
        Ok(v) => Vfs {
            timestamp: now,
            error: None,
            bsize: v.block_size(),
            frsize: v.fragment_size(),
            blocks: v.blocks(),
            bfree: v.blocks_free(),
            bavail: v.blocks_available(),
            files: v.files(),
            ffree: v.files_free(),
            favail: v.files_available(),
            fsid: v.filesystem_id(),
            flag: v.flags().bits(),
            namemax: v.name_max(),
        },
        Err(e) => Vfs {
            timestamp: now,
            error: Some(e as i64),
            ..Vfs::default()
        },
    }
}
