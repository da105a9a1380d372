//! `GET /list/{bucket}?prefix=&delimiter=&start-after=&continuation-token=&max-keys=`: one
//! page of the bucket's keys in byte order, from its key index (read permission, as for
//! `/get`). `max-keys` defaults to and is capped at 1000 (keys plus common prefixes);
//! an empty `delimiter=` means none; `start-after` is exclusive and ignored with a
//! continuation token; the token is opaque and survives index compactions.
//! `encoding-type=url` percent-encodes keys and prefixes in the reply (for keys that are
//! not UTF-8; S3's parameter). The reply:
//!
//! ```json
//! {"bucket": "b", "prefix": "", "delimiter": "", "max-keys": 1000,
//!  "is-truncated": true, "next-continuation-token": "…",
//!  "indexes": [{"key": "a", "id": "<128 hex>", "size": 3,
//!               "timestamp": "2026-12-05T10:00:00.000001Z", "time_seconds": "1796464800",
//!               "etag": "\"…\""}],
//!  "common-prefixes": ["a/b/"], "key-count": 1}
//! ```
//!
//! `indexes[].key`, `id`, `timestamp` and `time_seconds` are RIFT's fields. The `etag`
//! is the one `/get` sends for the same version.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use backrunner_store::index::{ListEntry, ListRequest, MAX_KEYS};
use elliptics::Session;
use serde::Serialize;

use super::authorized::{Authorized, BucketName, Read};
use crate::error::{ApiError, BadRequest};
use crate::query::Query;
use crate::range::etag::identity_etag;
use crate::state::AppState;

/// The listing handler.
pub async fn list(
    State(state): State<AppState>,
    request: Authorized<Read, BucketName>,
) -> Result<Response, ApiError> {
    let params = ListParams::from_query(&request.info.query)?;
    let session = request.data_session(&state)?;
    let index = state
        .indexes
        .of(&request.bucket)
        .ok_or(ApiError::NotEnabled(
            "listing is switched off on this proxy (key_index = false)",
        ))?;
    let page = index
        .list(&params.request)
        .await
        .map_err(|e| list_error(&e))?;
    let keys: Vec<IndexedKey> = page
        .entries
        .iter()
        .map(|e| IndexedKey::new(&session, e, params.url_encoded))
        .collect();
    let reply = ListReply {
        bucket: &request.bucket.name,
        prefix: params.text(&params.request.prefix),
        delimiter: params.text(&params.request.delimiter),
        max_keys: params.request.max_keys(),
        encoding_type: params.url_encoded.then_some("url"),
        start_after: params
            .request
            .start_after
            .as_deref()
            .map(|s| params.text(s)),
        continuation_token: params.request.continuation_token.as_deref(),
        is_truncated: page.is_truncated,
        next_continuation_token: page.next_continuation_token.as_deref(),
        key_count: keys.len() + page.common_prefixes.len(),
        indexes: keys,
        common_prefixes: page
            .common_prefixes
            .iter()
            .map(|p| params.text(p))
            .collect(),
    };
    Ok(Json(reply).into_response())
}

fn list_error(e: &backrunner_store::index::IndexError) -> ApiError {
    let reply = ApiError::from_index(e);
    if reply.status().is_server_error() {
        tracing::warn!(error = %e, "listing failed");
    }
    reply
}

/// A listing's query, validated.
#[derive(Debug, PartialEq, Eq)]
struct ListParams {
    request: ListRequest,
    url_encoded: bool,
}

impl ListParams {
    fn from_query(query: &Query) -> Result<ListParams, ApiError> {
        let one = |name: &'static str| -> Result<Option<Vec<u8>>, ApiError> {
            let mut values = query.values(name);
            let first = values.next().map(<[u8]>::to_vec);
            if values.next().is_some() {
                return Err(BadRequest::RepeatedParameter(name).into());
            }
            Ok(first)
        };
        let max_keys = match one("max-keys")? {
            None => None,
            Some(raw) => Some(
                std::str::from_utf8(&raw)
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok())
                    .map(|n| usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS))
                    .ok_or_else(|| {
                        BadRequest::InvalidMaxKeys(String::from_utf8_lossy(&raw).into_owned())
                    })?,
            ),
        };
        let continuation_token = match one("continuation-token")? {
            None => None,
            Some(raw) => {
                Some(String::from_utf8(raw).map_err(|_| BadRequest::InvalidContinuationToken)?)
            }
        };
        let url_encoded = match one("encoding-type")?.as_deref() {
            None => false,
            Some(b"url") => true,
            Some(_) => return Err(BadRequest::InvalidQueryParameter("encoding-type").into()),
        };
        Ok(ListParams {
            request: ListRequest {
                prefix: one("prefix")?.unwrap_or_default(),
                delimiter: one("delimiter")?.unwrap_or_default(),
                start_after: one("start-after")?,
                continuation_token,
                max_keys,
            },
            url_encoded,
        })
    }

    /// Key bytes as reply text.
    fn text(&self, bytes: &[u8]) -> String {
        key_text(bytes, self.url_encoded)
    }
}

/// Key bytes as reply text: percent-encoded (all but unreserved characters and `/`) for
/// `encoding-type=url`, else UTF-8 (lossy: a key that is not UTF-8 needs the encoding).
/// Shared with the S3 front's ListObjects.
pub fn key_text(bytes: &[u8], url_encoded: bool) -> String {
    if !url_encoded {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Serialize)]
struct ListReply<'a> {
    bucket: &'a str,
    prefix: String,
    delimiter: String,
    #[serde(rename = "max-keys")]
    max_keys: usize,
    #[serde(rename = "encoding-type", skip_serializing_if = "Option::is_none")]
    encoding_type: Option<&'static str>,
    #[serde(rename = "start-after", skip_serializing_if = "Option::is_none")]
    start_after: Option<String>,
    #[serde(rename = "continuation-token", skip_serializing_if = "Option::is_none")]
    continuation_token: Option<&'a str>,
    #[serde(rename = "is-truncated")]
    is_truncated: bool,
    #[serde(
        rename = "next-continuation-token",
        skip_serializing_if = "Option::is_none"
    )]
    next_continuation_token: Option<&'a str>,
    indexes: Vec<IndexedKey>,
    #[serde(rename = "common-prefixes")]
    common_prefixes: Vec<String>,
    #[serde(rename = "key-count")]
    key_count: usize,
}

/// One listed key, with RIFT's field names.
#[derive(Serialize)]
struct IndexedKey {
    key: String,
    id: String,
    size: u64,
    timestamp: String,
    time_seconds: String,
    etag: String,
}

impl IndexedKey {
    fn new(session: &Session, e: &ListEntry, url_encoded: bool) -> IndexedKey {
        let id = session.id(&e.key);
        let etag = entry_etag(&id, e);
        IndexedKey {
            key: key_text(&e.key, url_encoded),
            id: id.to_hex(),
            size: e.size,
            timestamp: e.stamp.to_rfc3339(),
            time_seconds: e.stamp.tsec.to_string(),
            etag,
        }
    }
}

/// The quoted ETag of a listed object (`id` = its Elliptics id): the one its writer logged
/// in the key index (the S3 front logs the MD5), else the identity tag `/get` sends.
/// Shared with the S3 front's ListObjects.
pub fn entry_etag(id: &elliptics::proto::Id, e: &ListEntry) -> String {
    match &e.etag {
        Some(etag) if etag.starts_with('"') => etag.clone(),
        Some(etag) => format!("\"{etag}\""),
        None => identity_etag(&id.0, e.size, e.stamp.to_system_time()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Result<ListParams, ApiError> {
        ListParams::from_query(&Query::parse(Some(q)))
    }

    #[test]
    fn query_parameters() {
        let p = params("prefix=a%2F&delimiter=%2F&start-after=a%2Fb&max-keys=5").unwrap();
        assert_eq!(p.request.prefix, b"a/");
        assert_eq!(p.request.delimiter, b"/");
        assert_eq!(p.request.start_after.as_deref(), Some(&b"a/b"[..]));
        assert_eq!(p.request.max_keys, Some(5));
        let p = params("delimiter=&max-keys=99999").unwrap();
        assert!(p.request.delimiter.is_empty(), "an empty delimiter is none");
        assert_eq!(p.request.max_keys(), 1000);
        assert_eq!(params("max-keys=0").unwrap().request.max_keys, Some(0));
        let status = |q: &str| params(q).map_or_else(|e| e.status().as_u16(), |_| 200);
        assert_eq!(status("max-keys=-1"), 400);
        assert_eq!(status("max-keys=ten"), 400);
        assert_eq!(status("prefix=a&prefix=b"), 400);
        assert_eq!(status("encoding-type=xml"), 400);
        assert_eq!(status("continuation-token=%ff"), 400);
        assert!(params("encoding-type=url").unwrap().url_encoded);
    }

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved() {
        assert_eq!(key_text(b"a/b c~\xff", true), "a/b%20c~%FF");
        assert_eq!(key_text(b"a/b c", false), "a/b c");
    }
}
