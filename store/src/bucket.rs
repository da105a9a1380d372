//! Backrunner bucket metadata: the msgpack object stored in namespace [`METADATA_NAMESPACE`].
//!
//! The layout is DESIGN contract 2 and protocol reference §14.4, and must stay readable by an
//! original Go Backrunner:
//!
//! ```text
//! [1, name, {user: [acl_version, user, token, flags], ...}, [group, ...],
//!  flags, max_size, max_key_num, 0, 0, 0]
//! ```
//!
//! [`BucketMetadata::encode`] writes exactly what Go's `vmihailenco/msgpack.v2` writes for that
//! value: integers in their smallest unsigned form (positive fixint, uint8, ...), strings as
//! fixstr/str8/str16/str32, the ACL map ordered by user name (Go's order is random; any order
//! is valid). [`BucketMetadata::decode`] is liberal: any integer family and width, `str` or
//! `bin` strings, arrays of 10 elements or more, whatever the reserved slots hold, and trailing
//! bytes after the array are ignored. It never panics and never allocates more than a small
//! multiple of its input.
//!
//! The bucket list object (bucket names separated by newlines) is
//! [`BucketList`](crate::BucketList).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;

use rmp::encode::{ByteBuf, ValueWriteError};
use rmpv::ValueRef;

/// Elliptics namespace holding bucket metadata objects and the bucket list.
pub const METADATA_NAMESPACE: &str = "bucket";

/// The only metadata layout version Backrunner understands (element 0 of the array).
pub const METADATA_VERSION: u64 = 1;

/// Number of elements of the metadata array (the reader requires at least this many).
pub const METADATA_FIELDS: usize = 10;

/// Longest bucket name accepted.
pub const MAX_BUCKET_NAME: usize = 255;

/// `name` when it can be a bucket name: non-empty, at most [`MAX_BUCKET_NAME`] bytes, no
/// `/`, no control characters.
pub fn valid_bucket_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= MAX_BUCKET_NAME
        && !name.contains('/')
        && !name.chars().any(char::is_control);
    ok.then_some(name)
}

/// Nesting limit while decoding (the format itself needs 3 levels).
const MAX_DECODE_DEPTH: usize = 32;

bitflags::bitflags! {
    /// ACL flag bits of one user (DESIGN contract 4). Bits this code gives no meaning are
    /// kept as read, so a write never drops what an original Backrunner stored.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct AclFlags: u64 {
        /// Requests of this user are never checked for a signature ("reads without a token").
        const NO_TOKEN = 1;
        /// The user may upload and delete.
        const WRITE = 2;
        /// The user may administer the bucket (RIFT's management endpoints).
        const ADMIN = 4;
        // Unknown bits are retained.
        const _ = !0;
    }
}

impl AclFlags {
    /// No flag: reads with a valid signature only.
    pub const NONE: AclFlags = AclFlags::empty();
}

impl fmt::Display for AclFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.bits())
    }
}

/// One user of a bucket ACL: `[acl_version, user, token, flags]` on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// ACL entry version: 1 (Backrunner tests) or 2 (`bmeta` JSON import); kept as read.
    pub version: u64,
    /// User name; `*` is the user of requests without credentials.
    pub user: String,
    /// Secret HMAC key of the user.
    pub token: String,
    /// What the user may do.
    pub flags: AclFlags,
}

impl fmt::Debug for AclEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the token: metadata ends up in logs.
        f.debug_struct("AclEntry")
            .field("version", &self.version)
            .field("user", &self.user)
            .field("token", &"<redacted>")
            .field("flags", &self.flags)
            .finish()
    }
}

/// Decoded bucket metadata object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketMetadata {
    /// Bucket name (also the Elliptics namespace of its keys).
    pub name: String,
    /// ACL keyed by user name; empty means a public bucket.
    pub acl: BTreeMap<String, AclEntry>,
    /// Elliptics groups holding the bucket's replicas.
    pub groups: Vec<u32>,
    /// Bucket flags (no meaning assigned by Backrunner; preserved).
    pub flags: u64,
    /// Maximum bucket size in bytes, 0 = unlimited.
    pub max_size: u64,
    /// Maximum number of keys, 0 = unlimited.
    pub max_key_num: u64,
}

/// Why a metadata object could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BucketMetaError {
    /// The bytes are not one complete msgpack value.
    #[error("bucket metadata is not valid msgpack: {0}")]
    Msgpack(String),
    /// The top-level value is not an array.
    #[error("bucket metadata must be a msgpack array")]
    NotAnArray,
    /// The array is shorter than [`METADATA_FIELDS`].
    #[error("bucket metadata array has {0} elements, at least {METADATA_FIELDS} required")]
    TooShort(usize),
    /// Element 0 is not [`METADATA_VERSION`].
    #[error("unsupported bucket metadata version {0}")]
    UnsupportedVersion(i128),
    /// A field has the wrong msgpack type.
    #[error("bucket metadata field {field}: expected {expected}")]
    WrongType {
        /// Which field.
        field: &'static str,
        /// What was expected there.
        expected: &'static str,
    },
    /// An integer field is negative or too large for its type.
    #[error("bucket metadata field {field}: integer {value} out of range")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// The value found.
        value: i128,
    },
}

impl BucketMetadata {
    /// Empty public bucket called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        BucketMetadata {
            name: name.into(),
            ..Default::default()
        }
    }

    /// True when the ACL is empty: every request is allowed.
    pub fn is_public(&self) -> bool {
        self.acl.is_empty()
    }

    /// Serialises to the 10-element msgpack array of DESIGN contract 2.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = ByteBuf::new();
        match self.encode_into(&mut buf) {
            Ok(()) => buf.into_vec(),
            Err(ValueWriteError::InvalidMarkerWrite(never))
            | Err(ValueWriteError::InvalidDataWrite(never)) => match never {},
        }
    }

    fn encode_into(&self, buf: &mut ByteBuf) -> Result<(), ValueWriteError<Infallible>> {
        use rmp::encode::{write_array_len, write_map_len, write_str, write_uint};
        write_array_len(buf, METADATA_FIELDS as u32)?;
        write_uint(buf, METADATA_VERSION)?;
        write_str(buf, &self.name)?;
        write_map_len(buf, len_u32(self.acl.len()))?;
        for entry in self.acl.values() {
            write_str(buf, &entry.user)?;
            write_array_len(buf, 4)?;
            write_uint(buf, entry.version)?;
            write_str(buf, &entry.user)?;
            write_str(buf, &entry.token)?;
            write_uint(buf, entry.flags.bits())?;
        }
        write_array_len(buf, len_u32(self.groups.len()))?;
        for group in &self.groups {
            write_uint(buf, u64::from(*group))?;
        }
        write_uint(buf, self.flags)?;
        write_uint(buf, self.max_size)?;
        write_uint(buf, self.max_key_num)?;
        for _reserved in 0..3 {
            write_uint(buf, 0)?;
        }
        Ok(())
    }

    /// Parses a metadata object (see the module docs for what is accepted).
    ///
    /// ACL entries are keyed by the user named inside the entry, as Go Backrunner does; the map
    /// key itself is not interpreted.
    pub fn decode(bytes: &[u8]) -> Result<BucketMetadata, BucketMetaError> {
        let mut rd = bytes;
        let value = rmpv::decode::read_value_ref_with_max_depth(&mut rd, MAX_DECODE_DEPTH)
            .map_err(|e| BucketMetaError::Msgpack(e.to_string()))?;
        let ValueRef::Array(items) = value else {
            return Err(BucketMetaError::NotAnArray);
        };
        if items.len() < METADATA_FIELDS {
            return Err(BucketMetaError::TooShort(items.len()));
        }
        let version = int_of(&items[0], "version")?;
        if version != i128::from(METADATA_VERSION) {
            return Err(BucketMetaError::UnsupportedVersion(version));
        }
        let name = string_of(&items[1], "name")?;
        // Go encodes a nil map or slice as msgpack nil: read it as empty.
        let acl_items = match &items[2] {
            ValueRef::Map(items) => items.as_slice(),
            ValueRef::Nil => &[],
            _ => return Err(wrong_type("acl", "map")),
        };
        let mut acl = BTreeMap::new();
        for (_key, entry) in acl_items {
            let entry = acl_entry_of(entry)?;
            acl.insert(entry.user.clone(), entry);
        }
        let group_items = match &items[3] {
            ValueRef::Array(items) => items.as_slice(),
            ValueRef::Nil => &[],
            _ => return Err(wrong_type("groups", "array")),
        };
        let groups = group_items
            .iter()
            .map(|g| {
                let value = int_of(g, "groups")?;
                u32::try_from(value).map_err(|_| out_of_range("groups", value))
            })
            .collect::<Result<Vec<u32>, _>>()?;
        Ok(BucketMetadata {
            name,
            acl,
            groups,
            flags: u64_of(&items[4], "flags")?,
            max_size: u64_of(&items[5], "max_size")?,
            max_key_num: u64_of(&items[6], "max_key_num")?,
        })
    }
}

fn len_u32(len: usize) -> u32 {
    // A length beyond u32 cannot be represented in msgpack; metadata never gets near it.
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn wrong_type(field: &'static str, expected: &'static str) -> BucketMetaError {
    BucketMetaError::WrongType { field, expected }
}

fn out_of_range(field: &'static str, value: i128) -> BucketMetaError {
    BucketMetaError::OutOfRange { field, value }
}

fn acl_entry_of(value: &ValueRef<'_>) -> Result<AclEntry, BucketMetaError> {
    let ValueRef::Array(parts) = value else {
        return Err(wrong_type("acl entry", "array of 4"));
    };
    if parts.len() < 4 {
        return Err(wrong_type("acl entry", "array of 4"));
    }
    Ok(AclEntry {
        version: u64_of(&parts[0], "acl version")?,
        user: string_of(&parts[1], "acl user")?,
        token: string_of(&parts[2], "acl token")?,
        flags: AclFlags::from_bits_retain(u64_of(&parts[3], "acl flags")?),
    })
}

fn int_of(value: &ValueRef<'_>, field: &'static str) -> Result<i128, BucketMetaError> {
    let ValueRef::Integer(int) = value else {
        return Err(wrong_type(field, "integer"));
    };
    int.as_u64()
        .map(i128::from)
        .or_else(|| int.as_i64().map(i128::from))
        .ok_or_else(|| wrong_type(field, "integer"))
}

fn u64_of(value: &ValueRef<'_>, field: &'static str) -> Result<u64, BucketMetaError> {
    let value = int_of(value, field)?;
    u64::try_from(value).map_err(|_| out_of_range(field, value))
}

fn string_of(value: &ValueRef<'_>, field: &'static str) -> Result<String, BucketMetaError> {
    let bytes = match value {
        ValueRef::String(s) => s.as_bytes(),
        ValueRef::Binary(b) => b,
        _ => return Err(wrong_type(field, "string")),
    };
    String::from_utf8(bytes.to_vec()).map_err(|_| wrong_type(field, "UTF-8 string"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `b1`, ACL {alice: [1, alice, secret, 3]}, groups [1, 2, 300], max_size 1 MiB.
    fn known_bucket() -> BucketMetadata {
        let mut meta = BucketMetadata::new("b1");
        meta.groups = vec![1, 2, 300];
        meta.max_size = 1 << 20;
        meta.acl.insert(
            "alice".into(),
            AclEntry {
                version: 1,
                user: "alice".into(),
                token: "secret".into(),
                flags: AclFlags::NO_TOKEN | AclFlags::WRITE,
            },
        );
        meta
    }

    /// The same object assembled by hand, the way vmihailenco/msgpack.v2 writes it.
    fn known_bytes() -> Vec<u8> {
        let mut b = vec![0x9a, 0x01, 0xa2, b'b', b'1', 0x81, 0xa5];
        b.extend_from_slice(b"alice");
        b.extend_from_slice(&[0x94, 0x01, 0xa5]);
        b.extend_from_slice(b"alice");
        b.push(0xa6);
        b.extend_from_slice(b"secret");
        b.push(0x03);
        b.extend_from_slice(&[0x93, 0x01, 0x02, 0xcd, 0x01, 0x2c]); // groups
        b.push(0x00); // flags
        b.extend_from_slice(&[0xce, 0x00, 0x10, 0x00, 0x00]); // max_size
        b.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]); // max_key_num, reserved x3
        b
    }

    #[test]
    fn encodes_known_bucket_byte_for_byte() {
        assert_eq!(known_bucket().encode(), known_bytes());
    }

    #[test]
    fn decodes_known_bytes() {
        assert_eq!(
            BucketMetadata::decode(&known_bytes()).unwrap(),
            known_bucket()
        );
    }

    #[test]
    fn decodes_variant_encodings() {
        // version as int64, name as str16, ACL user as str8, token as bin8, groups as
        // uint32/int16, flags as int8, max_size as uint64, 11 elements with odd reserved slots,
        // trailing garbage after the array.
        let mut b = vec![0xdd, 0x00, 0x00, 0x00, 0x0b];
        b.extend_from_slice(&[0xd3, 0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&[0xda, 0x00, 0x02, b'b', b'1']);
        b.extend_from_slice(&[0xde, 0x00, 0x01, 0xa1, b'x']);
        b.extend_from_slice(&[0xdc, 0x00, 0x04, 0xcc, 0x02, 0xd9, 0x05]);
        b.extend_from_slice(b"alice");
        b.extend_from_slice(&[0xc4, 0x06]);
        b.extend_from_slice(b"secret");
        b.extend_from_slice(&[0xcf, 0, 0, 0, 0, 0, 0, 0, 3]);
        b.extend_from_slice(&[0x93, 0xce, 0, 0, 0, 1, 0xd1, 0, 2, 0xcd, 0x01, 0x2c]);
        b.extend_from_slice(&[0xd0, 0x00]);
        b.extend_from_slice(&[0xcf, 0, 0, 0, 0, 0, 0x10, 0, 0]);
        b.extend_from_slice(&[0xd2, 0, 0, 0, 0]);
        b.extend_from_slice(&[0xc0, 0xa3, b'r', b'e', b's', 0x91, 0x07, 0xc3]);
        b.extend_from_slice(&[0xff, 0xff]);
        let mut expected = known_bucket();
        if let Some(entry) = expected.acl.get_mut("alice") {
            entry.version = 2;
        }
        assert_eq!(BucketMetadata::decode(&b).unwrap(), expected);
    }

    #[test]
    fn nil_acl_and_groups_read_as_empty() {
        let mut b = vec![0x9a, 0x01, 0xa1, b'n', 0xc0, 0xc0];
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        assert_eq!(
            BucketMetadata::decode(&b).unwrap(),
            BucketMetadata::new("n")
        );
    }

    #[test]
    fn rejects_other_versions_and_shapes() {
        let mut b = known_bytes();
        b[1] = 0x02;
        assert_eq!(
            BucketMetadata::decode(&b),
            Err(BucketMetaError::UnsupportedVersion(2))
        );
        b[1] = 0xff; // negative fixint -1
        assert_eq!(
            BucketMetadata::decode(&b),
            Err(BucketMetaError::UnsupportedVersion(-1))
        );
        assert_eq!(
            BucketMetadata::decode(&[0x91, 0x01]),
            Err(BucketMetaError::TooShort(1))
        );
        assert_eq!(
            BucketMetadata::decode(&[0x01]),
            Err(BucketMetaError::NotAnArray)
        );
        assert!(matches!(
            BucketMetadata::decode(&[]),
            Err(BucketMetaError::Msgpack(_))
        ));
        // rift 2014 format: element 2 is a token string, not a map.
        let mut rift = known_bytes();
        rift.truncate(5);
        rift.extend_from_slice(&[0xa1, b't', 0x90, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            BucketMetadata::decode(&rift),
            Err(BucketMetaError::WrongType {
                field: "acl",
                expected: "map"
            })
        );
        // negative group
        let mut neg = known_bytes();
        let groups_at = neg.len() - 16;
        assert_eq!(neg[groups_at], 0x93);
        neg[groups_at + 1] = 0xff;
        assert_eq!(
            BucketMetadata::decode(&neg),
            Err(BucketMetaError::OutOfRange {
                field: "groups",
                value: -1
            })
        );
    }

    #[test]
    fn bucket_names() {
        assert_eq!(valid_bucket_name("photos"), Some("photos"));
        assert_eq!(valid_bucket_name(""), None);
        assert_eq!(valid_bucket_name("a/b"), None);
        assert_eq!(valid_bucket_name("a\nb"), None);
        assert_eq!(valid_bucket_name(&"x".repeat(256)), None);
    }

    #[test]
    fn debug_output_hides_tokens() {
        let text = format!("{:?}", known_bucket());
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("alice"));
    }

    fn arb_bucket() -> impl Strategy<Value = BucketMetadata> {
        let entry = ("\\PC{0,40}", "\\PC{0,300}", 1u64..3, any::<u64>()).prop_map(
            |(user, token, version, flags)| AclEntry {
                version,
                user,
                token,
                flags: AclFlags::from_bits_retain(flags),
            },
        );
        (
            "\\PC{0,300}",
            proptest::collection::vec(entry, 0..5),
            proptest::collection::vec(any::<u32>(), 0..20),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(name, entries, groups, flags, max_size, max_key_num)| {
                BucketMetadata {
                    name,
                    acl: entries.into_iter().map(|e| (e.user.clone(), e)).collect(),
                    groups,
                    flags,
                    max_size,
                    max_key_num,
                }
            })
    }

    proptest! {
        #[test]
        fn round_trips(meta in arb_bucket()) {
            let bytes = meta.encode();
            prop_assert_eq!(bytes[0], 0x9a);
            prop_assert_eq!(BucketMetadata::decode(&bytes).unwrap(), meta);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = BucketMetadata::decode(&bytes);
        }

        #[test]
        fn corrupted_encodings_never_panic(
            meta in arb_bucket(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = meta.encode();
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            let _ = BucketMetadata::decode(&bytes);
        }
    }
}
