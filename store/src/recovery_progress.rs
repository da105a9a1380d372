//! The progress record of a `backrunner recover` run: where a run started by the operator
//! (a Job, whose pod logs the operator may not be able to read) tells how far it got. JSON in
//! the metadata groups, namespace [`RECOVERY_NAMESPACE`], under the key the run was given
//! (`--progress-key`, the Job's name); rewritten every few seconds and once at the end.
//! Design: `docs/recovery-policy.md`.

use serde::{Deserialize, Serialize};

/// Namespace of progress records in the metadata groups.
pub const RECOVERY_NAMESPACE: &str = "backrunner.recovery";

/// Version of the record format.
pub const RECOVERY_PROGRESS_VERSION: u32 = 1;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Scanning or copying.
    Running,
    /// Finished; the groups agreed at the end (or the dry run reported).
    Succeeded,
    /// Stopped with an error (see [`RecoveryProgress::error`]).
    Failed,
}

/// A run's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryProgress {
    /// [`RECOVERY_PROGRESS_VERSION`].
    pub version: u32,
    /// Where the run is.
    pub state: RunState,
    /// The groups compared.
    pub groups: Vec<u32>,
    /// Whether it only reports.
    pub dry_run: bool,
    /// When this was written, seconds since the Unix epoch.
    pub updated: u64,
    /// Records listed by the scan so far (all groups).
    pub listed: u64,
    /// Divergent keys handled so far.
    pub decided: u64,
    /// Record copies written.
    pub copied_keys: u64,
    /// Bytes they wrote.
    pub copied_bytes: u64,
    /// Copies that failed.
    pub failed: u64,
    /// The run's final summary (the JSON `backrunner recover` prints last), once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RecoveryProgress {
    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of plain fields and a JSON value: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses stored bytes; the error says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<RecoveryProgress, String> {
        let p: RecoveryProgress = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if p.version != RECOVERY_PROGRESS_VERSION {
            return Err(format!("unsupported progress record version {}", p.version));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let p = RecoveryProgress {
            version: RECOVERY_PROGRESS_VERSION,
            state: RunState::Succeeded,
            groups: vec![1, 2],
            dry_run: false,
            updated: 1_700_000_000,
            listed: 10,
            decided: 4,
            copied_keys: 4,
            copied_bytes: 4096,
            failed: 0,
            summary: Some(serde_json::json!({"copied_keys": 4})),
            error: None,
        };
        let bytes = p.encode();
        assert!(String::from_utf8_lossy(&bytes).contains("\"state\":\"succeeded\""));
        assert_eq!(RecoveryProgress::decode(&bytes), Ok(p.clone()));
        let other = RecoveryProgress { version: 2, ..p };
        assert!(RecoveryProgress::decode(&other.encode()).is_err());
        assert!(RecoveryProgress::decode(b"{").is_err());
    }
}
