//! The preamble of every bucket handler as one axum extractor: [`Authorized<A, T>`] reads
//! the target `T` (bucket and key, or bucket only) from the request's already-decoded path,
//! looks the bucket up, checks the request's credentials for the access `A` against its
//! ACL (live token aliases count as tokens) and records the user for the access log. A
//! refusal is the handler's reply (400, 401, 403 or 404, see [`ApiError`]).

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use backrunner_store::bucket::BucketMetadata;
use elliptics::Session;
use http::request::Parts;

use crate::acl::{self, Operation};
use crate::endpoint::Endpoint;
use crate::error::{ApiError, BadRequest};
use crate::request::RequestInfo;
use crate::signature::ParsedAuthorization;
use crate::state::AppState;
use crate::token_aliases::unix_now;

/// What a handler does with a bucket: the marker types [`Read`], [`Write`], [`Delete`].
pub trait Access: Send + Sync + 'static {
    /// The ACL operation checked.
    const OPERATION: Operation;
}

/// Reads: get, lookup, redirect.
#[derive(Debug)]
pub struct Read;
/// Uploads.
#[derive(Debug)]
pub struct Write;
/// Deletes and bulk deletes.
#[derive(Debug)]
pub struct Delete;

impl Access for Read {
    const OPERATION: Operation = Operation::Read;
}
impl Access for Write {
    const OPERATION: Operation = Operation::Write;
}
impl Access for Delete {
    const OPERATION: Operation = Operation::Delete;
}

/// What a path names after its endpoint's segment: [`Target`] or [`BucketName`].
pub trait PathTarget: Sized + Send + 'static {
    /// Parses the part of `path` (decoded) after `endpoint`'s segment.
    fn parse(endpoint: Endpoint, path: &[u8]) -> Result<Self, ApiError>;
    /// The bucket named.
    fn bucket(&self) -> &str;
}

/// A bucket/key request target: `/<endpoint>/<bucket>/<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Bucket name.
    pub bucket: String,
    /// Key bytes (any bytes; slashes allowed).
    pub key: Vec<u8>,
}

impl Target {
    /// The key as text (lossy for non-UTF-8 keys), for replies and Content-Type.
    pub fn key_text(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }
}

impl PathTarget for Target {
    /// Splits the path after the endpoint's segment at its first slash.
    fn parse(endpoint: Endpoint, path: &[u8]) -> Result<Target, ApiError> {
        let rest = endpoint.strip_prefix(path).ok_or(ApiError::NotFound)?;
        let Some(slash) = rest.iter().position(|b| *b == b'/') else {
            return Err(BadRequest::NoKeyAfterBucket.into());
        };
        let (bucket, key) = (&rest[..slash], &rest[slash + 1..]);
        let bucket = std::str::from_utf8(bucket).map_err(|_| BadRequest::BucketNotUtf8)?;
        if bucket.is_empty() {
            return Err(BadRequest::MissingBucket.into());
        }
        if key.is_empty() {
            return Err(BadRequest::MissingKey.into());
        }
        Ok(Target {
            bucket: bucket.to_owned(),
            key: key.to_vec(),
        })
    }

    fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// The bucket-only target of `/<endpoint>/<bucket>` (a trailing slash is allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketName(pub String);

impl PathTarget for BucketName {
    fn parse(endpoint: Endpoint, path: &[u8]) -> Result<BucketName, ApiError> {
        let rest = endpoint.strip_prefix(path).ok_or(ApiError::NotFound)?;
        let rest = rest.strip_suffix(b"/").unwrap_or(rest);
        let name = std::str::from_utf8(rest).map_err(|_| BadRequest::BucketNotUtf8)?;
        if name.is_empty() || name.contains('/') {
            return Err(BadRequest::ExpectedBucketOnly.into());
        }
        Ok(BucketName(name.to_owned()))
    }

    fn bucket(&self) -> &str {
        &self.0
    }
}

/// A request allowed to do `A` in the bucket its path names (see the module docs).
#[derive(Debug)]
pub struct Authorized<A, T = Target> {
    /// The bucket's metadata.
    pub bucket: Arc<BucketMetadata>,
    /// The target parsed from the path.
    pub target: T,
    /// The request's parsed URI.
    pub info: Arc<RequestInfo>,
    access: PhantomData<A>,
}

impl<A: Access, T: PathTarget> FromRequestParts<AppState> for Authorized<A, T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let info = RequestInfo::of(parts);
        let target = T::parse(info.endpoint, info.decoded_path()?)?;
        let bucket = state.buckets.get(target.bucket()).await?;
        let auth = credentials(parts, &info);
        if !bucket.is_public() {
            let canonical = info.canonical(&parts.method, &parts.headers)?;
            let aliases = state.buckets.live_aliases(&bucket.name, unix_now());
            acl::authorize_with_tokens(&bucket, A::OPERATION, &auth, &canonical, &aliases)?;
        }
        Ok(Authorized {
            bucket,
            target,
            info,
            access: PhantomData,
        })
    }
}

impl<A, T> Authorized<A, T> {
    /// The request's data session in its bucket (see [`data_session`](super::data_session)).
    pub(crate) fn data_session(&self, state: &AppState) -> Result<Session, ApiError> {
        super::data_session(state, &self.info, &self.bucket)
    }
}

impl<A> Authorized<A, Target> {
    /// The session that reads the request's key (see [`read_session`](super::read_session)).
    pub(crate) fn read_session(&self, state: &AppState) -> Result<Session, ApiError> {
        super::read_session(state, &self.info, &self.bucket, &self.target.key)
    }
}

/// The request's `Authorization` header, its user recorded for the access log.
pub(crate) fn credentials(parts: &Parts, info: &RequestInfo) -> ParsedAuthorization {
    let auth = ParsedAuthorization::from_headers(&parts.headers);
    info.user.set(&auth.user);
    auth
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Result<Target, ApiError> {
        let info = RequestInfo::parse(&path.parse().unwrap_or_default());
        Target::parse(Endpoint::Get, info.decoded_path()?)
    }

    #[test]
    fn targets() {
        assert_eq!(
            target("/get/b1/dir/a%20b%2Fc.txt"),
            Ok(Target {
                bucket: "b1".into(),
                key: b"dir/a b/c.txt".to_vec()
            })
        );
        let status = |uri: &str| target(uri).map_or_else(|e| e.status().as_u16(), |_| 200);
        assert_eq!(status("/get/b1/"), 400);
        assert_eq!(status("/get/b1"), 400);
        assert_eq!(status("/get//k"), 400);
        assert_eq!(status("/get/b1/%zz"), 400);
        assert_eq!(status("/get/b1/%C3%A9t%C3%A9"), 200);
        assert_eq!(
            BucketName::parse(Endpoint::BulkDelete, b"/bulk_delete/b1/"),
            Ok(BucketName("b1".into()))
        );
    }
}
