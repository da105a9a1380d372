//! Token state of an AclPolicy's users and the pure rotation state machine.
//!
//! The operator-owned Secret ([`backrunner_crds::acl_policy::generated_secret_name`]) is the
//! single place the Bucket controller reads tokens from:
//!
//! - data key `<user>`: the user's current token — generated, or a copy of the value of its
//!   `tokenSecretRef` (so that the previous value survives a change of the user's Secret);
//! - data key [`STATE_KEY`] (`_rotation`, never a user name: user names start with a letter
//!   or digit): JSON with, per user, the applied `rotation.generation`, the token's source and
//!   the previous token with its expiry while an overlap runs.
//!
//! [`step`] moves one user's state forward: first an expired previous token is dropped, then
//! a new token replaces the current one when there is none yet, when `rotation.generation`
//! moved past the applied one (generated tokens), when the referenced value changed, or when
//! the source changed. The replaced token stays valid for `overlapSeconds`.

use std::collections::BTreeMap;

use backrunner_crds::acl_policy::{AclUserStatus, Rotation, RotationPhase, token_fingerprint};
use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Secret data key of the rotation state.
pub const STATE_KEY: &str = "_rotation";

/// Source value of generated tokens.
pub const SOURCE_GENERATED: &str = "generated";

/// A replaced token that still works until `expires_at` (Unix seconds).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousToken {
    /// The token.
    pub token: String,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
}

impl std::fmt::Debug for PreviousToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Token state of one user.
#[derive(Clone, PartialEq, Eq)]
pub struct UserTokens {
    /// The current token.
    pub current: String,
    /// `rotation.generation` applied.
    pub generation: u32,
    /// [`SOURCE_GENERATED`] or `secret:<name>/<key>`.
    pub source: String,
    /// The previous token during an overlap.
    pub previous: Option<PreviousToken>,
}

impl std::fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTokens")
            .field("current", &token_fingerprint(self.current.as_bytes()))
            .field("generation", &self.generation)
            .field("source", &self.source)
            .field("previous", &self.previous)
            .finish()
    }
}

impl UserTokens {
    /// The previous token if it still works at `now`.
    pub fn live_previous(&self, now: u64) -> Option<&PreviousToken> {
        self.previous.as_ref().filter(|p| p.expires_at > now)
    }

    /// The user's status entry (fingerprints only).
    pub fn status(&self, name: &str, now: u64) -> AclUserStatus {
        let previous = self.live_previous(now);
        AclUserStatus {
            name: name.to_owned(),
            fingerprint: token_fingerprint(self.current.as_bytes()),
            previous_fingerprint: previous.map(|p| token_fingerprint(p.token.as_bytes())),
            rotation_phase: match previous {
                Some(_) => RotationPhase::Overlap,
                None => RotationPhase::Stable,
            },
            rotation_generation: self.generation,
            previous_expires_at: previous.and_then(|p| unix_to_time(p.expires_at)),
        }
    }
}

/// Kubernetes time of Unix seconds `secs`.
pub fn unix_to_time(secs: u64) -> Option<Time> {
    DateTime::<Utc>::from_timestamp(i64::try_from(secs).ok()?, 0).map(Time)
}

#[derive(Default, Serialize, Deserialize)]
struct StoredState {
    #[serde(default)]
    users: BTreeMap<String, StoredUser>,
}

#[derive(Serialize, Deserialize)]
struct StoredUser {
    generation: u32,
    source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<PreviousToken>,
}

/// Token state of every user of a policy, as kept in its owned Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenBook {
    /// Per user name.
    pub users: BTreeMap<String, UserTokens>,
}

impl TokenBook {
    /// Reads the book from Secret data; users without a token key or with a non-UTF-8 token
    /// are left out, a malformed state key reads as no state.
    pub fn from_secret_data(data: &BTreeMap<String, ByteString>) -> TokenBook {
        let state: StoredState = data
            .get(STATE_KEY)
            .and_then(|b| serde_json::from_slice(&b.0).ok())
            .unwrap_or_default();
        let mut users = BTreeMap::new();
        for (name, stored) in state.users {
            let Some(current) = data
                .get(&name)
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
            else {
                continue;
            };
            users.insert(
                name,
                UserTokens {
                    current,
                    generation: stored.generation,
                    source: stored.source,
                    previous: stored.previous,
                },
            );
        }
        TokenBook { users }
    }

    /// The Secret data holding this book.
    pub fn to_secret_data(&self) -> BTreeMap<String, ByteString> {
        let mut data = BTreeMap::new();
        let mut state = StoredState::default();
        for (name, user) in &self.users {
            data.insert(name.clone(), ByteString(user.current.clone().into_bytes()));
            state.users.insert(
                name.clone(),
                StoredUser {
                    generation: user.generation,
                    source: user.source.clone(),
                    previous: user.previous.clone(),
                },
            );
        }
        data.insert(
            STATE_KEY.to_owned(),
            ByteString(serde_json::to_vec(&state).unwrap_or_default()),
        );
        data
    }

    /// The earliest expiry of a previous token still live at `now`.
    pub fn next_expiry(&self, now: u64) -> Option<u64> {
        self.users
            .values()
            .filter_map(|u| u.live_previous(now).map(|p| p.expires_at))
            .min()
    }
}

/// Where a user's token comes from this time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource<'a> {
    /// Generated by the operator.
    Generated,
    /// The value read from `tokenSecretRef`; `source` is `secret:<name>/<key>`.
    Referenced {
        /// Source label.
        source: &'a str,
        /// The value.
        value: &'a str,
    },
}

impl TokenSource<'_> {
    fn label(&self) -> &str {
        match self {
            TokenSource::Generated => SOURCE_GENERATED,
            TokenSource::Referenced { source, .. } => source,
        }
    }
}

/// What [`step`] did to a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// First token of the user.
    Created,
    /// A new token replaced the current one (the old one works until the overlap ends).
    Rotated,
    /// The overlap of the previous rotation ended; only the current token works.
    OverlapEnded,
}

/// Moves one user's token state forward at `now` (see the module docs). `generate` makes a
/// fresh token when one is needed.
pub fn step(
    state: Option<&UserTokens>,
    rotation: &Rotation,
    source: TokenSource<'_>,
    now: u64,
    generate: impl FnOnce() -> String,
) -> (UserTokens, Vec<Transition>) {
    let mut transitions = Vec::new();
    let Some(state) = state else {
        let current = match source {
            TokenSource::Generated => generate(),
            TokenSource::Referenced { value, .. } => value.to_owned(),
        };
        let user = UserTokens {
            current,
            generation: rotation.generation,
            source: source.label().to_owned(),
            previous: None,
        };
        return (user, vec![Transition::Created]);
    };
    let mut next = state.clone();
    if next.previous.as_ref().is_some_and(|p| p.expires_at <= now) {
        next.previous = None;
        transitions.push(Transition::OverlapEnded);
    }
    let source_changed = next.source != source.label();
    let replacement = match source {
        TokenSource::Generated if source_changed || rotation.generation > next.generation => {
            Some(generate())
        }
        TokenSource::Generated => None,
        TokenSource::Referenced { value, .. } if value != next.current => Some(value.to_owned()),
        TokenSource::Referenced { .. } => None,
    };
    if let Some(token) = replacement {
        let old = std::mem::replace(&mut next.current, token);
        next.previous = (rotation.overlap_seconds > 0).then(|| PreviousToken {
            token: old,
            expires_at: now + u64::from(rotation.overlap_seconds),
        });
        transitions.retain(|t| *t != Transition::OverlapEnded);
        transitions.push(Transition::Rotated);
    }
    next.source = source.label().to_owned();
    if rotation.generation > next.generation || matches!(source, TokenSource::Referenced { .. }) {
        next.generation = rotation.generation;
    }
    (next, transitions)
}

/// A fresh random token: 32 bytes from the OS generator, hex.
pub fn generate_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests;
