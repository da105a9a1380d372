//! The S3 listener's router: every request goes to the [`s3s`] service (path-style
//! addressing: `/{bucket}/{key}`), inside a tracing span carrying its trace id (from an
//! `X-Request` header, else generated; echoed back in `X-Request` and handed to storage),
//! under the proxy's concurrency limit (a slot held until the reply body is sent; beyond
//! it: 503 `SlowDown`), with the proxy's `[extra_headers]` and one access-log
//! line (target `backrunner::access`). Bucket names are Backrunner's, not only
//! DNS-compatible ones ([`BucketNames`]); presigned URLs live a week at most
//! ([`MAX_PRESIGNED_EXPIRY_SECS`], which s3s 0.14 does not check).
//!
//! A signed request is run once per candidate secret of its access key until one verifies
//! (see [`crate::credentials`] for why a user name has several): the body is held in a
//! slot that the first read takes, so a retry happens only while no byte of the body was
//! read — which is always the case when s3s refuses a header or presigned signature.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use backrunner_proxy::AppState;
use backrunner_proxy::access_log::parse_trace_id;
use backrunner_proxy::request::RequestInfo;
use backrunner_proxy::signature::decode_path;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body::{Frame, SizeHint};
use s3s::service::{S3Service, S3ServiceBuilder};
use tracing::Instrument;

use crate::access::BucketAcl;
use crate::backend::Backend;
use crate::credentials::{ATTEMPT, Attempt, CredentialLookup, MAX_CANDIDATES};

/// The S3 front's shared parts.
#[derive(Clone)]
struct Front {
    state: AppState,
    service: S3Service,
}

/// The router of the S3 listener over the proxy's state (serve it with
/// [`backrunner_proxy::serve`] or [`backrunner_proxy::server::serve_tls`]).
pub fn router(state: AppState) -> Router {
    let mut builder = S3ServiceBuilder::new(Backend::new(state.clone()));
    builder.set_auth(CredentialLookup::new(state.clone()));
    builder.set_access(BucketAcl::new(state.clone()));
    builder.set_validation(BucketNames);
    let front = Front {
        state,
        service: builder.build(),
    };
    Router::new().fallback(serve).with_state(front)
}

/// Longest validity of a presigned URL (S3's: 7 days); s3s 0.14 does not check it.
pub const MAX_PRESIGNED_EXPIRY_SECS: u64 = 7 * 24 * 3600;

/// Bucket names as Backrunner allows them (`backrunner_store::valid_bucket_name`), not
/// only DNS-compatible ones: every bucket of the Backrunner API is reachable (path-style).
#[derive(Debug, Clone, Copy)]
pub struct BucketNames;

impl s3s::validation::NameValidation for BucketNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        backrunner_store::bucket::valid_bucket_name(name).is_some()
    }
}

/// A presigned SigV4 URL valid for longer than [`MAX_PRESIGNED_EXPIRY_SECS`] (or with an
/// unreadable `X-Amz-Expires`): the reply S3 gives it.
fn presign_refusal(info: &RequestInfo) -> Option<Response> {
    let raw = info.query.first("X-Amz-Expires")?;
    let valid = std::str::from_utf8(raw)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|secs| secs <= MAX_PRESIGNED_EXPIRY_SECS);
    (!valid).then(|| {
        xml_error(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        )
    })
}

/// The bucket of a path-style request path (`/{bucket}/...`), percent-decoded.
pub fn path_bucket(path: &str) -> Option<String> {
    let first = path.trim_start_matches('/').split('/').next()?;
    let decoded = decode_path(first).ok()?;
    String::from_utf8(decoded).ok().filter(|b| !b.is_empty())
}

async fn serve(State(front): State<Front>, request: Request) -> Response {
    let presented = request
        .headers()
        .get("x-request")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let trace_id = presented
        .as_deref()
        .map_or_else(rand_trace_id, parse_trace_id);
    let span = tracing::info_span!("s3", trace_id = %format_args!("{trace_id:016x}"));
    let echo = presented.unwrap_or_else(|| format!("0x{trace_id:016x}"));
    async move {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let mut response = match front.state.request_slots.clone().try_acquire_owned() {
            // The permit lives as long as the reply body: a streamed GET holds its slot.
            Ok(permit) => run(&front, request, trace_id).await.map(|body| {
                Body::new(Holding {
                    body,
                    _permit: permit,
                })
            }),
            Err(_) => slow_down(),
        };
        let headers = response.headers_mut();
        for (name, value) in &front.state.extra_headers {
            headers.append(name, value.clone());
        }
        if let Ok(v) = HeaderValue::from_str(&echo) {
            headers.insert("x-request", v);
        }
        tracing::info!(
            target: "backrunner::access",
            front = "s3",
            %method,
            path,
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
        response
    }
    .instrument(span)
    .await
}

fn rand_trace_id() -> u64 {
    // Same range as the Backrunner API's generated ids (top bit clear).
    rand::random::<u64>() >> 1
}

/// Runs the request through s3s, once per candidate secret while the signature does not
/// verify and the body is untouched.
async fn run(front: &Front, request: Request, trace_id: u64) -> Response {
    let (mut parts, body) = request.into_parts();
    let mut info = RequestInfo::parse(&parts.uri);
    info.trace_id = trace_id;
    if let Some(refusal) = presign_refusal(&info) {
        return refusal;
    }
    parts.extensions.insert(Arc::new(info));
    let bucket = path_bucket(parts.uri.path());
    let slot = BodySlot::new(body);
    let mut index = 0;
    loop {
        let attempt = Arc::new(Attempt::new(bucket.clone(), index));
        let body = s3s::Body::http_body_unsync(slot.reader());
        let request = http::Request::from_parts(parts.clone(), body);
        let result = ATTEMPT
            .scope(Arc::clone(&attempt), front.service.call(request))
            .await;
        if attempt.retry_with_next() && !slot.touched() && index + 1 < MAX_CANDIDATES {
            index += 1;
            continue;
        }
        return match result {
            Ok(response) => response.map(Body::new),
            Err(e) => {
                tracing::error!(error = ?e, "S3 reply could not be built");
                internal_error()
            }
        };
    }
}

fn slow_down() -> Response {
    xml_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "SlowDown",
        "Please reduce your request rate.",
    )
}

fn internal_error() -> Response {
    xml_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "We encountered an internal error. Please try again.",
    )
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (
        status,
        [(http::header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

/// A reply body holding the request's concurrency slot until it is sent (or dropped).
struct Holding {
    body: Body,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl http_body::Body for Holding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The request body, taken by the first read of any attempt.
#[derive(Clone)]
struct BodySlot {
    body: Arc<Mutex<Option<Body>>>,
    touched: Arc<AtomicBool>,
}

impl BodySlot {
    fn new(body: Body) -> BodySlot {
        BodySlot {
            body: Arc::new(Mutex::new(Some(body))),
            touched: Arc::new(AtomicBool::new(false)),
        }
    }

    fn touched(&self) -> bool {
        self.touched.load(Ordering::Acquire)
    }

    fn reader(&self) -> SlotBody {
        SlotBody {
            slot: self.clone(),
            inner: None,
        }
    }

    fn with_body<T>(&self, f: impl FnOnce(&Body) -> T) -> Option<T> {
        self.body.lock().ok()?.as_ref().map(f)
    }
}

/// One attempt's view of the [`BodySlot`].
struct SlotBody {
    slot: BodySlot,
    inner: Option<Body>,
}

impl http_body::Body for SlotBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.inner.is_none() {
            this.slot.touched.store(true, Ordering::Release);
            this.inner = this.slot.body.lock().ok().and_then(|mut b| b.take());
        }
        match &mut this.inner {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(body) => body.is_end_stream(),
            None => self.slot.with_body(|b| b.is_end_stream()).unwrap_or(true),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(body) => body.size_hint(),
            None => self.slot.with_body(|b| b.size_hint()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn buckets_of_paths() {
        assert_eq!(path_bucket("/b1/k/x"), Some("b1".into()));
        assert_eq!(path_bucket("/b%31"), Some("b1".into()));
        assert_eq!(path_bucket("/"), None);
        assert_eq!(path_bucket("/%zz/k"), None);
    }

    #[test]
    fn presigned_urls_live_a_week_at_most() {
        let refused = |query: &str| {
            let uri: http::Uri = format!("/b/k?{query}").parse().unwrap_or_default();
            presign_refusal(&RequestInfo::parse(&uri)).map(|r| r.status())
        };
        assert_eq!(refused("X-Amz-Expires=604800"), None);
        assert_eq!(refused("x=1"), None);
        assert_eq!(
            refused("X-Amz-Expires=604801"),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(refused("X-Amz-Expires=soon"), Some(StatusCode::BAD_REQUEST));
        use s3s::validation::NameValidation;
        assert!(BucketNames.validate_bucket_name("My_Bucket"));
        assert!(!BucketNames.validate_bucket_name(""));
    }

    #[tokio::test]
    async fn the_body_goes_to_the_first_reader_only() {
        let slot = BodySlot::new(Body::from("abc"));
        let unread = slot.reader();
        assert!(!slot.touched());
        assert_eq!(http_body::Body::size_hint(&unread).exact(), Some(3));
        let first = slot.reader().collect().await.map(|c| c.to_bytes());
        assert_eq!(first.ok(), Some(Bytes::from_static(b"abc")));
        assert!(slot.touched());
        let second = slot.reader().collect().await.map(|c| c.to_bytes());
        assert_eq!(second.ok(), Some(Bytes::new()));
    }
}
