//! Access key id → secret: an ACL user's name is its access key id and its token the
//! secret key.
//!
//! ## Why a user name has candidate secrets, and how one is chosen
//!
//! An ACL user lives in a bucket's ACL: user `alice` of bucket `a` and user `alice` of
//! bucket `b` may have different tokens, and during a rotation a user has its current
//! token plus the previous ones until they expire (token aliases). A SigV4 request names
//! only the access key id, and [`s3s`] verifies its signature against the one secret
//! [`S3Auth::get_secret_key`] returns. So a name maps to a *list* of candidate secrets:
//!
//! 1. when the request's path names a bucket whose ACL has the user: that entry's token,
//!    then the user's live aliases in that bucket (rotation overlap);
//! 2. otherwise (ListBuckets, a bucket that does not name the user, an unknown bucket):
//!    every distinct token and live alias of that user name across the cached buckets,
//!    plus the `[admin]` bootstrap token when the name is the admin's.
//!
//! [`crate::front`] runs the request with candidate 0; when the signature check fails
//! before the request body was touched (s3s checks header and presigned signatures before
//! reading a byte of the body) it runs the request again with the next candidate, up to
//! [`MAX_CANDIDATES`]. A candidate that verifies proves the caller knows that token;
//! nothing more is assumed: [`crate::access`] then checks that token against the ACL of
//! the bucket the operation touches (a token proved for bucket `a` does not open bucket
//! `b` unless `b`'s entry for the same name has the same token or alias). The per-request
//! attempt number travels in a task-local ([`Attempt`]), since [`S3Auth`] sees only the
//! access key.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use backrunner_proxy::AppState;
use backrunner_proxy::acl::ExtraTokens;
use backrunner_proxy::token_aliases::unix_now;
use s3s::S3Result;
use s3s::auth::{S3Auth, SecretKey};

/// Most secrets tried for one request (a user name in many buckets with many tokens).
pub const MAX_CANDIDATES: usize = 16;

tokio::task_local! {
    /// The signature attempt of the request being served.
    pub(crate) static ATTEMPT: Arc<Attempt>;
}

/// One run of a request through s3s with one candidate secret.
#[derive(Debug, Default)]
pub struct Attempt {
    /// The bucket the request's path names (path-style addressing), if any.
    pub bucket: Option<String>,
    /// Which candidate this run uses.
    pub index: usize,
    /// Whether s3s asked for a secret (the request is signed).
    pub asked: AtomicBool,
    /// Whether candidates follow this one.
    pub more: AtomicBool,
    /// Whether the signature verified (s3s reached the access check).
    pub verified: AtomicBool,
    /// How many candidates the user name had.
    pub candidates: AtomicUsize,
}

impl Attempt {
    /// Attempt `index` of a request naming `bucket`.
    pub fn new(bucket: Option<String>, index: usize) -> Attempt {
        Attempt {
            bucket,
            index,
            ..Attempt::default()
        }
    }

    /// Whether the next candidate should be tried: the request was signed, its signature
    /// did not verify with this one, and another exists.
    pub fn retry_with_next(&self) -> bool {
        self.asked.load(Ordering::Acquire)
            && !self.verified.load(Ordering::Acquire)
            && self.more.load(Ordering::Acquire)
    }
}

/// The [`S3Auth`] of the front: the candidate secret of the current [`Attempt`].
#[derive(Debug, Clone)]
pub struct CredentialLookup {
    state: AppState,
}

impl CredentialLookup {
    /// Over the proxy's bucket cache.
    pub fn new(state: AppState) -> CredentialLookup {
        CredentialLookup { state }
    }

    /// The candidate secrets of `user` for a request naming `bucket` (module docs).
    pub async fn candidates(&self, user: &str, bucket: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |token: &str| {
            if !token.is_empty() && out.len() < MAX_CANDIDATES && !out.iter().any(|t| t == token) {
                out.push(token.to_owned());
            }
        };
        if user.is_empty() || user == backrunner_proxy::signature::ANONYMOUS_USER {
            return out;
        }
        let now = unix_now();
        if let Some(name) = bucket
            && let Ok(meta) = self.state.buckets.get(name).await
            && let Some(entry) = meta.acl.get(user)
        {
            push(&entry.token);
            let aliases = self.state.buckets.live_aliases(&meta.name, now);
            aliases.extra_tokens(user).iter().for_each(|t| push(t));
            return out;
        }
        for meta in self.state.buckets.snapshot() {
            if let Some(entry) = meta.acl.get(user) {
                push(&entry.token);
                let aliases = self.state.buckets.live_aliases(&meta.name, now);
                aliases.extra_tokens(user).iter().for_each(|t| push(t));
            }
        }
        if let Some(admin) = self.state.config.admin.as_ref().filter(|a| a.user == user) {
            push(&admin.token);
        }
        out
    }
}

#[async_trait::async_trait]
impl S3Auth for CredentialLookup {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let attempt = ATTEMPT.try_with(Arc::clone).ok();
        let bucket = attempt.as_ref().and_then(|a| a.bucket.clone());
        let candidates = self.candidates(access_key, bucket.as_deref()).await;
        let index = attempt.as_ref().map_or(0, |a| a.index);
        if let Some(a) = &attempt {
            a.asked.store(true, Ordering::Release);
            a.candidates.store(candidates.len(), Ordering::Release);
            a.more
                .store(index + 1 < candidates.len(), Ordering::Release);
        }
        match candidates.into_iter().nth(index) {
            Some(token) => Ok(SecretKey::from(token)),
            None => {
                tracing::info!(user = access_key, "S3 access key names no ACL user");
                Err(s3s::s3_error!(
                    InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records."
                ))
            }
        }
    }
}
