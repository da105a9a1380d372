//! The front's failures ([`FrontError`]) and the S3 error each becomes: bad input is a 4xx
//! with S3's code (`NoSuchKey`, `NoSuchBucket`, `AccessDenied`, `InvalidRange`,
//! `EntityTooLarge`, ...); only storage failures are 5xx. Messages never carry a token or a
//! storage address (those are logged, with the request's trace id).

use backrunner_proxy::ApiError;
use http::StatusCode;
use s3s::{S3Error, S3ErrorCode};

/// Why an S3 operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontError {
    /// The proxy's own decision (shared code paths: uploads, reads, deletes, lookups).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The bucket ACL refused the caller.
    #[error("access denied: {0}")]
    Denied(String),
    /// The request is valid S3 that this front does not serve (yet).
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// The request is malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The object cannot be stored (e.g. empty objects: a record must have bytes).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The object is not modified (304 of a conditional GET/HEAD).
    #[error("not modified")]
    NotModified,
    /// The body does not match the digest it declared (named); nothing was published.
    #[error("the body does not match its {0}")]
    BadDigest(String),
    /// CreateBucket of a bucket the caller already may use.
    #[error("bucket already owned by you")]
    AlreadyOwned,
}

impl From<FrontError> for S3Error {
    fn from(e: FrontError) -> S3Error {
        let message = e.to_string();
        let code = match &e {
            FrontError::Api(api) => return api_error(api),
            FrontError::Denied(_) => S3ErrorCode::AccessDenied,
            FrontError::NotImplemented(_) => S3ErrorCode::NotImplemented,
            FrontError::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
            FrontError::InvalidRequest(_) => S3ErrorCode::InvalidRequest,
            FrontError::NotModified => S3ErrorCode::NotModified,
            FrontError::AlreadyOwned => S3ErrorCode::BucketAlreadyOwnedByYou,
            FrontError::BadDigest(_) => S3ErrorCode::BadDigest,
        };
        S3Error::with_message(code, message)
    }
}

/// The S3 error of a proxy error (same status class; S3's code).
fn api_error(e: &ApiError) -> S3Error {
    let message = e.to_string();
    let (code, status) = match e {
        ApiError::BadRequest(_) | ApiError::MethodNotAllowed(_) => {
            (S3ErrorCode::InvalidArgument, None)
        }
        ApiError::EmptyUpload => (S3ErrorCode::InvalidRequest, None),
        ApiError::Unauthorized(_) | ApiError::Forbidden(_) => (S3ErrorCode::AccessDenied, None),
        ApiError::ObjectLimit { .. } => (
            S3ErrorCode::Custom("QuotaExceeded".into()),
            Some(StatusCode::FORBIDDEN),
        ),
        ApiError::BucketNotFound(_) => (S3ErrorCode::NoSuchBucket, None),
        ApiError::NotFound => (S3ErrorCode::NoSuchKey, None),
        ApiError::RequestTimeout => (S3ErrorCode::RequestTimeout, None),
        ApiError::Conflict(_) => (S3ErrorCode::OperationAborted, None),
        ApiError::LengthRequired => (S3ErrorCode::MissingContentLength, None),
        ApiError::PreconditionFailed => (S3ErrorCode::PreconditionFailed, None),
        ApiError::PayloadTooLarge { .. } => (S3ErrorCode::EntityTooLarge, None),
        ApiError::RangeNotSatisfiable { .. } => (S3ErrorCode::InvalidRange, None),
        ApiError::HeadersTooLarge => (S3ErrorCode::RequestHeaderSectionTooLarge, None),
        ApiError::NotEnabled(_) => (S3ErrorCode::NotImplemented, None),
        ApiError::Unavailable(_) | ApiError::Overloaded | ApiError::InsufficientStorage => {
            (S3ErrorCode::ServiceUnavailable, None)
        }
        _ if e.status().is_client_error() => (
            S3ErrorCode::Custom("InvalidRequest".into()),
            Some(e.status()),
        ),
        _ => (S3ErrorCode::InternalError, Some(e.status())),
    };
    let mut err = S3Error::with_message(code, message);
    if let Some(status) = status {
        err.set_status_code(status);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let of = |e: FrontError| {
            let s3 = S3Error::from(e);
            (s3.code().as_str().to_owned(), s3.status_code())
        };
        assert_eq!(
            of(ApiError::NotFound.into()),
            ("NoSuchKey".into(), Some(StatusCode::NOT_FOUND))
        );
        assert_eq!(
            of(ApiError::BucketNotFound("b".into()).into()),
            ("NoSuchBucket".into(), Some(StatusCode::NOT_FOUND))
        );
        assert_eq!(
            of(ApiError::RangeNotSatisfiable { size: 3 }.into()),
            (
                "InvalidRange".into(),
                Some(StatusCode::RANGE_NOT_SATISFIABLE)
            )
        );
        assert_eq!(
            of(FrontError::Denied("x".into())),
            ("AccessDenied".into(), Some(StatusCode::FORBIDDEN))
        );
        assert_eq!(
            of(ApiError::ObjectLimit {
                bucket: "b".into(),
                limit: 1
            }
            .into()),
            ("QuotaExceeded".into(), Some(StatusCode::FORBIDDEN))
        );
        assert_eq!(
            of(ApiError::PayloadTooLarge { limit: 1 }.into()),
            // S3 answers EntityTooLarge with 400.
            ("EntityTooLarge".into(), Some(StatusCode::BAD_REQUEST))
        );
    }
}
