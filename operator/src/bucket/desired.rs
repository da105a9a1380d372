//! What a Bucket should look like in Elliptics, computed from its spec and its AclPolicies'
//! tokens without any I/O: the metadata object, its digest, the token-alias record and the
//! ACL summary for status.
//!
//! ACL rules (DESIGN contract 4):
//! - no `aclPolicyRefs`: empty ACL, a public bucket (reads and writes without a signature);
//! - every user of every referenced policy becomes an entry `[1, user, token, flags]` with the
//!   policy's permission flags (read implied, 2 write, 4 admin, 1 no-token);
//! - `publicRead` with users adds the anonymous user `*` with flag 1 (no token) and an empty
//!   token: unsigned requests act as `*`, which may read but not write. With no users the
//!   bucket is public anyway and `publicRead` adds nothing.

use backrunner_crds::AclPolicySpec;
use backrunner_crds::bucket::{AclUserSummary, BucketSpec, reasons};
use backrunner_store::bucket::{AclEntry, AclFlags, BucketMetadata};
use backrunner_store::token_aliases::{TokenAlias, TokenAliases};
use sha2::{Digest, Sha256};

use crate::acl_policy::rotation::{PreviousToken, TokenBook};

/// The anonymous user of requests without credentials.
pub const ANONYMOUS_USER: &str = "*";

/// ACL entry version written (what Go Backrunner's own tools write).
pub const ACL_ENTRY_VERSION: u64 = 1;

/// One referenced policy with the token book of its owned Secret (`None`: no Secret yet).
#[derive(Clone, Debug)]
pub struct PolicyTokens {
    /// Policy name.
    pub name: String,
    /// Its spec.
    pub spec: AclPolicySpec,
    /// Its tokens.
    pub book: Option<TokenBook>,
}

/// A user as written into the bucket ACL.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User name.
    pub name: String,
    /// ACL flags.
    pub flags: u64,
    /// Policy it comes from.
    pub policy: String,
    /// Current token.
    pub token: String,
    /// Previous token during a rotation overlap.
    pub previous: Option<PreviousToken>,
}

impl std::fmt::Debug for ResolvedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedUser")
            .field("name", &self.name)
            .field("flags", &self.flags)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Why the users of a Bucket cannot be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A referenced policy has no token yet for a user.
    #[error("AclPolicy {policy}: no token yet for user {user}")]
    PolicyNotReady {
        /// Policy name.
        policy: String,
        /// User without a token.
        user: String,
    },
    /// Two referenced policies define the same user.
    #[error("user {user} is defined by AclPolicies {first} and {second}")]
    DuplicateUser {
        /// User name.
        user: String,
        /// First policy.
        first: String,
        /// Second policy.
        second: String,
    },
}

impl ResolveError {
    /// The Synced condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            ResolveError::PolicyNotReady { .. } => reasons::ACL_POLICY_NOT_READY,
            ResolveError::DuplicateUser { .. } => reasons::DUPLICATE_USER,
        }
    }
}

/// The users of every policy with their tokens (previous ones only while live at `now`).
pub fn resolve_users(
    policies: &[PolicyTokens],
    now: u64,
) -> Result<Vec<ResolvedUser>, ResolveError> {
    let mut out: Vec<ResolvedUser> = Vec::new();
    for policy in policies {
        for user in &policy.spec.users {
            if let Some(first) = out.iter().find(|u| u.name == user.name) {
                return Err(ResolveError::DuplicateUser {
                    user: user.name.clone(),
                    first: first.policy.clone(),
                    second: policy.name.clone(),
                });
            }
            let tokens = policy
                .book
                .as_ref()
                .and_then(|b| b.users.get(&user.name))
                .ok_or_else(|| ResolveError::PolicyNotReady {
                    policy: policy.name.clone(),
                    user: user.name.clone(),
                })?;
            out.push(ResolvedUser {
                name: user.name.clone(),
                flags: user.permissions.flags(),
                policy: policy.name.clone(),
                token: tokens.current.clone(),
                previous: tokens.live_previous(now).cloned(),
            });
        }
    }
    Ok(out)
}

/// The metadata object of bucket `name` (see the module docs for the ACL).
pub fn build_metadata(name: &str, spec: &BucketSpec, users: &[ResolvedUser]) -> BucketMetadata {
    let mut meta = BucketMetadata::new(name);
    meta.groups = spec.groups.clone();
    meta.max_size = spec.quota.max_size;
    meta.max_key_num = spec.quota.max_objects;
    for u in users {
        meta.acl.insert(
            u.name.clone(),
            AclEntry {
                version: ACL_ENTRY_VERSION,
                user: u.name.clone(),
                token: u.token.clone(),
                flags: AclFlags::from_bits_retain(u.flags),
            },
        );
    }
    if spec.public_read && !users.is_empty() {
        meta.acl.insert(
            ANONYMOUS_USER.to_owned(),
            AclEntry {
                version: ACL_ENTRY_VERSION,
                user: ANONYMOUS_USER.to_owned(),
                token: String::new(),
                flags: AclFlags::NO_TOKEN,
            },
        );
    }
    meta
}

/// Hex SHA-256 of the encoded metadata object.
pub fn metadata_digest(meta: &BucketMetadata) -> String {
    hex::encode(Sha256::digest(meta.encode()))
}

/// The token-alias record: every user's previous token while it is live.
pub fn build_aliases(users: &[ResolvedUser]) -> TokenAliases {
    let mut record = TokenAliases::new();
    for u in users {
        if let Some(p) = &u.previous {
            record.users.insert(
                u.name.clone(),
                vec![TokenAlias {
                    token: p.token.clone(),
                    expires_at: p.expires_at,
                }],
            );
        }
    }
    record
}

/// The earliest expiry among the users' previous tokens.
pub fn next_alias_expiry(users: &[ResolvedUser]) -> Option<u64> {
    users
        .iter()
        .filter_map(|u| u.previous.as_ref().map(|p| p.expires_at))
        .min()
}

/// The ACL for status: names, flags and policies, never tokens, in ACL order.
pub fn acl_summary(meta: &BucketMetadata, users: &[ResolvedUser]) -> Vec<AclUserSummary> {
    meta.acl
        .values()
        .map(|e| AclUserSummary {
            name: e.user.clone(),
            flags: e.flags.bits(),
            policy: users
                .iter()
                .find(|u| u.name == e.user)
                .map(|u| u.policy.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests;
