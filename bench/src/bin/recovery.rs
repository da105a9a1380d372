//! Recovery benchmark: how fast `backrunner recover` lists (scan rate, records per second
//! of one backend) and copies at full speed (no caps, tranquility 0; copies per second and
//! bytes per second), on two `backrunner node` processes over loopback, with keys written
//! to group 1 only. Also the copy rate at the default tranquility.
//!
//! Run: `cargo run --release -p backrunner-bench --bin recovery -- [--keys N] [--copies N]`
//! (needs `target/release/backrunner`: `cargo build --release --bin backrunner`).

// Test and benchmark support: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use backrunner_bench::fmt_rate;
use backrunner_tests::{backrunner_bin, two_node_processes};
use bytes::Bytes;
use elliptics::client::Client;
use elliptics::proto::NodeAddr;
use futures_util::StreamExt;

struct Args {
    dir: PathBuf,
    /// Keys listed by the scan.
    keys: u64,
    /// Small records copied per run.
    copies: u64,
}

fn args() -> Args {
    let mut a = Args {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-recovery"),
        keys: 200_000,
        copies: 20_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut num = |d: u64| it.next().and_then(|k| k.parse().ok()).unwrap_or(d);
        match x.as_str() {
            "--keys" => a.keys = num(a.keys),
            "--copies" => a.copies = num(a.copies),
            "--dir" => a.dir = it.next().map(PathBuf::from).unwrap_or(a.dir),
            other => eprintln!("ignoring argument {other}"),
        }
    }
    a
}

/// Writes `n` records of `size` bytes to group 1 only, 64 in flight.
async fn fill(client: &Client, namespace: &str, n: u64, size: usize) {
    let session = client.session().groups(vec![1]).namespace(namespace);
    let data = Bytes::from(vec![0x5au8; size]);
    futures_util::stream::iter(0..n)
        .map(|i| {
            let (s, d) = (session.clone(), data.clone());
            async move {
                s.write(format!("k{i}").as_bytes(), &d[..], d.len() as u64, 0)
                    .await
                    .expect("write");
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
}

/// Runs `backrunner recover` with `extra` arguments; the JSON summary.
async fn recover(remote: NodeAddr, extra: &[&str]) -> serde_json::Value {
    let out = tokio::process::Command::new(backrunner_bin())
        .arg("recover")
        .arg("--remote")
        .arg(remote.to_string())
        .args(["--groups", "1,2", "--progress-secs", "0"])
        .args(extra)
        .env("BACKRUNNER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .await
        .expect("run backrunner recover");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert!(out.status.success(), "recover failed: {v}");
    v
}

fn f(v: &serde_json::Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

#[tokio::main]
async fn main() {
    let a = args();
    let _ = std::fs::remove_dir_all(&a.dir);
    std::fs::create_dir_all(&a.dir).expect("bench dir");
    let (n1, n2, client) = two_node_processes(&a.dir, "never").await;

    println!(
        "# recovery benchmark (two node processes, loopback, data in {})",
        a.dir.display()
    );
    let t = Instant::now();
    fill(&client, "scan", a.keys, 64).await;
    println!(
        "wrote {} keys of 64 B to group 1 in {:.1} s",
        a.keys,
        t.elapsed().as_secs_f64()
    );
    let v = recover(n1.addr, &["--dry-run"]).await;
    println!(
        "scan (dry run): {} records in {:.2} s = **{:.0} records/s** (one backend listed, the other empty)",
        v["records"],
        f(&v, "scan_seconds"),
        f(&v, "scan_records_per_sec")
    );

    // The scan keys would be copied too: make the groups agree first.
    let v = recover(n1.addr, &["--tranquility", "0", "--concurrency", "16"]).await;
    println!(
        "copy of the scan keys (64 B, concurrency 16): {:.0} copies/s",
        f(&v, "copy_keys_per_sec")
    );

    println!("\n| records | concurrency | tranquility | copies/s | throughput |");
    println!("|---|---|---|---|---|");
    let runs: [(&str, u64, usize, &str, &str); 6] = [
        ("4 KiB", a.copies, 4096, "1", "0"),
        ("4 KiB", a.copies, 4096, "8", "0"),
        ("4 KiB", a.copies, 4096, "1", "1"),
        ("1 MiB", 400, 1 << 20, "1", "0"),
        ("1 MiB", 400, 1 << 20, "4", "0"),
        ("8 MiB", 50, 8 << 20, "1", "0"),
    ];
    for (i, (label, n, size, conc, tranq)) in runs.into_iter().enumerate() {
        fill(&client, &format!("copy{i}"), n, size).await;
        let v = recover(n1.addr, &["--concurrency", conc, "--tranquility", tranq]).await;
        assert_eq!(v["copied_keys"].as_u64(), Some(n), "{v}");
        println!(
            "| {n} × {label} | {conc} | {tranq} | {:.0} | {} |",
            f(&v, "copy_keys_per_sec"),
            fmt_rate(f(&v, "copy_bytes_per_sec"))
        );
    }
    client.shutdown().await;
    // About 3 GB of blobs: not kept.
    let (mut n1, mut n2) = (n1, n2);
    n1.kill9().await;
    n2.kill9().await;
    let _ = std::fs::remove_dir_all(&a.dir);
}
