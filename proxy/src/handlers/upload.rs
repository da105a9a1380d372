//! `POST|PUT /upload/{bucket}/{key}`: the request body is streamed into
//! [`write_object`](backrunner_store::object::write_object) (to every group of the bucket
//! in parallel, at most two write chunks in memory) and the reply lists the per-group
//! results (§14.6). Bodies up to `write_chunk_size` are one WRITE to the key; larger and
//! chunked ones are written as parts and published by a manifest, so a reader never sees
//! a mix of uploads and a failed upload leaves the previous version (see
//! `backrunner_store::object`). A concurrent upload that won in every group makes this one
//! a 409.
//!
//! Rules: zero length refused (400), larger than the bucket's `max-size` or the configured
//! limit refused (413) before any byte is read (a body without `Content-Length` past the
//! smallest of those limits and `max_chunked_upload_size`: 413, nothing published);
//! success needs `upload_quorum` groups. The start of a `Range` header is a write offset
//! into an existing single-record object (Backrunner's in-place update).
//!
//! The body reaches storage through [`GuardedBody`], which ends it with a typed
//! [`BodyError`] (empty, past the limit, shorter than declared, broken by the client); the
//! storage client hands that error back inside its [`elliptics::Error::Io`], and
//! [`upload_error`] turns it into the reply, so no storage error text is guessed at.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::Json;
use axum::body::{Body, BodyDataStream};
use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use backrunner_store::bucket::BucketMetadata;
use backrunner_store::index::BucketIndex;
use backrunner_store::object::{self, Layout, ObjectWrite, WriteSizes};
use bytes::Bytes;
use elliptics::Session;
use elliptics::client::GroupResult;
use elliptics::proto::{DnetTime, FileInfoReply};
use futures_util::Stream;
use http::request::Parts;
use http::{HeaderMap, header};
use tokio_util::io::StreamReader;

use super::authorized::{Authorized, Write};
use super::{data_session, object_read_error, storage_error};
use crate::error::{ApiError, BadRequest};
use crate::range::{RangeSpec, parse_range_header};
use crate::reply::{GroupReply, UploadReply};
use crate::request::RequestInfo;
use crate::state::AppState;

/// The upload handler.
pub async fn upload(
    State(state): State<AppState>,
    declared: Declared,
    request: Authorized<Write>,
    body: Body,
) -> Result<Response, ApiError> {
    store(
        &state,
        &request.info,
        body,
        &request.bucket,
        &request.target.key,
        declared,
    )
    .await
}

/// What an upload declares in its headers, read before authorisation (a malformed header
/// is a 400 whoever sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// `Content-Length`; `None` = unknown until the body ends (chunked).
    pub size: Option<u64>,
    /// The write offset: the start of a `Range` header, else 0.
    pub offset: u64,
}

impl Declared {
    /// Reads `Content-Length` and `Range` (400 when either is malformed).
    pub fn from_headers(headers: &HeaderMap) -> Result<Declared, ApiError> {
        Ok(Declared {
            size: content_length(headers)?,
            offset: write_offset(headers)?,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Declared {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Declared::from_headers(&parts.headers)
    }
}

/// Checks the size against the limits, streams `body` into `bucket` and renders the reply.
pub(crate) async fn store(
    state: &AppState,
    info: &RequestInfo,
    body: Body,
    bucket: &BucketMetadata,
    key: &[u8],
    declared: Declared,
) -> Result<Response, ApiError> {
    let stored = write_upload(state, info, body, bucket, key, declared, None).await?;
    if declared.offset == 0 {
        stored.commit_in_background(None);
    }
    let mut reply = GroupReply::new(&stored.id, &stored.written.results);
    if matches!(stored.written.layout, Layout::Parts { .. }) {
        for entry in reply.info.iter_mut().filter(|e| e.error.is_empty()) {
            entry.size = stored.written.size;
        }
    }
    let reply = UploadReply {
        bucket: bucket.name.clone(),
        key: String::from_utf8_lossy(key).into_owned(),
        reply,
    };
    Ok(Json(reply).into_response())
}

/// An upload [`write_upload`] stored (in at least `upload_quorum` groups), not yet
/// committed in the key index: the caller commits it, with the ETag it knows, if any.
#[derive(Debug)]
pub struct StoredUpload {
    /// What the object write did.
    pub written: ObjectWrite,
    /// Bytes received from the client.
    pub received: u64,
    /// The object's Elliptics id.
    pub id: elliptics::proto::Id,
    index: Option<BucketIndex>,
    key: Vec<u8>,
}

impl StoredUpload {
    /// Logs the upload as stored in the key index (with `etag`) in the background: the
    /// reply does not wait (a listing settles a missing commit from the object).
    pub fn commit_in_background(&self, etag: Option<String>) {
        if let Some(index) = &self.index {
            commit_in_background(
                index.clone(),
                &self.key,
                self.written.stamp,
                self.written.size,
                etag,
            );
        }
    }

    /// Logs the upload as stored in the key index (with `etag`) before returning, so a
    /// listing that follows shows the ETag; a failure is logged only (the intent logged
    /// before stays, and a listing settles it from the object).
    pub async fn commit(&self, etag: Option<&str>) {
        let Some(index) = &self.index else { return };
        let (stamp, size) = (self.written.stamp, self.written.size);
        if let Err(e) = index.commit(&self.key, stamp, size, etag).await {
            tracing::info!(error = %e, "could not commit the upload in the key index; listings settle it from the object");
        }
    }
}

/// Checks the size against the limits, logs the intent in the key index and streams
/// `body` into `bucket` under `key` (the upload path of `/upload` and of the S3 front's
/// PutObject and CopyObject). `before_publish` runs once the body is read whole, before
/// the object is published ([`object::BeforePublish`]: a refusal wrapping a [`BodyError`]
/// becomes its reply). The key index commit is left to the caller ([`StoredUpload`]).
pub async fn write_upload(
    state: &AppState,
    info: &RequestInfo,
    body: Body,
    bucket: &BucketMetadata,
    key: &[u8],
    declared: Declared,
    before_publish: Option<object::BeforePublish<'_>>,
) -> Result<StoredUpload, ApiError> {
    let Declared { size, offset } = declared;
    if size == Some(0) {
        return Err(ApiError::EmptyUpload);
    }
    let limits = [bucket.max_size, state.config.max_body_size];
    if let Some(size) = size {
        for limit in limits {
            if limit > 0 && size > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
        }
    }
    let chunk = state.config.write_chunk_size as u64;
    // Reserve the memory this upload will hold before reading its body: up to two write
    // chunks (the next chunk is read from the client while one is written to storage).
    // (Never more than the whole budget, which only has to hold one chunk.)
    let held = size
        .map_or(2 * chunk, |s| s.min(2 * chunk))
        .div_ceil(1024)
        .min(state.config.max_inflight_upload_bytes >> 10);
    let _budget = state
        .upload_budget
        .acquire_many(u32::try_from(held).unwrap_or(u32::MAX))
        .await
        .map_err(|_| ApiError::Unavailable("shutting down".into()))?;
    let session = data_session(state, info, bucket)?.timeout(state.upload_timeout);
    // The key index logs the upload before a byte of it is stored, under the stamp the
    // object is written with (a listing settles an intent without its commit by looking
    // at the object), and commits it once stored, off the request path.
    let stamp = object::new_stamp();
    let index = state.indexes.of(bucket);
    if let Some(index) = &index {
        if bucket.max_key_num > 0 {
            check_object_limit(state, bucket, &session, key).await?;
        }
        index.intent_put(key, stamp).await.map_err(|e| {
            tracing::warn!(error = %e, "could not log the upload in the key index");
            ApiError::from_index(&e)
        })?;
    }
    let received = Arc::new(AtomicU64::new(0));
    let limit = limits
        .into_iter()
        .filter(|&l| l > 0)
        .fold(state.config.max_chunked_upload_size, u64::min);
    let guarded = GuardedBody::new(
        body,
        Arc::clone(&received),
        size,
        size.is_none().then_some(limit),
    );
    let reader = StreamReader::new(guarded);
    let started = Instant::now();
    let mut written = match offset {
        0 => {
            let sizes = WriteSizes {
                part_size: state.config.write_chunk_size as u64,
            };
            object::write_object_with(&session, key, reader, size, sizes, stamp, before_publish)
                .await
        }
        _ => ranged_write(&session, key, reader, size, offset, limit, stamp).await?,
    }
    .map_err(|e| upload_error(&e))?;
    if matches!(written.layout, Layout::Parts { .. }) {
        // The parts went to the same groups: a group's time is the whole upload's.
        for r in &mut written.results {
            r.elapsed = started.elapsed();
        }
    }
    let size = received.load(Ordering::Relaxed);
    record_timings(state, &written.results, size);
    for failed in written.results.iter().filter(|r| !r.is_ok()) {
        if let Err(e) = &failed.result {
            tracing::warn!(group = failed.group, error = %e, "upload failed in a group");
        }
    }
    if written.lost_to_newer() {
        tracing::info!(groups = ?written.superseded, "upload superseded by a newer one in every group");
        return Err(ApiError::Conflict(format!(
            "a newer upload of '{}' was stored while this one was in progress; this one was discarded",
            String::from_utf8_lossy(key)
        )));
    }
    let stored = written.stored().len() + written.superseded.len();
    if stored < state.config.upload_quorum {
        return Err(ApiError::Unavailable(format!(
            "stored in {stored} of {} groups, {} required",
            written.results.len() + written.superseded.len(),
            state.config.upload_quorum
        )));
    }
    Ok(StoredUpload {
        id: session.id(key),
        written,
        received: size,
        index: index.filter(|_| offset == 0),
        key: key.to_vec(),
    })
}

/// Logs in the key index that the upload of `key` stamped `stamp` (`size` bytes) was
/// stored. In the background: the reply does not wait for it, and if it fails the intent
/// logged before stays, which a listing settles by looking at the object.
fn commit_in_background(
    index: BucketIndex,
    key: &[u8],
    stamp: DnetTime,
    size: u64,
    etag: Option<String>,
) {
    let key = key.to_vec();
    let span = tracing::Span::current();
    tokio::spawn(async move {
        if let Err(e) = index.commit(&key, stamp, size, etag.as_deref()).await {
            let _entered = span.enter();
            tracing::info!(error = %e, "could not commit the upload in the key index; listings settle it from the object");
        }
    });
}

/// Refuses a new key when `bucket` already holds its `max-keys` objects (by the key
/// index's count); an existing key may always be overwritten.
async fn check_object_limit(
    state: &AppState,
    bucket: &BucketMetadata,
    session: &Session,
    key: &[u8],
) -> Result<(), ApiError> {
    match object::head(session, key).await {
        Ok(_) => return Ok(()),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(object_read_error("lookup before a quota check", &e)),
    }
    let Some(usage) = state.indexes.usage(bucket).await else {
        return Ok(());
    };
    let usage = usage.map_err(|e| ApiError::from_index(&e))?;
    if usage.objects >= bucket.max_key_num {
        tracing::info!(
            objects = usage.objects,
            limit = bucket.max_key_num,
            "upload of a new key refused: bucket at its max-keys"
        );
        return Err(ApiError::ObjectLimit {
            bucket: bucket.name.clone(),
            limit: bucket.max_key_num,
        });
    }
    state.indexes.count_new_object(&bucket.name);
    Ok(())
}

/// An upload with a `Range` (write offset): modifies a single-record object in place, as
/// Backrunner always did (not atomic: a reader may see the old and the new bytes mixed);
/// refused for an object stored in parts, whose bytes are immutable. The record takes
/// `stamp` (without compare-and-swap), so the key index's intent names it; its size is
/// left for a listing to read from the object.
async fn ranged_write(
    session: &Session,
    key: &[u8],
    body: impl tokio::io::AsyncRead + Unpin + Send,
    size: Option<u64>,
    offset: u64,
    limit: u64,
    stamp: DnetTime,
) -> Result<Result<ObjectWrite, elliptics::Error>, ApiError> {
    match object::head(session, key).await {
        Ok(head) if head.manifest.is_some() => {
            return Err(ApiError::Conflict(format!(
                "'{}' is stored in parts; an upload with a Range cannot modify it",
                String::from_utf8_lossy(key)
            )));
        }
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(object_read_error("lookup before a ranged upload", &e)),
    }
    let session = session.clone().timestamp(Some(stamp));
    let outcome = match size {
        Some(size) => session.write(key, body, size, offset).await,
        None => {
            session
                .write_unsized(key, body, offset, offset.saturating_add(limit))
                .await
        }
    };
    Ok(outcome.map(|o| ObjectWrite {
        layout: Layout::Single,
        size: size.unwrap_or_default(),
        stamp,
        results: o.results,
        superseded: Vec::new(),
    }))
}

/// Feeds per-backend write time and failures into the cluster view and the metrics.
fn record_timings(state: &AppState, results: &[GroupResult<FileInfoReply>], size: u64) {
    let now = Instant::now();
    for r in results {
        state
            .metrics
            .elliptics_latency
            .with_label_values(&["WRITE", r.group.to_string().as_str()])
            .observe(r.elapsed.as_secs_f64());
        let Some(addr) = r.addr else { continue };
        let owner = (addr, r.backend_id);
        state
            .cluster
            .record_write(owner, now, size, r.elapsed, r.is_ok());
        let node = addr.to_string();
        let backend = r.backend_id.to_string();
        let labels = [node.as_str(), backend.as_str()];
        if r.is_ok() {
            state
                .metrics
                .backend_time_per_byte
                .with_label_values(&labels)
                .set(r.elapsed.as_secs_f64() / size.max(1) as f64);
        } else {
            state
                .metrics
                .backend_write_errors
                .with_label_values(&labels)
                .inc();
        }
    }
}

/// The declared body length: `None` without the header, 400 when it is not a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or(ApiError::BadRequest(BadRequest::InvalidContentLength))
}

/// The write offset: the first byte of a `Range: bytes=N-...` header, else 0.
pub(crate) fn write_offset(headers: &HeaderMap) -> Result<u64, ApiError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(0);
    };
    let bad = || ApiError::BadRequest(BadRequest::InvalidUploadRange);
    let text = value.to_str().map_err(|_| bad())?;
    match parse_range_header(text).as_deref() {
        Some([RangeSpec::Bounded { first, .. }, ..]) | Some([RangeSpec::From { first }, ..]) => {
            Ok(*first)
        }
        _ => Err(bad()),
    }
}

/// Why an upload's body ended the upload; travels to [`upload_error`] inside the
/// [`io::Error`] the storage client reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// A body of unknown length had no byte.
    #[error("empty body")]
    Empty,
    /// A body of unknown length went past `limit` bytes.
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body ended before its declared length.
    #[error("body ended after {received} of {declared} bytes")]
    Truncated {
        /// Bytes received.
        received: u64,
        /// The declared `Content-Length`.
        declared: u64,
    },
    /// Reading the body from the client failed.
    #[error("{0}")]
    Client(String),
    /// The body does not match a digest the client sent (S3's `Content-MD5`,
    /// `x-amz-checksum-*`): nothing was published.
    #[error("{0}")]
    Digest(String),
}

impl From<&BodyError> for ApiError {
    fn from(e: &BodyError) -> ApiError {
        match e {
            BodyError::Empty => ApiError::EmptyUpload,
            BodyError::TooLarge { limit } => ApiError::PayloadTooLarge { limit: *limit },
            BodyError::Truncated { received, declared } => {
                ApiError::BadRequest(BadRequest::TruncatedBody {
                    received: *received,
                    declared: *declared,
                })
            }
            BodyError::Client(e) => ApiError::BadRequest(BadRequest::BodyFailed(e.clone())),
            BodyError::Digest(e) => ApiError::BadRequest(BadRequest::DigestMismatch(e.clone())),
        }
    }
}

/// The request body as the storage client reads it: counts the bytes into `received` and
/// ends with a [`BodyError`] instead of handing storage a body that is empty, past
/// `limit`, shorter than `declared` or broken.
struct GuardedBody {
    inner: BodyDataStream,
    received: Arc<AtomicU64>,
    declared: Option<u64>,
    limit: Option<u64>,
    done: bool,
}

impl GuardedBody {
    fn new(
        body: Body,
        received: Arc<AtomicU64>,
        declared: Option<u64>,
        limit: Option<u64>,
    ) -> GuardedBody {
        GuardedBody {
            inner: body.into_data_stream(),
            received,
            declared,
            limit,
            done: false,
        }
    }

    fn fail(&mut self, e: BodyError) -> Poll<Option<io::Result<Bytes>>> {
        self.done = true;
        Poll::Ready(Some(Err(io::Error::other(e))))
    }
}

impl Stream for GuardedBody {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
            Some(Ok(data)) => {
                let len = data.len() as u64;
                let total = self.received.fetch_add(len, Ordering::Relaxed) + len;
                match self.limit {
                    Some(limit) if total > limit => self.fail(BodyError::TooLarge { limit }),
                    _ => Poll::Ready(Some(Ok(data))),
                }
            }
            Some(Err(e)) => self.fail(BodyError::Client(e.to_string())),
            None => {
                let received = self.received.load(Ordering::Relaxed);
                match self.declared {
                    Some(declared) if received < declared => {
                        self.fail(BodyError::Truncated { received, declared })
                    }
                    None if received == 0 => self.fail(BodyError::Empty),
                    _ => {
                        self.done = true;
                        Poll::Ready(None)
                    }
                }
            }
        }
    }
}

/// A [`BodyError`] is the client's (the reply it names); everything else comes from
/// storage.
fn upload_error(e: &elliptics::Error) -> ApiError {
    let body = match e {
        elliptics::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<BodyError>()),
        _ => None,
    };
    match body {
        Some(body) => {
            tracing::info!(error = %body, "upload body failed");
            body.into()
        }
        None => storage_error("upload", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, http::HeaderValue::from_static(v));
        }
        h
    }

    #[tokio::test]
    async fn body_errors_are_typed_through_the_storage_error() {
        use futures_util::StreamExt;
        let guarded = |data: &'static [u8], declared, limit| {
            let received = Arc::new(AtomicU64::new(0));
            GuardedBody::new(Body::from(data), received, declared, limit)
        };
        let last_error = |mut body: GuardedBody| async move {
            let mut last = None;
            while let Some(item) = body.next().await {
                if let Err(e) = item {
                    last = Some(upload_error(&elliptics::Error::Io(e)));
                }
            }
            last
        };
        assert_eq!(
            last_error(guarded(b"", None, None)).await,
            Some(ApiError::EmptyUpload)
        );
        assert_eq!(
            last_error(guarded(b"abcdef", None, Some(5))).await,
            Some(ApiError::PayloadTooLarge { limit: 5 })
        );
        assert_eq!(
            last_error(guarded(b"abc", Some(5), None)).await,
            Some(ApiError::BadRequest(BadRequest::TruncatedBody {
                received: 3,
                declared: 5
            }))
        );
        assert_eq!(last_error(guarded(b"abcde", Some(5), Some(5))).await, None);
    }

    #[test]
    fn offsets_and_lengths() {
        assert_eq!(write_offset(&headers(&[])), Ok(0));
        assert_eq!(write_offset(&headers(&[("range", "bytes=100-")])), Ok(100));
        assert_eq!(write_offset(&headers(&[("range", "bytes=5-9")])), Ok(5));
        assert!(write_offset(&headers(&[("range", "bytes=-5")])).is_err());
        assert_eq!(content_length(&headers(&[])), Ok(None));
        assert_eq!(
            content_length(&headers(&[("content-length", "12")])),
            Ok(Some(12))
        );
        assert!(content_length(&headers(&[("content-length", "x")])).is_err());
    }
}
