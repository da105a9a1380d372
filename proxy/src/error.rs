//! Errors the HTTP API answers with, each with its status and JSON body.
//!
//! Every error reply is `{"error": "<message>", "status": N}`. Messages are written for the
//! client: they name the bucket, key or user involved but never a token, an internal address
//! or an Elliptics error code (those go to the log, next to the request's trace id).

use elliptics::proto::errno::code;
use http::StatusCode;
use serde_json::json;

/// `WWW-Authenticate` challenge of 401 replies: the signature scheme clients use.
pub const WWW_AUTHENTICATE: &str = "riftv1 realm=\"backrunner\"";

/// An error reply of the HTTP API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; [`BadRequest`] says how.
    #[error("bad request: {0}")]
    BadRequest(#[from] BadRequest),
    /// 400: an upload with `Content-Length: 0`.
    #[error("empty uploads are not allowed")]
    EmptyUpload,
    /// 401: the bucket is protected and the request carried no usable credentials.
    #[error("authorization required: {0}")]
    Unauthorized(String),
    /// 403: credentials were presented and refused.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 403: a new key in a bucket that holds its `max-keys` objects (`quota.maxObjects`).
    #[error(
        "bucket '{bucket}' holds its limit of {limit} objects (max-keys); overwrite or delete a key instead"
    )]
    ObjectLimit {
        /// The bucket.
        bucket: String,
        /// Its `max-keys`.
        limit: u64,
    },
    /// 404: no such bucket.
    #[error("bucket '{0}' not found")]
    BucketNotFound(String),
    /// 404: no such key (or path).
    #[error("not found")]
    NotFound,
    /// 405: the handler does not accept this method.
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    /// 408: the client did not send its request in time.
    #[error("request timeout")]
    RequestTimeout,
    /// 409: the request conflicts with the object's current state (a concurrent upload
    /// won; a ranged upload into an object stored in parts).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 411: an upload without `Content-Length` (and no chunked support for it).
    #[error("Content-Length required")]
    LengthRequired,
    /// 412: an `If-Match` / `If-Unmodified-Since` precondition is false.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 413: the body exceeds a limit (bucket `max-size`, configured body limit).
    #[error("payload too large: limit is {limit} bytes")]
    PayloadTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: u64,
    },
    /// 416: no requested range overlaps the object of `size` bytes.
    #[error("range not satisfiable: object has {size} bytes")]
    RangeNotSatisfiable {
        /// Object size, for `Content-Range: bytes */size`.
        size: u64,
    },
    /// 431: request headers exceed the configured limit.
    #[error("request header fields too large")]
    HeadersTooLarge,
    /// 501: a feature this proxy is configured without.
    #[error("not enabled: {0}")]
    NotEnabled(&'static str),
    /// 500: a bug or an unexpected local failure.
    #[error("internal error")]
    Internal,
    /// 502: storage answered with an error the proxy cannot classify.
    #[error("storage error")]
    StorageError,
    /// 503: no group could serve the request right now.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 503: the proxy is at its concurrency limit (answered fast, never queued).
    #[error("too busy, retry later")]
    Overloaded,
    /// 507: the storage backend is out of space.
    #[error("insufficient storage")]
    InsufficientStorage,
    // RIFT's management endpoints (handlers/bucket_admin.rs, bucket_directory.rs).
    /// 401: a management request without usable credentials.
    #[error("authorization required: a signed request of an admin of {what}")]
    AdminRequired {
        /// What the request would change, e.g. `bucket 'b'`.
        what: String,
    },
    /// 403: a management request whose user is not an admin of what it would change.
    #[error("forbidden: user '{user}' may not administer {what}")]
    NotAdmin {
        /// The user of the request.
        user: String,
        /// What the request would change, e.g. `bucket 'b'`.
        what: String,
    },
    /// 404: no such bucket directory.
    #[error("bucket directory '{0}' not found")]
    DirectoryNotFound(String),
    /// 409: the bucket is managed by a Kubernetes `Bucket` resource (its ownership record),
    /// which stays the source of truth.
    #[error(
        "bucket '{bucket}' is managed by the Kubernetes Bucket {owner} (install/namespace/name); change that resource instead"
    )]
    BucketOwned {
        /// The bucket.
        bucket: String,
        /// The owning resource, `install/namespace/name`.
        owner: String,
    },
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::EmptyUpload => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::ObjectLimit { .. } => StatusCode::FORBIDDEN,
            ApiError::BucketNotFound(_) | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::LengthRequired => StatusCode::LENGTH_REQUIRED,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotEnabled(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::StorageError => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::AdminRequired { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotAdmin { .. } => StatusCode::FORBIDDEN,
            ApiError::DirectoryNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BucketOwned { .. } => StatusCode::CONFLICT,
        }
    }

    /// `WWW-Authenticate` value a 401 reply must carry (RFC 9110 §11.6.1), `None` otherwise.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        matches!(
            self,
            ApiError::Unauthorized(_) | ApiError::AdminRequired { .. }
        )
        .then_some(WWW_AUTHENTICATE)
    }

    /// The JSON body: `{"error": "<message>", "status": N}`.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": self.to_string(), "status": self.status().as_u16() })
    }

    /// Maps a storage error to the reply by what happened: a missing object is 404, a
    /// timeout, an unreachable node or a closed connection 503, a protocol violation 502,
    /// an invalid argument 400; what a node answered (and the combined error of several
    /// groups) goes by its errno, see [`ApiError::from_elliptics_status`].
    pub fn from_storage(e: &elliptics::Error) -> ApiError {
        use elliptics::Error;
        match e {
            Error::NotFound => ApiError::NotFound,
            Error::Timeout
            | Error::NoRoute { .. }
            | Error::Unreachable { .. }
            | Error::ConnectionClosed => storage_unavailable(),
            Error::Protocol(_) => ApiError::StorageError,
            Error::InvalidArgument(_) => storage_rejected(),
            Error::Remote { .. } | Error::Io(_) | Error::AllGroupsFailed { .. } => {
                ApiError::from_elliptics_status(e.status())
            }
        }
    }

    /// Maps a negative Elliptics (errno) status to the reply, per protocol reference §14.2
    /// with the gaps filled:
    ///
    /// | errno | reply |
    /// |---|---|
    /// | ENOENT, EILSEQ | 404 |
    /// | EBADFD (a compare-and-swap refused: a newer version is stored) | 409 |
    /// | EINVAL | 400 |
    /// | E2BIG, EFBIG, EMSGSIZE | 413 (limit unknown: 0) |
    /// | ENOSPC, EDQUOT | 507 |
    /// | EIO, ENXIO, EAGAIN, ENOMEM, EBUSY, EROFS, EPIPE, ECONNRESET, ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, ECANCELED | 503 |
    /// | anything else (including 0 and positive values) | 502 |
    ///
    /// Go Backrunner answered 400 for unknown codes; that blames the client for a storage
    /// failure, so unknown codes are 502 here. The errno never reaches the client.
    pub fn from_elliptics_status(status: i32) -> ApiError {
        match status {
            code::ENOENT | code::EILSEQ => ApiError::NotFound,
            code::EBADFD => ApiError::Conflict("a newer version of the object is stored".into()),
            code::EINVAL => storage_rejected(),
            code::E2BIG | code::EFBIG | code::EMSGSIZE => ApiError::PayloadTooLarge { limit: 0 },
            code::ENOSPC | code::EDQUOT => ApiError::InsufficientStorage,
            code::EIO
            | code::ENXIO
            | code::EAGAIN
            | code::ENOMEM
            | code::EBUSY
            | code::EROFS
            | code::EPIPE
            | code::ECONNRESET
            | code::ETIMEDOUT
            | code::ECONNREFUSED
            | code::EHOSTUNREACH
            | code::ECANCELED => storage_unavailable(),
            _ => ApiError::StorageError,
        }
    }
}

impl ApiError {
    /// Maps an object read error: storage errors as [`ApiError::from_storage`], a
    /// manifest that cannot be decoded 502, an object replaced (or still being overwritten)
    /// while read 503 (retry).
    pub fn from_object_read(e: &backrunner_store::object::ReadError) -> ApiError {
        use backrunner_store::object::ReadError;
        match e {
            ReadError::Storage(e) => ApiError::from_storage(e),
            ReadError::Malformed(_) => ApiError::StorageError,
            ReadError::Changed | ReadError::Torn => {
                ApiError::Unavailable("the object changed while it was read; retry".into())
            }
        }
    }
}

impl ApiError {
    /// Maps a key index error: storage and object reads as above, an undecodable record
    /// 502, groups that did not answer or a compaction in the way 503, a token the index
    /// did not issue 400.
    pub fn from_index(e: &backrunner_store::index::IndexError) -> ApiError {
        use backrunner_store::index::IndexError;
        match e {
            IndexError::Storage(e) => ApiError::from_storage(e),
            IndexError::Object(e) => ApiError::from_object_read(e),
            IndexError::Format(_) | IndexError::MissingSegment(_) => ApiError::StorageError,
            IndexError::GroupsUnavailable { .. } | IndexError::Busy => {
                ApiError::Unavailable("the key index is temporarily unavailable; retry".into())
            }
            IndexError::InvalidToken => BadRequest::InvalidContinuationToken.into(),
        }
    }
}

impl ApiError {
    /// Maps a metadata store error: storage errors as [`ApiError::from_storage`], a stored
    /// record that cannot be decoded 502, a write that reached only some metadata groups
    /// 503 (every change is idempotent: retry it).
    pub fn from_metadata(e: &backrunner_store::MetadataError) -> ApiError {
        use backrunner_store::MetadataError;
        match e {
            MetadataError::Storage { source, .. } => ApiError::from_storage(source),
            MetadataError::Malformed { .. } => ApiError::StorageError,
            MetadataError::Partial { .. } => ApiError::Unavailable(
                "the change did not reach every metadata group; retry it".into(),
            ),
        }
    }
}

fn storage_unavailable() -> ApiError {
    ApiError::Unavailable("storage temporarily unavailable".into())
}

fn storage_rejected() -> ApiError {
    ApiError::BadRequest(BadRequest::StorageRejected)
}

/// What made a request malformed: the text after `bad request: ` in the reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    /// The URL path has a `%` not followed by two hex digits.
    #[error("invalid percent-escape in URL path")]
    InvalidPathEscape,
    /// `/<endpoint>/<bucket>` without `/<key>`.
    #[error("missing key after the bucket name")]
    NoKeyAfterBucket,
    /// `/<endpoint>//<key>`.
    #[error("missing bucket name")]
    MissingBucket,
    /// `/<endpoint>/<bucket>/` or `/nobucket_upload/`.
    #[error("missing key")]
    MissingKey,
    /// The bucket name in the path is not UTF-8.
    #[error("bucket name is not UTF-8")]
    BucketNotUtf8,
    /// The bucket list of `/stat/...` is not UTF-8.
    #[error("bucket names must be UTF-8")]
    BucketListNotUtf8,
    /// A bucket-only endpoint got something else than `/<endpoint>/<bucket>`.
    #[error("expected /<handler>/<bucket>")]
    ExpectedBucketOnly,
    /// `Content-Length` is not a number.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// An upload's `Range` is not `bytes=<offset>-...`.
    #[error("upload Range must be bytes=<offset>-")]
    InvalidUploadRange,
    /// `?offset=` or `?size=` is not a non-negative integer.
    #[error("invalid query parameter '{0}'")]
    InvalidQueryParameter(&'static str),
    /// `?cflags=` or `?ioflags=` is not a number.
    #[error("{name} must be a number, got {value:?}")]
    FlagsNotANumber {
        /// The parameter.
        name: &'static str,
        /// What it held.
        value: String,
    },
    /// `?cflags=` or `?ioflags=` sets bits a request may not set.
    #[error("{name} 0x{refused:x} not allowed (allowed bits: 0x{allowed:x})")]
    FlagsRefused {
        /// The parameter.
        name: &'static str,
        /// The refused bits.
        refused: u64,
        /// The bits a request may set.
        allowed: u64,
    },
    /// A bulk delete body that is not `{"keys": [...]}`.
    #[error("expected {{\"keys\": [...]}}: {0}")]
    BulkDeleteBody(String),
    /// A bulk delete of more keys than allowed.
    #[error("more than {0} keys")]
    TooManyKeys(usize),
    /// A bulk delete naming an empty key.
    #[error("empty key")]
    EmptyKey,
    /// The request body ended before its declared `Content-Length`.
    #[error("request body ended after {received} of {declared} bytes")]
    TruncatedBody {
        /// Bytes received.
        received: u64,
        /// The declared `Content-Length`.
        declared: u64,
    },
    /// Reading the request body from the client failed (the connection broke).
    #[error("request body: {0}")]
    BodyFailed(String),
    /// The body does not match a digest its request declared (S3's `Content-MD5` or
    /// `x-amz-checksum-*`; the S3 front answers `BadDigest`).
    #[error("request body does not match its {0}")]
    DigestMismatch(String),
    /// A listing's `continuation-token` is not one a listing issued.
    #[error("invalid continuation-token")]
    InvalidContinuationToken,
    /// A listing's `max-keys` is not a non-negative integer.
    #[error("max-keys must be a non-negative integer, got {0:?}")]
    InvalidMaxKeys(String),
    /// A listing's `prefix`, `delimiter`, `start-after` or `continuation-token` was given
    /// twice.
    #[error("query parameter '{0}' given more than once")]
    RepeatedParameter(&'static str),
    /// Storage answered EINVAL.
    #[error("storage rejected the request as invalid")]
    StorageRejected,
    // RIFT's management endpoints.
    /// A management body that is not JSON of the expected shape.
    #[error("malformed JSON body: {0}")]
    InvalidJsonBody(String),
    /// A path that is not `/<handler>/<directory>/<bucket>`.
    #[error("expected /<handler>/<directory>/<bucket>")]
    ExpectedDirectoryAndBucket,
    /// A path that is not `/<handler>/<directory>`.
    #[error("expected /<handler>/<directory>")]
    ExpectedDirectoryOnly,
    /// A name in the path that cannot name a bucket or directory.
    #[error("'{0}' is not a valid name (1 to 255 bytes, no '/', no control characters)")]
    InvalidName(String),
    /// A new bucket without `groups`, or `groups` empty.
    #[error("a bucket needs a non-empty \"groups\" list")]
    MissingGroups,
    /// `groups` names group 0.
    #[error("group 0 is not a valid group")]
    GroupZero,
    /// `groups` names a group twice.
    #[error("group {0} is listed twice")]
    DuplicateGroup(u32),
    /// An ACL entry with an empty user.
    #[error("an ACL entry has an empty user")]
    EmptyAclUser,
    /// Two ACL entries name the same user.
    #[error("user '{0}' appears twice in the ACL")]
    DuplicateAclUser(String),
    /// An ACL entry without a token and without the no-token flag (1).
    #[error("user '{0}' needs a token (or flag 1, no token)")]
    EmptyAclToken(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_message_and_status() {
        let err = ApiError::BucketNotFound("photos".into());
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            err.body(),
            json!({"error": "bucket 'photos' not found", "status": 404})
        );
        assert_eq!(
            ApiError::RangeNotSatisfiable { size: 10 }.body()["status"],
            416
        );
        assert_eq!(ApiError::HeadersTooLarge.status().as_u16(), 431);
        assert_eq!(ApiError::LengthRequired.status().as_u16(), 411);
        assert_eq!(ApiError::Overloaded.status().as_u16(), 503);
        assert_eq!(
            ApiError::Unauthorized("x".into()).www_authenticate(),
            Some(WWW_AUTHENTICATE)
        );
        assert_eq!(ApiError::Forbidden("x".into()).www_authenticate(), None);
    }

    #[test]
    fn elliptics_status_mapping() {
        let status = |code| ApiError::from_elliptics_status(code).status().as_u16();
        for code in [-2, -84] {
            assert_eq!(status(code), 404, "{code}");
        }
        assert_eq!(status(-77), 409);
        for code in [-6, -110, -5, -30, -111] {
            assert_eq!(status(code), 503, "{code}");
        }
        assert_eq!(status(-22), 400);
        assert_eq!(status(-28), 507);
        assert_eq!(status(-90), 413);
        assert_eq!(status(-1), 502);
        assert_eq!(status(-95), 502);
        assert_eq!(status(0), 502);
    }

    #[test]
    fn storage_errors_map_by_kind_as_by_status() {
        use elliptics::Error;
        let errors = [
            Error::NotFound,
            Error::Timeout,
            Error::NoRoute { group: 1 },
            Error::ConnectionClosed,
            Error::Protocol("x".into()),
            Error::InvalidArgument("x".into()),
            Error::from_status(code::ENOSPC),
            Error::from_status(code::EDQUOT),
            Error::Io(std::io::Error::from_raw_os_error(111)),
            Error::AllGroupsFailed {
                errors: vec![(1, Error::NoRoute { group: 1 }), (2, Error::NotFound)],
            },
        ];
        for e in &errors {
            assert_eq!(
                ApiError::from_storage(e),
                ApiError::from_elliptics_status(e.status()),
                "{e}"
            );
        }
    }

    #[test]
    fn messages_do_not_leak_errno() {
        for code in [-2, -5, -22, -28, -1000] {
            let text = ApiError::from_elliptics_status(code).body().to_string();
            assert!(!text.contains(&code.to_string()), "{text}");
        }
    }
}
