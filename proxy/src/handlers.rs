//! The API handlers, one module per feature, and what they share: turning a request into
//! its target (bucket and key), authorising it against the bucket ACL, building the data
//! session, and mapping storage errors to replies. Every handler follows the same order:
//! parse → authorise → handle.

pub mod bulk_delete;
pub mod delete;
pub mod get;
pub mod lookup;
pub mod monitoring;
pub mod nobucket_upload;
pub mod ping;
pub mod redirect;
pub mod stat;
pub mod static_file;
pub mod upload;

use std::sync::Arc;

use elliptics::Session;
use elliptics::bucket::BucketMetadata;
use http::request::Parts;

use crate::access_log::{TraceId, UserSlot};
use crate::acl::{self, Operation};
use crate::error::ApiError;
use crate::query_flags::QueryFlags;
use crate::signature::{CanonicalRequest, ParsedAuthorization, decode_path};
use crate::state::AppState;
use crate::token_aliases::unix_now;

/// The percent-decoded path of a request.
pub(crate) fn decoded_path(parts: &Parts) -> Result<Vec<u8>, ApiError> {
    decode_path(parts.uri.path())
        .map_err(|_| ApiError::BadRequest("invalid percent-escape in URL path".into()))
}

/// A bucket/key request target: `/<handler>/<bucket>/<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Bucket name.
    pub bucket: String,
    /// Key bytes (any bytes; slashes allowed).
    pub key: Vec<u8>,
}

impl Target {
    /// Splits the decoded path after `prefix` (e.g. `/get/`) at its first slash.
    pub fn parse(parts: &Parts, prefix: &str) -> Result<Target, ApiError> {
        let path = decoded_path(parts)?;
        let rest = path
            .strip_prefix(prefix.as_bytes())
            .ok_or(ApiError::NotFound)?;
        let Some(slash) = rest.iter().position(|b| *b == b'/') else {
            return Err(ApiError::BadRequest(
                "missing key after the bucket name".into(),
            ));
        };
        let bucket = std::str::from_utf8(&rest[..slash])
            .map_err(|_| ApiError::BadRequest("bucket name is not UTF-8".into()))?;
        let key = rest[slash + 1..].to_vec();
        if bucket.is_empty() {
            return Err(ApiError::BadRequest("missing bucket name".into()));
        }
        if key.is_empty() {
            return Err(ApiError::BadRequest("missing key".into()));
        }
        Ok(Target {
            bucket: bucket.to_owned(),
            key,
        })
    }

    /// The key as text (lossy for non-UTF-8 keys), for replies and Content-Type.
    pub fn key_text(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }
}

/// The bucket-only target of `/<handler>/<bucket>` (a trailing slash is allowed).
pub(crate) fn bucket_only(parts: &Parts, prefix: &str) -> Result<String, ApiError> {
    let path = decoded_path(parts)?;
    let rest = path
        .strip_prefix(prefix.as_bytes())
        .ok_or(ApiError::NotFound)?;
    let rest = rest.strip_suffix(b"/").unwrap_or(rest);
    let name = std::str::from_utf8(rest)
        .map_err(|_| ApiError::BadRequest("bucket name is not UTF-8".into()))?;
    if name.is_empty() || name.contains('/') {
        return Err(ApiError::BadRequest("expected /<handler>/<bucket>".into()));
    }
    Ok(name.to_owned())
}

/// Looks bucket `name` up and checks the request's credentials for `operation` (the
/// bucket's live token aliases count as tokens). The user that passed is recorded for the
/// access log.
pub(crate) async fn authorize(
    state: &AppState,
    parts: &Parts,
    name: &str,
    operation: Operation,
) -> Result<Arc<BucketMetadata>, ApiError> {
    let bucket = state.buckets.get(name).await?;
    let auth = ParsedAuthorization::from_headers(&parts.headers);
    if let Some(slot) = parts.extensions.get::<UserSlot>() {
        slot.set(&auth.user);
    }
    if bucket.is_public() {
        return Ok(bucket);
    }
    let canonical = CanonicalRequest::from_request(&parts.method, &parts.uri, &parts.headers)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let aliases = state.buckets.live_aliases(&bucket.name, unix_now());
    acl::authorize_with_tokens(&bucket, operation, &auth, &canonical, &aliases)?;
    Ok(bucket)
}

/// The data session of a request: the bucket's groups and namespace, the trace id, and
/// the command flags of `?cflags=` (400 for refused bits, see [`QueryFlags`]).
pub(crate) fn data_session(
    state: &AppState,
    parts: &Parts,
    bucket: &BucketMetadata,
) -> Result<Session, ApiError> {
    Ok(flagged_session(state, parts, bucket)?.0)
}

/// [`data_session`] and the query flags it was built from (parsed once per request).
fn flagged_session(
    state: &AppState,
    parts: &Parts,
    bucket: &BucketMetadata,
) -> Result<(Session, QueryFlags), ApiError> {
    let trace_id = parts.extensions.get::<TraceId>().map_or(0, |t| t.0);
    let flags = QueryFlags::parse(parts.uri.query())?;
    let session = state
        .client
        .session()
        .groups(bucket.groups.clone())
        .namespace(bucket.name.as_bytes())
        .trace_id(trace_id);
    let cflags = session.options().cflags | flags.cflags;
    Ok((session.cflags(cflags), flags))
}

/// The session of a read: the bucket's groups ordered healthy first, then defragmenting,
/// then unknown or erroring (from the polled statistics; bucket order while none exist),
/// with a longer timeout when no group is healthy; `?ioflags=` added to its reads.
pub(crate) fn read_session(
    state: &AppState,
    parts: &Parts,
    bucket: &BucketMetadata,
    key: &[u8],
) -> Result<Session, ApiError> {
    let (session, flags) = flagged_session(state, parts, bucket)?;
    let ioflags = session.options().ioflags | flags.ioflags;
    let session = session.ioflags(ioflags);
    if !state.cluster.is_loaded() {
        return Ok(session);
    }
    let id = session.id(key);
    let routes = state.client.route_table();
    let now = std::time::Instant::now();
    let order = state.cluster.read_order(&routes, &id, &bucket.groups, now);
    let session = session.groups(order);
    if state.cluster.all_slow(&routes, &id, &bucket.groups, now) {
        // Every replica is defragmenting or unknown: give reads more time (Backrunner: 3×).
        let longer = session.effective_timeout().saturating_mul(3);
        return Ok(session.timeout(longer));
    }
    Ok(session)
}

/// Maps a storage error to the reply and logs the cause (which never reaches the client).
pub(crate) fn storage_error(what: &str, e: &elliptics::Error) -> ApiError {
    let reply = ApiError::from_elliptics_status(e.status());
    if reply == ApiError::NotFound {
        tracing::debug!(error = %e, "{what}: not found");
    } else {
        tracing::warn!(error = %e, "{what} failed");
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str) -> Parts {
        let (parts, ()) = http::Request::get(uri)
            .body(())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts();
        parts
    }

    #[test]
    fn targets() {
        let t = Target::parse(&parts("/get/b1/dir/a%20b%2Fc.txt"), "/get/");
        assert_eq!(
            t,
            Ok(Target {
                bucket: "b1".into(),
                key: b"dir/a b/c.txt".to_vec()
            })
        );
        let status = |uri: &str| {
            Target::parse(&parts(uri), "/get/")
                .map(|_| 200)
                .unwrap_or_else(|e| e.status().as_u16())
        };
        assert_eq!(status("/get/b1/"), 400);
        assert_eq!(status("/get/b1"), 400);
        assert_eq!(status("/get//k"), 400);
        assert_eq!(status("/get/b1/%zz"), 400);
        assert_eq!(status("/get/b1/%C3%A9t%C3%A9"), 200);
        assert_eq!(
            bucket_only(&parts("/bulk_delete/b1/"), "/bulk_delete/"),
            Ok("b1".into())
        );
    }
}
