//! Replica recovery between Elliptics groups: what `backrunner recover` will run.
//!
//! This first part is the planner ([`plan`], pure): listings of N groups (id → timestamp,
//! size, user flags of every committed record, [`listing`]) → per id, the newest version
//! wins — greatest timestamp, then larger size, then larger user flags ([`version`]) —
//! and every group that misses it or holds an older one is a target; plus the dry-run
//! [`Report`] (missing / older / extra per group, counts and bytes).
//!
//! Memory: one entry per id per group, 96 bytes (the 64-byte id, the timestamp, size and
//! user flags). Decisions are computed while they are consumed, never stored.

pub mod listing;
pub mod plan;
pub mod version;

pub use listing::{GroupListing, ListingBuilder};
pub use plan::{Decision, Plan, Report, Target};
pub use version::Version;
