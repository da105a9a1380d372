//! Why a recovery could not finish.

use std::path::PathBuf;

use elliptics::proto::NodeAddr;

/// Errors of a recovery run. Failures of single copies are not errors of the run until
/// the run ends ([`RecoveryError::CopiesFailed`]) or too many happen in a row
/// ([`RecoveryError::TooManyFailures`]).
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The settings make no sense (fewer than two groups, a group twice, ...).
    #[error("invalid settings: {0}")]
    InvalidConfig(String),
    /// The route table has no backend of a group to recover (its nodes are down or were
    /// never reached).
    #[error("group {group} has no backend in the route table (are its nodes up?)")]
    NoBackends {
        /// The group.
        group: u32,
    },
    /// Listing one backend failed.
    #[error("listing backend {backend} of {addr} (group {group}) failed: {source}")]
    Scan {
        /// The group.
        group: u32,
        /// The node.
        addr: NodeAddr,
        /// The backend.
        backend: i32,
        /// What the client said.
        #[source]
        source: elliptics::Error,
    },
    /// Someone cancelled one of our iterators before it listed everything.
    #[error("listing backend {backend} of {addr} (group {group}) was cancelled")]
    ScanCancelled {
        /// The group.
        group: u32,
        /// The node.
        addr: NodeAddr,
        /// The backend.
        backend: i32,
    },
    /// The checkpoint could not be read or written.
    #[error("checkpoint {}: {source}", path.display())]
    CheckpointIo {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint exists but cannot be used for this run.
    #[error("checkpoint {}: {reason}", path.display())]
    CheckpointInvalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Too many keys in a row could not be copied: the run stopped.
    #[error("stopped after {failures} copies failed in a row; last: {last}")]
    TooManyFailures {
        /// Consecutive failed keys.
        failures: u64,
        /// The last error.
        last: String,
    },
    /// The run went through every key but some copies failed.
    #[error("{failed} copies failed; first: {first}")]
    CopiesFailed {
        /// Failed copies.
        failed: u64,
        /// The first error.
        first: String,
    },
    /// Stopped by a signal; the checkpoint (if any) holds the progress.
    #[error("interrupted")]
    Interrupted,
}
