//! What the proxy reads from a request's URI once, before any handler runs: the
//! [`Endpoint`], the percent-decoded path and the parsed [`Query`], with the trace id and
//! the access log's user slot. The access-log layer builds a [`RequestInfo`] per request
//! and puts it in the request extensions; the extractors of
//! [`handlers`](crate::handlers) and the signature check read it from there, so the path
//! is decoded once and the query parsed once per request.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, Method, Uri};

use crate::access_log::UserSlot;
use crate::endpoint::Endpoint;
use crate::error::{ApiError, BadRequest};
use crate::query::Query;
use crate::signature::{CanonicalRequest, decode_path};

/// A request's URI, parsed (see the module docs).
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The endpoint the path names.
    pub endpoint: Endpoint,
    /// The parsed query.
    pub query: Query,
    /// The trace id (handed to storage, echoed in `X-Request`); 0 outside the access-log
    /// layer.
    pub trace_id: u64,
    /// Where authorisation records the user for the access log.
    pub user: UserSlot,
    /// The percent-decoded path; `None` when it holds an invalid escape.
    path: Option<Vec<u8>>,
}

impl RequestInfo {
    /// Parses `uri` (trace id 0, no user yet).
    pub fn parse(uri: &Uri) -> RequestInfo {
        RequestInfo::with_query(uri, Query::parse(uri.query()))
    }

    /// Parses the path of `uri`; `query` is its query, already parsed.
    pub fn with_query(uri: &Uri, query: Query) -> RequestInfo {
        RequestInfo {
            endpoint: Endpoint::of_path(uri.path()),
            query,
            trace_id: 0,
            user: UserSlot::default(),
            path: decode_path(uri.path()).ok(),
        }
    }

    /// The request's info: the one the access-log layer stored, else parsed now and
    /// stored (a router used without the layer, as in unit tests).
    pub fn of(parts: &mut Parts) -> Arc<RequestInfo> {
        if let Some(info) = parts.extensions.get::<Arc<RequestInfo>>() {
            return Arc::clone(info);
        }
        let info = Arc::new(RequestInfo::parse(&parts.uri));
        parts.extensions.insert(Arc::clone(&info));
        info
    }

    /// The percent-decoded path (Go's `url.PathUnescape`); 400 on an invalid escape.
    pub fn decoded_path(&self) -> Result<&[u8], ApiError> {
        self.path
            .as_deref()
            .ok_or(ApiError::BadRequest(BadRequest::InvalidPathEscape))
    }

    /// The canonical form a signature of this request covers.
    pub fn canonical(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<CanonicalRequest, ApiError> {
        let headers = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        Ok(CanonicalRequest::from_parsed(
            method.as_str(),
            self.decoded_path()?,
            &self.query,
            headers,
        ))
    }
}

/// Extractor of the request's [`RequestInfo`].
#[derive(Debug, Clone)]
pub struct Info(pub Arc<RequestInfo>);

impl<S: Send + Sync> FromRequestParts<S> for Info {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Info(RequestInfo::of(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_once_and_canonicalises_from_the_parsed_form() {
        let uri: Uri = "/get/b/a%20b?z=1&a=x%20y&e=".parse().unwrap_or_default();
        let info = RequestInfo::parse(&uri);
        assert_eq!(info.endpoint, Endpoint::Get);
        assert_eq!(info.decoded_path(), Ok(&b"/get/b/a b"[..]));
        let canonical = info.canonical(&Method::GET, &HeaderMap::new());
        let expected = CanonicalRequest::from_request(&Method::GET, &uri, &HeaderMap::new());
        assert_eq!(canonical.ok(), expected.ok());
        let bad = RequestInfo::parse(&"/get/b/%zz".parse().unwrap_or_default());
        assert_eq!(
            bad.decoded_path(),
            Err(ApiError::BadRequest(BadRequest::InvalidPathEscape))
        );
    }
}
