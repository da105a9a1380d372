//! The one parser of query strings in the proxy, with Go's `url.ParseQuery` rules, because
//! Backrunner (a Go server) read its parameters and signed its requests that way:
//!
//! - split on `&`; skip empty segments and segments containing `;`;
//! - split each segment at its first `=` (no `=`: the value is empty);
//! - unescape key and value (`%XX` and `+` → space); skip the pair when either holds an
//!   invalid escape.
//!
//! Keys and values are bytes (a `%ff` stays `0xff`, never a replacement character). Every
//! consumer reads the same [`Query`]: the signature's canonical form
//! ([`Query::canonical`]), `?cflags=`/`?ioflags=`, `?offset=`/`?size=` and `?trace_id=`.
//! An empty value is treated as absent everywhere, as the canonical form drops it.
//!
//! The `form_urlencoded` crate was not used: it decodes to UTF-8 lossily and keeps invalid
//! escapes as text, and the signature must skip those pairs byte for byte as Go does.

/// A parsed query string: its `(key, value)` pairs in request order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Query {
    /// Parses a raw query (without `?`); `None` (no query) parses to no pairs.
    pub fn parse(raw: Option<&str>) -> Query {
        let mut pairs = Vec::new();
        for segment in raw.unwrap_or("").split('&') {
            if segment.is_empty() || segment.contains(';') {
                continue;
            }
            let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
            let (Some(key), Some(value)) = (
                unescape(key.as_bytes(), true),
                unescape(value.as_bytes(), true),
            ) else {
                continue;
            };
            pairs.push((key, value));
        }
        Query { pairs }
    }

    /// True when no pair survived parsing.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Every pair, in request order.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The non-empty values of `key`, in request order.
    pub fn values<'q>(&'q self, key: &'q str) -> impl Iterator<Item = &'q [u8]> + 'q {
        self.pairs()
            .filter(move |(k, v)| *k == key.as_bytes() && !v.is_empty())
            .map(|(_, v)| v)
    }

    /// The first non-empty value of `key`.
    pub fn first(&self, key: &str) -> Option<&[u8]> {
        self.pairs()
            .find(|(k, v)| *k == key.as_bytes() && !v.is_empty())
            .map(|(_, v)| v)
    }

    /// The query part of a signature's canonical string (DESIGN contract 4), `None` when
    /// the query has no key: the first value of each key (an empty first value drops the
    /// key), sorted by key bytes, `key=value` joined by `&`, each escaped as Go's
    /// `url.QueryEscape` does (space → `+`, bytes other than `A-Za-z0-9-_.~` → `%XX`).
    /// `Some("")` when every first value was empty: Go still writes the `?` then.
    pub fn canonical(&self) -> Option<String> {
        if self.pairs.is_empty() {
            return None;
        }
        let mut first_values: std::collections::BTreeMap<&[u8], &[u8]> = Default::default();
        for (key, value) in self.pairs() {
            first_values.entry(key).or_insert(value);
        }
        let mut out = String::new();
        for (key, value) in first_values.iter().filter(|(_, v)| !v.is_empty()) {
            if !out.is_empty() {
                out.push('&');
            }
            query_escape_into(key, &mut out);
            out.push('=');
            query_escape_into(value, &mut out);
        }
        Some(out)
    }
}

/// Percent-decodes `input` (`+` → space when `plus_is_space`); `None` on a `%` not
/// followed by two hex digits.
pub(crate) fn unescape(input: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&byte) = input.get(i) {
        match byte {
            b'%' => {
                let hi = hex_value(*input.get(i + 1)?)?;
                let lo = hex_value(*input.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Some(out)
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn query_escape_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0x0f)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let q = Query::parse(Some("a=1&&b=x+y%2Fz&a=2;x&bad=%zz&flag&=v&%ff=%00"));
        let pairs: Vec<_> = q.pairs().collect();
        assert_eq!(
            pairs,
            [
                (&b"a"[..], &b"1"[..]),
                (b"b", b"x y/z"),
                (b"flag", b""),
                (b"", b"v"),
                (&[0xff][..], &[0][..]),
            ]
        );
        assert!(Query::parse(None).is_empty());
        assert!(Query::parse(Some("&&;")).is_empty());
    }

    #[test]
    fn empty_values_are_absent() {
        let q = Query::parse(Some("k=&k=2&k=3&e="));
        assert_eq!(q.first("k"), Some(&b"2"[..]));
        assert_eq!(q.values("k").count(), 2);
        assert_eq!(q.first("e"), None);
        assert_eq!(q.first("missing"), None);
    }
}
