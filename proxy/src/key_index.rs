//! The proxy's handles on its buckets' key indexes ([`BucketIndexes`]): one
//! [`BucketIndex`] per bucket, kept while the bucket's groups stay the same, so that the
//! proxy's concurrent uploads to a bucket share its journal batching and segment cache;
//! and each bucket's object count and bytes, cached briefly (`/stat`, the `max-keys`
//! quota) so a burst of uploads does not read the index once per upload.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use backrunner_store::bucket::BucketMetadata;
use backrunner_store::index::{BucketIndex, BucketUsage, IndexError, IndexOptions};
use elliptics::client::Client;

/// How long a bucket's usage is reused.
pub const USAGE_TTL: Duration = Duration::from_secs(2);

/// Every bucket's index handle (see the module docs).
pub struct BucketIndexes {
    enabled: bool,
    client: Client,
    options: IndexOptions,
    handles: Mutex<HashMap<String, Handle>>,
}

struct Handle {
    groups: Vec<u32>,
    index: BucketIndex,
    usage: Option<(Instant, BucketUsage)>,
}

impl std::fmt::Debug for BucketIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketIndexes").finish_non_exhaustive()
    }
}

impl BucketIndexes {
    /// Handles made on demand from `client` with `options`; none at all when not
    /// `enabled` (the `key_index = false` configuration).
    pub fn new(enabled: bool, client: Client, options: IndexOptions) -> BucketIndexes {
        BucketIndexes {
            enabled,
            client,
            options,
            handles: Mutex::new(HashMap::new()),
        }
    }

    /// The index of `bucket` (in its current groups); `None` when indexes are off.
    pub fn of(&self, bucket: &BucketMetadata) -> Option<BucketIndex> {
        if !self.enabled {
            return None;
        }
        let mut handles = self.lock();
        if let Some(h) = handles
            .get(&bucket.name)
            .filter(|h| h.groups == bucket.groups)
        {
            return Some(h.index.clone());
        }
        let objects = self
            .client
            .session()
            .groups(bucket.groups.clone())
            .namespace(bucket.name.as_bytes());
        let index = BucketIndex::new(&objects, self.options.clone());
        handles.insert(
            bucket.name.clone(),
            Handle {
                groups: bucket.groups.clone(),
                index: index.clone(),
                usage: None,
            },
        );
        Some(index)
    }

    /// `bucket`'s objects and bytes, at most [`USAGE_TTL`] old; `None` when indexes are
    /// off.
    pub async fn usage(&self, bucket: &BucketMetadata) -> Option<Result<BucketUsage, IndexError>> {
        let index = self.of(bucket)?;
        let cached = self
            .lock()
            .get(&bucket.name)
            .and_then(|h| h.usage)
            .filter(|(at, _)| at.elapsed() < USAGE_TTL);
        if let Some((_, usage)) = cached {
            return Some(Ok(usage));
        }
        let usage = match index.usage().await {
            Ok(usage) => usage,
            Err(e) => return Some(Err(e)),
        };
        if let Some(h) = self.lock().get_mut(&bucket.name) {
            h.usage = Some((Instant::now(), usage));
        }
        Some(Ok(usage))
    }

    /// Counts one more object in `bucket`'s cached usage (a new key was just logged), so
    /// that uploads racing within [`USAGE_TTL`] still meet the quota.
    pub fn count_new_object(&self, bucket: &str) {
        if let Some((_, usage)) = self.lock().get_mut(bucket).and_then(|h| h.usage.as_mut()) {
            usage.objects += 1;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Handle>> {
        self.handles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
