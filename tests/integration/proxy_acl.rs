//! The ACL matrix over HTTP: users with flags 0, 1, 2 and 3; the right token, a wrong
//! token, an unknown user and no `Authorization` header; get, upload and delete. No
//! credentials is 401; refused credentials are 403; errors never contain a token.

use backrunner_proxy::signature::{authorization_header, sign};

use crate::proxy_support::{ProxyFixture, expect_json_error, public_bucket, with_user};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Credential {
    Right,
    Wrong,
    UnknownUser,
    NoHeader,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Get,
    Upload,
    Delete,
}

/// What Go Backrunner's matrix (with 401 for missing credentials) expects.
fn expected(flags: u64, cred: Credential, op: Op) -> u16 {
    let no_token = flags & 1 != 0;
    let write = flags & 2 != 0;
    match cred {
        Credential::NoHeader => 401,
        Credential::UnknownUser => 403,
        Credential::Right => match op {
            Op::Get => 200,
            Op::Upload | Op::Delete if write => 200,
            _ => 403,
        },
        Credential::Wrong => match op {
            Op::Get if no_token => 200,
            Op::Upload | Op::Delete if write && no_token => 200,
            _ => 403,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_acl_matrix() {
    let mut bucket = public_bucket("acl");
    for flags in 0..4u64 {
        bucket = with_user(
            bucket,
            &format!("u{flags}"),
            &format!("token-{flags}"),
            flags,
        );
    }
    let fx = ProxyFixture::start(&[bucket]).await;
    let session = fx.storage.session().groups(vec![1, 2]).namespace("acl");
    session.write(b"obj", &b"content"[..], 7, 0).await.unwrap();

    let mut n = 0;
    for flags in 0..4u64 {
        for cred in [
            Credential::Right,
            Credential::Wrong,
            Credential::UnknownUser,
            Credential::NoHeader,
        ] {
            for op in [Op::Get, Op::Upload, Op::Delete] {
                n += 1;
                let key = format!("k{n}");
                session
                    .write(key.as_bytes(), &b"victim"[..], 6, 0)
                    .await
                    .unwrap();
                let (method, path) = match op {
                    Op::Get => ("GET", "/get/acl/obj".to_owned()),
                    Op::Upload => ("POST", format!("/upload/acl/{key}")),
                    Op::Delete => ("POST", format!("/delete/acl/{key}")),
                };
                let (user, token) = match cred {
                    Credential::Right => (format!("u{flags}"), format!("token-{flags}")),
                    Credential::Wrong => (format!("u{flags}"), "not-the-token".to_owned()),
                    Credential::UnknownUser => ("nobody".to_owned(), "whatever".to_owned()),
                    Credential::NoHeader => (String::new(), String::new()),
                };
                let mut req = fx
                    .http
                    .request(method.parse().unwrap(), fx.url(&path))
                    .body(if op == Op::Upload {
                        b"payload".to_vec()
                    } else {
                        Vec::new()
                    });
                if cred != Credential::NoHeader {
                    let sig = sign(method, path.as_bytes(), None, [], &token);
                    req = req.header("authorization", authorization_header("riftv1", &user, &sig));
                }
                let r = req.send().await.unwrap();
                let want = expected(flags, cred, op);
                let case = format!("flags {flags}, {cred:?}, {op:?}");
                if want == 200 {
                    assert_eq!(r.status(), 200, "{case}");
                } else {
                    let msg = expect_json_error(r, want).await;
                    assert!(!msg.contains("token-"), "{case}: {msg}");
                    if cred == Credential::Wrong && want == 403 && flags & 2 != 0 {
                        assert!(msg.contains(&user), "{case}: message names the user: {msg}");
                    }
                }
            }
        }
    }
}
