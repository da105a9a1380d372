//! RFC 9110 conditional and range requests: decide the outcome first, render it later.
//!
//! [`evaluate`] takes the request's conditional headers and the object's validators and size
//! and returns a [`Decision`]; the HTTP layer renders it (status, `Content-Range`, body
//! framing via [`ByterangesBody`]). Order, RFC 9110 §13.2.2:
//!
//! 1. `If-Match` (strong comparison, `*` = exists) false → 412; when absent,
//!    `If-Unmodified-Since` with Last-Modified later than the date → 412;
//! 2. `If-None-Match` (weak comparison) matching → 304 for GET/HEAD, 412 otherwise; when
//!    absent, `If-Modified-Since` on GET/HEAD with Last-Modified not later than the date → 304;
//! 3. for GET and HEAD only (HEAD mirrors GET's headers): a Backrunner `offset`/`size` window
//!    wins over `Range` and is answered 200 with the window; otherwise `Range`, unless an
//!    `If-Range` is present and false (a weak tag never matches; a date must equal
//!    Last-Modified exactly), then the whole object is sent.
//!
//! Dates have second precision: Last-Modified is truncated to whole seconds before every
//! comparison. Invalid dates are ignored (as if the header were absent); unparseable tag lists
//! match nothing. For other methods a passing precondition check is [`Decision::Full`],
//! meaning "proceed".

pub mod etag;
pub mod multipart;
pub mod spec;

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, header};

pub use etag::{EntityTag, EtagCondition, object_etag};
pub use multipart::{ByterangesBody, generate_boundary};
pub use spec::{
    ByteRange, QueryWindow, RangeOutcome, RangeSpec, parse_range_header, resolve_ranges,
    unsatisfied_content_range,
};

/// Default cap on the number of ranges in one request (nginx has no default cap; Apache
/// allows 200). Beyond it the whole object is served.
pub const DEFAULT_MAX_RANGES: usize = 16;

/// The conditional and range inputs of a request. Repeated header lines are joined with `, `.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConditionalRequest {
    /// `If-Match`.
    pub if_match: Option<String>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<String>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<String>,
    /// `If-Range`.
    pub if_range: Option<String>,
    /// `Range`.
    pub range: Option<String>,
    /// Backrunner `?offset=&size=` window.
    pub window: Option<QueryWindow>,
}

impl ConditionalRequest {
    /// Collects the conditional headers (non-UTF-8 values become empty strings, which are
    /// invalid everywhere); `window` is left empty.
    pub fn from_headers(headers: &HeaderMap) -> ConditionalRequest {
        let get = |name: header::HeaderName| {
            let mut values = headers.get_all(name).iter().peekable();
            values.peek()?;
            Some(
                values
                    .map(|v| v.to_str().unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        };
        ConditionalRequest {
            if_match: get(header::IF_MATCH),
            if_none_match: get(header::IF_NONE_MATCH),
            if_modified_since: get(header::IF_MODIFIED_SINCE),
            if_unmodified_since: get(header::IF_UNMODIFIED_SINCE),
            if_range: get(header::IF_RANGE),
            range: get(header::RANGE),
            window: None,
        }
    }
}

/// What to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// 304 Not Modified (with ETag, Last-Modified and the extra headers, no body).
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
    /// 200 with the whole object (or: preconditions passed, proceed).
    Full,
    /// 200 with only these bytes (`offset`/`size` window; no `Content-Range`).
    Window(ByteRange),
    /// 206 with one range and `Content-Range`.
    Partial(ByteRange),
    /// 206 `multipart/byteranges` with these ranges, ascending and disjoint.
    Multi(Vec<ByteRange>),
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// Decides the reply to `request` for an object with validators `etag` (quoted, as sent in
/// `ETag`) and `last_modified`, of `size` bytes. See the module docs for the rules.
pub fn evaluate(
    method: &Method,
    request: &ConditionalRequest,
    etag: &str,
    last_modified: SystemTime,
    size: u64,
    max_ranges: usize,
) -> Decision {
    let current = EntityTag::parse(etag);
    let modified_secs = unix_secs(last_modified);
    let is_get = *method == Method::GET || *method == Method::HEAD;

    if let Some(if_match) = &request.if_match {
        if !condition_holds(if_match, current, |list, tag| list.matches_strong(tag)) {
            return Decision::PreconditionFailed;
        }
    } else if let Some(date) = request
        .if_unmodified_since
        .as_deref()
        .and_then(http_date_secs)
    {
        if modified_secs > date {
            return Decision::PreconditionFailed;
        }
    }

    if let Some(if_none_match) = &request.if_none_match {
        if condition_holds(if_none_match, current, |list, tag| list.matches_weak(tag)) {
            return if is_get {
                Decision::NotModified
            } else {
                Decision::PreconditionFailed
            };
        }
    } else if let Some(date) = request
        .if_modified_since
        .as_deref()
        .and_then(http_date_secs)
    {
        if is_get && modified_secs <= date {
            return Decision::NotModified;
        }
    }

    if !is_get {
        return Decision::Full;
    }
    if let Some(window) = request.window {
        return match window.resolve(size) {
            RangeOutcome::Partial(range) => Decision::Window(range),
            RangeOutcome::Unsatisfiable => Decision::Unsatisfiable,
            RangeOutcome::Full | RangeOutcome::Multi(_) => Decision::Full,
        };
    }
    let Some(range) = &request.range else {
        return Decision::Full;
    };
    if let Some(if_range) = &request.if_range {
        if !if_range_holds(if_range, current, modified_secs) {
            return Decision::Full;
        }
    }
    match spec::range_outcome(range, size, max_ranges) {
        RangeOutcome::Full => Decision::Full,
        RangeOutcome::Partial(range) => Decision::Partial(range),
        RangeOutcome::Multi(ranges) => Decision::Multi(ranges),
        RangeOutcome::Unsatisfiable => Decision::Unsatisfiable,
    }
}

/// `*` holds whenever the object exists (even if its own tag did not parse); a list holds
/// when `compare` matches the current tag.
fn condition_holds(
    value: &str,
    current: Option<EntityTag<'_>>,
    compare: fn(&EtagCondition<'_>, &EntityTag<'_>) -> bool,
) -> bool {
    match EtagCondition::parse(value) {
        EtagCondition::Any => true,
        list => current.is_some_and(|tag| compare(&list, &tag)),
    }
}

/// `If-Range`: a strong tag equal to the current one, or a date equal to Last-Modified.
fn if_range_holds(value: &str, current: Option<EntityTag<'_>>, modified_secs: u64) -> bool {
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        let presented = EntityTag::parse(value);
        return matches!((presented, current), (Some(p), Some(c)) if p.strong_eq(&c));
    }
    http_date_secs(value) == Some(modified_secs)
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn http_date_secs(value: &str) -> Option<u64> {
    httpdate::parse_http_date(value.trim()).ok().map(unix_secs)
}

/// `Last-Modified` value for `time` (IMF-fixdate, whole seconds).
pub fn http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

#[cfg(test)]
mod tests;
