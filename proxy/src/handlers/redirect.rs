//! `GET /redirect/{bucket}/{key}`: instead of streaming the object, answers 302 pointing
//! at the byte region of the blob file that holds it, on a storage host's own HTTP server
//! (`redirect_port`), as Backrunner does: LOOKUP in every group, one successful replica
//! picked at random, and the URL
//! `{scheme}://{storage host}:{redirect_port}/{blob path minus redirect_root}:{offset}:{size}`
//! where `offset` is the record's data offset in the file plus the requested start.
//!
//! The reply carries `X-Ell-Mtime`, `X-Ell-Signtime`, `X-Ell-Signature-Timeout`,
//! `X-Ell-File-Offset`, `X-Ell-Total-Size` and `X-Ell-File`, and `Authorization` is the
//! HMAC-SHA512 (hex) of GET + that URL + those headers keyed by `redirect_token` — the
//! same canonical form as request signatures — so the storage side can check that the
//! proxy issued the URL and when. The window is the first `Range` (else `?offset=&size=`,
//! else the whole object). 503 while redirects are off (`redirect_port = 0`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use backrunner_store::object::{self, ObjectHead};
use elliptics::proto::FileInfoReply;
use futures_util::future::join;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use rand::Rng;

use super::authorized::{Authorized, Read};
use super::storage_error;
use crate::error::{ApiError, BadRequest};
use crate::query::Query;
use crate::range::{QueryWindow, RangeOutcome, parse_range_header, resolve_ranges};
use crate::signature::CanonicalRequest;
use crate::state::AppState;

/// The configured `redirect_port`; 503 before anything else while redirects are off.
pub struct RedirectPort(u16);

impl FromRequestParts<AppState> for RedirectPort {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match state.config.redirect_port {
            0 => Err(ApiError::Unavailable(
                "redirect is disabled on this proxy (redirect_port is 0)".into(),
            )),
            port => Ok(RedirectPort(port)),
        }
    }
}

/// The redirect handler.
pub async fn redirect(
    State(state): State<AppState>,
    RedirectPort(port): RedirectPort,
    headers: HeaderMap,
    request: Authorized<Read>,
) -> Result<Response, ApiError> {
    let session = request.data_session(&state)?;
    let key = &request.target.key;
    let (results, head) = join(session.lookup(key), object::head(&session, key)).await;
    let results = results.map_err(|e| storage_error("lookup", &e))?;
    if matches!(&head, Err(e) if e.is_not_found()) {
        return Err(ApiError::NotFound);
    }
    if let Ok(ObjectHead {
        manifest: Some(_), ..
    }) = head
    {
        return Err(ApiError::Conflict(format!(
            "'{}' is stored in parts, not in one blob region: read it with /get",
            request.target.key_text()
        )));
    }
    let found: Vec<&FileInfoReply> = results
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .collect();
    let pick = rand::thread_rng().gen_range(0..found.len().max(1));
    let Some(replica) = found.get(pick) else {
        return Err(ApiError::NotFound);
    };
    let size = replica.info.size;
    let (start, len) = window(&headers, &request.info.query, size)?;

    let file = replica
        .path
        .strip_prefix(state.config.redirect_root.as_str())
        .unwrap_or(&replica.path);
    if file.is_empty() {
        tracing::warn!(path = %replica.path, "lookup reply names no blob file");
        return Err(ApiError::Unavailable("storage reported no file".into()));
    }
    let slash = if file.starts_with('/') { "" } else { "/" };
    let region = format!("{slash}{file}:{}:{len}", replica.info.offset + start);
    let host = replica.addr.socket_addr().ip();
    let host = match host {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let location = format!(
        "{}://{host}:{port}{}",
        state.config.redirect_scheme,
        escape_path(&region)
    );

    let signtime = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mtime = replica.info.mtime.tsec;
    let ell: [(&'static str, String); 6] = [
        ("x-ell-mtime", mtime.to_string()),
        ("x-ell-signtime", signtime.to_string()),
        (
            "x-ell-signature-timeout",
            state.config.redirect_signature_timeout_secs.to_string(),
        ),
        ("x-ell-file-offset", replica.info.offset.to_string()),
        ("x-ell-total-size", size.to_string()),
        ("x-ell-file", file.to_owned()),
    ];
    let signed = CanonicalRequest::new(
        "GET",
        region.as_bytes(),
        None,
        ell.iter().map(|(n, v)| (*n, v.as_bytes())),
    );
    let signature = signed.sign(&state.config.redirect_token);

    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    for (name, value) in &ell {
        headers.insert(HeaderName::from_static(name), header_value(value)?);
    }
    headers.insert(header::AUTHORIZATION, header_value(&signature)?);
    headers.insert(header::LOCATION, header_value(&location)?);
    Ok(response)
}

/// The `(start, length)` served: the first `Range`, else `?offset=&size=`, else all.
fn window(headers: &HeaderMap, query: &Query, size: u64) -> Result<(u64, u64), ApiError> {
    let first = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_range_header)
        .and_then(|specs| specs.first().copied());
    let outcome = match first {
        Some(spec) => resolve_ranges(&[spec], size, 1),
        None => match QueryWindow::from_parsed(query) {
            Ok(Some(w)) => w.resolve(size),
            Ok(None) => RangeOutcome::Full,
            Err(e) => {
                return Err(BadRequest::InvalidQueryParameter(e.name).into());
            }
        },
    };
    match outcome {
        RangeOutcome::Partial(r) => Ok((r.start, r.length())),
        RangeOutcome::Unsatisfiable => Err(ApiError::RangeNotSatisfiable { size }),
        RangeOutcome::Full | RangeOutcome::Multi(_) => Ok((0, size)),
    }
}

/// Percent-escapes what may not appear in a URL path (the signature covers the decoded
/// path, as for requests).
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b':' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn header_value(v: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(v).map_err(|_| {
        tracing::warn!(value = v, "redirect header value is not valid in HTTP");
        ApiError::Unavailable("storage reported a file name that cannot be redirected to".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn windows() {
        let none = HeaderMap::new();
        let window = |headers: &HeaderMap, query: Option<&str>, size| {
            window(headers, &Query::parse(query), size)
        };
        assert_eq!(window(&none, None, 100), Ok((0, 100)));
        assert_eq!(window(&range("bytes=10-19"), None, 100), Ok((10, 10)));
        assert_eq!(window(&range("bytes=90-"), None, 100), Ok((90, 10)));
        assert_eq!(window(&range("bytes=-5"), None, 100), Ok((95, 5)));
        assert_eq!(window(&range("bytes=0-1,5-9"), None, 100), Ok((0, 2)));
        assert_eq!(
            window(&range("bytes=100-"), None, 100),
            Err(ApiError::RangeNotSatisfiable { size: 100 })
        );
        assert_eq!(window(&none, Some("offset=50&size=10"), 100), Ok((50, 10)));
        assert_eq!(window(&none, Some("offset=50"), 100), Ok((50, 50)));
        assert!(window(&none, Some("offset=x"), 100).is_err());
    }

    #[test]
    fn escapes_only_what_urls_cannot_carry() {
        assert_eq!(
            escape_path("/srv/data/data-1.blob:10:20"),
            "/srv/data/data-1.blob:10:20"
        );
        assert_eq!(escape_path("/a b/é"), "/a%20b/%C3%A9");
    }
}
