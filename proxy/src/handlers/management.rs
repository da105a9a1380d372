//! What RIFT's management endpoints share ([`bucket_admin`](super::bucket_admin),
//! [`bucket_directory`](super::bucket_directory), [`readable_buckets`](super::readable_buckets)):
//! the [`Caller`] extractor (credentials, canonical request, whether it is the bootstrap
//! admin of `[admin]`), the admin and read checks over bucket and directory ACLs, fresh
//! reads of metadata, directories, memberships and ownership through the
//! [`MetadataStore`](backrunner_store::MetadataStore), the JSON bodies, and the documents
//! replies are made of.
//!
//! Who may change what:
//!
//! - the bootstrap admin (`[admin]` in `proxy.toml`, signed with its token) may do
//!   everything;
//! - an admin of a bucket is a user with the admin flag (4) in the bucket's ACL, or in the
//!   ACL of the directory the bucket is in, whose request is signed with that user's token
//!   (the no-token flag never waives the signature here, and an empty ACL makes nobody an
//!   admin);
//! - an admin of a directory is a user with the admin flag in the directory's ACL.
//!
//! Missing credentials are 401, refused ones 403 ([`ApiError::AdminRequired`],
//! [`ApiError::NotAdmin`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::FromRequestParts;
use backrunner_store::bucket::{AclEntry, AclFlags, BucketMetadata};
use backrunner_store::{
    BucketDirectory, DirectoryMembership, MetadataStore, OwnerRecord, valid_bucket_name,
};
use http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};

use super::authorized::credentials;
use crate::acl::{self, Operation};
use crate::error::{ApiError, BadRequest};
use crate::request::RequestInfo;
use crate::signature::{CanonicalRequest, ParsedAuthorization};
use crate::state::AppState;
use crate::token_aliases::unix_now;

/// Largest management request body, bytes.
pub const MAX_MANAGEMENT_BODY: usize = 1 << 20;

/// A management request's credentials, checked lazily against whatever ACL applies.
#[derive(Debug)]
pub struct Caller {
    /// The parsed `Authorization` header (user `*` without one).
    pub auth: ParsedAuthorization,
    /// What the signature covers.
    pub canonical: CanonicalRequest,
    /// The request's parsed URI.
    pub info: Arc<RequestInfo>,
    /// Whether the request is signed by the bootstrap admin of `[admin]`.
    pub bootstrap: bool,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let info = RequestInfo::of(parts);
        let auth = credentials(parts, &info);
        let canonical = info.canonical(&parts.method, &parts.headers)?;
        let bootstrap = match (&state.config.admin, auth.signature.as_deref()) {
            (Some(admin), Some(signature)) => {
                auth.user == admin.user && canonical.verify(&admin.token, signature)
            }
            _ => false,
        };
        Ok(Caller {
            auth,
            canonical,
            info,
            bootstrap,
        })
    }
}

impl Caller {
    /// `Ok` when the caller may administer `what`: the bootstrap admin, an admin of
    /// `bucket` (its ACL, with its live token aliases) or of one of `directories`.
    pub fn require_admin(
        &self,
        state: &AppState,
        what: &str,
        bucket: Option<&BucketMetadata>,
        directories: &[&BucketDirectory],
    ) -> Result<(), ApiError> {
        if self.is_admin_of(state, bucket, directories) {
            return Ok(());
        }
        Err(self.refusal(what))
    }

    /// Whether [`Caller::require_admin`] would pass.
    pub fn is_admin_of(
        &self,
        state: &AppState,
        bucket: Option<&BucketMetadata>,
        directories: &[&BucketDirectory],
    ) -> bool {
        if self.bootstrap {
            return true;
        }
        if let Some(bucket) = bucket {
            let aliases = state.buckets.live_aliases(&bucket.name, unix_now());
            if acl::authorize_admin(&bucket.acl, &self.auth, &self.canonical, &aliases).is_ok() {
                return true;
            }
        }
        directories.iter().any(|d| {
            acl::authorize_admin(&d.acl, &self.auth, &self.canonical, &acl::NoExtraTokens).is_ok()
        })
    }

    /// The refusal of a change to `what`: 401 without credentials, 403 with.
    pub fn refusal(&self, what: &str) -> ApiError {
        if self.auth.has_credentials() {
            ApiError::NotAdmin {
                user: self.auth.user.clone(),
                what: what.to_owned(),
            }
        } else {
            ApiError::AdminRequired {
                what: what.to_owned(),
            }
        }
    }

    /// `Ok` when the caller may read `bucket` (the rule of `/get`, live token aliases
    /// included).
    pub fn may_read_bucket(
        &self,
        state: &AppState,
        bucket: &BucketMetadata,
    ) -> Result<(), ApiError> {
        if self.bootstrap {
            return Ok(());
        }
        let aliases = state.buckets.live_aliases(&bucket.name, unix_now());
        acl::authorize_with_tokens(
            bucket,
            Operation::Read,
            &self.auth,
            &self.canonical,
            &aliases,
        )?;
        Ok(())
    }

    /// `Ok` when the caller may read `directory`: an empty ACL is public, else a user of
    /// its ACL (the read rule of buckets); admins of it too.
    pub fn may_read_directory(&self, directory: &BucketDirectory) -> Result<(), ApiError> {
        if self.bootstrap || directory.acl.is_empty() {
            return Ok(());
        }
        acl::authorize_entries(
            &directory.acl,
            Operation::Read,
            &self.auth,
            &self.canonical,
            &acl::NoExtraTokens,
        )?;
        Ok(())
    }
}

/// `what` of a bucket in messages.
pub fn bucket_what(name: &str) -> String {
    format!("bucket '{name}'")
}

/// `what` of a directory in messages.
pub fn directory_what(name: &str) -> String {
    format!("bucket directory '{name}'")
}

/// The `N` names after `endpoint`'s segment in the (decoded) path of `info`, each a
/// valid bucket or directory name; a trailing slash is allowed. `shape` is the 400 of a
/// path with another number of names.
pub fn path_names<const N: usize>(
    info: &RequestInfo,
    shape: BadRequest,
) -> Result<[String; N], ApiError> {
    let path = info.decoded_path()?;
    let rest = info.endpoint.strip_prefix(path).ok_or(ApiError::NotFound)?;
    let rest = rest.strip_suffix(b"/").unwrap_or(rest);
    let text = std::str::from_utf8(rest).map_err(|_| BadRequest::BucketNotUtf8)?;
    let parts: Vec<&str> = text.split('/').collect();
    let Ok(names) = <[&str; N]>::try_from(parts) else {
        return Err(shape.into());
    };
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, name) in out.iter_mut().zip(names) {
        if name.is_empty() {
            return Err(shape.clone().into());
        }
        *slot = valid_bucket_name(name)
            .ok_or_else(|| BadRequest::InvalidName(name.to_owned()))?
            .to_owned();
    }
    Ok(out)
}

/// Logs a metadata error and maps it to the reply.
pub fn metadata_error(what: &str, e: &backrunner_store::MetadataError) -> ApiError {
    let reply = ApiError::from_metadata(e);
    tracing::warn!(error = %e, "{what} failed");
    reply
}

/// The store the management endpoints read and write.
pub fn store(state: &AppState) -> &MetadataStore {
    state.buckets.store()
}

/// Bucket `name`'s metadata, read now from the metadata groups.
pub async fn read_bucket(state: &AppState, name: &str) -> Result<Option<BucketMetadata>, ApiError> {
    store(state)
        .read_bucket(name)
        .await
        .map_err(|e| metadata_error("bucket metadata read", &e))
}

/// Directory `name`, read now.
pub async fn read_directory(
    state: &AppState,
    name: &str,
) -> Result<Option<BucketDirectory>, ApiError> {
    store(state)
        .read_directory(name)
        .await
        .map_err(|e| metadata_error("bucket directory read", &e))
}

/// The name of the directory bucket `name` is in, if any.
pub async fn directory_of(state: &AppState, name: &str) -> Result<Option<String>, ApiError> {
    let record = store(state)
        .read_record::<DirectoryMembership>(name)
        .await
        .map_err(|e| metadata_error("directory membership read", &e))?;
    Ok(record.map(|m| m.directory))
}

/// 409 when a Kubernetes resource owns bucket `name` (a live ownership record).
pub async fn refuse_owned(state: &AppState, name: &str) -> Result<(), ApiError> {
    let owner = store(state)
        .read_record::<OwnerRecord>(name)
        .await
        .map_err(|e| metadata_error("ownership record read", &e))?;
    match owner {
        Some(owner) if !owner.released => Err(ApiError::BucketOwned {
            bucket: name.to_owned(),
            owner: owner.describe(),
        }),
        _ => Ok(()),
    }
}

/// Reads a whole management body (at most [`MAX_MANAGEMENT_BODY`] bytes) and parses it
/// as `T`; an empty body (or only whitespace) is `T::default()`.
pub async fn json_body<T: for<'de> Deserialize<'de> + Default>(body: Body) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_MANAGEMENT_BODY)
        .await
        .map_err(|e| {
            let first: &(dyn std::error::Error + 'static) = &e;
            let too_large = std::iter::successors(Some(first), |s| s.source())
                .any(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::PayloadTooLarge {
                    limit: MAX_MANAGEMENT_BODY as u64,
                }
            } else {
                BadRequest::BodyFailed(e.to_string()).into()
            }
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| BadRequest::InvalidJsonBody(e.to_string()).into())
}

/// One ACL entry of a management body: `{"user": "u", "token": "t", "flags": N}`.
#[derive(Debug, Deserialize)]
pub struct AclEntryBody {
    /// The user.
    pub user: String,
    /// The user's token (may be empty only with flag 1, no token).
    #[serde(default)]
    pub token: String,
    /// [`AclFlags`] bits.
    #[serde(default)]
    pub flags: u64,
}

/// The ACL of a body as stored entries: users non-empty, unique; a token unless flag 1.
pub fn acl_of(entries: Vec<AclEntryBody>) -> Result<BTreeMap<String, AclEntry>, ApiError> {
    let mut acl = BTreeMap::new();
    for e in entries {
        if e.user.trim().is_empty() {
            return Err(BadRequest::EmptyAclUser.into());
        }
        let flags = AclFlags::from_bits_retain(e.flags);
        if e.token.is_empty() && !flags.contains(AclFlags::NO_TOKEN) {
            return Err(BadRequest::EmptyAclToken(e.user).into());
        }
        if acl.contains_key(&e.user) {
            return Err(BadRequest::DuplicateAclUser(e.user).into());
        }
        acl.insert(
            e.user.clone(),
            AclEntry {
                version: 1,
                user: e.user,
                token: e.token,
                flags,
            },
        );
    }
    Ok(acl)
}

/// A bucket's groups from a body: non-empty, no group 0, no repeats.
pub fn groups_of(groups: Vec<u32>) -> Result<Vec<u32>, ApiError> {
    if groups.is_empty() {
        return Err(BadRequest::MissingGroups.into());
    }
    let mut seen = BTreeSet::new();
    for &g in &groups {
        if g == 0 {
            return Err(BadRequest::GroupZero.into());
        }
        if !seen.insert(g) {
            return Err(BadRequest::DuplicateGroup(g).into());
        }
    }
    Ok(groups)
}

/// An ACL as JSON: `[{"user", "flags"}]`, with `"token"` only when `with_tokens`.
pub fn acl_doc(acl: &BTreeMap<String, AclEntry>, with_tokens: bool) -> Value {
    acl.values()
        .map(|e| {
            let mut doc = json!({"user": e.user, "flags": e.flags.bits()});
            if with_tokens {
                doc["token"] = json!(e.token);
            }
            doc
        })
        .collect()
}

/// A bucket as JSON, with RIFT's field names: `name`, `groups`, `acl`, `flags`,
/// `max-size`, `max-key-num`.
pub fn bucket_doc(bucket: &BucketMetadata, with_tokens: bool) -> Value {
    json!({
        "name": bucket.name,
        "groups": bucket.groups,
        "acl": acl_doc(&bucket.acl, with_tokens),
        "flags": bucket.flags,
        "max-size": bucket.max_size,
        "max-key-num": bucket.max_key_num,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<const N: usize>(path: &str) -> Result<[String; N], u16> {
        let info = RequestInfo::parse(&path.parse().unwrap_or_default());
        path_names::<N>(&info, BadRequest::ExpectedDirectoryAndBucket)
            .map_err(|e| e.status().as_u16())
    }

    #[test]
    fn paths() {
        assert_eq!(
            names::<2>("/update-bucket/d/b"),
            Ok(["d".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            names::<2>("/update-bucket/d/b%20c/"),
            Ok(["d".to_owned(), "b c".to_owned()])
        );
        assert_eq!(names::<1>("/read-bucket/b/"), Ok(["b".to_owned()]));
        assert_eq!(names::<2>("/update-bucket/d"), Err(400));
        assert_eq!(names::<2>("/update-bucket/d//"), Err(400));
        assert_eq!(names::<2>("/update-bucket//b"), Err(400));
        assert_eq!(names::<1>("/read-bucket/a/b"), Err(400));
        assert_eq!(names::<1>("/read-bucket/%01"), Err(400));
    }

    #[test]
    fn bodies() {
        fn status<T>(r: Result<T, ApiError>) -> u16 {
            r.map_or_else(|e| e.status().as_u16(), |_| 200)
        }
        let entry = |user: &str, token: &str, flags| AclEntryBody {
            user: user.into(),
            token: token.into(),
            flags,
        };
        assert_eq!(status(acl_of(vec![entry("u", "t", 3)])), 200);
        assert_eq!(status(acl_of(vec![entry("*", "", 1)])), 200);
        assert_eq!(status(acl_of(vec![entry("u", "", 2)])), 400);
        assert_eq!(status(acl_of(vec![entry(" ", "t", 2)])), 400);
        assert_eq!(
            status(acl_of(vec![entry("u", "t", 2), entry("u", "x", 4)])),
            400
        );
        assert_eq!(groups_of(vec![2, 1]), Ok(vec![2, 1]));
        assert_eq!(status(groups_of(vec![])), 400);
        assert_eq!(status(groups_of(vec![0])), 400);
        assert_eq!(status(groups_of(vec![1, 1])), 400);
        let doc = bucket_doc(
            &BucketMetadata {
                acl: acl_of(vec![entry("u", "secret", 7)]).unwrap_or_default(),
                ..BucketMetadata::new("b")
            },
            false,
        );
        assert!(!doc.to_string().contains("secret"), "{doc}");
        assert_eq!(doc["acl"][0]["flags"], 7);
    }
}
