//! Unit tests of the AclPolicy status: fingerprints only, rotation phase, problems, counts.

use backrunner_crds::acl_policy::{AclPolicySpec, AclUser, RotationPhase, token_fingerprint};
use backrunner_crds::condition::find_condition;

use super::*;
use crate::acl_policy::rotation::{PreviousToken, UserTokens};

fn policy() -> AclPolicy {
    let user = |name: &str| AclUser {
        name: name.into(),
        permissions: Default::default(),
        token_secret_ref: None,
        rotation: Default::default(),
    };
    let mut p = AclPolicy::new(
        "media",
        AclPolicySpec {
            users: vec![user("alice"), user("bob")],
        },
    );
    p.metadata.generation = Some(4);
    p
}

fn book(previous: Option<u64>) -> TokenBook {
    let mut b = TokenBook::default();
    b.users.insert(
        "alice".into(),
        UserTokens {
            current: "tok-a".into(),
            generation: 2,
            source: "generated".into(),
            previous: previous.map(|e| PreviousToken {
                token: "old-a".into(),
                expires_at: e,
            }),
        },
    );
    b
}

#[test]
fn resolved_tokens_and_rotation() {
    let s = build_status(&policy(), &book(None), &[], 3, 100);
    assert_eq!((s.observed_generation, s.bound_buckets), (Some(4), 3));
    assert_eq!(s.users.len(), 1, "bob has no token yet and no entry");
    assert_eq!(s.users[0].fingerprint, token_fingerprint(b"tok-a"));
    assert_eq!(s.users[0].rotation_generation, 2);
    let ready =
        find_condition(&s.conditions, types::READY).map(|c| (c.status.clone(), c.reason.clone()));
    assert_eq!(
        ready,
        Some(("True".into(), reasons::TOKENS_RESOLVED.into()))
    );
    assert!(
        !serde_json::to_string(&s)
            .unwrap_or_default()
            .contains("tok-a"),
        "never the token"
    );

    let rotating = build_status(&policy(), &book(Some(500)), &[], 0, 100);
    assert_eq!(rotating.users[0].rotation_phase, RotationPhase::Overlap);
    assert_eq!(
        rotating.users[0].previous_fingerprint,
        Some(token_fingerprint(b"old-a"))
    );
    assert!(rotating.users[0].previous_expires_at.is_some());
    let synced = find_condition(&rotating.conditions, types::SYNCED).map(|c| c.reason.clone());
    assert_eq!(synced.as_deref(), Some(reasons::ROTATING));
}

#[test]
fn problems_make_both_conditions_false_with_every_message() {
    let problems = vec![
        (
            "bob".to_owned(),
            (reasons::SECRET_NOT_FOUND, "Secret x not found".to_owned()),
        ),
        (
            "carol".to_owned(),
            (
                reasons::SECRET_KEY_MISSING,
                "Secret y has no key k".to_owned(),
            ),
        ),
    ];
    let s = build_status(&policy(), &book(None), &problems, 0, 100);
    for t in [types::READY, types::SYNCED] {
        let c = find_condition(&s.conditions, t);
        assert_eq!(c.map(|c| c.status.as_str()), Some("False"));
        assert_eq!(
            c.map(|c| c.reason.as_str()),
            Some(reasons::SECRET_NOT_FOUND)
        );
        assert!(c.is_some_and(
            |c| c.message.contains("bob: Secret x") && c.message.contains("carol: Secret y")
        ));
    }
    // The same inputs again change nothing (no status write).
    let mut p = policy();
    p.status = Some(s.clone());
    assert_eq!(build_status(&p, &book(None), &problems, 0, 100), s);
}
