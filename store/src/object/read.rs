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

    fn empty() -> ObjectBody {
        ObjectBody {
            inner: stream::empty().boxed(),
        }
    }
}

/// Reads the whole object: its head and its bytes.
pub async fn open(session: &Session, key: &[u8]) -> Result<(ObjectHead, ObjectBody), ReadError> {
    let first = session.read(key, 0, 0).await?;
    match RecordKind::of(first.user_flags()) {
        RecordKind::Manifest => {
            let timestamp = first.timestamp();
            let manifest = Arc::new(collect_manifest(key, first).await?);
            let head = ObjectHead {
                size: manifest.size,
                timestamp,
                manifest: Some(Arc::clone(&manifest)),
            };
            let body = parts_body(session, &manifest, 0, manifest.size);
            Ok((head, body))
        }
        _ => {
            let head = ObjectHead {
                size: first.total_size(),
                timestamp: first.timestamp(),
                manifest: None,
            };
            Ok((head, ObjectBody::single(first)))
        }
    }
}

/// The object's head, from a small READ of the key without a checksum pass.
pub async fn head(session: &Session, key: &[u8]) -> Result<ObjectHead, ReadError> {
    let quick = session
        .clone()
        .ioflags(session.options().ioflags | IoFlags::NOCSUM);
    let first = quick.read(key, 0, HEAD_BYTES).await?;
    let timestamp = first.timestamp();
    match RecordKind::of(first.user_flags()) {
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
            })
        }
        _ => Ok(ObjectHead {
            size: first.total_size(),
            timestamp,
            manifest: None,
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
        None => {
            let stream = session.read(key, offset, len).await?;
            match RecordKind::of(stream.user_flags()) {
                RecordKind::Manifest => Err(ReadError::Changed),
                _ => Ok(ObjectBody::single(stream)),
            }
        }
    }
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
