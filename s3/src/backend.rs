//! The S3 operations over the proxy's objects ([`s3s::S3`]). Everything goes through the
//! code paths of the Backrunner API, so both fronts share one object space:
//!
//! - PutObject and CopyObject write with the upload path of `/upload`
//!   ([`write_upload`]: size limits, upload budget, key index intent and commit, single
//!   record or parts + manifest), the body hashed on its way and published only when it
//!   matches its declared digests ([`crate::digest`]; its MD5 is the ETag);
//! - GetObject and HeadObject read with `backrunner_store::object` and decide conditionals
//!   and `Range` with the rules of `/get` ([`evaluate`]);
//! - DeleteObject(s) remove with `/delete`'s logged tombstones ([`remove_indexed`]);
//! - ListObjects V1/V2 read the key index ([`crate::listing`]).
//!
//! What the object format cannot carry is not invented here: `Content-Type` comes from the
//! key's extension (the proxy's `[content_types]`), as on `/get`; `x-amz-meta-*` and other
//! stored headers of a PutObject are accepted and not stored (a debug log line says so).
//! Empty objects cannot be stored (a record must have bytes): PutObject of 0 bytes is
//! `InvalidRequest`.

use std::sync::Arc;

use axum::body::Body;
use backrunner_proxy::ApiError;
use backrunner_proxy::AppState;
use backrunner_proxy::acl::Operation;
use backrunner_proxy::handlers::delete::remove_indexed;
use backrunner_proxy::handlers::upload::{Declared, write_upload};
use backrunner_proxy::handlers::{data_session, object_read_error, read_session, storage_error};
use backrunner_proxy::range::etag::identity_etag;
use backrunner_proxy::range::{ByteRange, ConditionalRequest, Decision, evaluate};
use backrunner_proxy::request::RequestInfo;
use backrunner_store::bucket::BucketMetadata;
use backrunner_store::object::{self, ObjectBody, ObjectHead};
use bytes::{Bytes, BytesMut};
use elliptics::Session;
use futures_util::{StreamExt, TryStreamExt};
use http::Method;
use s3s::dto::{
    Bucket, BucketLocationConstraint, CopyObjectInput, CopyObjectOutput, CopyObjectResult,
    CopySource, CreateBucketInput, CreateBucketOutput, DeleteObjectInput, DeleteObjectOutput,
    DeleteObjectsInput, DeleteObjectsOutput, DeletedObject, GetBucketLocationInput,
    GetBucketLocationOutput, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput,
    HeadObjectInput, HeadObjectOutput, ListBucketsInput, ListBucketsOutput, ListObjectsInput,
    ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, PutObjectInput, PutObjectOutput,
    StreamingBlob, Timestamp,
};
use s3s::{S3, S3Request, S3Response, S3Result};
use subtle::ConstantTimeEq;

use crate::access::{Granted, authorize, authorize_bucket};
use crate::digest::BodyDigests;
use crate::error::FrontError;
use crate::etag;
use crate::listing;

/// Deletes of one DeleteObjects request run this many at a time.
const DELETE_CONCURRENCY: usize = 16;

/// The [`S3`] implementation over the proxy's state.
#[derive(Debug, Clone)]
pub struct Backend {
    state: AppState,
}

impl Backend {
    /// Over the proxy's state.
    pub fn new(state: AppState) -> Backend {
        Backend { state }
    }
}

/// The bucket the access check allowed (it runs for every bucket operation).
fn granted<T>(req: &S3Request<T>) -> Result<Arc<BucketMetadata>, FrontError> {
    req.extensions
        .get::<Granted>()
        .map(|g| Arc::clone(&g.bucket))
        .ok_or_else(|| FrontError::Denied("the request was not authorized".into()))
}

/// The request's parsed URI and trace id ([`crate::front`] stores it).
fn info<T>(req: &S3Request<T>) -> Arc<RequestInfo> {
    req.extensions
        .get::<Arc<RequestInfo>>()
        .cloned()
        .unwrap_or_else(|| Arc::new(RequestInfo::parse(&req.uri)))
}

/// An object opened for GET/HEAD/copy: its head, its ETag, and its bytes when they were
/// read whole (one record no larger than the part size: read whole to be verified anyway,
/// and hashed for the ETag).
struct Opened {
    head: ObjectHead,
    etag: String,
    whole: Option<Bytes>,
    body: Option<ObjectBody>,
}

impl Backend {
    async fn open(&self, session: &Session, key: &[u8]) -> Result<Opened, FrontError> {
        let (head, body) = object::open(session, key)
            .await
            .map_err(|e| object_read_error("read", &e))?;
        let limit = self.state.config.write_chunk_size as u64;
        if head.manifest.is_none() && head.size <= limit {
            let bytes = collect(body).await?;
            return Ok(Opened {
                etag: etag::md5_of(&bytes),
                head,
                whole: Some(bytes),
                body: None,
            });
        }
        let etag = match head.manifest.as_ref().and_then(|m| m.etag.clone()) {
            Some(etag) => etag,
            None => identity_etag(
                &session.id(key).0,
                head.size,
                head.timestamp.to_system_time(),
            ),
        };
        Ok(Opened {
            head,
            etag,
            whole: None,
            body: Some(body),
        })
    }

    /// The bytes `range` of an opened object (all of it when `None`).
    async fn bytes_of(
        &self,
        session: &Session,
        key: &[u8],
        opened: Opened,
        range: Option<ByteRange>,
    ) -> Result<StreamingBlob, FrontError> {
        let size = opened.head.size;
        match (opened.whole, range) {
            (Some(whole), None) => Ok(blob_of(whole)),
            (Some(whole), Some(r)) => {
                let (start, end) = (to_usize(r.start)?, to_usize(r.end)?);
                Ok(blob_of(
                    whole.slice(start..=end.min(whole.len().saturating_sub(1))),
                ))
            }
            (None, None) => match opened.body {
                Some(body) => Ok(stream_blob(body)),
                None => self.read(session, key, &opened.head, 0, size).await,
            },
            (None, Some(r)) => {
                self.read(session, key, &opened.head, r.start, r.length())
                    .await
            }
        }
    }

    async fn read(
        &self,
        session: &Session,
        key: &[u8],
        head: &ObjectHead,
        offset: u64,
        len: u64,
    ) -> Result<StreamingBlob, FrontError> {
        let stream = object::read_range(session, key, head, offset, len)
            .await
            .map_err(|e| object_read_error("read", &e))?;
        Ok(stream_blob(stream))
    }

    /// GET and HEAD: conditionals and `Range` as `/get` decides them.
    async fn serve(
        &self,
        req: &S3Request<impl Send>,
        key: &str,
        head_only: bool,
    ) -> Result<Served, FrontError> {
        let bucket = granted(req)?;
        let info = info(req);
        let key = key.as_bytes();
        let session = read_session(&self.state, &info, &bucket, key)?;
        let opened = self.open(&session, key).await?;
        let size = opened.head.size;
        let mtime = opened.head.timestamp.to_system_time();
        let conditions = ConditionalRequest::from_headers(&req.headers);
        let method = if head_only { Method::HEAD } else { Method::GET };
        let decision = evaluate(
            &method,
            &conditions,
            &opened.etag,
            mtime,
            size,
            self.state.config.max_ranges,
        );
        let range = match decision {
            Decision::NotModified => return Err(FrontError::NotModified),
            Decision::PreconditionFailed => return Err(ApiError::PreconditionFailed.into()),
            Decision::Unsatisfiable => {
                return Err(ApiError::RangeNotSatisfiable { size }.into());
            }
            Decision::Full | Decision::Multi(_) => None,
            Decision::Window(r) | Decision::Partial(r) => Some(r),
        };
        let served = Served {
            length: range.map_or(size, |r| r.length()),
            content_range: range.map(|r| r.content_range(size)),
            etag: opened.etag.clone(),
            last_modified: Timestamp::from(mtime),
            content_type: self.content_type(key),
            body: None,
        };
        if head_only {
            return Ok(served);
        }
        let body = self.bytes_of(&session, key, opened, range).await?;
        Ok(Served {
            body: Some(body),
            ..served
        })
    }

    fn content_type(&self, key: &[u8]) -> Option<s3s::dto::ContentType> {
        let text = String::from_utf8_lossy(key);
        Some(self.state.content_types.for_key(&text).to_owned())
    }

    /// Streams `body` (hashed by `digests`) into `bucket` under `key` with the upload path
    /// of `/upload`, publishing it only when its declared digests match; returns the quoted
    /// MD5 ETag.
    async fn store(
        &self,
        info: &RequestInfo,
        bucket: &BucketMetadata,
        key: &[u8],
        body: Body,
        digests: &BodyDigests,
        size: Option<u64>,
    ) -> Result<String, FrontError> {
        let declared = Declared { size, offset: 0 };
        let check = || digests.check();
        let stored = write_upload(&self.state, info, body, bucket, key, declared, Some(&check))
            .await
            .map_err(|e| match digests.mismatch() {
                Some(digest) => FrontError::BadDigest(digest),
                None => FrontError::from(e),
            })?;
        let etag = digests
            .etag()
            .ok_or_else(|| FrontError::from(ApiError::Internal))?;
        // Committed before the reply, so a listing right after shows the MD5 ETag.
        stored.commit(Some(&etag)).await;
        Ok(etag)
    }
}

/// What GET/HEAD answer.
struct Served {
    length: u64,
    content_range: Option<String>,
    etag: String,
    last_modified: Timestamp,
    content_type: Option<s3s::dto::ContentType>,
    body: Option<StreamingBlob>,
}

fn to_usize(n: u64) -> Result<usize, FrontError> {
    usize::try_from(n).map_err(|_| FrontError::InvalidArgument(format!("offset {n}")))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn collect(mut body: ObjectBody) -> Result<Bytes, FrontError> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| storage_error("read", &e))?;
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

fn blob_of(bytes: Bytes) -> StreamingBlob {
    StreamingBlob::from(s3s::Body::from(bytes))
}

/// A storage stream as a response body (s3s wants `Sync`; its body type provides it).
fn stream_blob(stream: ObjectBody) -> StreamingBlob {
    let body = Body::from_stream(stream.map_err(std::io::Error::other));
    StreamingBlob::from(s3s::Body::http_body_unsync(body))
}

/// A request body as the upload path reads it, hashed on its way.
fn upload_body(blob: StreamingBlob, digests: &BodyDigests) -> Body {
    Body::from_stream(digests.hash(blob))
}

fn ok<T>(output: T) -> S3Result<S3Response<T>> {
    Ok(S3Response::new(output))
}

#[async_trait::async_trait]
impl S3 for Backend {
    #[tracing::instrument(skip_all)]
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let credentials = req.credentials.as_ref();
        let is_admin = self.state.config.admin.as_ref().is_some_and(|a| {
            credentials.is_some_and(|c| {
                c.access_key == a.user
                    && bool::from(c.secret_key.expose().as_bytes().ct_eq(a.token.as_bytes()))
            })
        });
        let mut buckets: Vec<Bucket> = self
            .state
            .buckets
            .snapshot()
            .iter()
            .filter(|b| is_admin || authorize(&self.state, b, Operation::Read, credentials).is_ok())
            .map(|b| Bucket {
                name: Some(b.name.clone()),
                ..Bucket::default()
            })
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        ok(ListBucketsOutput {
            buckets: Some(buckets),
            ..ListBucketsOutput::default()
        })
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket))]
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        granted(&req)?;
        ok(HeadBucketOutput {
            bucket_region: self.state.config.s3.as_ref().map(|s| s.region.clone()),
            ..HeadBucketOutput::default()
        })
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket))]
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        granted(&req)?;
        // us-east-1 is answered as no constraint, as S3 does.
        let region = self.state.config.s3.as_ref().map(|s| s.region.clone());
        ok(GetBucketLocationOutput {
            location_constraint: region
                .filter(|r| r != "us-east-1")
                .map(BucketLocationConstraint::from),
        })
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket))]
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        // Only reached for an existing bucket the caller may read (see `access`).
        granted(&req)?;
        Err(FrontError::AlreadyOwned.into())
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket, key = %req.input.key))]
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        if req.input.part_number.is_some_and(|n| n != 1) {
            return Err(FrontError::NotImplemented("partNumber other than 1".into()).into());
        }
        let served = self.serve(&req, &req.input.key, false).await?;
        ok(GetObjectOutput {
            body: served.body,
            content_length: Some(to_i64(served.length)),
            content_range: served.content_range,
            content_type: served.content_type,
            e_tag: Some(etag::to_dto(&served.etag)),
            last_modified: Some(served.last_modified),
            accept_ranges: Some("bytes".into()),
            ..GetObjectOutput::default()
        })
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket, key = %req.input.key))]
    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let served = self.serve(&req, &req.input.key, true).await?;
        ok(HeadObjectOutput {
            content_length: Some(to_i64(served.length)),
            content_range: served.content_range,
            content_type: served.content_type,
            e_tag: Some(etag::to_dto(&served.etag)),
            last_modified: Some(served.last_modified),
            accept_ranges: Some("bytes".into()),
            ..HeadObjectOutput::default()
        })
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket, key = %req.input.key))]
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let bucket = granted(&req)?;
        let info = info(&req);
        let digests = BodyDigests::for_put(&req.input, &req.headers, req.trailing_headers.clone());
        let input = req.input;
        if input.metadata.as_ref().is_some_and(|m| !m.is_empty()) {
            tracing::debug!("x-amz-meta-* of a PutObject are not stored");
        }
        let size = match input.content_length {
            Some(n) => Some(
                u64::try_from(n)
                    .map_err(|_| FrontError::InvalidArgument(format!("Content-Length {n}")))?,
            ),
            None => None,
        };
        let Some(blob) = input.body.filter(|_| size != Some(0)) else {
            return Err(FrontError::InvalidRequest(
                "empty objects cannot be stored (a record must have bytes)".into(),
            )
            .into());
        };
        let body = upload_body(blob, &digests);
        let etag = self
            .store(&info, &bucket, input.key.as_bytes(), body, &digests, size)
            .await?;
        ok(PutObjectOutput {
            e_tag: Some(etag::to_dto(&etag)),
            ..PutObjectOutput::default()
        })
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket, key = %req.input.key))]
    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let bucket = granted(&req)?;
        let info = info(&req);
        let CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            ..
        } = &req.input.copy_source
        else {
            return Err(FrontError::NotImplemented("copy from an access point".into()).into());
        };
        if **source_bucket == *bucket.name && **source_key == *req.input.key {
            return Err(FrontError::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes."
                    .into(),
            )
            .into());
        }
        let source = authorize_bucket(
            &self.state,
            source_bucket,
            Operation::Read,
            req.credentials.as_ref(),
        )
        .await?;
        let source_key = source_key.as_bytes();
        let session =
            read_session(&self.state, &info, &source, source_key).map_err(FrontError::from)?;
        let opened = self.open(&session, source_key).await?;
        let size = opened.head.size;
        let blob = self.bytes_of(&session, source_key, opened, None).await?;
        let digests = BodyDigests::md5_only();
        let body = upload_body(blob, &digests);
        let etag = self
            .store(
                &info,
                &bucket,
                req.input.key.as_bytes(),
                body,
                &digests,
                Some(size),
            )
            .await?;
        ok(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag::to_dto(&etag)),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..CopyObjectResult::default()
            }),
            ..CopyObjectOutput::default()
        })
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket, key = %req.input.key))]
    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let bucket = granted(&req)?;
        let info = info(&req);
        let session = data_session(&self.state, &info, &bucket).map_err(FrontError::from)?;
        let index = self.state.indexes.of(&bucket);
        match remove_indexed(index.as_ref(), &session, req.input.key.as_bytes()).await {
            // Deleting a missing key succeeds in S3.
            Ok(_) | Err(ApiError::NotFound) => ok(DeleteObjectOutput::default()),
            Err(e) => Err(FrontError::from(e).into()),
        }
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket))]
    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = granted(&req)?;
        let info = info(&req);
        let session = data_session(&self.state, &info, &bucket).map_err(FrontError::from)?;
        let index = self.state.indexes.of(&bucket);
        let quiet = req.input.delete.quiet.unwrap_or(false);
        let keys: Vec<String> = req
            .input
            .delete
            .objects
            .iter()
            .map(|o| o.key.clone())
            .collect();
        let results: Vec<(String, Result<(), ApiError>)> = futures_util::stream::iter(keys)
            .map(|key| {
                let (session, index) = (&session, index.as_ref());
                async move {
                    let outcome = match remove_indexed(index, session, key.as_bytes()).await {
                        Ok(_) | Err(ApiError::NotFound) => Ok(()),
                        Err(e) => Err(e),
                    };
                    (key, outcome)
                }
            })
            .buffered(DELETE_CONCURRENCY)
            .collect()
            .await;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for (key, outcome) in results {
            match outcome {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(key),
                    ..DeletedObject::default()
                }),
                Err(e) => {
                    let s3 = s3s::S3Error::from(FrontError::from(e));
                    errors.push(s3s::dto::Error {
                        code: Some(s3.code().as_str().to_owned()),
                        key: Some(key),
                        message: s3.message().map(str::to_owned),
                        ..s3s::dto::Error::default()
                    });
                }
            }
        }
        ok(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..DeleteObjectsOutput::default()
        })
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket))]
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = granted(&req)?;
        let session = data_session(&self.state, &info(&req), &bucket).map_err(FrontError::from)?;
        let index = listing::index_of(&self.state, &bucket)?;
        ok(listing::list_v2(&index, &session, &req.input).await?)
    }

    #[tracing::instrument(skip_all, fields(bucket = %req.input.bucket))]
    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let bucket = granted(&req)?;
        let session = data_session(&self.state, &info(&req), &bucket).map_err(FrontError::from)?;
        let index = listing::index_of(&self.state, &bucket)?;
        ok(listing::list_v1(&index, &session, &req.input).await?)
    }
}
