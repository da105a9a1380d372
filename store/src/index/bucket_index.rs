//! [`BucketIndex`]: one bucket's key index over its groups — the write path (intents and
//! commits, group-committed per journal lane), the storage reads every operation shares
//! (root, shard states from every group, journal lanes, segments with a cache), and the
//! bucket's object count and bytes. Listing is in [`super::scan`], compaction in
//! [`super::compaction`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use elliptics::Session;
use elliptics::proto::{DnetTime, IoFlags};
use futures_util::future::join_all;

use super::codec::IndexFormatError;
use super::group_commit::LaneAppender;
use super::journal::{JournalEntry, JournalLog, JournalOp, decode_log};
use super::key_merge::{KeyMerge, Resolution};
use super::lane_cache::{CachedLane, LaneCache, LaneEntries};
use super::root::Root;
use super::scan::Scan;
use super::segment::{EntryKind, Segment};
use super::shard_state::{SegmentRef, ShardId, ShardState};
use crate::object::{ReadError, head};

/// The namespace suffix of a bucket's index records: `"{bucket}/index"`.
pub const INDEX_SUFFIX: &[u8] = b"/index";

/// Largest index record read (journals are compacted long before).
const MAX_RECORD_BYTES: u64 = 256 << 20;

/// Reads of a record that failed its check before giving up (a read racing an in-place
/// rewrite on a real node returns a mix of two versions; the next read is whole).
const CHECK_ATTEMPTS: u32 = 6;

/// The namespace holding the index of the objects in `namespace`.
pub fn index_namespace(namespace: &[u8]) -> Vec<u8> {
    [namespace, INDEX_SUFFIX].concat()
}

/// Tunables of a [`BucketIndex`].
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Journal lanes per generation (a proxy appends to one of them).
    pub lanes: u32,
    /// How long a writer trusts the journal generation it read.
    pub state_ttl: Duration,
    /// Timeout of one journal APPEND.
    pub append_timeout: Duration,
    /// Timeout of one index READ (a listing page's journal lanes and segments). Reads are
    /// idempotent and a lane can be megabytes under load, so this is the storage timeout,
    /// not the short append timeout `switch_grace` depends on.
    pub read_timeout: Duration,
    /// How long after a generation switch compaction waits before merging the old
    /// generation: longer than `state_ttl` + `append_timeout`, so no writer still appends
    /// to it.
    pub switch_grace: Duration,
    /// How long retired segments and merged journals stay readable (readers holding the
    /// previous state finish first).
    pub retire_grace: Duration,
    /// Uncommitted intents younger than this are carried to the next generation by
    /// compaction (their upload may still be running); older ones are settled by the
    /// object.
    pub intent_grace: Duration,
    /// Delete entries older than this are dropped by compaction.
    pub delete_retention: Duration,
    /// A journal lane larger than this makes its writer start a compaction.
    pub compact_at_bytes: u64,
    /// Whether writers start compactions themselves.
    pub auto_compact: bool,
    /// Target size of a segment record.
    pub segment_bytes: usize,
    /// Decoded segments kept in memory, in bytes.
    pub segment_cache_bytes: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        let state_ttl = Duration::from_secs(1);
        let append_timeout = Duration::from_secs(5);
        IndexOptions {
            lanes: 8,
            state_ttl,
            append_timeout,
            read_timeout: Duration::from_secs(15),
            switch_grace: state_ttl + append_timeout + Duration::from_secs(1),
            retire_grace: Duration::from_secs(60),
            intent_grace: Duration::from_secs(3600),
            delete_retention: Duration::from_secs(24 * 3600),
            compact_at_bytes: 64 << 10,
            auto_compact: true,
            segment_bytes: 512 << 10,
            segment_cache_bytes: 64 << 20,
        }
    }
}

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Storage failed.
    #[error("index storage: {0}")]
    Storage(#[from] elliptics::Error),
    /// A record could not be decoded (after re-reading it).
    #[error("index record: {0}")]
    Format(#[from] IndexFormatError),
    /// Looking at an object to settle an intent failed.
    #[error("object lookup: {0}")]
    Object(#[from] ReadError),
    /// The operation needs every group of the bucket and some did not answer.
    #[error("groups {groups:?} did not answer: {reason}")]
    GroupsUnavailable {
        /// The groups that failed.
        groups: Vec<u32>,
        /// The first failure.
        reason: String,
    },
    /// A concurrent compaction changed the shard state first.
    #[error("another compaction changed the shard state; try again")]
    Busy,
    /// A segment the shard state names is in no group.
    #[error("segment {0} is missing in every group")]
    MissingSegment(String),
    /// The continuation token is not one this index issued.
    #[error("invalid continuation token")]
    InvalidToken,
}

/// A shard's state as every group that answered holds it.
#[derive(Debug, Clone)]
pub(crate) struct GroupStates {
    /// Per answering group: its bytes (`None` = no record) and decoded state.
    pub(crate) groups: Vec<(u32, Option<Vec<u8>>, ShardState)>,
    /// Groups that did not answer.
    pub(crate) failed: Vec<(u32, elliptics::Error)>,
    /// What they say together ([`ShardState::union`]).
    pub(crate) union: ShardState,
}

impl GroupStates {
    /// Whether every group answered with the same bytes.
    pub(crate) fn converged(&self) -> bool {
        self.failed.is_empty() && self.groups.windows(2).all(|w| w[0].1 == w[1].1)
    }
}

/// One bucket's key index (see the module docs of [`super`]). Cheap to clone; clones share
/// caches and journal batchers.
#[derive(Clone)]
pub struct BucketIndex {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for BucketIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketIndex")
            .field("groups", &self.inner.index.options().groups)
            .field("lane", &self.inner.lane)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) objects: Session,
    pub(crate) index: Session,
    /// `index` with the read timeout.
    reads: Session,
    pub(crate) options: IndexOptions,
    lane: u32,
    root: Mutex<Option<Arc<Root>>>,
    generations: Mutex<HashMap<ShardId, (Instant, u64)>>,
    appenders: Mutex<HashMap<Vec<u8>, Arc<LaneAppender>>>,
    segments: Mutex<SegmentCache>,
    lanes: Mutex<LaneCache>,
    compacting: AtomicBool,
}

#[derive(Default)]
struct SegmentCache {
    map: HashMap<super::shard_state::SegmentId, (Arc<Segment>, usize)>,
    bytes: usize,
}

/// Objects and bytes of a bucket, from the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketUsage {
    /// Objects listed.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl BucketIndex {
    /// The index of the bucket whose objects `objects` reads and writes (its groups and
    /// namespace, as the proxy builds it); the index lives in the same groups under
    /// [`index_namespace`]. This instance appends to one journal lane, chosen at random
    /// (as a proxy instance would).
    pub fn new(objects: &Session, options: IndexOptions) -> BucketIndex {
        let index = objects
            .clone()
            .namespace(index_namespace(&objects.options().namespace))
            .ioflags(IoFlags::default())
            .user_flags(0)
            .timestamp(None)
            .timeout(options.append_timeout);
        let reads = index.clone().timeout(options.read_timeout);
        let lanes = options.lanes.max(1);
        BucketIndex {
            inner: Arc::new(Inner {
                objects: objects.clone(),
                index,
                reads,
                lane: rand::random::<u32>() % lanes,
                options: IndexOptions { lanes, ..options },
                root: Mutex::new(None),
                generations: Mutex::new(HashMap::new()),
                appenders: Mutex::new(HashMap::new()),
                segments: Mutex::new(SegmentCache::default()),
                lanes: Mutex::new(LaneCache::default()),
                compacting: AtomicBool::new(false),
            }),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &IndexOptions {
        &self.inner.options
    }

    /// Logs that an upload of `key` stamped `stamp` is about to be written. Call before
    /// writing the object; returns once one group stored the entry.
    pub async fn intent_put(&self, key: &[u8], stamp: DnetTime) -> Result<(), IndexError> {
        self.append(JournalOp::PutIntent, key, stamp, 0, None).await
    }

    /// Logs that a delete of `key` stamped `stamp` is about to be written.
    pub async fn intent_delete(&self, key: &[u8], stamp: DnetTime) -> Result<(), IndexError> {
        self.append(JournalOp::DeleteIntent, key, stamp, 0, None)
            .await
    }

    /// Logs that the upload of `key` stamped `stamp` was stored (`size` bytes, `etag`).
    pub async fn commit(
        &self,
        key: &[u8],
        stamp: DnetTime,
        size: u64,
        etag: Option<&str>,
    ) -> Result<(), IndexError> {
        self.append(JournalOp::PutCommit, key, stamp, size, etag)
            .await
    }

    /// Logs that the delete of `key` stamped `stamp` was stored.
    pub async fn commit_delete(&self, key: &[u8], stamp: DnetTime) -> Result<(), IndexError> {
        self.append(JournalOp::DeleteCommit, key, stamp, 0, None)
            .await
    }

    async fn append(
        &self,
        op: JournalOp,
        key: &[u8],
        stamp: DnetTime,
        size: u64,
        etag: Option<&str>,
    ) -> Result<(), IndexError> {
        let entry = JournalEntry {
            op,
            key: key.to_vec(),
            stamp,
            size,
            etag: etag.map(str::to_owned),
        }
        .encode()?;
        let root = self.inner.root().await?;
        let shard = root.shards[root.shard_for(key)].shard;
        let generation = self.inner.generation(shard).await?;
        let lane_key = journal_key(shard, generation, &self.inner.lane.to_string());
        let appender = self.inner.appender(&lane_key);
        let size = appender.append(entry).await?;
        if self.inner.options.auto_compact && size > self.inner.options.compact_at_bytes {
            self.spawn_compaction();
        }
        Ok(())
    }

    /// Starts a compaction in the background unless this instance runs one already.
    fn spawn_compaction(&self) {
        if self.inner.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let index = self.clone();
        tokio::spawn(async move {
            match index.compact().await {
                Ok(report) => tracing::debug!(?report, "index compacted"),
                Err(e) => tracing::info!(error = %e, "index compaction did not finish"),
            }
            index.inner.compacting.store(false, Ordering::Release);
        });
    }

    /// The bucket's objects and bytes: the segments' totals corrected by the live
    /// journals (uncommitted intents settled by the object, as a listing does).
    pub async fn usage(&self) -> Result<BucketUsage, IndexError> {
        let root = self.inner.root().await?;
        let mut total = BucketUsage::default();
        for (i, range) in root.shards.iter().enumerate() {
            let states = self.inner.read_states(range.shard, false).await?;
            let upper = root.upper(i).map(<[u8]>::to_vec);
            let journal = self
                .inner
                .journal_map(&states.union, &range.lower, upper.as_deref(), false)
                .await?;
            let mut scan = Scan::new(
                &self.inner,
                &states.union,
                journal,
                range.lower.clone(),
                upper,
            );
            let usage = match states.union.segments_overlap() {
                // Diverged groups name overlapping segments: count by walking them all.
                true => scan.count_all().await?,
                false => scan.count_journal_delta(&states.union).await?,
            };
            total.objects += usage.objects;
            total.bytes += usage.bytes;
        }
        Ok(total)
    }
}

/// The key of a shard state.
pub(crate) fn shard_key(shard: ShardId) -> Vec<u8> {
    format!("shard/{}", shard.to_hex()).into_bytes()
}

/// The key of a segment.
pub(crate) fn segment_key(id: super::shard_state::SegmentId) -> Vec<u8> {
    format!("seg/{}", id.to_hex()).into_bytes()
}

/// The key of a journal lane (`lane` is a number, or `c` for compaction's carry lane).
pub(crate) fn journal_key(shard: ShardId, generation: u64, lane: &str) -> Vec<u8> {
    format!("journal/{}/{generation}/{lane}", shard.to_hex()).into_bytes()
}

/// What every journal key of `shard` starts with.
fn journal_prefix(shard: ShardId) -> Vec<u8> {
    format!("journal/{}/", shard.to_hex()).into_bytes()
}

/// The root's key.
pub(crate) const ROOT_KEY: &[u8] = b"root";

/// The lane compaction carries unsettled intents in.
pub(crate) const CARRY_LANE: &str = "c";

impl Inner {
    /// The session of one group.
    pub(crate) fn in_group(&self, group: u32) -> Session {
        self.index.clone().groups(vec![group])
    }

    /// The reading session of one group (the read timeout).
    fn reads_in_group(&self, group: u32) -> Session {
        self.reads.clone().groups(vec![group])
    }

    /// The bucket's groups.
    pub(crate) fn groups(&self) -> Vec<u32> {
        self.index.options().groups.clone()
    }

    /// Reads `key` in `group`: `None` when there is no record.
    pub(crate) async fn read_in(
        &self,
        group: u32,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, elliptics::Error> {
        match self
            .reads_in_group(group)
            .read_bounded(key, MAX_RECORD_BYTES)
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads and decodes a self-checking record in `group`, reading again when the check
    /// fails.
    async fn read_checked<T>(
        &self,
        group: u32,
        key: &[u8],
        decode: impl Fn(&[u8]) -> Result<T, IndexFormatError>,
    ) -> Result<Option<(Vec<u8>, T)>, IndexError> {
        let mut attempt = 1;
        loop {
            let Some(bytes) = self.read_in(group, key).await? else {
                return Ok(None);
            };
            match decode(&bytes) {
                Ok(v) => return Ok(Some((bytes, v))),
                Err(e) if attempt >= CHECK_ATTEMPTS => return Err(e.into()),
                Err(e) => {
                    tracing::debug!(group, error = %e, "index record failed its check; reading again");
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 2)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The shard map (read once; a bucket never written has one shard).
    pub(crate) async fn root(&self) -> Result<Arc<Root>, IndexError> {
        if let Some(root) = self.root.lock().ok().and_then(|r| r.clone()) {
            return Ok(root);
        }
        let mut errors = Vec::new();
        let mut found = None;
        for g in self.groups() {
            match self.read_checked(g, ROOT_KEY, Root::decode).await {
                Ok(Some((_, root))) => {
                    if found
                        .as_ref()
                        .is_none_or(|f: &Root| root.version > f.version)
                    {
                        found = Some(root);
                    }
                }
                Ok(None) => {}
                Err(e) => errors.push((g, e)),
            }
        }
        if found.is_none() && !errors.is_empty() && errors.len() == self.groups().len() {
            return Err(unavailable(errors));
        }
        let root = Arc::new(found.unwrap_or_else(Root::initial));
        if let Ok(mut r) = self.root.lock() {
            *r = Some(Arc::clone(&root));
        }
        Ok(root)
    }

    /// The shard's state in every group, in parallel. `strict`: every group must answer.
    pub(crate) async fn read_states(
        &self,
        shard: ShardId,
        strict: bool,
    ) -> Result<GroupStates, IndexError> {
        let key = shard_key(shard);
        let groups = self.groups();
        let reads = join_all(
            groups
                .iter()
                .map(|g| self.read_checked(*g, &key, ShardState::decode)),
        )
        .await;
        let root = self.root().await?;
        let i = root
            .shards
            .iter()
            .position(|r| r.shard == shard)
            .unwrap_or(0);
        let initial = || {
            ShardState::initial(
                shard,
                root.shards
                    .get(i)
                    .map(|r| r.lower.clone())
                    .unwrap_or_default(),
                root.upper(i).map(<[u8]>::to_vec),
            )
        };
        let mut answered = Vec::new();
        let mut failed = Vec::new();
        for (g, r) in groups.iter().zip(reads) {
            match r {
                Ok(Some((bytes, state))) => answered.push((*g, Some(bytes), state)),
                Ok(None) => answered.push((*g, None, initial())),
                Err(IndexError::Storage(e)) => failed.push((*g, e)),
                Err(e) => failed.push((*g, elliptics::Error::Protocol(e.to_string()))),
            }
        }
        if answered.is_empty() || (strict && !failed.is_empty()) {
            return Err(unavailable(
                failed.into_iter().map(|(g, e)| (g, e.into())).collect(),
            ));
        }
        let union = ShardState::union(answered.iter().map(|(_, _, s)| s)).unwrap_or_else(initial);
        Ok(GroupStates {
            groups: answered,
            failed,
            union,
        })
    }

    /// The generation writers of `shard` append to (cached for `state_ttl`).
    async fn generation(&self, shard: ShardId) -> Result<u64, IndexError> {
        let cached = self
            .generations
            .lock()
            .ok()
            .and_then(|m| m.get(&shard).copied());
        if let Some((at, g)) = cached {
            if at.elapsed() < self.options.state_ttl {
                return Ok(g);
            }
        }
        let g = match self.read_states(shard, false).await {
            Ok(states) => states.union.generation,
            Err(e) => match cached {
                // No group answered the state read: the append will tell whether any
                // group is up.
                Some((_, g)) => g,
                None => return Err(e),
            },
        };
        if let Ok(mut m) = self.generations.lock() {
            m.insert(shard, (Instant::now(), g));
        }
        Ok(g)
    }

    /// Forgets the cached generation of `shard` (after a switch).
    pub(crate) fn forget_generation(&self, shard: ShardId) {
        if let Ok(mut m) = self.generations.lock() {
            m.remove(&shard);
        }
    }

    fn appender(&self, key: &[u8]) -> Arc<LaneAppender> {
        let Ok(mut map) = self.appenders.lock() else {
            return LaneAppender::new(self.index.clone(), key.to_vec());
        };
        if map.len() > 64 {
            map.retain(|_, a| !a.idle());
        }
        Arc::clone(
            map.entry(key.to_vec())
                .or_insert_with(|| LaneAppender::new(self.index.clone(), key.to_vec())),
        )
    }

    /// Every journal key of the live generations of `state` (all lanes and the carry lane).
    pub(crate) fn live_journal_keys(&self, state: &ShardState) -> Vec<Vec<u8>> {
        self.journal_keys(state.id, state.live_generations())
    }

    /// Every journal key of `generations`.
    pub(crate) fn journal_keys(
        &self,
        shard: ShardId,
        generations: impl Iterator<Item = u64>,
    ) -> Vec<Vec<u8>> {
        let lanes: Vec<String> = (0..self.options.lanes)
            .map(|l| l.to_string())
            .chain([CARRY_LANE.to_string()])
            .collect();
        generations
            .flat_map(|g| lanes.iter().map(move |l| journal_key(shard, g, l)))
            .collect()
    }

    /// The entries of `keys` in every group (a union), one [`LaneEntries`] per lane and
    /// group. `strict`: every group must answer every read (compaction; lanes are read
    /// whole); otherwise a key is skipped in a group that fails, only a key no group
    /// answered fails the call, and lanes come through the [`LaneCache`] (listings).
    pub(crate) async fn read_journals(
        &self,
        keys: &[Vec<u8>],
        strict: bool,
    ) -> Result<Vec<LaneEntries>, IndexError> {
        let groups = self.groups();
        let reads = keys.iter().flat_map(|k| {
            groups.iter().map(move |g| async move {
                let r = match strict {
                    true => self
                        .read_log(*g, k)
                        .await
                        .map(|(log, _)| log.entries.into()),
                    false => self.read_lane(*g, k).await,
                };
                (k, *g, r)
            })
        });
        let results = join_all(reads).await;
        let mut out = Vec::new();
        let mut failed: Vec<(u32, IndexError)> = Vec::new();
        let mut answered: HashMap<&Vec<u8>, bool> = HashMap::new();
        for (k, g, r) in results {
            match r {
                Ok(entries) => {
                    answered.insert(k, true);
                    out.push(entries);
                }
                Err(e) => {
                    answered.entry(k).or_insert(false);
                    failed.push((g, e.into()));
                }
            }
        }
        if !failed.is_empty() && (strict || answered.values().any(|a| !a)) {
            return Err(unavailable(failed));
        }
        Ok(out)
    }

    /// One journal record in one group, read again while it shows a tear; with the byte at
    /// the end of its clean prefix (`None` when that prefix is empty).
    async fn read_log(
        &self,
        group: u32,
        key: &[u8],
    ) -> Result<(JournalLog, Option<u8>), elliptics::Error> {
        let mut attempt = 1;
        loop {
            let read = self
                .reads_in_group(group)
                .read_append_only(key, MAX_RECORD_BYTES)
                .await;
            let (log, last) = match read.map(Some).or_else(|e| match e.is_not_found() {
                true => Ok(None),
                false => Err(e),
            })? {
                Some(bytes) => {
                    let log = decode_log(&bytes);
                    let last = log.clean_len.checked_sub(1).map(|i| bytes[i]);
                    (log, last)
                }
                None => return Ok((JournalLog::default(), None)),
            };
            if log.torn == 0 || attempt >= CHECK_ATTEMPTS {
                if log.torn > 0 {
                    tracing::warn!(group, torn = log.torn, key = %String::from_utf8_lossy(key), "journal has damaged entries");
                }
                return Ok((log, last));
            }
            tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 2)).await;
            attempt += 1;
        }
    }

    /// One journal lane in one group through the [`LaneCache`]: only the bytes appended
    /// since the last read are read and decoded. Anything unexpected (the record gone,
    /// shorter, or not the one decoded, a tear in the new bytes) reads it whole again.
    async fn read_lane(&self, group: u32, key: &[u8]) -> Result<LaneEntries, elliptics::Error> {
        let cached = self.lanes.lock().ok().and_then(|mut c| c.get(group, key));
        if let Some(c) = cached {
            let tail = self
                .reads_in_group(group)
                .read_append_only_from(key, c.len - 1, MAX_RECORD_BYTES)
                .await;
            match tail {
                Ok(bytes) if bytes.first() == Some(&c.last) => {
                    let log = decode_log(&bytes[1..]);
                    if log.torn == 0 {
                        let mut fresh = log.entries;
                        fresh.truncate(log.clean_entries);
                        let entries = c.entries.with(fresh);
                        if log.clean_len > 0 {
                            let lane = CachedLane {
                                len: c.len + log.clean_len as u64,
                                last: bytes[log.clean_len],
                                entries: entries.clone(),
                            };
                            if let Ok(mut cache) = self.lanes.lock() {
                                cache.put(group, key, lane);
                            }
                        }
                        return Ok(entries);
                    }
                }
                // Storage is slow or down: a whole read would fail the same way.
                Err(e) if e.is_transient() => return Err(e),
                // Gone, shorter (a READ past the end), or another record: read it whole.
                Ok(_) | Err(_) => {}
            }
            if let Ok(mut cache) = self.lanes.lock() {
                cache.forget(group, key);
            }
        }
        let (log, last) = self.read_log(group, key).await?;
        if let (0, Some(last)) = (log.torn, last) {
            let mut clean = log.entries.clone();
            clean.truncate(log.clean_entries);
            let lane = CachedLane {
                len: log.clean_len as u64,
                last,
                entries: clean.into(),
            };
            if let Ok(mut cache) = self.lanes.lock() {
                cache.put(group, key, lane);
            }
        }
        Ok(log.entries.into())
    }

    /// The live journals of `state` folded per key, keys in `[from, upper)` only.
    pub(crate) async fn journal_map(
        &self,
        state: &ShardState,
        from: &[u8],
        upper: Option<&[u8]>,
        strict: bool,
    ) -> Result<BTreeMap<Vec<u8>, KeyMerge>, IndexError> {
        let live = self.live_journal_keys(state);
        let entries = self.read_journals(&live, strict).await?;
        if let Ok(mut cache) = self.lanes.lock() {
            cache.retain_lanes(&journal_prefix(state.id), &live);
        }
        let mut map: BTreeMap<Vec<u8>, KeyMerge> = BTreeMap::new();
        for e in entries.iter().flat_map(LaneEntries::iter) {
            if e.key.as_slice() < from || upper.is_some_and(|u| e.key.as_slice() >= u) {
                continue;
            }
            map.entry(e.key.clone()).or_default().add_journal(e);
        }
        Ok(map)
    }

    /// A segment (cached: segments never change).
    pub(crate) async fn segment(&self, r: &SegmentRef) -> Result<Arc<Segment>, IndexError> {
        if let Some((s, _)) = self
            .segments
            .lock()
            .ok()
            .and_then(|c| c.map.get(&r.id).cloned())
        {
            return Ok(s);
        }
        let key = segment_key(r.id);
        let mut last: Option<IndexError> = None;
        for g in self.groups() {
            match self.read_checked(g, &key, Segment::decode).await {
                Ok(Some((bytes, seg))) => {
                    let seg = Arc::new(seg);
                    if let Ok(mut c) = self.segments.lock() {
                        if c.bytes + bytes.len() > self.options.segment_cache_bytes {
                            c.map.clear();
                            c.bytes = 0;
                        }
                        c.bytes += bytes.len();
                        c.map.insert(r.id, (Arc::clone(&seg), bytes.len()));
                    }
                    return Ok(seg);
                }
                Ok(None) => {}
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| IndexError::MissingSegment(r.id.to_hex())))
    }

    /// Settles an intent by looking at the object: `Some((size, stamp))` when it exists.
    pub(crate) async fn object_head(
        &self,
        key: &[u8],
    ) -> Result<Option<(u64, DnetTime)>, IndexError> {
        match head(&self.objects, key).await {
            Ok(h) => Ok(Some((h.size, h.timestamp))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Settles a pending resolution with the object's head.
pub(crate) fn settle(merge: &KeyMerge, head: Option<(u64, DnetTime)>) -> Resolution {
    match head {
        Some((size, stamp)) => Resolution::Listed(super::key_merge::Definite {
            kind: EntryKind::Put,
            stamp,
            size,
            etag: merge.etag_at(stamp),
        }),
        None => Resolution::Hidden,
    }
}

fn unavailable(errors: Vec<(u32, IndexError)>) -> IndexError {
    IndexError::GroupsUnavailable {
        groups: errors.iter().map(|(g, _)| *g).collect(),
        reason: errors
            .first()
            .map(|(_, e)| e.to_string())
            .unwrap_or_else(|| "no groups".into()),
    }
}
