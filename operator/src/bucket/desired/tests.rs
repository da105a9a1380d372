//! Unit tests of the desired metadata: ACL from policies, publicRead, quota, digest, aliases.

use backrunner_crds::acl_policy::{AclUser, Permissions, Rotation};
use backrunner_crds::bucket::BucketSpec;

use super::*;
use crate::acl_policy::rotation::UserTokens;
use crate::bucket::test_spec;

fn spec(refs: &[&str], public_read: bool) -> BucketSpec {
    BucketSpec {
        quota: backrunner_crds::bucket::Quota {
            max_size: 1 << 30,
            max_objects: 1000,
        },
        acl_policy_refs: refs.iter().map(|s| s.to_string()).collect(),
        public_read,
        ..test_spec("main", vec![1, 2])
    }
}

fn user(name: &str, write: bool) -> AclUser {
    AclUser {
        name: name.into(),
        permissions: Permissions {
            write,
            admin: false,
            no_token: false,
        },
        token_secret_ref: None,
        rotation: Rotation::default(),
    }
}

fn tokens(current: &str, previous: Option<(&str, u64)>) -> UserTokens {
    UserTokens {
        current: current.into(),
        generation: 0,
        source: "generated".into(),
        previous: previous.map(|(t, e)| PreviousToken {
            token: t.into(),
            expires_at: e,
        }),
    }
}

fn policy(name: &str, users: &[(&str, bool, UserTokens)]) -> PolicyTokens {
    let mut book = TokenBook::default();
    for (n, _, t) in users {
        book.users.insert((*n).into(), t.clone());
    }
    PolicyTokens {
        name: name.into(),
        spec: AclPolicySpec {
            users: users.iter().map(|(n, w, _)| user(n, *w)).collect(),
        },
        book: Some(book),
    }
}

#[test]
fn public_bucket_has_an_empty_acl_and_quota() {
    let meta = build_metadata("b1", &spec(&[], true), &[]);
    assert!(meta.is_public());
    assert_eq!(
        (meta.name.as_str(), meta.groups.as_slice()),
        ("b1", &[1, 2][..])
    );
    assert_eq!((meta.max_size, meta.max_key_num), (1 << 30, 1000));
}

#[test]
fn users_become_entries_and_public_read_adds_anonymous() {
    let p = policy(
        "up",
        &[
            ("alice", true, tokens("ta", None)),
            ("bob", false, tokens("tb", None)),
        ],
    );
    let users = resolve_users(&[p], 0).unwrap_or_default();
    let meta = build_metadata("b1", &spec(&["up"], false), &users);
    assert_eq!(meta.acl.len(), 2);
    let alice = &meta.acl["alice"];
    assert_eq!(
        (alice.version, alice.token.as_str(), alice.flags),
        (1, "ta", AclFlags::WRITE)
    );
    assert_eq!(meta.acl["bob"].flags, AclFlags::NONE);
    assert!(!meta.acl.contains_key(ANONYMOUS_USER));

    let public = build_metadata("b1", &spec(&["up"], true), &users);
    let anon = &public.acl[ANONYMOUS_USER];
    assert_eq!((anon.token.as_str(), anon.flags), ("", AclFlags::NO_TOKEN));
    let summary = acl_summary(&public, &users);
    let names: Vec<_> = summary
        .iter()
        .map(|s| (s.name.as_str(), s.flags, s.policy.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("*", 1, None),
            ("alice", 2, Some("up")),
            ("bob", 0, Some("up"))
        ]
    );
    // The metadata decodes to the same thing (the wire format is the contract).
    assert_eq!(BucketMetadata::decode(&public.encode()).ok(), Some(public));
}

#[test]
fn duplicate_users_and_missing_tokens_are_reported() {
    let a = policy("a", &[("alice", true, tokens("t1", None))]);
    let b = policy("b", &[("alice", false, tokens("t2", None))]);
    let err = resolve_users(&[a.clone(), b], 0).err();
    assert_eq!(
        err.as_ref().map(ResolveError::reason),
        Some(reasons::DUPLICATE_USER)
    );
    let mut not_ready = a;
    not_ready.book = None;
    let err = resolve_users(&[not_ready], 0).err();
    assert_eq!(
        err.as_ref().map(ResolveError::reason),
        Some(reasons::ACL_POLICY_NOT_READY)
    );
}

#[test]
fn digest_follows_content_only() {
    let p = policy("up", &[("alice", true, tokens("ta", None))]);
    let users = resolve_users(&[p], 0).unwrap_or_default();
    let d1 = metadata_digest(&build_metadata("b1", &spec(&["up"], false), &users));
    let d2 = metadata_digest(&build_metadata("b1", &spec(&["up"], false), &users));
    assert_eq!(d1, d2);
    assert_eq!(d1.len(), 64);
    let mut bigger = spec(&["up"], false);
    bigger.quota.max_size += 1;
    assert_ne!(d1, metadata_digest(&build_metadata("b1", &bigger, &users)));
    let rotated = policy("up", &[("alice", true, tokens("new", None))]);
    let users2 = resolve_users(&[rotated], 0).unwrap_or_default();
    assert_ne!(
        d1,
        metadata_digest(&build_metadata("b1", &spec(&["up"], false), &users2))
    );
}

#[test]
fn aliases_hold_live_previous_tokens_only() {
    let p = policy(
        "up",
        &[
            ("alice", true, tokens("new", Some(("old", 500)))),
            ("bob", true, tokens("tb", Some(("gone", 90)))),
        ],
    );
    let users = resolve_users(&[p], 100).unwrap_or_default();
    let aliases = build_aliases(&users);
    assert_eq!(
        aliases.live_tokens("alice", 100).collect::<Vec<_>>(),
        ["old"]
    );
    assert!(
        !aliases.users.contains_key("bob"),
        "expired previous token is not an alias"
    );
    assert_eq!(next_alias_expiry(&users), Some(500));
    // The metadata holds only the new token.
    let meta = build_metadata("b1", &spec(&["up"], false), &users);
    assert_eq!(meta.acl["alice"].token, "new");
    assert!(build_aliases(&[]).is_empty());
}
