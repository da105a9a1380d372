//! The layer around every request: the request's [`RequestInfo`] (endpoint, decoded path,
//! parsed query: the only parse of the URI), trace id (from `X-Request`, else
//! `?trace_id=`, else generated; echoed back in `X-Request` and handed to storage), a
//! tracing span, the
//! concurrency limit (a fast 503 instead of a queue), the configured extra headers, and one
//! access-log line per request written when the response body is finished or abandoned (so
//! bytes and duration are the real ones).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use http_body::{Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use crate::error::ApiError;
use crate::proxy_stat::Finished;
use crate::query::Query;
use crate::request::RequestInfo;
use crate::state::AppState;

/// Header carrying the trace id, both ways.
pub const TRACE_HEADER: HeaderName = HeaderName::from_static("x-request");

/// Where the handler records the user a request acted as (part of the request's
/// [`RequestInfo`]).
#[derive(Debug, Clone, Default)]
pub struct UserSlot(Arc<OnceLock<String>>);

impl UserSlot {
    /// Records `user` (the first call wins).
    pub fn set(&self, user: &str) {
        let _ = self.0.set(user.to_owned());
    }

    /// The recorded user, `-` when none.
    pub fn get(&self) -> &str {
        self.0.get().map_or("-", String::as_str)
    }
}

/// Parses an `X-Request` value: `0x`-prefixed hex or decimal; anything else is hashed so
/// arbitrary request ids still correlate.
pub fn parse_trace_id(value: &str) -> u64 {
    let value = value.trim();
    let parsed = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    };
    parsed.unwrap_or_else(|| {
        // FNV-1a: stable across processes, unlike the std hasher.
        value.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }) >> 1
    })
}

/// Backrunner's fallback: `?trace_id=` when there is no `X-Request` header.
fn query_trace_id(query: &Query) -> Option<&str> {
    query
        .first("trace_id")
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// The middleware (install with `axum::middleware::from_fn_with_state`).
pub async fn around_request(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let query = Query::parse(req.uri().query());
    let presented = req
        .headers()
        .get(&TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| query_trace_id(&query))
        .map(str::to_owned);
    let trace_id = presented
        .as_deref()
        .map_or_else(|| rand::random::<u64>() >> 1, parse_trace_id);
    let echo = presented.unwrap_or_else(|| format!("0x{trace_id:016x}"));
    let mut info = RequestInfo::with_query(req.uri(), query);
    info.trace_id = trace_id;
    let user = info.user.clone();
    let handler = info.endpoint.label();
    req.extensions_mut().insert(Arc::new(info));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let bytes_in = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let span = tracing::info_span!("request", trace_id = %format_args!("{trace_id:016x}"));

    let permit = state.request_slots.clone().try_acquire_owned().ok();
    state.metrics.inflight.inc();
    let mut response = match permit {
        Some(_) => next.run(req).instrument(span.clone()).await,
        None => {
            state
                .metrics
                .rejected
                .with_label_values(&["overloaded"])
                .inc();
            ApiError::Overloaded.into_response()
        }
    };
    state
        .metrics
        .ttfb
        .with_label_values(&[handler])
        .observe(start.elapsed().as_secs_f64());
    let headers = response.headers_mut();
    for (name, value) in &state.extra_headers {
        headers.append(name, value.clone());
    }
    if let Ok(v) = HeaderValue::try_from(echo) {
        headers.insert(TRACE_HEADER, v);
    }
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let complete = http_body::Body::is_end_stream(&body);
    let expected = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let logged = LoggedBody {
        inner: body,
        line: AccessLine {
            state: state.clone(),
            handler,
            trace_id,
            span,
            method,
            path,
            status,
            bytes_in,
            bytes_out: 0,
            start,
            user,
            complete,
            expected,
            _permit: permit,
        },
    };
    Response::from_parts(parts, Body::new(logged))
}

struct AccessLine {
    state: AppState,
    handler: &'static str,
    trace_id: u64,
    span: tracing::Span,
    method: Method,
    path: String,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    start: Instant,
    user: UserSlot,
    complete: bool,
    expected: Option<u64>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for AccessLine {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed();
        let status = self.status.to_string();
        let m = &self.state.metrics;
        m.inflight.dec();
        m.requests
            .with_label_values(&[self.handler, status.as_str()])
            .inc();
        m.latency
            .with_label_values(&[self.handler])
            .observe(elapsed.as_secs_f64());
        m.bytes_in
            .with_label_values(&[self.handler])
            .inc_by(self.bytes_in);
        m.bytes_out
            .with_label_values(&[self.handler])
            .inc_by(self.bytes_out);
        if !self.complete {
            m.canceled.inc();
        }
        self.state.stats.record(&Finished {
            handler: self.handler,
            method: self.method.as_str(),
            path: &self.path,
            status: self.status,
            elapsed,
            trace_id: self.trace_id,
        });
        let _enter = self.span.enter();
        tracing::info!(
            target: "backrunner::access",
            handler = self.handler,
            method = %self.method,
            path = %self.path,
            status = self.status,
            bytes_in = self.bytes_in,
            bytes_out = self.bytes_out,
            duration_us = elapsed.as_micros() as u64,
            user = self.user.get(),
            complete = self.complete,
            "request"
        );
    }
}

/// A response body that counts what it sends and logs the access line when dropped; it
/// also holds the request's concurrency permit until then.
struct LoggedBody {
    inner: Body,
    line: AccessLine,
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.line.bytes_out += data.len() as u64;
                    // hyper stops polling once Content-Length bytes went out.
                    if Some(this.line.bytes_out) == this.line.expected {
                        this.line.complete = true;
                    }
                }
            }
            Poll::Ready(None) => this.line.complete = true,
            Poll::Ready(Some(Err(e))) => {
                let _enter = this.line.span.enter();
                tracing::warn!(error = %e, "response body failed");
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::{Query, parse_trace_id, query_trace_id};

    #[test]
    fn trace_ids() {
        let from_query = |q| query_trace_id(&Query::parse(q)).map(str::to_owned);
        assert_eq!(
            from_query(Some("a=1&trace_id=0x2a")).as_deref(),
            Some("0x2a")
        );
        assert_eq!(from_query(Some("trace_id=")), None);
        assert_eq!(from_query(None), None);
        assert_eq!(parse_trace_id("12345"), 12345);
        assert_eq!(parse_trace_id("0x10"), 16);
        assert_eq!(parse_trace_id("req-abc"), parse_trace_id("req-abc"));
        assert!(parse_trace_id("req-abc") < 1 << 63);
    }
}
