//! What a run reports when it ends: the [`Summary`], printed by `backrunner recover` as
//! the last line of its output (one JSON object), and the [`Totals`] of the copy phase
//! that a checkpoint carries from one run to the next.

use serde::{Deserialize, Serialize};

use crate::plan::{GroupReport, Report};

/// Outcomes of the copy phase. "Keys" are record copies: one per id per target group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Decisions (divergent ids) handled.
    pub decided: u64,
    /// Record copies written.
    pub copied_keys: u64,
    /// Bytes they wrote.
    pub copied_bytes: u64,
    /// Copies refused with -77: the target meanwhile got a newer version.
    pub already_newer: u64,
    /// Copies not made because no holder had the key any more (removed since the scan).
    pub source_gone: u64,
    /// Copies that failed.
    pub failed: u64,
}

impl Totals {
    /// The sum of two totals.
    pub fn add(&self, o: &Totals) -> Totals {
        Totals {
            decided: self.decided + o.decided,
            copied_keys: self.copied_keys + o.copied_keys,
            copied_bytes: self.copied_bytes + o.copied_bytes,
            already_newer: self.already_newer + o.already_newer,
            source_gone: self.source_gone + o.source_gone,
            failed: self.failed + o.failed,
        }
    }
}

/// The result of a run, as one JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Whether the run finished and every copy it planned was made (or superseded).
    pub ok: bool,
    /// Why not, in one line.
    pub error: Option<String>,
    /// Nothing was written.
    pub dry_run: bool,
    /// The plan came from a checkpoint (no scan this run).
    pub resumed: bool,
    /// The groups, in the order given.
    pub groups: Vec<u32>,
    /// Distinct ids listed by any group.
    pub scanned: u64,
    /// Records listed, all groups together.
    pub records: u64,
    /// (id, group) pairs where the group lacked the id.
    pub missing: u64,
    /// Bytes to write for them.
    pub missing_bytes: u64,
    /// (id, group) pairs where the group held an older version.
    pub older: u64,
    /// Bytes to write for them.
    pub older_bytes: u64,
    /// Ids on which the groups disagreed.
    pub divergent: u64,
    /// Ids left alone because readers merge them across groups (the key index's journal
    /// lanes).
    pub merged_skipped: u64,
    /// (id, group) pairs where the newest version is a tombstone over a live object: the
    /// copy deletes it there (counted in `older` too; 0 when tombstones are not known).
    pub removed: u64,
    /// Record copies written by this run.
    pub copied_keys: u64,
    /// Bytes this run wrote.
    pub copied_bytes: u64,
    /// Copies refused because the target already held a newer version.
    pub already_newer: u64,
    /// Copies dropped because the key was gone from every holder.
    pub source_gone: u64,
    /// Copies that failed.
    pub failed: u64,
    /// Decisions skipped because an earlier run (per the checkpoint) made them.
    pub skipped: u64,
    /// What earlier runs of the same checkpoint did.
    pub previous: Totals,
    /// Per group: records, bytes, missing / older / extra counts and bytes.
    pub per_group: Vec<GroupReport>,
    /// Scan wall time.
    pub scan_seconds: f64,
    /// Records listed per second.
    pub scan_records_per_sec: f64,
    /// Copy phase wall time.
    pub copy_seconds: f64,
    /// Record copies per second during the copy phase.
    pub copy_keys_per_sec: f64,
    /// Bytes written per second during the copy phase.
    pub copy_bytes_per_sec: f64,
}

impl Summary {
    /// A summary of `report` for `groups`, before anything was copied.
    pub fn of_report(groups: &[u32], report: &Report) -> Summary {
        Summary {
            groups: groups.to_vec(),
            scanned: report.scanned,
            records: report.records,
            missing: report.missing,
            missing_bytes: report.missing_bytes,
            older: report.older,
            older_bytes: report.older_bytes,
            removed: report.removed,
            divergent: report.divergent,
            merged_skipped: report.merged_skipped,
            per_group: report.per_group.clone(),
            ..Summary::default()
        }
    }

    /// Sets the copy-phase counters of this run.
    pub fn set_totals(&mut self, t: &Totals) {
        self.copied_keys = t.copied_keys;
        self.copied_bytes = t.copied_bytes;
        self.already_newer = t.already_newer;
        self.source_gone = t.source_gone;
        self.failed = t.failed;
    }

    /// The summary as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"ok":false,"error":"cannot encode the summary: {e}"}}"#)
        })
    }
}

/// `x` rounded to 3 decimals (keeps the JSON readable).
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
