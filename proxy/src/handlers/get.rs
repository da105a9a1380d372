//! `GET|HEAD /get/{bucket}/{key}`: streamed reads with RFC 9110 conditionals and ranges.
//!
//! Objects are read through `backrunner_store::object`, whatever their layout (one record,
//! or parts named by a manifest). A plain GET (no `Range`, no `If-*`, no `offset`/`size`
//! window) of a single-record object costs one storage round trip: the first READ answers
//! with the object's size and timestamp along with its first chunk (a manifest costs one
//! more, for the first part). Anything else first reads the object's head (size,
//! timestamp, layout: a small READ without a checksum pass), decides with
//! [`range::evaluate`](crate::range::evaluate), then reads exactly the bytes it serves, one
//! range at a time, so bytes read ≈ bytes served.
//!
//! Validators: `Last-Modified` is the record timestamp; the `ETag` is always the identity
//! tag (id, size, timestamp), because the first READ reply carries no checksum and the tag
//! must not depend on which path answered.

use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::response::Response;
use backrunner_store::object::{self, ObjectHead, ReadError};
use bytes::Bytes;
use elliptics::Session;
use elliptics::proto::Id;
use futures_util::{StreamExt, TryStreamExt, future, stream};
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode, header};

use super::authorized::{Authorized, Read};
use super::object_read_error;
use crate::error::{ApiError, BadRequest};
use crate::range::etag::identity_etag;
use crate::range::{
    ByteRange, ByterangesBody, ConditionalRequest, Decision, QueryWindow, evaluate,
    generate_boundary, http_date,
};
use crate::request::RequestInfo;
use crate::state::AppState;

/// What the validators of an object are.
struct ObjectMeta {
    size: u64,
    mtime: SystemTime,
    etag: String,
}

impl ObjectMeta {
    fn new(id: &Id, size: u64, mtime: SystemTime) -> ObjectMeta {
        ObjectMeta {
            size,
            mtime,
            etag: identity_etag(&id.0, size, mtime),
        }
    }
}

/// The request's conditionals and `?offset=&size=` window, read before authorisation (a
/// malformed window is a 400 whoever asks).
pub struct Conditions(ConditionalRequest);

impl<S: Send + Sync> FromRequestParts<S> for Conditions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut conditions = ConditionalRequest::from_headers(&parts.headers);
        conditions.window = QueryWindow::from_parsed(&RequestInfo::of(parts).query)
            .map_err(|e| BadRequest::InvalidQueryParameter(e.name))?;
        Ok(Conditions(conditions))
    }
}

/// The get handler (HEAD too).
pub async fn get(
    State(state): State<AppState>,
    method: Method,
    Conditions(conditions): Conditions,
    request: Authorized<Read>,
) -> Result<Response, ApiError> {
    let session = request.read_session(&state)?;
    let target = request.target;
    let id = session.id(&target.key);
    let content_type = state.content_types.for_key(&target.key_text()).to_owned();
    let head_only = method == Method::HEAD;

    let plain = !head_only
        && conditions.window.is_none()
        && conditions.range.is_none()
        && conditions.if_match.is_none()
        && conditions.if_none_match.is_none()
        && conditions.if_modified_since.is_none()
        && conditions.if_unmodified_since.is_none();
    if plain {
        let (head, stream) = object::open(&session, &target.key)
            .await
            .map_err(|e| object_read_error("read", &e))?;
        let meta = ObjectMeta::new(&id, head.size, head.timestamp.to_system_time());
        let body = Body::from_stream(metered(&state, stream));
        return Ok(reply(StatusCode::OK, &meta, &content_type, meta.size, body));
    }

    let head = object::head(&session, &target.key)
        .await
        .map_err(|e| object_read_error("lookup", &e))?;
    let meta = ObjectMeta::new(&id, head.size, head.timestamp.to_system_time());
    let object = Object {
        session: &session,
        key: &target.key,
        head: &head,
    };
    let decision = evaluate(
        &method,
        &conditions,
        &meta.etag,
        meta.mtime,
        meta.size,
        state.config.max_ranges,
    );
    match decision {
        Decision::NotModified => Ok(reply(
            StatusCode::NOT_MODIFIED,
            &meta,
            &content_type,
            0,
            Body::empty(),
        )
        .without_length()),
        Decision::PreconditionFailed => Err(ApiError::PreconditionFailed),
        Decision::Unsatisfiable => Err(ApiError::RangeNotSatisfiable { size: meta.size }),
        Decision::Full => {
            let range = ByteRange::new(0, meta.size.saturating_sub(1));
            let body = match range {
                Some(r) if !head_only => range_body(&state, &object, r).await?,
                _ => Body::empty(),
            };
            Ok(reply(StatusCode::OK, &meta, &content_type, meta.size, body))
        }
        Decision::Window(r) => {
            let body = read_unless_head(&state, head_only, &object, r).await?;
            Ok(reply(
                StatusCode::OK,
                &meta,
                &content_type,
                r.length(),
                body,
            ))
        }
        Decision::Partial(r) => {
            let body = read_unless_head(&state, head_only, &object, r).await?;
            let mut response = reply(
                StatusCode::PARTIAL_CONTENT,
                &meta,
                &content_type,
                r.length(),
                body,
            );
            set(
                &mut response,
                header::CONTENT_RANGE,
                r.content_range(meta.size),
            );
            Ok(response)
        }
        Decision::Multi(ranges) => {
            let framing = ByterangesBody::new(
                &ranges,
                &content_type,
                meta.size,
                generate_boundary(&mut rand::thread_rng()),
            );
            let length = framing.content_length();
            let multipart_type = framing.content_type();
            let body = match head_only {
                true => Body::empty(),
                false => multipart_body(&state, session.clone(), target.key.clone(), head, framing),
            };
            let status = StatusCode::PARTIAL_CONTENT;
            Ok(reply(status, &meta, &multipart_type, length, body))
        }
    }
}

/// The object a GET serves ranges of.
struct Object<'a> {
    session: &'a Session,
    key: &'a [u8],
    head: &'a ObjectHead,
}

async fn read_unless_head(
    state: &AppState,
    head_only: bool,
    object: &Object<'_>,
    range: ByteRange,
) -> Result<Body, ApiError> {
    match head_only {
        true => Ok(Body::empty()),
        false => range_body(state, object, range).await,
    }
}

/// Opens the READ of `range` before the headers go out, so a storage failure is still a
/// proper error reply.
async fn range_body(
    state: &AppState,
    object: &Object<'_>,
    range: ByteRange,
) -> Result<Body, ApiError> {
    let stream = object::read_range(
        object.session,
        object.key,
        object.head,
        range.start,
        range.length(),
    )
    .await
    .map_err(|e| object_read_error("read", &e))?;
    Ok(Body::from_stream(metered(state, stream)))
}

/// Counts the object bytes of `stream` as they pass to the client:
/// `storage_read_bytes_total` and `http_object_bytes_served_total`. Every READ asks for
/// exactly the bytes it serves, so the two agree; the independent side of the
/// range-amplification guard is the nodes' own `reads_size` (MONITOR_STAT), which the
/// benchmarks compare with these.
fn metered<S>(state: &AppState, stream: S) -> impl futures_util::Stream<Item = S::Item> + use<S>
where
    S: futures_util::Stream<Item = Result<Bytes, elliptics::Error>>,
{
    let read = state.metrics.storage_bytes_read.clone();
    let served = state.metrics.bytes_served.clone();
    stream.inspect(move |item| {
        if let Ok(b) = item {
            read.inc_by(b.len() as u64);
            served.inc_by(b.len() as u64);
        }
    })
}

/// The parts of a `multipart/byteranges` body, each read when the client gets to it.
fn multipart_body(
    state: &AppState,
    session: Session,
    key: Vec<u8>,
    head: ObjectHead,
    framing: ByterangesBody,
) -> Body {
    let state = state.clone();
    let trailer = Bytes::from(framing.trailer().to_owned());
    let parts = framing.parts().to_vec();
    let bodies = stream::iter(parts).flat_map(move |part| {
        let session = session.clone();
        let key = key.clone();
        let head = head.clone();
        let state = state.clone();
        let header = stream::once(future::ready(Ok::<_, elliptics::Error>(Bytes::from(
            part.header,
        ))));
        let data = stream::once(async move {
            let read =
                object::read_range(&session, &key, &head, part.range.start, part.range.length())
                    .await
                    .map_err(|e| match e {
                        ReadError::Storage(e) => e,
                        other => elliptics::Error::Protocol(other.to_string()),
                    });
            read.map(|s| metered(&state, s))
        })
        .try_flatten();
        header.chain(data)
    });
    let all = bodies.chain(stream::once(future::ready(Ok(trailer))));
    Body::from_stream(all)
}

/// A reply with the object headers; `length` is the body's Content-Length.
fn reply(
    status: StatusCode,
    meta: &ObjectMeta,
    content_type: &str,
    length: u64,
    body: Body,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    set(&mut response, header::ACCEPT_RANGES, "bytes".into());
    set(&mut response, header::ETAG, meta.etag.clone());
    set(&mut response, header::LAST_MODIFIED, http_date(meta.mtime));
    set(&mut response, header::CONTENT_TYPE, content_type.to_owned());
    set(&mut response, header::CONTENT_LENGTH, length.to_string());
    response
}

fn set(response: &mut Response, name: header::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::try_from(value) {
        response.headers_mut().insert(name, v);
    }
}

trait WithoutLength {
    fn without_length(self) -> Self;
}

impl WithoutLength for Response {
    /// 304 replies carry no Content-Length (RFC 9110 §15.4.5 allows it, but it would
    /// describe the full object).
    fn without_length(mut self) -> Self {
        self.headers_mut().remove(header::CONTENT_LENGTH);
        self.headers_mut().remove(header::CONTENT_TYPE);
        self
    }
}
