//! `backrunner dev` as a process: it starts, becomes ready, and the requests it prints —
//! including the signed upload to the `private` bucket with the printed Authorization
//! header — work as printed; its S3 front serves the same objects.

use std::process::Stdio;
use std::time::Duration;

use backrunner_tests::ports::{free_port, free_ports};
use backrunner_tests::{backrunner_command, wait_ready};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::proxy_support::{get_range, post_body};

/// The header value in a printed `-H 'Authorization: ...'`.
fn printed_authorization(line: &str) -> String {
    let start = line.find("Authorization: ").unwrap() + "Authorization: ".len();
    let rest = &line[start..];
    rest[..rest.find('\'').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_dev_mode_examples_work() {
    let dir = tempfile::tempdir().unwrap();
    let node_port = free_ports(2);
    let proxy_port = free_port();
    let s3_port = free_port();
    let mut child = backrunner_command("dev")
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--node-port")
        .arg(node_port.to_string())
        .arg("--listen")
        .arg(format!("127.0.0.1:{proxy_port}"))
        .arg("--s3-listen")
        .arg(format!("127.0.0.1:{s3_port}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    while printed.len() < 16 {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("dev prints its banner in time")
            .unwrap()
            .expect("dev still running");
        let done = line.contains("backrunner sign");
        printed.push(line);
        if done {
            break;
        }
    }
    let base = format!("http://127.0.0.1:{proxy_port}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        wait_ready(&http, &base, Duration::from_secs(30)).await,
        "{printed:?}"
    );

    let r = post_body(
        &http,
        format!("{base}/upload/default/hello.txt"),
        "hello, backrunner",
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = get_range(&http, format!("{base}/get/default/hello.txt"), "bytes=0-4").await;
    assert_eq!(r.text().await.unwrap(), "hello");

    let upload_line = printed
        .iter()
        .find(|l| l.contains("/upload/private/example.txt"))
        .unwrap();
    let get_line = printed
        .iter()
        .find(|l| l.contains("Authorization") && l.contains("/get/private/example.txt"))
        .unwrap();
    let r = http
        .post(format!("{base}/upload/private/example.txt"))
        .header("authorization", printed_authorization(upload_line))
        .body("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "printed signed upload works");
    let r = http
        .get(format!("{base}/get/private/example.txt"))
        .header("authorization", printed_authorization(get_line))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "secret");
    let r = http
        .get(format!("{base}/get/private/example.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The printed listings list what was uploaded.
    let list_line = printed
        .iter()
        .find(|l| l.contains("/list/default?"))
        .unwrap();
    let url = list_line.split('\'').nth(1).unwrap();
    let body = http.get(url).send().await.unwrap().bytes().await.unwrap();
    let listing: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listing["indexes"][0]["key"], "hello.txt", "{listing}");
    let list_private = printed
        .iter()
        .find(|l| l.contains("Authorization") && l.contains("/list/private"))
        .unwrap();
    let body = http
        .get(format!("{base}/list/private"))
        .header("authorization", printed_authorization(list_private))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let listing: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listing["indexes"][0]["key"], "example.txt", "{listing}");

    // The printed management requests make a directory and a bucket in it.
    for (path, body) in [
        ("/update-bucket-directory/media", "{}"),
        (
            "/update-bucket/media/photos",
            r#"{"groups":[1,2],"acl":[]}"#,
        ),
    ] {
        let line = printed
            .iter()
            .find(|l| l.contains("Authorization") && l.contains(path))
            .unwrap_or_else(|| panic!("{path} not printed: {printed:?}"));
        let r = http
            .post(format!("{base}{path}"))
            .header("authorization", printed_authorization(line))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "printed {path}: {}",
            r.text().await.unwrap()
        );
    }
    let body = http
        .get(format!("{base}/list-bucket-directory/media"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let directory: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(directory.to_string().contains("photos"), "{directory}");

    // The S3 front (path-style, anonymous on the public bucket) serves the same object.
    let mut rest = Vec::new();
    while !rest.iter().any(|l: &String| l.contains("rclone check")) {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("dev prints its S3 examples in time")
            .unwrap()
            .expect("dev still running");
        rest.push(line);
    }
    let s3 = format!("http://127.0.0.1:{s3_port}");
    assert!(rest.iter().any(|l| l.contains(&s3)), "{rest:?}");
    let r = http
        .get(format!("{s3}/default/hello.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello, backrunner");
    let r = http
        .get(format!("{s3}/private/example.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "anonymous S3 reads of the private bucket are refused"
    );
    let _ = child.start_kill();
    let _ = child.wait().await;
}
