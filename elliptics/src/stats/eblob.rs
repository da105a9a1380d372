//! The `backend` section of one backend: eblob's own JSON statistics plus the `group`
//! Elliptics adds to `config` ([`EblobStats`] and its parts).
//!
//! Field order follows eblob's writer (`global_stats`, `summary_stats`, `base_stats`,
//! `config`, `vfs`, `dstat`, `timestamp`, then `error` when the cached statistics are
//! stale). Every section is optional because a backend that is not enabled reports only
//! `config` (parsed) or `config_template` (the raw config strings).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lenient;
use super::report::StatTime;

/// `EBLOB_NO_FREE_SPACE_CHECK` in `config.blob_flags`: eblob does not enforce
/// `blob_size_limit`, so Backrunner takes the file-system size as the limit (§8.4).
pub const EBLOB_NO_FREE_SPACE_CHECK: u64 = 0x10;

/// The `backend` section of an enabled eblob backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EblobStats {
    /// Backend-wide eblob counters.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub global_stats: Option<GlobalStats>,
    /// Record counters summed over all blob files.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub summary_stats: Option<BlobStats>,
    /// Record counters per blob file, keyed by file name (`data-0.0`, …).
    #[serde(
        deserialize_with = "lenient::opt_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub base_stats: Option<BTreeMap<String, BlobStats>>,
    /// The eblob configuration plus the backend's `group`.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub config: Option<EblobConfig>,
    /// Raw config strings of a backend that is not enabled (when eblob cannot render
    /// its parsed config); not interpreted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_template: Option<Value>,
    /// `statvfs` of the data directory.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub vfs: Option<Vfs>,
    /// `/sys/dev/block/M:m/stat` of the data device.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub dstat: Option<Dstat>,
    /// When eblob collected these statistics.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<StatTime>,
    /// Present when the cached statistics are older than twice the periodic timeout.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub error: Option<BackendErrorJson>,
}

/// `global_stats`: eblob counters of the whole backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct GlobalStats {
    /// Start of the last defragmentation (data sort), Unix seconds; 0 = never.
    #[serde(deserialize_with = "lenient::num")]
    pub datasort_start_time: i64,
    /// Records copied to a new place on update.
    #[serde(deserialize_with = "lenient::num")]
    pub read_copy_updates: u64,
    /// Writes that reused the prepared place.
    #[serde(deserialize_with = "lenient::num")]
    pub prepare_reused: u64,
    /// Size of the in-memory index tree.
    #[serde(deserialize_with = "lenient::num")]
    pub memory_index_tree: u64,
    /// Lookups of (fd, offset, size) by key.
    #[serde(deserialize_with = "lenient::num")]
    pub lookup_reads_number: u64,
    /// Data reads.
    #[serde(deserialize_with = "lenient::num")]
    pub data_reads_number: u64,
    /// Writes.
    #[serde(deserialize_with = "lenient::num")]
    pub writes_number: u64,
    /// Bytes read.
    #[serde(deserialize_with = "lenient::num")]
    pub reads_size: u64,
    /// Bytes written.
    #[serde(deserialize_with = "lenient::num")]
    pub writes_size: u64,
    /// Index files read while looking up records on disk.
    #[serde(deserialize_with = "lenient::num")]
    pub index_files_reads_number: u64,
    /// End of the last defragmentation, Unix seconds; 0 = never.
    #[serde(deserialize_with = "lenient::num")]
    pub datasort_completion_time: i64,
    /// Result of the last defragmentation (0 or a negative errno).
    #[serde(deserialize_with = "lenient::num")]
    pub datasort_completion_status: i64,
}

/// `summary_stats` (all blobs) and each entry of `base_stats` (one blob).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct BlobStats {
    /// Records, live and removed.
    #[serde(deserialize_with = "lenient::num")]
    pub records_total: u64,
    /// Removed records (still on disk until defragmentation).
    #[serde(deserialize_with = "lenient::num")]
    pub records_removed: u64,
    /// Bytes of removed records.
    #[serde(deserialize_with = "lenient::num")]
    pub records_removed_size: u64,
    /// Corrupted records.
    #[serde(deserialize_with = "lenient::num")]
    pub records_corrupted: u64,
    /// Bytes on disk.
    #[serde(deserialize_with = "lenient::num")]
    pub base_size: u64,
    /// Bytes of in-memory bloom filters.
    #[serde(deserialize_with = "lenient::num")]
    pub memory_bloom_filter: u64,
    /// Bytes of in-memory index blocks.
    #[serde(deserialize_with = "lenient::num")]
    pub memory_index_blocks: u64,
    /// Defragmentation wish (per blob: eblob's `eblob_defrag_type`; summary: the sum).
    #[serde(deserialize_with = "lenient::num")]
    pub want_defrag: u64,
    /// Sorted blobs (per blob: 0/1).
    #[serde(deserialize_with = "lenient::num")]
    pub is_sorted: u64,
    /// `base_stats` entries only: `want_defrag` as text (`"not_needed"`, …).
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub string_want_defrag: Option<String>,
}

/// `config`: the eblob configuration, plus `group` (added by Elliptics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct EblobConfig {
    /// `EBLOB_*` flags ([`EBLOB_NO_FREE_SPACE_CHECK`] = 0x10).
    #[serde(deserialize_with = "lenient::num")]
    pub blob_flags: u64,
    /// `blob_flags` as text, e.g. `0x10 [no_free_space_check]`.
    #[serde(deserialize_with = "lenient::string")]
    pub string_blob_flags: String,
    /// Sync interval in seconds (-1 = never, 0 = every write).
    #[serde(deserialize_with = "lenient::num")]
    pub sync: i64,
    /// Path prefix of the blob files.
    #[serde(deserialize_with = "lenient::string")]
    pub data: String,
    /// Maximum size of one blob file.
    #[serde(deserialize_with = "lenient::num")]
    pub blob_size: u64,
    /// Maximum records in one blob file.
    #[serde(deserialize_with = "lenient::num")]
    pub records_in_blob: u64,
    /// Removed-records percentage that triggers defragmentation.
    #[serde(deserialize_with = "lenient::num")]
    pub defrag_percentage: u64,
    /// Interval of the defragmentation check, seconds.
    #[serde(deserialize_with = "lenient::num")]
    pub defrag_timeout: i64,
    /// Records per index block.
    #[serde(deserialize_with = "lenient::num")]
    pub index_block_size: u64,
    /// Bloom filter length per index block.
    #[serde(deserialize_with = "lenient::num")]
    pub index_block_bloom_length: u64,
    /// Maximum total size of the backend (0 = the file system).
    #[serde(deserialize_with = "lenient::num")]
    pub blob_size_limit: u64,
    /// Scheduled defragmentation hour.
    #[serde(deserialize_with = "lenient::num")]
    pub defrag_time: i64,
    /// Scheduled defragmentation splay, hours.
    #[serde(deserialize_with = "lenient::num")]
    pub defrag_splay: i64,
    /// The group the backend serves.
    #[serde(deserialize_with = "lenient::num")]
    pub group: u32,
}

/// `vfs`: `statvfs` of the data directory. When `statvfs` fails eblob writes only
/// `timestamp` and `error` (negative errno).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Vfs {
    /// When it was collected.
    #[serde(deserialize_with = "lenient::obj")]
    pub timestamp: StatTime,
    /// Negative errno of a failed `statvfs`.
    #[serde(
        deserialize_with = "lenient::opt_num",
        skip_serializing_if = "Option::is_none"
    )]
    pub error: Option<i64>,
    /// `f_bsize`: file-system block size.
    #[serde(deserialize_with = "lenient::num")]
    pub bsize: u64,
    /// `f_frsize`: fragment size.
    #[serde(deserialize_with = "lenient::num")]
    pub frsize: u64,
    /// `f_blocks`: size of the file system in `frsize` units.
    #[serde(deserialize_with = "lenient::num")]
    pub blocks: u64,
    /// `f_bfree`: free blocks.
    #[serde(deserialize_with = "lenient::num")]
    pub bfree: u64,
    /// `f_bavail`: free blocks for unprivileged users.
    #[serde(deserialize_with = "lenient::num")]
    pub bavail: u64,
    /// `f_files`: inodes.
    #[serde(deserialize_with = "lenient::num")]
    pub files: u64,
    /// `f_ffree`: free inodes.
    #[serde(deserialize_with = "lenient::num")]
    pub ffree: u64,
    /// `f_favail`: free inodes for unprivileged users.
    #[serde(deserialize_with = "lenient::num")]
    pub favail: u64,
    /// `f_fsid`: file-system id.
    #[serde(deserialize_with = "lenient::num")]
    pub fsid: u64,
    /// `f_flag`: mount flags.
    #[serde(deserialize_with = "lenient::num")]
    pub flag: u64,
    /// `f_namemax`: maximum file name length.
    #[serde(deserialize_with = "lenient::num")]
    pub namemax: u64,
}

/// `dstat`: block-device counters of the data device (kernel `Documentation/block/stat`).
/// When they cannot be read eblob writes only `timestamp` and `error`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Dstat {
    /// When it was collected.
    #[serde(deserialize_with = "lenient::obj")]
    pub timestamp: StatTime,
    /// Negative errno when the counters could not be read.
    #[serde(
        deserialize_with = "lenient::opt_num",
        skip_serializing_if = "Option::is_none"
    )]
    pub error: Option<i64>,
    /// Read I/Os completed.
    #[serde(deserialize_with = "lenient::num")]
    pub read_ios: u64,
    /// Read I/Os merged.
    #[serde(deserialize_with = "lenient::num")]
    pub read_merges: u64,
    /// Sectors read.
    #[serde(deserialize_with = "lenient::num")]
    pub read_sectors: u64,
    /// Milliseconds spent reading.
    #[serde(deserialize_with = "lenient::num")]
    pub read_ticks: u64,
    /// Write I/Os completed.
    #[serde(deserialize_with = "lenient::num")]
    pub write_ios: u64,
    /// Write I/Os merged.
    #[serde(deserialize_with = "lenient::num")]
    pub write_merges: u64,
    /// Sectors written.
    #[serde(deserialize_with = "lenient::num")]
    pub write_sectors: u64,
    /// Milliseconds spent writing.
    #[serde(deserialize_with = "lenient::num")]
    pub write_ticks: u64,
    /// I/Os in flight.
    #[serde(deserialize_with = "lenient::num")]
    pub in_flight: u64,
    /// Milliseconds the device was busy.
    #[serde(deserialize_with = "lenient::num")]
    pub io_ticks: u64,
    /// Weighted milliseconds of all requests.
    #[serde(deserialize_with = "lenient::num")]
    pub time_in_queue: u64,
}

/// `backend.error`: eblob's cached statistics are stale (older than twice its periodic
/// timeout). Backrunner penalises a backend whose `code` is non-zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendErrorJson {
    /// Positive errno (110 = `ETIMEDOUT`).
    #[serde(deserialize_with = "lenient::num")]
    pub code: i64,
    /// Text, e.g. `cached json is too old`.
    #[serde(deserialize_with = "lenient::string")]
    pub message: String,
    /// Age of the cached statistics, microseconds.
    #[serde(deserialize_with = "lenient::num")]
    pub lifetime: u64,
    /// Allowed age, microseconds.
    #[serde(deserialize_with = "lenient::num")]
    pub lifetime_limit: u64,
    /// When the age was measured.
    #[serde(
        deserialize_with = "lenient::opt_obj",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_timestamp: Option<StatTime>,
}
