//! The ACL matrix and token-rotation tests.

use super::*;
use crate::signature::{CredentialSource, authorization_header};
use backrunner_store::bucket::AclEntry;

/// Users `u0`..`u3` with flags 0..3, token `token-<flags>`.
fn bucket() -> BucketMetadata {
    let mut meta = BucketMetadata::new("acl");
    meta.groups = vec![1, 2];
    for flags in 0..4u64 {
        let (user, token) = (format!("u{flags}"), format!("token-{flags}"));
        add_user(
            &mut meta,
            1,
            &user,
            &token,
            AclFlags::from_bits_retain(flags),
        );
    }
    meta
}

/// Adds `user` to `meta`'s ACL, as an entry of `version`.
fn add_user(meta: &mut BucketMetadata, version: u64, user: &str, token: &str, flags: AclFlags) {
    let entry = AclEntry {
        version,
        user: user.into(),
        token: token.into(),
        flags,
    };
    meta.acl.insert(user.into(), entry);
}

fn method(op: Operation) -> &'static str {
    match op {
        Operation::Read => "GET",
        _ => "POST",
    }
}

fn canonical(op: Operation) -> CanonicalRequest {
    CanonicalRequest::new(
        method(op),
        b"/x/acl/key",
        Some("a=1"),
        [("x-ell-trace", &b"t"[..])],
    )
}

/// The `Authorization` value a client signing as `user` with `token` sends.
fn signed_header(op: Operation, user: &str, token: &str) -> ParsedAuthorization {
    let header = authorization_header("riftv1", user, &canonical(op).sign(token));
    ParsedAuthorization::parse(Some(header.as_bytes()))
}

#[derive(Clone, Copy, Debug)]
enum Who {
    RightToken,
    WrongToken,
    UnknownUser,
    NoHeader,
}

fn status(flags: u64, who: Who, op: Operation) -> u16 {
    let user = format!("u{flags}");
    let auth = match who {
        Who::RightToken => signed_header(op, &user, &format!("token-{flags}")),
        Who::WrongToken => signed_header(op, &user, "qwerty"),
        Who::UnknownUser => signed_header(op, "qwerty", "qwerty"),
        Who::NoHeader => ParsedAuthorization::parse(None),
    };
    match authorize(&bucket(), op, &auth, &canonical(op)) {
        Ok(_) => 200,
        Err(err) => err.status().as_u16(),
    }
}

#[test]
fn full_matrix() {
    use Operation::{Delete, Read, Write};
    use Who::*;
    // (flags, who, [get, upload, delete]); Go's btest matrix, with 401 for "no header".
    let expected = [
        (0, RightToken, [200, 403, 403]),
        (0, WrongToken, [403, 403, 403]),
        (0, UnknownUser, [403, 403, 403]),
        (0, NoHeader, [401, 401, 401]),
        (1, RightToken, [200, 403, 403]),
        (1, WrongToken, [200, 403, 403]),
        (1, UnknownUser, [403, 403, 403]),
        (1, NoHeader, [401, 401, 401]),
        (2, RightToken, [200, 200, 200]),
        (2, WrongToken, [403, 403, 403]),
        (2, UnknownUser, [403, 403, 403]),
        (2, NoHeader, [401, 401, 401]),
        (3, RightToken, [200, 200, 200]),
        (3, WrongToken, [200, 200, 200]),
        (3, UnknownUser, [403, 403, 403]),
        (3, NoHeader, [401, 401, 401]),
    ];
    for (flags, who, statuses) in expected {
        for (op, want) in [Read, Write, Delete].into_iter().zip(statuses) {
            assert_eq!(status(flags, who, op), want, "flags {flags}, {who:?}, {op}");
        }
    }
}

#[test]
fn public_bucket_allows_everything() {
    let meta = BucketMetadata::new("open");
    for op in [
        Operation::Read,
        Operation::Write,
        Operation::Delete,
        Operation::Admin,
    ] {
        let granted =
            authorize(&meta, op, &ParsedAuthorization::parse(None), &canonical(op)).unwrap();
        assert_eq!(granted.grant, AccessGrant::PublicBucket);
        assert_eq!(granted.user, "*");
    }
}

#[test]
fn anonymous_user_star() {
    let mut meta = bucket();
    add_user(&mut meta, 1, "*", "", AclFlags::NO_TOKEN);
    let op = Operation::Read;
    for header in [None, Some(&b"garbage"[..])] {
        let granted = authorize(
            &meta,
            op,
            &ParsedAuthorization::parse(header),
            &canonical(op),
        )
        .unwrap();
        assert_eq!(
            (granted.user.as_str(), granted.grant),
            ("*", AccessGrant::NoTokenFlag)
        );
    }
    let err = authorize(
        &meta,
        Operation::Write,
        &ParsedAuthorization::parse(None),
        &canonical(op),
    )
    .unwrap_err();
    assert_eq!(
        err,
        AuthError::MissingCredentials {
            operation: Operation::Write
        }
    );
    assert_eq!(ApiError::from(err).status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn malformed_header_counts_as_missing_credentials() {
    let auth = ParsedAuthorization::parse(Some(b"riftv1 u2-without-colon"));
    assert_eq!(auth.source, CredentialSource::Malformed);
    let err = authorize(
        &bucket(),
        Operation::Read,
        &auth,
        &canonical(Operation::Read),
    )
    .unwrap_err();
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn admin_needs_admin_flag() {
    let mut meta = bucket();
    add_user(&mut meta, 2, "root", "t", AclFlags::ADMIN);
    let op = Operation::Admin;
    assert!(authorize(&meta, op, &signed_header(op, "root", "t"), &canonical(op)).is_ok());
    let err = authorize(
        &meta,
        op,
        &signed_header(op, "u3", "token-3"),
        &canonical(op),
    )
    .unwrap_err();
    assert_eq!(
        err,
        AuthError::NotPermitted {
            user: "u3".into(),
            operation: op
        }
    );
    // ADMIN does not imply WRITE.
    let op = Operation::Write;
    assert!(authorize(&meta, op, &signed_header(op, "root", "t"), &canonical(op)).is_err());
}

#[test]
fn mismatch_names_user_never_token() {
    let op = Operation::Read;
    let err = authorize(
        &bucket(),
        op,
        &signed_header(op, "u0", "wrong"),
        &canonical(op),
    )
    .unwrap_err();
    let api = ApiError::from(err);
    let text = api.body().to_string();
    assert!(text.contains("u0"), "{text}");
    assert!(
        !text.contains("token-0") && !text.contains("wrong"),
        "{text}"
    );
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
}

#[test]
fn signature_of_another_request_is_refused() {
    let op = Operation::Read;
    let auth = signed_header(op, "u0", "token-0");
    let other = CanonicalRequest::new("GET", b"/x/acl/other-key", None, []);
    let err = authorize(&bucket(), op, &auth, &other).unwrap_err();
    assert_eq!(err, AuthError::SignatureMismatch { user: "u0".into() });
}

#[test]
fn extra_tokens_are_accepted_during_rotation() {
    let op = Operation::Write;
    let mut previous = BTreeMap::new();
    previous.insert(
        "u2".to_owned(),
        vec!["old-1".to_owned(), "old-2".to_owned()],
    );
    let check = |token: &str| {
        authorize_with_tokens(
            &bucket(),
            op,
            &signed_header(op, "u2", token),
            &canonical(op),
            &previous,
        )
        .map(|granted| granted.grant)
    };
    assert_eq!(check("token-2"), Ok(AccessGrant::CurrentToken));
    assert_eq!(check("old-2"), Ok(AccessGrant::ExtraToken(1)));
    assert!(check("old-3").is_err());
    // another user's extra tokens do not leak across users
    let auth = signed_header(op, "u3", "old-1");
    let granted = authorize_with_tokens(&bucket(), op, &auth, &canonical(op), &previous).unwrap();
    assert_eq!(granted.grant, AccessGrant::NoTokenFlag); // u3 has NO_TOKEN anyway
    let hashed: HashMap<String, Vec<String>> = previous.into_iter().collect();
    let auth = signed_header(op, "u2", "old-1");
    assert!(authorize_with_tokens(&bucket(), op, &auth, &canonical(op), &hashed).is_ok());
}

#[test]
fn admin_needs_the_flag_and_a_signature_and_never_comes_from_an_empty_acl() {
    let op = Operation::Admin;
    let mut meta = bucket();
    add_user(&mut meta, 1, "boss", "boss-token", AclFlags::ADMIN);
    add_user(
        &mut meta,
        1,
        "lazy",
        "lazy-token",
        AclFlags::ADMIN | AclFlags::NO_TOKEN,
    );
    let check = |meta: &BucketMetadata, auth: &ParsedAuthorization| {
        authorize_admin(&meta.acl, auth, &canonical(op), &NoExtraTokens)
            .map_or_else(|e| e.status().as_u16(), |_| 200)
    };
    assert_eq!(check(&meta, &signed_header(op, "boss", "boss-token")), 200);
    assert_eq!(check(&meta, &signed_header(op, "boss", "wrong")), 403);
    assert_eq!(check(&meta, &signed_header(op, "lazy", "wrong")), 403);
    assert_eq!(check(&meta, &signed_header(op, "lazy", "lazy-token")), 200);
    assert_eq!(check(&meta, &signed_header(op, "u3", "token-3")), 403);
    assert_eq!(check(&meta, &signed_header(op, "nobody", "x")), 403);
    assert_eq!(check(&meta, &ParsedAuthorization::parse(None)), 401);
    let public = BucketMetadata::new("open");
    assert_eq!(check(&public, &ParsedAuthorization::parse(None)), 401);
    assert_eq!(
        check(&public, &signed_header(op, "boss", "boss-token")),
        403
    );
    let mut rotated = BTreeMap::new();
    rotated.insert("boss".to_owned(), vec!["old-token".to_owned()]);
    let auth = signed_header(op, "boss", "old-token");
    assert_eq!(
        authorize_admin(&meta.acl, &auth, &canonical(op), &rotated).map(|u| u.grant),
        Ok(AccessGrant::ExtraToken(0))
    );
}
