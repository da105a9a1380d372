//! Backrunner's S3-compatible front end (issue 13): aws-cli, boto3 and rclone over the same
//! buckets, ACLs and objects as the Backrunner API.
//!
//! The S3 protocol itself — SigV4/SigV2 (header, presigned, streaming chunk signatures),
//! path-style addressing, XML bodies and the error format — is the [`s3s`] crate's; this
//! crate implements its traits over the proxy's [`backrunner_proxy::AppState`]:
//!
//! | module | what it does |
//! |---|---|
//! | [`front`] | the axum router of the S3 listener: trace id and span per request, and the retry of a signature check over a user's candidate tokens |
//! | [`credentials`] | access key id → secret: which tokens an ACL user name may have signed with ([`s3s::auth::S3Auth`]) |
//! | [`access`] | which ACL operation each S3 operation needs, checked against the bucket's ACL ([`s3s::access::S3Access`]) |
//! | [`backend`] | the S3 operations ([`s3s::S3`]) over `backrunner_store::object` and the key index |
//! | [`digest`] | an upload body's MD5 and declared checksums, checked before it is published (`BadDigest`) |
//! | [`etag`] | ETags: MD5 of a single PUT, of small objects on read; identity tags otherwise |
//! | [`listing`] | ListObjects V1 and V2 from the bucket's key index |
//! | [`error`] | every failure as an S3 error code (`NoSuchKey`, `AccessDenied`, ...) |
//!
//! Why a crate of its own rather than `proxy/src/s3/`: the proxy's state, ACL checks and
//! upload/read paths are public functions of `backrunner-proxy`, so this front needs
//! nothing private; `s3s` (and its XML, crypto and checksum dependencies) stays out of the
//! proxy library and its tests; the `cli` serves both fronts from one process, as it
//! serves HTTP and HTTPS today.

pub mod access;
pub mod backend;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod etag;
pub mod front;
pub mod listing;

pub use front::router;
