//! Backrunner HTTP data plane: the pure building blocks of the Backrunner-compatible REST API
//! over Elliptics (issue 4). Nothing here does I/O; the HTTP layer composes these pieces.
//!
//! | module | what it decides |
//! |---|---|
//! | [`signature`] | canonical request string, HMAC-SHA512 signatures, `Authorization` parsing |
//! | [`acl`] | whether a user may read, write, delete or administer a bucket (401/403) |
//! | [`range`] | RFC 9110 conditionals (304/412), `Range` (206/416, multipart framing), ETags |
//! | [`content_type`] | `Content-Type` from the key's extension, overridable by config |
//! | [`selection`] | which bucket takes an upload without a bucket, from live backend state |
//! | [`error`] | every error reply: status and `{"error": ..., "status": N}` body |
//! | [`tls`] | the HTTPS certificate pair, reloaded when its files change or on SIGHUP |
//!
//! Bucket metadata itself (the msgpack object, ACL entries and flags) lives in
//! [`elliptics::bucket`], shared with the operator and the CLI.

pub mod acl;
pub mod content_type;
pub mod error;
pub mod range;
pub mod selection;
pub mod signature;
pub mod tls;

pub use error::ApiError;
