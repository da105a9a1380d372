//! Bucket ACL checks: who may read, write, delete or administer a bucket.
//!
//! Decision order, following Go Backrunner's `check_auth` (protocol reference §14.2):
//!
//! 1. an empty ACL makes the bucket public: everything is allowed;
//! 2. the user is the one of the `Authorization` header, or `*` when the header is missing or
//!    malformed; a user absent from the ACL is refused;
//! 3. the operation's required flag must be set: [`AclFlags::WRITE`] for uploads and deletes,
//!    [`AclFlags::ADMIN`] for admin operations, nothing for reads (flags do not imply each
//!    other: an admin without WRITE cannot upload, as in Go);
//! 4. a user with [`AclFlags::NO_TOKEN`] is allowed without any signature check — for
//!    writes too when it also has WRITE (Go's test matrix: flags 3 + wrong token uploads);
//! 5. otherwise the request signature must match the user's token (or one of its extra tokens
//!    during a rotation, see [`ExtraTokens`]).
//!
//! Status rule: a refusal is **401** when the request carried no usable credentials (no
//! `Authorization` header, or a malformed one), so the client knows that signing may help;
//! it is **403** when credentials were presented and refused (unknown user, missing flag, bad
//! signature). Go Backrunner answered 403 in every case. Error messages name the user and the
//! operation, never a token or the expected signature.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use backrunner_store::bucket::{AclEntry, AclFlags, BucketMetadata};
use http::StatusCode;

use crate::error::ApiError;
use crate::signature::{CanonicalRequest, ParsedAuthorization};

/// What a request wants to do with a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Get, lookup, HEAD.
    Read,
    /// Upload.
    Write,
    /// Delete and bulk delete.
    Delete,
    /// Bucket administration.
    Admin,
}

impl Operation {
    /// The ACL flag the user needs besides a valid signature.
    pub fn required_flags(self) -> AclFlags {
        match self {
            Operation::Read => AclFlags::NONE,
            Operation::Write | Operation::Delete => AclFlags::WRITE,
            Operation::Admin => AclFlags::ADMIN,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::Delete => "delete",
            Operation::Admin => "admin",
        })
    }
}

/// Why the request was let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessGrant {
    /// The bucket has an empty ACL.
    PublicBucket,
    /// The user has [`AclFlags::NO_TOKEN`].
    NoTokenFlag,
    /// The signature matched the user's current token.
    CurrentToken,
    /// The signature matched extra token number `n` (0-based) of the user.
    ExtraToken(usize),
}

/// A request that passed the ACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizedUser {
    /// The user the request acts as (`*` for anonymous; the header's user on public buckets).
    pub user: String,
    /// Why it was allowed.
    pub grant: AccessGrant,
}

/// Why the request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No usable credentials and the anonymous user `*` may not do this (401).
    #[error("bucket requires a signed request to {operation}")]
    MissingCredentials {
        /// The refused operation.
        operation: Operation,
    },
    /// The header's user is not in the ACL (403).
    #[error("user '{user}' is not in the bucket ACL")]
    UnknownUser {
        /// The claimed user.
        user: String,
    },
    /// The user lacks the flag the operation needs (403).
    #[error("user '{user}' may not {operation} in this bucket")]
    NotPermitted {
        /// The user.
        user: String,
        /// The refused operation.
        operation: Operation,
    },
    /// The signature does not match the user's token (403).
    #[error("signature mismatch for user '{user}'")]
    SignatureMismatch {
        /// The user.
        user: String,
    },
}

impl AuthError {
    /// 401 for missing credentials, 403 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingCredentials { .. } => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> ApiError {
        match err {
            AuthError::MissingCredentials { .. } => ApiError::Unauthorized(err.to_string()),
            _ => ApiError::Forbidden(err.to_string()),
        }
    }
}

/// Tokens accepted for a user besides the one in the bucket metadata, e.g. the previous token
/// during a rotation.
pub trait ExtraTokens {
    /// The extra tokens of `user` (empty when none).
    fn extra_tokens(&self, user: &str) -> &[String];
}

/// No extra tokens: only the metadata's token is accepted.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoExtraTokens;

impl ExtraTokens for NoExtraTokens {
    fn extra_tokens(&self, _user: &str) -> &[String] {
        &[]
    }
}

impl ExtraTokens for BTreeMap<String, Vec<String>> {
    fn extra_tokens(&self, user: &str) -> &[String] {
        self.get(user).map(Vec::as_slice).unwrap_or_default()
    }
}

impl ExtraTokens for HashMap<String, Vec<String>> {
    fn extra_tokens(&self, user: &str) -> &[String] {
        self.get(user).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Checks `auth` against the bucket ACL for `operation` (see the module docs).
pub fn authorize(
    meta: &BucketMetadata,
    operation: Operation,
    auth: &ParsedAuthorization,
    canonical: &CanonicalRequest,
) -> Result<AuthorizedUser, AuthError> {
    authorize_with_tokens(meta, operation, auth, canonical, &NoExtraTokens)
}

/// [`authorize`], also accepting the extra tokens `extra` knows for the user.
pub fn authorize_with_tokens(
    meta: &BucketMetadata,
    operation: Operation,
    auth: &ParsedAuthorization,
    canonical: &CanonicalRequest,
    extra: &impl ExtraTokens,
) -> Result<AuthorizedUser, AuthError> {
    let allowed = |grant| {
        Ok(AuthorizedUser {
            user: auth.user.clone(),
            grant,
        })
    };
    if meta.is_public() {
        return allowed(AccessGrant::PublicBucket);
    }
    authorize_entries(&meta.acl, operation, auth, canonical, extra)
}

/// The checks of [`authorize_with_tokens`] after the public-bucket rule, over any ACL (a
/// bucket's or a bucket directory's): rules 2 to 5 of the module docs.
pub fn authorize_entries(
    acl: &BTreeMap<String, AclEntry>,
    operation: Operation,
    auth: &ParsedAuthorization,
    canonical: &CanonicalRequest,
    extra: &impl ExtraTokens,
) -> Result<AuthorizedUser, AuthError> {
    let presented = Presented {
        user: &auth.user,
        has_credentials: auth.has_credentials(),
    };
    let signature = auth.signature.as_deref();
    authorize_presented(acl, operation, &presented, extra, |token| {
        signature.is_some_and(|s| canonical.verify(token, s))
    })
}

/// Who a request says it is, for [`authorize_presented`].
#[derive(Clone, Copy, Debug)]
pub struct Presented<'a> {
    /// The user (`*` for anonymous).
    pub user: &'a str,
    /// Whether the request carried usable credentials (decides 401 versus 403).
    pub has_credentials: bool,
}

/// Rules 2 to 5 of the module docs for any proof of a token: `proves(token)` says whether
/// the request proves knowledge of `token` (a riftv1 signature made with it, or an S3
/// signature the S3 front verified with it). Shared by the Backrunner API and the S3 front
/// so that ACL flags mean the same in both.
pub fn authorize_presented(
    acl: &BTreeMap<String, AclEntry>,
    operation: Operation,
    presented: &Presented<'_>,
    extra: &impl ExtraTokens,
    proves: impl Fn(&str) -> bool,
) -> Result<AuthorizedUser, AuthError> {
    let user = presented.user;
    let allowed = |grant| {
        Ok(AuthorizedUser {
            user: user.to_owned(),
            grant,
        })
    };
    let refuse = |presented_error: AuthError| {
        if presented.has_credentials {
            Err(presented_error)
        } else {
            Err(AuthError::MissingCredentials { operation })
        }
    };
    let Some(entry) = acl.get(user) else {
        return refuse(AuthError::UnknownUser {
            user: user.to_owned(),
        });
    };
    if !entry.flags.contains(operation.required_flags()) {
        return refuse(AuthError::NotPermitted {
            user: user.to_owned(),
            operation,
        });
    }
    if entry.flags.contains(AclFlags::NO_TOKEN) {
        return allowed(AccessGrant::NoTokenFlag);
    }
    if proves(&entry.token) {
        return allowed(AccessGrant::CurrentToken);
    }
    for (n, token) in extra.extra_tokens(user).iter().enumerate() {
        if proves(token) {
            return allowed(AccessGrant::ExtraToken(n));
        }
    }
    refuse(AuthError::SignatureMismatch {
        user: user.to_owned(),
    })
}

/// Checks `auth` for administration ([`Operation::Admin`]) under `acl` (a bucket's or a
/// bucket directory's), stricter than [`authorize_entries`]: an empty ACL grants nobody
/// administration (a public bucket is not administered by the public), and the request
/// must be signed with the user's token (or an extra token) even when the user has
/// [`AclFlags::NO_TOKEN`].
pub fn authorize_admin(
    acl: &BTreeMap<String, AclEntry>,
    auth: &ParsedAuthorization,
    canonical: &CanonicalRequest,
    extra: &impl ExtraTokens,
) -> Result<AuthorizedUser, AuthError> {
    let operation = Operation::Admin;
    let refuse = |presented_error: AuthError| {
        if auth.has_credentials() {
            Err(presented_error)
        } else {
            Err(AuthError::MissingCredentials { operation })
        }
    };
    let Some(entry) = acl.get(&auth.user) else {
        return refuse(AuthError::UnknownUser {
            user: auth.user.clone(),
        });
    };
    if !entry.flags.contains(AclFlags::ADMIN) {
        return refuse(AuthError::NotPermitted {
            user: auth.user.clone(),
            operation,
        });
    }
    let mismatch = AuthError::SignatureMismatch {
        user: auth.user.clone(),
    };
    let Some(signature) = auth.signature.as_deref() else {
        return refuse(mismatch);
    };
    let grant = if canonical.verify(&entry.token, signature) {
        AccessGrant::CurrentToken
    } else if let Some(n) = extra
        .extra_tokens(&auth.user)
        .iter()
        .position(|token| canonical.verify(token, signature))
    {
        AccessGrant::ExtraToken(n)
    } else {
        return refuse(mismatch);
    };
    Ok(AuthorizedUser {
        user: auth.user.clone(),
        grant,
    })
}

#[cfg(test)]
mod tests;
