//! Checkpoints: a killed or interrupted run, restarted with the same `--checkpoint FILE`,
//! resumes where it stopped instead of starting over — without a new scan.
//!
//! Two files:
//! - `FILE.plan` ([`plan_file`]): the decisions of the scan, written once (atomically)
//!   before the first copy. Resuming reads it instead of scanning again.
//! - `FILE` (the cursor, JSON): the plan's SHA-256, the last id handled — decisions are
//!   handled in ascending id order, so every decision up to it is done — the ids whose
//!   copies failed (retried by the next run), and the totals so far. Rewritten atomically
//!   (temporary file + rename) every N decisions or T seconds and when the run stops.
//!   A kill loses at most what was copied since the last write; those copies are made
//!   again, which `CAS_TIMESTAMP` makes harmless.
//!
//! A resumed plan is as old as its scan: what diverged since is left to the next scan,
//! and what changed since is handled per copy (a newer version is copied, a removed key
//! is skipped). When a run ends with every copy made, the cursor is marked complete and
//! the plan file removed; the next run with that file scans afresh. A checkpoint of other
//! groups is refused; one whose plan file is missing or does not match is ignored (with a
//! warning) and the run starts over.

mod atomic;
pub mod plan_file;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use elliptics::proto::Id;
use serde::{Deserialize, Serialize};

use crate::error::RecoveryError;
use crate::plan::{Decision, Report};
use crate::summary::Totals;
use plan_file::{PlanFileError, PlanHeader, PlanReader};

/// Version of the cursor format.
const FORMAT: u32 = 1;

/// Where a run stands in its plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The last decision handled (every decision up to it was handled).
    pub done_through: Option<Id>,
    /// Ids up to `done_through` whose copies failed: the next run tries them again.
    pub failed: BTreeSet<Id>,
    /// Totals of every run of this plan so far.
    pub totals: Totals,
}

impl Cursor {
    /// Whether an earlier run already handled `id` successfully.
    pub fn is_done(&self, id: &Id) -> bool {
        self.done_through.is_some_and(|t| *id <= t) && !self.failed.contains(id)
    }
}

/// The cursor file.
#[derive(Debug, Serialize, Deserialize)]
struct CursorFile {
    format: u32,
    groups: Vec<u32>,
    plan_digest: String,
    plan_decisions: u64,
    done_through: Option<String>,
    failed: Vec<String>,
    totals: Totals,
    complete: bool,
    updated_unix: u64,
}

/// A checkpoint bound to one plan.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    path: PathBuf,
    groups: Vec<u32>,
    digest: String,
    decisions: u64,
}

/// A checkpoint found for a resumed run.
#[derive(Debug)]
pub struct Resume {
    /// The checkpoint, to keep saving progress in.
    pub checkpoint: Checkpoint,
    /// Where the last run stopped.
    pub cursor: Cursor,
    /// The plan's report (from its scan).
    pub report: Report,
    /// The plan's decisions.
    pub decisions: PlanReader,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Checkpoint {
    /// `FILE.plan` for the cursor file `FILE`.
    pub fn plan_path(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(".plan");
        PathBuf::from(p)
    }

    fn io(&self, source: std::io::Error) -> RecoveryError {
        RecoveryError::CheckpointIo {
            path: self.path.clone(),
            source,
        }
    }

    /// Starts a checkpoint at `path` for a new plan: writes the plan file, then a cursor
    /// at the start.
    pub fn begin(
        path: &Path,
        groups: &[u32],
        report: &Report,
        decisions: impl Iterator<Item = Decision>,
    ) -> Result<Checkpoint, RecoveryError> {
        let header = PlanHeader {
            groups: groups.to_vec(),
            report: report.clone(),
            decisions: report.divergent,
            created_unix: now_unix(),
        };
        let plan = Self::plan_path(path);
        let digest = plan_file::write(&plan, &header, decisions).map_err(|e| match e {
            PlanFileError::Io(source) => RecoveryError::CheckpointIo { path: plan, source },
            PlanFileError::Format(reason) => {
                RecoveryError::CheckpointInvalid { path: plan, reason }
            }
        })?;
        let cp = Checkpoint {
            path: path.to_path_buf(),
            groups: groups.to_vec(),
            digest,
            decisions: header.decisions,
        };
        cp.save(&Cursor::default())?;
        Ok(cp)
    }

    /// The checkpoint at `path` to resume, if there is one for `groups`: `None` when there
    /// is none, when it is complete, or when it cannot be used (a warning says why).
    /// Fails when it belongs to other groups.
    pub fn resume(path: &Path, groups: &[u32]) -> Result<Option<Resume>, RecoveryError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(RecoveryError::CheckpointIo {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let ignore = |why: String| {
            tracing::warn!(checkpoint = %path.display(), "checkpoint ignored, starting over: {why}");
            Ok(None)
        };
        let file: CursorFile = match serde_json::from_slice(&text) {
            Ok(f) => f,
            Err(e) => return ignore(format!("unreadable: {e}")),
        };
        if file.format != FORMAT {
            return ignore(format!(
                "format {} (this version writes {FORMAT})",
                file.format
            ));
        }
        if file.groups != groups {
            return Err(RecoveryError::CheckpointInvalid {
                path: path.to_path_buf(),
                reason: format!(
                    "it is for groups {:?}, not {groups:?}: give another file or remove it",
                    file.groups
                ),
            });
        }
        if file.complete {
            return Ok(None);
        }
        let plan = Self::plan_path(path);
        match plan_file::digest(&plan) {
            Ok(d) if d == file.plan_digest => {}
            Ok(_) => return ignore(format!("{} does not match it", plan.display())),
            Err(e) => return ignore(format!("{}: {e}", plan.display())),
        }
        let decisions = match PlanReader::open(&plan) {
            Ok(r) => r,
            Err(e) => return ignore(format!("{}: {e}", plan.display())),
        };
        if decisions.header().groups != groups
            || decisions.header().decisions != file.plan_decisions
        {
            return ignore(format!("{} belongs to another cursor", plan.display()));
        }
        let id = |s: &String| {
            Id::from_hex(s).ok_or_else(|| RecoveryError::CheckpointInvalid {
                path: path.to_path_buf(),
                reason: format!("bad id {s:?}"),
            })
        };
        let cursor = Cursor {
            done_through: file.done_through.as_ref().map(id).transpose()?,
            failed: file.failed.iter().map(id).collect::<Result<_, _>>()?,
            totals: file.totals,
        };
        Ok(Some(Resume {
            checkpoint: Checkpoint {
                path: path.to_path_buf(),
                groups: groups.to_vec(),
                digest: file.plan_digest,
                decisions: file.plan_decisions,
            },
            cursor,
            report: decisions.header().report.clone(),
            decisions,
        }))
    }

    /// Records `cursor` (atomically).
    pub fn save(&self, cursor: &Cursor) -> Result<(), RecoveryError> {
        self.write(cursor, false)
    }

    /// Records that the plan is done and removes the plan file.
    pub fn complete(&self, cursor: &Cursor) -> Result<(), RecoveryError> {
        self.write(cursor, true)?;
        plan_file::remove(&Self::plan_path(&self.path)).map_err(|e| self.io(e))
    }

    fn write(&self, cursor: &Cursor, complete: bool) -> Result<(), RecoveryError> {
        let file = CursorFile {
            format: FORMAT,
            groups: self.groups.clone(),
            plan_digest: self.digest.clone(),
            plan_decisions: self.decisions,
            done_through: cursor.done_through.map(|id| id.to_hex()),
            failed: cursor.failed.iter().map(Id::to_hex).collect(),
            totals: cursor.totals,
            complete,
            updated_unix: now_unix(),
        };
        let mut bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| RecoveryError::CheckpointInvalid {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        bytes.push(b'\n');
        atomic::write_atomic(&self.path, &bytes).map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Target;
    use crate::version::Version;

    fn decision(b: u8) -> Decision {
        Decision {
            id: Id([b; 64]),
            newest: Version::default(),
            holders: vec![1],
            targets: vec![Target {
                group: 2,
                have: None,
            }],
        }
    }

    fn report(n: u64) -> Report {
        Report {
            divergent: n,
            ..Report::default()
        }
    }

    #[test]
    fn begin_save_resume_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        assert!(Checkpoint::resume(&path, &[1, 2]).unwrap().is_none());
        let cp = Checkpoint::begin(&path, &[1, 2], &report(3), (1..=3).map(decision)).unwrap();
        let mut cursor = Cursor {
            done_through: Some(Id([2; 64])),
            ..Cursor::default()
        };
        cursor.failed.insert(Id([1; 64]));
        cursor.totals.copied_keys = 1;
        cp.save(&cursor).unwrap();

        let r = Checkpoint::resume(&path, &[1, 2]).unwrap().unwrap();
        assert_eq!(r.cursor, cursor);
        assert!(!r.cursor.is_done(&Id([1; 64])));
        assert!(r.cursor.is_done(&Id([2; 64])));
        assert!(!r.cursor.is_done(&Id([3; 64])));
        let ds: Vec<Decision> = r.decisions.collect::<Result<_, _>>().unwrap();
        assert_eq!(ds.len(), 3);

        assert!(matches!(
            Checkpoint::resume(&path, &[1, 3]),
            Err(RecoveryError::CheckpointInvalid { .. })
        ));

        r.checkpoint.complete(&cursor).unwrap();
        assert!(!Checkpoint::plan_path(&path).exists());
        assert!(Checkpoint::resume(&path, &[1, 2]).unwrap().is_none());
    }

    #[test]
    fn a_damaged_plan_means_starting_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        Checkpoint::begin(&path, &[1, 2], &report(2), (1..=2).map(decision)).unwrap();
        let plan = Checkpoint::plan_path(&path);
        let mut bytes = std::fs::read(&plan).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 1;
        std::fs::write(&plan, bytes).unwrap();
        assert!(Checkpoint::resume(&path, &[1, 2]).unwrap().is_none());
        std::fs::write(&path, b"{not json").unwrap();
        assert!(Checkpoint::resume(&path, &[1, 2]).unwrap().is_none());
    }
}
