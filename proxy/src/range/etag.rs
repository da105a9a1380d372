//! Entity tags: how the proxy makes them for stored objects, and how request lists of them
//! (`If-Match`, `If-None-Match`, `If-Range`) are parsed and compared (RFC 9110 §8.8.3).

use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of the checksum shown in a checksum ETag (128 bits, 32 hex digits).
pub const CHECKSUM_ETAG_BYTES: usize = 16;

/// Bytes of the object id shown in an identity ETag.
pub const ID_ETAG_BYTES: usize = 8;

/// The ETag of a stored object: [`checksum_etag`] when the checksum is non-zero, else
/// [`identity_etag`] (real eblob returns an all-zero checksum unless asked to compute one).
pub fn object_etag(checksum: &[u8], id: &[u8], size: u64, mtime: SystemTime) -> String {
    checksum_etag(checksum).unwrap_or_else(|| identity_etag(id, size, mtime))
}

/// Strong ETag from a content checksum: `"<first 16 bytes in hex>"`; `None` for an empty or
/// all-zero checksum.
pub fn checksum_etag(checksum: &[u8]) -> Option<String> {
    if checksum.iter().all(|b| *b == 0) {
        return None;
    }
    let shown = &checksum[..checksum.len().min(CHECKSUM_ETAG_BYTES)];
    Some(format!("\"{}\"", hex::encode(shown)))
}

/// Strong ETag from the object's identity: `"<id prefix hex>-<size hex>-<mtime ns hex>"`.
///
/// Strong (not `W/`) because a changed object gets a new mtime with nanosecond resolution,
/// and If-Range only works with strong tags; nginx makes its ETags from mtime and size the
/// same way. The `-` separators keep it visibly distinct from checksum ETags.
pub fn identity_etag(id: &[u8], size: u64, mtime: SystemTime) -> String {
    let nanos = mtime
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let shown = &id[..id.len().min(ID_ETAG_BYTES)];
    format!("\"{}-{:x}-{:x}\"", hex::encode(shown), size, nanos)
}

/// One parsed entity tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityTag<'a> {
    /// `W/` prefix present.
    pub weak: bool,
    /// The opaque tag without quotes.
    pub opaque: &'a str,
}

impl<'a> EntityTag<'a> {
    /// Parses a single tag (`"x"` or `W/"x"`), surrounding whitespace allowed.
    pub fn parse(text: &'a str) -> Option<EntityTag<'a>> {
        match parse_one(text.trim())? {
            (tag, "") => Some(tag),
            _ => None,
        }
    }

    /// Strong comparison: neither is weak and the opaque tags are equal.
    pub fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison: the opaque tags are equal.
    pub fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }
}

/// Parses one tag at the start of `text`; returns it and the rest.
fn parse_one(text: &str) -> Option<(EntityTag<'_>, &str)> {
    let (weak, quoted) = match text.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let body = quoted.strip_prefix('"')?;
    let close = body.find('"')?;
    let opaque = &body[..close];
    // etagc = %x21 / %x23-7E / obs-text: no spaces, controls or DEL inside the quotes.
    if opaque.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return None;
    }
    Some((EntityTag { weak, opaque }, &body[close + 1..]))
}

/// An `If-Match` / `If-None-Match` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EtagCondition<'a> {
    /// `*`: any current representation.
    Any,
    /// A list of tags; tags that do not parse are dropped (an unparseable list is empty,
    /// so `If-Match` fails and `If-None-Match` passes).
    Tags(Vec<EntityTag<'a>>),
}

impl<'a> EtagCondition<'a> {
    /// Parses a comma-separated list (commas inside quotes are part of the tag).
    pub fn parse(value: &'a str) -> EtagCondition<'a> {
        if value.trim() == "*" {
            return EtagCondition::Any;
        }
        let mut tags = Vec::new();
        let mut rest = value;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            match parse_one(rest) {
                Some((tag, after)) => {
                    tags.push(tag);
                    rest = after;
                }
                // Skip to the next comma outside of a tag and go on.
                None => match rest.find(',') {
                    Some(comma) => rest = &rest[comma..],
                    None => break,
                },
            }
        }
        EtagCondition::Tags(tags)
    }

    /// `If-Match` semantics: `*`, or a strong match with `current`.
    pub fn matches_strong(&self, current: &EntityTag<'_>) -> bool {
        match self {
            EtagCondition::Any => true,
            EtagCondition::Tags(tags) => tags.iter().any(|t| t.strong_eq(current)),
        }
    }

    /// `If-None-Match` semantics: `*`, or a weak match with `current`.
    pub fn matches_weak(&self, current: &EntityTag<'_>) -> bool {
        match self {
            EtagCondition::Any => true,
            EtagCondition::Tags(tags) => tags.iter().any(|t| t.weak_eq(current)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn checksum_etag_uses_hex_prefix() {
        let mut csum = [0u8; 64];
        assert_eq!(checksum_etag(&csum), None);
        assert_eq!(checksum_etag(&[]), None);
        csum[0] = 0xab;
        csum[15] = 0x01;
        csum[16] = 0xff; // beyond the prefix
        assert_eq!(
            checksum_etag(&csum).unwrap(),
            "\"ab000000000000000000000000000001\""
        );
    }

    #[test]
    fn identity_etag_when_checksum_is_zero() {
        let mtime = UNIX_EPOCH + Duration::new(0x5f5e100, 7);
        let id = [0x11u8; 64];
        let tag = object_etag(&[0u8; 64], &id, 4096, mtime);
        assert_eq!(tag, "\"1111111111111111-1000-16345785d8a0007\"");
        assert_ne!(tag, object_etag(&[0u8; 64], &id, 4097, mtime));
        assert_ne!(
            tag,
            object_etag(&[0u8; 64], &id, 4096, mtime + Duration::from_nanos(1))
        );
        assert!(EntityTag::parse(&tag).is_some_and(|t| !t.weak));
        assert_eq!(object_etag(&[1], &id, 1, mtime), "\"01\"");
    }

    #[test]
    fn parses_lists_with_commas_and_garbage() {
        let cond = EtagCondition::parse(r#" "a,b" , W/"c",bogus, "d" "#);
        let EtagCondition::Tags(tags) = cond else {
            panic!("not tags")
        };
        let opaques: Vec<_> = tags.iter().map(|t| (t.weak, t.opaque)).collect();
        assert_eq!(opaques, [(false, "a,b"), (true, "c"), (false, "d")]);
        assert_eq!(EtagCondition::parse(" * "), EtagCondition::Any);
        assert_eq!(EtagCondition::parse(""), EtagCondition::Tags(vec![]));
        assert_eq!(
            EtagCondition::parse("\"unterminated"),
            EtagCondition::Tags(vec![])
        );
        assert_eq!(EntityTag::parse("\"a b\""), None);
        assert_eq!(EntityTag::parse("\"x\" junk"), None);
    }

    #[test]
    fn strong_and_weak_comparison() {
        let current = EntityTag::parse("\"x\"").unwrap();
        let weak = EtagCondition::parse("W/\"x\"");
        assert!(!weak.matches_strong(&current));
        assert!(weak.matches_weak(&current));
        assert!(EtagCondition::parse("\"y\", \"x\"").matches_strong(&current));
        assert!(!EtagCondition::parse("\"y\"").matches_weak(&current));
        assert!(EtagCondition::Any.matches_strong(&current));
    }
}
