//! Per-group results of multi-group operations and the outcome of a write.

use std::time::Duration;

use crate::error::Error;
use crate::proto::{FileInfoReply, NodeAddr};

/// What one replica group answered.
#[derive(Debug, Clone)]
pub struct GroupResult<T> {
    /// The group.
    pub group: u32,
    /// The node the request went to (`None` when the group had no route).
    pub addr: Option<NodeAddr>,
    /// The backend that answered (from the reply header), else the routed one, else -1.
    pub backend_id: i32,
    /// Time from sending the (first) request to the final reply.
    pub elapsed: Duration,
    /// The group's result.
    pub result: Result<T, Error>,
}

impl<T> GroupResult<T> {
    /// Whether the group succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The same result with the value mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> GroupResult<U> {
        GroupResult {
            group: self.group,
            addr: self.addr,
            backend_id: self.backend_id,
            elapsed: self.elapsed,
            result: self.result.map(f),
        }
    }
}

/// Splits per-group results: `Ok(results)` when at least one group succeeded, otherwise
/// the combined error ([`Error::from_group_errors`]).
pub(crate) fn at_least_one<T>(results: Vec<GroupResult<T>>) -> Result<Vec<GroupResult<T>>, Error> {
    if results.is_empty() {
        return Err(Error::InvalidArgument("session has no groups".into()));
    }
    if results.iter().any(GroupResult::is_ok) {
        return Ok(results);
    }
    Err(Error::from_group_errors(
        results
            .into_iter()
            .filter_map(|r| r.result.err().map(|e| (r.group, e)))
            .collect(),
    ))
}

/// Outcome of a write: one entry per session group, in session order. A write is
/// returned as `Ok` when at least one group stored the object.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// Per group: the file info of the final (or only) WRITE, or why the group failed.
    pub results: Vec<GroupResult<FileInfoReply>>,
}

impl WriteOutcome {
    /// Groups that stored the object.
    pub fn succeeded(&self) -> Vec<&GroupResult<FileInfoReply>> {
        self.results.iter().filter(|r| r.is_ok()).collect()
    }

    /// Groups that failed.
    pub fn failed(&self) -> Vec<&GroupResult<FileInfoReply>> {
        self.results.iter().filter(|r| !r.is_ok()).collect()
    }
}
