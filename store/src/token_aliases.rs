//! Token aliases: previous ACL tokens that stay valid for a while after a rotation.
//!
//! Backrunner's bucket metadata ([`crate::bucket`]) holds exactly one token per user, and an
//! original Go Backrunner must keep reading it unchanged. During a token rotation the
//! operator therefore writes the *new* token into the metadata and the *previous* one here,
//! with the instant it stops working. The proxy accepts a signature made with either until
//! then, and drops expired aliases on its own: no operator needs to be running for the
//! overlap to end.
//!
//! Stored as JSON in namespace [`TOKEN_ALIASES_NAMESPACE`], under the bucket's name, in the
//! metadata groups; an original Backrunner never looks there.
//!
//! ```json
//! {"version":1,"users":{"alice":[{"token":"old-secret","expires_at":1767225600}]}}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Elliptics namespace of the alias records (one per bucket, keyed by bucket name).
pub const TOKEN_ALIASES_NAMESPACE: &str = "backrunner.token-aliases";

/// The only record version this code writes and reads.
pub const TOKEN_ALIASES_VERSION: u32 = 1;

/// Largest record accepted by [`TokenAliases::decode`], bytes.
pub const MAX_TOKEN_ALIASES_LEN: usize = 1 << 20;

/// One extra token of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAlias {
    /// The token (HMAC key), as in the metadata's ACL entry.
    pub token: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: u64,
}

/// The alias record of one bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAliases {
    /// [`TOKEN_ALIASES_VERSION`].
    pub version: u32,
    /// Extra tokens per user name.
    #[serde(default)]
    pub users: BTreeMap<String, Vec<TokenAlias>>,
}

/// Why an alias record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenAliasesError {
    /// Larger than [`MAX_TOKEN_ALIASES_LEN`].
    #[error("token alias record of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not the JSON shape above.
    #[error("token alias record is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A version this code does not know.
    #[error("token alias record has unsupported version {0}")]
    UnsupportedVersion(u32),
}

impl TokenAliases {
    /// An empty record of the current version.
    pub fn new() -> TokenAliases {
        TokenAliases {
            version: TOKEN_ALIASES_VERSION,
            users: BTreeMap::new(),
        }
    }

    /// The JSON bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising strings and integers into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a stored record.
    pub fn decode(bytes: &[u8]) -> Result<TokenAliases, TokenAliasesError> {
        if bytes.len() > MAX_TOKEN_ALIASES_LEN {
            return Err(TokenAliasesError::TooLarge(bytes.len()));
        }
        let record: TokenAliases = serde_json::from_slice(bytes)?;
        if record.version != TOKEN_ALIASES_VERSION {
            return Err(TokenAliasesError::UnsupportedVersion(record.version));
        }
        Ok(record)
    }

    /// Tokens of `user` still valid at `now_unix` (seconds).
    pub fn live_tokens(&self, user: &str, now_unix: u64) -> impl Iterator<Item = &str> {
        self.users
            .get(user)
            .into_iter()
            .flatten()
            .filter(move |a| a.expires_at > now_unix)
            .map(|a| a.token.as_str())
    }

    /// A copy without expired aliases and without users left with none.
    pub fn pruned(&self, now_unix: u64) -> TokenAliases {
        let users = self
            .users
            .iter()
            .filter_map(|(user, aliases)| {
                let live: Vec<TokenAlias> = aliases
                    .iter()
                    .filter(|a| a.expires_at > now_unix)
                    .cloned()
                    .collect();
                (!live.is_empty()).then(|| (user.clone(), live))
            })
            .collect();
        TokenAliases {
            version: TOKEN_ALIASES_VERSION,
            users,
        }
    }

    /// Whether no user has an alias.
    pub fn is_empty(&self) -> bool {
        self.users.values().all(Vec::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenAliases {
        let mut r = TokenAliases::new();
        r.users.insert(
            "alice".into(),
            vec![
                TokenAlias {
                    token: "old".into(),
                    expires_at: 100,
                },
                TokenAlias {
                    token: "older".into(),
                    expires_at: 50,
                },
            ],
        );
        r
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(TokenAliases::decode(&r.encode()).ok(), Some(r));
    }

    #[test]
    fn live_tokens_respect_expiry() {
        let r = sample();
        assert_eq!(
            r.live_tokens("alice", 10).collect::<Vec<_>>(),
            ["old", "older"]
        );
        assert_eq!(r.live_tokens("alice", 50).collect::<Vec<_>>(), ["old"]);
        assert_eq!(r.live_tokens("alice", 100).count(), 0);
        assert_eq!(r.live_tokens("bob", 0).count(), 0);
    }

    #[test]
    fn pruned_drops_expired_users() {
        let r = sample();
        assert_eq!(r.pruned(60).users["alice"].len(), 1);
        assert!(r.pruned(100).is_empty());
        assert!(r.pruned(100).users.is_empty());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            TokenAliases::decode(b"{\"version\":2,\"users\":{}}"),
            Err(TokenAliasesError::UnsupportedVersion(2))
        ));
        assert!(TokenAliases::decode(b"[1,2]").is_err());
        assert!(TokenAliases::decode(&vec![b' '; MAX_TOKEN_ALIASES_LEN + 1]).is_err());
    }
}
