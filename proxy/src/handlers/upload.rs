//! `POST|PUT /upload/{bucket}/{key}`: the request body is streamed into
//! [`Session::write`](elliptics::Session::write) (to every group of the bucket in parallel,
//! at most two write chunks in memory) and the reply lists the per-group results (§14.6).
//!
//! Rules: zero length refused (400), larger than the bucket's `max-size` or the configured
//! limit refused (413) before any byte is read; the start of a `Range` header is the write
//! offset; success needs `upload_quorum` groups. A body without `Content-Length` (chunked
//! transfer encoding) goes through
//! [`Session::write_unsized`](elliptics::Session::write_unsized): at most two write chunks
//! in memory, the smallest of the limits above and `max_chunked_upload_size` reserved in
//! storage, the real size committed at the end, and 413 (nothing committed) past the limit.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use elliptics::bucket::BucketMetadata;
use elliptics::client::WriteOutcome;
use futures_util::TryStreamExt;
use http::request::Parts;
use http::{HeaderMap, header};
use tokio_util::io::StreamReader;

use super::{Target, authorize, data_session, storage_error};
use crate::acl::Operation;
use crate::error::ApiError;
use crate::range::{RangeSpec, parse_range_header};
use crate::reply::{GroupReply, UploadReply};
use crate::state::AppState;

/// The upload handler.
pub async fn upload(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let target = Target::parse(&parts, "/upload/")?;
    let size = content_length(&parts.headers)?;
    let offset = write_offset(&parts.headers)?;
    let bucket = authorize(&state, &parts, &target.bucket, Operation::Write).await?;
    store(&state, &parts, body, &bucket, &target.key, size, offset).await
}

/// Checks the size against the limits, streams `body` into `bucket` and renders the reply.
/// `size` is the declared `Content-Length`; `None` = unknown until the body ends.
pub(crate) async fn store(
    state: &AppState,
    parts: &Parts,
    body: Body,
    bucket: &BucketMetadata,
    key: &[u8],
    size: Option<u64>,
    offset: u64,
) -> Result<Response, ApiError> {
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
    let session = data_session(state, parts, bucket)?.timeout(state.upload_timeout);
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let stream = body
        .into_data_stream()
        .map_err(io::Error::other)
        .map_ok(move |b| {
            counter.fetch_add(b.len() as u64, Ordering::Relaxed);
            b
        });
    let reader = StreamReader::new(stream);
    let outcome = match size {
        Some(size) => session.write(key, reader, size, offset).await,
        None => {
            let limit = limits
                .into_iter()
                .filter(|&l| l > 0)
                .fold(state.config.max_chunked_upload_size, u64::min);
            let outcome = session
                .write_unsized(key, reader, offset, offset.saturating_add(limit))
                .await;
            let got = received.load(Ordering::Relaxed);
            match outcome {
                Err(elliptics::Error::InvalidArgument(_)) if got == 0 => {
                    return Err(ApiError::EmptyUpload);
                }
                Err(elliptics::Error::InvalidArgument(_)) if got > limit => {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                other => other,
            }
        }
    }
    .map_err(|e| upload_error(&e))?;
    let size = received.load(Ordering::Relaxed);
    record_timings(state, &outcome, size);
    let stored = outcome.succeeded().len();
    for failed in outcome.failed() {
        if let Err(e) = &failed.result {
            tracing::warn!(group = failed.group, error = %e, "upload failed in a group");
        }
    }
    if stored < state.config.upload_quorum {
        return Err(ApiError::Unavailable(format!(
            "stored in {stored} of {} groups, {} required",
            outcome.results.len(),
            state.config.upload_quorum
        )));
    }
    let reply = UploadReply {
        bucket: bucket.name.clone(),
        key: String::from_utf8_lossy(key).into_owned(),
        reply: GroupReply::new(&session.id(key), &outcome.results),
    };
    Ok(Json(reply).into_response())
}

/// Feeds per-backend write time and failures into the cluster view and the metrics.
fn record_timings(state: &AppState, outcome: &WriteOutcome, size: u64) {
    let now = Instant::now();
    for r in &outcome.results {
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
        .ok_or_else(|| ApiError::BadRequest("invalid Content-Length".into()))
}

/// The write offset: the first byte of a `Range: bytes=N-...` header, else 0.
pub(crate) fn write_offset(headers: &HeaderMap) -> Result<u64, ApiError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(0);
    };
    let bad = || ApiError::BadRequest("upload Range must be bytes=<offset>-".into());
    let text = value.to_str().map_err(|_| bad())?;
    match parse_range_header(text).as_deref() {
        Some([RangeSpec::Bounded { first, .. }, ..]) | Some([RangeSpec::From { first }, ..]) => {
            Ok(*first)
        }
        _ => Err(bad()),
    }
}

/// Body problems are the client's (400); everything else comes from storage.
fn upload_error(e: &elliptics::Error) -> ApiError {
    match e {
        elliptics::Error::Io(_) | elliptics::Error::InvalidArgument(_) => {
            tracing::info!(error = %e, "upload body failed");
            ApiError::BadRequest(format!("request body: {e}"))
        }
        _ => storage_error("upload", e),
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
