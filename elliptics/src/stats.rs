//! Typed `DNET_CMD_MONITOR_STAT` statistics of an Elliptics storage node (protocol
//! reference §8).
//!
//! A node answers MONITOR_STAT with one zlib-compressed JSON document. This module holds:
//!
//! * [`MonitorCategories`]: the category bitmask of the request (`BACKRUNNER` = 0x54);
//! * the serde model of the document ([`MonitorReport`] and everything below it), shared
//!   by the client (parsing replies of stock and Rust nodes: every field optional,
//!   unknown fields ignored, numbers accepted in any JSON form) and by the Rust node
//!   (emitting the same shape and field order as a stock node);
//! * [`decode_monitor_payload`] / [`encode_monitor_payload`]: zlib (or raw deflate)
//!   with a cap on the inflated size, plus JSON;
//! * [`BackendStat`]: the flat per-backend view Backrunner derives (§8.4), with the
//!   free-space formula of bucket selection (§14.5).

mod categories;
mod derived;
mod eblob;
mod lenient;
mod payload;
mod report;

#[cfg(test)]
mod tests;

pub use categories::MonitorCategories;
pub use derived::BackendStat;
pub use eblob::{
    BackendErrorJson, BlobStats, Dstat, EBLOB_NO_FREE_SPACE_CHECK, EblobConfig, EblobStats,
    GlobalStats, Vfs,
};
pub use payload::{
    DEFAULT_MAX_INFLATED, decode_monitor_payload, encode_monitor_payload, parse_monitor_json,
};
pub use report::{
    BackendReport, BackendStatusJson, CommandCounters, CommandSplit, CommandStats, CommandTotals,
    MONITOR_STATUS_DISABLED, MONITOR_STATUS_ENABLED, MonitorReport, NodeCommands, StatTime,
    SuccessFailure, backend_state_name, defrag_state_name,
};

/// Errors of decoding a MONITOR_STAT reply payload.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The payload was empty (a stock node always sends a compressed document).
    #[error("empty MONITOR_STAT payload")]
    Empty,
    /// Inflating would produce more than the allowed number of bytes (zip-bomb guard).
    #[error("inflated MONITOR_STAT payload exceeds {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The payload is neither a valid zlib stream nor a valid raw deflate stream.
    #[error("MONITOR_STAT payload is not a valid zlib/deflate stream: {0}")]
    Inflate(#[source] flate2::DecompressError),
    /// The compressed stream ended before its end-of-stream marker.
    #[error("MONITOR_STAT payload is a truncated zlib/deflate stream")]
    Truncated,
    /// The inflated document is not a JSON object.
    #[error("MONITOR_STAT document is not a JSON object")]
    NotAnObject,
    /// The inflated document is not valid JSON.
    #[error("invalid MONITOR_STAT JSON: {0}")]
    Json(#[from] serde_json::Error),
}
