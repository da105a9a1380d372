//! Storage benchmark: client ↔ node throughput and latency over loopback for 4 KiB and
//! 1 MiB objects with many operations in flight, against plain sequential file I/O of
//! the same bytes on the same disk measured in the same run; then node memory with many
//! keys and restart (index rebuild) time.
//!
//! Run: `cargo run --release -p backrunner-bench --bin storage -- [--quick]`
//! (needs `target/release/backrunner`: `cargo build --release --bin backrunner`).

// Test and benchmark support: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backrunner_bench::{Latencies, fmt_rate, proc_mem};
use backrunner_tests::{BackendSpec, NodeProcess, node_config};
use bytes::Bytes;
use elliptics::client::{Client, ClientConfig, VersionPolicy};
use elliptics::proto::{NodeAddr, ProtocolVersion};
use futures_util::StreamExt;

struct Args {
    quick: bool,
    dir: PathBuf,
    sync: String,
    keys: u64,
}

fn args() -> Args {
    let mut a = Args {
        quick: false,
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data"),
        sync: "never".into(),
        keys: 1_000_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--quick" => a.quick = true,
            "--dir" => a.dir = it.next().map(PathBuf::from).unwrap_or(a.dir),
            "--sync" => a.sync = it.next().unwrap_or(a.sync),
            "--keys" => a.keys = it.next().and_then(|k| k.parse().ok()).unwrap_or(a.keys),
            other => eprintln!("ignoring argument {other}"),
        }
    }
    if a.quick {
        a.keys = a.keys.min(100_000);
    }
    a
}

/// Sequential buffered write then read of `total` bytes in `op` sized pieces.
fn file_reference(dir: &Path, op: usize, total: u64) -> (f64, f64) {
    use std::io::{Read, Write};
    let path = dir.join(format!("reference-{op}.dat"));
    let buf = vec![0x5au8; op];
    let t = Instant::now();
    let mut f = std::fs::File::create(&path).expect("create reference file");
    let mut written = 0;
    while written < total {
        f.write_all(&buf).expect("write");
        written += op as u64;
    }
    drop(f);
    let w = written as f64 / t.elapsed().as_secs_f64();
    let mut rbuf = vec![0u8; op];
    let t = Instant::now();
    let mut f = std::fs::File::open(&path).expect("open");
    let mut read = 0u64;
    while let Ok(n) = f.read(&mut rbuf) {
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    let r = read as f64 / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    (w, r)
}

#[derive(Clone, Copy)]
enum Op {
    Write,
    Read,
}

/// Runs `ops` operations of `size` bytes with `window` in flight; returns (ops/s, B/s, latencies).
async fn run(
    client: &Client,
    op: Op,
    groups: &[u32],
    size: usize,
    ops: u64,
    window: usize,
    ns: &str,
) -> (f64, f64, Latencies) {
    let body = Bytes::from(vec![0xa5u8; size]);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..window {
        let (client, next, body, groups, ns) = (
            client.clone(),
            next.clone(),
            body.clone(),
            groups.to_vec(),
            ns.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let s = client.session().groups(groups).namespace(ns);
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return lat;
                }
                let key = format!("k{i}");
                let t = Instant::now();
                match op {
                    Op::Write => {
                        let out = s
                            .write(key.as_bytes(), &body[..], size as u64, 0)
                            .await
                            .expect("write");
                        assert!(
                            out.results.iter().all(|r| r.result.is_ok()),
                            "every group acknowledged"
                        );
                    }
                    Op::Read => {
                        let mut st = s.read(key.as_bytes(), 0, 0).await.expect("read");
                        let mut n = 0;
                        while let Some(c) = st.next().await {
                            n += c.expect("chunk").len();
                        }
                        assert_eq!(n, size);
                    }
                }
                lat.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    let secs = start.elapsed().as_secs_f64();
    (
        ops as f64 / secs,
        ops as f64 * size as f64 / secs,
        Latencies::new(all),
    )
}

async fn connect(addrs: &[NodeAddr]) -> Client {
    Client::connect(ClientConfig {
        remotes: addrs.to_vec(),
        protocol_version: VersionPolicy::Fixed(ProtocolVersion::V2_26),
        ..ClientConfig::default()
    })
    .await
    .expect("connect")
}

#[tokio::main]
async fn main() {
    let a = args();
    let _ = std::fs::remove_dir_all(&a.dir);
    std::fs::create_dir_all(&a.dir).expect("bench dir");
    println!(
        "# storage benchmark ({} mode, fsync policy `{}`, data in {})",
        if a.quick { "quick" } else { "full" },
        a.sync,
        a.dir.display()
    );
    let scale: u64 = if a.quick { 4 } else { 1 };

    // Reference: plain sequential file I/O, same disk, same run.
    let (rw4, rr4) = file_reference(&a.dir, 4096, (256 << 20) / scale);
    let (rw1m, rr1m) = file_reference(&a.dir, 1 << 20, (1 << 30) / scale);
    println!(
        "reference file I/O: 4 KiB pieces write {} read {}; 1 MiB pieces write {} read {}",
        fmt_rate(rw4),
        fmt_rate(rr4),
        fmt_rate(rw1m),
        fmt_rate(rr1m)
    );

    // Two node processes: group 1 and group 2.
    let n1 = NodeProcess::start(
        &a.dir.join("n1"),
        &node_config(
            &a.dir.join("n1"),
            0,
            &[BackendSpec::new(1, 1)],
            &[],
            &a.sync,
        ),
    )
    .await;
    let n2 = NodeProcess::start(
        &a.dir.join("n2"),
        &node_config(
            &a.dir.join("n2"),
            0,
            &[BackendSpec::new(1, 2)],
            &[n1.addr],
            &a.sync,
        ),
    )
    .await;
    let client = connect(&[n1.addr, n2.addr]).await;

    println!("\n| operation | window | ops/s | throughput | p50 | p99 | vs file I/O |");
    println!("|---|---|---|---|---|---|---|");
    let small_ops = 40_000 / scale;
    let big_ops = 1024 / scale;
    type Row = (&'static str, Op, Vec<u32>, usize, u64, usize, f64);
    let rows: Vec<Row> = vec![
        (
            "write 4 KiB to [1,2]",
            Op::Write,
            vec![1, 2],
            4096,
            small_ops,
            64,
            rw4,
        ),
        ("read 4 KiB", Op::Read, vec![1, 2], 4096, small_ops, 64, rr4),
        (
            "write 1 MiB to [1,2]",
            Op::Write,
            vec![1, 2],
            1 << 20,
            big_ops,
            32,
            rw1m,
        ),
        (
            "read 1 MiB",
            Op::Read,
            vec![1, 2],
            1 << 20,
            big_ops,
            32,
            rr1m,
        ),
        (
            "write 4 KiB to [1]",
            Op::Write,
            vec![1],
            4096,
            small_ops,
            64,
            rw4,
        ),
        (
            "write 1 MiB to [1]",
            Op::Write,
            vec![1],
            1 << 20,
            big_ops,
            32,
            rw1m,
        ),
        (
            "write 4 KiB to [1,2], 1 in flight",
            Op::Write,
            vec![1, 2],
            4096,
            2000 / scale,
            1,
            rw4,
        ),
        (
            "read 4 KiB, 1 in flight",
            Op::Read,
            vec![1, 2],
            4096,
            2000 / scale,
            1,
            rr4,
        ),
        (
            "write 1 MiB to [1,2], 1 in flight",
            Op::Write,
            vec![1, 2],
            1 << 20,
            200 / scale,
            1,
            rw1m,
        ),
        (
            "read 1 MiB, 1 in flight",
            Op::Read,
            vec![1, 2],
            1 << 20,
            200 / scale,
            1,
            rr1m,
        ),
    ];
    for (name, op, groups, size, ops, window, reference) in rows {
        let ns = format!("{size}-{}", groups.len());
        let (ops_s, bps, lat) = run(&client, op, &groups, size, ops, window, &ns).await;
        // Replicated writes move the bytes twice.
        let moved = if matches!(op, Op::Write) {
            bps * groups.len() as f64
        } else {
            bps
        };
        println!(
            "| {name} | {window} | {ops_s:.0} | {} | {} | {} | {:.2}× |",
            fmt_rate(bps),
            lat.p(0.5),
            lat.p(0.99),
            moved / reference
        );
    }
    for (name, n) in [("node 1", &n1), ("node 2", &n2)] {
        if let Some(id) = n.child.id() {
            println!("{name}: {}", proc_mem(id));
        }
    }
    client.shutdown().await;
    drop((n1, n2));

    // Memory with many keys and restart time.
    let dir = a.dir.join("keys");
    let cfg = node_config(&dir, 0, &[BackendSpec::new(1, 1)], &[], &a.sync);
    let mut node = NodeProcess::start(&dir, &cfg).await;
    let client = connect(&[node.addr]).await;
    let pid = node.child.id().unwrap_or(0);
    let before = proc_mem(pid);
    let t = Instant::now();
    let (ops_s, _, _) = run(&client, Op::Write, &[1], 64, a.keys, 128, "many").await;
    println!(
        "\n{} keys of 64 B written in {:.1} s ({ops_s:.0} ops/s)",
        a.keys,
        t.elapsed().as_secs_f64()
    );
    println!(
        "node memory before: {before}; with {} keys: {}",
        a.keys,
        proc_mem(pid)
    );
    client.shutdown().await;
    node.kill9().await;
    let t = Instant::now();
    let node = NodeProcess::start_with(node.config.clone()).await;
    let client = connect(&[node.addr]).await;
    let s = client.session().groups(vec![1]).namespace("many");
    let mut st = s.read(b"k1", 0, 0).await.expect("read after restart");
    while let Some(c) = st.next().await {
        c.expect("chunk");
    }
    println!(
        "restart with {} keys to first successful read: {:.2} s; memory {}",
        a.keys,
        t.elapsed().as_secs_f64(),
        proc_mem(node.child.id().unwrap_or(0))
    );
    client.shutdown().await;
    let _ = std::fs::remove_dir_all(&a.dir);
    tokio::time::sleep(Duration::from_millis(100)).await;
}
