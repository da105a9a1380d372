//! [`MetadataStore`]: Backrunner's records in the metadata groups of an Elliptics cluster —
//! bucket metadata (namespace `bucket`, the msgpack object of DESIGN contract 2), the bucket
//! list, the token-alias record of each bucket, the ownership record, and bucket
//! directories with their membership records. The proxy, the operator and `backrunner
//! bucket` all read and write through it.
//!
//! One write rule: a write or remove goes to every metadata group (one plain WRITE each) and
//! its [`WriteReport`] says which groups took it. The caller decides what is enough:
//! [`WriteReport::check`] wants every group (the operator, which retries until they all
//! agree), [`WriteReport::check_any`] one (the admin command, which prints the rest). Reads
//! take the first group that has the object; [`MetadataStore::read_copies`] reads every
//! group on its own, for drift detection. Shared lists (the bucket list, a directory's
//! members) change by read-modify-write with compare-and-swap in each group on its own
//! ([`MetadataStore::update_object`]), so concurrent changes from many proxies all land.

use std::time::Duration;

use elliptics::Session;
use elliptics::client::Client;
use elliptics::proto::Id;
use elliptics::proto::errno::code::EBADFD;
use futures_util::future::join_all;

use crate::bucket::{BucketMetadata, METADATA_NAMESPACE};
use crate::bucket_list::BucketList;
use crate::directory::{
    BucketDirectory, DIRECTORY_NAMESPACE, DirectoryMembership, MEMBERSHIP_NAMESPACE,
};
use crate::ownership::{OWNER_NAMESPACE, OwnerRecord};
use crate::token_aliases::{TOKEN_ALIASES_NAMESPACE, TokenAliases};

/// Largest object read from the metadata groups (1 MiB).
pub const MAX_OBJECT_BYTES: u64 = 1 << 20;

/// Compare-and-swap attempts of one read-modify-write in one group before it gives up.
const CAS_ATTEMPTS: u32 = 32;

/// A bucket list with no names, as stored: one newline (a real Elliptics node keeps the old
/// bytes of a record overwritten with zero bytes, and a remove cannot be compared-and-swapped).
const EMPTY_LIST: &[u8] = b"\n";

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Storage refused or could not be reached (every group failed for a read).
    #[error("{namespace}/{key}: {source}")]
    Storage {
        /// Elliptics namespace of the object.
        namespace: &'static str,
        /// Key of the object.
        key: String,
        /// The client's error.
        #[source]
        source: elliptics::Error,
    },
    /// The stored object is not in the expected format.
    #[error("{namespace}/{key}: malformed record: {reason}")]
    Malformed {
        /// Elliptics namespace of the object.
        namespace: &'static str,
        /// Key of the object.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Some metadata groups did not take a write or remove.
    #[error("{namespace}/{key}: failed in groups {}", describe_failures(.failed))]
    Partial {
        /// Elliptics namespace of the object.
        namespace: &'static str,
        /// Key of the object.
        key: String,
        /// `(group, error)` per failed group.
        failed: Vec<(u32, String)>,
    },
}

impl MetadataError {
    /// Whether retrying later may help (storage unreachable or some groups down).
    pub fn is_transient(&self) -> bool {
        match self {
            MetadataError::Storage { source, .. } => source.is_transient(),
            MetadataError::Partial { .. } => true,
            MetadataError::Malformed { .. } => false,
        }
    }
}

fn describe_failures(failed: &[(u32, String)]) -> String {
    failed
        .iter()
        .map(|(g, e)| format!("{g} ({e})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per-group result of a write or remove in the metadata groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// Namespace of the object.
    pub namespace: &'static str,
    /// Key of the object.
    pub key: String,
    /// Groups that took it.
    pub ok: Vec<u32>,
    /// Groups that failed, with the error.
    pub failed: Vec<(u32, String)>,
}

impl WriteReport {
    /// A report of no group yet.
    fn new(namespace: &'static str, key: &str) -> WriteReport {
        WriteReport {
            namespace,
            key: key.to_owned(),
            ok: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Whether every group took it.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    /// `Ok` when every group took it, [`MetadataError::Partial`] otherwise.
    pub fn check(self) -> Result<(), MetadataError> {
        if self.failed.is_empty() {
            return Ok(());
        }
        Err(self.into_partial())
    }

    /// `Ok` with the groups that failed (maybe none) when at least one group took it,
    /// [`MetadataError::Partial`] when none did.
    pub fn check_any(self) -> Result<Vec<(u32, String)>, MetadataError> {
        if self.ok.is_empty() {
            return Err(self.into_partial());
        }
        Ok(self.failed)
    }

    fn into_partial(self) -> MetadataError {
        MetadataError::Partial {
            namespace: self.namespace,
            key: self.key,
            failed: self.failed,
        }
    }
}

/// What one metadata group holds under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupCopy {
    /// The object's bytes.
    Present(Vec<u8>),
    /// The group does not have it.
    Missing,
    /// The group could not be read (message).
    Unreadable(String),
}

/// The operator's records in the metadata groups of one cluster.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    client: Client,
    groups: Vec<u32>,
}

impl MetadataStore {
    /// A store over `client` writing to and reading from `groups`.
    pub fn new(client: &Client, groups: Vec<u32>) -> MetadataStore {
        MetadataStore {
            client: client.clone(),
            groups,
        }
    }

    /// The metadata groups.
    pub fn groups(&self) -> &[u32] {
        &self.groups
    }

    fn session(&self, namespace: &str, groups: Vec<u32>) -> Session {
        self.client.session().groups(groups).namespace(namespace)
    }

    /// Reads an object from the first group that has it; `Ok(None)` when no group does.
    pub async fn read_object(
        &self,
        namespace: &'static str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, MetadataError> {
        read_whole(&self.session(namespace, self.groups.clone()), key)
            .await
            .map_err(|source| MetadataError::Storage {
                namespace,
                key: key.to_owned(),
                source,
            })
    }

    /// Reads an object from every group separately, in group order.
    pub async fn read_copies(&self, namespace: &'static str, key: &str) -> Vec<(u32, GroupCopy)> {
        let reads = self.groups.iter().map(|&g| async move {
            let copy = match read_whole(&self.session(namespace, vec![g]), key).await {
                Ok(Some(bytes)) => GroupCopy::Present(bytes),
                Ok(None) => GroupCopy::Missing,
                Err(e) => GroupCopy::Unreadable(e.to_string()),
            };
            (g, copy)
        });
        join_all(reads).await
    }

    /// Writes an object to every metadata group (one plain WRITE each).
    pub async fn write_object(
        &self,
        namespace: &'static str,
        key: &str,
        bytes: &[u8],
    ) -> WriteReport {
        let session = self.session(namespace, self.groups.clone());
        let mut report = WriteReport::new(namespace, key);
        match session
            .write(key.as_bytes(), bytes, bytes.len() as u64, 0)
            .await
        {
            Ok(outcome) => {
                for r in outcome.results {
                    match r.result {
                        Ok(_) => report.ok.push(r.group),
                        Err(e) => report.failed.push((r.group, e.to_string())),
                    }
                }
            }
            Err(e) => {
                report.failed = failures_of(&self.groups, e)
                    .into_iter()
                    .map(|(g, e)| (g, e.to_string()))
                    .collect();
            }
        }
        if !report.failed.is_empty() {
            tracing::warn!(namespace, key, failed = %describe_failures(&report.failed), "metadata write failed in some groups");
        }
        report
    }

    /// Removes an object from every metadata group; a group without it counts as done.
    pub async fn remove_object(&self, namespace: &'static str, key: &str) -> WriteReport {
        let session = self.session(namespace, self.groups.clone());
        let mut report = WriteReport::new(namespace, key);
        match session.remove(key.as_bytes()).await {
            Ok(results) => {
                for r in results {
                    match r.result {
                        Err(e) if !e.is_not_found() => report.failed.push((r.group, e.to_string())),
                        _ => report.ok.push(r.group),
                    }
                }
            }
            Err(e) if e.is_not_found() => report.ok = self.groups.clone(),
            Err(e) => {
                // Every group failed; the not-found ones are done all the same.
                for (g, e) in failures_of(&self.groups, e) {
                    if e.is_not_found() {
                        report.ok.push(g);
                    } else {
                        report.failed.push((g, e.to_string()));
                    }
                }
            }
        }
        report
    }

    /// Reads and decodes the object under `key`; `Ok(None)` when absent,
    /// [`MetadataError::Malformed`] when `decode` refuses it.
    async fn read_decoded<T, E: std::fmt::Display>(
        &self,
        namespace: &'static str,
        key: &str,
        decode: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<Option<T>, MetadataError> {
        let Some(bytes) = self.read_object(namespace, key).await? else {
            return Ok(None);
        };
        decode(&bytes)
            .map(Some)
            .map_err(|e| malformed(namespace, key, e.to_string()))
    }

    /// Reads bucket `name`'s metadata; `Ok(None)` when absent.
    pub async fn read_bucket(&self, name: &str) -> Result<Option<BucketMetadata>, MetadataError> {
        self.read_decoded(METADATA_NAMESPACE, name, BucketMetadata::decode)
            .await
    }

    /// The raw metadata object of bucket `name` in every group (drift detection).
    pub async fn read_bucket_copies(&self, name: &str) -> Vec<(u32, GroupCopy)> {
        self.read_copies(METADATA_NAMESPACE, name).await
    }

    /// Writes bucket metadata to every metadata group.
    pub async fn write_bucket(&self, meta: &BucketMetadata) -> WriteReport {
        self.write_object(METADATA_NAMESPACE, &meta.name, &meta.encode())
            .await
    }

    /// Removes bucket `name`'s metadata from every metadata group.
    pub async fn remove_bucket(&self, name: &str) -> WriteReport {
        self.remove_object(METADATA_NAMESPACE, name).await
    }

    /// Reads the bucket list under `key` (empty when absent).
    pub async fn read_list(&self, key: &str) -> Result<BucketList, MetadataError> {
        let bytes = self.read_object(METADATA_NAMESPACE, key).await?;
        Ok(BucketList::parse(bytes.as_deref().unwrap_or_default()))
    }

    /// Adds `name` to the bucket list under `key` (read-modify-write); `true` when it was
    /// written, `false` when already listed.
    pub async fn add_to_list(&self, key: &str, name: &str) -> Result<bool, MetadataError> {
        self.update_list(key, |list| list.insert(name)).await
    }

    /// Removes `name` from the bucket list under `key`; `true` when it was listed.
    pub async fn remove_from_list(&self, key: &str, name: &str) -> Result<bool, MetadataError> {
        self.update_list(key, |list| list.remove(name)).await
    }

    /// Read-modify-write of the bucket list in every group ([`MetadataStore::update_object`]);
    /// `true` when `change` changed it in some group.
    async fn update_list(
        &self,
        key: &str,
        change: impl Fn(&mut BucketList) -> bool,
    ) -> Result<bool, MetadataError> {
        let (changed, report) = self
            .update_object(METADATA_NAMESPACE, key, |current| {
                let mut list = BucketList::parse(current.unwrap_or_default());
                if !change(&mut list) {
                    return Ok(None);
                }
                Ok(Some(match list.names().is_empty() {
                    true => EMPTY_LIST.to_vec(),
                    false => list.render(),
                }))
            })
            .await;
        report.check()?;
        Ok(changed)
    }

    /// Read-modify-write of one object in every metadata group, each group on its own:
    /// `change` gets what the group holds (`None`: nothing) and returns the new bytes
    /// (`Ok(None)`: no change needed); the write is a compare-and-swap against the bytes
    /// read, so a group whose copy changed meanwhile (another proxy's update) refuses it and
    /// the group is read and changed again. Returns whether some group was changed, and
    /// which groups are done (changed or needing no change). `change` refusing the bytes
    /// read (malformed) reads again before giving up: a real Elliptics node overwrites a
    /// record in place, and a READ racing that can return the new bytes with the old
    /// length.
    pub async fn update_object(
        &self,
        namespace: &'static str,
        key: &str,
        change: impl Fn(Option<&[u8]>) -> Result<Option<Vec<u8>>, String>,
    ) -> (bool, WriteReport) {
        let change = &change;
        let updates = self
            .groups
            .iter()
            .map(|&g| async move { (g, self.update_in_group(namespace, key, g, change).await) });
        let mut report = WriteReport::new(namespace, key);
        let mut changed = false;
        for (g, r) in join_all(updates).await {
            match r {
                Ok(c) => {
                    changed |= c;
                    report.ok.push(g);
                }
                Err(e) => report.failed.push((g, e)),
            }
        }
        if !report.failed.is_empty() {
            tracing::warn!(namespace, key, failed = %describe_failures(&report.failed), "metadata update failed in some groups");
        }
        (changed, report)
    }

    /// [`MetadataStore::update_object`] in group `g`: whether it changed the object.
    async fn update_in_group(
        &self,
        namespace: &'static str,
        key: &str,
        g: u32,
        change: &impl Fn(Option<&[u8]>) -> Result<Option<Vec<u8>>, String>,
    ) -> Result<bool, String> {
        let session = self.session(namespace, vec![g]);
        for attempt in 0..CAS_ATTEMPTS {
            let current = read_whole(&session, key).await.map_err(|e| e.to_string())?;
            let next = match change(current.as_deref()) {
                Ok(Some(next)) => next,
                Ok(None) => return Ok(false),
                Err(e) if attempt + 1 < CAS_ATTEMPTS => {
                    tracing::debug!(namespace, key, group = g, error = %e, "metadata record unreadable; reading again");
                    tokio::time::sleep(Duration::from_millis(2 + u64::from(attempt))).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let expected = current.as_deref().map_or(Id::ZERO, Id::checksum);
            match session
                .write_cas(key.as_bytes(), next.into(), expected)
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if e.status() == EBADFD => {
                    // Another writer changed it between our read and write: read again,
                    // after a short random pause so the racers spread out.
                    let pause = rand::random::<u64>() % (2 + u64::from(attempt) * 4);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!(
            "still changing under {CAS_ATTEMPTS} compare-and-swap attempts"
        ))
    }

    /// Reads bucket directory `name`; `Ok(None)` when absent.
    pub async fn read_directory(
        &self,
        name: &str,
    ) -> Result<Option<BucketDirectory>, MetadataError> {
        self.read_decoded(DIRECTORY_NAMESPACE, name, BucketDirectory::decode)
            .await
    }

    /// Writes a bucket directory to every metadata group.
    pub async fn write_directory(&self, directory: &BucketDirectory) -> WriteReport {
        self.write_object(DIRECTORY_NAMESPACE, &directory.name, &directory.encode())
            .await
    }

    /// Puts bucket `bucket` in directory `to` (`None`: in none): its membership record,
    /// and the member lists of the directory it leaves and the one it joins (each a
    /// read-modify-write, written only when it changes). A directory `to` that does not
    /// exist is created (empty ACL) when `create_missing`, else left alone. Returns the
    /// directory the bucket was in.
    pub async fn move_to_directory(
        &self,
        bucket: &str,
        to: Option<&str>,
        create_missing: bool,
    ) -> Result<Option<String>, MetadataError> {
        let current = self
            .read_record::<DirectoryMembership>(bucket)
            .await?
            .map(|m| m.directory);
        if current.as_deref() != to {
            let report = match to {
                Some(dir) => {
                    self.write_record(bucket, &DirectoryMembership::new(dir))
                        .await
                }
                None => self.remove_record::<DirectoryMembership>(bucket).await,
            };
            report.check()?;
        }
        if let Some(dir) = to {
            self.update_object(DIRECTORY_NAMESPACE, dir, |stored| {
                let mut directory = match stored {
                    Some(bytes) => BucketDirectory::decode(bytes).map_err(|e| e.to_string())?,
                    None if create_missing => BucketDirectory::new(dir),
                    None => return Ok(None),
                };
                let added = directory.insert(bucket);
                Ok((added || stored.is_none()).then(|| directory.encode()))
            })
            .await
            .1
            .check()?;
        }
        if let Some(old) = current.as_deref().filter(|old| Some(*old) != to) {
            self.update_object(DIRECTORY_NAMESPACE, old, |stored| {
                let Some(bytes) = stored else {
                    return Ok(None);
                };
                let mut directory = BucketDirectory::decode(bytes).map_err(|e| e.to_string())?;
                Ok(directory.remove(bucket).then(|| directory.encode()))
            })
            .await
            .1
            .check()?;
        }
        Ok(current)
    }

    /// Removes bucket directory `name` from every metadata group.
    pub async fn remove_directory(&self, name: &str) -> WriteReport {
        self.remove_object(DIRECTORY_NAMESPACE, name).await
    }

    /// Reads the record of type `R` of bucket `name` (its token aliases, its ownership);
    /// `Ok(None)` when absent.
    pub async fn read_record<R: BucketRecord>(
        &self,
        name: &str,
    ) -> Result<Option<R>, MetadataError> {
        self.read_decoded(R::NAMESPACE, name, R::decode).await
    }

    /// Writes `record` as the record of its type of bucket `name`.
    pub async fn write_record<R: BucketRecord>(&self, name: &str, record: &R) -> WriteReport {
        self.write_object(R::NAMESPACE, name, &record.encode())
            .await
    }

    /// Removes the record of type `R` of bucket `name`.
    pub async fn remove_record<R: BucketRecord>(&self, name: &str) -> WriteReport {
        self.remove_object(R::NAMESPACE, name).await
    }
}

/// A record kept beside bucket metadata, one per bucket, under the bucket's name in a
/// namespace of its own: [`TokenAliases`], [`OwnerRecord`], [`DirectoryMembership`].
pub trait BucketRecord: Sized {
    /// The Elliptics namespace of the records of this type.
    const NAMESPACE: &'static str;

    /// The bytes to store.
    fn encode(&self) -> Vec<u8>;

    /// Parses stored bytes; the error says what is wrong.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

impl BucketRecord for TokenAliases {
    const NAMESPACE: &'static str = TOKEN_ALIASES_NAMESPACE;

    fn encode(&self) -> Vec<u8> {
        TokenAliases::encode(self)
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        TokenAliases::decode(bytes).map_err(|e| e.to_string())
    }
}

impl BucketRecord for OwnerRecord {
    const NAMESPACE: &'static str = OWNER_NAMESPACE;

    fn encode(&self) -> Vec<u8> {
        OwnerRecord::encode(self)
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        OwnerRecord::decode(bytes)
    }
}

impl BucketRecord for DirectoryMembership {
    const NAMESPACE: &'static str = MEMBERSHIP_NAMESPACE;

    fn encode(&self) -> Vec<u8> {
        DirectoryMembership::encode(self)
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        DirectoryMembership::decode(bytes).map_err(|e| e.to_string())
    }
}

fn malformed(namespace: &'static str, key: &str, reason: String) -> MetadataError {
    MetadataError::Malformed {
        namespace,
        key: key.to_owned(),
        reason,
    }
}

/// `(group, error)` for every group from the combined error of a multi-group operation.
fn failures_of(groups: &[u32], e: elliptics::Error) -> Vec<(u32, elliptics::Error)> {
    match e {
        elliptics::Error::AllGroupsFailed { errors } => errors,
        e => groups.iter().map(|g| (*g, e.clone())).collect(),
    }
}

/// Reads a whole object (bounded by [`MAX_OBJECT_BYTES`]); `Ok(None)` when not found.
async fn read_whole(session: &Session, key: &str) -> Result<Option<Vec<u8>>, elliptics::Error> {
    match session.read_bounded(key.as_bytes(), MAX_OBJECT_BYTES).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}
