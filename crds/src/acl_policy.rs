//! `AclPolicy`: named users with permissions and tokens, shared by the Buckets that reference it.
//!
//! Read access is implied for every user; `write`, `admin` and `noToken` map onto the Elliptics
//! ACL flag bits of DESIGN contract 4 ([`Permissions::flags`]). A user's token comes from a
//! referenced Secret, or is generated into the Secret the operator owns
//! ([`generated_secret_name`]). Status only ever shows [`token_fingerprint`]s.
//!
//! Rotation: bumping `rotation.generation` makes the operator generate a new token (for a
//! referenced Secret, changing the Secret's value is the rotation). For `overlapSeconds` the
//! previous token keeps working beside the new one; then it is dropped.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::condition::{Condition, conditions_list_schema};

/// ACL flag: requests of this user are not checked for a signature.
pub const FLAG_NO_TOKEN: u64 = 1;
/// ACL flag: the user may upload and delete.
pub const FLAG_WRITE: u64 = 2;
/// ACL flag: the user administers the bucket.
pub const FLAG_ADMIN: u64 = 4;

/// Pattern of a user name (no `*`, which is the anonymous user, and no `:`, which separates
/// user and signature in the `Authorization` header).
pub const USER_NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]*$";

/// Suffix of the operator-owned Secret holding generated tokens.
pub const GENERATED_SECRET_SUFFIX: &str = "-acl-tokens";

/// Default overlap during which the previous token still works (one hour).
pub const DEFAULT_OVERLAP_SECONDS: u32 = 3600;

/// Stable `reason` values of `AclPolicy` conditions.
pub mod reasons {
    /// Ready/Synced=True: every user has a token.
    pub const TOKENS_RESOLVED: &str = "TokensResolved";
    /// Ready=True, Synced=True: a rotation overlap is in progress.
    pub const ROTATING: &str = "Rotating";
    /// Synced=False: a `tokenSecretRef` names a missing Secret.
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// Synced=False: the Secret lacks the referenced key.
    pub const SECRET_KEY_MISSING: &str = "SecretKeyMissing";
    /// Synced=False: the token is empty or not valid UTF-8.
    pub const INVALID_TOKEN: &str = "InvalidToken";
    /// Synced=False: writing the generated-token Secret failed.
    pub const SECRET_WRITE_FAILED: &str = "SecretWriteFailed";
    /// Any condition: the spec is invalid (details in the message).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Any condition: the controller has not finished its first pass.
    pub const PENDING: &str = "Pending";
}

/// Desired state of an `AclPolicy`.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "backrunner.io",
    version = "v1alpha1",
    kind = "AclPolicy",
    plural = "aclpolicies",
    namespaced,
    status = "AclPolicyStatus",
    derive = "PartialEq",
    shortname = "aclp",
    category = "backrunner",
    doc = "Users, permissions and tokens that Buckets grant through aclPolicyRefs.",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Buckets","type":"integer","description":"Buckets referencing the policy","jsonPath":".status.boundBuckets"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::kubernetes_formats)]
pub struct AclPolicySpec {
    /// The users, unique by name.
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub users: Vec<AclUser>,
}

/// One user of a policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclUser {
    /// User name, as sent in `Authorization: <scheme> <user>:<signature>`.
    #[schemars(length(min = 1, max = 63), pattern(USER_NAME_PATTERN))]
    pub name: String,
    /// What the user may do beyond reading.
    #[serde(default)]
    pub permissions: Permissions,
    /// Where the token is; generated into the operator's Secret when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeyRef>,
    /// Token rotation.
    #[serde(default)]
    pub rotation: Rotation,
}

/// Permissions of a user; reading is always allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Permissions {
    /// Upload and delete.
    pub write: bool,
    /// Administer the bucket.
    pub admin: bool,
    /// Requests need no signature (anyone naming this user gets its rights).
    pub no_token: bool,
}

impl Permissions {
    /// The Elliptics ACL flags (`backrunner_store::bucket::AclFlags` bits): no-token 1, write 2, admin 4.
    pub fn flags(self) -> u64 {
        let mut flags = 0;
        if self.no_token {
            flags |= FLAG_NO_TOKEN;
        }
        if self.write {
            flags |= FLAG_WRITE;
        }
        if self.admin {
            flags |= FLAG_ADMIN;
        }
        flags
    }

    /// The permissions encoded in `flags` (unknown bits are ignored).
    pub fn from_flags(flags: u64) -> Self {
        Permissions {
            write: flags & FLAG_WRITE != 0,
            admin: flags & FLAG_ADMIN != 0,
            no_token: flags & FLAG_NO_TOKEN != 0,
        }
    }
}

/// A key of a Secret in the policy's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Rotation settings of a user's token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Rotation {
    /// Bump to rotate a generated token; the operator records the generation it applied.
    pub generation: u32,
    /// How long the previous token keeps working after a rotation.
    #[schemars(range(max = 604800))]
    pub overlap_seconds: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            generation: 0,
            overlap_seconds: DEFAULT_OVERLAP_SECONDS,
        }
    }
}

/// Name of the operator-owned Secret with the generated tokens of policy `policy`; each
/// user's token is under the key equal to the user name.
pub fn generated_secret_name(policy: &str) -> String {
    format!("{policy}{GENERATED_SECRET_SUFFIX}")
}

/// Fingerprint of a token for status and logs: the first 16 hex digits of its SHA-256.
pub fn token_fingerprint(token: &[u8]) -> String {
    let digest = Sha256::digest(token);
    hex::encode(&digest[..8])
}

impl AclPolicySpec {
    /// The user called `name`, if any.
    pub fn user(&self, name: &str) -> Option<&AclUser> {
        self.users.iter().find(|u| u.name == name)
    }

    /// `(name, flags)` of every user, in spec order.
    pub fn user_flags(&self) -> impl Iterator<Item = (&str, u64)> {
        self.users
            .iter()
            .map(|u| (u.name.as_str(), u.permissions.flags()))
    }
}

/// Observed state of an `AclPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::kubernetes_formats)]
pub struct AclPolicyStatus {
    /// `metadata.generation` last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions_list_schema)]
    pub conditions: Vec<Condition>,
    /// Per-user token state, unique by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub users: Vec<AclUserStatus>,
    /// Number of Buckets referencing the policy.
    #[serde(default)]
    pub bound_buckets: u32,
}

/// Token state of one user; never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclUserStatus {
    /// User name.
    pub name: String,
    /// [`token_fingerprint`] of the current token.
    pub fingerprint: String,
    /// Fingerprint of the previous token while it still works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_fingerprint: Option<String>,
    /// Where the rotation stands.
    #[serde(default)]
    pub rotation_phase: RotationPhase,
    /// `rotation.generation` the current token belongs to.
    #[serde(default)]
    pub rotation_generation: u32,
    /// When the previous token stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_expires_at: Option<Time>,
}

/// Rotation progress of one user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RotationPhase {
    /// One token.
    #[default]
    Stable,
    /// New token active, previous one accepted until `previousExpiresAt`.
    Overlap,
}

#[cfg(test)]
mod tests;
