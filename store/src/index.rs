//! The key index of a bucket (issue 11; design in `docs/key-index.md`): its keys in byte
//! order, a page at a time, at a few storage round trips per page whatever the bucket's
//! size, kept in the bucket's own groups (namespace `"{bucket}/index"`) with only what a
//! real Elliptics 2.26/3.0 node offers: APPEND, compare-and-swap, READ, LOOKUP.
//!
//! Records (each format in its own module, with encode/decode and property tests):
//! - [`root`]: the shard map, key ranges → shards;
//! - [`shard_state`]: a shard's segments, journal generations and retired records;
//! - [`segment`]: immutable sorted entries with a block index;
//! - [`journal`]: self-delimiting, CRC-checked entries appended by writers.
//!
//! Operations, all on [`BucketIndex`]:
//! - writes: [`BucketIndex::intent_put`] / [`BucketIndex::intent_delete`] before the object
//!   is written, [`BucketIndex::commit`] / [`BucketIndex::commit_delete`] after; each
//!   APPENDs to this instance's journal lane in every group in parallel and succeeds when
//!   one group took it; concurrent calls share one APPEND ([`group_commit`]);
//! - [`BucketIndex::list`] ([`scan`]): one page, S3 ListObjectsV2 semantics, merging every
//!   group's copy (newest stamp per key wins, deletes hide), settling uncommitted intents
//!   with [`crate::object::head`] ([`key_merge`]);
//! - [`BucketIndex::compact`] ([`compaction`], with its crash points);
//! - [`BucketIndex::usage`]: objects and bytes, for `/stat` and quotas.
//!
//! - [`BucketIndex::reconcile`] ([`reconcile`]): ids on the bucket's disks the index does
//!   not name, and candidate names to log in it; removes nothing.
//!
//! What this slice does not do yet: shards never split (the root is always the initial
//! one: a single shard covering every key — the root/shard indirection is in the format,
//! so splits need no format change); segments orphaned by a compaction that crashed
//! before naming them are not collected.

pub mod bucket_index;
pub mod codec;
pub mod compaction;
pub mod group_commit;
pub mod journal;
pub mod key_merge;
pub mod lane_cache;
pub mod list;
pub mod logged_remove;
pub mod reconcile;
pub mod root;
pub mod scan;
pub mod segment;
pub mod shard_state;

pub use bucket_index::{BucketIndex, BucketUsage, IndexError, IndexOptions, index_namespace};
pub use codec::IndexFormatError;
pub use compaction::CompactionReport;
pub use journal::{JournalEntry, JournalLog, JournalOp, decode_log};
pub use list::{ListEntry, ListPage, ListRequest, MAX_KEYS, token_after_prefix};
pub use logged_remove::{RemoveError, remove_logged};
pub use reconcile::{ReconcileError, ReconcileReport};
pub use root::{Root, ShardRange};
pub use segment::{EntryKind, Segment, SegmentCursor, SegmentEntry, encode_segment};
pub use shard_state::{SegmentId, SegmentRef, ShardId, ShardState};
