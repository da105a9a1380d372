//! Writing an object: [`write_object`] picks the layout and never writes a body into the
//! live key in pieces.
//!
//! - **Single**: a body of at most `part_size` bytes (known from `Content-Length`, or a
//!   chunked body that ended within it) is one plain WRITE to the key.
//! - **Parts**: anything larger. An [`UploadRecord`] first, then the body as parts of
//!   `part_size` bytes under keys no other upload uses (`"{upload}/{n}"` in the bucket's
//!   parts namespace), each one plain WRITE to every group still alive, the next part read
//!   from the client while the current one is written; then the [`Manifest`] — one small
//!   WRITE — to the key, in the groups that stored every part.
//!
//! Both write the key with `CAS_TIMESTAMP` and the upload's [stamp](super::stamp): a group
//! holding a newer version refuses (-77) and keeps it, which this reports as
//! *superseded*, not as a failure. An upload that fails or is abandoned (the future
//! dropped: the client went away) removes its parts and upload record in the background
//! and never touches the key, so the previous version stays readable.

use bytes::{Bytes, BytesMut};
use elliptics::client::{GroupResult, WriteOutcome};
use elliptics::proto::errno::code::EBADFD;
use elliptics::proto::{DnetTime, FileInfoReply, IoFlags};
use elliptics::{Error, Session};
use futures_util::future::join;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::cleanup::{PartsCleanup, remove_replaced};
use super::manifest::Manifest;
use super::read::head;
use super::record_kind::RecordKind;
use super::upload_id::{UploadId, parts_namespace};
use super::upload_record::{REFRESH, UploadRecord};

/// How an object was laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One record at the key.
    Single,
    /// Parts plus a manifest at the key.
    Parts {
        /// The upload that wrote the parts.
        upload: UploadId,
        /// How many parts.
        parts: u32,
    },
}

/// What [`write_object`] did.
#[derive(Debug)]
pub struct ObjectWrite {
    /// The layout used.
    pub layout: Layout,
    /// Bytes of the object.
    pub size: u64,
    /// The stamp the key was written with.
    pub stamp: DnetTime,
    /// Per group, the WRITE that published the object (the single WRITE or the manifest).
    /// Groups that refused it because they hold a newer version are in `superseded`, not
    /// here as failures.
    pub results: Vec<GroupResult<FileInfoReply>>,
    /// Groups that kept a newer version written concurrently.
    pub superseded: Vec<u32>,
}

impl ObjectWrite {
    /// Groups that stored this version.
    pub fn stored(&self) -> Vec<u32> {
        self.results
            .iter()
            .filter(|r| r.is_ok())
            .map(|r| r.group)
            .collect()
    }

    /// Whether every group that answered holds a newer version (this upload lost whole).
    pub fn lost_to_newer(&self) -> bool {
        !self.superseded.is_empty() && self.stored().is_empty()
    }
}

/// Sizes of an object write.
#[derive(Debug, Clone, Copy)]
pub struct WriteSizes {
    /// Largest single-layout object, and the size of every part but the last.
    pub part_size: u64,
}

/// Writes the object `key` of `session`'s namespace from `body`: `size` bytes, or, when
/// `None`, until the body ends, stamped `stamp` (from [`new_stamp`](super::new_stamp),
/// taken when the upload starts). Body errors come back as the [`Error::Io`] the body
/// produced; "every group failed" as the client's error.
pub async fn write_object(
    session: &Session,
    key: &[u8],
    body: impl AsyncRead + Unpin + Send,
    size: Option<u64>,
    sizes: WriteSizes,
    stamp: DnetTime,
) -> Result<ObjectWrite, Error> {
    write_object_with(session, key, body, size, sizes, stamp, None).await
}

/// Called once the whole body has been read and before the key is written (either
/// layout): an `Err` ends the upload with that error inside [`Error::Io`] and publishes
/// nothing (parts already written are removed); `Ok(Some(etag))` is recorded in the
/// [`Manifest`] of an object stored in parts (single records carry none). The S3 front
/// verifies the body's digests here and hands back its MD5.
pub type BeforePublish<'a> = &'a (dyn Fn() -> Result<Option<String>, std::io::Error> + Send + Sync);

/// [`write_object`] with a [`BeforePublish`] check.
pub async fn write_object_with(
    session: &Session,
    key: &[u8],
    mut body: impl AsyncRead + Unpin + Send,
    size: Option<u64>,
    sizes: WriteSizes,
    stamp: DnetTime,
    before_publish: Option<BeforePublish<'_>>,
) -> Result<ObjectWrite, Error> {
    let part = sizes.part_size.max(1);
    let check = || match before_publish {
        Some(check) => check().map_err(Error::Io),
        None => Ok(None),
    };
    match size {
        Some(size) if size <= part => {
            let data = read_part(&mut body, size).await?;
            if before_publish.is_some() {
                read_to_end(&mut body).await?;
            }
            check()?;
            single(session, key, data, stamp).await
        }
        Some(size) => {
            let first = read_part(&mut body, part.min(size)).await?;
            parts(session, key, body, Some(size), part, first, stamp, &check).await
        }
        None => {
            let first = read_part(&mut body, part).await?;
            if (first.len() as u64) < part {
                check()?;
                return single(session, key, first, stamp).await;
            }
            parts(session, key, body, None, part, first, stamp, &check).await
        }
    }
}

/// The single layout: one WRITE of the whole body (read already) to the key, tagged with
/// its CRC-32.
async fn single(
    session: &Session,
    key: &[u8],
    data: Bytes,
    stamp: DnetTime,
) -> Result<ObjectWrite, Error> {
    let size = data.len() as u64;
    let kind = RecordKind::CheckedData(crc32fast::hash(&data));
    let outcome = key_session(session, stamp, kind)
        .write(key, &data[..], size, 0)
        .await;
    published(
        outcome,
        &session.options().groups,
        Layout::Single,
        size,
        stamp,
    )
}

/// What a tombstone holds (a record must have bytes: a real node keeps the old bytes when
/// a record is overwritten with none).
pub const TOMBSTONE_BYTES: &[u8] = b"BRT1";

/// Replaces the object `key` with a tombstone stamped `stamp`, in every group of `session`
/// (with `CAS_TIMESTAMP`: a group holding a newer write keeps it and is reported as
/// superseded).
pub async fn write_tombstone(
    session: &Session,
    key: &[u8],
    stamp: DnetTime,
) -> Result<ObjectWrite, Error> {
    let outcome = key_session(session, stamp, RecordKind::Tombstone)
        .write(key, TOMBSTONE_BYTES, TOMBSTONE_BYTES.len() as u64, 0)
        .await;
    published(outcome, &session.options().groups, Layout::Single, 0, stamp)
}

/// The session that writes an object's key: CAS on the stamp, the record's kind.
fn key_session(session: &Session, stamp: DnetTime, kind: RecordKind) -> Session {
    let ioflags = session.options().ioflags | IoFlags::CAS_TIMESTAMP;
    session
        .clone()
        .ioflags(ioflags)
        .timestamp(Some(stamp))
        .user_flags(kind.user_flags())
}

/// Splits a key write's outcome into stored, superseded (-77) and failed groups. Every
/// group refusing with -77 is an outcome (lost to a newer version), not an error.
fn published(
    outcome: Result<WriteOutcome, Error>,
    groups: &[u32],
    layout: Layout,
    size: u64,
    stamp: DnetTime,
) -> Result<ObjectWrite, Error> {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(Error::AllGroupsFailed { errors })
            if errors.iter().all(|(_, e)| e.status() == EBADFD) =>
        {
            return Ok(ObjectWrite {
                layout,
                size,
                stamp,
                results: Vec::new(),
                superseded: errors.into_iter().map(|(g, _)| g).collect(),
            });
        }
        // One group only: its error comes back as is.
        Err(Error::Remote { status: EBADFD, .. }) if groups.len() == 1 => {
            return Ok(ObjectWrite {
                layout,
                size,
                stamp,
                results: Vec::new(),
                superseded: groups.to_vec(),
            });
        }
        Err(e) => return Err(e),
    };
    let mut superseded = Vec::new();
    let mut results = Vec::new();
    for r in outcome.results {
        match &r.result {
            Err(e) if e.status() == EBADFD => superseded.push(r.group),
            _ => results.push(r),
        }
    }
    Ok(ObjectWrite {
        layout,
        size,
        stamp,
        results,
        superseded,
    })
}

/// The parts layout. `first` is the first part, already read.
#[allow(clippy::too_many_arguments)]
async fn parts(
    session: &Session,
    key: &[u8],
    mut body: impl AsyncRead + Unpin + Send,
    size: Option<u64>,
    part: u64,
    first: Bytes,
    stamp: DnetTime,
    check: &(dyn Fn() -> Result<Option<String>, Error> + Send + Sync),
) -> Result<ObjectWrite, Error> {
    let upload = UploadId::random();
    let namespace = session.options().namespace.clone();
    let parts_session = session
        .clone()
        .namespace(parts_namespace(&namespace))
        .timestamp(None);
    let record = UploadRecord {
        upload,
        namespace,
        key: key.to_vec(),
        started: DnetTime::now(),
        part_size: part,
    }
    .encode();
    let mut cleanup = PartsCleanup::new(parts_session.clone(), upload);
    let record_session = parts_session
        .clone()
        .user_flags(RecordKind::Upload.user_flags());
    let record_key = upload.record_key();
    let record_write = record_session.write(&record_key, &record[..], record.len() as u64, 0);
    // What the key holds now: its parts are garbage once this upload replaces it.
    let (outcome, previous) = join(record_write, head(session, key)).await;
    let outcome = outcome?;
    let previous = previous.ok().and_then(|h| h.manifest);
    let mut dropped = Vec::new();
    let mut alive = survivors(outcome, &mut dropped);
    let part_session = parts_session.user_flags(RecordKind::Part.user_flags());

    let mut sizes = Vec::new();
    let mut total = 0u64;
    let mut current = first;
    let mut refreshed = std::time::Instant::now();
    loop {
        if refreshed.elapsed() >= REFRESH {
            // Still alive: a sweep leaves recently written records alone.
            let refresh = record_session.clone().groups(alive.clone());
            if let Err(e) = refresh
                .write(&record_key, &record[..], record.len() as u64, 0)
                .await
            {
                tracing::warn!(%upload, error = %e, "could not refresh the upload record");
            }
            refreshed = std::time::Instant::now();
        }
        let len = current.len() as u64;
        let n = u32::try_from(sizes.len())
            .ok()
            .filter(|&n| n < super::manifest::MAX_PARTS)
            .ok_or_else(|| Error::InvalidArgument("object has too many parts".into()))?;
        total += len;
        let want_next = match size {
            Some(size) => part.min(size - total),
            None => part,
        };
        cleanup.parts = n + 1;
        let data = current.clone();
        let part_key = upload.part_key(n);
        let group_session = part_session.clone().groups(alive.clone());
        let write = group_session.write(&part_key, &data[..], len, 0);
        let next = async {
            match want_next {
                0 => Ok(Bytes::new()),
                want => read_part(&mut body, want).await,
            }
        };
        let (written, next) = join(write, next).await;
        alive = survivors(written?, &mut dropped);
        sizes.push(len);
        let next = next?;
        // A chunked body ends with a short (or empty) part; a sized one when it is all read.
        if next.is_empty() {
            break;
        }
        current = next;
    }

    // The body to its end (a trailer after the last byte is read), then the check. Refused:
    // the parts are removed (the cleanup is still armed), the key is untouched.
    read_to_end(&mut body).await?;
    let etag = check()?;
    let manifest = Manifest {
        upload,
        size: total,
        parts: sizes,
        etag,
    };
    let bytes = manifest.encode();
    let outcome = key_session(session, stamp, RecordKind::Manifest)
        .groups(alive.clone())
        .write(key, &bytes[..], bytes.len() as u64, 0)
        .await;
    let count = manifest.parts.len() as u32;
    let mut written = published(
        outcome,
        &alive,
        Layout::Parts {
            upload,
            parts: count,
        },
        total,
        stamp,
    )?;
    // Groups that failed before the manifest are reported with the error that dropped them.
    written.results.extend(dropped);
    let order = &session.options().groups;
    written
        .results
        .sort_by_key(|r| order.iter().position(|g| *g == r.group));
    if !written.stored().is_empty() {
        cleanup.disarm();
    }
    // Every group now holds this version or a newer one: the previous parts are unnamed.
    let everywhere = written.results.iter().all(|r| r.is_ok())
        && written.results.len() + written.superseded.len() == session.options().groups.len();
    if let Some(previous) = previous.filter(|p| p.upload != upload && everywhere) {
        remove_replaced(session, &previous);
    }
    Ok(written)
}

/// The groups that took a write; the others' results go to `dropped`.
fn survivors(outcome: WriteOutcome, dropped: &mut Vec<GroupResult<FileInfoReply>>) -> Vec<u32> {
    let mut alive = Vec::new();
    for r in outcome.results {
        match r.result {
            Ok(_) => alive.push(r.group),
            Err(_) => dropped.push(r),
        }
    }
    alive
}

/// Polls a body that delivered its declared length until it ends, so what follows its
/// last byte (an aws-chunked trailer) is read before the object is published; a byte
/// more than declared is an error.
async fn read_to_end(body: &mut (impl AsyncRead + Unpin + Send)) -> Result<(), Error> {
    let mut probe = [0u8; 1];
    match body.read(&mut probe).await? {
        0 => Ok(()),
        _ => Err(Error::InvalidArgument(
            "the body is longer than its declared length".into(),
        )),
    }
}

/// Reads up to `want` bytes (fewer only when the body ends).
async fn read_part(body: &mut (impl AsyncRead + Unpin + Send), want: u64) -> Result<Bytes, Error> {
    let cap = usize::try_from(want)
        .map_err(|_| Error::InvalidArgument(format!("part of {want} bytes")))?;
    let mut buf = BytesMut::with_capacity(cap);
    while (buf.len() as u64) < want {
        let rest = want - buf.len() as u64;
        if (&mut *body).take(rest).read_buf(&mut buf).await? == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}
