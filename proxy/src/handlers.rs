//! The API handlers, one module per feature, and what they share: the [`authorized`]
//! extractor (the request's target, looked up and checked against the bucket ACL), the
//! data and read sessions, and the mapping of storage errors to replies. Every bucket
//! handler takes an [`Authorized`](authorized::Authorized) argument, so it runs only once
//! the request is parsed and authorised; RIFT's management endpoints take a
//! [`Caller`](management::Caller) and check bucket and directory ACLs themselves.

pub mod authorized;
pub mod bucket_admin;
pub mod bucket_directory;
pub mod bulk_delete;
pub mod delete;
pub mod get;
pub mod list;
pub mod lookup;
pub mod management;
pub mod monitoring;
pub mod nobucket_upload;
pub mod ping;
pub mod readable_buckets;
pub mod redirect;
pub mod stat;
pub mod static_file;
pub mod upload;

use backrunner_store::bucket::BucketMetadata;
use elliptics::Session;

use crate::error::ApiError;
use crate::query_flags::QueryFlags;
use crate::request::RequestInfo;
use crate::state::AppState;

/// The data session of a request: the bucket's groups and namespace, the trace id, and
/// the command flags of `?cflags=` (400 for refused bits, see [`QueryFlags`]).
pub fn data_session(
    state: &AppState,
    info: &RequestInfo,
    bucket: &BucketMetadata,
) -> Result<Session, ApiError> {
    Ok(flagged_session(state, info, bucket)?.0)
}

/// [`data_session`] and the query flags it was built from (read once per request).
fn flagged_session(
    state: &AppState,
    info: &RequestInfo,
    bucket: &BucketMetadata,
) -> Result<(Session, QueryFlags), ApiError> {
    let flags = QueryFlags::from_query(&info.query)?;
    let session = state
        .client
        .session()
        .groups(bucket.groups.clone())
        .namespace(bucket.name.as_bytes())
        .trace_id(info.trace_id);
    let cflags = session.options().cflags | flags.cflags;
    Ok((session.cflags(cflags), flags))
}

/// The session of a read: the bucket's groups ordered healthy first, then defragmenting,
/// then unknown or erroring (from the polled statistics; bucket order while none exist),
/// with a longer timeout when no group is healthy; `?ioflags=` added to its reads.
pub fn read_session(
    state: &AppState,
    info: &RequestInfo,
    bucket: &BucketMetadata,
    key: &[u8],
) -> Result<Session, ApiError> {
    let (session, flags) = flagged_session(state, info, bucket)?;
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

/// [`storage_error`] for an object read (any layout).
pub fn object_read_error(what: &str, e: &backrunner_store::object::ReadError) -> ApiError {
    let reply = ApiError::from_object_read(e);
    if reply == ApiError::NotFound {
        tracing::debug!(error = %e, "{what}: not found");
    } else {
        tracing::warn!(error = %e, "{what} failed");
    }
    reply
}

/// Maps a storage error to the reply and logs the cause (which never reaches the client).
pub fn storage_error(what: &str, e: &elliptics::Error) -> ApiError {
    let reply = ApiError::from_storage(e);
    if reply == ApiError::NotFound {
        tracing::debug!(error = %e, "{what}: not found");
    } else {
        tracing::warn!(error = %e, "{what} failed");
    }
    reply
}
