//! A minimal HTTP/1.1 JSON client for the placement hub, over hyper's connection API: one
//! TCP connection per exchange (an exchange every few seconds does not need pooling),
//! `TCP_NODELAY`, one deadline over connect + request + response body, and a cap on the
//! response size; a 503 (an operator replica that is not the leader) is retried on a new
//! connection. Plain `http://` only: the hub is an in-cluster Service.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

/// Largest hub response accepted (4 MiB: thousands of backends).
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// Attempts of one exchange while the hub answers 503: behind a Service with several
/// operator replicas, followers forward to the leader, but answer 503 while they do not
/// know it yet (an election in progress) or cannot reach it, so a new connection (which
/// may reach another replica) is worth a retry; a 503 comes back in well under a
/// millisecond.
pub const UNAVAILABLE_ATTEMPTS: u32 = 6;

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

/// Why an exchange with the hub failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The whole exchange took longer than the deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// TCP connect failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// HTTP-level failure (handshake, request, body).
    #[error("http: {0}")]
    Http(String),
    /// The hub answered with a non-success status.
    #[error("hub answered {0}")]
    Status(StatusCode),
    /// The JSON could not be encoded or decoded.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Client of one hub base URL.
#[derive(Clone, Debug)]
pub struct HubClient {
    host: String,
    port: u16,
    authority: String,
    prefix: String,
    timeout: Duration,
}

impl HubClient {
    /// A client of `base` (`http://host[:port][/prefix]`); every exchange is bounded by
    /// `timeout`.
    pub fn new(base: &Uri, timeout: Duration) -> HubClient {
        let host = base.host().unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let port = base.port_u16().unwrap_or(80);
        let authority = base
            .authority()
            .map_or_else(|| format!("{host}:{port}"), |a| a.as_str().to_owned());
        HubClient {
            host,
            port,
            authority,
            prefix: base.path().trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    /// `POST {prefix}{path}` with `body` as JSON; the response body is discarded.
    pub async fn post_json(&self, path: &str, body: &impl Serialize) -> Result<(), HubError> {
        let bytes = Bytes::from(serde_json::to_vec(body)?);
        self.exchange(Method::POST, path, bytes).await.map(|_| ())
    }

    /// `GET {prefix}{path}`, decoding the JSON response.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, HubError> {
        let bytes = self.exchange(Method::GET, path, Bytes::new()).await?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    async fn exchange(&self, method: Method, path: &str, body: Bytes) -> Result<Bytes, HubError> {
        let attempts = async {
            let mut attempt = 1;
            loop {
                match self.exchange_once(method.clone(), path, body.clone()).await {
                    Err(HubError::Status(StatusCode::SERVICE_UNAVAILABLE))
                        if attempt < UNAVAILABLE_ATTEMPTS =>
                    {
                        attempt += 1;
                    }
                    other => return other,
                }
            }
        };
        tokio::time::timeout(self.timeout, attempts)
            .await
            .map_err(|_| HubError::Timeout(self.timeout))?
    }

    async fn exchange_once(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Bytes, HubError> {
        let http_err = |e: &dyn std::fmt::Display| HubError::Http(e.to_string());
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(HubError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http_err(&e))?;
        // The connection task ends when the exchange is done or the deadline drops `sender`.
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "placement hub connection ended");
            }
        });
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(header::HOST, &self.authority)
            .header(header::ACCEPT, "application/json");
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body)).map_err(|e| http_err(&e))?;
        let result = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| http_err(&e))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| http_err(&e))?
                .to_bytes();
            if !status.is_success() {
                return Err(HubError::Status(status));
            }
            Ok(bytes)
        }
        .await;
        drop(sender);
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let parse = |s: &str| HubClient::new(&s.parse::<Uri>().unwrap(), Duration::from_secs(1));
        let c = parse("http://operator.ns.svc:8081/");
        assert_eq!(
            (c.host.as_str(), c.port, c.prefix.as_str()),
            ("operator.ns.svc", 8081, "")
        );
        assert_eq!(c.authority, "operator.ns.svc:8081");
        assert_eq!(query_value("ns/main-1"), "ns%2Fmain-1");
        assert_eq!(query_value("a b&é"), "a%20b%26%C3%A9");
        let c = parse("http://[::1]/hub");
        assert_eq!(
            (c.host.as_str(), c.port, c.prefix.as_str()),
            ("::1", 80, "/hub")
        );
    }
}
