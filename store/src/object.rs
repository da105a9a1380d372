//! Objects: how an object's bytes are laid out in Elliptics so that every read returns
//! the bytes of exactly one acknowledged upload, in every group, whatever writers race
//! and whoever crashes.
//!
//! Two layouts ([`Layout`]):
//! - **single** — the bytes in one record at the object's key, written by one plain WRITE.
//!   Bodies up to `part_size` (4 MiB by default). This is what an original Backrunner
//!   writes and reads, so small objects stay readable by it, and by anything else.
//! - **parts** — larger bodies and chunked bodies that outgrow one part: the bytes in
//!   parts under keys of the upload's own ([`UploadId`], in the bucket's parts namespace
//!   `"{bucket}/parts"`), published by one small [`Manifest`] WRITE at the key. An original
//!   Backrunner reads the manifest's bytes, not the object: large objects written by this
//!   version need this version (or its S3 front) to be read.
//!
//! Record kinds are told apart by `user_flags` ([`RecordKind`]), which Elliptics stores
//! with each record and returns on READ and ITERATOR.
//!
//! A delete writes a stamped **tombstone** over the key instead of removing the record:
//! recovery copies the newest version of every key between groups, and a tombstone is that
//! version, so a deleted object never comes back from a group that missed the delete. A
//! sweep removes tombstones after a retention period (recovery must have run by then).
//! An original Backrunner reads a tombstone as a 4-byte object.
//!
//! Every write of a key carries `CAS_TIMESTAMP` with the upload's [stamp](stamp): each group
//! keeps the newest version whichever order writes arrive in, so groups converge on the
//! same winner, and recovery picks by the same rule.
//!
//! ## Crash points of a parts upload, and what repairs them
//! 1. Before or while writing the [`UploadRecord`]: nothing is visible; an orphan record is
//!    removed by a sweep (no manifest names it).
//! 2. While writing parts: the key still holds the previous version. A proxy that is alive
//!    removes the parts when the upload fails or is abandoned ([`cleanup`]); after a proxy
//!    crash, a sweep finds the upload record by ITERATOR and removes record and parts.
//! 3. While writing the manifest: each group either holds the new manifest (whole: it is
//!    one small WRITE) or the previous version. Groups that missed it differ until
//!    recovery copies the newer stamp across.
//! 4. After: the previous version's parts (an overwrite or delete) are garbage once no
//!    manifest names them; the proxy that replaced or deleted the object removes them
//!    after [`REPLACED_PARTS_GRACE`] (readers holding the old manifest finish first), and
//!    a [`sweep`] removes what a stopped proxy left behind.
//!
//! A sweep never removes an upload whose record was rewritten within its grace period: a
//! running upload rewrites its record every minute.

pub mod cleanup;
pub mod manifest;
pub mod read;
pub mod record_kind;
pub mod stamp;
pub mod sweep;
pub mod upload_id;
pub mod upload_record;
mod wire;
pub mod write;

pub use cleanup::{REPLACED_PARTS_GRACE, remove_object};
pub use manifest::{Manifest, PartSlice};
pub use read::{ObjectBody, ObjectHead, ReadError, head, open, read_range};
pub use record_kind::RecordKind;
pub use stamp::new_stamp;
pub use sweep::{SweepError, SweepOptions, SweepReport, sweep};
pub use upload_id::{UploadId, parts_namespace};
pub use upload_record::UploadRecord;
pub use wire::FormatError;
pub use write::{
    BeforePublish, Layout, ObjectWrite, TOMBSTONE_BYTES, WriteSizes, write_object,
    write_object_with, write_tombstone,
};
