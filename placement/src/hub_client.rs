//! [`HubClient`]: the one HTTP client of the placement hub, used by proxies (reports and the
//! merged view) and by operator followers (forwarding a hub request to the leader).
//!
//! Built on hyper-util's client with pooling switched off: an exchange every few seconds
//! does not need a pool, and behind a Service with several operator replicas a retry on a
//! fresh connection may reach another replica. `TCP_NODELAY`, one deadline over connect +
//! request + response body, and a cap on the response size. A 503 (an operator replica that
//! is not the leader, or does not know it yet) is retried. Plain `http://` only: the hub is
//! an in-cluster Service.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest hub response accepted (4 MiB: thousands of backends).
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// Attempts of one exchange while the hub answers 503: behind a Service with several
/// operator replicas, followers forward to the leader, but answer 503 while they do not
/// know it yet (an election in progress) or cannot reach it, so a new connection (which
/// may reach another replica) is worth a retry; a 503 comes back in well under a
/// millisecond.
pub const UNAVAILABLE_ATTEMPTS: u32 = 6;

/// Header marking a request an operator follower forwarded to the leader (no second hop).
pub const FORWARDED_HEADER: &str = "x-backrunner-forwarded";

/// `s` percent-encoded for a query value (everything but RFC 3986 unreserved bytes).
pub fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of parameter `name` in a query string, percent-decoded (`+` is a space);
/// empty when absent. The inverse of [`query_value`].
pub fn query_param(query: Option<&str>, name: &str) -> String {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Why an exchange with the hub failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The whole exchange took longer than the deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The base URL and path do not make a valid URL.
    #[error("invalid hub URL {0:?}")]
    Url(String),
    /// Connect, HTTP handshake, request or response body failed.
    #[error("http: {0}")]
    Http(String),
    /// The response body is larger than [`MAX_RESPONSE_BYTES`].
    #[error("response larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// The hub answered with a non-success status.
    #[error("hub answered {0}")]
    Status(StatusCode),
    /// The JSON could not be encoded or decoded.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// A whole response: status, `Content-Type` and body.
#[derive(Clone, Debug)]
pub struct HubReply {
    /// The status.
    pub status: StatusCode,
    /// The `Content-Type`, when the hub sent one.
    pub content_type: Option<HeaderValue>,
    /// The body (at most [`MAX_RESPONSE_BYTES`]).
    pub body: Bytes,
}

/// Client of one hub base URL (`http://host[:port][/prefix]`).
#[derive(Clone, Debug)]
pub struct HubClient {
    base: String,
    timeout: Duration,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl HubClient {
    /// A client of `base`; every exchange is bounded by `timeout`.
    pub fn new(base: &Uri, timeout: Duration) -> HubClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        HubClient {
            base: base.to_string().trim_end_matches('/').to_owned(),
            timeout,
            http,
        }
    }

    /// `POST {base}{path}` with `body` as JSON; the response body is discarded.
    pub async fn post_json(&self, path: &str, body: &impl Serialize) -> Result<(), HubError> {
        let bytes = Bytes::from(serde_json::to_vec(body)?);
        self.exchange(Method::POST, path, bytes).await.map(|_| ())
    }

    /// `GET {base}{path}`, decoding the JSON response.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, HubError> {
        let bytes = self.exchange(Method::GET, path, Bytes::new()).await?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// One request marked with [`FORWARDED_HEADER`], whatever the status of the reply
    /// (no retry): an operator follower passes the leader's answer on as it is.
    pub async fn forward(
        &self,
        method: Method,
        path_and_query: &str,
        body: Bytes,
    ) -> Result<HubReply, HubError> {
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED_HEADER, HeaderValue::from_static("1"));
        tokio::time::timeout(
            self.timeout,
            self.send(method, path_and_query, body, headers),
        )
        .await
        .map_err(|_| HubError::Timeout(self.timeout))?
    }

    async fn exchange(&self, method: Method, path: &str, body: Bytes) -> Result<Bytes, HubError> {
        let attempts = async {
            let mut attempt = 1;
            loop {
                let reply = self
                    .send(method.clone(), path, body.clone(), HeaderMap::new())
                    .await?;
                match reply.status {
                    s if s.is_success() => return Ok(reply.body),
                    StatusCode::SERVICE_UNAVAILABLE if attempt < UNAVAILABLE_ATTEMPTS => {
                        attempt += 1;
                    }
                    s => return Err(HubError::Status(s)),
                }
            }
        };
        tokio::time::timeout(self.timeout, attempts)
            .await
            .map_err(|_| HubError::Timeout(self.timeout))?
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Bytes,
        headers: HeaderMap,
    ) -> Result<HubReply, HubError> {
        let url = format!("{}{path_and_query}", self.base);
        let uri: Uri = url.parse().map_err(|_| HubError::Url(url.clone()))?;
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::ACCEPT, "application/json");
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = request
            .body(Full::new(body))
            .map_err(|e| HubError::Http(e.to_string()))?;
        request.headers_mut().extend(headers);
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| HubError::Http(describe(&e)))?;
        let (parts, incoming) = response.into_parts();
        let body = Limited::new(incoming, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    HubError::TooLarge
                } else {
                    HubError::Http(e.to_string())
                }
            })?
            .to_bytes();
        Ok(HubReply {
            status: parts.status,
            content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
            body,
        })
    }
}

/// The error and its causes on one line (hyper-util's top-level message is generic).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_round_trip() {
        assert_eq!(query_value("ns/main-1"), "ns%2Fmain-1");
        assert_eq!(query_value("a b&é"), "a%20b%26%C3%A9");
        for raw in ["ns/main-1", "a b&é", "", "x=y%z"] {
            let query = format!("other=1&cluster={}", query_value(raw));
            assert_eq!(query_param(Some(&query), "cluster"), raw);
        }
        assert_eq!(query_param(Some("cluster=ns/name"), "cluster"), "ns/name");
        assert_eq!(query_param(None, "cluster"), "");
    }

    #[test]
    fn base_urls_lose_their_trailing_slash() {
        let c = HubClient::new(
            &"http://operator.ns.svc:8081/".parse().unwrap_or_default(),
            Duration::from_secs(1),
        );
        assert_eq!(c.base, "http://operator.ns.svc:8081");
        let c = HubClient::new(
            &"http://[::1]/hub".parse().unwrap_or_default(),
            Duration::from_secs(1),
        );
        assert_eq!(c.base, "http://[::1]/hub");
    }
}
