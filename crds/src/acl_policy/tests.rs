//! Unit tests of the `acl_policy` module: example manifest, defaults, flags and fingerprints.

use super::*;
use crate::test_support::{parse, round_trip_json};

const EXAMPLE: &str = r#"
apiVersion: backrunner.io/v1alpha1
kind: AclPolicy
metadata: {name: uploaders, namespace: team-a}
spec:
  users:
    - name: alice
      permissions: {write: true}
      rotation: {generation: 2, overlapSeconds: 600}
    - name: ci-bot
      permissions: {write: true, admin: true}
      tokenSecretRef: {name: ci-token, key: token}
    - name: viewer
status:
  observedGeneration: 1
  boundBuckets: 2
  users:
    - name: alice
      fingerprint: 0123456789abcdef
      previousFingerprint: fedcba9876543210
      rotationPhase: Overlap
      rotationGeneration: 2
      previousExpiresAt: "2026-01-02T03:14:05Z"
"#;

#[test]
fn example_round_trips_with_defaults() {
    let p: AclPolicy = parse(EXAMPLE);
    let alice = p.spec.user("alice").expect("alice");
    assert_eq!(alice.rotation.generation, 2);
    assert_eq!(alice.rotation.overlap_seconds, 600);
    assert_eq!(alice.token_secret_ref, None);
    let bot = p.spec.user("ci-bot").expect("ci-bot");
    assert_eq!(
        bot.token_secret_ref.as_ref().map(|r| r.key.as_str()),
        Some("token")
    );
    assert_eq!(bot.rotation, Rotation::default());
    let viewer = p.spec.user("viewer").expect("viewer");
    assert_eq!(viewer.permissions, Permissions::default());
    assert_eq!(viewer.rotation.overlap_seconds, DEFAULT_OVERLAP_SECONDS);
    assert!(p.spec.user("nobody").is_none());

    let status = p.status.as_ref().expect("status");
    assert_eq!(status.bound_buckets, 2);
    assert_eq!(status.users[0].rotation_phase, RotationPhase::Overlap);

    let json = round_trip_json(&p);
    assert_eq!(json["spec"]["users"][1]["permissions"]["admin"], true);
    assert_eq!(json["spec"]["users"][0]["permissions"]["noToken"], false);
    assert_eq!(
        json["status"]["users"][0]["previousExpiresAt"],
        "2026-01-02T03:14:05Z"
    );
}

#[test]
fn permission_flags_match_elliptics_bits() {
    let p = |write, admin, no_token| Permissions {
        write,
        admin,
        no_token,
    };
    assert_eq!(p(false, false, false).flags(), 0);
    assert_eq!(p(false, false, true).flags(), 1);
    assert_eq!(p(true, false, false).flags(), 2);
    assert_eq!(p(false, true, false).flags(), 4);
    assert_eq!(p(true, true, true).flags(), 7);
    for bits in 0..8 {
        assert_eq!(Permissions::from_flags(bits).flags(), bits);
    }
    assert_eq!(
        Permissions::from_flags(0xF0 | FLAG_WRITE),
        p(true, false, false)
    );

    let policy: AclPolicy = parse(EXAMPLE);
    let flags: Vec<_> = policy.spec.user_flags().collect();
    assert_eq!(flags, vec![("alice", 2), ("ci-bot", 6), ("viewer", 0)]);
}

#[test]
fn fingerprint_is_short_sha256_prefix() {
    // SHA-256("test") = 9f86d081884c7d659a2feaa0c55ad015...
    assert_eq!(token_fingerprint(b"test"), "9f86d081884c7d65");
    assert_eq!(token_fingerprint(b"").len(), 16);
    assert_ne!(token_fingerprint(b"a"), token_fingerprint(b"b"));
}

#[test]
fn generated_secret_names() {
    assert_eq!(generated_secret_name("uploaders"), "uploaders-acl-tokens");
}
