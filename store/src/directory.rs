//! Bucket directories (RIFT's management model): a named set of buckets with an ACL of its
//! own, whose admins administer every bucket in it.
//!
//! Two records, both JSON with a version, in the metadata groups (an original Backrunner
//! never looks at them):
//!
//! - [`BucketDirectory`], in namespace [`DIRECTORY_NAMESPACE`] under the directory's name:
//!   its ACL (the same entries and flags as bucket ACLs), flags, and member bucket names;
//!
//!   ```json
//!   {"version":1,"name":"media","flags":0,
//!    "acl":[{"version":1,"user":"alice","token":"secret","flags":4}],
//!    "buckets":["photos","videos"]}
//!   ```
//!
//! - [`DirectoryMembership`], beside each member bucket (namespace
//!   [`MEMBERSHIP_NAMESPACE`], under the bucket's name): the directory the bucket is in. A
//!   bucket is in at most one directory; this record is the authority on which one, and
//!   the directory's member list is what listing walks.
//!
//! Both are read and written through [`MetadataStore`](crate::MetadataStore).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bucket::{AclEntry, AclFlags, valid_bucket_name};

/// Elliptics namespace of directory records (one per directory, keyed by its name).
pub const DIRECTORY_NAMESPACE: &str = "backrunner.directory";

/// Elliptics namespace of membership records (one per bucket in a directory, keyed by the
/// bucket's name).
pub const MEMBERSHIP_NAMESPACE: &str = "backrunner.directory-member";

/// The only record version this code writes and reads (both record types).
pub const DIRECTORY_VERSION: u32 = 1;

/// `name` when it can be a directory name: the bucket-name rule (non-empty, at most 255
/// bytes, no `/`, no control characters).
pub fn valid_directory_name(name: &str) -> Option<&str> {
    valid_bucket_name(name)
}

/// Why a directory or membership record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Not the JSON shape of the module docs.
    #[error("directory record is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A version this code does not know.
    #[error("directory record has unsupported version {0}")]
    UnsupportedVersion(u32),
    /// Two ACL entries name the same user.
    #[error("directory record names user '{0}' twice")]
    DuplicateUser(String),
}

/// A bucket directory (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketDirectory {
    /// The directory's name.
    pub name: String,
    /// ACL keyed by user name (an empty ACL makes the directory publicly listable, and
    /// grants administration to nobody).
    pub acl: BTreeMap<String, AclEntry>,
    /// Directory flags (no meaning assigned; preserved).
    pub flags: u64,
    /// Member bucket names, in the order they joined; no repeats.
    pub buckets: Vec<String>,
}

/// One ACL entry on the wire.
#[derive(Serialize, Deserialize)]
struct WireAcl {
    #[serde(default = "one")]
    version: u64,
    user: String,
    token: String,
    flags: u64,
}

fn one() -> u64 {
    1
}

/// The directory record on the wire.
#[derive(Serialize, Deserialize)]
struct WireDirectory {
    version: u32,
    name: String,
    #[serde(default)]
    flags: u64,
    #[serde(default)]
    acl: Vec<WireAcl>,
    #[serde(default)]
    buckets: Vec<String>,
}

impl BucketDirectory {
    /// An empty directory named `name` (no ACL, no buckets).
    pub fn new(name: &str) -> BucketDirectory {
        BucketDirectory {
            name: name.to_owned(),
            ..BucketDirectory::default()
        }
    }

    /// The JSON bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        let wire = WireDirectory {
            version: DIRECTORY_VERSION,
            name: self.name.clone(),
            flags: self.flags,
            acl: self
                .acl
                .values()
                .map(|e| WireAcl {
                    version: e.version,
                    user: e.user.clone(),
                    token: e.token.clone(),
                    flags: e.flags.bits(),
                })
                .collect(),
            buckets: self.buckets.clone(),
        };
        // Strings and integers always serialise.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Parses a stored directory record; repeated bucket names are dropped.
    pub fn decode(bytes: &[u8]) -> Result<BucketDirectory, DirectoryError> {
        let wire: WireDirectory = serde_json::from_slice(bytes)?;
        if wire.version != DIRECTORY_VERSION {
            return Err(DirectoryError::UnsupportedVersion(wire.version));
        }
        let mut acl = BTreeMap::new();
        for e in wire.acl {
            let entry = AclEntry {
                version: e.version,
                user: e.user.clone(),
                token: e.token,
                flags: AclFlags::from_bits_retain(e.flags),
            };
            if acl.insert(e.user.clone(), entry).is_some() {
                return Err(DirectoryError::DuplicateUser(e.user));
            }
        }
        let mut directory = BucketDirectory {
            name: wire.name,
            acl,
            flags: wire.flags,
            buckets: Vec::with_capacity(wire.buckets.len()),
        };
        for bucket in &wire.buckets {
            directory.insert(bucket);
        }
        Ok(directory)
    }

    /// Adds bucket `name` unless already a member; `true` when added.
    pub fn insert(&mut self, name: &str) -> bool {
        if self.contains(name) {
            return false;
        }
        self.buckets.push(name.to_owned());
        true
    }

    /// Removes bucket `name`; `true` when it was a member.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.buckets.len();
        self.buckets.retain(|b| b != name);
        self.buckets.len() != before
    }

    /// Whether bucket `name` is a member.
    pub fn contains(&self, name: &str) -> bool {
        self.buckets.iter().any(|b| b == name)
    }
}

/// The directory a bucket is in (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryMembership {
    /// [`DIRECTORY_VERSION`].
    pub version: u32,
    /// The directory's name.
    pub directory: String,
}

impl DirectoryMembership {
    /// Membership in directory `directory`.
    pub fn new(directory: &str) -> DirectoryMembership {
        DirectoryMembership {
            version: DIRECTORY_VERSION,
            directory: directory.to_owned(),
        }
    }

    /// The JSON bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        // A string and an integer always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a stored membership record.
    pub fn decode(bytes: &[u8]) -> Result<DirectoryMembership, DirectoryError> {
        let record: DirectoryMembership = serde_json::from_slice(bytes)?;
        if record.version != DIRECTORY_VERSION {
            return Err(DirectoryError::UnsupportedVersion(record.version));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn media() -> BucketDirectory {
        let mut d = BucketDirectory::new("media");
        d.acl.insert(
            "alice".into(),
            AclEntry {
                version: 1,
                user: "alice".into(),
                token: "secret".into(),
                flags: AclFlags::ADMIN,
            },
        );
        d.insert("photos");
        d.insert("videos");
        d
    }

    #[test]
    fn known_encoding() {
        let text = String::from_utf8(media().encode()).unwrap();
        assert_eq!(
            text,
            r#"{"version":1,"name":"media","flags":0,"acl":[{"version":1,"user":"alice","token":"secret","flags":4}],"buckets":["photos","videos"]}"#
        );
        assert_eq!(BucketDirectory::decode(text.as_bytes()).unwrap(), media());
    }

    #[test]
    fn optional_fields_default_and_repeats_are_dropped() {
        let d = BucketDirectory::decode(br#"{"version":1,"name":"d","buckets":["a","b","a"]}"#)
            .unwrap();
        assert_eq!(d.buckets, ["a", "b"]);
        assert!(d.acl.is_empty());
        assert_eq!(d.flags, 0);
        let d = BucketDirectory::decode(
            br#"{"version":1,"name":"d","acl":[{"user":"u","token":"t","flags":7}],"extra":1}"#,
        )
        .unwrap();
        assert_eq!(d.acl["u"].version, 1, "the entry version defaults to 1");
        assert_eq!(d.acl["u"].flags.bits(), 7);
    }

    #[test]
    fn rejects_other_versions_and_shapes() {
        assert!(matches!(
            BucketDirectory::decode(br#"{"version":2,"name":"d"}"#),
            Err(DirectoryError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            BucketDirectory::decode(b"not json"),
            Err(DirectoryError::Malformed(_))
        ));
        assert!(matches!(
            BucketDirectory::decode(br#"{"version":1}"#),
            Err(DirectoryError::Malformed(_))
        ));
        let twice = br#"{"version":1,"name":"d","acl":[{"user":"u","token":"a","flags":1},{"user":"u","token":"b","flags":2}]}"#;
        assert!(matches!(
            BucketDirectory::decode(twice),
            Err(DirectoryError::DuplicateUser(u)) if u == "u"
        ));
    }

    #[test]
    fn members() {
        let mut d = media();
        assert!(!d.insert("photos"));
        assert!(d.insert("docs"));
        assert!(d.remove("photos"));
        assert!(!d.remove("photos"));
        assert!(d.contains("docs"));
        assert_eq!(d.buckets, ["videos", "docs"]);
    }

    #[test]
    fn membership_round_trips_and_rejects_other_versions() {
        let m = DirectoryMembership::new("media");
        assert_eq!(m.encode(), br#"{"version":1,"directory":"media"}"#);
        assert_eq!(DirectoryMembership::decode(&m.encode()).unwrap(), m);
        assert!(matches!(
            DirectoryMembership::decode(br#"{"version":3,"directory":"x"}"#),
            Err(DirectoryError::UnsupportedVersion(3))
        ));
        assert!(DirectoryMembership::decode(b"{}").is_err());
    }

    #[test]
    fn directory_names() {
        assert_eq!(valid_directory_name("media"), Some("media"));
        assert_eq!(valid_directory_name(""), None);
        assert_eq!(valid_directory_name("a/b"), None);
    }

    #[test]
    fn debug_output_hides_tokens() {
        let text = format!("{:?}", media());
        assert!(!text.contains("secret"), "{text}");
    }

    fn arb_directory() -> impl Strategy<Value = BucketDirectory> {
        let entry = ("\\PC{0,20}", "\\PC{0,40}", 1u64..3, any::<u64>()).prop_map(
            |(user, token, version, flags)| AclEntry {
                version,
                user,
                token,
                flags: AclFlags::from_bits_retain(flags),
            },
        );
        (
            "\\PC{0,40}",
            proptest::collection::vec(entry, 0..5),
            any::<u64>(),
            proptest::collection::btree_set("\\PC{1,20}", 0..10),
        )
            .prop_map(|(name, entries, flags, buckets)| BucketDirectory {
                name,
                acl: entries.into_iter().map(|e| (e.user.clone(), e)).collect(),
                flags,
                buckets: buckets.into_iter().collect(),
            })
    }

    proptest! {
        #[test]
        fn round_trips(d in arb_directory()) {
            prop_assert_eq!(BucketDirectory::decode(&d.encode()).unwrap(), d);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = BucketDirectory::decode(&bytes);
            let _ = DirectoryMembership::decode(&bytes);
        }
    }
}
