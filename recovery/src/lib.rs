//! Replica recovery between Elliptics groups: what `backrunner recover` runs.
//!
//! 1. **Scan** ([`scan`]): every backend of every group, as the client's route table lists
//!    them, is walked by a key-only ITERATOR into one [`GroupListing`] per group: id →
//!    (timestamp, size, user flags) of every committed record.
//! 2. **Plan** ([`plan`], pure): per id, the newest version wins — greatest timestamp, then
//!    larger size, then larger user flags ([`version`]) — and every group that misses it
//!    or holds an older one is a target. The [`Report`] (missing / older / extra per
//!    group, counts and bytes) is complete before anything is written: a dry run stops
//!    there.
//! 3. **Copy** ([`executor`], [`copy`]): in ascending id order, the newest version is read
//!    by id from a group holding it and streamed to the targets by id, with its timestamp
//!    and user flags and `CAS_TIMESTAMP`, so a foreground write that is newer is never
//!    overwritten (-77: counted as *already newer*). Paced by bytes/s and keys/s token
//!    buckets and a latency-proportional rest ([`limiter`]); progress is checkpointed so
//!    a killed run resumes without a new scan ([`checkpoint`]).
//!
//! # Memory
//! One entry per id per group: 96 bytes (the 64-byte id, the timestamp, size and user
//! flags), plus up to as much again while a listing grows — about 1 GB per 10 million ids
//! per group. Decisions are computed while they are consumed, never stored; records are
//! streamed in the client's chunks (at most two 4 MiB write chunks per copy in flight).
//!
//! # Deletes
//! ITERATOR does not list records removed by DEL, so a key removed that way while a group
//! was away is copied back from the group that still has it. Backrunner's own deletes
//! write a stamped tombstone record instead (`store::object`): the newest version of the
//! key, which recovery copies like any other, so the delete reaches every group — as long
//! as recovery runs before `backrunner sweep` expires the tombstone (7 days by default).
//! The report counts the copies that delete a live object as `removed`.
//!
//! # Not compared
//! Content: two records of the same timestamp, size and flags count as the same version
//! (ITERATOR gives no checksum).

pub mod checkpoint;
pub mod copy;
pub mod error;
pub mod executor;
pub mod limiter;
pub mod listing;
pub mod plan;
pub mod progress;
pub mod recover;
pub mod scan;
pub mod summary;
pub mod version;

pub use checkpoint::Checkpoint;
pub use error::RecoveryError;
pub use executor::ExecuteOptions;
pub use limiter::Limits;
pub use listing::{GroupListing, ListingBuilder};
pub use plan::{Decision, Plan, PlanFlags, Report, Target};
pub use progress::{Progress, ProgressSnapshot};
pub use recover::{Observer, Quiet, RecoverConfig, RunOutcome, recover};
pub use summary::{Summary, Totals};
pub use version::Version;
