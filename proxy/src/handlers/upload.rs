//! `POST|PUT /upload/{bucket}/{key}`: the request body is streamed into
//! [`Session::write`](elliptics::Session::write) (to every group of the bucket in parallel,
//! one chunk in memory at a time) and the reply lists the per-group results (§14.6).
//!
//! Rules: `Content-Length` required (411), zero refused (400), larger than the bucket's
//! `max-size` or the configured limit refused (413) before any byte is read; the start of
//! a `Range` header is the write offset; success needs `upload_quorum` groups.

use std::io;
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
    let size = content_length(&parts.headers)?.ok_or(ApiError::LengthRequired)?;
    let offset = write_offset(&parts.headers)?;
    let bucket = authorize(&state, &parts, &target.bucket, Operation::Write).await?;
    store(&state, &parts, body, &bucket, &target.key, size, offset).await
}

/// Checks the size against the limits, streams `body` into `bucket` and renders the reply.
pub(crate) async fn store(
    state: &AppState,
    parts: &Parts,
    body: Body,
    bucket: &BucketMetadata,
    key: &[u8],
    size: u64,
    offset: u64,
) -> Result<Response, ApiError> {
    if size == 0 {
        return Err(ApiError::EmptyUpload);
    }
    for limit in [bucket.max_size, state.config.max_body_size] {
        if limit > 0 && size > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
    }
    // Reserve the memory this upload will hold (one write chunk) before reading its body.
    let held = size
        .min(state.config.write_chunk_size as u64)
        .div_ceil(1024);
    let _budget = state
        .upload_budget
        .acquire_many(u32::try_from(held).unwrap_or(u32::MAX))
        .await
        .map_err(|_| ApiError::Unavailable("shutting down".into()))?;
    let session = data_session(state, parts, bucket).timeout(state.upload_timeout);
    let reader = StreamReader::new(body.into_data_stream().map_err(io::Error::other));
    let outcome = session
        .write(key, reader, size, offset)
        .await
        .map_err(|e| upload_error(&e))?;
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
