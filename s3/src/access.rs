//! Authorization of S3 operations: each operation needs one ACL operation of the bucket it
//! touches — exactly the Backrunner API's rule ([`backrunner_proxy::acl`]): reads need a
//! user in the ACL (or user `*` with flag 1, or an empty ACL), PutObject/CopyObject (and
//! the multipart operations, not served yet) need flag 2 (write), DeleteObject(s) flag 2
//! too, anything else flag 4 (admin).
//!
//! The caller is the access key id whose signature s3s verified, proving the secret it
//! verified with ([`crate::credentials`]); an unsigned request is user `*`. A user with
//! flag 1 (no token) is let through on its name, as in the Backrunner API, but an S3
//! request that claims it must still carry a signature that verifies with one of the
//! name's tokens (s3s refuses it otherwise), so unsigned S3 requests act as `*`.
//!
//! The check runs in s3s before the operation (after the signature check); the bucket's
//! metadata goes into the request extensions ([`Granted`]) for the operation to use.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use backrunner_proxy::AppState;
use backrunner_proxy::acl::{self, Operation, Presented};
use backrunner_proxy::token_aliases::unix_now;
use backrunner_store::bucket::BucketMetadata;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::Credentials;
use s3s::path::S3Path;
use s3s::{S3Error, S3Result};
use subtle::ConstantTimeEq;

use crate::credentials::ATTEMPT;
use crate::error::FrontError;

/// The bucket an operation was allowed on (in the request extensions).
#[derive(Debug, Clone)]
pub struct Granted {
    /// The bucket's metadata.
    pub bucket: Arc<BucketMetadata>,
}

/// The ACL operation an S3 operation needs, `None` for ListBuckets (which filters the
/// buckets itself). Operations not listed need [`Operation::Admin`]: nothing is let through
/// by omission.
pub fn required_operation(s3_operation: &str) -> Option<Operation> {
    Some(match s3_operation {
        "ListBuckets" => return None,
        "GetObject" | "HeadObject" | "ListObjects" | "ListObjectsV2" | "HeadBucket"
        | "GetBucketLocation" | "CreateBucket" => Operation::Read,
        // Multipart is not served yet: writers get NotImplemented, not AccessDenied.
        "PutObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "ListParts"
        | "ListMultipartUploads" => Operation::Write,
        "DeleteObject" | "DeleteObjects" => Operation::Delete,
        _ => Operation::Admin,
    })
}

/// Whether the caller (`credentials`: the verified access key and secret; `None` =
/// anonymous) may do `operation` in `bucket`: the Backrunner API's decision
/// ([`acl::authorize_presented`]), with "proves the token" meaning the verified secret
/// equals it (constant time).
pub fn authorize(
    state: &AppState,
    bucket: &BucketMetadata,
    operation: Operation,
    credentials: Option<&Credentials>,
) -> Result<(), FrontError> {
    if bucket.is_public() {
        return Ok(());
    }
    let presented = Presented {
        user: credentials.map_or(backrunner_proxy::signature::ANONYMOUS_USER, |c| {
            c.access_key.as_str()
        }),
        has_credentials: credentials.is_some(),
    };
    let secret = credentials.map(|c| c.secret_key.expose().as_bytes());
    let aliases = state.buckets.live_aliases(&bucket.name, unix_now());
    acl::authorize_presented(&bucket.acl, operation, &presented, &aliases, |token| {
        secret.is_some_and(|s| bool::from(s.ct_eq(token.as_bytes())))
    })
    .map(|_| ())
    .map_err(|e| {
        tracing::info!(bucket = %bucket.name, error = %e, "S3 request refused by the bucket ACL");
        FrontError::Denied(e.to_string())
    })
}

/// Looks `name` up and authorizes `operation` in it ([`authorize`]).
pub async fn authorize_bucket(
    state: &AppState,
    name: &str,
    operation: Operation,
    credentials: Option<&Credentials>,
) -> Result<Arc<BucketMetadata>, FrontError> {
    let bucket = state.buckets.get(name).await.map_err(FrontError::from)?;
    authorize(state, &bucket, operation, credentials)?;
    Ok(bucket)
}

/// The [`S3Access`] of the front (module docs).
#[derive(Debug, Clone)]
pub struct BucketAcl {
    state: AppState,
}

impl BucketAcl {
    /// Over the proxy's bucket cache.
    pub fn new(state: AppState) -> BucketAcl {
        BucketAcl { state }
    }
}

#[async_trait::async_trait]
impl S3Access for BucketAcl {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        // s3s calls this only once the signature (if any) verified.
        let _ = ATTEMPT.try_with(|a| a.verified.store(true, Ordering::Release));
        let operation = required_operation(cx.s3_op().name());
        let bucket = match cx.s3_path() {
            S3Path::Root => None,
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => Some(bucket.to_string()),
        };
        let (Some(operation), Some(name)) = (operation, bucket) else {
            return Ok(());
        };
        if cx.s3_op().name() == "CreateBucket" && self.state.buckets.get(&name).await.is_err() {
            return Err(S3Error::from(FrontError::NotImplemented(
                "buckets are created with /update-bucket or a Kubernetes Bucket, not through S3 yet"
                    .into(),
            )));
        }
        let credentials = cx.credentials().cloned();
        let granted = authorize_bucket(&self.state, &name, operation, credentials.as_ref())
            .await
            .map_err(S3Error::from)?;
        cx.extensions_mut().insert(Granted { bucket: granted });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_need_the_backrunner_flags() {
        for op in [
            "GetObject",
            "HeadObject",
            "ListObjects",
            "ListObjectsV2",
            "HeadBucket",
        ] {
            assert_eq!(required_operation(op), Some(Operation::Read), "{op}");
        }
        assert_eq!(required_operation("PutObject"), Some(Operation::Write));
        assert_eq!(required_operation("CopyObject"), Some(Operation::Write));
        assert_eq!(required_operation("DeleteObjects"), Some(Operation::Delete));
        assert_eq!(required_operation("ListBuckets"), None);
        // Nothing is let through by omission.
        assert_eq!(required_operation("UploadPart"), Some(Operation::Write));
        for op in ["PutBucketPolicy", "DeleteBucket", "PutBucketAcl"] {
            assert_eq!(required_operation(op), Some(Operation::Admin), "{op}");
        }
    }
}
