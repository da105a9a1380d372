//! The S3 front against real S3 clients: a `backrunner proxy` process with `[s3]` (HTTP,
//! and HTTPS with the proxy's certificate) in front of two storage groups, driven by the pytest suite `tests/s3/test_clients.py` (boto3,
//! aws-cli and rclone; `tests/s3/setup.sh` installs them, `./test.sh` runs it first).
//!
//! Buckets (every one in groups 1 and 2):
//! - `default`: empty ACL (public);
//! - `private`: `writer` (flag 2: write), `reader` (no flags: signed reads only), and a
//!   rotation in progress: `writer`'s previous token still live as a token alias;
//! - `other`: user `writer` again, with a token of its own (the same access key id with a
//!   different secret per bucket);
//! - `pubread`: user `*` with flag 1 (anonymous reads) and `writer`.
//!
//! Without the clients installed the test is skipped with a message, unless
//! `BACKRUNNER_REQUIRE_S3_CLIENTS=1` (set by `./test.sh`), where it fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use backrunner_store::bucket::{AclEntry, AclFlags};
use backrunner_store::token_aliases::{TokenAlias, TokenAliases};
use backrunner_store::{BucketMetadata, MetadataStore};
use backrunner_tests::ports::free_port;

use crate::two_groups::Cluster;

const WRITER: &str = "writer-token-current";
const WRITER_OLD: &str = "writer-token-previous";
const WRITER_OTHER: &str = "writer-token-of-other";
const READER: &str = "reader-token";

fn entry(user: &str, token: &str, flags: AclFlags) -> (String, AclEntry) {
    (
        user.to_owned(),
        AclEntry {
            version: 1,
            user: user.to_owned(),
            token: token.to_owned(),
            flags,
        },
    )
}

fn bucket(name: &str, acl: Vec<(String, AclEntry)>) -> BucketMetadata {
    let mut b = BucketMetadata::new(name);
    b.groups = vec![1, 2];
    b.acl = acl.into_iter().collect();
    b
}

/// The venv python with boto3, awscli and pytest, and rclone on `PATH`; `None` when absent.
fn clients() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("BACKRUNNER_S3_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/s3-clients/venv"))
        .join("bin/python");
    let rclone = std::process::Command::new("rclone")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (python.exists() && rclone).then_some(python)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_front_with_boto3_awscli_and_rclone() {
    let Some(python) = clients() else {
        let required = std::env::var("BACKRUNNER_REQUIRE_S3_CLIENTS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "S3 clients missing: run tests/s3/setup.sh (boto3, awscli, pytest in target/s3-clients/venv; rclone)"
        );
        eprintln!(
            "s3_clients: SKIPPED — run tests/s3/setup.sh to install boto3, awscli and rclone"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::ours(dir.path()).await;
    let buckets = [
        bucket("default", Vec::new()),
        bucket(
            "private",
            vec![
                entry("writer", WRITER, AclFlags::WRITE),
                entry("reader", READER, AclFlags::NONE),
            ],
        ),
        bucket(
            "other",
            vec![entry("writer", WRITER_OTHER, AclFlags::WRITE)],
        ),
        bucket(
            "pubread",
            vec![
                entry("*", "", AclFlags::NO_TOKEN),
                entry("writer", WRITER, AclFlags::WRITE),
            ],
        ),
    ];
    let store = MetadataStore::new(&cluster.client, vec![1, 2]);
    let mut aliases = TokenAliases::new();
    aliases.users.insert(
        "writer".into(),
        vec![TokenAlias {
            token: WRITER_OLD.into(),
            expires_at: backrunner_proxy::token_aliases::unix_now() + 3600,
        }],
    );
    store
        .write_record("private", &aliases)
        .await
        .check()
        .unwrap();
    let (s3_port, s3_https_port, https_port) = (free_port(), free_port(), free_port());
    // HTTPS (the proxy's certificate pair serves S3 too): clients switch to chunked
    // uploads with trailing checksums there.
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    // Bodies above 64 KiB are stored as parts + manifest: both layouts are exercised.
    let extra = format!(
        "write_chunk_size = {}\nmax_inflight_upload_bytes = {}\n\
         [https]\nlisten = \"127.0.0.1:{https_port}\"\ncert = {:?}\nkey = {:?}\n\
         [s3]\nlisten = \"127.0.0.1:{s3_port}\"\nhttps_listen = \"127.0.0.1:{s3_https_port}\"\n",
        64 << 10,
        64 << 20,
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let proxies = cluster.proxies_with(dir.path(), 1, &buckets, &extra).await;
    let proxy = &proxies[0];
    let endpoint = format!("http://127.0.0.1:{s3_port}");
    assert!(
        backrunner_tests::wait_until(Duration::from_secs(30), async || {
            proxy.http.get(&endpoint).send().await.is_ok()
        })
        .await,
        "the S3 listener answers"
    );

    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("s3/test_clients.py");
    let started = Instant::now();
    let mut pytest = tokio::process::Command::new(&python);
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&suite)
        .env("S3_ENDPOINT", &endpoint)
        .env(
            "S3_HTTPS_ENDPOINT",
            format!("https://127.0.0.1:{s3_https_port}"),
        )
        .env("S3_CA_BUNDLE", &cert_path)
        .env("PROXY_BASE", &proxy.base)
        .env("S3_WRITER_SECRET", WRITER)
        .env("S3_WRITER_OLD_SECRET", WRITER_OLD)
        .env("S3_WRITER_OTHER_SECRET", WRITER_OTHER)
        .env("S3_READER_SECRET", READER)
        .env("S3_WORKDIR", dir.path().join("clients"))
        .env("PATH", path_with_venv(&python))
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), pytest.output())
        .await
        .expect("the pytest suite finishes within 3 minutes")
        .expect("run pytest");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "s3_clients: pytest took {:.1} s\n{report}",
        started.elapsed().as_secs_f64()
    );
    assert!(output.status.success(), "pytest failed:\n{report}");
}

/// `PATH` with the venv's `bin` first (its `aws`).
fn path_with_venv(python: &Path) -> std::ffi::OsString {
    let mut paths: Vec<PathBuf> = python.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap_or_default()
}
