//! Reading an object whatever its layout. [`open`] reads the key's first chunk — the
//! whole object for a single record, the manifest for one stored in parts — and returns
//! the object's [`ObjectHead`] with a stream of its bytes, in one round trip for single
//! objects. [`head`] learns size, timestamp and layout with a small READ (no checksum
//! pass over a large record); [`read_range`] then streams any byte range.
//!
//! Parts are immutable (written once under the upload's own keys), so a reader that holds
//! a manifest reads one version whole even while the key is overwritten. A single-record
//! range read checks that the key did not turn into a manifest between [`head`] and the
//! read.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use elliptics::client::ReadStream;
use elliptics::proto::{DnetTime, IoFlags};
use elliptics::{Error, Session};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt, stream};

use super::manifest::{MAX_MANIFEST_BYTES, Manifest};
use super::record_kind::RecordKind;
use super::upload_id::parts_namespace;
use super::wire::FormatError;

/// Bytes a [`head`] READ asks for: a manifest of up to ~100 parts fits.
const HEAD_BYTES: u64 = 1024;

/// Reads of a record that failed its check (CRC, manifest) before giving up: a read that
/// raced an in-place overwrite on a real node succeeds once the overwrite is done.
const CHECK_ATTEMPTS: u32 = 6;

/// Largest checked record read whole to verify its CRC (the single layout stays below the
/// part size; a bigger checked record is streamed unverified).
const MAX_VERIFIED: u64 = 64 << 20;

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Storage failed (not found included: [`ReadError::is_not_found`]).
    #[error(transparent)]
    Storage(#[from] Error),
    /// The key holds a manifest that cannot be decoded.
    #[error("{0}")]
    Malformed(#[from] FormatError),
    /// The key was replaced by an object of another layout between two reads.
    #[error("the object changed while it was being read")]
    Changed,
    /// Every read of a checked record failed its CRC: it is being overwritten (or damaged).
    #[error("the object's bytes do not match their checksum (overwritten while read?)")]
    Torn,
}

impl ReadError {
    /// Whether the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Storage(e) if e.is_not_found())
    }
}

/// What a reader needs to know about an object before serving it.
#[derive(Debug, Clone)]
pub struct ObjectHead {
    /// The object's size.
    pub size: u64,
    /// The timestamp of the record at the key (`Last-Modified`).
    pub timestamp: DnetTime,
    /// The manifest, when the object is stored in parts.
    pub manifest: Option<Arc<Manifest>>,
    /// Whether the object is one record with a CRC, read whole to be verified.
    pub verified: bool,
}

/// An object's bytes (or a range of them).
pub struct ObjectBody {
    inner: BoxStream<'static, Result<Bytes, Error>>,
}

impl std::fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectBody")
    }
}

impl Stream for ObjectBody {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl ObjectBody {
    fn single(stream: ReadStream) -> ObjectBody {
        ObjectBody {
            inner: stream.boxed(),
        }
    }

    fn bytes(bytes: Bytes) -> ObjectBody {
        ObjectBody {
            inner: stream::once(futures_util::future::ready(Ok(bytes))).boxed(),
        }
    }

    fn empty() -> ObjectBody {
        ObjectBody {
            inner: stream::empty().boxed(),
        }
    }
}

/// Reads the whole object: its head and its bytes. A checked single record is read whole
/// and verified before anything is returned; a manifest is verified when decoded; either
/// is read again (a few times, briefly spaced) when the check fails.
pub async fn open(session: &Session, key: &[u8]) -> Result<(ObjectHead, ObjectBody), ReadError> {
    retry_checks(|| open_once(session, key)).await
}

/// Runs `attempt` until it does not fail a check, at most [`CHECK_ATTEMPTS`] times.
async fn retry_checks<T, F: Future<Output = Result<T, ReadError>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T, ReadError> {
    let mut n = 1;
    loop {
        match attempt().await {
            Err(ReadError::Torn | ReadError::Malformed(_)) if n < CHECK_ATTEMPTS => {
                tracing::debug!(attempt = n, "object failed its check; reading again");
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(n) * 2)).await;
                n += 1;
            }
            other => return other,
        }
    }
}

async fn open_once(session: &Session, key: &[u8]) -> Result<(ObjectHead, ObjectBody), ReadError> {
    let first = session.read(key, 0, 0).await?;
    let kind = RecordKind::of(first.user_flags());
    if kind == RecordKind::Tombstone {
        return Err(ReadError::Storage(Error::NotFound));
    }
    let head = ObjectHead {
        size: first.total_size(),
        timestamp: first.timestamp(),
        manifest: None,
        verified: is_verified(kind, first.total_size()),
    };
    match kind {
        RecordKind::Manifest => {
            let manifest = Arc::new(collect_manifest(key, first).await?);
            let head = ObjectHead {
                size: manifest.size,
                manifest: Some(Arc::clone(&manifest)),
                verified: false,
                ..head
            };
            let body = parts_body(session, &manifest, 0, manifest.size);
            Ok((head, body))
        }
        RecordKind::CheckedData(crc) if first.total_size() <= MAX_VERIFIED => {
            let bytes = collect(first).await?;
            match crc32fast::hash(&bytes) == crc {
                true => Ok((head, ObjectBody::bytes(bytes))),
                false => Err(ReadError::Torn),
            }
        }
        _ => Ok((head, ObjectBody::single(first))),
    }
}

fn is_verified(kind: RecordKind, size: u64) -> bool {
    matches!(kind, RecordKind::CheckedData(_)) && size <= MAX_VERIFIED
}

/// The whole of a stream, in one buffer.
async fn collect(stream: ReadStream) -> Result<Bytes, Error> {
    let chunks: Vec<Bytes> = stream.try_collect().await?;
    Ok(match chunks.len() {
        1 => chunks.into_iter().next().unwrap_or_default(),
        _ => chunks.concat().into(),
    })
}

/// The object's head, from a small READ of the key without a checksum pass (a manifest is
/// verified and read again if it fails, as in [`open`]).
pub async fn head(session: &Session, key: &[u8]) -> Result<ObjectHead, ReadError> {
    retry_checks(|| head_once(session, key)).await
}

async fn head_once(session: &Session, key: &[u8]) -> Result<ObjectHead, ReadError> {
    let quick = session
        .clone()
        .ioflags(session.options().ioflags | IoFlags::NOCSUM);
    let first = quick.read(key, 0, HEAD_BYTES).await?;
    let timestamp = first.timestamp();
    match RecordKind::of(first.user_flags()) {
        RecordKind::Tombstone => Err(ReadError::Storage(Error::NotFound)),
        RecordKind::Manifest => {
            let manifest = match first.total_size() <= HEAD_BYTES {
                true => collect_manifest(key, first).await?,
                false => {
                    let whole = session.read(key, 0, 0).await?;
                    collect_manifest(key, whole).await?
                }
            };
            Ok(ObjectHead {
                size: manifest.size,
                timestamp,
                manifest: Some(Arc::new(manifest)),
                verified: false,
            })
        }
        kind => Ok(ObjectHead {
            size: first.total_size(),
            timestamp,
            manifest: None,
            verified: is_verified(kind, first.total_size()),
        }),
    }
}

/// Bytes `offset .. offset + len` of the object `head` describes.
pub async fn read_range(
    session: &Session,
    key: &[u8],
    head: &ObjectHead,
    offset: u64,
    len: u64,
) -> Result<ObjectBody, ReadError> {
    if len == 0 {
        return Ok(ObjectBody::empty());
    }
    match &head.manifest {
        Some(manifest) => Ok(parts_body(session, manifest, offset, len)),
        // A checked record is read whole and verified, then sliced.
        None if head.verified => {
            let (now, body) = open(session, key).await?;
            if now.manifest.is_some() {
                return Err(ReadError::Changed);
            }
            let bytes = collect_body(body).await?;
            let start = offset.min(bytes.len() as u64) as usize;
            let end = offset.saturating_add(len).min(bytes.len() as u64) as usize;
            Ok(ObjectBody::bytes(bytes.slice(start..end)))
        }
        None => {
            let stream = session.read(key, offset, len).await?;
            match RecordKind::of(stream.user_flags()) {
                RecordKind::Manifest => Err(ReadError::Changed),
                RecordKind::Tombstone => Err(ReadError::Storage(Error::NotFound)),
                _ => Ok(ObjectBody::single(stream)),
            }
        }
    }
}

async fn collect_body(body: ObjectBody) -> Result<Bytes, Error> {
    let chunks: Vec<Bytes> = body.try_collect().await?;
    Ok(chunks.concat().into())
}

/// The manifest whose first chunk `first` is.
async fn collect_manifest(key: &[u8], first: ReadStream) -> Result<Manifest, ReadError> {
    if first.total_size() > MAX_MANIFEST_BYTES {
        return Err(ReadError::Malformed(FormatError {
            record: "manifest",
            reason: format!(
                "record of {} bytes at '{}'",
                first.total_size(),
                String::from_utf8_lossy(key)
            ),
        }));
    }
    let bytes = first
        .try_fold(Vec::new(), |mut acc, chunk| async move {
            acc.extend_from_slice(&chunk);
            Ok(acc)
        })
        .await?;
    Ok(Manifest::decode(&bytes)?)
}

/// The bytes of `offset .. offset + len` read from the parts, one part at a time.
fn parts_body(session: &Session, manifest: &Manifest, offset: u64, len: u64) -> ObjectBody {
    let parts = session
        .clone()
        .namespace(parts_namespace(&session.options().namespace));
    let upload = manifest.upload;
    let slices = manifest.slices(offset, len);
    let inner = stream::iter(slices)
        .then(move |slice| {
            let parts = parts.clone();
            async move {
                parts
                    .read(&upload.part_key(slice.part), slice.offset, slice.len)
                    .await
            }
        })
        .try_flatten()
        .boxed();
    ObjectBody { inner }
}
