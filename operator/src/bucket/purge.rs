//! `purgeData`: before a deleted Bucket's metadata goes, every object of its Elliptics
//! bucket is removed — found through the bucket's key index (`GET /list`'s pages) and
//! removed as the proxy removes them ([`remove_logged`]: a stamped tombstone in every
//! group, logged in the index, so listings and recovery agree it is gone; parts of large
//! objects follow a grace period later, tombstones go with `backrunner sweep`).
//!
//! Paced at [`PURGE_KEYS_PER_SEC`] with [`PURGE_CONCURRENCY`] removals in flight, so a
//! purge does not crowd out foreground traffic; progress is reported every page. Idempotent:
//! a purge interrupted (operator restart) starts again from the first key still listed.
//! The walk follows continuation tokens to the end, then starts over from the first key
//! until a pass finds nothing (objects uploaded meanwhile are caught). Objects the index
//! does not name (written before it existed, or by other clients) are not found.

use std::time::{Duration, Instant};

use backrunner_store::index::{BucketIndex, IndexOptions, ListRequest, RemoveError, remove_logged};
use elliptics::Client;
use futures_util::{StreamExt, stream};

/// Objects removed per second at most.
pub const PURGE_KEYS_PER_SEC: u64 = 2_000;

/// Removals in flight.
pub const PURGE_CONCURRENCY: usize = 16;

/// Passes from the first key before giving up on a bucket that keeps being written.
const MAX_PASSES: usize = 10;

/// Why a purge stopped.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// Listing the bucket failed.
    #[error("listing bucket {bucket}: {error}")]
    List {
        /// The Elliptics bucket.
        bucket: String,
        /// What failed.
        error: backrunner_store::index::IndexError,
    },
    /// Some objects could not be removed.
    #[error("{failed} objects of {bucket} could not be removed (first: {first}); {removed} were")]
    Remove {
        /// The Elliptics bucket.
        bucket: String,
        /// Objects that failed.
        failed: u64,
        /// Objects removed before stopping.
        removed: u64,
        /// The first failure.
        first: String,
    },
    /// Writers kept adding objects for [`MAX_PASSES`] passes.
    #[error(
        "bucket {bucket} is still being written after {passes} purge passes ({removed} objects removed)"
    )]
    StillWritten {
        /// The Elliptics bucket.
        bucket: String,
        /// Passes made.
        passes: usize,
        /// Objects removed.
        removed: u64,
    },
}

/// A purge in progress: [`Purge::step`] removes one page of objects at a time.
pub struct Purge {
    bucket: String,
    session: elliptics::Session,
    index: BucketIndex,
    token: Option<String>,
    pass: usize,
    seen_this_pass: u64,
    removed: u64,
}

/// Where a purge stands after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeStep {
    /// More may be left; objects removed so far.
    More(u64),
    /// Nothing is listed any more; objects removed in all.
    Done(u64),
}

impl Purge {
    /// A purge of every object the key index of `bucket` (in `groups`) lists.
    pub fn new(client: &Client, bucket: &str, groups: &[u32]) -> Purge {
        let session = client
            .session()
            .groups(groups.to_vec())
            .namespace(bucket.as_bytes());
        let index = BucketIndex::new(&session, IndexOptions::default());
        Purge {
            bucket: bucket.to_owned(),
            session,
            index,
            token: None,
            pass: 0,
            seen_this_pass: 0,
            removed: 0,
        }
    }

    /// Lists one page and removes its objects, paced (see the module docs).
    pub async fn step(&mut self) -> Result<PurgeStep, PurgeError> {
        let request = ListRequest {
            continuation_token: self.token.take(),
            ..ListRequest::default()
        };
        let page = self
            .index
            .list(&request)
            .await
            .map_err(|error| PurgeError::List {
                bucket: self.bucket.clone(),
                error,
            })?;
        let started = Instant::now();
        let keys: Vec<Vec<u8>> = page.entries.into_iter().map(|e| e.key).collect();
        let n = keys.len() as u64;
        self.seen_this_pass += n;
        let (index, session) = (&self.index, &self.session);
        let results: Vec<(Vec<u8>, Result<(), RemoveError>)> = stream::iter(keys)
            .map(|key| async move {
                let r = remove_logged(Some(index), session, &key).await;
                (key, r.map(|_| ()))
            })
            .buffer_unordered(PURGE_CONCURRENCY)
            .collect()
            .await;
        let mut failed = 0u64;
        let mut first = None;
        for (key, r) in results {
            match r {
                Ok(()) => self.removed += 1,
                // Gone already (a concurrent delete): nothing left to remove.
                Err(RemoveError::Storage(e)) if e.is_not_found() => {}
                Err(e) => {
                    failed += 1;
                    first.get_or_insert_with(|| format!("{}: {e}", String::from_utf8_lossy(&key)));
                }
            }
        }
        if let Some(first) = first {
            return Err(PurgeError::Remove {
                bucket: self.bucket.clone(),
                failed,
                removed: self.removed,
                first,
            });
        }
        // Pace: this page may not take less than its share of a second.
        let floor = Duration::from_secs_f64(n as f64 / PURGE_KEYS_PER_SEC as f64);
        if let Some(rest) = floor.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        if let Some(t) = page.next_continuation_token {
            self.token = Some(t);
            return Ok(PurgeStep::More(self.removed));
        }
        // The end of a pass: done when it found nothing, else start over.
        if self.seen_this_pass == 0 {
            return Ok(PurgeStep::Done(self.removed));
        }
        self.pass += 1;
        self.seen_this_pass = 0;
        if self.pass >= MAX_PASSES {
            return Err(PurgeError::StillWritten {
                bucket: self.bucket.clone(),
                passes: MAX_PASSES,
                removed: self.removed,
            });
        }
        Ok(PurgeStep::More(self.removed))
    }
}
