//! `Range: bytes=...` parsing and resolution against an object size (RFC 9110 §14), and the
//! Backrunner `offset`/`size` query window.

use crate::query::Query;

/// An inclusive byte range `start..=end` of an object; never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// The range `start..=end`, or `None` when `end < start`.
    pub fn new(start: u64, end: u64) -> Option<ByteRange> {
        (start <= end).then_some(ByteRange { start, end })
    }

    /// Number of bytes (at least 1; saturates for `0..=u64::MAX`).
    pub fn length(&self) -> u64 {
        (self.end - self.start).saturating_add(1)
    }

    /// `Content-Range` value for an object of `size` bytes: `bytes start-end/size`.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end, size)
    }
}

/// `Content-Range` value of a 416 reply: `bytes */size`.
pub fn unsatisfied_content_range(size: u64) -> String {
    format!("bytes */{size}")
}

/// One element of a `Range` header, before it meets the object size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last`.
    Bounded {
        /// First byte.
        first: u64,
        /// Last byte (inclusive; may exceed the object).
        last: u64,
    },
    /// `first-`: to the end.
    From {
        /// First byte.
        first: u64,
    },
    /// `-length`: the last `length` bytes.
    Suffix {
        /// Number of trailing bytes.
        length: u64,
    },
}

/// What a `Range` header asks of an object of known size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeOutcome {
    /// No (usable) range: the whole object, 200.
    Full,
    /// One range, 206 with `Content-Range`.
    Partial(ByteRange),
    /// Several disjoint ranges in ascending order, 206 `multipart/byteranges`.
    Multi(Vec<ByteRange>),
    /// No range overlaps the object: 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// Parses a `Range` value; `None` when it is not a valid `bytes` range set (such a header is
/// ignored, RFC 9110 §14.2). Numbers too large for `u64` saturate, which keeps their meaning
/// (beyond any object). Empty list elements and spaces around elements are allowed.
pub fn parse_range_header(value: &str) -> Option<Vec<RangeSpec>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        let (first, last) = element.split_once('-')?;
        let spec = match (first.is_empty(), last.is_empty()) {
            (true, true) => return None,
            (true, false) => RangeSpec::Suffix {
                length: parse_digits(last)?,
            },
            (false, true) => RangeSpec::From {
                first: parse_digits(first)?,
            },
            (false, false) => {
                let (first, last) = (parse_digits(first)?, parse_digits(last)?);
                if last < first {
                    return None;
                }
                RangeSpec::Bounded { first, last }
            }
        };
        specs.push(spec);
    }
    (!specs.is_empty()).then_some(specs)
}

fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Resolves parsed specs against an object of `size` bytes.
///
/// More than `max_ranges` specs (or `max_ranges == 0`) → [`RangeOutcome::Full`]: the header
/// is ignored and the whole object served, as nginx's `max_ranges` does, instead of a 416 that
/// would break clients for a server-side limit. Satisfiable ranges are clamped to the object,
/// sorted, and overlapping or adjacent ones coalesced (RFC 9110 §14.3 allows it); one
/// remaining range is [`RangeOutcome::Partial`]. A zero-length object satisfies no range.
pub fn resolve_ranges(specs: &[RangeSpec], size: u64, max_ranges: usize) -> RangeOutcome {
    if max_ranges == 0 || specs.len() > max_ranges {
        return RangeOutcome::Full;
    }
    let mut ranges: Vec<ByteRange> = specs.iter().filter_map(|s| clamp(*s, size)).collect();
    ranges.sort_unstable();
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end.saturating_add(1) => {
                last.end = last.end.max(range.end);
            }
            _ => merged.push(range),
        }
    }
    match merged.len() {
        0 => RangeOutcome::Unsatisfiable,
        1 => RangeOutcome::Partial(merged[0]),
        _ => RangeOutcome::Multi(merged),
    }
}

fn clamp(spec: RangeSpec, size: u64) -> Option<ByteRange> {
    let last_byte = size.checked_sub(1)?;
    match spec {
        RangeSpec::Bounded { first, last } => ByteRange::new(first, last.min(last_byte)),
        RangeSpec::From { first } => ByteRange::new(first, last_byte),
        RangeSpec::Suffix { length: 0 } => None,
        RangeSpec::Suffix { length } => ByteRange::new(size - length.min(size), last_byte),
    }
}

/// Parses and resolves a `Range` header value in one go (invalid → [`RangeOutcome::Full`]).
pub fn range_outcome(header: &str, size: u64, max_ranges: usize) -> RangeOutcome {
    match parse_range_header(header) {
        Some(specs) => resolve_ranges(&specs, size, max_ranges),
        None => RangeOutcome::Full,
    }
}

/// Backrunner's `?offset=N&size=M` read window (`size` absent or 0 = to the end). It is
/// answered with 200 and exactly the window's bytes, as Go Backrunner did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryWindow {
    /// First byte.
    pub offset: u64,
    /// Number of bytes; 0 = to the end of the object.
    pub size: u64,
}

/// A malformed `offset` or `size` query parameter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("query parameter '{name}' must be a non-negative integer")]
pub struct InvalidQueryWindow {
    /// The parameter name.
    pub name: &'static str,
}

impl QueryWindow {
    /// Reads `offset` and `size` from a raw query (see [`QueryWindow::from_parsed`]).
    pub fn from_query(raw_query: &str) -> Result<Option<QueryWindow>, InvalidQueryWindow> {
        QueryWindow::from_parsed(&Query::parse(Some(raw_query)))
    }

    /// Reads `offset` and `size` from a parsed query (first non-empty value wins, empty =
    /// absent); `None` when neither is present.
    pub fn from_parsed(query: &Query) -> Result<Option<QueryWindow>, InvalidQueryWindow> {
        let number = |name: &'static str| -> Result<Option<u64>, InvalidQueryWindow> {
            query
                .first(name)
                .map(|v| {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or(InvalidQueryWindow { name })
                })
                .transpose()
        };
        let (offset, size) = (number("offset")?, number("size")?);
        if offset.is_none() && size.is_none() {
            return Ok(None);
        }
        Ok(Some(QueryWindow {
            offset: offset.unwrap_or(0),
            size: size.unwrap_or(0),
        }))
    }

    /// The window on an object of `object_size` bytes: `Full` when it is the whole object,
    /// `Partial` for a smaller window (clamped to the end), `Unsatisfiable` when `offset` is
    /// at or beyond the end.
    pub fn resolve(&self, object_size: u64) -> RangeOutcome {
        if self.offset == 0 && (self.size == 0 || self.size >= object_size) {
            return RangeOutcome::Full;
        }
        if self.offset >= object_size {
            return RangeOutcome::Unsatisfiable;
        }
        let end = match self.size {
            0 => object_size - 1,
            size => self.offset.saturating_add(size - 1).min(object_size - 1),
        };
        ByteRange::new(self.offset, end).map_or(RangeOutcome::Unsatisfiable, RangeOutcome::Partial)
    }
}
