//! Token aliases in the proxy: the previous ACL tokens a rotation keeps valid for a while.
//!
//! The record format is [`backrunner_store::token_aliases`] (JSON, namespace
//! [`TOKEN_ALIASES_NAMESPACE`](backrunner_store::token_aliases::TOKEN_ALIASES_NAMESPACE),
//! keyed by bucket name, in the metadata groups). The bucket
//! cache ([`crate::buckets::BucketCache`]) loads each bucket's record with its metadata and
//! refreshes both together; a missing record means no aliases, a malformed one is logged and
//! means no aliases too (the bucket keeps working with its current tokens). At request time
//! [`LiveAliases::at`] keeps only the aliases that have not expired on the wall clock, and
//! [`crate::acl::authorize_with_tokens`] accepts a signature made with any of them.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use backrunner_store::token_aliases::TokenAliases;

use crate::acl::ExtraTokens;

/// Seconds since the Unix epoch on the wall clock (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The aliases of one bucket still valid at one instant, per user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveAliases(HashMap<String, Vec<String>>);

impl LiveAliases {
    /// The aliases of `record` that expire after `now_unix`.
    pub fn at(record: &TokenAliases, now_unix: u64) -> LiveAliases {
        LiveAliases(
            record
                .users
                .keys()
                .filter_map(|user| {
                    let live: Vec<String> = record
                        .live_tokens(user, now_unix)
                        .map(str::to_owned)
                        .collect();
                    (!live.is_empty()).then(|| (user.clone(), live))
                })
                .collect(),
        )
    }

    /// Whether no user has a live alias.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ExtraTokens for LiveAliases {
    fn extra_tokens(&self, user: &str) -> &[String] {
        self.0.extra_tokens(user)
    }
}

#[cfg(test)]
mod tests {
    use backrunner_store::token_aliases::TokenAlias;

    use super::*;

    #[test]
    fn live_aliases_drop_expired_tokens_and_users() {
        let mut record = TokenAliases::new();
        record.users.insert(
            "alice".into(),
            vec![
                TokenAlias {
                    token: "a-old".into(),
                    expires_at: 200,
                },
                TokenAlias {
                    token: "a-older".into(),
                    expires_at: 100,
                },
            ],
        );
        record.users.insert(
            "bob".into(),
            vec![TokenAlias {
                token: "b-old".into(),
                expires_at: 100,
            }],
        );
        let early = LiveAliases::at(&record, 50);
        assert_eq!(early.extra_tokens("alice"), ["a-old", "a-older"]);
        assert_eq!(early.extra_tokens("bob"), ["b-old"]);
        let later = LiveAliases::at(&record, 100);
        assert_eq!(later.extra_tokens("alice"), ["a-old"]);
        assert!(later.extra_tokens("bob").is_empty());
        assert!(LiveAliases::at(&record, 200).is_empty());
        assert!(later.extra_tokens("carol").is_empty());
    }

    #[test]
    fn the_clock_is_past_2020() {
        assert!(unix_now() > 1_577_836_800);
    }
}
