//! The shapes of a listing (S3 ListObjectsV2 semantics): [`ListRequest`], [`ListPage`],
//! [`ListEntry`], and the continuation token.
//!
//! The token names a position in key space — "after this key" or "after everything under
//! this common prefix" — never a position in a segment, so it survives compactions (and
//! splits) between pages. It is opaque to clients: hex of a version byte, a kind byte and
//! the key bytes.

use elliptics::proto::DnetTime;

/// Default and largest `max-keys`.
pub const MAX_KEYS: usize = 1000;

/// A listing request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// Only keys starting with this.
    pub prefix: Vec<u8>,
    /// Fold keys that have this after the prefix into common prefixes; empty = none.
    pub delimiter: Vec<u8>,
    /// Only keys after this one (exclusive); ignored when a continuation token is given.
    pub start_after: Option<Vec<u8>>,
    /// The previous page's [`ListPage::next_continuation_token`].
    pub continuation_token: Option<String>,
    /// Keys plus common prefixes per page; `None` = [`MAX_KEYS`], capped at it.
    pub max_keys: Option<usize>,
}

impl ListRequest {
    /// The effective `max-keys`.
    pub fn max_keys(&self) -> usize {
        self.max_keys.unwrap_or(MAX_KEYS).min(MAX_KEYS)
    }
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The key.
    pub key: Vec<u8>,
    /// The object's size.
    pub size: u64,
    /// The stamp of the object's write (its record timestamp).
    pub stamp: DnetTime,
    /// The object's etag, when the index knows it.
    pub etag: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects, in key byte order.
    pub entries: Vec<ListEntry>,
    /// Common prefixes, in byte order (each counts towards `max-keys`).
    pub common_prefixes: Vec<Vec<u8>>,
    /// Whether more keys or prefixes follow.
    pub is_truncated: bool,
    /// Where the next page starts (set when truncated).
    pub next_continuation_token: Option<String>,
}

/// Where a listing resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Position {
    /// From the first key (of the prefix).
    Start,
    /// After this key.
    AfterKey(Vec<u8>),
    /// After every key starting with this prefix.
    AfterPrefix(Vec<u8>),
}

const TOKEN_VERSION: u8 = 1;

impl Position {
    /// The opaque token for this position.
    pub(crate) fn token(&self) -> String {
        let (kind, key): (u8, &[u8]) = match self {
            Position::Start => (0, &[]),
            Position::AfterKey(k) => (1, k),
            Position::AfterPrefix(p) => (2, p),
        };
        let mut raw = Vec::with_capacity(key.len() + 2);
        raw.push(TOKEN_VERSION);
        raw.push(kind);
        raw.extend_from_slice(key);
        hex::encode(raw)
    }

    /// Parses [`Position::token`]'s output.
    pub(crate) fn from_token(token: &str) -> Option<Position> {
        let raw = hex::decode(token).ok()?;
        match raw.as_slice() {
            [TOKEN_VERSION, 0] => Some(Position::Start),
            [TOKEN_VERSION, 1, key @ ..] => Some(Position::AfterKey(key.to_vec())),
            [TOKEN_VERSION, 2, prefix @ ..] if !prefix.is_empty() => {
                Some(Position::AfterPrefix(prefix.to_vec()))
            }
            _ => None,
        }
    }

    /// The smallest key at or after which the listing resumes (`None`: nothing follows).
    pub(crate) fn first_key(&self) -> Option<Vec<u8>> {
        match self {
            Position::Start => Some(Vec::new()),
            Position::AfterKey(k) => {
                let mut next = k.clone();
                next.push(0);
                Some(next)
            }
            Position::AfterPrefix(p) => prefix_end(p),
        }
    }
}

/// The continuation token of the position after every key starting with `prefix` (S3
/// ListObjects V1 resumes after a common prefix its `marker` names).
pub fn token_after_prefix(prefix: &[u8]) -> String {
    match prefix.is_empty() {
        true => Position::Start.token(),
        false => Position::AfterPrefix(prefix.to_vec()).token(),
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`: no such key,
/// the prefix is all `0xFF`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn tokens_round_trip(key in proptest::collection::vec(any::<u8>(), 0..20), kind in 0u8..3) {
            let pos = match kind {
                0 => Position::Start,
                1 => Position::AfterKey(key),
                _ if key.is_empty() => Position::Start,
                _ => Position::AfterPrefix(key),
            };
            prop_assert_eq!(Position::from_token(&pos.token()), Some(pos));
        }

        #[test]
        fn prefix_end_bounds_the_prefix(prefix in proptest::collection::vec(any::<u8>(), 1..6), tail in proptest::collection::vec(any::<u8>(), 0..6)) {
            let key = [prefix.clone(), tail].concat();
            if let Some(end) = prefix_end(&prefix) {
                prop_assert!(key < end);
                prop_assert!(!end.starts_with(&prefix));
            } else {
                prop_assert!(prefix.iter().all(|b| *b == 0xff));
            }
        }
    }

    #[test]
    fn bad_tokens_are_refused() {
        for t in ["", "zz", "0203", "01", "0102"] {
            assert_eq!(Position::from_token(t), None, "{t}");
        }
        assert_eq!(ListRequest::default().max_keys(), 1000);
        let big = ListRequest {
            max_keys: Some(5000),
            ..ListRequest::default()
        };
        assert_eq!(big.max_keys(), 1000);
    }
}
