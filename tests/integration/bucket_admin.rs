//! RIFT's bucket management through `backrunner proxy` processes (issue 11's API
//! contract): bucket directories, update/read/delete of buckets, `/buckets`.
//!
//! - the main scenario, on our node and on a real Elliptics 3.0 cluster: the bootstrap
//!   admin creates a directory and a bucket in it; uploads through another proxy show in
//!   `list-bucket-directory` (groups, object count, bytes); `read-bucket` with tokens for
//!   admins only; `/buckets` per caller; `delete-bucket` removes metadata, list entry and
//!   membership but not the objects; `delete-bucket-directory`;
//! - the ACL matrix of the admin endpoints (no credentials, a wrong token, a reader, a
//!   writer without admin, a bucket admin, a directory admin, the bootstrap admin);
//! - 409 for a bucket a Kubernetes resource owns (an ownership record written as the
//!   operator writes it), and bad bodies and paths as JSON 400s.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backrunner_proxy::signature::{authorization_header, sign};
use backrunner_store::{MetadataStore, OwnerRecord};
use backrunner_tests::proxy_process::ProxyProcess;
use backrunner_tests::wait_until;
use serde_json::{Value, json};

use crate::payload;
use crate::two_groups::Cluster;

const ROOT: Cred = Some(("root", "root-token"));
const LIST_KEY: &str = "backrunner-bucket-list";

/// `Some((user, token))` signs the request; `None` sends no `Authorization`.
type Cred = Option<(&'static str, &'static str)>;

fn admin_config() -> String {
    "[admin]\nuser = \"root\"\ntoken = \"root-token\"\n".to_owned()
}

/// `method path` with `body`, signed as `cred`: the status and the JSON reply.
async fn call(
    proxy: &ProxyProcess,
    method: &str,
    path: &str,
    cred: Cred,
    body: &str,
) -> (u16, Value) {
    let mut headers = Vec::new();
    let auth;
    if let Some((user, token)) = cred {
        let signature = sign(method, path.as_bytes(), None, [], token);
        auth = authorization_header("riftv1", user, &signature);
        headers.push(("authorization", auth.as_str()));
    }
    let (status, reply) = proxy
        .call(method.parse().unwrap(), path, &headers, body.to_owned())
        .await;
    let json: Value = serde_json::from_slice(&reply)
        .unwrap_or_else(|e| panic!("{method} {path}: {status} reply is not JSON ({e}): {reply:?}"));
    if status >= 400 {
        assert_eq!(json["status"], status, "{method} {path}: {json}");
        assert!(json["error"].is_string(), "{method} {path}: {json}");
    }
    (status, json)
}

async fn post(proxy: &ProxyProcess, path: &str, cred: Cred, body: &str) -> (u16, Value) {
    call(proxy, "POST", path, cred, body).await
}

async fn get(proxy: &ProxyProcess, path: &str, cred: Cred) -> (u16, Value) {
    call(proxy, "GET", path, cred, "").await
}

/// `post` that must answer 200.
async fn post_ok(proxy: &ProxyProcess, path: &str, cred: Cred, body: &str) -> Value {
    let (status, json) = post(proxy, path, cred, body).await;
    assert_eq!(status, 200, "POST {path}: {json}");
    json
}

/// The bucket names of a `/buckets` reply.
fn names(reply: &Value) -> Vec<String> {
    let mut names: Vec<String> = reply["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

/// Whether any ACL entry of `doc` carries a token.
fn has_tokens(doc: &Value) -> bool {
    doc["acl"]
        .as_array()
        .is_some_and(|acl| acl.iter().any(|e| e.get("token").is_some()))
}

async fn admin_scenario(cluster: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let proxies = cluster
        .proxies_with(dir.path(), 2, &[], &admin_config())
        .await;
    let (p0, p1) = (&proxies[0], &proxies[1]);
    let store = MetadataStore::new(&cluster.client, vec![1, 2]);

    // The bootstrap admin creates a directory with an admin and a reader of its own.
    let created = post_ok(
        p0,
        "/update-bucket-directory/media-dir",
        ROOT,
        r#"{"acl":[{"user":"diradmin","token":"dir-token","flags":4},
                   {"user":"dirreader","token":"dr-token","flags":0}],"flags":0}"#,
    )
    .await;
    assert_eq!(created["created"], true, "{created}");
    assert!(!has_tokens(&created), "{created}");

    // A private bucket in it, RIFT's body, and a public one made by the directory admin.
    let photos = post_ok(
        p0,
        "/update-bucket/media-dir/photos",
        ROOT,
        r#"{"groups":[1,2],"acl":[{"user":"alice","token":"alice-token","flags":7},
            {"user":"reader","token":"reader-token","flags":0}],
            "flags":0,"max-size":0,"max-key-num":0}"#,
    )
    .await;
    assert_eq!(photos["created"], true, "{photos}");
    assert_eq!(photos["groups"], json!([1, 2]));
    assert_eq!(photos["directory"], "media-dir");
    post_ok(
        p0,
        "/update-bucket/media-dir/open",
        Some(("diradmin", "dir-token")),
        r#"{"groups":[2]}"#,
    )
    .await;
    // The operator's format: the metadata store reads it, and it is in the bucket list.
    let meta = store.read_bucket("photos").await.unwrap().unwrap();
    assert_eq!(meta.groups, [1, 2]);
    assert_eq!(meta.acl["alice"].token, "alice-token");
    let list = store.read_list(LIST_KEY).await.unwrap();
    assert!(list.contains("photos") && list.contains("open"), "{list:?}");

    // Uploads through the other proxy, which learns the bucket on demand.
    let sizes = [100usize, 2000, 30_000];
    for (i, size) in sizes.iter().enumerate() {
        let path = format!("/upload/photos/k{i}");
        let signature = sign("POST", path.as_bytes(), None, [], "alice-token");
        let auth = authorization_header("riftv1", "alice", &signature);
        let (status, reply) = p1
            .post(&path, &[("authorization", &auth)], payload(i as u64, *size))
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    }
    let total: usize = sizes.iter().sum();
    let reader = Some(("dirreader", "dr-token"));
    let mut listing = Value::Null;
    let counted = wait_until(Duration::from_secs(20), async || {
        let (status, json) = get(p0, "/list-bucket-directory/media-dir", reader).await;
        assert_eq!(status, 200, "{json}");
        listing = json;
        listing["buckets"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["name"] == "photos"))
            .is_some_and(|b| b["objects"] == sizes.len() && b["bytes"] == total)
    })
    .await;
    assert!(counted, "{listing}");
    assert_eq!(names(&listing), ["open", "photos"]);
    let entry = listing["buckets"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["name"] == "photos"))
        .cloned()
        .unwrap();
    assert_eq!(entry["groups"], json!([1, 2]), "{entry}");
    assert!(!listing.to_string().contains("-token"), "{listing}");
    let (status, _) = get(p0, "/list-bucket-directory/media-dir", None).await;
    assert_eq!(status, 401, "the directory has an ACL");

    // read-bucket: tokens for admins (bucket, directory, bootstrap), not for readers.
    for (cred, tokens) in [
        (Some(("alice", "alice-token")), true),
        (Some(("diradmin", "dir-token")), true),
        (ROOT, true),
        (Some(("reader", "reader-token")), false),
        (reader, false),
    ] {
        let (status, doc) = get(p1, "/read-bucket/photos", cred).await;
        assert_eq!(status, 200, "{cred:?}: {doc}");
        assert_eq!(has_tokens(&doc), tokens, "{cred:?}: {doc}");
        assert_eq!(doc["directory"], "media-dir");
        assert_eq!(doc["groups"], json!([1, 2]));
    }
    let (status, _) = get(p1, "/read-bucket/photos", None).await;
    assert_eq!(status, 401);
    let (status, _) = get(p1, "/read-bucket/photos", Some(("reader", "wrong"))).await;
    assert_eq!(status, 403);

    // /buckets per caller.
    let (_, anonymous) = get(p0, "/buckets", None).await;
    assert_eq!(names(&anonymous), ["open"]);
    let (_, stranger) = get(p0, "/buckets", Some(("stranger", "x"))).await;
    assert_eq!(names(&stranger), ["open"]);
    let (_, wrong) = get(p0, "/buckets", Some(("reader", "wrong"))).await;
    assert_eq!(names(&wrong), ["open"]);
    let (_, read) = get(p0, "/buckets", Some(("reader", "reader-token"))).await;
    assert_eq!(names(&read), ["open", "photos"]);
    assert!(!has_tokens(&read["buckets"][1]), "{read}");
    let (_, root) = get(p0, "/buckets", ROOT).await;
    assert_eq!(names(&root), ["open", "photos"]);

    // delete-bucket: metadata, list entry and membership go; objects stay.
    let deleted = post_ok(
        p1,
        "/delete-bucket/photos",
        Some(("alice", "alice-token")),
        "",
    )
    .await;
    assert_eq!(deleted["deleted"], true);
    assert_eq!(store.read_bucket("photos").await.unwrap(), None);
    assert!(!store.read_list(LIST_KEY).await.unwrap().contains("photos"));
    let (status, _) = get(p1, "/read-bucket/photos", ROOT).await;
    assert_eq!(status, 404);
    let (status, _) = get(p1, "/get/photos/k0", None).await;
    assert_eq!(status, 404, "the deleting proxy forgets the bucket at once");
    let (_, listing) = get(p0, "/list-bucket-directory/media-dir", ROOT).await;
    assert_eq!(names(&listing), ["open"]);
    let objects = cluster
        .client
        .session()
        .groups(vec![1, 2])
        .namespace("photos");
    let (_, body) = backrunner_store::object::open(&objects, b"k1")
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = futures_util::TryStreamExt::try_collect(body).await.unwrap();
    assert_eq!(chunks.concat().len(), sizes[1], "objects are not purged");
    let (status, _) = post(p1, "/delete-bucket/photos", ROOT, "").await;
    assert_eq!(status, 404);

    // delete-bucket-directory: gone, its remaining bucket stays (in no directory).
    let (status, json) = post(
        p0,
        "/delete-bucket-directory/media-dir",
        Some(("dirreader", "dr-token")),
        "",
    )
    .await;
    assert_eq!(status, 403, "{json}");
    let gone = post_ok(
        p0,
        "/delete-bucket-directory/media-dir",
        Some(("diradmin", "dir-token")),
        "",
    )
    .await;
    assert_eq!(gone["buckets"], json!(["open"]));
    let (status, _) = get(p0, "/list-bucket-directory/media-dir", ROOT).await;
    assert_eq!(status, 404);
    let (status, doc) = get(p0, "/read-bucket/open", None).await;
    assert_eq!(status, 200, "a public bucket is readable by anyone: {doc}");
    assert_eq!(doc["directory"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bucket_admin_on_our_node() {
    let dir = tempfile::tempdir().unwrap();
    admin_scenario(&Cluster::ours(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bucket_admin_on_real_elliptics() {
    let Some(cluster) = Cluster::oracle().await else {
        return;
    };
    admin_scenario(&cluster).await;
}

/// The callers of the matrix, and who they are in directory `d` and bucket `b`.
const NONE: Cred = None;
const WRONG: Cred = Some(("badmin", "not-the-token"));
const READER: Cred = Some(("breader", "breader-token"));
const WRITER: Cred = Some(("bwriter", "bwriter-token"));
const BUCKET_ADMIN: Cred = Some(("badmin", "badmin-token"));
const DIR_ADMIN: Cred = Some(("diradmin", "dir-token"));
const ROOT_WRONG: Cred = Some(("root", "guess"));
const CALLERS: [(&str, Cred); 8] = [
    ("none", NONE),
    ("wrong token", WRONG),
    ("reader", READER),
    ("writer", WRITER),
    ("bucket admin", BUCKET_ADMIN),
    ("directory admin", DIR_ADMIN),
    ("bootstrap", ROOT),
    ("bootstrap, wrong token", ROOT_WRONG),
];

/// A bucket in `d` with the bucket-level users of the matrix.
const BUCKET_BODY: &str = r#"{"groups":[1,2],"acl":[
    {"user":"badmin","token":"badmin-token","flags":4},
    {"user":"breader","token":"breader-token","flags":0},
    {"user":"bwriter","token":"bwriter-token","flags":3}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_endpoint_acl_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    let proxies = cluster
        .proxies_with(dir.path(), 1, &[], &admin_config())
        .await;
    let p = &proxies[0];
    post_ok(
        p,
        "/update-bucket-directory/d",
        ROOT,
        r#"{"acl":[{"user":"diradmin","token":"dir-token","flags":4},
                   {"user":"dirwriter","token":"dw-token","flags":3}]}"#,
    )
    .await;
    for bucket in ["b", "b-dir", "b-root", "keep"] {
        post_ok(p, &format!("/update-bucket/d/{bucket}"), ROOT, BUCKET_BODY).await;
    }

    // (caller, update-bucket, read-bucket (tokens?), update-bucket-directory, list-dir,
    //  new directory, new bucket in d, delete-bucket)
    type Row = (u16, (u16, bool), u16, u16, u16, u16, u16);
    let expected: [Row; 8] = [
        (401, (401, false), 401, 401, 401, 401, 401),
        (403, (403, false), 403, 403, 403, 403, 403),
        (403, (200, false), 403, 403, 403, 403, 403),
        (403, (200, false), 403, 403, 403, 403, 403),
        (200, (200, true), 403, 403, 403, 403, 200),
        (200, (200, true), 200, 200, 403, 200, 200),
        (200, (200, true), 200, 200, 200, 200, 200),
        (403, (403, false), 403, 403, 403, 403, 403),
    ];
    for (n, ((who, cred), want)) in CALLERS.iter().zip(expected).enumerate() {
        let (update, (read, tokens), update_dir, list_dir, new_dir, new_bucket, _) = want;
        let case = |what: &str| format!("{who}: {what}");
        let (status, json) = post(p, "/update-bucket/d/b", *cred, r#"{"max-size":1048576}"#).await;
        assert_eq!(status, update, "{} {json}", case("update-bucket"));
        let (status, json) = get(p, "/read-bucket/b", *cred).await;
        assert_eq!(status, read, "{} {json}", case("read-bucket"));
        if status == 200 {
            assert_eq!(
                has_tokens(&json),
                tokens,
                "{} {json}",
                case("read-bucket tokens")
            );
        }
        let (status, json) = post(p, "/update-bucket-directory/d", *cred, r#"{"flags":0}"#).await;
        assert_eq!(
            status,
            update_dir,
            "{} {json}",
            case("update-bucket-directory")
        );
        let (status, json) = get(p, "/list-bucket-directory/d", *cred).await;
        assert_eq!(status, list_dir, "{} {json}", case("list-bucket-directory"));
        let (status, json) = post(p, &format!("/update-bucket-directory/new{n}"), *cred, "").await;
        assert_eq!(status, new_dir, "{} {json}", case("new directory"));
        let (status, json) = post(
            p,
            &format!("/update-bucket/d/new{n}"),
            *cred,
            r#"{"groups":[1]}"#,
        )
        .await;
        assert_eq!(status, new_bucket, "{} {json}", case("new bucket"));
        if status == 401 {
            let (s, _) = post(p, "/update-bucket/d/b", *cred, "").await;
            assert_eq!(s, 401);
        }
    }
    // Deletes last: each admin deletes a bucket of its own, the others try "keep".
    for ((who, cred), want) in CALLERS.iter().zip(expected) {
        let victim = match *who {
            "bucket admin" => "b",
            "directory admin" => "b-dir",
            "bootstrap" => "b-root",
            _ => "keep",
        };
        let (status, json) = post(p, &format!("/delete-bucket/{victim}"), *cred, "").await;
        assert_eq!(status, want.6, "{who}: delete-bucket {json}");
        if status >= 400 {
            assert!(
                !json["error"].as_str().unwrap().contains("-token"),
                "{json}"
            );
        }
    }
    let (_, listing) = get(p, "/list-bucket-directory/d", ROOT).await;
    assert_eq!(names(&listing), ["keep", "new5", "new6"], "{listing}");
    // The directory's writer (flag 2, no admin) changes nothing.
    let (status, _) = post(
        p,
        "/update-bucket/d/x",
        Some(("dirwriter", "dw-token")),
        r#"{"groups":[1]}"#,
    )
    .await;
    assert_eq!(status, 403);
    // A bucket admin may not move its bucket into a directory it does not administer.
    post_ok(p, "/update-bucket-directory/other", ROOT, "").await;
    post_ok(p, "/update-bucket/d/mine", ROOT, BUCKET_BODY).await;
    let (status, json) = post(p, "/update-bucket/other/mine", BUCKET_ADMIN, "").await;
    assert_eq!(status, 403, "{json}");
    let moved = post_ok(p, "/update-bucket/other/mine", ROOT, "").await;
    assert_eq!(moved["directory"], "other");
    let (_, listing) = get(p, "/list-bucket-directory/d", ROOT).await;
    assert!(!names(&listing).contains(&"mine".to_owned()), "{listing}");
    let (_, listing) = get(p, "/list-bucket-directory/other", ROOT).await;
    assert_eq!(names(&listing), ["mine"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_owned_buckets_and_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    let proxies = cluster
        .proxies_with(dir.path(), 1, &[], &admin_config())
        .await;
    let p = &proxies[0];
    let store = MetadataStore::new(&cluster.client, vec![1, 2]);
    post_ok(p, "/update-bucket-directory/d", ROOT, "").await;

    // A bucket the operator manages: ownership record first, then metadata, as it does.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let owner = OwnerRecord::new("prod", "team-a", "photos-cr", "uid-1", now);
    store.write_record("owned", &owner).await.check().unwrap();
    let mut meta = backrunner_store::BucketMetadata::new("owned");
    meta.groups = vec![1, 2];
    store.write_bucket(&meta).await.check().unwrap();
    for (path, body) in [
        ("/update-bucket/d/owned", r#"{"groups":[1]}"#),
        ("/delete-bucket/owned", ""),
    ] {
        let (status, json) = post(p, path, ROOT, body).await;
        assert_eq!(status, 409, "{path}: {json}");
        assert!(
            json["error"]
                .as_str()
                .unwrap()
                .contains("prod/team-a/photos-cr"),
            "{path}: the message names the owner: {json}"
        );
    }
    assert_eq!(store.read_bucket("owned").await.unwrap(), Some(meta));
    // Released (Retain deletion): RIFT may take it over.
    store
        .write_record("owned", &owner.released(now))
        .await
        .check()
        .unwrap();
    post_ok(p, "/update-bucket/d/owned", ROOT, r#"{"groups":[1]}"#).await;

    // Bad bodies and paths: JSON 400s; unknown names 404.
    for (path, body) in [
        ("/update-bucket/d/x", "{not json"),
        ("/update-bucket/d/x", r#"{"groups":"1,2"}"#),
        ("/update-bucket/d/x", r#"{"groups":[-1]}"#),
        ("/update-bucket/d/x", "{}"),
        ("/update-bucket/d/x", r#"{"groups":[]}"#),
        ("/update-bucket/d/x", r#"{"groups":[1,1]}"#),
        ("/update-bucket/d/x", r#"{"groups":[0]}"#),
        (
            "/update-bucket/d/x",
            r#"{"groups":[1],"acl":[{"user":"","token":"t"}]}"#,
        ),
        (
            "/update-bucket/d/x",
            r#"{"groups":[1],"acl":[{"user":"u","flags":2}]}"#,
        ),
        (
            "/update-bucket/d/x",
            r#"{"groups":[1],"acl":[{"user":"u","token":"a"},{"user":"u","token":"b"}]}"#,
        ),
        ("/update-bucket/d/x", "[1,2]"),
        ("/update-bucket/d", r#"{"groups":[1]}"#),
        ("/update-bucket/d/x/y", r#"{"groups":[1]}"#),
        ("/update-bucket-directory/d", r#"{"acl":"root"}"#),
        ("/update-bucket-directory/a/b", ""),
    ] {
        let (status, json) = post(p, path, ROOT, body).await;
        assert_eq!(status, 400, "{path} {body}: {json}");
    }
    assert_eq!(store.read_bucket("x").await.unwrap(), None);
    for (method, path) in [
        ("POST", "/update-bucket/nodir/x"),
        ("GET", "/read-bucket/nothing"),
        ("POST", "/delete-bucket/nothing"),
        ("GET", "/list-bucket-directory/nodir"),
        ("POST", "/delete-bucket-directory/nodir"),
    ] {
        let (status, json) = call(p, method, path, ROOT, r#"{"groups":[1]}"#).await;
        assert_eq!(status, 404, "{path}: {json}");
    }
    let (status, json) = get(p, "/update-bucket/d/x", ROOT).await;
    assert_eq!(status, 405, "{json}");
}

/// The bootstrap admin can come from the environment (a Kubernetes Secret):
/// `BACKRUNNER_ADMIN_USER` + `BACKRUNNER_ADMIN_TOKEN` without `[admin]` in the file. A user
/// without a token stops the proxy at start with a message naming what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bootstrap_admin_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    let config = format!(
        "remotes = [{}]\nmetadata_groups = [1, 2]\nprotocol_version = \"{}\"\n",
        cluster
            .remotes
            .iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", "),
        cluster.protocol
    );
    let p = ProxyProcess::start_with_env(
        dir.path(),
        &config,
        &[
            ("BACKRUNNER_ADMIN_USER", "root"),
            ("BACKRUNNER_ADMIN_TOKEN", "root-token"),
        ],
    )
    .await;
    post_ok(&p, "/update-bucket-directory/from-env", ROOT, "{}").await;
    let (status, reply) = post(
        &p,
        "/update-bucket-directory/other",
        Some(("root", "wrong-token")),
        "{}",
    )
    .await;
    assert_eq!(status, 403, "{reply}");
    drop(p);

    let half = dir.path().join("half");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("proxy.toml"), &config).unwrap();
    let out = backrunner_tests::backrunner_command("proxy")
        .arg("--config")
        .arg(half.join("proxy.toml"))
        .env("BACKRUNNER_ADMIN_USER", "root")
        .env_remove("BACKRUNNER_ADMIN_TOKEN")
        .stderr(std::process::Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("admin.token"), "{stderr}");
}
